"""The grader: hostile submissions, hidden cases, scores, reports, bundles.

Most submissions target lesson 01's exercise (NumPy only, so each sandbox starts in about a
second); the whole hostile batch is graded once, two at a time, and each test reads its record.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pickle
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from xaikit.exercises.registry import EXERCISES, kit_root
from xaikit.grading.grader import (
    GradeOptions,
    exercise_seed,
    grade,
    grade_submission,
    lesson_exercises,
    prepare,
    redact_hidden,
    resolve_seed,
    round_points,
    seed_fingerprint,
    static_forbidden,
)
from xaikit.grading.reports import feedback_path, gradescope_path, gradescope_results
from xaikit.grading.sandbox import Limits
from xaikit.grading.submission import read_submission

ROOT = kit_root()
SOLUTION_01 = ROOT / "solutions" / "01_why_interpret.py"
SEED = "test-seed-not-secret"
LIMITS = Limits(timeout=4, startup=60, memory_mb=1024, output_mb=8)

GOOD = """
import numpy as np

def linear_attribution(weights, inputs, baseline=0.0):
    return np.asarray(weights)[None, :] * (np.asarray(inputs) - np.asarray(baseline))
"""

HOSTILE = {
    "good": GOOD,
    "infinite_loop": """
def linear_attribution(weights, inputs, baseline=0.0):
    while True:
        pass
""",
    "memory_bomb": """
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    blocks = []
    while True:
        blocks.append(np.zeros(2**24))
""",
    "os_exit": """
import os
def linear_attribution(weights, inputs, baseline=0.0):
    os._exit(3)
""",
    "os_exit_at_import": """
import os
def linear_attribution(weights, inputs, baseline=0.0):
    return 0
_ = os._exit
class Boom:
    os._exit(4)
""",
    "sys_exit": """
import sys
def linear_attribution(weights, inputs, baseline=0.0):
    sys.exit(0)
""",
    "exception_at_import": """
import numpy as np
from xaikit.does_not_exist import something
""" + GOOD,
    "syntax_error": GOOD + "\ndef broken(:\n    pass\n",
    "misnamed": GOOD.replace("def linear_attribution", "def linear_atribution"),
    "wrong_signature": """
def linear_attribution(w):
    return w
""",
    "wrong_shape": GOOD.replace("return np.asarray", "return (np.asarray").rstrip() + ").sum(axis=1)\n",
    "wrong_dtype": GOOD.rstrip() + ".astype(np.int64) * 0 + 1\n",
    "nan": GOOD.rstrip() + " * np.nan\n",
    "monkeypatch_numpy": """
import numpy as np
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, **kwargs: np.ones(np.shape(a), bool)
np.testing.assert_allclose = lambda *args, **kwargs: None
def linear_attribution(weights, inputs, baseline=0.0):
    np.array_equal = lambda *args, **kwargs: True
    return np.zeros((len(inputs), len(weights)))
""",
    "monkeypatch_xaikit": """
import numpy as np
import xaikit.exercises.compare as compare
import xaikit.exercises.registry as registry
import xaikit.grading.sandbox as sandbox
compare.compare_outputs = lambda expected, got, **kw: (True, "")
registry.Exercise.compare_outputs = lambda self, expected, got: (True, "")
sandbox.encode_value = lambda value, arrays, depth=0: {"t": "py", "v": "passed"}
def linear_attribution(weights, inputs, baseline=0.0):
    return np.zeros((len(inputs), len(weights)))
""",
    "fake_result_files": """
import glob, json, os
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    fake = {"score": 100, "tests": [{"name": "all", "score": 100, "max_score": 1}]}
    try:
        found = glob.glob("/tmp/**/state/*.json", recursive=True)
    except OSError:
        found = []
    for target in ["results.json", "../results.json", "/tmp/xaikit_fake_marker", *found]:
        try:
            with open(target, "w") as stream:
                json.dump(fake, stream)
        except OSError:
            pass
    return np.zeros((len(inputs), len(weights)))
