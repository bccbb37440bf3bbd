"""The course site: staging (scripts/site_prepare.py) and a strict MkDocs build.

The build runs on a tiny synthetic "executed" lesson written here (a notebook with a PNG figure,
math, an exercise stub and its check output, and a results.json as ``xaikit.report`` writes it),
so it needs neither TensorFlow nor ``xaikit reproduce``.  The API pages are generated from the
real package, so a docstring that breaks ``mkdocs build --strict`` fails this test.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
STEM = "01_synthetic"
FIGURE_ALT = "synthetic-figure"


def _load_prepare():
    spec = importlib.util.spec_from_file_location("site_prepare", REPO / "scripts" / "site_prepare.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["site_prepare"] = module
    spec.loader.exec_module(module)
    return module


site_prepare = _load_prepare()


def _png(colour: str = "tab:blue") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.imshow([[0.0, 1.0], [1.0, 0.0]], cmap="viridis")
    ax.set_title("saliency", color=colour)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def make_executed_lesson(out: Path, stem: str = STEM, *, error: bool = False,
                         executed: bool = True) -> Path:
    """Write ``<out>/<stem>.ipynb`` and ``<out>/<stem>/`` (figures, results.json) as
    ``xaikit reproduce`` leaves them; return the lesson's folder."""
    folder = out / stem
    folder.mkdir(parents=True, exist_ok=True)
    png = _png()
    (folder / "fig1_saliency.png").write_bytes(png)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Synthetic lesson\n\nA tiny lesson used to test the site. Integrated gradients "
            "satisfy completeness, $\\sum_i \\phi_i = F(x) - F(x')$, and\n\n"
            "$$\\phi_i = (x_i - x'_i) \\int_0^1 \\frac{\\partial F}{\\partial x_i}\\, d\\alpha .$$"
        ),
        nbformat.v4.new_code_cell("fig = plot()\nfigure(fig, 'fig1_saliency', caption='Fig. 2 of "
                                  "Simonyan et al. (2014), here')"),
        nbformat.v4.new_markdown_cell("## Exercise 1: saliency map\n\nImplement the map."),
        nbformat.v4.new_code_cell(
            "def saliency_map(model, image, target):\n    raise NotImplementedError\n\n"
            "check('01.saliency_map', saliency_map)"
        ),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(png).decode(), "text/plain": FIGURE_ALT}
    )]
    nb.cells[3].outputs = [nbformat.v4.new_output(
        "stream", name="stdout", text="01.saliency_map: not implemented yet (public checks)\n"
    )]
    if error:
        nb.cells[3].outputs.append(nbformat.v4.new_output(
            "error", ename="ValueError", evalue="boom", traceback=["ValueError: boom"]
        ))
    if executed:
        nb.cells[1].execution_count = 1
        nb.cells[3].execution_count = 2
    nbformat.write(nb, out / f"{stem}.ipynb")
    record = {
        "figures": [{"name": "fig1_saliency", "file": "fig1_saliency.png",
                     "caption": "Fig. 2 of Simonyan et al. (2014), here"}],
        "tables": [],
        "results": [
            {"name": "ig_completeness_gap", "value": 0.0031, "paper": "< 1 %", "status": "passed",
             "note": "Eq. 1", "tier": 1, "check": "exact", "tolerance": "= 0.0 (atol 0.01, rtol 0)",
             "detail": "max |error| 0.0031"},
            {"name": "fig2_top_class_agreement", "value": 0.5, "paper": 0.9, "status": "failed",
             "note": "", "tier": 2, "check": "recorded", "tolerance": "recorded value (rtol 0.05)",
             "detail": "recorded 0.9"},
        ],
    }
    (folder / "results.json").write_text(json.dumps(record), encoding="utf-8")
    (out / "summary.md").write_text(
        "# xaikit reproduction summary\n\n1/1 lessons passed, fast mode (XAIKIT_FAST=1), 3 s in all.\n",
        encoding="utf-8")
    return folder


def build_site(out: Path, tmp: Path, *, previews: bool = False) -> Path:
    """Stage and build the site strictly into ``tmp/site``; return that folder."""
    docs, site = tmp / "site-docs", tmp / "site"
    site_prepare.prepare(out, docs, previews=previews, cache=tmp / "previews")
    env = {**os.environ, "XAIKIT_SITE_DOCS": str(docs), "XAIKIT_SITE_DIR": str(site),
           "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml")],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return site


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("site")
    make_executed_lesson(tmp / "out")
    return build_site(tmp / "out", tmp)


