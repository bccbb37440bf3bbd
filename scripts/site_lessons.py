"""What the site does to an executed lesson before MkDocs renders it (used by site_prepare.py).

Everything here is derived from the lesson files, the exercise registry and ``figure()``'s
records, so a new lesson gets it without any edit of the site:

- :func:`clean_outputs` — the one place where library noise is filtered out of executed
  lessons: TensorFlow/absl log lines, library warnings (a warning the kit raises on purpose is
  kept, without the temporary file name), machine paths;
- :func:`place_figures` — each ``figure()`` output becomes the saved PNG (compressed once) with
  a numbered caption and the caption as alt text, in a link that zooms;
- :func:`add_exercise_help` — after each exercise's ``check("NN.name", ...)`` cell: its hint,
  and in the self-study build the reference solution, both collapsible;
- :func:`add_model_answers` — in the self-study build, the model answers of the open questions
  (``solutions/answers/NN_topic.md``, one ``## N`` section per question number);
- :func:`link_references` — arXiv ids and DOIs become links; :func:`bibliography_page`;
- :func:`run_box` and :func:`clean_notebook` — "Run this lesson" and the downloadable notebook.
"""

from __future__ import annotations

import base64
import copy
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d\d\.\w+)["']""")
FIGURE_CALL = re.compile(r"\bfigure\(")
# Python's warning format: "<file>:<line>: <Category>: <message>" then the source line, indented.
PY_WARNING = re.compile(r"^(?P<where>\S.*?):\d+: (?P<category>[A-Z]\w*(?:Warning|Error)): "
                        r"(?P<message>.*)$")
LIBRARY_WARNINGS = ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning",
                    "RuntimeWarning", "ResourceWarning", "ImportWarning")
LOG_LINE = re.compile(r"^(WARNING|INFO|ERROR):(tensorflow|absl|keras)\b|^[WIEF]\d{4} \d\d:\d\d:\d\d"
                      r"|^WARNING: All log messages before absl")
# TensorFlow's retracing warning is library noise only when it names Keras' own per-model
# predict/train/test function (``model.predict``/``fit`` called in a lesson): Keras makes one
# tf.function per model from one code object, and TensorFlow counts the traces of all of them
# together, so a lesson with several models warns although nothing is traced twice -- not
# fixable from the kit.  A retracing of any other function is a kit bug: it is kept on the page
# (and the site tests fail on it); the kit compiles concrete functions that never retrace.
RETRACING = re.compile(r"triggered tf\.function retracing")
KERAS_STEP = re.compile(r"<function TensorFlowTrainer\.make_(?:predict|train|test)_function\.")
MACHINE_PATH = re.compile(r"(?:/tmp|/var/folders|/private/var|/root|/home/[^/\s]+|/Users/[^/\s]+)"
                          r"(?:/[^\s'\"<>:,;)]*)?")
ARXIV = re.compile(r"(?<![\[/\w])arXiv:\s?(\d{4}\.\d{4,5}(?:v\d+)?)")
DOI = re.compile(r"(?<![\[/\w])(?:doi:\s?)?(10\.\d{4,9}/[^\s\])>,;]+[^\s\])>,;.])", re.IGNORECASE)
REFERENCES_HEADING = re.compile(r"^#{1,6}\s*(?:\d+(?:\.\d+)*\.?\s*)?(References|Bibliography)\b",
                                re.IGNORECASE | re.MULTILINE)
QUESTIONS_HEADING = re.compile(r"^#{1,6}\s*(?:\d+(?:\.\d+)*\.?\s*)?(?:Further |Open )?"
                               r"(exercises|questions)\b", re.IGNORECASE | re.MULTILINE)
NUMBERED_ITEM = re.compile(r"^\s{0,3}(\d+)[.)]\s", re.MULTILINE)
ANSWER_HEADING = re.compile(r"^##\s+(?:Question\s+)?(\d+)\b.*$", re.MULTILINE | re.IGNORECASE)
HTML_FIGURE_CLASS = "xk-figure"
PNG_COLOURS = 256
ASPECT_TOLERANCE = 0.05  # the shown and the saved PNG of one figure() differ only in dpi


