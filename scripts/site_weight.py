"""Page weight of the xaikit site: build-time math.

Used by scripts/mkdocs_hooks.py; plain functions of text, tested in tests/test_site.py.

- ``typeset``: every formula of a built page as MathML (``latex2mathml``), which browsers render
  natively, so no page loads a math script.  A formula that does not convert, or TeX that would be
  left on the page as text, is an error naming the formula (the hook fails the build with it).
"""

from __future__ import annotations

import html
import re

# ------------------------------------------------------------------------------------------ math
# latex2mathml (3.81) leaves these as raw TeX in its output; they are rewritten first, here only.
SIZED_DELIMITERS = {"langle": "\u27e8", "rangle": "\u27e9", "|": "\u2016", "Vert": "\u2016",
                    "lVert": "\u2016", "rVert": "\u2016", "vert": "|", "lvert": "|", "rvert": "|"}
TEX_REWRITES = (
    (re.compile(r"\\arg(?![A-Za-z])"), r"\\operatorname{arg}"),
    (re.compile(r"\\(text|textbf)\{([^{}]*)\}"),  # an escaped _ or % in text: the character
     lambda m: "\\" + m.group(1) + "{" + re.sub(r"\\([_%])", r"\1", m.group(2)) + "}"),
    (re.compile(r"(\\[Bb]igg?[lrm]?)\s*\\(langle|rangle|\||Vert|lVert|rVert|vert|lvert|rvert)(?![A-Za-z])"),
     lambda m: m.group(1) + SIZED_DELIMITERS[m.group(2)]),
)
# Places math is not looked for: code, scripts, styles and the MathML already made.
VERBATIM = re.compile(r"<(pre|code|script|style|textarea|math)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
TAG = re.compile(r"<[^>]*>")
ARITHMATEX = re.compile(r'<(span|div) class="arithmatex">\s*(?:\\\((.*?)\\\)|\\\[(.*?)\\\])\s*</\1>',
                        re.DOTALL)
# TeX delimiters as notebook Markdown leaves them in the text (nbconvert does not typeset).
# Inline ``$...$`` as pandoc reads it: no space inside the dollars, no digit after the closing one.
DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$\w])\$([^$\s][^$]*?)(?<![\s\\])\$(?!\w)|\\\((.+?)\\\)", re.DOTALL)
# TeX left as text after typesetting: a delimiter, or a dollar-quoted macro.
LEFTOVER_TEX = re.compile(r"\$\$|\\\(|\\\[|\$[^$]*\\[A-Za-z]+[^$]*\$")
MATHML_TEX = re.compile(r">([^<]*\\[^<]*)<")


class MathError(ValueError):
    """A formula that does not convert to MathML, or TeX left on a page as text."""


def mathml(tex: str, *, display: bool = False) -> str:
    """One TeX formula (as written, not HTML-escaped) as a MathML ``<math>`` element.

    Raises ``MathError`` naming the formula when latex2mathml fails or leaves a macro unconverted.

    >>> mathml(r"\\frac{a}{b}")
    '<math display="inline"><mrow><mfrac><mrow><mi>a</mi></mrow><mrow><mi>b</mi></mrow></mfrac></mrow></math>'
    """
    from latex2mathml.converter import convert

    source = tex.strip()
    for pattern, replacement in TEX_REWRITES:
        source = pattern.sub(replacement, source)
    try:
        out = convert(source, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises its own exception types and plain ones
        raise MathError(f"formula ${tex.strip()}$ does not convert to MathML: "
                        f"{type(error).__name__}: {error}") from error
    left = MATHML_TEX.findall(out)
    if left:
        raise MathError(f"formula ${tex.strip()}$ converts with TeX left in it: {', '.join(left)} "
                        "(add a rewrite to TEX_REWRITES in scripts/site_weight.py)")
    return out.replace(' xmlns="http://www.w3.org/1998/Math/MathML"', "", 1)


def _outside(text: str, pattern: re.Pattern, convert) -> str:
    """Apply ``convert`` to the matches of ``pattern`` in the text nodes of ``text`` (not in
    tags' attributes, code, scripts or styles)."""
    pieces = []
    at = 0
    for block in VERBATIM.finditer(text):
        pieces.append(_in_text_nodes(text[at:block.start()], pattern, convert))
        pieces.append(block.group(0))
        at = block.end()
    pieces.append(_in_text_nodes(text[at:], pattern, convert))
    return "".join(pieces)


def _in_text_nodes(text: str, pattern: re.Pattern, convert) -> str:
    parts = TAG.split(text)
    tags = TAG.findall(text)
    out = [pattern.sub(convert, parts[0])]
    for tag, part in zip(tags, parts[1:]):
        out += [tag, pattern.sub(convert, part)]
    return "".join(out)


def typeset(page: str, *, notebook: bool) -> str:
    """All math of a built page as MathML: arithmatex spans and blocks (Markdown pages, API
    docstrings) and, on notebook pages, the ``$...$``, ``$$...$$``, ``\\(...\\)`` and ``\\[...\\]``
    of the rendered Markdown (``$$...$$`` and ``\\[...\\]`` on every page).

    Raises ``MathError`` listing every formula that fails and any TeX left as text.
    """
    errors: list[str] = []

    def convert(tex: str, display: bool) -> str:
        try:
            return mathml(html.unescape(tex), display=display)
        except MathError as error:
            errors.append(str(error))
            return ""

    def arithmatex(m: re.Match) -> str:
        display = m.group(3) is not None
        return f'<{m.group(1)} class="arithmatex">{convert(m.group(2) or m.group(3) or "", display)}</{m.group(1)}>'

    page = ARITHMATEX.sub(arithmatex, page)
    # display math arithmatex did not take (a block indented in a docstring's list) and notebooks'
    page = _outside(page, DISPLAY_MATH, lambda m: '<span class="xk-math-display">'
                    f"{convert(m.group(1) or m.group(2), True)}</span>")
    if notebook:
        page = _outside(page, INLINE_MATH, lambda m: convert(m.group(1) or m.group(2), False))
    article = page.split("<article", 1)[-1].split("</article>", 1)[0]
    text = " ".join(TAG.sub(" ", VERBATIM.sub(" ", article)).split())
    errors += [f"TeX left as text: {html.unescape(m.group(0))[:120]!r}"
               for m in LEFTOVER_TEX.finditer(text)]
    if errors:
        raise MathError("\n".join(errors))
    return page

