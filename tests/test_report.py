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

from xaikit import report  # noqa: E402


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
    assert record["figures"] == [{"name": "fig1_line", "file": "fig1_line.png",
                                  "caption": "a line"}]
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
    report.result("gap", np.float32(0.25), paper="< 1 %", status="ok")
    report.result("gap", np.float64(0.5), paper="< 1 %", status="ok")
    report.result("counts", np.arange(3))
    record = json.loads((out / "results.json").read_text())
    assert record["results"][0] == {"name": "gap", "value": 0.5, "paper": "< 1 %",
                                    "status": "ok", "note": ""}
    assert record["results"][1]["value"] == [0, 1, 2]
    assert "gap = 0.25   (paper: < 1 %)   [ok]" in capsys.readouterr().out


def test_nothing_written_outside_the_runner(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XAIKIT_OUT", raising=False)
    monkeypatch.chdir(tmp_path)
    fig, _ = plt.subplots()
    assert report.figure(fig, "fig") is None
    report.table([{"a": 1}], "t")
    report.result("r", 1)
    assert list(tmp_path.iterdir()) == []
    assert "| a |" in capsys.readouterr().out


@pytest.mark.parametrize("call, error", [
    (lambda: report.table([{"a": 1}], "bad name/with slash"), ValueError),
    (lambda: report.table([["x", "y"]], "t"), ValueError),
    (lambda: report.table([["x"]], "t", columns=["a", "b"]), ValueError),
    (lambda: report.table({"a": [1, 2], "b": [1]}, "t"), ValueError),
    (lambda: report.table("rows", "t"), TypeError),
    (lambda: report.result("r", object()), TypeError),
    (lambda: report.result("r", np.zeros(5000)), ValueError),
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
