"""What the grader writes for a class: CSVs from every record, feedback, Gradescope results.

Layout of ``OUT/`` (besides the records, see :mod:`xaikit.grading.records`)::

    grades.csv              lesson, student, exercise, points, max_points, status, cases, ...
    totals.csv              lesson, student, points, late days and multiplier, final points
    gradebook.csv           one row per student (the roster's, and anyone graded), one column
                            per lesson (final points), the total
    files-NN.csv            the files of the last run of lesson NN: graded, ignored, unmatched
    feedback/NN/STUDENT.md  for the student: the counting submission's score and why
    gradescope/NN/STUDENT.json   Gradescope's results.json schema

All of them are rebuilt from every record in ``OUT`` after each run, so a submission graded
alone into the class folder never hides the others.  Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xaikit.exercises.registry import Exercise
from xaikit.grading.grader import (
    CaseGrade,
    StudentGrade,
    atomic_write,
    dumps,
    redact_hidden,
    round_points,
)
from xaikit.grading.identity import Identified, safe_name
from xaikit.grading.records import (
    CHANGE_WORDS,
    RecordStore,
    Standing,
    exercise_fingerprint,
    lesson_roots,
    standings,
)

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
HINT_HELPS = ("failed", "partial", "error", "not_implemented")
"""Statuses where the exercise's hint is shown (not for a missing function, a syntax error...)."""


def feedback_path(out: Path, lesson: str, student: str) -> Path:
    """``OUT/feedback/NN/STUDENT.md``."""
    return Path(out) / "feedback" / lesson / f"{safe_name(student)}.md"


def gradescope_path(out: Path, lesson: str, student: str) -> Path:
    """``OUT/gradescope/NN/STUDENT.json``."""
    return Path(out) / "gradescope" / lesson / f"{safe_name(student)}.json"


def _message_shape(case: CaseGrade) -> str:
    """What kind of failure a case's message names: its hidden-case form (no expected values)
    with numbers and quoted values blanked, so that alike public and hidden failures group."""
    message = case.message or case.status
    text = redact_hidden(message) if case.visibility == "public" else message
    text = re.sub(r"'[^']*'|`[^`]*`", "'…'", text)
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "#", text)


def group_failures(cases: Sequence[CaseGrade]) -> list[tuple[str, list[CaseGrade]]]:
    """Failed cases grouped by what went wrong: (one message, the cases it applies to)."""
    groups: dict[tuple[str, str], list[CaseGrade]] = {}
    for case in cases:
        if not case.passed:
            key = (case.status, _message_shape(case))
            groups.setdefault(key, []).append(case)
    result = []
    for members in groups.values():
        shown = next((c for c in members if c.visibility == "public"), members[0])
        result.append((shown.message or STATUS_WORDS.get(shown.status, shown.status), members))
    return result


def _case_list(cases: Sequence[CaseGrade]) -> str:
    parts = []
    for visibility in ("public", "hidden"):
        names = [f"'{c.name}'" for c in cases if c.visibility == visibility]
        if names:
            parts.append(f"{visibility} {', '.join(names)}")
    return "; ".join(parts)


