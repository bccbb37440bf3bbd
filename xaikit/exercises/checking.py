"""Running a student's function on an exercise's cases: :func:`check` and :func:`forbid`."""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from xaikit.exercises.registry import EXERCISES, Case, Exercise, copy_arguments

__all__ = ["CaseResult", "CheckResult", "ForbiddenCallError", "check", "evaluate", "forbid",
           "run_case"]


class ForbiddenCallError(RuntimeError):
    """Raised when a student's function calls a kit function that the exercise forbids."""


@dataclass
class CaseResult:
    """Outcome of one case: ``status`` is passed, failed, error, not_implemented or forbidden."""

    name: str
    status: str
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class CheckResult:
    """Outcome of :func:`check`; true when every public case passed."""

    exercise_id: str
    status: str
    cases: list[CaseResult] = field(default_factory=list)
    message: str = ""

    @property
    def n_passed(self) -> int:
        return sum(case.passed for case in self.cases)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"<CheckResult {self.exercise_id}: {self.status} ({self.n_passed}/{len(self.cases)})>"

    def _ipython_display_(self) -> None:
        """:func:`check` has already printed the feedback: do not echo the result object."""


# --------------------------------------------------------------------------------------------
# forbidden calls


@contextlib.contextmanager
def forbid(names: Sequence[str], exercise_function: str = "this function",
           namespaces: Sequence[dict[str, Any]] = ()) -> Iterator[list[str]]:
    """Temporarily replace kit functions by ones raising :class:`ForbiddenCallError`.

    Parameters
    ----------
    names : sequence of str
        Dotted names such as ``"xaikit.attribution.grad_cam"``.
    exercise_function : str
        The function the student implements (used in the message).
    namespaces : sequence of dict
        Extra namespaces to patch too (e.g. the student function's ``__globals__``).

    Yields
    ------
    list of str
        The dotted names that were called (filled in even if the student's code catches the
        error), so a caller can fail the case regardless.
    """
    called: list[str] = []
    patches: list[tuple[Any, str, Any, bool]] = []  # (container, key, original, is_dict)
    try:
        for dotted in names:
            original = _resolve(dotted)

            def blocked(*args: Any, _dotted: str = dotted, **kwargs: Any) -> Any:
                called.append(_dotted)
                raise ForbiddenCallError(
                    f"this exercise asks you to implement {exercise_function} yourself; calling "
                    f"{_dotted} is not allowed"
                )

            if callable(original):
                functools.update_wrapper(blocked, original)
                del blocked.__wrapped__  # no way back to the original through the stand-in
            for container, key, is_dict in _holders(original, namespaces):
                patches.append((container, key, original, is_dict))
                if is_dict:
                    container[key] = blocked
                else:
                    setattr(container, key, blocked)
        yield called
    finally:
        for container, key, original, is_dict in reversed(patches):
            if is_dict:
                container[key] = original
            else:
                setattr(container, key, original)


def _resolve(dotted: str) -> Any:
    module_name, _, attribute = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"forbidden name {dotted!r} does not exist ({error})") from error


def _holders(original: Any, namespaces: Sequence[dict[str, Any]]) -> list[tuple[Any, str, bool]]:
    """Every xaikit module attribute, module-level registry dict entry and namespace entry
    that holds ``original``."""
    found: list[tuple[Any, str, bool]] = []
    seen: set[int] = set()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "xaikit" or name.startswith("xaikit.")):
            continue
        for key, value in list(vars(module).items()):
            if value is original:
                found.append((module, key, False))
            elif isinstance(value, dict) and id(value) not in seen:
                seen.add(id(value))
                found += [(value, k, True) for k, v in list(value.items()) if v is original]
    for namespace in namespaces:
        if id(namespace) in seen:
            continue
        seen.add(id(namespace))
        found += [(namespace, k, True) for k, v in list(namespace.items()) if v is original]
    return found


# --------------------------------------------------------------------------------------------
# running cases and the in-lesson check


def evaluate(exercise: Exercise, function: Callable[..., Any], cases: Sequence[Case],
             stop_at_first_failure: bool = False) -> list[CaseResult]:
    """Run ``function`` on ``cases`` and compare with the expected outputs.

    The expected output is computed before the student's call (outside :func:`forbid`); the
    student's call runs with the exercise's forbidden functions blocked.  Never raises for
    anything the student's function does.
    """
    results: list[CaseResult] = []
    for case in cases:
        expected = exercise.expected(case)
        outcome = run_case(exercise, function, case)
        if outcome.status == "returned":
            ok, message = exercise.compare_outputs(expected, outcome.value)
            outcome = CaseResult(case.name, "passed" if ok else "failed", message)
        else:
            outcome = CaseResult(case.name, outcome.status, outcome.message)
        results.append(outcome)
        if outcome.status == "not_implemented" or (stop_at_first_failure and not outcome.passed):
            break
    return results


