"""Stage the pages of the xaikit site into one folder for ``mkdocs build``.

Usage::

    python scripts/site_prepare.py [--out xaikit-out] [--docs build/site-docs] [--no-previews]

What it puts into ``--docs`` (which it empties first):

- the hand-written pages and assets from ``docs/`` (the home page gets the README's quick start
  when the README has a "Quick start" section);
- ``lessons/``: every notebook that ``xaikit reproduce`` executed into ``--out``, never executed
  again, transformed by ``scripts/site_lessons.py``: library noise filtered out of the outputs,
  ``figure()`` outputs numbered and captioned (one compressed PNG each, click to zoom), each
  exercise's hint (and with ``--self-study`` its solution and the open questions' model
  answers), a "Run this lesson" box, references linked; exercise cells tagged
  ``xaikit-exercise`` so the site shows them as tasks; an index page.  A notebook that was not
  executed, holds an error output or imports the reference solutions stops the build;
- ``downloads/``: each lesson as a clean notebook (no outputs, ``python3`` kernel, a first cell
  that checks that xaikit is importable);
- ``bibliography.md``: the lessons' references, merged, with the lessons citing them;
- ``reproductions.md``: one table of every ``xaikit.report.result`` the lessons recorded;
- ``datasets/``: the cards ``datasets/*.md`` with preview grids made by ``xaikit data``;
- ``api/``: one mkdocstrings page per xaikit subpackage that exists;
- ``instructors.md``: a placeholder only when ``docs/instructors.md`` does not exist.

Exit status 0 on success, 1 with a one-line reason on stderr otherwise.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import site_lessons  # noqa: E402 - the lesson transforms, beside this script

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "xaikit"
# API pages, in this order first; other public top-level modules of the package follow.
API_ORDER = (
    "data", "models", "core", "attribution", "metrics", "interpretation", "viz", "report",
    "exercises", "grading", "reproduce",
)
API_SKIP = {"cli", "commands", "__main__"}
EXERCISE_TAG = "xaikit-exercise"
EXERCISE_CHECK = re.compile(r"""\bcheck\(\s*["']\d+\.\w+["']""")
EXERCISE_STUB = re.compile(r"raise\s+NotImplementedError")
EXERCISE_HEADING = re.compile(r"^\s*#{1,6}\s*(\d+(\.\d+)*\.?\s*)?Exercises?\b", re.IGNORECASE)
SOLUTIONS_IMPORT = re.compile(r"^\s*(from|import)\s+solutions\b", re.MULTILINE)
IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
QUICK_START = re.compile(r"<!-- xaikit:quick-start -->.*?<!-- /xaikit:quick-start -->", re.DOTALL)
RESULTS_FILE = "results.json"  # xaikit.report.RESULTS_FILE (read here without importing xaikit)
# "Zhang et al. (2019)", "Zhang et al., 2019", "Selvaraju et al., ICCV 2017", "Simonyan et al.",
# "Zeiler and Fergus 2014", "Zeiler & Fergus (ECCV 2014)", "Selvaraju (2017)".
CITATION = re.compile(
    r"\b(?P<team>[A-Z][A-Za-z'-]+(?: et al\.?| (?:and|&) [A-Z][A-Za-z'-]+))"
    r"(?:,? \(?(?:[A-Z][A-Za-z-]* )?(?P<year>(?:19|20)\d\d[a-z]?)\b)?"
    r"|\b(?P<author>[A-Z][A-Za-z'-]+) \((?:[A-Z][A-Za-z-]* )?(?P<year2>(?:19|20)\d\d[a-z]?)\)"
)
NOT_AUTHORS = {"Fig", "Figure", "Table", "Eq", "Sec", "Section", "The", "A", "An", "In", "On"}
FIGURE_REF = re.compile(r"\b(fig(?:ure)?s?|tab(?:le)?s?)\.?\s*(\d+[a-z]?)\b", re.IGNORECASE)
# Plain symbols (in the common system fonts), not emoji: the site loads no fonts of its own.
STATUS_ICON = {"passed": "✓", "recorded": "✓", "unchecked": "ℹ", "elsewhere": "ℹ",
               "unrecorded": "≈", "failed": "✗"}
PREVIEW_PER_CLASS = 6


class SiteError(Exception):
    """A problem that stops the site build; the message says what to do."""


@dataclass
class Lesson:
    """One executed lesson found in the reproduce output."""

    stem: str
    notebook: Path
    title: str
    figures: list[Path] = field(default_factory=list)
    record: dict[str, list[dict]] = field(default_factory=dict)
    summary: str = ""
    markdown: str = ""  # the text of the lesson's Markdown cells


# ---------------------------------------------------------------------------------------- lessons
def find_lessons(out: Path) -> list[Lesson]:
    """Every executed lesson under ``out``, sorted by name.

    ``xaikit reproduce`` writes ``<out>/<stem>.ipynb`` and the lesson's figures and
    ``results.json`` into ``<out>/<stem>/``; a notebook inside that folder
    (``<out>/<stem>/<stem>.ipynb``) is accepted too.
    """
    if not out.is_dir():
        raise SiteError(
            f"no executed lessons: {out}/ does not exist. Run `make reproduce` (or "
            f"`xaikit reproduce --out {out}`) first; the site shows the notebooks it executed"
        )
    notebooks = {p.stem: p for p in out.glob("*.ipynb")}
    for folder in out.iterdir():
        inside = folder / f"{folder.name}.ipynb"
        if folder.is_dir() and folder.name not in notebooks and inside.is_file():
            notebooks[folder.name] = inside
    lessons = []
    for stem, notebook in sorted(notebooks.items()):
        if stem.startswith("."):
            continue
        folder = out / stem
        lessons.append(
            Lesson(
                stem=stem,
                notebook=notebook,
                title=stem,
                figures=sorted(folder.glob("*.png")) if folder.is_dir() else [],
                record=read_record(folder),
            )
        )
    if not lessons:
        raise SiteError(
            f"no executed lessons in {out}/ (expected <lesson>.ipynb files written by `xaikit "
            f"reproduce`). Run `make reproduce` first"
        )
    return lessons


def read_record(folder: Path) -> dict[str, list[dict]]:
    """The lesson's ``results.json`` written by ``xaikit.report``: figures, tables, results."""
    record: dict[str, list[dict]] = {"figures": [], "tables": [], "results": []}
    path = folder / RESULTS_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise SiteError(f"{path} is not valid JSON ({error}); run the lesson again") from error
        for key in record:
            record[key] = [r for r in data.get(key, []) if isinstance(r, dict)]
    return record


def first_heading(nb: nbformat.NotebookNode) -> str | None:
    """The text of the notebook's first Markdown heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                match = re.match(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$", line)
                if match:
                    return match.group(1)
    return None


def lesson_summary(nb: nbformat.NotebookNode, limit: int = 220) -> str:
    """One line for the lesson index: the "You will learn ..." paragraph when the lesson has one,
    else the first sentences of its first paragraph (at most ``limit`` characters)."""
    paragraphs = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            paragraphs += [" ".join(block.split()) for block in re.split(r"\n\s*\n", cell.source)]
    prose = [p for p in paragraphs if p and not p.startswith(("#", "<", "|", "!", "```", "$$", ">"))]
    for text in prose:
        match = re.match(r"^\*\*(You will learn)\*\*\s*(.+)$", text, re.IGNORECASE)
        if match:
            return f"{match.group(1)} {match.group(2)}"
    if not prose:
        return ""
    summary = ""
    for sentence in re.split(r"(?<=[.!?])\s+", prose[0]):
        if summary and len(summary) + len(sentence) > limit:
            break
        summary = f"{summary} {sentence}".strip()
    return summary if len(summary) <= limit else summary[: limit - 1].rsplit(" ", 1)[0] + " …"


def check_executed(lesson: Lesson, nb: nbformat.NotebookNode) -> None:
    """Refuse a notebook that was not executed, failed, or pulls in the reference solutions."""
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    if code_cells and all(c.get("execution_count") is None for c in code_cells):
        raise SiteError(
            f"{lesson.notebook} was never executed; run `xaikit reproduce {lesson.stem}` "
            f"(the site does not execute lessons)"
        )
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if SOLUTIONS_IMPORT.search(cell.source):
            raise SiteError(
                f"{lesson.notebook} cell {index} imports the reference solutions; solutions are "
                f"never published on the site"
            )
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                raise SiteError(
                    f"{lesson.notebook} cell {index} failed with {output.get('ename')}: "
                    f"{output.get('evalue')}; fix the lesson and run `xaikit reproduce "
                    f"{lesson.stem}` again"
                )


def tag_exercises(nb: nbformat.NotebookNode) -> int:
    """Tag exercise cells with ``xaikit-exercise`` so the site shows them as tasks; count them."""
    tagged = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            is_exercise = bool(EXERCISE_CHECK.search(cell.source) or EXERCISE_STUB.search(cell.source))
        elif cell.cell_type == "markdown":
            is_exercise = bool(EXERCISE_HEADING.match(cell.source))
        else:
            is_exercise = False
        if is_exercise:
            tags = list(cell.metadata.get("tags", []))
            if EXERCISE_TAG not in tags:
                cell.metadata["tags"] = tags + [EXERCISE_TAG]
            tagged += 1
    return tagged


def exercise_help(repo: Path, self_study: bool) -> tuple[dict[str, str], dict[str, str] | None]:
    """The hints of every registered exercise, and in the self-study build their solutions."""
    from xaikit.exercises import EXERCISES
    from xaikit.exercises.help import solution_source

    hints = {key: exercise.hint for key, exercise in EXERCISES.items()}
    if not self_study:
        return hints, None
    solutions = {}
    for key in EXERCISES:
        try:
            solutions[key] = solution_source(key, root=repo)
        except (FileNotFoundError, AttributeError) as error:
            raise SiteError(f"the self-study build shows every solution: {error}") from error
    return hints, solutions


def stage_lessons(lessons: list[Lesson], docs: Path, repo: Path, *, self_study: bool = False,
                  repository: site_lessons.Repository | None = None) -> None:
    """Stage each executed lesson into ``docs/lessons``: outputs cleaned, figures numbered and
    captioned (one compressed PNG each), exercise help, the "Run this lesson" box, references
    linked; its clean notebook into ``docs/downloads``; then the index."""
    repository = repository or site_lessons.Repository()
    target = docs / "lessons"
    target.mkdir(parents=True, exist_ok=True)
    downloads = docs / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    hints, solutions = exercise_help(repo, self_study)
    for lesson in lessons:
        nb = nbformat.read(lesson.notebook, as_version=4)
        check_executed(lesson, nb)
        lesson.title = first_heading(nb) or lesson.stem
        lesson.summary = lesson_summary(nb)
        lesson.markdown = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        staged = copy.deepcopy(nb)
        site_lessons.clean_outputs(staged, repo)
        site_lessons.place_figures(staged, lesson.record.get("figures", []),
                                   lesson.notebook.parent / lesson.stem, target / lesson.stem)
        site_lessons.add_exercise_help(staged, hints, solutions)
        if self_study:
            answers = site_lessons.read_answers(repo / "solutions" / "answers" / f"{lesson.stem}.md")
            site_lessons.add_model_answers(staged, answers)
        for cell in staged.cells:
            if cell.cell_type == "markdown":
                cell.source = site_lessons.link_references(cell.source)
        box = nbformat.v4.new_markdown_cell(site_lessons.run_box(
            lesson.stem, repository, f"../../downloads/{lesson.stem}.ipynb"))
        box.metadata["tags"] = ["xaikit-help"]
        at = 1 if staged.cells and staged.cells[0].cell_type == "markdown" else 0
        staged.cells.insert(at, box)
        tag_exercises(staged)
        nbformat.write(staged, target / f"{lesson.stem}.ipynb")
        nbformat.write(site_lessons.clean_notebook(nb, repository),
                       downloads / f"{lesson.stem}.ipynb")
    missing = sorted(
        p.stem for p in (repo / "lessons").glob("[0-9]*.py") if p.stem not in {x.stem for x in lessons}
    )
    for stem in missing:
        print(f"site_prepare: note: lessons/{stem}.py has no executed notebook; run "
              f"`xaikit reproduce {stem}` to include it", file=sys.stderr)
    for lesson in lessons:
        source = repo / "lessons" / f"{lesson.stem}.py"
        if source.is_file() and source.stat().st_mtime > lesson.notebook.stat().st_mtime:
            print(f"site_prepare: note: lessons/{lesson.stem}.py changed after it was executed; "
                  f"the site shows the older run", file=sys.stderr)
    (target / "index.md").write_text(lessons_index(lessons), encoding="utf-8")


def lessons_index(lessons: list[Lesson]) -> str:
    """The Lessons landing page: one row per lesson."""
    rows = []
    for lesson in lessons:
        link = f"[{escape_cell(lesson.title)}]({lesson.stem}.ipynb)"
        download = f'<a href="../downloads/{lesson.stem}.ipynb" download>{lesson.stem}.ipynb</a>'
        rows.append(f"| {link} | {escape_cell(lesson.summary)} | {download} |")
    return "\n".join([
        "# Lessons",
        "",
        "Each lesson is shown as `xaikit reproduce` executed it: the code, its output, the "
        "reproduced figures and the \"paper vs here\" comparison. Exercise cells are marked as "
        "tasks with a hint below each; the public checks in them report on the unsolved stubs. "
        "To work on a lesson, download its notebook (no outputs, the standard `python3` kernel) "
        "and open it in the kit's environment, or open `lessons/NN_topic.py` in a clone "
        "(jupytext); each lesson page has a *Run this lesson* box, and [Start here](../start-here.md) "
        "explains the set-up.",
        "",
        "| Lesson | What it is about | Notebook |",
        "|---|---|---|",
        *rows,
        "",
    ])


# ---------------------------------------------------------------------------------- reproductions
def escape_cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def format_value(value: object) -> str:
    """A result's value as shown in the table."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def status_badge(status: object) -> str:
    """The status cell: an icon and the word, coloured by the site's CSS."""
    word = str(status or "").strip()
    if not word:
        return ""
    key = word.lower()
    icon = STATUS_ICON.get(key, "")
    slug = re.sub(r"[^a-z0-9]+", "-", key).strip("-")
    return f'<span class="xk-status xk-status--{slug}">{icon} {html.escape(word)}</span>'


def lesson_papers(lesson: Lesson) -> list[str]:
    """The papers a lesson cites in its figure and table captions ("Simonyan et al. (2014)")."""
    captions = [item.get("caption", "") for kind in ("figures", "tables")
                for item in lesson.record.get(kind, [])]
    years: dict[str, str] = {}  # author(s) -> year ("" when no caption gives one)
    for caption in captions:
        for match in CITATION.finditer(caption or ""):
            team = match.group("team") or match.group("author")
            if team.endswith(" et al"):
                team += "."
            year = match.group("year") or match.group("year2") or ""
            if team.split()[0] in NOT_AUTHORS and not year:
                continue
            years[team] = years.get(team) or year
    for team, year in years.items():  # a caption without the year: the lesson's text has it
        if not year:
            found = re.search(rf"\b{re.escape(team.split()[0])}\b[^()\n.]{{0,60}}?\(?"
                              rf"(?:[A-Z][A-Za-z-]* )?((?:19|20)\d\d)\b", lesson.markdown)
            years[team] = found.group(1) if found else ""
    return [f"{team} ({year})" if year else team for team, year in years.items()]


def figure_reference(record: dict) -> str:
    """"Fig. 3" / "Table 1" named by a result's name or note, or ""."""
    for text in (record.get("figure"), record.get("note"), str(record.get("name", "")).replace("_", " ")):
        match = FIGURE_REF.search(text or "")
        if match:
            kind = "Table" if match.group(1).lower().startswith("tab") else "Fig."
            return f"{kind} {match.group(2)}"
    return ""


def run_summary(out: Path) -> str:
    """The run line of ``<out>/summary.md`` ("7/7 lessons passed, full mode, ..."), or ""."""
    path = out / "summary.md"
    if not path.is_file():
        return ""
    match = re.search(r"^\d+/\d+ lessons passed.*$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(0) if match else ""


def reproductions_page(lessons: list[Lesson], run: str = "") -> str:
    """One table of every result the lessons recorded with ``xaikit.report.result``."""
    lines = [
        "# Reproductions",
        "",
        "Every number the lessons check against a paper, generated from the results that "
        "`xaikit reproduce` recorded with `xaikit.report.result`. *Paper's finding* is what the "
        "paper reports; *ours* is what the lesson measured on this kit's data and models. A fast "
        "run (`XAIKIT_FAST=1`) uses fewer images and shorter training, so its numbers can differ "
        "from a full `make reproduce`. Each number carries its check, in one of three tiers: "
        "**1** an exact property at float tolerance, **2** the kit's own recorded value "
        "(`lessons/expected/`, per numeric platform: trained weights differ in the last bits "
        "between CPU types, so on a platform with no record the value is shown beside the "
        "recorded ones, ℹ, not compared), **3** the paper's claim with a 95 % confidence interval over "
        "images or seeds. The status is computed by the check.",
        "",
        *([f"Last run (`xaikit reproduce`, its `summary.md`): {run}", ""] if run else []),
        "| Lesson | Paper | Figure / table | Quantity | Paper's finding | Ours | Tier | Check "
        "| Status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    count = 0
    for lesson in lessons:
        number = lesson.stem.split("_")[0]
        link = f'[{escape_cell(number)}](lessons/{lesson.stem}.ipynb "{html.escape(lesson.title)}")'
        papers = "; ".join(lesson_papers(lesson))
        for record in lesson.record.get("results", []):
            paper = record.get("citation") or papers
            quantity = f"`{escape_cell(record.get('name', ''))}`"
            if record.get("note"):
                quantity += f" — {escape_cell(record['note'])}"
            finding = "" if record.get("paper") is None else format_value(record["paper"])
            lines.append(
                f"| {link} | {escape_cell(paper)} | {escape_cell(figure_reference(record))} "
                f"| {quantity} | {escape_cell(finding)} | {escape_cell(format_value(record.get('value', '')))} "
                f"| {escape_cell(format_value(record.get('tier', '')))} "
                f"| {escape_cell(str(record.get('tolerance') or ''))} "
                f"| {status_badge(record.get('status'))} {escape_cell(str(record.get('detail') or ''))} |"
            )
            count += 1
    if count == 0:
        lines = lines[:-2] + ["No lesson recorded a result yet: run `make reproduce`."]
    listing = []
    for lesson in lessons:
        items = lesson.record.get("figures", []) + lesson.record.get("tables", [])
        if items:
            listing.append(f"- [{escape_cell(lesson.title)}](lessons/{lesson.stem}.ipynb):")
        for item in items:
            caption = escape_cell(item.get("caption") or "")
            listing.append(f"    - `{escape_cell(item.get('name', ''))}`" + (f": {caption}" if caption else ""))
    if listing:
        lines += ["", "## Figures and tables", "", "What each lesson reproduces:", "", *listing]
    lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- home
def readme_quick_start(readme: Path) -> str | None:
    """The body of the README's "Quick start" section (links not yet adapted to the site)."""
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"^(#{1,6})\s*Quick\s*start\b.*$", text, re.IGNORECASE | re.MULTILINE)
    if not match:
        return None
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}}\s", rest, re.MULTILINE)
    body = (rest[: end.start()] if end else rest).strip()
    return body or None


def relink(markdown: str, source: Path, page: Path, *, repo: Path, docs: Path) -> str:
    """Adapt the links of a repository file copied onto the site.

    ``source`` is the file the text comes from, ``page`` where it is staged.  A link to a page
    of ``docs/`` or to a lesson the site shows (``lessons/NN_topic.py``) points at that page; a
    link to any other repository file, which the site does not have, keeps only its text.
    """

    def fix(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        if re.match(r"^([a-z]+:|#)", target):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve()
        candidates = []
        if resolved.is_relative_to(repo / "docs"):
            candidates.append(docs / resolved.relative_to(repo / "docs"))
        if resolved.parent == repo / "lessons" and resolved.suffix == ".py":
            candidates.append(docs / "lessons" / f"{resolved.stem}.ipynb")
        for staged in candidates:
            if staged.is_file() or (staged / "index.md").is_file():
                link = os.path.relpath(staged, page.parent).replace(os.sep, "/")
                return f"[{text}]({link}{'#' + anchor if anchor else ''})"
        return text

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", fix, markdown)


def stage_home(docs: Path, readme: Path) -> None:
    """Put the README's quick start into the home page, when the README has one."""
    index = docs / "index.md"
    if not index.is_file():
        return
    quick = readme_quick_start(readme)
    if quick:
        quick = relink(quick, readme, index, repo=readme.parent, docs=docs)
        text = index.read_text(encoding="utf-8")
        index.write_text(QUICK_START.sub(lambda _: quick, text), encoding="utf-8")


# ------------------------------------------------------------------------------------------- api
def api_modules(package_dir: Path) -> list[str]:
    """Public top-level modules and subpackages of xaikit, in the site's order."""
    found = []
    for path in package_dir.iterdir():
        name = path.stem if path.suffix == ".py" else path.name
        public = not name.startswith("_") and name not in API_SKIP
        if public and ((path.is_dir() and (path / "__init__.py").is_file()) or path.suffix == ".py"):
            found.append(name)
    return sorted(found, key=lambda n: (API_ORDER.index(n) if n in API_ORDER else len(API_ORDER), n))


def submodules(package_dir: Path, name: str) -> list[str]:
    """Dotted names of the public modules inside one subpackage (recursively)."""
    root = package_dir / name
    if not root.is_dir():
        return []
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if path.name == "__init__.py" or any(p.startswith("_") for p in parts):
            continue
        names.append(".".join(parts))
    return names


def stage_api(docs: Path, package_dir: Path) -> list[str]:
    """One mkdocstrings page per subpackage (the package's own docstring, then each module)."""
    target = docs / "api"
    target.mkdir(parents=True, exist_ok=True)
    names = api_modules(package_dir)
    for name in names:
        lines = [f"# `{PACKAGE}.{name}`", "", f"::: {PACKAGE}.{name}", "    options:",
                 "      show_root_heading: false"]
        children = submodules(package_dir, name)
        if children:
            lines += ["      members: false", ""]
            for child in children:
                lines += [f"::: {child}", ""]
        (target / f"{name}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    listing = "\n".join(f"- [`{PACKAGE}.{n}`]({n}.md)" for n in names)
    (target / "index.md").write_text(
        "# API reference\n\nGenerated from the docstrings (NumPy style) of the package; each "
        "method's docstring cites its paper and equation.\n\n"
        f"::: {PACKAGE}\n    options:\n      show_root_heading: false\n      members: false\n\n"
        f"{listing}\n",
        encoding="utf-8",
    )
    return names


# -------------------------------------------------------------------------------------- datasets
def stage_datasets(docs: Path, cards_dir: Path, cache: Path, previews: bool) -> list[str]:
    """Copy the dataset cards and give each a preview grid made by ``xaikit data``."""
    cards = sorted(p for p in cards_dir.glob("*.md") if p.name.lower() != "readme.md")
    target = docs / "datasets"
    target.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    rows: list[str] = []
    for card in cards:
        text = card.read_text(encoding="utf-8")
        images = [m for m in IMAGE_LINK.finditer(text) if not re.match(r"^(https?:|data:)", m.group(2))]
        for match in reversed(images):  # from the end, so the offsets of the others stay valid
            image = match.group(2)
            source = (card.parent / image).resolve()
            dest = target / image
            made = dataset_preview(card.stem, cache) if previews and not source.is_file() else None
            if source.is_file() or made is not None:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source if source.is_file() else made, dest)
            else:  # a preview the card expects but nobody made: say how to make it
                note = f"*(preview grid not built: `xaikit data {card.stem} --out DIR` makes it)*"
                text = text[: match.start()] + note + text[match.end():]
        text = relink(text, card, target / card.name, repo=cards_dir.parent, docs=docs)
        if previews and not images:
            made = {name: dataset_preview(name, cache) for name in card_datasets(card.stem, text)}
            for name, preview in made.items():
                if preview is not None:
                    shutil.copy2(preview, target / f"{name}-preview.png")
            text = insert_previews(text, [name for name, preview in made.items() if preview])
        (target / card.name).write_text(text, encoding="utf-8")
        names.append(card.stem)
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), card.stem)
        rows.append(f"- [{title}]({card.name})")
    rows = "\n".join(rows) or "No dataset cards yet (`datasets/*.md`)."
    (target / "index.md").write_text(
        "# Datasets\n\nThe data sets the lessons use. All are generated or shipped inside "
        "packages, so they work offline; each card says how it is made, its classes, its "
        "ground truth (masks, parts, boxes) and what it is for.\n\n" + rows + "\n",
        encoding="utf-8",
    )
    return names