def feedback_markdown(record: StudentGrade, standing: Standing | None = None) -> str:
    """The student's feedback: score (late penalty, overrides), then each exercise with one
    line per distinct failure and the cases it concerns (hidden cases by description only)."""
    lines = [f"# Lesson {record.lesson}: feedback for {record.name or record.student}", ""]
    score = f"**Score: {record.points:g} / {record.max_points:g}**"
    if standing is not None and standing.multiplier < 1.0:
        score += (f" — handed in {standing.days_late} day(s) late: {standing.multiplier:.2g} of "
                  f"the points kept, **final {standing.final:g} / {record.max_points:g}**")
    lines += [score, ""]
    if record.submission:
        when = f", handed in {record.submitted_at}" if record.submitted_at else ""
        lines += [f"Graded: `{Path(record.submission).name}`{when}.", ""]
    if record.problem:
        lines += [f"> {record.problem}", ""]
    if record.sandbox.startswith("UNSAFE"):
        lines += [f"> Graded without complete confinement: {record.sandbox}", ""]
    if record.notes:
        lines += ["How your code was loaded:", ""] + [f"- {note}" for note in record.notes] + [""]
    for exercise in record.exercises:
        title = f" — {exercise.title}" if exercise.title else ""
        lines.append(f"## {exercise.id}{title}: {exercise.points:g} / {exercise.max_points:g} "
                     f"({STATUS_WORDS.get(exercise.status, exercise.status)})")
        lines.append("")
        if exercise.override_why:
            lines += [f"Set by your instructor (the grader gave {exercise.grader_points:g}): "
                      f"{exercise.override_why}", ""]
        if exercise.message and exercise.message != record.problem:
            lines += [exercise.message, ""]
        if exercise.cases:
            passed = sum(c.passed for c in exercise.cases)
            counts = ", ".join(
                f"{visibility} {sum(c.passed for c in exercise.cases if c.visibility == visibility)}"
                f" of {sum(c.visibility == visibility for c in exercise.cases)}"
                for visibility in ("public", "hidden")
                if any(c.visibility == visibility for c in exercise.cases))
            lines += [f"Checks passed: {passed} of {len(exercise.cases)} ({counts}).", ""]
            for message, members in group_failures(exercise.cases):
                if message == exercise.message:
                    continue
                cases = _case_list(members)
                lines.append(f"- {message} — {len(members)} case(s): {cases}"
                             if len(members) > 1 else f"- {message} — {cases}")
        if exercise.status in HINT_HELPS and exercise.hint:
            lines += ["", f"*Hint:* {exercise.hint}"]
        lines.append("")
    lines.append("Hidden checks use inputs you have not seen (random models, images and "
                 "targets, and the edge cases their descriptions name); they compare your "
                 "outputs with the reference solution.")
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
            output += [f"{'✓' if c.passed else '✗'} {c.name}" + ("" if c.passed else
                                                                  f": {c.message}")
                       for c in cases]
            tests.append({"name": f"{exercise.id} ({name} checks)", "score": score,
                          "max_score": maximum, "output": "\n".join(output),
                          "visibility": visibility,
                          "status": "passed" if score >= maximum else "failed"})
    head = record.problem or f"Lesson {record.lesson}: {record.points:g} / {record.max_points:g}"
    notes = [f"Graded: {Path(record.submission).name}"] if record.submission else []
    notes += record.notes
    if record.sandbox:
        notes.append(f"Sandbox: {record.sandbox}")
    return {"score": record.points, "tests": tests, "stdout_visibility": "hidden",
            "output": "\n".join([head, *notes])}


def write_student(out: Path, record: StudentGrade, standing: Standing | None = None) -> None:
    """Write the student's feedback and Gradescope files for ``record`` (each atomically)."""
    atomic_write(feedback_path(out, record.lesson, record.student),
                 feedback_markdown(record, standing))
    atomic_write(gradescope_path(out, record.lesson, record.student),
                 dumps(gradescope_results(record)))


