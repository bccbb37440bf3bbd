"""Cases that cannot be passed without solving: the constant-answer check.

A case is *degenerate* when an answer that ignores the inputs passes it: zeros, ones or NaN of
the expected shape and dtype, or one of the case's own array arguments returned as it is.  Such a
case hands out points for nothing (an all-zeros Grad-CAM map "matches" a target whose map is all
zero), so every exercise must have none; :func:`degenerate_cases` finds them, the grader warns
the instructor when a seed draws one, and the test suite requires that no exercise has one.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from xaikit.exercises.registry import Case, Exercise


def _like(expected: Any, fill: float) -> Any:
    """``fill`` in the shape (and, for floats, the dtype) of ``expected``, containers alike."""
    if isinstance(expected, (tuple, list)):
        return type(expected)(_like(e, fill) for e in expected)
    if isinstance(expected, dict):
        return {k: _like(v, fill) for k, v in expected.items()}
    array = np.asarray(expected)
    if array.dtype.kind not in "biuf":
        return expected
    value = np.full(array.shape, fill, dtype=array.dtype if array.dtype.kind == "f" else np.float64)
    if array.dtype.kind in "biu" and fill == fill:
        value = value.astype(array.dtype)
    return value


def constant_answers(case: Case, expected: Any) -> Iterator[tuple[str, Any]]:
    """(name, answer) of every constant answer tried against ``case``."""
    yield "zeros", _like(expected, 0.0)
    yield "ones", _like(expected, 1.0)
    yield "NaN", _like(expected, float("nan"))
    arguments = list(case.args) + list(dict(case.kwargs).values())
    for index, argument in enumerate(arguments):
        if isinstance(argument, np.ndarray):
            yield f"argument {index + 1} returned as it is", argument.copy()


def degenerate_answers(exercise: Exercise, case: Case, expected: Any) -> list[str]:
    """The constant answers that pass ``case`` (empty for a good case)."""
    passing = []
    for name, answer in constant_answers(case, expected):
        try:
            ok, _ = exercise.compare_outputs(expected, answer)
        except Exception:  # a compare that cannot take the answer rejects it
            ok = False
        if ok:
            passing.append(name)
    return passing


def degenerate_cases(exercise: Exercise, cases: list[tuple[Case, Any]]) -> list[str]:
    """One sentence per (case, expected) pair of ``exercise`` that a constant answer passes."""
    problems = []
    for case, expected in cases:
        passing = degenerate_answers(exercise, case, expected)
        if passing:
            problems.append(f"{exercise.id}: case {case.name!r} is passed by a constant answer "
                            f"({', '.join(passing)})")
    return problems


def degenerate_prepared(prepared: Sequence[Any]) -> list[str]:
    """:func:`degenerate_cases` of the grader's prepared exercises (their inputs unpickled)."""
    problems = []
    for item in prepared:
        pairs = []
        for case in item.cases:
            args, kwargs = pickle.loads(case.payload)  # the grader's own pickles, never a child's
            pairs.append((Case(case.name, args, kwargs), case.expected))
        problems += degenerate_cases(item.exercise, pairs)
    return problems


__all__ = ["constant_answers", "degenerate_answers", "degenerate_cases", "degenerate_prepared"]