""",
    "fake_frames": """
import os, struct, json
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    body = json.dumps({"event": "done"}).encode()
    frame = struct.pack(">QII32s", 0, len(body), 0, bytes(32)) + body
    for fd in range(3, 30):
        try:
            os.write(fd, frame)
        except OSError:
            pass
    return np.zeros((len(inputs), len(weights)))
""",
    "print_fake_json": """
import json
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    print(json.dumps({"event": "case_result", "status": "passed", "score": 1}))
    print('{"score": 100, "tests": []}')
    return np.zeros((len(inputs), len(weights)))
""",
    "enormous_print": """
import sys
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    for _ in range(200):
        sys.stdout.write("x" * 100_000 + "\\n")
    return np.zeros((len(inputs), len(weights)))
""",
    "enormous_output": """
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    return np.zeros((4096, 4096))
""",
    "read_solutions": """
import os
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    import xaikit
    root = os.path.dirname(os.path.dirname(xaikit.__file__))
    namespace = {}
    exec(open(os.path.join(root, "solutions", "01_why_interpret.py")).read(), namespace)
    return namespace["linear_attribution"](weights, inputs, baseline)
""",
    "list_outside": """
import os
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    os.listdir("/")
    return np.zeros((len(inputs), len(weights)))
""",
    "kill_parent": """
import os, signal
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    os.kill(os.getppid(), signal.SIGKILL)
    return np.zeros((len(inputs), len(weights)))
""",
    "subprocess_cat": """
import subprocess
def linear_attribution(weights, inputs, baseline=0.0):
    return subprocess.run(["cat", "/etc/hostname"], capture_output=True).stdout
""",
    "partial": """
import numpy as np
def linear_attribution(weights, inputs, baseline=0.0):
    if np.ndim(baseline):
        return np.zeros((len(inputs), len(weights)))
    return np.asarray(weights)[None, :] * (np.asarray(inputs) - baseline)
""",
    "returns_object": """
def linear_attribution(weights, inputs, baseline=0.0):
    return object()
