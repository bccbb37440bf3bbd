"""Every graded submission, kept: the record store of an output folder, and what counts.

Layout of ``OUT/`` (each file written atomically)::

    grader.json                     the seed fingerprint the folder is graded with
    records/NN/STUDENT/SHA.json     one record per student, lesson and submitted file content
    policy.json                     per lesson: deadline, late factor per day, cap, what counts
    overrides.json                  manual grades (student, exercise, points, why, when)
    choices.json                    per lesson and student: the submission that counts, if pinned
    roster.csv                      the class list, when one was given

A record is never overwritten by another submission: a resubmission (a late copy, a file
graded alone into the class folder) adds a record, and the class's CSVs are always rebuilt from
every record in the folder.  Which record counts: the pinned one, else the latest submitted
(the file's modification time), or the best with ``counts="best"``.

Each exercise grade remembers the fingerprint of what it was graded against (the reference
solution's source, the comparison and its tolerances, the points, the case builders) so that a
change is detected (:func:`stale_exercises`); a change of points alone is re-scored from the
stored case results without running anything (:func:`rescore_points`).
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import functools
import hashlib
import inspect
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xaikit.base.messages import message
from xaikit.exercises.registry import Exercise, kit_root
from xaikit.grading.grader import (
    GRADER_VERSION,
    ExerciseGrade,
    StudentGrade,
    atomic_write,
    dumps,
    round_points,
)
from xaikit.grading.identity import safe_name

FORCED_ZERO = ("forbidden", "missing", "load_error", "unreadable", "syntax", "grader_error")
COUNTS = ("latest", "best")


def now() -> str:
    """The current time, ISO 8601 with the local offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def file_time(path: str | os.PathLike[str]) -> str:
    """A file's modification time (its hand-in time in LMS exports), ISO 8601 with offset."""
    stamp = Path(path).stat().st_mtime
    return dt.datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds")


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 date or date-time; a date means the end of that day; no offset means local.

    Raises
    ------
    ValueError
        If ``text`` is not a date.
    """
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(message("expected", name="--deadline",
                                 expected="a date such as 2025-03-01 or 2025-03-01T23:59",
                                 got=repr(text), fix="")) from None
    if len(text.strip()) == 10:
        value = value.replace(hour=23, minute=59, second=59)
    return value if value.tzinfo else value.astimezone()


# ================================================================================================
# fingerprints of what an exercise is graded against


def _source_hash(function: Any) -> str:
    try:
        text = inspect.getsource(function)
    except (OSError, TypeError):
        text = getattr(function, "__qualname__", repr(function))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _bound(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _reference_hash(exercise: Exercise, root: Path) -> str:
    """Hash of the reference function's AST and of the module-level statements it uses
    (formatting, comments and the file's other functions do not count)."""
    relative, _, name = exercise.reference.partition(":")
    try:
        tree = ast.parse((root / relative).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return "missing"
    binders: dict[str, list[ast.stmt]] = {}
    for node in tree.body:
        for bound in _bound(node):
            binders.setdefault(bound, []).append(node)
    if name not in binders:
        return "missing"
    used: list[ast.stmt] = []
    todo, seen = [binders[name][-1]], set()
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        used.append(node)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                todo += binders.get(sub.id, [])
    text = "".join(ast.dump(node) for node in sorted(used, key=lambda n: n.lineno))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _compare_text(exercise: Exercise) -> str:
    compare = exercise.compare
    if compare is None:
        return "compare_outputs()"
    if isinstance(compare, functools.partial):
        keywords = ", ".join(f"{k}={v!r}" for k, v in sorted(compare.keywords.items()))
        return f"{getattr(compare.func, '__qualname__', compare.func)}({keywords}) " \
               f"{_source_hash(compare.func)}"
    return f"{getattr(compare, '__qualname__', compare)} {_source_hash(compare)}"


def exercise_fingerprint(exercise: Exercise, root: str | os.PathLike[str] | None = None
                         ) -> dict[str, str]:
    """What a grade of ``exercise`` depends on besides the submission and the seed.

    Returns
    -------
    dict
        ``reference`` (hash of the reference solution's code), ``tolerance`` (the comparison and
        its keywords), ``points``, ``cases`` (hash of the case builders' source).
    """
    root = Path(root) if root is not None else kit_root()
    public = exercise.public_cases
    cases = (_source_hash(public) if callable(public) else
             hashlib.sha256(repr(public).encode()).hexdigest()[:16])
    return {"reference": _reference_hash(exercise, root), "tolerance": _compare_text(exercise),
            "points": f"{float(exercise.points):g}",
            "cases": cases + ":" + _source_hash(exercise.hidden_cases)}


CHANGE_WORDS = {"reference": "the reference solution", "tolerance": "the comparison tolerances",
                "cases": "the cases", "points": "the points", "seed": "the seed"}


def stale_exercises(record: StudentGrade, current: dict[str, dict[str, str]],
                    seed_fingerprint: str | None = None) -> dict[str, list[str]]:
    """Exercises of ``record`` graded against something that has changed since, with what.

    Points are left out: :func:`rescore_points` applies a change of points without re-running.
    """
    stale: dict[str, list[str]] = {}
    for grade in record.exercises:
        now_print = current.get(grade.id)
        if now_print is None:
            continue
        changed = [key for key in ("reference", "tolerance", "cases")
                   if grade.fingerprint.get(key) != now_print.get(key)]
        if seed_fingerprint is not None and record.seed_fingerprint != seed_fingerprint:
            changed.append("seed")
        if changed:
            stale[grade.id] = changed
    return stale


def rescore_points(record: StudentGrade, exercises: Sequence[Exercise]) -> list[str]:
    """Apply the current points of each exercise to a record from its stored case results.

    Returns the ids whose points changed.
    """
    points = {exercise.id: float(exercise.points) for exercise in exercises}
    changed = []
    for grade in record.exercises:
        if grade.id in points and grade.max_points != points[grade.id]:
            grade.max_points = points[grade.id]
            grade.score()
            changed.append(grade.id)
    return changed


# ================================================================================================
# the store


class RecordStore:
    """The records under ``OUT/records``."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)

    def path(self, lesson: str, student: str, sha256: str) -> Path:
        return self.out / "records" / lesson / safe_name(student) / f"{sha256[:16] or 'none'}.json"

    def save(self, record: StudentGrade) -> Path:
        path = self.path(record.lesson, record.student, record.sha256)
        atomic_write(path, dumps(record.to_json()))
        return path

    def find(self, lesson: str, student: str, sha256: str) -> StudentGrade | None:
        return _load(self.path(lesson, student, sha256))

    def lessons(self) -> list[str]:
        folder = self.out / "records"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    def load(self, lesson: str) -> list[StudentGrade]:
        """Every record of a lesson (unreadable files are skipped), oldest submission first."""
        folder = self.out / "records" / lesson
        records = [r for r in (_load(p) for p in sorted(folder.glob("*/*.json"))) if r]
        return sorted(records, key=lambda r: (r.student, _when(r)))

    def students(self, lesson: str | None = None) -> set[str]:
        lessons = [lesson] if lesson else self.lessons()
        return {record.student for name in lessons for record in self.load(name)}


def _load(path: Path) -> StudentGrade | None:
    try:
        record = StudentGrade.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return record if record.version == GRADER_VERSION else None


# ================================================================================================
# the folder's seed


def check_seed(out: str | os.PathLike[str], fingerprint: str, change: bool = False) -> str | None:
    """Record the folder's seed fingerprint, or refuse another one.

    Returns the previous fingerprint when ``change`` replaced it, else None.

    Raises
    ------
    ValueError
        If the folder was graded with another seed and ``change`` is false.
    """
    path = Path(out) / "grader.json"
    try:
        previous = json.loads(path.read_text(encoding="utf-8")).get("seed_fingerprint")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous == fingerprint:
        return None
    if previous and not change:
        raise ValueError(message("grade_seed_changed", out=out, previous=previous,
                                 current=fingerprint))
    data = _read_json(path, {})
    data.update({"seed_fingerprint": fingerprint, "since": now()})
    atomic_write(path, dumps(data))
    return previous


def remember_root(out: str | os.PathLike[str], lesson: str,
                  root: str | os.PathLike[str] | None) -> None:
    """Keep the kit folder a lesson is graded against (``--root``) in ``OUT/grader.json``, so
    that later runs of other lessons check its staleness against the same references."""
    path = Path(out) / "grader.json"
    data = _read_json(path, {})
    roots = data.setdefault("roots", {})
    value = str(Path(root).resolve()) if root is not None else None
    if roots.get(lesson, "unset") != value:
        roots[lesson] = value
        atomic_write(path, dumps(data))


def lesson_roots(out: str | os.PathLike[str]) -> dict[str, str | None]:
    """The ``--root`` each lesson was last graded with (None: the kit's own)."""
    return dict(_read_json(Path(out) / "grader.json", {}).get("roots", {}))


# ================================================================================================
# late policy, choices, overrides


@dataclass
class Policy:
    """How a lesson's submissions count: the deadline and the late penalty.

    A submission ``d`` started days after the deadline keeps ``max(1 - cap, per_day ** d)`` of
    its points (``per_day=0.9, cap=0.5``: 10 % off per day, at most 50 % off).
    """

    deadline: str = ""
    per_day: float = 1.0
    cap: float = 1.0
    counts: str = "latest"

    def __post_init__(self) -> None:
        if self.deadline:
            parse_time(self.deadline)
        if not 0.0 <= float(self.per_day) <= 1.0:
            raise ValueError(message("grade_fraction", name="--late-per-day", value=self.per_day,
                                     meaning="the share of the points kept per day late"))
        if not 0.0 <= float(self.cap) <= 1.0:
            raise ValueError(message("grade_fraction", name="--late-cap", value=self.cap,
                                     meaning="the largest share of the points a late penalty "
                                             "takes"))
        if self.counts not in COUNTS:
            raise ValueError(message("option", name="--counts", value=self.counts,
                                     allowed=", ".join(COUNTS)))

    def days_late(self, submitted_at: str) -> int:
        if not self.deadline or not submitted_at:
            return 0
        seconds = (parse_time(submitted_at) - parse_time(self.deadline)).total_seconds()
        return max(0, math.ceil(seconds / 86400.0))

    def multiplier(self, submitted_at: str) -> float:
        days = self.days_late(submitted_at)
        return 1.0 if days == 0 else max(1.0 - float(self.cap), float(self.per_day) ** days)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def load_policy(out: str | os.PathLike[str], lesson: str) -> Policy:
    data = _read_json(Path(out) / "policy.json", {}).get(lesson, {})
    return Policy(**{k: v for k, v in data.items() if k in Policy.__dataclass_fields__})


def update_policy(out: str | os.PathLike[str], lesson: str, **changes: Any) -> Policy:
    """Change some fields of a lesson's policy (None leaves a field) and save it."""
    path = Path(out) / "policy.json"
    data = _read_json(path, {})
    merged = asdict(load_policy(out, lesson))
    merged.update({k: v for k, v in changes.items() if v is not None})
    policy = Policy(**merged)
    data[lesson] = asdict(policy)
    atomic_write(path, dumps(data))
    return policy


def pin_submission(out: str | os.PathLike[str], lesson: str, student: str, sha_prefix: str) -> str:
    """Make the student's submission whose hash starts with ``sha_prefix`` the one that counts
    (``latest`` removes the pin).  Returns the full hash (or "latest").

    Raises
    ------
    ValueError
        If no record, or several, of that student match.
    """
    path = Path(out) / "choices.json"
    data = _read_json(path, {})
    if sha_prefix == "latest":
        data.get(lesson, {}).pop(student, None)
        atomic_write(path, dumps(data))
        return "latest"
    records = [r for r in RecordStore(out).load(lesson) if r.student == student]
    matches = {r.sha256 for r in records if r.sha256.startswith(sha_prefix)}
    if len(matches) != 1:
        shown = ", ".join(f"{r.sha256[:12]} ({Path(r.submission).name}, {r.submitted_at})"
                          for r in records) or "none"
        raise ValueError(message("grade_pick", student=student, sha=sha_prefix, lesson=lesson,
                                 count=len(matches), shown=shown))
    sha = matches.pop()
    data.setdefault(lesson, {})[student] = sha
    atomic_write(path, dumps(data))
    return sha


@dataclass
class Override:
    """A grade set by hand: ``points`` of ``exercise`` for ``student``, and why."""

    lesson: str
    student: str
    exercise: str
    points: float | None  # None clears earlier overrides
    why: str
    at: str = field(default_factory=now)


def add_override(out: str | os.PathLike[str], override: Override) -> None:
    path = Path(out) / "overrides.json"
    data = _read_json(path, [])
    data.append(asdict(override))
    atomic_write(path, dumps(data))


def load_overrides(out: str | os.PathLike[str]) -> dict[tuple[str, str, str], Override]:
    """The override in force per (lesson, student, exercise): the last one given."""
    current: dict[tuple[str, str, str], Override] = {}
    for item in _read_json(Path(out) / "overrides.json", []):
        override = Override(**item)
        key = (override.lesson, override.student, override.exercise)
        if override.points is None:
            current.pop(key, None)
        else:
            current[key] = override
    return current


# ================================================================================================
# standings: what counts, per student and lesson


@dataclass
class Standing:
    """One student's grade in one lesson, from the record that counts."""

    record: StudentGrade  # a copy with overrides and current points applied
    submissions: int
    days_late: int
    multiplier: float
    stale: dict[str, list[str]]

    @property
    def points(self) -> float:
        return self.record.points

    @property
    def final(self) -> float:
        return round_points(self.record.points * self.multiplier)


def _when(record: StudentGrade) -> tuple[dt.datetime, dt.datetime]:
    """(handed in, graded) as times, for ordering (ISO strings with different offsets do not
    sort as text)."""
    def parse(text: str) -> dt.datetime:
        try:
            return parse_time(text)
        except ValueError:
            return dt.datetime.min.replace(tzinfo=dt.UTC)
    return parse(record.submitted_at), parse(record.graded_at)


def counting_record(records: Sequence[StudentGrade], policy: Policy,
                    pinned: str | None = None) -> StudentGrade:
    """The record that counts among one student's records of one lesson."""
    if pinned:
        for record in records:
            if record.sha256 == pinned:
                return record
    if policy.counts == "best":
        return max(records, key=lambda r: (r.points * policy.multiplier(r.submitted_at),
                                           _when(r)))
    return max(records, key=_when)


def standings(out: str | os.PathLike[str], lesson: str, exercises: Sequence[Exercise] = (),
              fingerprints: dict[str, dict[str, str]] | None = None,
              seed_fingerprint: str | None = None) -> list[Standing]:
    """Every student's standing in a lesson, built from every record in ``out``."""
    store = RecordStore(out)
    policy = load_policy(out, lesson)
    pins = _read_json(Path(out) / "choices.json", {}).get(lesson, {})
    overrides = load_overrides(out)
    by_student: dict[str, list[StudentGrade]] = {}
    for record in store.load(lesson):
        by_student.setdefault(record.student, []).append(record)
    result = []
    for student in sorted(by_student):
        records = by_student[student]
        record = copy.deepcopy(counting_record(records, policy, pins.get(student)))
        stale = stale_exercises(record, fingerprints or {}, seed_fingerprint)
        rescore_points(record, exercises)
        apply_overrides(record, overrides)
        result.append(Standing(record, len(records), policy.days_late(record.submitted_at),
                               policy.multiplier(record.submitted_at), stale))
    return result


def apply_overrides(record: StudentGrade, overrides: dict[tuple[str, str, str], Override]) -> None:
    for grade in record.exercises:
        override = overrides.get((record.lesson, record.student, grade.id))
        if override is not None:
            grade.grader_points = grade.points
            grade.points = round_points(float(override.points))
            grade.override_why = override.why or "set by the instructor"


def merge_exercises(record: StudentGrade, fresh: Iterable[ExerciseGrade]) -> None:
    """Replace the exercise grades of ``record`` by the freshly graded ones with the same id."""
    new = {grade.id: grade for grade in fresh}
    record.exercises = [new.pop(grade.id, grade) for grade in record.exercises] + list(new.values())


__all__ = ["Override", "Policy", "RecordStore", "Standing", "add_override", "check_seed",
           "counting_record", "exercise_fingerprint", "file_time", "load_overrides",
           "lesson_roots", "load_policy", "merge_exercises", "now", "parse_time", "pin_submission",
           "remember_root", "rescore_points", "stale_exercises", "standings", "update_policy"]
