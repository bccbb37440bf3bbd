"""The class report: statistics per exercise, a score histogram, a similarity report, LMS exports.

``xaikit grade --report --out OUT`` writes, for every lesson graded into ``OUT``::

    report/NN/statistics.csv   per exercise: n, mean, median, sd, min, max, share of full
                               marks and of zeros, the statuses seen
    report/NN/histogram.png    the final scores of the class, and each exercise's mean
    report/NN/similarity.csv   pairs of students whose exercise code is alike (normalised-AST
    report/NN/similarity.md    fingerprints, :mod:`xaikit.grading.similarity`), most alike first,
                               those at or above the threshold flagged for a human to look at
    exports/canvas-NN.csv      Canvas gradebook import (Student, ID, SIS User ID, SIS Login ID,
                               Section, the lesson's column)
    exports/moodle-NN.csv      Moodle grade import (ID number, Username, Email address, Full
                               name, the lesson's column)

Code shared by most of the class (the lesson's stub, idioms every solution needs) is left out
of the comparison, as MOSS does; a flag is a reason to look, never a verdict.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from xaikit.base.messages import message
from xaikit.grading.grader import atomic_write
from xaikit.grading.records import Standing
from xaikit.grading.similarity import function_fingerprints, jaccard

SIMILARITY_THRESHOLD = 0.8
"""Default Jaccard similarity at or above which a pair is flagged."""
MIN_FINGERPRINTS = 8
"""Pairs where either side has fewer fingerprints (after removing shared code) are not flagged."""
COMMON_SHARE = 0.5
"""Fingerprints found in more than this share of the class count as common code."""


def exercise_statistics(standings: Sequence[Standing]) -> list[dict[str, object]]:
    """One row per exercise (and one for the lesson's final score) over the class."""
    by_exercise: dict[str, list] = {}
    for standing in standings:
        for exercise in standing.record.exercises:
            by_exercise.setdefault(exercise.id, []).append(exercise)
    rows = []
    for exercise_id, grades in by_exercise.items():
        points = [g.points for g in grades]
        maximum = max(g.max_points for g in grades)
        rows.append(_row(exercise_id, points, maximum,
                         Counter(g.status for g in grades)))
    finals = [s.final for s in standings]
    maximum = max((s.record.max_points for s in standings), default=0.0)
    rows.append(_row("final score", finals, maximum, Counter()))
    return rows


def _row(name: str, points: list[float], maximum: float, statuses: Counter) -> dict[str, object]:
    n = len(points)
    return {"exercise": name, "n": n, "max_points": f"{maximum:g}",
            "mean": f"{statistics.fmean(points):.3g}" if n else "",
            "median": f"{statistics.median(points):.3g}" if n else "",
            "sd": f"{statistics.stdev(points):.3g}" if n > 1 else "",
            "min": f"{min(points):g}" if n else "", "max": f"{max(points):g}" if n else "",
            "full_marks": f"{sum(p >= maximum for p in points) / n:.0%}" if n else "",
            "zero": f"{sum(p == 0 for p in points) / n:.0%}" if n else "",
            "statuses": " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))}


def histogram_png(standings: Sequence[Standing], path: Path, lesson: str) -> Path:
    """A PNG: the histogram of final scores, and each exercise's mean share of its points."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    finals = [s.final for s in standings]
    maximum = max((s.record.max_points for s in standings), default=1.0) or 1.0
    means: dict[str, list[float]] = {}
    for standing in standings:
        for exercise in standing.record.exercises:
            means.setdefault(exercise.id, []).append(
                exercise.points / exercise.max_points if exercise.max_points else 0.0)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
    bins = min(20, max(5, int(maximum * 4)))
    left.hist(finals, bins=bins, range=(0, maximum), color="#4c72b0", edgecolor="white")
    left.set(xlabel=f"final score (of {maximum:g})", ylabel="students",
             title=f"Lesson {lesson}: {len(finals)} students")
    names = list(means)
    right.barh(names, [statistics.fmean(v) for v in means.values()], color="#55a868")
    right.set(xlim=(0, 1), xlabel="mean share of the points", title="per exercise")
    right.invert_yaxis()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    atomic_write(path, buffer.getvalue())
    return path


@dataclass
class Pair:
    a: str
    b: str
    similarity: float
    exercises: str  # the exercises whose code is alike


def similarity_pairs(codes: dict[str, str], functions: Sequence[str], boilerplate: str = "",
                     threshold: float = SIMILARITY_THRESHOLD) -> list[Pair]:
    """Pairs of students whose code of the exercise functions is alike, most alike first.

    Parameters
    ----------
    codes : dict
        Student -> code (only the top-level functions are compared).
    functions : sequence of str
        The exercise functions; helper functions a student adds count with them.
    boilerplate : str
        Code every student received (the lesson): its fingerprints are left out.
    threshold : float
        Pairs at or above it are returned (use 0 for every pair).
    """
    stub = function_fingerprints(boilerplate) if boilerplate else {}
    common = set().union(*stub.values()) if stub else set()
    prints: dict[str, dict[str, set[int]]] = {}
    for student, code in codes.items():
        prints[student] = {name: found - common
                           for name, found in function_fingerprints(code).items()
                           if name in functions or name not in stub}
    counts = Counter(h for per in prints.values() for h in set().union(*per.values()))
    frequent = {h for h, n in counts.items() if n > COMMON_SHARE * len(prints) and len(prints) > 3}
    whole = {s: set().union(*per.values()) - frequent if per else set()
             for s, per in prints.items()}
    pairs = []
    for a, b in combinations(sorted(whole), 2):
        if min(len(whole[a]), len(whole[b])) < MIN_FINGERPRINTS:
            continue
        score = jaccard(whole[a], whole[b])
        if score >= threshold:
            alike = [name for name in functions if name in prints[a] and name in prints[b]
                     and jaccard(prints[a][name] - frequent, prints[b][name] - frequent) >= 0.5]
            pairs.append(Pair(a, b, score, " ".join(alike)))
    return sorted(pairs, key=lambda p: -p.similarity)


def _student_codes(standings: Sequence[Standing]) -> tuple[dict[str, str], list[str]]:
    from xaikit.grading.submission import read_submission

    codes, missing = {}, []
    for standing in standings:
        path = Path(standing.record.submission)
        if not path.is_file():
            missing.append(standing.record.student)
            continue
        submission = read_submission(path, path.stem)
        if submission.error is None:
            codes[standing.record.student] = submission.code
    return codes, missing


def lms_exports(standings: Sequence[Standing], roster: object, lesson: str, out: Path
                ) -> list[Path]:
    """Canvas and Moodle grade-import CSVs of a lesson's final scores."""
    column = f"xaikit lesson {lesson}"
    maximum = max((s.record.max_points for s in standings), default=0.0)
    by_id = getattr(roster, "by_id", {})
    canvas, moodle = io.StringIO(), io.StringIO()
    canvas_writer = csv.writer(canvas, lineterminator="\n")
    moodle_writer = csv.writer(moodle, lineterminator="\n")
    canvas_writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
    canvas_writer.writerow(["Points Possible", "", "", "", "", f"{maximum:g}"])
    moodle_writer.writerow(["ID number", "Username", "Email address", "Full name", column])
    for standing in standings:
        record = standing.record
        entry = by_id.get(record.student)
        name = (entry.name if entry is not None and entry.name else record.name) or record.student
        canvas_id = (entry.canvas_id if entry is not None else "") or (
            record.lms_id if record.layout == "canvas" else "")
        login = entry.login if entry is not None else ""
        email = entry.email if entry is not None else ""
        canvas_writer.writerow([name, canvas_id, record.student, login, "", f"{standing.final:g}"])
        moodle_writer.writerow([record.student, login, email, name, f"{standing.final:g}"])
    paths = [out / "exports" / f"canvas-{lesson}.csv", out / "exports" / f"moodle-{lesson}.csv"]
    atomic_write(paths[0], canvas.getvalue())
    atomic_write(paths[1], moodle.getvalue())
    return paths


def write_report(out: str | os.PathLike[str], lessons: Sequence[str] | None = None,
                 threshold: float | None = None,
                 root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write the class report of ``out`` (see the module docstring); returns the files."""
    from xaikit.exercises.registry import lesson_path
    from xaikit.grading.batch import load_class_roster
    from xaikit.grading.grader import lesson_exercises, normalise_lesson
    from xaikit.grading.reports import class_standings

    out = Path(out)
    threshold = SIMILARITY_THRESHOLD if threshold is None else float(threshold)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(message("number", name="--similarity-threshold", value=threshold,
                                 range=" in (0, 1]"))
    everything = class_standings(out, root)
    if not everything:
        raise ValueError(message("report_empty", out=out))
    wanted = [normalise_lesson(n) for n in lessons] if lessons else sorted(everything)
    roster = load_class_roster(out, None)
    written: list[Path] = []
    for lesson in wanted:
        standings = everything.get(lesson)
        if not standings:
            raise ValueError(message("report_lesson", out=out, lesson=lesson,
                                     graded=", ".join(sorted(everything))))
        folder = out / "report" / lesson
        rows = exercise_statistics(standings)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(folder / "statistics.csv", buffer.getvalue())
        written.append(folder / "statistics.csv")
        written.append(histogram_png(standings, folder / "histogram.png", lesson))
        functions = [e.function for e in lesson_exercises(lesson)]
        try:
            boilerplate = lesson_path(lesson).read_text(encoding="utf-8")
        except (OSError, FileNotFoundError):
            boilerplate = ""
        codes, missing = _student_codes(standings)
        pairs = similarity_pairs(codes, functions, boilerplate, threshold=0.0)
        written += _write_similarity(folder, pairs, threshold, len(codes), missing)
        written += lms_exports(standings, roster, lesson, out)
    return written


def _write_similarity(folder: Path, pairs: list[Pair], threshold: float, n: int,
                      missing: list[str]) -> list[Path]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student_a", "student_b", "similarity", "flagged", "alike_exercises"])
    for pair in pairs[:500]:
        writer.writerow([pair.a, pair.b, f"{pair.similarity:.3f}",
                         "yes" if pair.similarity >= threshold else "", pair.exercises])
    flagged = [p for p in pairs if p.similarity >= threshold]
    lines = [f"# Similarity of {n} submissions", "",
             f"Pairs at or above {threshold:g} (Jaccard similarity of normalised-AST fingerprints "
             "of the exercise functions, code most of the class shares left out): "
             f"**{len(flagged)}**. A flag is a reason for a person to look at both files, never "
             "a verdict: short exercises have few natural solutions.", ""]
    lines += [f"- {p.a} and {p.b}: {p.similarity:.2f} ({p.exercises or 'helpers'})"
              for p in flagged] or ["No pair is flagged."]
    if missing:
        lines += ["", f"Not compared (file no longer at its graded path): {', '.join(missing)}"]
    atomic_write(folder / "similarity.csv", buffer.getvalue())
    atomic_write(folder / "similarity.md", "\n".join(lines) + "\n")
    return [folder / "similarity.csv", folder / "similarity.md"]


__all__ = ["Pair", "exercise_statistics", "histogram_png", "lms_exports", "similarity_pairs",
           "write_report"]
