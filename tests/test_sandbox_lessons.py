"""The TensorFlow lessons graded end to end in the sandbox, and what a TensorFlow cheat can reach.

One warm zygote (TensorFlow imported once) grades, for every lesson 02-07, the reference solution
(full marks) and the lesson's own stubs (0) on one public and one hidden case per exercise, plus
cheats that use TensorFlow's own file ops (run on its thread pools), ``tf.py_function`` and every
kit path to the answer.  A separate test grades constant answers against every case of every
exercise, in the grader's process: none may earn a point.
"""

from __future__ import annotations

import dataclasses
import pickle
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from xaikit.exercises.registry import EXERCISES, kit_root
from xaikit.grading.grader import (
    _preload,
    _secrets,
    grade_submission,
    lesson_exercises,
    preload_modules,
    prepare,
    round_points,
    seed_fingerprint,
)
from xaikit.grading.sandbox import Limits, SandboxRefused, Zygote, kit_copy, select_confinement
from xaikit.grading.submission import read_submission

ROOT = kit_root()
SEED = "sandbox-lessons-seed"
LESSONS = sorted({EXERCISES[name].lesson for name in EXERCISES} - {"01"})
LIMITS = Limits(timeout=120, startup=600, threads=1)

TF_CHEATS = {
    ("02", "tf_read_file_in_a_graph"): """
import numpy as np
import tensorflow as tf
class _Read:
    graph = tf.function(lambda path: tf.io.read_file(path))
def _solution():
    namespace = {{}}
    exec(_Read.graph({solution!r}).numpy().decode(), namespace)  # runs on TF's thread pools
    return namespace
def saliency_map(model, images, targets):
    return _solution()["saliency_map"](model, images, targets)
def box_iou(box_a, box_b):
    return _solution()["box_iou"](box_a, box_b)
""",
    ("02", "tf_py_function_reads"): """
import tensorflow as tf
def _solution():
    read = tf.py_function(lambda: open({solution!r}).read(), [], tf.string)
    namespace = {{}}
    exec(tf.function(lambda: read)().numpy().decode(), namespace)
    return namespace
def saliency_map(model, images, targets):
    return _solution()["saliency_map"](model, images, targets)
def box_iou(box_a, box_b):
    return _solution()["box_iou"](box_a, box_b)
""",
    ("02", "tf_writes_to_the_host"): """
import numpy as np
import tensorflow as tf
def saliency_map(model, images, targets):
    for write in (lambda: tf.io.write_file({marker!r}, "x"),
                  lambda: tf.io.gfile.makedirs({folder!r}),
                  lambda: tf.function(lambda: tf.io.write_file({marker!r}, "x"))(),
                  lambda: tf.py_function(lambda: open({marker!r}, "w").write("x"), [],
                                         tf.int64)):
        try:
            write()
        except Exception:
            pass
    return np.zeros(images.shape[:3])
def box_iou(box_a, box_b):
    return 0.0
""",
    ("05", "every_kit_path_to_grad_cam"): """
import gc, importlib, inspect, sys
import numpy as np
import xaikit
import xaikit.attribution as attribution
import xaikit.core as core
from xaikit.core import batching
def _attempts(model, images, targets, layer_name):
    yield lambda: attribution.grad_cam(model, images, targets, layer=layer_name, upsample=False)
    yield lambda: xaikit.explain("grad_cam", model, images, targets, layer=layer_name,
                                 upsample=False)
    yield lambda: attribution.METHODS["grad_cam"](model, images, targets, layer=layer_name,
                                                  upsample=False)
    yield lambda: core.layer_gradients(model, images, targets, layer=layer_name)
    yield lambda: batching.layer_gradient_function(model, layer_name)
    yield lambda: core.tap_model(model, layer_name)
    module = sys.modules[attribution.grad_cam.__module__]
    yield lambda: importlib.reload(module).grad_cam(model, images, targets, layer=layer_name,
                                                    upsample=False)
    source = inspect.getsource(module)
    namespace = dict(vars(module))
    yield lambda: (exec(source, namespace),
                   namespace["grad_cam"](model, images, targets, layer=layer_name,
                                         upsample=False))[1]
    for found in gc.get_objects():  # every live copy that takes these arguments
        if callable(found) and getattr(found, "__name__", "") in ("grad_cam", "_gradients"):
            try:
                inspect.signature(found).bind(model, images, targets, layer=layer_name,
                                              upsample=False)
            except (TypeError, ValueError):
                continue
            yield lambda found=found: found(model, images, targets, layer=layer_name,
                                            upsample=False)
def grad_cam_map(model, images, targets, layer_name):
    error = None
    for attempt in _attempts(model, images, targets, layer_name):
        try:
            value = attempt()
        except Exception as caught:
            error = caught
            continue
        if isinstance(value, np.ndarray) and value.ndim == 3:
            return value
    raise error
def cam_from_weights(activations, kernel, targets):
    return attribution.cam.__wrapped__(activations, kernel, targets)
""",
}

