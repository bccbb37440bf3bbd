"""Exercises: declared once in ``xaikit/exercises/lessonNN.py``, checked in place by :func:`check`.

In a lesson::

    from xaikit.exercises import check

    def linear_attribution(weights, inputs, baseline=0.0):
        raise NotImplementedError("your code here")

    check("01.linear_attribution", linear_attribution)

See :mod:`xaikit.exercises.registry` for the format of a declaration, and
:mod:`xaikit.exercises.help` for ``hint("NN.name")`` and ``solution("NN.name")`` (self-study).
"""

from xaikit.exercises.checking import (
    CaseResult,
    CheckResult,
    ForbiddenCallError,
    check,
    evaluate,
    forbid,
    run_case,
)
from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.help import hint, self_study, solution
from xaikit.exercises.registry import (
    EXERCISES,
    Case,
    Exercise,
    ReferenceNotAvailable,
    load_lesson_function,
    load_reference,
    register,
)

__all__ = [
    "EXERCISES",
    "Case",
    "CaseResult",
    "CheckResult",
    "Exercise",
    "ForbiddenCallError",
    "ReferenceNotAvailable",
    "check",
    "compare_outputs",
    "evaluate",
    "forbid",
    "hint",
    "load_lesson_function",
    "load_reference",
    "register",
    "run_case",
    "self_study",
    "solution",
]
