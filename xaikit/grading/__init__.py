"""Batch grading of exercise submissions with hidden checks, in a sandbox.

- :mod:`xaikit.grading.grader` — seed, hidden cases, references, scoring one submission;
- :mod:`xaikit.grading.sandbox` — the isolated child process and its result channel;
- :mod:`xaikit.grading.submission` — reading notebooks and ``.py`` files (what runs);
- :mod:`xaikit.grading.batch` — grading a class: what to grade, resume, regrades;
- :mod:`xaikit.grading.identity` — whose file is this: folders, Canvas, Moodle, the roster;
- :mod:`xaikit.grading.records` — every graded submission kept; late policy, overrides, what
  counts;
- :mod:`xaikit.grading.reports` — ``grades.csv``, ``totals.csv``, the gradebook, feedback,
  Gradescope ``results.json``;
- :mod:`xaikit.grading.classreport` — statistics, histogram, similarity, Canvas/Moodle CSV;
- :mod:`xaikit.grading.similarity` — normalised-AST fingerprints of code;
- :mod:`xaikit.grading.quality` — the constant-answer check of exercise cases;
- :mod:`xaikit.grading.release` — the student handout and the Gradescope autograder bundle.

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
    if name in ("GradeOptions", "grade"):
        return getattr(importlib.import_module("xaikit.grading.batch"), name)
    if name in __all__:
        return getattr(importlib.import_module("xaikit.grading.grader"), name)
    raise AttributeError(f"module 'xaikit.grading' has no attribute {name!r}")
