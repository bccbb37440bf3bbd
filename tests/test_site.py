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
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
STEM = "01_synthetic"
FIGURE_ALT = "synthetic-figure"
CAPTION = "Fig. 2 of Simonyan et al. (2014), here"
FIGURE_DPI = 110
# figure()'s record of the smallest text (px of the PNG): matplotlib's 10 pt tick labels at 110 dpi
FIGURE_TEXT_PX = 10 / 72 * FIGURE_DPI
# Library noise the site filters out of executed lessons (and one kit warning it keeps).
KERAS_RETRACING = ("WARNING:tensorflow:5 out of the last 5 calls to <function TensorFlowTrainer."
                   "make_predict_function.<locals>.one_step_on_data_distributed at 0x7f> "
                   "triggered tf.function retracing.\n")
KIT_RETRACING = ("WARNING:tensorflow:5 out of the last 6 calls to <function _lrp_graph.<locals>.run "
                 "at 0x7f> triggered tf.function retracing.\n")
NOISE = (KERAS_RETRACING +
         "/tmp/ipykernel_1/123.py:6: UserWarning: explaining post-softmax probabilities\n"
         "  prob = gradient(model, on='probabilities')\n"
         "/root/.venv/lib/numpy/core.py:3: RuntimeWarning: Mean of empty slice\n"
         "  return x.mean()\n"
         "saved to /tmp/tmpab12/model.keras\n")


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

    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=FIGURE_DPI)
    ax.imshow([[0.0, 1.0], [1.0, 0.0]], cmap="viridis")
    ax.set_title("saliency", color=colour)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
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
        nbformat.v4.new_code_cell(f"fig = plot()\nfigure(fig, 'fig1_saliency', caption={CAPTION!r})"),
        nbformat.v4.new_markdown_cell("## Exercise 1: linear attribution\n\nImplement it."),
        nbformat.v4.new_code_cell(
            "def linear_attribution(weights, inputs, baseline=0.0):\n    raise NotImplementedError"
            "\n\ncheck('01.linear_attribution', linear_attribution)"
        ),
        nbformat.v4.new_markdown_cell(
            "## Further exercises\n\n1. Why is a linear model easy to explain?\n2. And a CNN?\n\n"
            "## References\n\n* K. Simonyan, A. Vedaldi, A. Zisserman. Deep Inside "
            "Convolutional Networks.\n  ICLR 2014, arXiv:1312.6034.\n"),
    ]
    nb.cells[1].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(png).decode(), "text/plain": FIGURE_ALT}
    )]
    nb.cells[3].outputs = [
        nbformat.v4.new_output("stream", name="stdout",
                               text="01.linear_attribution: not implemented yet (public checks)\n"),
        nbformat.v4.new_output("stream", name="stdout", text=NOISE),
    ]
    if error:
        nb.cells[3].outputs.append(nbformat.v4.new_output(
            "error", ename="ValueError", evalue="boom", traceback=["ValueError: boom"]
        ))
    if executed:
        nb.cells[1].execution_count = 1
        nb.cells[3].execution_count = 2
    nbformat.write(nb, out / f"{stem}.ipynb")
    record = {
        "figures": [{"name": "fig1_saliency", "file": "fig1_saliency.png", "caption": CAPTION,
                     "text_px": round(FIGURE_TEXT_PX, 2)}],
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


def build_site(out: Path, tmp: Path, *, previews: bool = False, self_study: bool = False) -> Path:
    """Stage and build the site strictly into ``tmp/site``; return that folder."""
    docs, site = tmp / "site-docs", tmp / "site"
    site_prepare.prepare(out, docs, previews=previews, cache=tmp / "previews", self_study=self_study)
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
    assert "not implemented yet (public checks)" in page  # the check's printed feedback
    assert "celltag_xaikit-exercise" in page  # exercise cells are marked as tasks
    assert "cdnjs" not in page and "Load mathjax" not in page  # nbconvert's CDN loaders removed
    # The figure is the saved PNG (one copy), numbered, with figure()'s caption as caption and alt.
    assert "data:image/png;base64," not in page
    images = [tag for tag in re.findall(r"<img\b[^>]*>", page) if 'src="fig1_saliency.png"' in tag]
    assert len(images) == 1 and f'alt="{CAPTION}"' in images[0]
    assert f'data-text-px="{round(FIGURE_TEXT_PX, 2):g}"' in images[0]
    assert f"<figcaption><strong>Figure 1.</strong> {CAPTION}</figcaption>" in page
    assert (built / "lessons" / STEM / "fig1_saliency.png").is_file()
    assert not (built / "lessons" / STEM / f"{STEM}.ipynb").exists()  # no executed copy shipped
    assert (built / "downloads" / f"{STEM}.ipynb").is_file()  # the download link's target
    assert f'href="../../downloads/{STEM}.ipynb"' in page
    assert "Run this lesson" in page
    index = (built / "lessons" / "index.html").read_text(encoding="utf-8")
    assert "A tiny lesson used to test the site." in index
    assert f'href="../downloads/{STEM}.ipynb"' in index


def test_instructor_build_has_hints_but_no_solutions_or_answers(built):
    page = (built / "lessons" / STEM / "index.html").read_text(encoding="utf-8")
    assert 'class="xk-hint"' in page and "Hint for <code>01.linear_attribution</code>" in page
    assert "xk-solution" not in page and "xk-answer" not in page


def test_library_noise_and_machine_paths_are_filtered(built):
    page = (built / "lessons" / STEM / "index.html").read_text(encoding="utf-8")
    assert "retracing" not in page and "RuntimeWarning" not in page and "/tmp/" not in page
    assert "UserWarning: explaining post-softmax probabilities" in page  # the kit's advice stays
    assert "saved to model.keras" in page


def test_weight_math_as_mathml_and_notebook_css_once(built):
    lesson = (built / "lessons" / STEM / "index.html").read_text(encoding="utf-8")
    # the lesson's inline formula and its display formula, typeset at build time: no TeX, no script
    assert lesson.count('<math display="inline">') == 1 and lesson.count('<math display="block">') == 1
    assert "\\sum_i" not in lesson and "$$" not in lesson and "<mo>&#x0222B;</mo>" in lesson
    assert not list(built.rglob("*mathjax*")) and "mathjax" not in lesson.lower()
    css = re.findall(r'href="../../assets/stylesheets/((?:notebook|jupyterlab)-\w+\.css)"', lesson)
    assert css and all((built / "assets" / "stylesheets" / name).is_file() for name in css)
    # JupyterLab's stylesheet, pruned to what the pages can match (the browser test checks the
    # pages look the same as with all of it)
    lab = [name for name in css if name.startswith("jupyterlab-")]
    assert len(lab) == 1 and (built / "assets" / "stylesheets" / lab[0]).stat().st_size < 100_000
    assert ".jp-OutputArea-output" in (built / "assets" / "stylesheets" / lab[0]).read_text("utf-8")
    assert max(len(block) for block in re.findall(r"<style[^>]*>(.*?)</style>", lesson, re.DOTALL)) \
        < 2000


def test_references_are_linked_and_collected(built):
    page = (built / "lessons" / STEM / "index.html").read_text(encoding="utf-8")
    assert 'href="https://arxiv.org/abs/1312.6034"' in page
    bibliography = (built / "bibliography" / "index.html").read_text(encoding="utf-8")
    assert "Deep Inside Convolutional Networks" in bibliography
    assert 'href="https://arxiv.org/abs/1312.6034"' in bibliography
    for page in ("start-here", "glossary"):
        assert (built / page / "index.html").is_file()


def test_clean_notebook_download_runs_its_first_cell(built, tmp_path):
    nb = nbformat.read(built / "downloads" / f"{STEM}.ipynb", as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert not [cell for cell in nb.cells if "xaikit-help" in cell.metadata.get("tags", [])]
    assert any('hint("01.linear_attribution")' in cell.source for cell in nb.cells
               if cell.cell_type == "markdown")
    first = code[0].source
    assert "xaikit-setup" in code[0].metadata.tags
    script = tmp_path / "first_cell.py"
    script.write_text(first, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "is ready" in run.stdout, run.stderr
    bare = shutil.which("python3", path="/usr/bin:/bin")  # a Python without xaikit, if any
    if bare and subprocess.run([bare, "-c", "import xaikit"], capture_output=True).returncode:
        run = subprocess.run([bare, str(script)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and "xaikit is not installed" in run.stderr
        assert "make venv" in run.stderr


def test_self_study_staging_adds_solutions_and_answers(tmp_path):
    make_executed_lesson(tmp_path / "out")
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "docs", repo / "docs")
    shutil.copytree(REPO / "solutions", repo / "solutions",
                    ignore=shutil.ignore_patterns("answers", "__pycache__"))
    (repo / "solutions" / "answers").mkdir()
    (repo / "solutions" / "answers" / f"{STEM}.md").write_text(
        "# Model answers\n\n## 1\n\nIts gradient is its weight.\n\n## 7\n\nNo such question.\n",
        encoding="utf-8")
    (repo / "lessons").mkdir()
    (repo / "xaikit").mkdir()
    staged = {}
    for self_study in (False, True):
        docs = tmp_path / f"docs-{self_study}"
        site_prepare.prepare(tmp_path / "out", docs, repo=repo, previews=False,
                             self_study=self_study)
        nb = nbformat.read(docs / "lessons" / f"{STEM}.ipynb", as_version=4)
        staged[self_study] = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "xk-hint" in staged[False] and "xk-solution" not in staged[False]
    assert "xk-answer" not in staged[False]
    assert "xk-solution" in staged[True] and "return" in staged[True]
    assert "Model answer to question 1" in staged[True] and "question 2" not in staged[True]
    assert "question 7" not in staged[True]


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


def test_site_is_offline(built):
    hooks = _hooks()
    assert hooks.remote_resources(built) == []
    index = (built / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis" not in index and "<script" in index


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


def _script(name: str):
    """A module of scripts/, loaded as MkDocs loads its hooks (scripts/ on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "scripts"))
    return module


def _hooks():
    return _script("mkdocs_hooks")


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


def _site_lessons():
    return sys.modules["site_lessons"]


def test_colab_and_binder_links_only_with_a_repository_url():
    lessons = _site_lessons()
    bare = lessons.run_box("05_grad_cam", lessons.Repository(), "../../downloads/05_grad_cam.ipynb")
    assert "Download the notebook" in bare and "colab" not in bare and "mybinder" not in bare
    expected = {
        "xk-colab": "https://colab.research.google.com/github/someone/xaikit/blob/gh-pages/"
                    "downloads/05_grad_cam.ipynb",
        "xk-binder": "https://mybinder.org/v2/gh/someone/xaikit/gh-pages"
                     "?labpath=downloads%2F05_grad_cam.ipynb",
    }
    for url in ("https://github.com/someone/xaikit", "https://github.com/someone/xaikit.git",
                "https://github.com/someone/xaikit/"):
        box = lessons.run_box("05_grad_cam", lessons.Repository(url=url),
                              "../../downloads/05_grad_cam.ipynb")
        assert dict(re.findall(r'<a class="(xk-\w+)" href="([^"]+)"', box)) == expected, url
    repo = lessons.Repository(url="https://github.com/someone/xaikit")
    box = lessons.run_box("05_grad_cam", repo, "../../downloads/05_grad_cam.ipynb")
    assert "git clone https://github.com/someone/xaikit" in box
    assert "git+https://github.com/someone/xaikit@main" in lessons.setup_source(repo)
    other = lessons.Repository(url="https://gitlab.example.org/course/xaikit")
    assert "colab" not in lessons.run_box("05_x", other, "x.ipynb")  # Colab opens GitHub only


def test_first_cell_pip_installs_the_kit_from_the_repository_on_colab(monkeypatch):
    """Colab itself cannot be reached here: the first cell runs with ``google.colab`` imported
    and xaikit not found, and must call pip once with the repository's git URL."""
    import importlib.util
    import types

    lessons = _site_lessons()
    source = lessons.setup_source(lessons.Repository(url="https://github.com/someone/xaikit"))
    calls: list[list[str]] = []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: (
        real_find_spec(name, *a) if name != "xaikit" or calls else None))
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: calls.append(command))
    exec(compile(source, "first_cell", "exec"), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "-q",
                      "git+https://github.com/someone/xaikit@main"]]
    calls.clear()  # no repository URL set: nothing to install from, the cell says how instead
    with pytest.raises(ModuleNotFoundError, match="make venv"):
        exec(compile(lessons.setup_source(lessons.Repository()), "first_cell", "exec"), {})
    assert calls == []


def test_repository_url_is_read_from_mkdocs_yml(tmp_path, monkeypatch):
    config = tmp_path / "mkdocs.yml"
    config.write_text('extra:\n  xaikit:\n    repo_url: !ENV [XAIKIT_REPO_URL, ""]\n'
                      "    branch: dev\nhooks: [!relative x.py]\n", encoding="utf-8")
    monkeypatch.delenv("XAIKIT_REPO_URL", raising=False)
    assert site_prepare.site_repository(config).url == ""
    monkeypatch.setenv("XAIKIT_REPO_URL", "https://github.com/a/b/")
    repository = site_prepare.site_repository(config)
    assert (repository.url, repository.branch, repository.github) == \
        ("https://github.com/a/b", "dev", "a/b")


def test_clean_text_keeps_kit_advice_and_drops_library_noise():
    clean = _site_lessons().clean_text
    assert clean(NOISE) == "UserWarning: explaining post-softmax probabilities\nsaved to model.keras\n"
    # a retracing of a kit function is a bug to fix, not noise: it stays visible
    assert clean(KIT_RETRACING) == KIT_RETRACING
    assert clean("I0000 00:00:00.1 123 cuda.cc:1] no GPU\nresult 0.5\n") == "result 0.5\n"
    assert clean(f"see {REPO}/lessons/x.py\n", REPO) == "see lessons/x.py\n"
    assert clean("ratio 3/4 and a/b\n") == "ratio 3/4 and a/b\n"


def test_math_is_typeset_as_mathml_outside_code_and_attributes():
    weight = _script("site_weight")
    page = ('<article><p>completeness $\\sum_i \\phi_i = 1$, costs $5 and $6, '
            '<img alt="$x$ in alt"><code>$y$</code></p><pre>$z$ \\(w\\)</pre>'
            '<p>$$a &lt; b$$</p><span class="arithmatex">\\(c_i\\)</span>'
            '<div class="arithmatex">\\[d\\]</div>'
            '<div class="clipboard-copy-txt" id="cell-1">ax.set(xlabel="$x_1$")</div></article>')
    out = weight.typeset(page, notebook=True)
    assert out.count('<math display="inline">') == 2 and out.count('<math display="block">') == 2
    assert "<mo>&#x0003C;</mo>" in out  # the HTML entity became the TeX it stood for
    assert "costs $5 and $6" in out and 'alt="$x$ in alt"' in out
    assert "<code>$y$</code>" in out and "<pre>$z$ \\(w\\)</pre>" in out
    assert 'xlabel="$x_1$"' in out  # the code cell's plain copy, for the copy button
    # a Markdown page: arithmatex's spans only ($ is text there)
    assert "$5" in weight.typeset("<article><p>$5 and $x$</p></article>", notebook=False)


def test_css_is_pruned_to_the_selectors_the_pages_can_match():
    prune = _script("site_weight").prune_css
    css = (":root{--a:1}.jupyter-wrapper :root{--dead:1}.x{color:red}.x:not(.gone) p{margin:0}"
           ".x .gone{color:blue}.x,.gone{padding:0}span{top:0}html body .x{left:0}.w body{x:0}"
           "@media (max-width:10px){.x{a:1}.gone{a:2}}@media print{.gone{a:3}}"
           "[data-md-color-scheme=slate] .x{color:white}"
           ".x{animation:spin 1s}@keyframes spin{to{top:1px}}@keyframes unused{to{top:0}}"
           "@font-face{font-family:'Used';src:local(a)}@font-face{font-family:Other;src:local(b)}"
           ".x{font-family:Used}")
    out = prune(css, ['<html><body><div class="x y"><p>text</p></div></body></html>'])
    # a class a script adds at run time keeps its rules
    assert ".gone{color:blue}" in prune(".gone{color:blue}", ["<p>"], ['e.classList.add("gone")'])
    for kept in (":root{--a:1}", ".x{color:red}", ".x:not(.gone) p{margin:0}", ".x{padding:0}",
                 "html body .x{left:0}", "@media (max-width:10px){.x{a:1}}",
                 "[data-md-color-scheme=slate] .x{color:white}", "@keyframes spin",
                 '@font-face{font-family:"Used"'):
        assert kept in out, kept
    for dropped in ("--dead", ".gone{", ".x .gone", "span{", ".w body", "@media print", "unused",
                    "Other"):
        assert dropped not in out, dropped


def test_search_index_keeps_api_names_signatures_and_summaries():
    slim = _script("site_weight").slim_search_index
    api_text = ('<pre><code>saliency(\n    model: Model,\n    images: Any,\n) -&gt; np.ndarray\n'
                '</code></pre> <p>Simonyan et al. (2014), Eq. 2.</p> <p>Parameters:</p> Name Type')
    lesson_text = ('<p>Prose with $x$.</p> In [1]: Copied! <pre>a = saliency(\n    model)\n</pre> '
                   'a = saliency(     model) <pre>printed output\n</pre> <p>More prose.</p>'
                   '<pre><code>make venv</code></pre>')
    index = {"config": {"lang": ["en"]}, "docs": [
        {"location": "api/attribution/#xaikit.attribution.saliency", "title": "saliency",
         "text": api_text},
        {"location": "lessons/02_saliency/", "title": "Saliency", "text": lesson_text},
        {"location": "glossary/", "title": "Glossary", "text": "<p>all of it</p>"}]}
    docs = slim(index)["docs"]
    assert slim(index)["config"] == index["config"] and len(docs) == 3
    assert docs[0] == {**index["docs"][0], "text": "<code>saliency( model: Model, images: Any, ) "
                       "-&gt; np.ndarray</code> <p>Simonyan et al. (2014), Eq. 2.</p>"}
    assert docs[1]["text"] == ("<p>Prose with $x$.</p> <pre>a = saliency(\n    model)\n</pre> "
                               "<p>More prose.</p><pre><code>make venv</code></pre>")
    assert docs[2] == index["docs"][2]


def test_built_search_index_finds_api_functions_and_loads_on_demand(built):
    index = json.loads((built / "search" / "search_index.json").read_text(encoding="utf-8"))
    entry = {e["title"]: e for e in index["docs"]}["integrated_gradients"]
    assert entry["location"] == "api/attribution/#xaikit.attribution.gradients.integrated_gradients"
    assert entry["text"].startswith("<code>integrated_gradients(") and "Parameters" not in entry["text"]
    page = (built / "index.html").read_text(encoding="utf-8")  # before Material's bundle
    assert page.index("search-on-demand.js") < page.index("javascripts/bundle.")


def test_math_that_cannot_be_mathml_names_the_formula():
    weight = _script("site_weight")
    with pytest.raises(weight.MathError, match=r"\\unknownmacro"):
        weight.typeset("<article><p>see $\\unknownmacro x$</p></article>", notebook=True)
    with pytest.raises(weight.MathError, match="TeX left as text"):  # an unclosed display formula
        weight.typeset("<article><p>$$x = 1</p></article>", notebook=True)
    # the rewrites latex2mathml needs (macros it would leave as TeX)
    assert "\\" not in weight.mathml(r"\arg\max_x \Big\langle f \Big\rangle \text{a\_b}")


def test_every_formula_of_the_lessons_and_docs_converts():
    """The build converts the pages it has; this covers every lesson, executed or not."""
    import jupytext

    weight = _script("site_weight")
    sources = [(path, cell.source) for path in sorted((REPO / "lessons").glob("[0-9]*.py"))
               for cell in jupytext.read(path).cells if cell.cell_type == "markdown"]
    sources += [(path, path.read_text(encoding="utf-8")) for path in sorted((REPO / "docs").rglob("*.md"))]
    formulas, failures = 0, []
    for path, text in sources:
        text = re.sub(r"```.*?```|`[^`]*`", "", text, flags=re.DOTALL)
        found = [(m.group(1) or m.group(2), True) for m in weight.DISPLAY_MATH.finditer(text)]
        found += [(m.group(1) or m.group(2), False)
                  for m in weight.INLINE_MATH.finditer(weight.DISPLAY_MATH.sub("", text))]
        for tex, display in found:
            try:
                weight.mathml(tex, display=display)
            except weight.MathError as error:
                failures.append(f"{path.relative_to(REPO)}: {error}")
        formulas += len(found)
    assert failures == [], "\n".join(failures)
    assert formulas > 300



def test_figures_pair_by_order_and_shape(tmp_path):
    lessons = _site_lessons()
    wide = _png()
    (tmp_path / "a.png").write_bytes(wide)
    nb = nbformat.v4.new_notebook()
    shown = base64.b64encode(wide).decode()
    nb.cells = [nbformat.v4.new_code_cell("plt.show()"), nbformat.v4.new_code_cell("figure(f, 'a')")]
    for cell in nb.cells:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": shown})]
    placed = lessons.place_figures(nb, [{"name": "a", "file": "a.png", "caption": "A <b>"}],
                                   tmp_path, tmp_path / "site")
    assert [(f.number, f.file) for f in placed] == [(1, "a.png")]
    assert "image/png" in nb.cells[0].outputs[0].data  # not shown through figure(): untouched
    html = nb.cells[1].outputs[0].data["text/html"]
    assert 'alt="A &lt;b&gt;"' in html and "<strong>Figure 1.</strong> A &lt;b&gt;" in html
    square = nbformat.v4.new_notebook()  # an image of another shape is not taken for the figure
    square.cells = [nbformat.v4.new_code_cell("figure(g, 'a')")]
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(2, 6), dpi=20)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    square.cells[0].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(buffer.getvalue()).decode()})]
    assert lessons.figure_outputs(square, [{"file": "a.png"}], tmp_path) == []


