"""A Griffe extension for the API pages: reST leftovers in NumPy docstrings become Markdown.

xaikit's docstrings write equations the NumPy/Sphinx way (``.. math::`` blocks and ``:math:``
roles) and cross-references as Sphinx roles (``:func:`~xaikit.explain```).  mkdocstrings renders
docstrings as Markdown, where ``x^*`` or ``score\\_drop`` would be mangled by emphasis and
escapes.  Before rendering, this extension rewrites them for pymdownx.arithmatex (``$$ ... $$``
blocks, ``$ ... $`` inline), which protects the TeX from Markdown and marks it as math (MathML
on the site), and turns cross-reference roles into code.  Registered in mkdocs.yml (mkdocstrings ``extensions``).
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

MATH_BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)\n"      # the directive, maybe with TeX
    r"(?P<body>(?:(?P=indent)[ \t]+\S.*\n|[ \t]*\n(?=(?P=indent)[ \t]+\S))*)",  # indented lines
    re.MULTILINE,
)
MATH_ROLE = re.compile(r":math:`([^`]+)`")
XREF_ROLE = re.compile(r":(?:py:)?(?:func|meth|mod|class|data|attr|obj|exc|const):`(~?)([^`]+)`")
LITERAL_MARKER = re.compile(r"(\S)::$", re.MULTILINE)
# "model, images, targets : type" (or without a type) in a Parameters section: NumPy style allows
# several names on one line; the renderer then loses each one's type and default.
GROUPED_PARAMS = re.compile(
    r"^(?P<indent>[ \t]*)(?P<names>\w+(?:[ \t]*,[ \t]*\w+)+)[ \t]*(?P<type>:[^\n]*)?\n"
    r"(?P<body>(?:(?P=indent)[ \t]+\S.*\n|[ \t]*\n(?=(?P=indent)[ \t]+\S))*)",
    re.MULTILINE,
)
SECTION = re.compile(r"^([ \t]*)(Parameters|Other Parameters)[ \t]*\n\1-{3,}[ \t]*\n", re.MULTILINE)


def split_grouped_parameters(text: str) -> str:
    """Give each name of a grouped NumPy parameter line ("a, b : int") its own entry, so that
    each gets its type and default from the signature."""
    out, at = [], 0
    for section in SECTION.finditer(text):
        start = section.end()
        end = re.search(r"^[ \t]*\S[^\n]*\n[ \t]*-{3,}[ \t]*$", text[start:], re.MULTILINE)
        stop = start + end.start() if end else len(text)

        def expand(match: re.Match) -> str:
            names = [n.strip() for n in match.group("names").split(",")]
            kind = f" {match.group('type')}" if match.group("type") else ""
            return "".join(f"{match.group('indent')}{name}{kind}\n{match.group('body')}"
                           for name in names)

        out += [text[at:start], GROUPED_PARAMS.sub(expand, text[start:stop])]
        at = stop
    return "".join(out) + text[at:]


def rest_to_markdown(text: str) -> str:
    """The docstring with reST math and cross-reference roles rewritten as Markdown."""

    def block(match: re.Match) -> str:
        indent = match.group("indent")
        body = textwrap.dedent(match.group("body")).strip()
        tex = "\n".join(part for part in (match.group("first").strip(), body) if part)
        lines = ["$$", *tex.splitlines(), "$$"]
        return "\n".join(indent + line for line in lines) + "\n"

    def xref(match: re.Match) -> str:
        name = match.group(2)
        return f"`{name.rsplit('.', 1)[-1] if match.group(1) else name}`"

    text = MATH_BLOCK.sub(block, text if text.endswith("\n") else text + "\n").rstrip("\n")
    text = split_grouped_parameters(text)
    text = MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)
    text = XREF_ROLE.sub(xref, text)
    return LITERAL_MARKER.sub(r"\1:", text)


class RestToMarkdown(griffe.Extension):
    """Rewrite every docstring of the loaded package with :func:`rest_to_markdown`."""

    def __init__(self) -> None:
        super().__init__()
        self._done: set[int] = set()

    def _rewrite(self, obj: griffe.Object) -> None:
        if obj.docstring is not None and id(obj.docstring) not in self._done:
            obj.docstring.value = rest_to_markdown(obj.docstring.value)
            self._done.add(id(obj.docstring))

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        self._rewrite(obj)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """The package's own docstring (not always seen by ``on_object``)."""
        self._rewrite(pkg)