@dataclass
class _Outcome:
    status: str
    message: str = ""
    value: Any = None


def run_case(exercise: Exercise, function: Callable[..., Any], case: Case) -> _Outcome:
    """Call ``function`` on one case with the forbidden calls blocked; classify what happened."""
    args = copy_arguments(case.args)
    kwargs = copy_arguments(dict(case.kwargs))
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError as error:
        call = f"{len(args)} positional argument" + ("s" if len(args) != 1 else "")
        if kwargs:
            call += " and " + ", ".join(f"{key}=..." for key in kwargs)
        return _Outcome("error", f"the checks call {exercise.function}() with {call}, but your "
                                 f"function does not accept that: {error}")
    except ValueError:
        pass  # builtins without a signature: just call them
    namespaces = [function.__globals__] if hasattr(function, "__globals__") else []
    try:
        with forbid(exercise.forbidden, exercise.function, namespaces) as called:
            try:
                value = function(*args, **kwargs)
            finally:
                violations = list(called)
    except ForbiddenCallError as error:
        return _Outcome("forbidden", str(error))
    except NotImplementedError:
        return _Outcome("not_implemented", "not implemented yet (the function still raises "
                                           "NotImplementedError)")
    except Exception as error:
        return _Outcome("error", f"your function raised {type(error).__name__}: {error}"
                                 f"{_student_frame(error, function)}")
    if violations:
        return _Outcome("forbidden", f"this exercise asks you to implement {exercise.function} "
                                     f"yourself; calling {violations[0]} is not allowed")
    return _Outcome("returned", value=value)


def _student_frame(error: BaseException, function: Callable[..., Any]) -> str:
    """" (line N: source)" of the deepest traceback frame in the student's own code."""
    code = getattr(function, "__code__", None)
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if code is not None and frame.filename == code.co_filename]
    if not frames:
        return ""
    last = frames[-1]
    return f" (line {last.lineno}: {last.line})" if last.line else f" (line {last.lineno})"


def check(exercise_id: str | Exercise, function: Any, verbose: bool = True) -> CheckResult:
    """Run the public checks of an exercise on a student's function and print feedback.

    Never raises: whatever goes wrong (an unknown id, a function that raises, a wrong shape)
    is reported in the returned :class:`CheckResult` and the printed message.

    Parameters
    ----------
    exercise_id : str or Exercise
        The exercise, e.g. ``"02.saliency_map"``.
    function : callable
        The student's function.
    verbose : bool
        Print the message (default True).

    Returns
    -------
    CheckResult
        ``status`` is ``passed``, ``failed``, ``not_implemented`` or ``error``; true when passed.
    """
    try:
        result = _check(exercise_id, function)
    except Exception as error:  # a bug in the exercise itself: report, never break the lesson
        name = exercise_id.id if isinstance(exercise_id, Exercise) else str(exercise_id)
        result = CheckResult(name, "error", message=f"{name}: the checks themselves failed "
                             f"({type(error).__name__}: {error}); please report this")
    if verbose:
        print(result.message)
    return result


def _check(exercise_id: str | Exercise, function: Any) -> CheckResult:
    if isinstance(exercise_id, Exercise):
        exercise = exercise_id
    else:
        try:
            exercise = EXERCISES[exercise_id]
        except KeyError as error:
            return CheckResult(str(exercise_id), "error", message=str(error.args[0]))
    name = exercise.id
    if not callable(function):
        return CheckResult(name, "error", message=f"{name}: expected your function "
                           f"{exercise.function}; got a {type(function).__name__}")
    cases = exercise.public()
    results = evaluate(exercise, function, cases)
    total = len(cases)
    passed = sum(result.passed for result in results)
    if results and results[-1].status == "not_implemented":
        return CheckResult(name, "not_implemented", results,
                           f"{name}: not implemented yet (write {exercise.function}, then run "
                           "this cell again)")
    if passed == total:
        return CheckResult(name, "passed", results,
                           f"{name}: public checks passed ({passed}/{total})")
    lines = [f"{name}: {passed}/{total} public checks passed"]
    for number, result in enumerate(results, 1):
        if not result.passed:
            lines.append(f"  case {number} '{result.name}': {result.message}")
    if exercise.hint:
        lines.append(f"  hint: {exercise.hint}")
    return CheckResult(name, "failed", results, "\n".join(lines))
