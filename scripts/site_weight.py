"""Page weight of the xaikit site: build-time math, a pruned notebook stylesheet, a slim search index.

Used by scripts/mkdocs_hooks.py; plain functions of text, tested in tests/test_site.py.

- ``typeset``: every formula of a built page as MathML (``latex2mathml``), which browsers render
  natively, so no page loads a math script.  A formula that does not convert, or TeX that would be
  left on the page as text, is an error naming the formula (the hook fails the build with it).
- ``slim_search_index``: Material's ``search_index.json`` with the API pages reduced to each object's
  name, signature and summary (the first paragraph of its docstring), and the lesson pages
  without their code cells' second, plain-text copy and their printed outputs.
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
# Places math is not looked for: code, scripts, styles, the MathML already made, and the plain
# copy of each code cell mkdocs-jupyter keeps for its copy button (a hidden div).
VERBATIM = re.compile(r"<(pre|code|script|style|textarea|math)\b.*?</\1>"
                      r'|<div class="clipboard-copy-txt"[^>]*>.*?</div>', re.DOTALL | re.IGNORECASE)
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


# ---------------------------------------------------------------------------------- search index
SIGNATURE = re.compile(r"\s*<pre><code>(.*?)</code></pre>", re.DOTALL)
PARAGRAPH = re.compile(r"<p>.*?</p>", re.DOTALL)
CODE_CELL = re.compile(r"In\s*\[\s*\d*\s*\]:\s*Copied!\s*<pre>(.*?)</pre>", re.DOTALL)
OUTPUT = re.compile(r"\s*<pre>(?!<code>).*?</pre>", re.DOTALL)  # printed outputs, not prose code


def api_summary(text: str) -> str:
    """An API entry's search text: the signature (one line) and the docstring's first paragraph."""
    signature = SIGNATURE.match(text)
    rest = text[signature.end():] if signature else text
    summary = PARAGRAPH.search(rest)
    parts = [f"<code>{' '.join(signature.group(1).split())}</code>"] if signature else []
    return " ".join(parts + ([summary.group(0)] if summary else []))


def lesson_text(text: str) -> str:
    """A lesson entry's search text: its prose and each code cell once (mkdocs-jupyter's page has
    the code twice, highlighted and plain for the copy button), without printed outputs."""
    pieces = []
    at = 0
    for cell in CODE_CELL.finditer(text):
        pieces.append(OUTPUT.sub("", text[at:cell.start()]))
        code = cell.group(1)
        pieces.append(f"<pre>{code}</pre>")
        # the plain copy: the same words, newlines as spaces
        copy = re.compile(r"\s*" + r"\s+".join(map(re.escape, TAG.sub("", code).split())))
        plain = copy.match(text, cell.end())
        at = plain.end() if plain and code.split() else cell.end()
    pieces.append(OUTPUT.sub("", text[at:]))
    return "".join(pieces)


def slim_search_index(index: dict, *, api: str = "api/", lessons: str = "lessons/") -> dict:
    """Material's search index with API entries as summaries and lesson entries without outputs.

    Every entry (page and section) stays, with its title, so a function's name still finds its
    API page; the docs' other pages are kept whole.
    """
    docs = []
    for entry in index["docs"]:
        location = entry["location"]
        if location.startswith(api):
            entry = {**entry, "text": api_summary(entry["text"])}
        elif location.startswith(lessons):
            entry = {**entry, "text": lesson_text(entry["text"])}
        docs.append(entry)
    return {**index, "docs": docs}


# ----------------------------------------------------------------------------------- stylesheet
HTML_TAG = re.compile(r"<([a-zA-Z][\w-]*)")
HTML_CLASS = re.compile(r"""\sclass\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""")
HTML_ID = re.compile(r"""\sid\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""")
# Parts of a selector that do not need a class, element or id to exist: functional pseudo-classes
# (:not(.x) matches without .x), attribute tests, pseudo-classes and pseudo-elements.
FUNCTIONAL_PSEUDO = re.compile(r":{1,2}[\w-]+\((?:[^()]|\([^()]*\))*\)")
ATTRIBUTE = re.compile(r"\[[^\]]*\]")
PSEUDO = re.compile(r":{1,2}[\w-]+")
SELECTOR_CLASS = re.compile(r"\.(-?[_a-zA-Z][\w-]*)")
SELECTOR_ID = re.compile(r"#(-?[_a-zA-Z][\w-]*)")
SELECTOR_TYPE = re.compile(r"(?:^|[\s>+~])([a-zA-Z][\w-]*)")
COMBINATOR = re.compile(r"\s*[>+~]\s*|\s+")
TOP = re.compile(r"(?::root|html)(?![\w-])", re.IGNORECASE)  # the root: inside nothing
BODY = re.compile(r"body(?![\w-])", re.IGNORECASE)  # inside the root only (after <head>)
GROUPING_RULES = ("media", "supports", "layer", "container", "document")


def html_names(pages: list[str], scripts: list[str] = ()) -> dict[str, set[str]]:
    """The element names, classes and ids that occur in some HTML pages, or that their scripts
    may add (every word of ``scripts``, counted as a class, id and element name: Material's
    bundle wraps tables in ``div.md-typeset__scrollwrap``, for one)."""
    names: dict[str, set[str]] = {"tags": set(), "classes": set(), "ids": set()}
    for page in pages:
        names["tags"].update(tag.lower() for tag in HTML_TAG.findall(page))
        for value in HTML_CLASS.findall(page):
            names["classes"].update("".join(value).split())
        names["ids"].update("".join(value) for value in HTML_ID.findall(page))
    for script in scripts:
        words = set(re.findall(r"[A-Za-z_][\w-]*", script))
        names["classes"] |= words
        names["ids"] |= words
        names["tags"] |= {word.lower() for word in words}
    return names


def split_selectors(selectors: str) -> list[str]:
    """A selector list split at its top-level commas."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(selectors):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(selectors[start:at].strip())
            start = at + 1
    parts.append(selectors[start:].strip())
    return [part for part in parts if part]


