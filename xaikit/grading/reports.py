"""What the grader writes: ``grades.csv``, per-student feedback, Gradescope ``results.json``.

Layout of ``OUT/``::

    grades.csv                   student, exercise, points, max_points, status (+ cases passed)
    totals.csv                   student, points, max_points
    feedback/STUDENT.md          for the student: each exercise, each failed case and why
    gradescope/STUDENT.json      Gradescope's results.json schema
    state/STUDENT.json           the full record (resume; instructor log tail)

Every file is written atomically (temporary file + ``os.replace``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xaikit.grading.grader import StudentGrade, atomic_write, dumps, round_points

STATUS_WORDS = {
    "passed": "passed",
    "partial": "partly passed",
    "failed": "wrong output",
    "error": "your function raised an error",
    "signature": "wrong signature",
    "timeout": "time limit exceeded",
    "crashed": "the Python process crashed",
    "memory": "memory limit exceeded",
    "forbidden": "calls a forbidden kit function",
    "missing": "function not found",
    "not_implemented": "not implemented",
    "load_error": "your code could not be loaded",
    "syntax": "syntax error",
    "unreadable": "file could not be read",
    "too_large": "output too large",
    "grader_error": "grader problem (not your fault)",
}


def safe_name(student: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in student).strip(".")
    return keep or "student"


def state_path(out: Path, student: str) -> Path:
    return Path(out) / "state" / f"{safe_name(student)}.json"


def load_state(out: Path, student: str) -> StudentGrade | None:
    """The saved record of a student, or None (also when it is unreadable)."""
    path = state_path(out, student)
    try:
        return StudentGrade.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def feedback_markdown(record: StudentGrade) -> str:
    """The student's feedback: score, then each exercise with its failed cases in words."""
    lines = [f"# Lesson {record.lesson}: feedback for {record.student}", "",
             f"**Score: {record.points:g} / {record.max_points:g}**", ""]
    if record.problem:
        lines += [f"> {record.problem}", ""]
    if record.sandbox.startswith("UNSAFE"):
        lines += [f"> Graded without complete confinement: {record.sandbox}", ""]
    for exercise in record.exercises:
        title = f" — {exercise.title}" if exercise.title else ""
        lines.append(f"## {exercise.id}{title}: {exercise.points:g} / {exercise.max_points:g} "
                     f"({STATUS_WORDS.get(exercise.status, exercise.status)})")
        lines.append("")
        if exercise.message and exercise.message != record.problem:
            lines += [exercise.message, ""]
        for visibility in ("public", "hidden"):
            cases = [c for c in exercise.cases if c.visibility == visibility]
            if not cases:
                continue
            passed = sum(c.passed for c in cases)
            lines.append(f"- {visibility} checks: {passed} of {len(cases)} passed")
            for number, case in enumerate(cases, 1):
                if not case.passed:
                    label = f"'{case.name}'" if visibility == "public" else f"hidden case {number}"
                    lines.append(f"  - {label}: {case.message or STATUS_WORDS.get(case.status)}")
        if exercise.status not in ("passed",) and exercise.hint:
            lines += ["", f"*Hint:* {exercise.hint}"]
        lines.append("")
    lines.append("Hidden checks use inputs you have not seen (random models, images and "
                 "targets); they compare your outputs with the reference solution.")
    return "\n".join(lines) + "\n"


def gradescope_results(record: StudentGrade) -> dict[str, Any]:
    """Gradescope's ``results.json``: one test per exercise and visibility.

    Public checks are ``visible``; hidden checks are ``after_published`` (students see them
    once the instructor publishes the grades).  Scores add up to the exercise's points.
    """
    tests = []
    for exercise in record.exercises:
        total = len(exercise.cases)
        public = [c for c in exercise.cases if c.visibility == "public"]
        parts = [("public", public, "visible"),
                 ("hidden", [c for c in exercise.cases if c.visibility == "hidden"],
                  "after_published")]
        if not total:  # nothing ran: one test carrying the whole exercise
            tests.append({"name": exercise.id, "score": 0.0, "max_score": exercise.max_points,
                          "output": exercise.message, "visibility": "visible",
                          "status": "failed"})
            continue
        public_max = round_points(exercise.max_points * len(public) / total)
        public_score = round_points(exercise.max_points * sum(c.passed for c in public) / total)
        if exercise.status == "forbidden":
            public_score = 0.0
        for name, cases, visibility in parts:
            if not cases:
                continue
            if name == "public":
                score, maximum = public_score, public_max
            else:
                score = round_points(exercise.points - public_score)
                maximum = round_points(exercise.max_points - public_max)
            output = [exercise.message] if exercise.message else []
            output += [f"{'✓' if c.passed else '✗'} {c.name if name == 'public' else f'case {i}'}"
                       + ("" if c.passed else f": {c.message}") for i, c in enumerate(cases, 1)]
            tests.append({"name": f"{exercise.id} ({name} checks)", "score": score,
                          "max_score": maximum, "output": "\n".join(output),
                          "visibility": visibility,
                          "status": "passed" if score >= maximum else "failed"})
    return {"score": record.points, "tests": tests, "stdout_visibility": "hidden",
            "output": record.problem or f"Lesson {record.lesson}: {record.points:g} / "
                                        f"{record.max_points:g}"}


def write_student(out: Path, record: StudentGrade) -> None:
    """Write the student's state, feedback and Gradescope files (each atomically)."""
    name = safe_name(record.student)
    out = Path(out)
    atomic_write(out / "feedback" / f"{name}.md", feedback_markdown(record))
    atomic_write(out / "gradescope" / f"{name}.json", dumps(gradescope_results(record)))
    atomic_write(state_path(out, record.student), dumps(record.to_json()))


def write_summary(out: Path, records: Sequence[StudentGrade]) -> None:
    """``grades.csv`` (one row per student and exercise) and ``totals.csv``."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["student", "exercise", "points", "max_points", "status", "passed_cases",
                     "total_cases", "sandbox"])
    totals = io.StringIO()
    total_writer = csv.writer(totals, lineterminator="\n")
    total_writer.writerow(["student", "points", "max_points"])
    for record in records:
        for exercise in record.exercises:
            writer.writerow([record.student, exercise.id, f"{exercise.points:g}",
                             f"{exercise.max_points:g}", exercise.status,
                             sum(c.passed for c in exercise.cases), len(exercise.cases),
                             record.sandbox])
        total_writer.writerow([record.student, f"{record.points:g}", f"{record.max_points:g}"])
    atomic_write(Path(out) / "grades.csv", rows.getvalue())
    atomic_write(Path(out) / "totals.csv", totals.getvalue())