def card_datasets(stem: str, card: str) -> list[str]:
    """The data set names a card is about: the `code` names in its title, else its file name."""
    title = next((line for line in card.splitlines() if line.startswith("# ")), "")
    names = [n for n in re.findall(r"`([^`]+)`", title) if re.fullmatch(r"[a-z0-9_-]+", n)]
    return names or [stem]


def insert_previews(card: str, names: list[str]) -> str:
    """The card with a preview grid per data set (``NAME-preview.png``) after its title."""
    if not names:
        return card
    figures = [
        f'<figure class="xk-preview" markdown>\n![Examples of {name}]({name}-preview.png)\n'
        f"<figcaption markdown>`{name}`: examples per class (`xaikit data`), ground-truth masks "
        f"outlined where the set has them</figcaption>\n</figure>\n"
        for name in names
    ]
    lines = card.splitlines()
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
    return "\n".join(lines[:at] + [""] + figures + lines[at:]) + "\n"


def preview_command(name: str) -> list[str]:
    """The ``xaikit data`` arguments for a small preview of the data set a card describes."""
    few = ["--n-per-class", str(PREVIEW_PER_CLASS), "--preview-per-class", str(PREVIEW_PER_CLASS)]
    generators = {
        "an8flower": ["an8flower", *few],
        "an8flower-single-6c": ["an8flower", "--variant", "single-6c", *few],
        "an8flower-double-12c": ["an8flower", "--variant", "double-12c", *few],
        "shapes": ["shapes", *few],
        "shapes-two-objects": ["shapes", "--two-objects", *few],
    }
    return [*generators.get(name, [name]), "--no-npz"]


