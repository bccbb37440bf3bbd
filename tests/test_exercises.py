"""The exercise format, generically over every registered exercise, and the check() feedback."""

from __future__ import annotations

import inspect
import sys
import types

import numpy as np
import pytest

from xaikit.exercises import (
    EXERCISES,
    Case,
    Exercise,
    ForbiddenCallError,
    ReferenceNotAvailable,
    check,
    compare_outputs,
    evaluate,
    forbid,
    load_lesson_function,
    load_reference,
)
from xaikit.exercises.registry import lesson_path

IDS = list(EXERCISES)


def test_every_exercise_module_imports():
    assert not EXERCISES.import_errors, EXERCISES.import_errors
    assert "01.linear_attribution" in IDS


# ---------------------------------------------------------------- generic, per exercise


@pytest.fixture(params=IDS)
def exercise(request) -> Exercise:
    return EXERCISES[request.param]


def test_reference_passes_its_public_checks(exercise, kit_root):
    result = check(exercise.id, load_reference(exercise, kit_root), verbose=False)
    assert result.passed, result.message
    assert result.message == f"{exercise.id}: public checks passed ({len(result.cases)}/" \
                             f"{len(result.cases)})"


def test_reference_passes_hidden_cases_for_two_seeds(exercise, kit_root):
    reference = load_reference(exercise, kit_root)
    for seed in (0, 20261123):
        cases = exercise.hidden(seed)
        assert cases, f"{exercise.id}: no hidden cases for seed {seed}"
        assert exercise.oracle is not None or all(c.expected is not None for c in cases)
        failures = [r for r in evaluate(exercise, reference, cases) if not r.passed]
        assert not failures, failures