def write_file_list(out: Path, lesson: str, identified: Identified) -> None:
    """``OUT/files-NN.csv``: every file of the run, graded, ignored or unmatched, and why."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["file", "student", "status", "reason"])
    for found in identified.submissions:
        writer.writerow([found.path, found.student, "graded", found.note])
    for skipped in identified.ignored:
        writer.writerow([skipped.path, "", "ignored", skipped.reason])
    for skipped in identified.unmatched:
        writer.writerow([skipped.path, "", "unmatched", skipped.reason])
    atomic_write(Path(out) / f"files-{lesson}.csv", rows.getvalue())


def folder_seed(out: Path) -> str | None:
    import json

    try:
        return json.loads((Path(out) / "grader.json").read_text(encoding="utf-8")).get(
            "seed_fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def class_standings(out: Path, root: str | Path | None = None) -> dict[str, list[Standing]]:
    """Standings of every lesson graded into ``out``, with current points and fingerprints
    (of the references in ``root``, default the kit's)."""
    from xaikit.grading.grader import lesson_exercises

    seed = folder_seed(out)
    roots = lesson_roots(out)
    result = {}
    for lesson in RecordStore(out).lessons():
        try:
            exercises = lesson_exercises(lesson)
        except ValueError:
            exercises = []
        where = roots[lesson] if lesson in roots else root
        prints = {e.id: exercise_fingerprint(e, where) for e in exercises}
        result[lesson] = standings(out, lesson, exercises, prints, seed)
    return result


def write_class(out: Path, lesson: str, exercises: Sequence[Exercise],
                fingerprints: dict[str, dict[str, str]], seed_fingerprint: str,
                root: str | Path | None = None) -> list[Standing]:
    """Feedback of every student of ``lesson`` and the class CSVs of every lesson in ``out``
    (``root``: the kit folder holding the references, for the other lessons' staleness)."""
    current = standings(out, lesson, exercises, fingerprints, seed_fingerprint)
    for standing in current:
        write_student(out, standing.record, standing)
    everything = class_standings(out, root)
    everything[lesson] = current
    write_summary(out, everything)
    return current


def write_summary(out: Path, by_lesson: dict[str, list[Standing]]) -> None:
    """``grades.csv``, ``totals.csv`` and ``gradebook.csv`` from the standings."""
    from xaikit.grading.batch import load_class_roster

    out = Path(out)
    grades = io.StringIO()
    writer = csv.writer(grades, lineterminator="\n")
    writer.writerow(["lesson", "student", "name", "exercise", "points", "max_points", "status",
                     "passed_cases", "total_cases", "override", "stale", "sandbox"])
    totals = io.StringIO()
    total_writer = csv.writer(totals, lineterminator="\n")
    total_writer.writerow(["lesson", "student", "name", "points", "max_points", "days_late",
                           "late_multiplier", "final", "submissions", "submitted_at",
                           "marked_late", "file", "sha", "stale"])
    for lesson in sorted(by_lesson):
        for standing in by_lesson[lesson]:
            record = standing.record
            for exercise in record.exercises:
                stale = ", ".join(CHANGE_WORDS[k] for k in standing.stale.get(exercise.id, []))
                writer.writerow([lesson, record.student, record.name, exercise.id,
                                 f"{exercise.points:g}", f"{exercise.max_points:g}",
                                 exercise.status, sum(c.passed for c in exercise.cases),
                                 len(exercise.cases), exercise.override_why, stale,
                                 record.sandbox])
            total_writer.writerow([
                lesson, record.student, record.name, f"{record.points:g}",
                f"{record.max_points:g}", standing.days_late, f"{standing.multiplier:.4g}",
                f"{standing.final:g}", standing.submissions, record.submitted_at,
                "yes" if record.late else "", Path(record.submission).name, record.sha256[:12],
                "yes" if standing.stale else ""])
    atomic_write(out / "grades.csv", grades.getvalue())
    atomic_write(out / "totals.csv", totals.getvalue())
    atomic_write(out / "gradebook.csv", gradebook_csv(by_lesson, load_class_roster(out, None)))


def gradebook_csv(by_lesson: dict[str, list[Standing]], roster: Any = None) -> str:
    """One row per student (roster order first), one column per lesson (final points)."""
    lessons = sorted(by_lesson)
    finals: dict[str, dict[str, float]] = {}
    names: dict[str, str] = {}
    maxima = {lesson: max((s.record.max_points for s in by_lesson[lesson]), default=0.0)
              for lesson in lessons}
    for lesson in lessons:
        for standing in by_lesson[lesson]:
            finals.setdefault(standing.record.student, {})[lesson] = standing.final
            names[standing.record.student] = standing.record.name
    students = [entry.id for entry in roster.entries] if roster is not None else []
    students += sorted(s for s in finals if s not in students)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["student", "name",
                     *[f"lesson {lesson} (of {maxima[lesson]:g})" for lesson in lessons],
                     "total", "max_total"])
    for student in students:
        entry = roster.by_id.get(student) if roster is not None else None
        name = entry.name if entry is not None and entry.name else names.get(student, "")
        scores = [finals.get(student, {}).get(lesson) for lesson in lessons]
        writer.writerow([student, name, *["" if s is None else f"{s:g}" for s in scores],
                         f"{round_points(sum(s or 0.0 for s in scores)):g}",
                         f"{round_points(sum(maxima.values())):g}"])
    return rows.getvalue()


__all__ = ["STATUS_WORDS", "class_standings", "feedback_markdown", "feedback_path",
           "gradebook_csv", "gradescope_path", "gradescope_results", "group_failures",
           "write_class", "write_file_list", "write_student", "write_summary"]
