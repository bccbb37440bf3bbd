"""xaikit.report: what a lesson declares reaches results.json, atomically, without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from xaikit import report, viz  # noqa: E402
from xaikit.core.platform import numeric_platform  # noqa: E402


@pytest.fixture
def out(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_OUT", str(tmp_path / "lesson"))
    return tmp_path / "lesson"


def test_figure_writes_png_and_record(out):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = report.figure(fig, "fig1_line", caption="a line")
    assert path == out / "fig1_line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((out / "results.json").read_text())
    (entry,) = record["figures"]
    assert {k: entry[k] for k in ("name", "file", "caption")} == {
        "name": "fig1_line", "file": "fig1_line.png", "caption": "a line"}
    # the smallest text in px of the saved PNG (the site's browser test scales it to the page)
    assert entry["text_px"] >= viz.MIN_TEXT_PX
    assert not plt.fignum_exists(fig.number), "figure() closes the figure so it shows once"
    assert not list(out.glob("*.tmp")), "no temporary files left behind"


def test_table_forms_render_the_same_markdown(out):
    rows = [{"method": "LIME", "train": "No"}, {"method": "L2X", "train": "Yes"}]
    by_rows = report.table(rows, "t_rows")
    by_columns = report.table({"method": ["LIME", "L2X"], "train": ["No", "Yes"]}, "t_cols")
    by_lists = report.table([["LIME", "No"], ["L2X", "Yes"]], "t_lists",
                            columns=["method", "train"])
    assert by_rows == by_columns == by_lists
    assert by_rows.splitlines() == ["| method | train |", "| --- | --- |", "| LIME | No |",
                                    "| L2X | Yes |"]
    record = json.loads((out / "results.json").read_text())
    assert [t["name"] for t in record["tables"]] == ["t_rows", "t_cols", "t_lists"]
    assert record["tables"][0]["rows"] == [["LIME", "No"], ["L2X", "Yes"]]


def test_result_converts_numpy_and_replaces_same_name(out, capsys):
    report.result("gap", np.float32(0.25), paper="< 1 %", check=report.exact(0.0, atol=0.3))
    report.result("gap", np.float64(0.5), paper="< 1 %", check=report.exact(0.0, atol=0.3))
    report.result("counts", np.arange(3), check=report.exact([0, 1, 2]))
    record = json.loads((out / "results.json").read_text())
    first = record["results"][0]
    assert {k: first[k] for k in ("name", "value", "paper", "tier", "check", "status")} == {
        "name": "gap", "value": 0.5, "paper": "< 1 %", "tier": 1, "check": "exact",
        "status": "failed"}
    assert record["results"][1]["value"] == [0, 1, 2]
    assert record["results"][1]["status"] == "passed"
    assert "gap = 0.25   (paper: < 1 %)   [tier 1 exact: PASSED" in capsys.readouterr().out


def test_a_status_cannot_be_typed_in(out):
    with pytest.raises(TypeError, match="status"):
        report.result("r", 1.0, status="ok", check=report.exact(1.0))
    with pytest.raises(TypeError, match="must be a check"):
        report.result("r", 1.0, check="ok")


def test_tier_three_records_mean_and_interval(out):
    outcome = report.result("diff", np.array([0.2, 0.3, 0.25, 0.35]), check=report.above(0.0))
    entry = json.loads((out / "results.json").read_text())["results"][0]
    assert outcome.status == entry["status"] == "passed" and entry["tier"] == 3
    assert entry["value"] == pytest.approx(0.275) and entry["n"] == 4
    assert entry["ci"][0] > 0 and entry["ci"][1] < 0.4


def test_tier_two_compares_with_the_expected_file_and_records(out, tmp_path, monkeypatch):
    here = numeric_platform().id
    expected = tmp_path / "expected.json"
    monkeypatch.setenv(report.EXPECTED_ENV, str(expected))
    monkeypatch.setenv("XAIKIT_FAST", "1")
    assert report.result("acc", 0.9, check=report.recorded(rtol=0.01)).status == "unrecorded"
    assert json.loads((out / report.RESULTS_FILE).read_text())["platform"]["id"] == here
    expected.write_text(json.dumps({"platforms": {"0123456789ab": {"fast": {"acc": 0.5}}}}))
    other = report.result("acc", 0.9, check=report.recorded(rtol=0.01))
    assert other.status == "elsewhere" and "0.5 on 0123456789ab" in other.detail
    expected.write_text(json.dumps({"platforms": {
        "0123456789ab": {"fast": {"acc": 0.5}},
        here: {"fast": {"acc": 0.9}, "full": {"acc": 0.5}}}}))
    assert report.result("acc", 0.905, check=report.recorded(rtol=0.01)).status == "passed"
    assert report.result("auc", 0.9, check=report.recorded(rtol=0.01)).status == "unrecorded"
    assert report.result("acc", 0.95, check=report.recorded(rtol=0.01)).status == "failed"
    monkeypatch.setenv(report.RECORD_ENV, "1")
    assert report.result("acc", 0.95, check=report.recorded(rtol=0.01)).status == "recorded"
    monkeypatch.delenv(report.EXPECTED_ENV)
    monkeypatch.delenv(report.RECORD_ENV)
    assert report.result("acc", 0.95, check=report.recorded()).status == "unchecked"


def test_nothing_written_outside_the_runner(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XAIKIT_OUT", raising=False)
    monkeypatch.chdir(tmp_path)
    fig, _ = plt.subplots()
    assert report.figure(fig, "fig") is None
    report.table([{"a": 1}], "t")
    report.result("r", 1, check=report.exact(1))
    assert list(tmp_path.iterdir()) == []
    assert "| a |" in capsys.readouterr().out


@pytest.mark.parametrize("call, error", [
    (lambda: report.table([{"a": 1}], "bad name/with slash"), ValueError),
    (lambda: report.table([["x", "y"]], "t"), ValueError),
    (lambda: report.table([["x"]], "t", columns=["a", "b"]), ValueError),
    (lambda: report.table({"a": [1, 2], "b": [1]}, "t"), ValueError),
    (lambda: report.table("rows", "t"), TypeError),
    (lambda: report.result("r", object(), check=report.exact(0)), TypeError),
    (lambda: report.result("r", np.zeros(5000), check=report.exact(0)), ValueError),
    (lambda: report.result("r", [1.0], check=report.above(0)), ValueError),
    (lambda: report.figure("not a figure", "f"), TypeError),
])
def test_bad_input_is_a_clear_error(out, call, error):
    with pytest.raises(error, match=r"\S"):
        call()


def test_fast_mode_reads_the_environment(monkeypatch):
    for value, expected in [("1", True), ("true", True), ("0", False), ("", False)]:
        monkeypatch.setenv("XAIKIT_FAST", value)
        assert report.fast_mode() is expected


def test_importing_the_kit_does_not_import_tensorflow():
    code = ("import sys, xaikit, xaikit.report, xaikit.exercises, xaikit.reproduce, xaikit.cli; "
            "from xaikit.exercises import EXERCISES; EXERCISES['01.linear_attribution']; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
