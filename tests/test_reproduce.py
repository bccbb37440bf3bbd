"""The lesson runner on tiny synthetic lessons: passing, failing, collected outputs, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xaikit.core.platform import numeric_platform
from xaikit.reproduce import LessonError, find_lessons, reproduce

PASSING = '''\
# %% [markdown]
# # A passing lesson

# %%
import os
import matplotlib.pyplot as plt
from xaikit.report import exact, fast_mode, figure, result, table

# %%
fig, ax = plt.subplots()
ax.plot([0, 1], [1, 0])
figure(fig, "fig1_line", caption="a falling line")
table([{"method": "LIME", "agnostic": "Yes"}], "table1", caption="one row")
result("fast", fast_mode(), paper=True, check=exact(True))
result("cwd_is_lessons", os.path.basename(os.getcwd()), check=exact("lessons"))

# %%
from tqdm.auto import tqdm

total = sum(tqdm(range(1000)))
'''

FAILING = '''\
# %%
x = 41

# %%
raise ValueError(f"the answer is not {x}")

# %%
print("never reached")
'''


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("kit")
    lessons = root / "lessons"
    lessons.mkdir()
    (lessons / "01_passing.py").write_text(PASSING)
    (lessons / "02_failing.py").write_text(FAILING)
    (lessons / "notes.py").write_text("# not a lesson: no NN_ prefix\n")
    report = reproduce(out=root / "out", fast=True, lessons_dir=lessons, progress=False)
    return root, report


def test_a_failing_lesson_does_not_stop_the_others(run):
    _, report = run
    assert [(lesson.stem, lesson.status) for lesson in report.lessons] == [
        ("01_passing", "passed"), ("02_failing", "failed")]
    assert not report.ok
    assert report.failed[0].error.splitlines()[0] == (
        "ValueError: the answer is not 41 (code cell 2)")


def _kernels() -> set[int]:
    """Process ids of the ipykernels this test process started (its children)."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    pids = {int(pid) for pid in children.read_text().split()} if children.exists() else set()
    alive = set()
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in command:
            alive.add(pid)
    return alive


def test_every_lesson_kernel_is_shut_down(run):
    """Lessons run one after another; a kernel left behind per lesson holds ~1 GB each."""
    assert not _kernels()


def test_figures_tables_results_and_notebooks_are_collected(run):
    root, report = run
    passing = report.lessons[0]
    assert (root / "out" / "01_passing" / "fig1_line.png").read_bytes()[:4] == b"\x89PNG"
    assert [f["file"] for f in passing.figures] == ["fig1_line.png"]
    assert passing.tables[0]["rows"] == [["LIME", "Yes"]]
    values = {r["name"]: r["value"] for r in passing.results}
    assert values == {"fast": True, "cwd_is_lessons": "lessons"}
    notebook = json.loads((root / "out" / "01_passing.ipynb").read_text())
    outputs = [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1, "figure shown once"
    assert not [o for o in outputs if "Outcome(" in json.dumps(o)], "result() is not echoed twice"
    assert not [o for o in outputs if o.get("name") == "stderr"], "no progress bars, warnings"
    failed = json.loads((root / "out" / "02_failing.ipynb").read_text())
    assert any(o["output_type"] == "error" for c in failed["cells"] if c["cell_type"] == "code"
               for o in c["outputs"]), "the failing notebook is written with its error"


def test_summary_lists_status_tables_results_figures_and_errors(run):
    root, report = run
    summary = (root / "out" / "summary.md").read_text()
    assert "1/2 lessons passed, fast mode" in summary
    assert "| LIME | Yes |" in summary
    assert r"| fast | True | True | 1 | = True (atol 0, rtol 0) | passed: max \|error\| 0 |" in summary
    assert "![a falling line](01_passing/fig1_line.png)" in summary
    assert "ValueError: the answer is not 41" in summary
    assert "never reached" not in summary.split("## 02_failing")[1].split("```")[0]


def test_lesson_lookup_by_number_and_clear_errors(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "01_a.py").write_text("# %%\nx = 1\n")
    (lessons / "03_c.py").write_text("# %%\nx = 3\n")
    assert [p.name for p in find_lessons(["3", 1], lessons)] == ["03_c.py", "01_a.py"]
    with pytest.raises(LessonError, match=r"no lesson 02 in .*available: 01, 03"):
        find_lessons(["02"], lessons)
    (lessons / "04_bad.py").write_bytes(b"# %%\nx = '\xff\xfe'\n")
    with pytest.raises(LessonError, match="cannot read lesson file .*04_bad.py"):
        find_lessons(["04"], lessons)
    with pytest.raises(LessonError, match="no lessons folder"):
        find_lessons(None, tmp_path / "missing")


def test_cli_exit_status_says_whether_all_passed(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "01_ok.py").write_text("# %%\nprint('fine')\n")
    (lessons / "02_bad.py").write_text("# %%\n1 / 0\n")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "xaikit", "reproduce", "--no-progress",
                               "--lessons-dir", str(lessons), "--out", str(tmp_path / "out"),
                               *args], capture_output=True, text=True, timeout=300)

    ok = cli("--lesson", "01")
    assert ok.returncode == 0, ok.stderr
    assert "1/1 lessons passed" in ok.stdout
    bad = cli("--lesson", "02")
    assert bad.returncode == 1
    assert "0/1 lessons passed" in bad.stdout
    assert "02_bad failed: ZeroDivisionError: division by zero" in bad.stdout
    missing = cli("--lesson", "07")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"xaikit reproduce: error: no lesson 07 in {lessons} (available: 01, 02)"]