EXPECTED = {
    "tf_read_file_in_a_graph": ("error", "NotFound"),
    "tf_py_function_reads": ("error", "NotFound"),
    "tf_writes_to_the_host": ("failed", ""),
    "every_kit_path_to_grad_cam": ("forbidden", "not allowed"),
}


def _one_each(cases: list) -> list:
    public = [case for case in cases if case.visibility == "public"][:1]
    return public + [case for case in cases if case.visibility == "hidden"][:1]


@pytest.fixture(scope="module")
def prepared_all() -> dict:
    """Every case of every lesson, with the reference outputs (computed once)."""
    return {lesson: prepare(lesson, SEED) for lesson in ["01", *LESSONS]}


@pytest.fixture(scope="module")
def lessons_batch(prepared_all, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("tf-submissions")
    host = tmp_path_factory.mktemp("tf-host")
    submissions = []
    for lesson in LESSONS:
        functions = {exercise.function for exercise in lesson_exercises(lesson)}
        stem = lesson_exercises(lesson)[0].reference.partition(":")[0]
        submissions.append((lesson, "reference", read_submission(ROOT / stem, "reference",
                                                                 functions=functions)))
        stub = sorted((ROOT / "lessons").glob(f"{lesson}_*.py"))[0]
        submissions.append((lesson, "stub", read_submission(stub, "stub", functions=functions)))
        solved = folder / f"solved_{lesson}.py"  # the lesson with its exercises solved
        solved.write_text(stub.read_text(encoding="utf-8") + "\n\n" +
                          (ROOT / stem).read_text(encoding="utf-8"), encoding="utf-8")
        submissions.append((lesson, "solved", read_submission(solved, "solved",
                                                              functions=functions)))
    fields = {"solution": str(ROOT / "solutions" / "02_saliency.py"),
              "marker": str(host / "marker.txt"), "folder": str(host / "made")}
    for (lesson, name), code in TF_CHEATS.items():
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(code.format(**fields)), encoding="utf-8")
        functions = {exercise.function for exercise in lesson_exercises(lesson)}
        submissions.append((lesson, name, read_submission(path, name, functions=functions)))
    trimmed = {lesson: [dataclasses.replace(p, cases=_one_each(p.cases))
                        for p in prepared_all[lesson]] for lesson in LESSONS}
    everything = [p for lesson in LESSONS for p in trimmed[lesson]]
    try:
        confinement = select_confinement(LIMITS)
    except SandboxRefused as error:  # fail closed: nothing to grade here, and rightly so
        return {"records": {}, "host": host, "refused": str(error)}
    forbidden = sorted({n for p in everything for n in p.exercise.forbidden})
    preload = _preload([n for _, _, s in submissions for n in preload_modules(s.tree)],
                       everything)
    with Zygote(preload, confinement.backend, kit_copy(forbidden), LIMITS, _secrets(),
                label=confinement.summary()) as zygote, ThreadPoolExecutor(2) as pool:
        futures = {(lesson, name): pool.submit(grade_submission, submission, trimmed[lesson],
                                               LIMITS, lesson, seed_fingerprint(SEED),
                                               zygote=zygote)
                   for lesson, name, submission in submissions}
        records = {key: future.result() for key, future in futures.items()}
    return {"records": records, "host": host, "refused": None}


