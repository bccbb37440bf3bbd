"""Grading a class: find and identify submissions, grade what is new or changed, keep everything.

Flow of :func:`grade` for one lesson
------------------------------------
1. The seed is resolved (:func:`xaikit.grading.grader.resolve_seed`) and checked against the
   output folder's (another seed is refused unless ``new_seed``).
2. Submissions are found and identified (:mod:`xaikit.grading.identity`, with the roster when
   there is one); files that match nobody are reported in ``OUT/files-NN.csv``, never guessed.
3. What to grade: a submission never graded (same student, lesson and file content), the
   exercises of a record that ended in ``grader_error``, the exercises named by ``regrade`` in
   every record of the lesson (``"changed"``: those whose reference, tolerances or cases changed
   since), everything with ``force``.
4. Each submission runs in the sandbox (:func:`xaikit.grading.grader.grade_submission`); when
   loading its module-level assignments fails, it is loaded again without them (noted).  Its
   record is saved at once (:class:`xaikit.grading.records.RecordStore`): an interrupted run
   resumes where it stopped.
5. The class's files are rebuilt from *every* record in the folder
   (:func:`xaikit.grading.reports.write_class`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from xaikit.base.messages import message
from xaikit.exercises.registry import Exercise
from xaikit.grading.grader import (
    PreparedExercise,
    StudentGrade,
    _start_zygote,
    grade_submission,
    lesson_exercises,
    lesson_stem,
    normalise_lesson,
    prepare,
    resolve_seed,
    seed_fingerprint,
)
from xaikit.grading.identity import (
    Found,
    Identified,
    Roster,
    Skipped,
    identify,
    list_files,
    load_roster,
)
from xaikit.grading.identity import pick_lesson_file as _pick
from xaikit.grading.quality import degenerate_prepared
from xaikit.grading.records import (
    CHANGE_WORDS,
    RecordStore,
    check_seed,
    exercise_fingerprint,
    file_time,
    merge_exercises,
    now,
    remember_root,
    stale_exercises,
    update_policy,
)
from xaikit.grading.sandbox import Limits
from xaikit.grading.submission import Submission, read_submission

REGRADE_CHANGED = "changed"


@dataclass
class GradeOptions:
    """Options of :func:`grade` (the command line's flags)."""

    lesson: str
    out: Path = Path("grades")
    jobs: int = 1
    limits: Limits = field(default_factory=Limits)
    force: bool = False
    seed: str | None = None
    seed_file: str | None = None
    root: str | None = None
    run_all: bool = False
    progress: bool = True
    scratch: str | None = None
    zygote: bool = True
    roster: str | None = None
    regrade: Sequence[str] = ()
    new_seed: bool = False
    deadline: str | None = None
    late_per_day: float | None = None
    late_cap: float | None = None
    counts: str | None = None
    single: bool = False  # one student's hand-in (Gradescope): grade the file named like the lesson


@dataclass
class _Task:
    submission: Submission
    found: Found
    exercises: list[int]  # indices into the lesson's exercises
    existing: StudentGrade | None


def collect_submissions(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly, plus the ``.ipynb``/``.py`` files under folders named.

    Raises
    ------
    ValueError
        If a path does not exist or nothing is found.
    """
    return list_files(paths)


def load_class_roster(out: Path, roster: str | None) -> Roster | None:
    """The roster given (copied to ``OUT/roster.csv``), else the folder's, else None."""
    if roster:
        loaded = load_roster(roster)
        out.mkdir(parents=True, exist_ok=True)
        if Path(roster).resolve() != (out / "roster.csv").resolve():
            shutil.copyfile(roster, out / "roster.csv")
        return loaded
    if (out / "roster.csv").is_file():
        return load_roster(out / "roster.csv")
    return None


def grade(submission_paths: Sequence[str | os.PathLike[str]], options: GradeOptions,
          log: Callable[[str], None] = print) -> list[StudentGrade]:
    """Grade the submissions of one lesson into ``options.out`` (see the module docstring).

    Returns
    -------
    list of StudentGrade
        The record of each submission found (graded now or earlier), in the order found.

    Raises
    ------
    ValueError
        For a bad lesson, a missing path, another seed than the folder's, an unknown exercise
        in ``regrade``, a bad roster or policy.
    """
    from xaikit.grading import reports

    lesson = normalise_lesson(options.lesson)
    exercises = lesson_exercises(lesson)
    ids = [exercise.id for exercise in exercises]
    unknown = [e for e in options.regrade if e != REGRADE_CHANGED and e not in ids]
    if unknown:
        raise ValueError(message("grade_regrade_unknown", got=" ".join(unknown), lesson=lesson,
                                 known=", ".join(ids)))
    out = Path(options.out)
    roster = load_roster(options.roster) if options.roster else \
        load_class_roster(out, None)
    store = RecordStore(out)
    stem = lesson_stem(exercises[0])
    found = _find(submission_paths, options, stem, roster, store, lesson, log) \
        if submission_paths else Identified()  # nothing is written before the paths are checked
    if options.roster:
        load_class_roster(out, options.roster)  # kept as OUT/roster.csv for later runs
    seed, source = resolve_seed(options.seed, options.seed_file)
    fingerprint = seed_fingerprint(seed)
    previous_seed = check_seed(out, fingerprint, change=options.new_seed)
    if previous_seed:
        log(f"xaikit grade: note: {out} now uses the seed of fingerprint {fingerprint} (was "
            f"{previous_seed}); records graded with the old seed are marked stale")
    if any(v is not None for v in (options.deadline, options.late_per_day, options.late_cap,
                                   options.counts)):
        policy = update_policy(out, lesson, deadline=options.deadline,
                               per_day=options.late_per_day, cap=options.late_cap,
                               counts=options.counts)
        log(f"xaikit grade: lesson {lesson} policy: deadline {policy.deadline or 'none'}, "
            f"{policy.per_day:g} of the points kept per day late, at most {policy.cap:g} off, "
            f"the {policy.counts} submission counts")
    remember_root(out, lesson, options.root)
    prints = {e.id: exercise_fingerprint(e, options.root) for e in exercises}
    if submission_paths:
        reports.write_file_list(out, lesson, found)
    tasks, results = _plan(found, options, exercises, prints, store, lesson, fingerprint, stem,
                           log)
    log(f"xaikit grade: lesson {lesson}, {len(found.submissions)} submission(s) found, "
        f"{len(tasks)} to grade ({len(found.submissions) - sum(t.existing is None for t in tasks)}"
        f" already graded), seed from {source} (fingerprint {fingerprint})")
    if tasks:
        _run(tasks, options, lesson, seed, fingerprint, exercises, prints, store, results, log)
    standings = reports.write_class(out, lesson, exercises, prints, fingerprint, options.root)
    _report_stale(standings, out, lesson, log)
    return [results[(f.student, f.path)] for f in found.submissions
            if (f.student, f.path) in results]


def _find(paths: Sequence[str | os.PathLike[str]], options: GradeOptions, stem: str,
          roster: Roster | None, store: RecordStore, lesson: str,
          log: Callable[[str], None]) -> Identified:
    if options.single:
        everything = list_files(paths)
        chosen, reason = _pick(everything, stem)
        result = Identified()
        if chosen is None:
            result.unmatched = [Skipped(p, reason) for p in everything]
        else:
            others = [p for p in everything if p != chosen]
            note = (f"other files handed in and not graded (not named like the lesson): "
                    f"{', '.join(p.name for p in others)}") if others else ""
            result.submissions = [Found(chosen, "submission", "submission", "file", note=note)]
            result.ignored = [Skipped(p, f"not named like the lesson; graded {chosen.name}")
                              for p in others]
        return result
    result = identify(paths, stem, roster, known=store.students(lesson))
    for skipped in result.unmatched:
        log(f"xaikit grade: NOT GRADED {skipped.path}: {skipped.reason}")
    if result.ignored:
        log(f"xaikit grade: {len(result.ignored)} other file(s) of hand-ins ignored (see "
            f"{store.out / f'files-{lesson}.csv'})")
    return result


def _plan(found: Identified, options: GradeOptions, exercises: Sequence[Exercise],
          prints: dict[str, dict[str, str]], store: RecordStore, lesson: str, fingerprint: str,
          stem: str, log: Callable[[str], None]
          ) -> tuple[list[_Task], dict[tuple[str, Path], StudentGrade]]:
    """Which submissions and exercises to grade; the records reused as they are."""
    ids = [e.id for e in exercises]
    functions = {e.function for e in exercises}
    results: dict[tuple[str, Path], StudentGrade] = {}
    tasks: list[_Task] = []
    planned: set[tuple[str, str]] = set()
    for item in found.submissions:
        submission = read_submission(item.path, stem, run_all=options.run_all,
                                     functions=functions)
        submission.student = item.student
        if item.note:
            submission.notes.insert(0, item.note)
        key = (item.student, submission.sha256)
        existing = store.find(lesson, item.student, submission.sha256)
        todo = _exercises_to_grade(existing, options, ids, prints, fingerprint)
        if key in planned:
            continue
        planned.add(key)
        if todo:
            tasks.append(_Task(submission, item, todo, existing if len(todo) < len(ids) else None))
        else:
            results[(item.student, item.path)] = existing
    for record in store.load(lesson):  # regrades of records not handed in again this run
        if (record.student, record.sha256) in planned:
            continue
        todo = _exercises_to_grade(record, options, ids, prints, fingerprint, stored=True)
        if not todo:
            continue
        path = Path(record.submission)
        submission = read_submission(path, stem, run_all=options.run_all,
                                     functions=functions) if path.is_file() else None
        if submission is None or submission.sha256 != record.sha256:
            log(f"xaikit grade: cannot regrade {record.student}'s {path}: the file is gone or "
                "changed since it was graded; its record stays as it was")
            continue
        submission.student = record.student
        item = Found(path, record.student, record.name, record.layout, record.late,
                     record.lms_id)
        planned.add((record.student, record.sha256))
        tasks.append(_Task(submission, item, todo, record))
    return tasks, results


def _exercises_to_grade(record: StudentGrade | None, options: GradeOptions, ids: list[str],
                        prints: dict[str, dict[str, str]], fingerprint: str,
                        stored: bool = False) -> list[int]:
    if record is None:
        return [] if stored else list(range(len(ids)))
    if (options.force and not stored) or record.seed_fingerprint != fingerprint and \
            (options.new_seed or not stored):
        return list(range(len(ids)))
    graded = {grade.id: grade for grade in record.exercises}
    stale = stale_exercises(record, prints)
    todo = []
    for index, exercise_id in enumerate(ids):
        grade_ = graded.get(exercise_id)
        if grade_ is None or grade_.status == "grader_error" or \
                exercise_id in options.regrade or \
                (REGRADE_CHANGED in options.regrade and exercise_id in stale):
            todo.append(index)
    return todo


def _run(tasks: list[_Task], options: GradeOptions, lesson: str, seed: str, fingerprint: str,
         exercises: Sequence[Exercise], prints: dict[str, dict[str, str]], store: RecordStore,
         results: dict[tuple[str, Path], StudentGrade], log: Callable[[str], None]) -> None:
    if options.limits.threads == 0:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            (os.cpu_count() or 1)
        options = dataclasses.replace(options, limits=dataclasses.replace(
            options.limits, threads=max(1, cores // max(1, options.jobs))))
    needed = sorted({i for task in tasks for i in task.exercises})
    prepared_list = prepare(lesson, seed, options.root, [exercises[i] for i in needed])
    prepared = dict(zip(needed, prepared_list))
    for problem in degenerate_prepared(prepared_list):
        log(f"xaikit grade: WARNING {problem}: it gives points for nothing (report it; the "
            "exercise's hidden cases must not allow this)")
    from tqdm.auto import tqdm

    zygote = _start_zygote([t.submission for t in tasks], prepared_list, options, log) \
        if options.zygote else None
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool, tqdm(
                total=len(tasks), desc=f"grading lesson {lesson}", unit="submission",
                disable=not options.progress) as bar:
            futures = {pool.submit(_grade_one, task, [prepared[i] for i in task.exercises],
                                   options, lesson, fingerprint, zygote): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                record = _finish(task, future.result(), prints)
                store.save(record)
                results[(task.found.student, task.found.path)] = record
                bar.update(1)
    finally:
        if zygote is not None:
            zygote.close()


def _grade_one(task: _Task, prepared: list[PreparedExercise], options: GradeOptions,
               lesson: str, fingerprint: str, zygote: object) -> StudentGrade:
    """Grade one submission; load it again without its computed assignments if they failed."""
    submission = task.submission
    record = grade_submission(submission, prepared, options.limits, lesson, fingerprint,
                              options.scratch, zygote)
    failed = record.exercises and all(e.status == "load_error" for e in record.exercises)
    if failed and submission.fallback_code and submission.fallback_code != submission.code:
        retry = dataclasses.replace(submission, code=submission.fallback_code)
        second = grade_submission(retry, prepared, options.limits, lesson, fingerprint,
                                  options.scratch, zygote)
        second.notes = [f"loading your code failed ({record.problem}); the grader loaded it "
                        "again without the module-level assignments that call functions, so "
                        "functions that use them fail"]
        record = second
    return record


def _finish(task: _Task, fresh: StudentGrade, prints: dict[str, dict[str, str]]) -> StudentGrade:
    stamp = now()
    for grade_ in fresh.exercises:
        grade_.fingerprint = dict(prints[grade_.id])
        grade_.graded_at = stamp
    if task.existing is not None:
        record = task.existing
        merge_exercises(record, fresh.exercises)
        order = list(prints)
        record.exercises.sort(key=lambda e: order.index(e.id) if e.id in order else len(order))
        record.seed_fingerprint = fresh.seed_fingerprint
        record.sandbox = fresh.sandbox or record.sandbox
        record.log_tail = fresh.log_tail or record.log_tail
        record.problem = fresh.problem
    else:
        record = fresh
        try:
            record.submitted_at = file_time(task.found.path)
        except OSError:
            record.submitted_at = stamp
    record.notes = list(dict.fromkeys(task.submission.notes + fresh.notes))
    record.student = task.found.student
    record.name = task.found.name or record.name or task.found.student
    record.layout = task.found.layout or record.layout
    record.late = task.found.late or record.late
    record.lms_id = task.found.lms_id or record.lms_id
    record.submission = str(Path(task.found.path).resolve())
    record.graded_at = stamp
    return record


def _report_stale(standings: Sequence[object], out: Path, lesson: str,
                  log: Callable[[str], None]) -> None:
    counts: dict[str, dict[str, int]] = {}
    for standing in standings:
        for exercise_id, changed in standing.stale.items():
            for what in changed:
                counts.setdefault(exercise_id, {}).setdefault(what, 0)
                counts[exercise_id][what] += 1
    for exercise_id, changed in sorted(counts.items()):
        what = ", ".join(f"{CHANGE_WORDS[k]} ({n} record(s))" for k, n in changed.items())
        log(f"xaikit grade: STALE {exercise_id}: {what} changed since graded; grades.csv marks "
            f"them; regrade with `xaikit grade --out {out} --lesson {lesson} --regrade "
            f"{exercise_id}`")


__all__ = ["GradeOptions", "collect_submissions", "grade", "load_class_roster"]