def dataset_preview(name: str, cache: Path) -> Path | None:
    """A preview grid PNG for one data set, made once by ``xaikit data ... --out DIR``.

    Cached under ``cache/NAME``; returns None (and says why) when the command fails, e.g. for a
    card that names no data set the command knows.
    """
    folder = cache / name
    failed = folder / "no-preview.txt"
    if failed.is_file():
        print(f"site_prepare: note: no preview for {name} (why: {failed})", file=sys.stderr)
        return None
    existing = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if not existing:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "xaikit", "data", *preview_command(name), "--out", str(folder)]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=600)
            reason = (run.stderr.strip().splitlines() or ["no PNG written"])[-1]
        except subprocess.TimeoutExpired:
            run, reason = None, "`xaikit data` took longer than 10 minutes"
        existing = sorted(folder.glob("*.png")) if run is not None and run.returncode == 0 else []
        if not existing:
            failed.write_text(reason + "\n", encoding="utf-8")
            short = reason if len(reason) <= 160 else reason[:157] + "..."
            print(f"site_prepare: note: no preview for {name}: {short}", file=sys.stderr)
            return None
    return existing[0]


# ------------------------------------------------------------------------------------ everything
INSTRUCTORS_PLACEHOLDER = """# Instructors' guide

*This page is a placeholder written by `scripts/site_prepare.py`: `docs/instructors.md` did not
exist when the site was built.*

The guide covers handing out lessons, grading submissions with `xaikit grade` against the hidden
checks, and exporting the results as CSV or for Gradescope; see `xaikit grade --help`.
"""