def _fingerprint(value):
    """Arrays, numbers and containers by value; other objects (models) by type only."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(_fingerprint(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _fingerprint(v)) for k, v in sorted(value.items()))
    if isinstance(value, (int, float, str, bool, np.generic, type(None))):
        return value
    return type(value).__name__


def _cases_fingerprint(cases):
    return [(c.name, _fingerprint(c.args), _fingerprint(dict(c.kwargs))) for c in cases]


def test_hidden_cases_depend_only_on_the_seed(exercise):
    first = _cases_fingerprint(exercise.hidden(7))
    assert first == _cases_fingerprint(exercise.hidden(7)), "same seed, same cases"
    assert first != _cases_fingerprint(exercise.hidden(8)), "another seed, other cases"


def test_lesson_stub_fails_cleanly_as_not_implemented(exercise, kit_root, capsys):
    stub = load_lesson_function(lesson_path(exercise.lesson, kit_root), exercise.function)
    result = check(exercise.id, stub)
    assert result.status == "not_implemented", result.message
    assert not result
    assert capsys.readouterr().out.strip() == (
        f"{exercise.id}: not implemented yet (write {exercise.function}, then run this cell "
        "again)")


def test_stub_and_solution_have_the_same_signature(exercise, kit_root):
    stub = load_lesson_function(lesson_path(exercise.lesson, kit_root), exercise.function)
    reference = load_reference(exercise, kit_root)
    stub_parameters = [(p.name, p.kind, p.default) for p in
                       inspect.signature(stub).parameters.values()]
    reference_parameters = [(p.name, p.kind, p.default) for p in
                            inspect.signature(reference).parameters.values()]
    assert stub_parameters == reference_parameters


def test_lesson_checks_the_exercise_and_reference_is_in_solutions(exercise, kit_root):
    lesson = lesson_path(exercise.lesson, kit_root)
    assert f'check("{exercise.id}", {exercise.function})' in lesson.read_text()
    path, _, _ = exercise.reference.partition(":")
    assert path == f"solutions/{lesson.name}", "the solutions file has the lesson's stem"


def test_forbidden_names_exist(exercise):
    with forbid(exercise.forbidden, exercise.function):
        pass


# ---------------------------------------------------------------- check() feedback


def _exercise(**changes) -> Exercise:
    settings = dict(id="99.double", function="double", points=1,
                    public_cases=[Case("two numbers", (np.array([1.0, 2.0]),)),
                                  Case("a matrix", (np.arange(6.0).reshape(2, 3),))],
                    hidden_cases=lambda seed: [], oracle=lambda x: 2 * x,
                    reference="solutions/99_none.py:double", hint="multiply by two")
    settings.update(changes)
    return Exercise(**settings)


def test_check_reports_which_case_failed_and_why(capsys):
    def double(x):
        return x * 2 if x.ndim == 1 else (x * 2).T

    result = check(_exercise(), double)
    assert result.status == "failed" and result.n_passed == 1
    assert capsys.readouterr().out.splitlines() == [
        "99.double: 1/2 public checks passed",
        "  case 2 'a matrix': output: shape: expected (2, 3), got (3, 2) (same number of "
        "entries: check the axis order or a reshape)",
        "  hint: multiply by two"]


def test_check_never_raises(capsys):
    def crashes(x):
        return {}["missing"]

    crashed = check(_exercise(), crashes, verbose=False)
    assert crashed.status == "failed" and crashed.cases[0].status == "error"
    assert "case 1 'two numbers': your function raised KeyError: 'missing' (line " \
        in crashed.message
    assert check("98.nope", crashes).status == "error"
    assert "no exercise '98.nope'" in capsys.readouterr().out
    assert check(_exercise(), "not a function", verbose=False).status == "error"
    wrong_signature = check(_exercise(), lambda x, y: x, verbose=False)
    assert ("with 1 positional argument, but your function does not accept that: missing a "
            "required argument") in wrong_signature.message
    broken_oracle = check(_exercise(oracle=lambda x: 1 / 0), lambda x: x, verbose=False)
    assert broken_oracle.status == "error" and "checks themselves failed" in broken_oracle.message


@pytest.mark.parametrize("expected, got, message", [
    (np.zeros((2, 3)), None, "returned None (did you forget `return`?)"),
    (np.zeros((2, 3)), np.zeros((1, 2, 3)), "only size-1 axes differ"),
    (np.zeros(3), np.zeros(3, dtype=np.int64), "dtype: expected a floating-point array"),
    (np.zeros(3), np.array([0.0, np.nan, 0.0]), "1 entries are NaN or infinite, the first at "
                                                "index (1,)"),
    (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.5]]),
     "1 of 4 entries differ; max abs diff 0.5 at index (1, 1): expected 4, got 4.5"),
    ((np.zeros(2), np.ones(2)), (np.zeros(2), np.zeros(2)), "output[1]: values"),
    ((np.zeros(2), np.ones(2)), np.zeros(2), "expected a tuple of 2 outputs"),
    (np.zeros(2), "text", "expected a numeric array"),
    ("Yes", "No", "expected 'Yes', got 'No'"),
])
def test_compare_says_what_differs(expected, got, message):
    ok, text = compare_outputs(expected, got)
    assert not ok
    assert message in text


def test_compare_accepts_close_values_and_float32():
    expected = np.linspace(0, 1, 5)
    assert compare_outputs(expected, expected.astype(np.float32)) == (True, "")


# ---------------------------------------------------------------- forbidden calls


@pytest.fixture
def fake_kit(monkeypatch):
    module = types.ModuleType("xaikit._fake_kit")

    def grad_cam(x):
        return 2 * x

    module.grad_cam = grad_cam
    module.METHODS = {"grad_cam": grad_cam}
    monkeypatch.setitem(sys.modules, "xaikit._fake_kit", module)
    return module


def _student(source: str):
    namespace: dict = {}
    exec(source, namespace)
    return namespace["double"]


def test_forbidden_call_fails_the_check_with_a_clear_message(fake_kit):
    exercise = _exercise(forbidden=["xaikit._fake_kit.grad_cam"])
    original = fake_kit.grad_cam
    attempts = {
        "by module": "import xaikit._fake_kit as kit\ndef double(x):\n    return kit.grad_cam(x)",
        "by name": "from xaikit._fake_kit import grad_cam\ndef double(x):\n"
                   "    return grad_cam(x)",
        "by registry": "from xaikit._fake_kit import METHODS\ndef double(x):\n"
                       "    return METHODS['grad_cam'](x)",
        "through __wrapped__": "import xaikit._fake_kit as kit\ndef double(x):\n"
                               "    return getattr(kit.grad_cam, '__wrapped__', kit.grad_cam)(x)",
        "swallowing the error": "from xaikit._fake_kit import grad_cam\ndef double(x):\n"
                                "    try:\n        return grad_cam(x)\n"
                                "    except Exception:\n        return 2 * x",
    }
    for how, source in attempts.items():
        result = check(exercise, _student(source), verbose=False)
        assert result.status == "failed", how
        assert result.cases[0].status == "forbidden", how
        assert result.cases[0].message == ("this exercise asks you to implement double "
                                           "yourself; calling xaikit._fake_kit.grad_cam is not "
                                           "allowed"), how
    assert fake_kit.grad_cam is original and fake_kit.METHODS["grad_cam"] is original
    honest = _student("def double(x):\n    return x + x")
    assert check(exercise, honest, verbose=False).passed


def test_forbid_restores_after_an_error(fake_kit):
    original = fake_kit.grad_cam
    with pytest.raises(ForbiddenCallError, match="implement saliency yourself"):
        with forbid(["xaikit._fake_kit.grad_cam"], "saliency"):
            fake_kit.grad_cam(1)
    assert fake_kit.grad_cam is original
    with pytest.raises(ValueError, match="does not exist"):
        with forbid(["xaikit._fake_kit.nothing"]):
            pass


def test_reference_missing_in_student_bundle(tmp_path):
    with pytest.raises(ReferenceNotAvailable, match="instructor-side only"):
        load_reference("01.linear_attribution", root=tmp_path)