def test_resume_reuses_only_a_passed_run_of_the_same_source_and_mode(run):
    from xaikit.reproduce import _previous_run

    root, first = run
    lessons = root / "lessons"
    again = reproduce(["01"], out=root / "out", fast=True, lessons_dir=lessons, progress=False,
                      resume=True)
    assert again.lessons[0].passed
    assert again.lessons[0].seconds == pytest.approx(first.lessons[0].seconds)
    assert again.lessons[0].results == first.lessons[0].results
    passing, failing = lessons / "01_passing.py", lessons / "02_failing.py"
    assert _previous_run(passing, root / "out", fast=False) is None, "other mode: run again"
    assert _previous_run(failing, root / "out", fast=True) is None, "failed: run again"
    passing.write_text(PASSING + "\n# %%\nprint('changed')\n")
    assert _previous_run(passing, root / "out", fast=True) is None, "changed source: run again"


BROKEN_CLAIM = '''\
# %%
import numpy as np
from xaikit.report import above, recorded, result

# %%
result("accuracy", 0.75, check=recorded(rtol=0.01))
result("beats_chance", np.array([0.1, -0.2, 0.05, -0.1]), check=above(0.0),
       paper="clearly above chance")
print("the notebook runs on after a failed check")
'''


def test_a_failed_claim_fails_the_lesson_naming_the_result(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "05_claim.py").write_text(BROKEN_CLAIM)
    run = reproduce(["05"], out=tmp_path / "out", fast=True, lessons_dir=lessons,
                    progress=False).lessons[0]
    assert not run.passed
    assert run.error.splitlines()[0] == "1 check(s) failed: beats_chance"
    assert "tier 3 above" in run.error and "CI of the mean > 0" in run.error
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| beats_chance |" in summary and "failed: mean" in summary


def test_recorded_values_catch_a_changed_number(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    lesson = lessons / "06_numbers.py"
    lesson.write_text("# %%\nfrom xaikit.report import recorded, result\n"
                      "result('auc', 0.5, check=recorded(rtol=0.01))\n")
    out = tmp_path / "out"
    first = reproduce(["06"], out=out, fast=True, lessons_dir=lessons, progress=False)
    assert first.ok and first.lessons[0].results[0]["status"] == "unrecorded"
    recording = reproduce(["06"], out=out, fast=True, lessons_dir=lessons, progress=False,
                          record=True)
    assert recording.ok
    platform = recording.lessons[0].platform
    expected_file = lessons / "expected" / "06_numbers.json"
    expected = json.loads(expected_file.read_text())
    assert expected == {"platforms": {platform["id"]: {"machine": platform["machine"],
                                                       "fast": {"auc": 0.5}}}}
    assert reproduce(["06"], out=out, fast=True, lessons_dir=lessons, progress=False).ok
    lesson.write_text(lesson.read_text().replace("0.5", "0.6"))
    changed = reproduce(["06"], out=out, fast=True, lessons_dir=lessons, progress=False)
    assert not changed.ok and "auc (tier 2 recorded)" in changed.lessons[0].error
    assert f"`{platform['id']}`" in (out / "summary.md").read_text()
    # recorded on another platform only: shown beside ours, not compared; --record adds ours
    elsewhere = {"0123456789ab": {"machine": "another CPU", "fast": {"auc": 0.5}}}
    expected_file.write_text(json.dumps({"platforms": elsewhere}))
    other = reproduce(["06"], out=out, fast=True, lessons_dir=lessons, progress=False,
                      record=True)
    entry = other.lessons[0].results[0]
    assert other.ok and entry["status"] == "recorded"
    stored = json.loads(expected_file.read_text())["platforms"]
    assert stored == {**elsewhere, platform["id"]: {"machine": platform["machine"],
                                                    "fast": {"auc": 0.6}}}
    del stored[platform["id"]]
    expected_file.write_text(json.dumps({"platforms": stored}))
    shown = reproduce(["06"], out=out, fast=True, lessons_dir=lessons, progress=False)
    entry = shown.lessons[0].results[0]
    assert shown.ok and entry["status"] == "elsewhere"
    assert "0.5 on 0123456789ab (another CPU)" in entry["detail"]
    assert entry["recorded_elsewhere"] == {"0123456789ab": 0.5}


MEETING = '''\
# %%
import os
import time
from pathlib import Path

here, other = Path("{root}") / "{me}", Path("{root}") / "{other}"
here.write_text("started")
deadline = time.monotonic() + 60
while not other.exists():
    assert time.monotonic() < deadline, "the other lesson never started: lessons ran one by one"
    time.sleep(0.05)
'''


def test_jobs_run_lessons_at_the_same_time_and_keep_their_order(tmp_path):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    for me, other in (("03_b", "01_a"), ("01_a", "03_b")):
        (lessons / f"{me}.py").write_text(MEETING.format(root=tmp_path, me=me, other=other))
    report = reproduce(["03", "01"], out=tmp_path / "out", fast=True, lessons_dir=lessons,
                       progress=False, jobs=2)
    assert [(run.stem, run.status) for run in report.lessons] == [
        ("03_b", "passed"), ("01_a", "passed")], [run.error for run in report.lessons]
    assert not _kernels()
    with pytest.raises(ValueError, match="jobs must be a positive number"):
        reproduce(["01"], out=tmp_path / "out", lessons_dir=lessons, progress=False, jobs=0)


def test_the_platform_fingerprint_sees_a_change_of_kernels():
    """oneDNN's kernels sum in another order than Eigen's: another platform, as another CPU is."""
    here = numeric_platform()
    code = "from xaikit.core.platform import numeric_platform as p; print(p().id)"
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert len(other) == 12 and other != here.id
    assert here == numeric_platform() and "TF_ENABLE_ONEDNN_OPTS=0" in here.machine