def site_repository(config: Path) -> site_lessons.Repository:
    """The repository the lesson pages point learners to: ``extra.xaikit`` of mkdocs.yml
    (``repo_url`` may be ``!ENV [XAIKIT_REPO_URL, ""]``; empty hides clone and Colab links)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def env(loader, node):
        names = loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) \
            else [loader.construct_scalar(node)]
        for name in names[:-1] if len(names) > 1 else names:
            if os.environ.get(str(name)):
                return os.environ[str(name)]
        return names[-1] if len(names) > 1 else None

    Loader.add_constructor("!ENV", env)
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    if not config.is_file():
        return site_lessons.Repository()
    data = yaml.load(config.read_text(encoding="utf-8"), Loader=Loader) or {}  # noqa: S506
    settings = (data.get("extra") or {}).get("xaikit") or {}
    return site_lessons.Repository(
        url=str(settings.get("repo_url") or "").rstrip("/"),
        branch=str(settings.get("branch") or "main"),
        notebooks_branch=str(settings.get("notebooks_branch") or "gh-pages"),
    )


def prepare(out: Path, docs: Path, *, repo: Path = REPO, previews: bool = True,
            cache: Path | None = None, self_study: bool = False) -> dict:
    """Stage the whole site into ``docs``; returns what was staged (for messages and tests).

    ``self_study``: also each exercise's reference solution and the model answers of the open
    questions, in collapsible boxes (``make site SELF_STUDY=1``); the default course build
    shows the hints only.
    """
    lessons = find_lessons(out)
    if docs.exists():
        shutil.rmtree(docs)
    shutil.copytree(repo / "docs", docs)
    stage_lessons(lessons, docs, repo, self_study=self_study,
                  repository=site_repository(repo / "mkdocs.yml"))
    (docs / "bibliography.md").write_text(site_lessons.bibliography_page(
        [(lesson.stem, lesson.title, lesson.markdown) for lesson in lessons]), encoding="utf-8")
    (docs / "reproductions.md").write_text(reproductions_page(lessons, run_summary(out)),
                                           encoding="utf-8")
    datasets = stage_datasets(docs, repo / "datasets", cache or repo / "build" / "site-previews",
                              previews)
    api = stage_api(docs, repo / PACKAGE)
    placeholder = not (docs / "instructors.md").is_file()
    if placeholder:
        (docs / "instructors.md").write_text(INSTRUCTORS_PLACEHOLDER, encoding="utf-8")
    stage_home(docs, repo / "README.md")  # last: its links may point at any staged page
    return {
        "lessons": [lesson.stem for lesson in lessons],
        "results": sum(len(lesson.record.get("results", [])) for lesson in lessons),
        "datasets": datasets,
        "api": api,
        "instructors_placeholder": placeholder,
        "self_study": self_study,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("XAIKIT_OUT_DIR", "xaikit-out")),
                        help="the output folder of `xaikit reproduce` (default: xaikit-out)")
    parser.add_argument("--docs", type=Path, default=Path("build/site-docs"),
                        help="where to stage the pages (emptied first; default: build/site-docs)")
    parser.add_argument("--no-previews", action="store_true",
                        help="do not make dataset preview grids with `xaikit data`")
    parser.add_argument("--self-study", action="store_true",
                        help="the self-study build: reference solutions and model answers too")
    args = parser.parse_args(argv)
    try:
        staged = prepare(args.out.resolve(), args.docs.resolve(), previews=not args.no_previews,
                         self_study=args.self_study)
    except SiteError as error:
        print(f"site_prepare: error: {error}", file=sys.stderr)
        return 1
    print(f"site_prepare: staged {len(staged['lessons'])} lessons, {staged['results']} results, "
          f"{len(staged['datasets'])} dataset cards, {len(staged['api'])} API pages into {args.docs}")
    if staged["instructors_placeholder"]:
        print("site_prepare: note: docs/instructors.md does not exist; the site has a placeholder",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