""",
}

NOTEBOOK_GOOD = {"cells": [
    {"cell_type": "markdown", "source": "# my notebook"},
    {"cell_type": "code", "source": ["%matplotlib inline\n", "import numpy as np\n"]},
    {"cell_type": "code", "source": GOOD},
    {"cell_type": "code", "source": "check('01.linear_attribution', linear_attribution)\n"
                                    "raise RuntimeError('a lesson cell that must not run')"},
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("submissions")
    for name, code in HOSTILE.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(code), encoding="utf-8")
    (folder / "notebook_good.ipynb").write_text(json.dumps(NOTEBOOK_GOOD), encoding="utf-8")
    (folder / "notebook_malformed.ipynb").write_text('{"cells": [', encoding="utf-8")
    (folder / "notebook_not_utf8.ipynb").write_bytes(b'{"cells": []}\xff\xfe')
    (folder / "py_not_utf8.py").write_bytes(b"def linear_attribution(w, x, b=0):\n  return '\xff'\n")
    out = tmp_path_factory.mktemp("grades")
    options = GradeOptions(lesson="01", out=out, jobs=2, limits=LIMITS, seed=SEED,
                           progress=False)
    messages: list[str] = []
    records = grade([folder], options, log=messages.append)
    return {"records": {r.student: r for r in records}, "out": out, "folder": folder,
            "options": options, "messages": messages}


def _exercise(batch: dict, student: str):
    return batch["records"][student].exercises[0]


def _text(batch: dict, student: str) -> str:
    return feedback_path(batch["out"], "01", student).read_text(encoding="utf-8")


def test_good_submissions_get_full_marks_despite_hostile_neighbours(batch):
    assert not any("no warm sandbox" in message for message in batch["messages"])
    for student in ("good", "notebook_good", "enormous_print"):
        exercise = _exercise(batch, "good" if student == "enormous_print" else student)
        assert exercise.points == 1.0 and exercise.status == "passed", exercise
    assert len(_exercise(batch, "good").cases) == 7  # 3 public + 4 hidden
    assert not Path("/tmp/xaikit_fake_marker").exists()


EXPECTED_STATUS = {
    "infinite_loop": ("timeout", "time limit"),
    "memory_bomb": ("memory", "memory"),
    "os_exit": ("crashed", "exit code 3"),
    "os_exit_at_import": ("load_error", "exit code 4"),
    "sys_exit": ("error", "sys.exit()"),
    "exception_at_import": ("load_error", "ModuleNotFoundError"),
    "syntax_error": ("syntax", "line"),
    "notebook_malformed": ("unreadable", "not valid JSON"),
    "notebook_not_utf8": ("unreadable", "UTF-8"),
    "py_not_utf8": ("unreadable", "UTF-8"),
    "misnamed": ("missing", "did you mean"),
    "wrong_signature": ("signature", "signature"),
    "wrong_shape": ("failed", "shape"),
    "wrong_dtype": ("failed", "dtype"),
    "nan": ("failed", "NaN"),
    "monkeypatch_numpy": ("failed", "values"),
    "monkeypatch_xaikit": ("failed", "values"),
    "fake_result_files": ("failed", "values"),
    "fake_frames": ("crashed", "could not read your results"),
    "print_fake_json": ("failed", "values"),
    "enormous_output": ("too_large", "MiB"),
    "read_solutions": ("error", "FileNotFoundError"),
    "list_outside": ("failed", "values"),
    "kill_parent": ("error", "PermissionError"),
    "subprocess_cat": ("error", "PermissionError"),
    "returns_object": ("failed", "cannot read"),
}


@pytest.mark.parametrize("student", sorted(EXPECTED_STATUS))
def test_hostile_submission_scores_zero_with_clear_feedback(batch, student):
    status, words = EXPECTED_STATUS[student]
    exercise = _exercise(batch, student)
    assert exercise.points == 0.0
    assert exercise.status == status, (exercise.status, exercise.message, exercise.cases[:1])
    feedback = _text(batch, student)
    assert words in feedback, feedback
    assert "Score: 0 / 1" in feedback


def test_partial_credit_and_csv(batch):
    exercise = _exercise(batch, "partial")
    passed = sum(case.passed for case in exercise.cases)
    assert 0 < passed < len(exercise.cases)
    assert exercise.status == "partial"
    assert exercise.points == round_points(passed / len(exercise.cases))
    rows = list(csv.DictReader((batch["out"] / "grades.csv").open()))
    assert {row["student"] for row in rows} == set(batch["records"])
    row = next(row for row in rows if row["student"] == "partial")
    assert float(row["points"]) == exercise.points and row["max_points"] == "1"
    assert row["status"] == "partial"


def test_hidden_feedback_does_not_reveal_expected_values(batch):
    cases = _exercise(batch, "monkeypatch_numpy").cases
    hidden = [case for case in cases if case.visibility == "hidden"]
    public = [case for case in cases if case.visibility == "public"]
    assert all("expected" not in case.message for case in hidden), hidden
    assert any("expected" in case.message for case in public)
    assert redact_hidden("output: values: 3 of 4 entries differ; max abs diff 1 at index (0,): "
                         "expected 0.5, got 1") == \
        "output: values differ from the reference solution beyond the tolerance"


def test_gradescope_results_schema_and_sums(batch):
    for student, record in batch["records"].items():
        data = json.loads(gradescope_path(batch["out"], "01", student).read_text())
        assert data["score"] == record.points
        assert all(set(test) >= {"name", "score", "max_score", "output", "visibility"}
                   for test in data["tests"])
        assert round_points(sum(t["max_score"] for t in data["tests"])) == record.max_points
        assert round_points(sum(t["score"] for t in data["tests"])) == record.points
    visibilities = {t["visibility"] for t in gradescope_results(batch["records"]["good"])["tests"]}
    assert visibilities == {"visible", "after_published"}


def test_rerun_skips_graded_and_force_regrades(batch, tmp_path):
    messages = []
    again = grade([batch["folder"] / "good.py", batch["folder"] / "partial.py"],
                  batch["options"], log=messages.append)
    assert "0 to grade" in messages[0]
    assert [r.points for r in again] == [1.0, batch["records"]["partial"].points]
    forced = dataclasses.replace(batch["options"], force=True, out=batch["out"])
    messages.clear()
    grade([batch["folder"] / "good.py"], forced, log=messages.append)
    assert "1 to grade" in messages[0]


def test_unsolved_lesson_01_scores_zero():
    prepared = prepare("01", SEED)
    lesson = read_submission(ROOT / "lessons" / "01_why_interpret.py", "01_why_interpret")
    record = grade_submission(lesson, prepared, LIMITS, "01", seed_fingerprint(SEED))
    assert record.points == 0.0
    assert {e.status for e in record.exercises} == {"not_implemented"}


def test_forbidden_calls_fail_statically_and_at_runtime(tmp_path):
    base = EXERCISES["01.linear_attribution"]
    exercise = dataclasses.replace(base, forbidden=("xaikit.exercises.registry.copy_arguments",))
    prepared = prepare("01", SEED, exercises=[exercise])
    static = "from xaikit.exercises.registry import copy_arguments\n" \
             "def linear_attribution(weights, inputs, baseline=0.0):\n" \
             "    return copy_arguments(weights)[None] * (inputs - baseline)\n"
    dynamic = "import importlib\n" \
              "def linear_attribution(weights, inputs, baseline=0.0):\n" \
              "    module = importlib.import_module('xaikit.exercises.' + 'registry')\n" \
              "    return getattr(module, 'copy_' + 'arguments')(weights)[None] * (inputs - baseline)\n"
    for name, code in (("static", static), ("dynamic", dynamic)):
        path = tmp_path / f"{name}.py"
        path.write_text(code)
        submission = read_submission(path, "01_why_interpret")
        record = grade_submission(submission, prepared, LIMITS, "01", "x")
        exercise_grade = record.exercises[0]
        assert exercise_grade.points == 0.0 and exercise_grade.status == "forbidden", name
        assert "not allowed" in exercise_grade.message or "calls" in exercise_grade.message
    assert static_forbidden(read_submission(tmp_path / "static.py", "x").tree,
                            "linear_attribution", exercise.forbidden)[1] == 3


def _arrays(value) -> list[np.ndarray]:
    if isinstance(value, np.ndarray | np.generic | float | int):
        return [np.asarray(value)]
    if isinstance(value, tuple | list):
        return [a for item in value for a in _arrays(item)]
    if isinstance(value, dict):
        return [a for key in sorted(value) for a in _arrays(value[key])]
    if hasattr(value, "get_weights"):
        return [np.asarray(w) for w in value.get_weights()]
    return []


def _lessons() -> list:
    lessons = sorted({EXERCISES[name].lesson for name in EXERCISES})
    return [pytest.param(n, marks=() if n == "01" else pytest.mark.slow) for n in lessons]


@pytest.mark.parametrize("lesson", _lessons())
def test_hidden_cases_deterministic_per_seed_and_differ_between_seeds(lesson):
    for exercise in lesson_exercises(lesson):
        first = exercise.hidden(exercise_seed("seed-a", exercise.id))
        again = exercise.hidden(exercise_seed("seed-a", exercise.id))
        other = exercise.hidden(exercise_seed("seed-b", exercise.id))
        flat = [_arrays((c.args, c.kwargs)) for c in first]
        assert flat, exercise.id
        assert all(len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
                   for a, b in zip(flat, [_arrays((c.args, c.kwargs)) for c in again]))
        assert any(len(a) != len(b) or not all(np.array_equal(x, y) for x, y in zip(a, b))
                   for a, b in zip(flat, [_arrays((c.args, c.kwargs)) for c in other]))


@pytest.mark.parametrize("lesson", _lessons())
def test_reference_solution_full_marks_and_stub_zero(lesson, tmp_path):
    exercises = lesson_exercises(lesson)
    stem = exercises[0].reference.partition(":")[0]
    limits = Limits(timeout=120 if lesson != "01" else 10, startup=180)
    options = GradeOptions(lesson=lesson, out=tmp_path, jobs=2, limits=limits, seed=SEED,
                           progress=False)
    folder = tmp_path / "in"
    (folder / "solution").mkdir(parents=True)
    (folder / "stub").mkdir()
    (folder / "solution" / "submission.py").write_bytes((ROOT / stem).read_bytes())
    lesson_files = sorted((ROOT / "lessons").glob(f"{lesson}_*.py"))
    if not lesson_files or not (ROOT / stem).is_file():
        pytest.skip(f"lesson {lesson} has exercises but its lesson or solution file is missing")
    lesson_file = lesson_files[0]
    (folder / "stub" / "submission.py").write_bytes(lesson_file.read_bytes())
    records = {r.student: r for r in grade([folder], options, log=lambda _: None)}
    assert records["solution"].points == records["solution"].max_points > 0, \
        [(e.id, e.status, e.message, [c.message for c in e.cases if not c.passed][:1])
         for e in records["solution"].exercises]
    assert all(c.visibility in ("public", "hidden") for e in records["solution"].exercises
               for c in e.cases)
    assert any(c.visibility == "hidden" for e in records["solution"].exercises for c in e.cases)
    assert records["stub"].points == 0.0


def test_points_rounding():
    assert round_points(0.125) == 0.13
    assert round_points(2 / 3) == 0.67
    assert round_points(1 / 3 + 1 / 3 + 1 / 3) == 1.0
    assert round_points(3 * 4 / 7) == 1.71


def test_seed_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("XAIKIT_GRADER_SEED", raising=False)
    seed_file = tmp_path / "config" / "grader_seed"
    value, source = resolve_seed(seed_file=seed_file)
    assert source.endswith("(new)") and len(value) == 32
    assert oct(seed_file.stat().st_mode & 0o777) == "0o600"
    assert resolve_seed(seed_file=seed_file)[0] == value
    monkeypatch.setenv("XAIKIT_GRADER_SEED", "from-env")
    assert resolve_seed(seed_file=seed_file) == ("from-env", "$XAIKIT_GRADER_SEED")
    assert resolve_seed("cli", seed_file=seed_file)[0] == "cli"
    assert exercise_seed("a", "01.x") != exercise_seed("b", "01.x")


def test_child_environment_has_no_seed_or_solutions(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_GRADER_SEED", "very-secret")
    code = ("import os, sys, json\n"
            "def linear_attribution(weights, inputs, baseline=0.0):\n"
            "    text = json.dumps(dict(os.environ)) + ' '.join(sys.path)\n"
            "    if 'very-secret' in text or 'solutions' in text:\n"
            "        raise RuntimeError('leak')\n"
            "    return weights[None, :] * (inputs - baseline)\n")
    path = tmp_path / "env.py"
    path.write_text(code)
    record = grade_submission(read_submission(path, "01"), prepare("01", SEED), LIMITS, "01", "x")
    assert record.points == 1.0, record.exercises[0].cases[0]


def test_student_bundle_has_no_solutions_or_grader(tmp_path):
    from xaikit.grading.release import build_student_bundle, check_student_bundle

    bundle = build_student_bundle(tmp_path / "bundle", notebooks=False, lessons=["01"])
    assert (bundle / "lessons" / "01_why_interpret.py").is_file()
    assert (bundle / "xaikit" / "exercises" / "lesson01.py").is_file()
    assert not (bundle / "solutions").exists()
    assert not (bundle / "xaikit" / "grading").exists()
    assert check_student_bundle(bundle) == []
    (bundle / "xaikit" / "leak.py").write_bytes(SOLUTION_01.read_bytes())
    assert any("reference solution" in problem for problem in check_student_bundle(bundle))
    with pytest.raises(ValueError, match="not empty"):
        build_student_bundle(bundle, notebooks=False, lessons=["01"])


def test_gradescope_bundle_contents(tmp_path):
    from xaikit.grading.release import build_gradescope_bundle

    path = build_gradescope_bundle(tmp_path / "autograder.zip", "1", seed="bundle-seed")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {"setup.sh", "run_autograder", "grader_seed", "kit/pyproject.toml",
                "kit/solutions/01_why_interpret.py", "kit/xaikit/grading/sandbox/__init__.py"} <= names
        assert archive.read("grader_seed").decode().strip() == "bundle-seed"
        assert "--lesson 01" in archive.read("run_autograder").decode()
        assert (archive.getinfo("run_autograder").external_attr >> 16) & 0o111


def test_cli_grade_and_errors(tmp_path):
    from xaikit.cli import main

    (tmp_path / "alice.py").write_text(GOOD)
    out = tmp_path / "out"
    status = main(["grade", str(tmp_path / "alice.py"), "--lesson", "1", "--out", str(out),
                   "--seed", SEED, "--no-progress", "--timeout", "10",
                   "--gradescope-results", str(tmp_path / "results.json")])
    assert status == 0
    assert json.loads((tmp_path / "results.json").read_text())["score"] == 1.0
    assert main(["grade", str(tmp_path / "alice.py"), "--lesson", "99", "--seed", "s"]) == 2
    assert main(["grade", str(tmp_path / "nobody.py"), "--lesson", "1", "--seed", "s"]) == 2


def test_cases_are_pickled_inputs_only(tmp_path):
    prepared = prepare("01", SEED)
    for case in prepared[0].cases:
        args, kwargs = pickle.loads(case.payload)
        assert isinstance(args, tuple) and isinstance(kwargs, dict)
    assert os.environ.get("XAIKIT_GRADER_SEED") != SEED


TF_HOSTILE = """
import numpy as np
import tensorflow as tf
import keras
tf.debugging.assert_near = lambda *args, **kwargs: None
tf.reduce_all = lambda *args, **kwargs: tf.constant(True)
keras.ops.allclose = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
"""


def _tf_lessons() -> list[str]:
    lessons = []
    for name in EXERCISES:
        exercise = EXERCISES[name]
        if exercise.lesson != "01" and exercise.lesson not in lessons:
            lessons.append(exercise.lesson)
    return lessons


@pytest.mark.slow
def test_tensorflow_monkeypatch_and_loop_score_zero(tmp_path):
    """Patching TensorFlow/Keras/NumPy in the sandbox cannot fake a pass (lesson 01 and the
    first TensorFlow lesson, when one exists); an infinite loop there times out."""
    targets = [("01", ["linear_attribution"])]
    for lesson in _tf_lessons()[:1]:
        targets.append((lesson, [e.function for e in lesson_exercises(lesson)]))
    for lesson, functions in targets:
        folder = tmp_path / lesson
        folder.mkdir()
        zeros = "".join(f"def {f}(*args, **kwargs):\n    return np.zeros(1)\n" for f in functions)
        loops = "".join(f"def {f}(*args, **kwargs):\n    while True:\n        pass\n"
                        for f in functions)
        (folder / "patcher.py").write_text(TF_HOSTILE + zeros)
        (folder / "looper.py").write_text(TF_HOSTILE + loops)
        (folder / "honest.py").write_bytes(  # "solution.py" is a generic name: no identity
            (ROOT / lesson_exercises(lesson)[0].reference.partition(":")[0]).read_bytes())
        options = GradeOptions(lesson=lesson, out=tmp_path / f"out{lesson}", jobs=2,
                               limits=Limits(timeout=30, startup=600), seed=SEED,
                               progress=False)
        records = {r.student: r for r in grade([folder], options, log=lambda _: None)}
        assert records["patcher"].points == 0.0
        assert {e.status for e in records["patcher"].exercises} == {"failed"}
        assert records["looper"].points == 0.0
        assert {e.status for e in records["looper"].exercises} == {"timeout"}
        assert records["honest"].points == records["honest"].max_points