def test_bibliography_merges_references_by_arxiv_id():
    page = _site_lessons().bibliography_page([
        ("01_a", "A", "## References\n\n* X. Y. Paper one. ICLR 2014, arXiv:1312.6034.\n"),
        ("02_b", "B", "## References\n\n* X. Y. Paper one,\n  arXiv:1312.6034v2.\n\nSee arXiv:1610.02391."),
    ])
    assert page.count("Paper one") == 1 and "[01](lessons/01_a.ipynb), [02](lessons/02_b.ipynb)" in page
    assert "Also cited in the text" in page and "1610.02391" in page


def test_api_pages_have_no_raw_roles_and_no_required_parameter_with_a_default(built):
    """The signatures come from griffe's static view of the package (no TensorFlow import)."""
    import griffe

    package = griffe.load("xaikit", search_paths=[str(REPO)])
    wrong = []
    for page in sorted((built / "api").glob("*/index.html")) + [built / "api" / "index.html"]:
        text = page.read_text(encoding="utf-8")
        wrong += [f"{page.parent.name}: raw role {m}" for m in
                  re.findall(r":(?:func|mod|class|meth|attr|data):<code>", text)]
        parts = re.split(r'<h[23] id="(xaikit\.[\w.]+)"', text)
        for name, body in zip(parts[1::2], parts[2::2]):
            rows = [row for row in re.split(r"<tr\b", body.split("<h2", 1)[0])[1:]
                    if "<em>required</em>" in row]
            if not rows:
                continue
            try:
                function = package[name.removeprefix("xaikit.")]
                defaults = {p.name for p in function.parameters if p.default is not None}
            except (KeyError, AttributeError, griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
            for row in rows:
                param = re.search(r"<code>(\w+)</code>", row)
                if param and param.group(1) in defaults:
                    wrong.append(f"{name}({param.group(1)}) has a default but is shown as required")
    assert wrong == [], "\n".join(wrong)


def test_grouped_numpy_parameters_are_split_for_the_api_pages():
    spec = importlib.util.spec_from_file_location("griffe_rest_math",
                                                  REPO / "scripts" / "griffe_rest_math.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = ("Sum.\n\nParameters\n----------\na, b : int, optional\n    Two.\nc\n    One.\n\n"
            "Returns\n-------\nx, y\n    Pair.\n")
    assert module.rest_to_markdown(text) == (
        "Sum.\n\nParameters\n----------\na : int, optional\n    Two.\nb : int, optional\n    Two.\n"
        "c\n    One.\n\nReturns\n-------\nx, y\n    Pair.")


def test_every_model_answer_lands_under_its_question():
    """Each ``## N`` of solutions/answers/NN_topic.md is a numbered open question of the lesson."""
    import jupytext

    lessons = _site_lessons()
    for path in sorted((REPO / "solutions" / "answers").glob("[0-9][0-9]_*.md")):
        answers = lessons.read_answers(path)
        nb = jupytext.read(REPO / "lessons" / f"{path.stem}.py")
        assert answers and lessons.add_model_answers(nb, answers) == sorted(answers), path.name