# ----------------------------------------------------------------------------- library noise
def clean_text(text: str, repo: Path | None = None) -> str:
    """Output text without library log lines and warnings, and without machine paths.

    TensorFlow's retracing warning is dropped only for Keras' own per-model step functions
    (see ``KERAS_STEP``); a retracing of a kit function stays visible.

    A warning of a kit-level category (``UserWarning``: the kit's own advice, e.g. "explaining
    post-softmax probabilities") is kept as ``UserWarning: message``; library categories
    (deprecations, NumPy's ``RuntimeWarning``...) are dropped with their source line.
    """
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    skip_indented = False
    for line in lines:
        bare = line.rstrip("\n")
        if skip_indented and (bare.startswith((" ", "\t")) or not bare.strip()):
            continue
        skip_indented = False
        if LOG_LINE.match(bare) and not (RETRACING.search(bare) and not KERAS_STEP.search(bare)):
            skip_indented = True
            continue
        warning = PY_WARNING.match(bare)
        if warning:
            skip_indented = True  # the echoed source line follows, indented
            if warning.group("category") in LIBRARY_WARNINGS:
                continue
            line = f"{warning.group('category')}: {warning.group('message')}\n"
        kept.append(line)
    cleaned = "".join(kept)
    if repo is not None:
        cleaned = cleaned.replace(str(repo) + "/", "").replace(str(repo), ".")
    return MACHINE_PATH.sub(lambda m: Path(m.group(0)).name or "…", cleaned)


def clean_outputs(nb: nbformat.NotebookNode, repo: Path | None = None) -> int:
    """Filter every output of ``nb`` with :func:`clean_text`; returns how many were changed."""
    changed = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = clean_text(output.get("text", ""), repo)
                changed += text != output.get("text", "")
                if not text.strip():
                    continue
                output["text"] = text
            for key, value in output.get("data", {}).items():
                if key in ("text/plain", "text/html", "text/markdown") and isinstance(value, str):
                    text = clean_text(value, repo)
                    changed += text != value
                    output["data"][key] = text
            outputs.append(output)
        cell["outputs"] = outputs
    return changed


# ----------------------------------------------------------------------------------- figures
def compress_png_bytes(data: bytes) -> bytes:
    """A PNG as a 256-colour palette PNG (octree, no dithering) when that is smaller."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if "transparency" in image.info or (image.mode in ("RGBA", "LA")
                                            and image.getchannel("A").getextrema()[0] < 255):
            return data  # a palette would lose real transparency (matplotlib's alpha is opaque)
        quantised = image.convert("RGB").quantize(colors=PNG_COLOURS,
                                                  method=Image.Quantize.FASTOCTREE,
                                                  dither=Image.Dither.NONE)
        buffer = io.BytesIO()
        quantised.save(buffer, format="PNG", optimize=True)
    small = buffer.getvalue()
    return small if len(small) < len(data) else data


def compress_png(source: Path, target: Path) -> Path:
    """Write ``source`` to ``target`` compressed by :func:`compress_png_bytes`."""
    target.write_bytes(compress_png_bytes(source.read_bytes()))
    return target


def compress_inline_images(nb: nbformat.NotebookNode) -> int:
    """Compress the PNG outputs left inline (images not shown through ``figure()``)."""
    changed = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = output.get("data", {})
            if "image/png" in data:
                raw = base64.b64decode(data["image/png"])
                small = compress_png_bytes(raw)
                if len(small) < len(raw):
                    data["image/png"] = base64.b64encode(small).decode("ascii")
                    changed += 1
    return changed


@dataclass
class PlacedFigure:
    number: int
    name: str
    file: str
    caption: str


def png_aspect(data: bytes) -> float | None:
    """Width / height of a PNG from its header, or None if it is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return width / height if height else None