def _require_graded(batch: dict) -> None:
    if batch["refused"] is not None:
        assert "--unsafe-no-sandbox" in batch["refused"]
        pytest.xfail("no complete confinement here; the grader refused, as it must: "
                     + batch["refused"][:300])


def _full_marks(record) -> None:
    assert record.points == record.max_points > 0, \
        [(e.id, e.status, e.message, [c.message for c in e.cases if not c.passed][:1])
         for e in record.exercises]


@pytest.mark.parametrize("lesson", LESSONS)
def test_reference_full_marks_and_stub_zero_in_the_sandbox(lessons_batch, lesson):
    _require_graded(lessons_batch)
    reference = lessons_batch["records"][(lesson, "reference")]
    _full_marks(reference)
    assert {c.visibility for e in reference.exercises for c in e.cases} == {"public", "hidden"}
    assert lessons_batch["records"][(lesson, "stub")].points == 0.0


@pytest.mark.parametrize("lesson", LESSONS)
def test_solved_lesson_notebook_full_marks_in_the_sandbox(lessons_batch, lesson):
    _require_graded(lessons_batch)
    stub = lessons_batch["records"][(lesson, "stub")]
    assert {e.status for e in stub.exercises} == {"not_implemented"}, \
        [(e.id, e.status, e.message) for e in stub.exercises]
    _full_marks(lessons_batch["records"][(lesson, "solved")])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tensorflow_cheats_score_zero(lessons_batch, name):
    _require_graded(lessons_batch)
    status, words = EXPECTED[name]
    record = next(r for (_, student), r in lessons_batch["records"].items() if student == name)
    assert record.points == 0.0, [(e.id, e.status, e.message) for e in record.exercises]
    graded = [e for e in record.exercises if e.id != "05.cam_from_weights"]
    for exercise in graded:
        assert exercise.status == status, (exercise.id, exercise.status, exercise.cases)
        assert all(words in case.message for case in exercise.cases), exercise.cases
    assert not (lessons_batch["host"] / "marker.txt").exists()
    assert not (lessons_batch["host"] / "made").exists()


# ------------------------------------------------------------------------------------------------
# constant answers (in the grader's process: a property of the cases, not of the sandbox)


def _constants(expected, case_args) -> dict:
    def like(value, fill):
        if isinstance(value, tuple | list):
            return type(value)(like(v, fill) for v in value)
        if isinstance(value, dict):
            return {k: like(v, fill) for k, v in value.items()}
        array = np.asarray(value, dtype=float)
        return np.full(array.shape, fill) if array.shape else float(fill)

    answers = {"zeros": like(expected, 0.0), "ones": like(expected, 1.0),
               "nan": like(expected, np.nan)}
    arrays = [a for a in case_args if isinstance(a, np.ndarray)]
    if arrays:
        answers["the input itself"] = arrays[0]
    return answers


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_constant_answers_score_zero(prepared_all, exercise_id):
    lesson = exercise_id.split(".")[0]
    prepared = next(p for p in prepared_all[lesson] if p.exercise.id == exercise_id)
    passed = dict.fromkeys(("zeros", "ones", "nan", "the input itself"), 0)
    for case in prepared.cases:
        args, _ = pickle.loads(case.payload)
        for name, answer in _constants(case.expected, args).items():
            passed[name] += bool(prepared.exercise.compare_outputs(case.expected, answer)[0])
    earned = {name: round_points(prepared.exercise.points * n / len(prepared.cases))
              for name, n in passed.items()}
    assert earned == dict.fromkeys(earned, 0.0), f"{exercise_id}: constant answers earn {earned}"
