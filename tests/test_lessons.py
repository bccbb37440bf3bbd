"""Every lesson executes in fast mode through the lesson runner (one test per lesson).

Per-lesson property checks (does the figure show what the paper shows?) belong to the owners'
own test files; this only says that each lesson runs from top to bottom and records its outputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from xaikit.reproduce import reproduce

LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("[0-9][0-9]_*.py"))


@pytest.fixture(scope="module")
def fast_runs(request, tmp_path_factory):
    """The selected lessons in fast mode, two at a time (a lesson keeps about one core busy), the
    later and heavier lessons started first; one run shared by the tests below."""
    selected = {item.callspec.params["lesson"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")}
    if any(item.name == "test_lesson_01_declares_its_table_figures_and_exercise"
           for item in request.session.items):
        selected.add(LESSONS[0])
    out = tmp_path_factory.mktemp("lessons-out")
    report = reproduce(sorted(selected, reverse=True), out=out, fast=True, progress=False,
                       jobs=2)
    return out, {run.stem: run for run in report.lessons}


@pytest.mark.timeout(2400)
@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_lesson_runs_in_fast_mode(lesson, fast_runs):
    out, runs = fast_runs
    run = runs[lesson.stem]
    assert run.passed, f"{lesson.name} failed:\n{run.error}"
    assert (out / f"{lesson.stem}.ipynb").is_file()
    for figure in run.figures:
        assert (out / lesson.stem / figure["file"]).stat().st_size > 0
    assert f"## {lesson.stem}" in (out / "summary.md").read_text()
    unrecorded = [r["name"] for r in run.results if r.get("status") == "unrecorded"]
    assert not unrecorded, (f"{lesson.name}: tier-2 values without a recorded fast-mode value: "
                            f"{unrecorded}; run `xaikit reproduce --lesson {lesson.stem[:2]} "
                            "--fast --record` and commit lessons/expected/ with the reason")
    elsewhere = [r["name"] for r in run.results if r.get("status") == "elsewhere"]
    if elsewhere:  # shown in pytest's summary: tier 2 was not compared on this machine
        warnings.warn(f"{lesson.name}: {len(elsewhere)} tier-2 value(s) recorded only on other "
                      f"numeric platforms than this one ({run.platform}), shown, not compared",
                      stacklevel=1)


def test_lesson_01_declares_its_table_figures_and_exercise(fast_runs):
    out, runs = fast_runs
    lesson = LESSONS[0]
    assert lesson.name == "01_why_interpret.py"
    run = runs[lesson.stem]
    assert run.passed, run.error
    table1 = next(t for t in run.tables if t["name"] == "table1_feature_importance")
    rows = {row[0]: row[2:6] for row in table1["rows"]}
    assert rows == {  # the survey's Table 1, cell for cell
        "LIME": ["No", "Low", "Yes", "Yes"], "DeepLIFT": ["No", "High", "Yes", "No"],
        "LRP": ["No", "High", "Yes", "No"], "SHAP": ["No", "Low", "Yes", "Yes"],
        "Integrated gradient": ["No", "High", "No", "Yes"], "L2X": ["Yes", "High", "No", "Yes"]}
    assert {f["name"] for f in run.figures} == {"fig1_taxonomy", "fig_locality"}
    results = {r["name"]: r for r in run.results}
    assert results["tiny_net_gradient_vs_finite_differences"]["status"] == "passed"
    assert results["local_vs_global_max_angle_deg"]["value"] > 10, "local explanations vary"
    notebook = (out / f"{lesson.stem}.ipynb").read_text()
    assert "01.linear_attribution: not implemented yet" in notebook