def figure_outputs(nb: nbformat.NotebookNode, records: list[dict],
                   folder: Path | None = None) -> list[tuple[dict, dict]]:
    """Pair each image output of a cell calling ``figure(`` with ``figure()``'s records, in order.

    ``figure()`` saves, records and displays one image per call, in the order of the calls, so
    the n-th image shown by a cell that calls ``figure(`` is the n-th record.  With ``folder``
    (the saved PNGs), an image whose shape differs from the next record's PNG by more than
    ``ASPECT_TOLERANCE`` is not paired (a plot shown another way, or records from another run).
    Images of other cells (a plain ``plt.show()``) are left as they are.
    """
    pairs = []
    pending = list(records)
    for cell in nb.cells:
        if cell.cell_type != "code" or not FIGURE_CALL.search(cell.source):
            continue
        for output in cell.get("outputs", []):
            if not pending or "image/png" not in output.get("data", {}):
                continue
            if folder is not None:
                saved = folder / str(pending[0].get("file", ""))
                shown = png_aspect(base64.b64decode(output["data"]["image/png"]))
                aspect = png_aspect(saved.read_bytes()) if saved.is_file() else None
                if shown and aspect and abs(shown / aspect - 1) > ASPECT_TOLERANCE:
                    continue
            pairs.append((output, pending.pop(0)))
    return pairs


def figure_html(number: int, file: str, caption: str, size: tuple[int, int],
                text_px: float | None = None) -> str:
    """The HTML of one numbered figure: the image (alt = caption) in a zoom link, its caption.

    ``text_px`` (``figure()``'s record: the smallest text, in px of the PNG at its natural
    size) becomes ``data-text-px``, so a browser can measure the size the text is shown at.
    """
    alt = html.escape(caption or f"Figure {number}", quote=True)
    text = html.escape(caption) if caption else ""
    width, height = size
    measured = f' data-text-px="{float(text_px):g}"' if text_px else ""
    return (f'<figure class="{HTML_FIGURE_CLASS}" id="figure-{number}">'
            f'<a class="xk-zoom" href="{html.escape(file)}" title="Enlarge (click)">'
            f'<img src="{html.escape(file)}" alt="{alt}" width="{width}" height="{height}"'
            f'{measured} decoding="async"></a>'
            f'<figcaption><strong>Figure {number}.</strong> {text}</figcaption></figure>')


def place_figures(nb: nbformat.NotebookNode, records: list[dict], folder: Path,
                  target: Path) -> list[PlacedFigure]:
    """Replace each ``figure()`` output by its saved PNG (compressed into ``target``), numbered.

    ``folder`` holds the PNGs ``xaikit reproduce`` saved; a record whose PNG is missing keeps
    the notebook's inline image.  Returns the figures placed, numbered in page order.
    """
    from PIL import Image

    placed: list[PlacedFigure] = []
    for output, record in figure_outputs(nb, records, folder):
        source = folder / str(record.get("file", ""))
        if not source.is_file():
            continue
        target.mkdir(parents=True, exist_ok=True)
        compressed = compress_png(source, target / source.name)
        with Image.open(compressed) as image:
            size = image.size
        number = len(placed) + 1
        caption = " ".join(str(record.get("caption") or "").split())
        output["data"] = {"text/html": figure_html(number, source.name, caption, size,
                                                   record.get("text_px"))}
        output["metadata"] = {}
        placed.append(PlacedFigure(number, str(record.get("name", "")), source.name, caption))
    compress_inline_images(nb)
    return placed


# --------------------------------------------------------------------------------- exercises
def one_line_html(text: str) -> str:
    """HTML on one line (newlines inside ``<pre>`` as ``&#10;``), so that a Markdown cell keeps it
    as one raw HTML block whatever blank lines the code has."""
    def pre(match: re.Match) -> str:
        return match.group(0).replace("\n", "&#10;")

    text = re.sub(r"<pre\b.*?</pre>", pre, text, flags=re.DOTALL)
    return " ".join(text.split("\n"))


