"""Batch grading of exercise submissions with hidden checks, in a sandbox.

- :mod:`xaikit.grading.grader` — seed, hidden cases, references, scoring, the batch run;
- :mod:`xaikit.grading.sandbox` — the isolated child process and its result channel;
- :mod:`xaikit.grading.submission` — reading notebooks and ``.py`` files;
- :mod:`xaikit.grading.reports` — ``grades.csv``, feedback Markdown, Gradescope ``results.json``;
- :mod:`xaikit.grading.release` — the student bundle and the Gradescope autograder bundle.

The instructors' guide (``docs/instructors.md``) explains how to use them.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["GradeOptions", "Limits", "StudentGrade", "grade", "resolve_seed"]


def __getattr__(name: str) -> Any:
    # lazy, so that the sandbox child (``python -m xaikit.grading.sandbox``) imports only itself
    if name == "Limits":
        return importlib.import_module("xaikit.grading.sandbox").Limits
    if name in __all__:
        return getattr(importlib.import_module("xaikit.grading.grader"), name)
    raise AttributeError(f"module 'xaikit.grading' has no attribute {name!r}")