def test_lesson_page_shows_the_executed_notebook(built):
    page = (built / "lessons" / STEM / "index.html").read_text(encoding="utf-8")
    assert "Synthetic lesson" in page
    assert "data:image/png;base64," in page  # the figure output of the executed cell
    assert "not implemented yet (public checks)" in page  # the check's printed feedback
    assert "celltag_xaikit-exercise" in page  # exercise cells are marked as tasks
    assert "cdnjs" not in page and "Load mathjax" not in page  # nbconvert's CDN loaders removed
    assert (built / "lessons" / STEM / "fig1_saliency.png").is_file()
    assert (built / "lessons" / STEM / f"{STEM}.ipynb").is_file()  # the download link's target
    index = (built / "lessons" / "index.html").read_text(encoding="utf-8")
    assert "A tiny lesson used to test the site." in index


def test_reproductions_table_lists_each_result(built):
    page = (built / "reproductions" / "index.html").read_text(encoding="utf-8")
    at = page.index("ig_completeness_gap")
    row = page[page.rindex("<tr>", 0, at): page.index("</tr>", at)]
    assert "&lt; 1 %" in row and "0.0031" in row and "xk-status--passed" in row
    assert "atol 0.01" in row
    assert "Simonyan et al. (2014)" in row
    at = page.index("fig2_top_class_agreement")
    assert "<td>Fig. 2</td>" in page[page.rindex("<tr>", 0, at): at]
    assert "xk-status--failed" in page
    assert "1/1 lessons passed, fast mode" in page


def test_site_is_offline_and_has_mathjax(built):
    hooks = _hooks()
    assert hooks.remote_resources(built) == []
    mathjax = built / "assets" / "javascripts" / "mathjax" / "tex-svg-full.js"
    assert mathjax.stat().st_size > 1_000_000
    index = (built / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis" not in index and "tex-svg-full.js" in index


def test_every_section_is_in_the_nav(built):
    index = (built / "index.html").read_text(encoding="utf-8")
    for title in ("Lessons", "Reproductions", "Datasets", "API reference", "Instructors",
                  "Contributing"):
        assert title in index, title
    api_pages = {p.name for p in (built / "api").iterdir() if p.is_dir()}
    assert set(site_prepare.api_modules(REPO / "xaikit")) <= api_pages


def test_solutions_are_never_published(built):
    """No line of a reference solution's code appears anywhere on the site."""
    solution_lines = set()
    for path in (REPO / "solutions").glob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if len(text) > 25 and not text.startswith(("#", "def ", "import ", "from ", '"', "'")):
                solution_lines.add(text)
    pages = "\n".join(p.read_text(encoding="utf-8") for p in built.rglob("*.html"))
    leaked = sorted(line for line in solution_lines if line in pages)
    assert leaked == []
    assert not [p for p in built.rglob("*") if "solution" in p.name.lower()]


def test_remote_resources_are_found(tmp_path):
    (tmp_path / "a.html").write_text(
        '<a href="https://example.org">ok</a><script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="//fonts.example/css">'
        '<link rel="canonical" href="https://example.org/xaikit/">', encoding="utf-8")
    (tmp_path / "b.css").write_text("@import url(https://fonts.example/f.css);", encoding="utf-8")
    found = _hooks().remote_resources(tmp_path)
    assert found == ["a.html: https://cdn.example/x.js", "a.html: //fonts.example/css",
                     "b.css: https://fonts.example/f.css"]


def test_failed_or_unexecuted_lessons_stop_the_build(tmp_path):
    make_executed_lesson(tmp_path / "failed", error=True)
    with pytest.raises(site_prepare.SiteError, match="failed with ValueError: boom"):
        site_prepare.prepare(tmp_path / "failed", tmp_path / "docs1", previews=False)
    make_executed_lesson(tmp_path / "raw", executed=False)
    with pytest.raises(site_prepare.SiteError, match="never executed"):
        site_prepare.prepare(tmp_path / "raw", tmp_path / "docs2", previews=False)
    with pytest.raises(site_prepare.SiteError, match="make reproduce"):
        site_prepare.prepare(tmp_path / "missing", tmp_path / "docs3", previews=False)


def test_exercise_cells_are_tagged_and_others_are_not():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Exercises\n\nDo this."),
        nbformat.v4.new_markdown_cell("## The exercise of judgement"),
        nbformat.v4.new_code_cell("check(\"02.grad_cam\", grad_cam)"),
        nbformat.v4.new_code_cell("maps = xaikit.explain(model, images, method='saliency')"),
    ]
    assert site_prepare.tag_exercises(nb) == 2
    tagged = [site_prepare.EXERCISE_TAG in c.metadata.get("tags", []) for c in nb.cells]
    assert tagged == [True, False, True, False]