def highlight_python(source: str) -> str:
    """Python source as highlighted HTML (Pygments, the classes the notebook CSS styles)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(source, PythonLexer(), HtmlFormatter(cssclass="highlight"))


def markdown_html(text: str) -> str:
    """Markdown (with ``$math$`` left for the site's MathML pass) as HTML."""
    import markdown

    return markdown.markdown(text, extensions=["fenced_code", "tables"])


def help_cell(exercise_id: str, hint: str, solution: str | None) -> nbformat.NotebookNode:
    """The Markdown cell after an exercise: its hint, and the solution when one is given."""
    parts = [f'<div class="xk-help" data-exercise="{html.escape(exercise_id)}">']
    if hint:
        parts.append(f'<details class="xk-hint"><summary>Hint for <code>{exercise_id}</code>'
                     f"</summary><p>{html.escape(hint)}</p></details>")
    if solution is not None:
        parts.append(f'<details class="xk-solution"><summary>Reference solution of '
                     f"<code>{exercise_id}</code></summary>{highlight_python(solution)}</details>")
    parts.append(f'<p class="xk-help-note">In the notebook: <code>hint("{exercise_id}")</code>; '
                 f'in self-study mode also <code>solution("{exercise_id}")</code> '
                 f"(<code>from xaikit.exercises import hint, solution</code>).</p></div>")
    cell = nbformat.v4.new_markdown_cell(one_line_html("".join(parts)))
    cell.metadata["tags"] = ["xaikit-help"]
    return cell


def add_exercise_help(nb: nbformat.NotebookNode, hints: dict[str, str],
                      solutions: dict[str, str] | None = None) -> list[str]:
    """Insert a help cell after each cell that checks an exercise; returns the exercise ids.

    ``hints`` maps ids to hints (the registry's); ``solutions`` maps ids to solution source and
    is given only in the self-study build.
    """
    cells, found = [], []
    for cell in nb.cells:
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        for exercise_id in CHECK_CALL.findall(cell.source):
            if exercise_id in hints:
                solution = solutions.get(exercise_id) if solutions is not None else None
                cells.append(help_cell(exercise_id, hints[exercise_id], solution))
                found.append(exercise_id)
    nb.cells = cells
    return found


def read_answers(path: Path) -> dict[int, str]:
    """Model answers from ``solutions/answers/NN_topic.md``: one ``## N`` section per question."""
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    heads = list(ANSWER_HEADING.finditer(text))
    return {int(h.group(1)): text[h.end(): (heads[i + 1].start() if i + 1 < len(heads)
                                              else len(text))].strip()
            for i, h in enumerate(heads)}


def add_model_answers(nb: nbformat.NotebookNode, answers: dict[int, str]) -> list[int]:
    """Collapsible model answers under the lesson's open questions; returns their numbers.

    The questions are the numbered items from the lesson's last "Exercises" / "Further
    exercises" / "Questions" heading on, in that cell and the Markdown cells after it (a list
    may be split by exercise code cells) up to the next other heading.  Each answer goes after
    the cell holding its question.
    """
    start = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and QUESTIONS_HEADING.search(cell.source):
            start = index
    if start is None or not answers:
        return []
    placed: list[tuple[int, list[int]]] = []
    for index in range(start, len(nb.cells)):
        cell = nb.cells[index]
        if cell.cell_type != "markdown":
            continue
        source = cell.source
        if index == start:  # from the line after the questions heading
            source = source[QUESTIONS_HEADING.search(source).end():].partition("\n")[2]
        other = re.search(r"^#{1,6}\s", source, re.MULTILINE)
        if other:  # the next section begins: its list is not a list of questions
            source = source[: other.start()]
        numbers = [int(n) for n in NUMBERED_ITEM.findall(source) if int(n) in answers]
        if numbers:
            placed.append((index, numbers))
        if other:
            break
    shown = []
    for index, numbers in reversed(placed):  # from the end, so the indices stay valid
        parts = ['<div class="xk-answers">']
        for number in numbers:
            parts.append(f'<details class="xk-answer"><summary>Model answer to question '
                         f"{number}</summary>{markdown_html(answers[number])}</details>")
        parts.append("</div>")
        cell = nbformat.v4.new_markdown_cell(one_line_html("".join(parts)))
        cell.metadata["tags"] = ["xaikit-help"]
        nb.cells.insert(index + 1, cell)
        shown = numbers + shown
    return shown


# -------------------------------------------------------------------------------- references
def link_references(markdown: str) -> str:
    """arXiv ids and DOIs in Markdown become links (text already in a link is left alone)."""
    markdown = ARXIV.sub(lambda m: f"[arXiv:{m.group(1)}](https://arxiv.org/abs/{m.group(1)})",
                         markdown)
    return DOI.sub(lambda m: f"[{m.group(0)}](https://doi.org/{m.group(1)})", markdown)


def reference_items(markdown: str) -> list[str]:
    """The list items of a "References" section (continuation lines joined)."""
    match = REFERENCES_HEADING.search(markdown)
    if not match:
        return []
    rest = markdown[match.end():]
    end = re.search(r"^#{1,6}\s", rest, re.MULTILINE)
    items: list[str] = []
    for line in (rest[: end.start()] if end else rest).splitlines():
        bullet = re.match(r"^\s{0,3}(?:[*+-]|\d+[.)])\s+(.*)$", line)
        if bullet:
            items.append(bullet.group(1).strip())
        elif items and line.strip():
            items[-1] += " " + line.strip()
    return items


def bibliography_page(lessons: list[tuple[str, str, str]]) -> str:
    """The bibliography: every lesson's references, merged by arXiv id or text, with the lessons
    that cite them.  ``lessons``: (stem, title, markdown of the lesson)."""
    entries: dict[str, dict] = {}
    loose: dict[str, list[tuple[str, str]]] = {}
    for stem, title, text in lessons:
        items = reference_items(text)
        for item in items:
            arxiv = ARXIV.search(item)
            key = arxiv.group(1).split("v")[0] if arxiv else " ".join(item.lower().split())
            entry = entries.setdefault(key, {"text": item, "lessons": []})
            if (stem, title) not in entry["lessons"]:
                entry["lessons"].append((stem, title))
        for arxiv in ARXIV.finditer(text):
            key = arxiv.group(1).split("v")[0]
            if key not in entries:
                loose.setdefault(key, [])
                if (stem, title) not in loose[key]:
                    loose[key].append((stem, title))
    lines = ["# Bibliography", "",
             "Every paper the lessons cite in their *References* sections, with the lessons "
             "citing it (generated from the lessons).", ""]

    def cited(pairs: list[tuple[str, str]]) -> str:
        return ", ".join(f"[{stem[:2]}](lessons/{stem}.ipynb)" for stem, _ in pairs)

    for entry in sorted(entries.values(), key=lambda e: e["text"].lower()):
        lines.append(f"- {link_references(entry['text'])} — lesson {cited(entry['lessons'])}")
    if loose:
        lines += ["", "## Also cited in the text", ""]
        for key, pairs in sorted(loose.items()):
            lines.append(f"- [arXiv:{key}](https://arxiv.org/abs/{key}) — lesson {cited(pairs)}")
    if not entries and not loose:
        lines.append("No lesson has a *References* section yet.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------ running the lesson
@dataclass
class Repository:
    """Where learners get the kit: set once in mkdocs.yml (``extra.xaikit``)."""

    url: str = ""
    branch: str = "main"
    notebooks_branch: str = "gh-pages"

    @property
    def github(self) -> str | None:
        """``owner/name`` when the repository is on GitHub, else None."""
        match = re.match(r"^https?://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?$", self.url)
        return match.group(1) if match else None


def setup_source(repo: Repository) -> str:
    """The first code cell of a downloaded notebook: check that xaikit imports, say how to get it.

    On Colab or Binder with a repository URL set, it installs the kit with pip first.
    """
    install = f"git+{repo.url}@{repo.branch}" if repo.url else ""
    clone = f"git clone {repo.url}" if repo.url else "clone the xaikit repository"
    lines = [
        "# Setup: this lesson needs the xaikit kit (run this cell first).",
        "import importlib.util",
        "import os",
        "import subprocess",
        "import sys",
        "",
        f"XAIKIT_PIP = {install!r}  # empty: no repository URL was set when the site was built",
        "# Colab, or Binder (BinderHub sets BINDER_LAUNCH_HOST, BINDER_REPO_URL, ...)",
        'HOSTED = "google.colab" in sys.modules or any(k.startswith("BINDER_") for k in os.environ)',
        'if importlib.util.find_spec("xaikit") is None and HOSTED and XAIKIT_PIP:',
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", XAIKIT_PIP], check=True)',
        "    importlib.invalidate_caches()  # see the package installed while the kernel runs",
        'if importlib.util.find_spec("xaikit") is None:',
        "    raise ModuleNotFoundError(",
        '        "xaikit is not installed in this kernel. Locally: "',
        f'        "{clone}, then `make venv` in it, and run Jupyter from .venv/bin "',
        '        "(or choose the kernel of that .venv)."',
        f'        + (" On a hosted notebook: pip install {install}" if XAIKIT_PIP else ""))',
        "import xaikit",
        "",
        'print("xaikit", xaikit.__version__, "is ready")',
    ]
    return "\n".join(lines)


def clean_notebook(nb: nbformat.NotebookNode, repo: Repository) -> nbformat.NotebookNode:
    """The lesson as a learner downloads it: no outputs, the standard ``python3`` kernel, and a
    first code cell that checks that xaikit is importable (:func:`setup_source`)."""
    clean = copy.deepcopy(nb)
    clean.metadata = nbformat.from_dict({
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    cells = []
    for cell in clean.cells:
        if "xaikit-help" in cell.metadata.get("tags", []):
            continue
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items()
                                            if k in ("tags",)})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
        for exercise_id in CHECK_CALL.findall(cell.source) if cell.cell_type == "code" else []:
            cells.append(nbformat.v4.new_markdown_cell(
                f'*Stuck?* `hint("{exercise_id}")` prints a hint; in self-study mode '
                f"(`XAIKIT_SELF_STUDY=1` in a clone of the repository) `solution(\"{exercise_id}\")` "
                "prints the reference solution (`from xaikit.exercises import hint, solution`)."))
    setup = nbformat.v4.new_code_cell(setup_source(repo))
    setup.metadata["tags"] = ["xaikit-setup"]
    at = 1 if cells and cells[0].cell_type == "markdown" else 0
    clean.cells = cells[:at] + [setup] + cells[at:]
    return clean


def run_box(stem: str, repo: Repository, download: str) -> str:
    """The "Run this lesson" box (one raw HTML line for a Markdown cell)."""
    clone = (f"git clone {html.escape(repo.url)} xaikit &amp;&amp; cd xaikit" if repo.url
             else "cd xaikit   # your clone of the repository")
    commands = (f"{clone}&#10;make venv&#10;"
                f".venv/bin/jupyter lab   # then open the downloaded {stem}.ipynb")
    links = [f'<a href="{download}" download>Download the notebook</a> (no outputs; its first '
             f"cell checks that xaikit is installed)"]
    if repo.github:
        colab = (f"https://colab.research.google.com/github/{repo.github}/blob/"
                 f"{repo.notebooks_branch}/downloads/{stem}.ipynb")
        binder = (f"https://mybinder.org/v2/gh/{repo.github}/{repo.notebooks_branch}"
                  f"?labpath=downloads%2F{stem}.ipynb")
        links += [f'<a class="xk-colab" href="{colab}">Open in Colab</a>',
                  f'<a class="xk-binder" href="{binder}">Open in Binder</a>']
    return one_line_html(
        '<details class="xk-run admonition example"><summary>Run this lesson</summary>'
        f"<p>{' · '.join(links)}</p>"
        "<p>On your machine (Python ≥ 3.11, <code>make</code>):</p>"
        f"<pre><code>{commands}</code></pre>"
        f"<p>The lesson's source is <code>lessons/{stem}.py</code> (jupytext): "
        f"<code>XAIKIT_FAST=1 .venv/bin/xaikit reproduce --lesson {stem[:2]} --fast</code> runs it "
        "headless. See <em>Start here</em> for how the exercises work.</p></details>")