def can_match(selector: str, names: dict[str, set[str]]) -> bool:
    """Whether every class, id and element that ``selector`` requires occurs in the pages, and
    the document's root is not asked to be inside something (mkdocs-jupyter prefixes every
    selector with ``.jupyter-wrapper``, so ``.jupyter-wrapper :root`` and ``.jupyter-wrapper
    body`` hold 87 kB of rules no element can match).  Escaped selectors are kept unparsed."""
    if "\\" in selector:
        return True
    compounds = COMBINATOR.split(ATTRIBUTE.sub("", FUNCTIONAL_PSEUDO.sub("", selector)).strip())
    for before, compound in zip(compounds, compounds[1:]):
        if TOP.match(compound) or (BODY.match(compound) and not re.match(r"(?::root|html|head)(?![\w-])", before)):
            return False
    bare = PSEUDO.sub("", " ".join(compounds))
    return (all(name in names["classes"] for name in SELECTOR_CLASS.findall(bare))
            and all(name in names["ids"] for name in SELECTOR_ID.findall(bare))
            and all(name.lower() in names["tags"] for name in SELECTOR_TYPE.findall(bare)))


def _prune_rules(rules: list, names: dict[str, set[str]]) -> tuple[list[str], list]:
    """Kept rules as text; and the @keyframes / @font-face rules, decided once all is known."""
    import tinycss2

    kept, conditional = [], []
    for rule in rules:
        if rule.type == "qualified-rule":
            selectors = [s for s in split_selectors(tinycss2.serialize(rule.prelude)) if can_match(s, names)]
            if selectors:
                kept.append(f"{','.join(selectors)}{{{tinycss2.serialize(rule.content).strip()}}}")
        elif rule.type == "at-rule" and rule.lower_at_keyword in GROUPING_RULES and rule.content:
            inner, later = _prune_rules(
                tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True), names)
            conditional += later
            if inner:
                kept.append(f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}{{{''.join(inner)}}}")
        elif rule.type == "at-rule" and (rule.lower_at_keyword.endswith("keyframes")
                                         or rule.lower_at_keyword == "font-face"):
            conditional.append(rule)
        elif rule.type == "at-rule" and rule.lower_at_keyword != "charset":
            kept.append(tinycss2.serialize([rule]).strip())
    return kept, conditional


def prune_css(css: str, pages: list[str], scripts: list[str] = ()) -> str:
    """The rules of ``css`` that can apply to ``pages`` (HTML text) and what their ``scripts``
    (JavaScript text) may add: a rule stays when one of its selectors needs only classes,
    elements and ids that occur in them (``html_names``); ``:root`` and ``*``
    rules (the CSS variables) always stay; ``@media``/``@supports`` keep their kept rules;
    ``@keyframes`` and ``@font-face`` stay when a kept rule names them.

    >>> prune_css(".a{color:red}.b, p{margin:0}@media print{.c{x:1}}", ["<p class='a'>"])
    '.a{color:red}\\np{margin:0}'
    """
    import tinycss2

    names = html_names(pages, scripts)
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    kept, conditional = _prune_rules(rules, names)
    text = "\n".join(kept)
    for rule in conditional:
        name = tinycss2.serialize(rule.prelude).strip()
        if rule.lower_at_keyword == "font-face":
            family = re.search(r"font-family\s*:\s*([^;}]+)", tinycss2.serialize(rule.content))
            name = family.group(1).strip().strip("'\"") if family else ""
        if name and name in text:
            kept.append(tinycss2.serialize([rule]).strip())
    return "\n".join(kept)