def test_build_script_asks_for_reproduce_when_output_is_missing(tmp_path):
    env = {**os.environ, "XAIKIT_OUT_DIR": str(tmp_path / "nothing")}
    run = subprocess.run(["bash", str(REPO / "scripts" / "build_site.sh")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "make reproduce" in run.stderr


def _hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", REPO / "scripts" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dataset_cards_get_preview_grids_from_xaikit_data(tmp_path):
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "clutter.md").write_text("# Shapes on clutter (`shapes`, `no-such-set`)\n\nFive shapes.\n",
                                      encoding="utf-8")
    names = site_prepare.stage_datasets(tmp_path / "docs", cards, tmp_path / "cache", previews=True)
    assert names == ["clutter"]
    preview = tmp_path / "docs" / "datasets" / "shapes-preview.png"
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (tmp_path / "docs" / "datasets" / "clutter.md").read_text(encoding="utf-8")
    assert card.index("# Shapes on clutter") < card.index("(shapes-preview.png)") < card.index("Five")
    assert "no-such-set-preview" not in card  # `xaikit data` does not know it: no preview
    assert "'no-such-set' is not allowed" in (tmp_path / "cache" / "no-such-set" / "no-preview.txt").read_text()
    index = (tmp_path / "docs" / "datasets" / "index.md").read_text(encoding="utf-8")
    assert "- [Shapes on clutter (`shapes`, `no-such-set`)](clutter.md)" in index


def test_nav_follows_the_layout_and_keeps_every_page(tmp_path):
    for page in ("index.md", "lessons/index.md", "lessons/02_b.ipynb", "lessons/01_a.ipynb",
                 "reproductions.md", "api/index.md", "api/data.md", "contributing.md",
                 "gradescope.md", "assets/readme.txt"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / page).write_text("x", encoding="utf-8")
    nav = _hooks().on_config({"nav": None, "docs_dir": str(tmp_path)})["nav"]
    assert nav == [
        {"Home": "index.md"},
        {"Lessons": ["lessons/index.md", "lessons/01_a.ipynb", "lessons/02_b.ipynb"]},
        {"Reproductions": "reproductions.md"},
        {"API reference": ["api/index.md", "api/data.md"]},
        "gradescope.md",
        {"Contributing": "contributing.md"},
    ]




def test_docstring_math_and_roles_become_markdown():
    spec = importlib.util.spec_from_file_location("griffe_rest_math",
                                                  REPO / "scripts" / "griffe_rest_math.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    docstring = ("Grad-CAM, Eq. (1):\n\n.. math::\n    \\alpha = x^*,\n    \\quad \\text{a\\_b}\n\n"
                 "Uses :math:`x^*` and :func:`~xaikit.attribution.cam.grad_cam` like this::\n\n    code")
    assert module.rest_to_markdown(docstring) == (
        "Grad-CAM, Eq. (1):\n\n$$\n\\alpha = x^*,\n\\quad \\text{a\\_b}\n$$\n\n"
        "Uses $x^*$ and `grad_cam` like this:\n\n    code")


def test_papers_are_found_in_captions_and_dated_from_the_lesson():
    captions = ["cf. Fig. 1 of Simonyan et al.), each", "Selvaraju et al., ICCV 2017, Fig. 1",
                "Zeiler & Fergus (ECCV 2014) and CAM (Zhou et al. 2016)", "Table 1. In 2016 we"]
    lesson = site_prepare.Lesson(
        "02_x", Path("02_x.ipynb"), "x", record={"figures": [{"caption": c} for c in captions]},
        markdown="Simonyan, Vedaldi & Zisserman (ICLR 2014) ask ...")
    assert site_prepare.lesson_papers(lesson) == [
        "Simonyan et al. (2014)", "Selvaraju et al. (2017)", "Zeiler & Fergus (2014)",
        "Zhou et al. (2016)"]


def test_links_to_repository_files_are_adapted_to_the_site(tmp_path):
    repo, docs = tmp_path / "repo", tmp_path / "docs"
    for path in (repo / "datasets" / "card.md", docs / "instructors.md",
                 docs / "lessons" / "02_saliency.ipynb", docs / "datasets" / "card.md"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    text = ("[guide](../docs/instructors.md#grading), [lesson 2](../lessons/02_saliency.py), "
            "[code](../xaikit/data/shapes.py), [web](https://example.org), [here](#top)")
    assert site_prepare.relink(text, repo / "datasets" / "card.md", docs / "datasets" / "card.md",
                               repo=repo, docs=docs) == (
        "[guide](../instructors.md#grading), [lesson 2](../lessons/02_saliency.ipynb), "
        "code, [web](https://example.org), [here](#top)")
