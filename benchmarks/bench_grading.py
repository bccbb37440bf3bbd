"""Grader speed with confinement on: overhead per submission, the zygote's gain, --jobs.

Targets (issue 20): grading one lesson's submission costs <= 2 s beyond the student's own compute
with confinement on; ``--jobs 2`` brings 20 submissions to <= 0.6 x the wall time of ``--jobs 1``.

Measured, all in one run so the ratios share the machine's load:

1. per lesson-submission: the reference solution of each lesson with exercises, all its cases,
   graded in a sandbox forked from the batch's warm zygote (what every submission of a batch
   pays); the overhead is the wall time minus the time inside the student's functions.  The
   zygote's own start (TensorFlow's import, once per batch) is shown apart;
2. the zygote's gain: the same submission graded with a zygote of its own (``--fresh-sandboxes``,
   what a batch would pay per submission without the zygote), for lesson 01 (NumPy only) and for
   the first TensorFlow lesson; the gain is fresh overhead / forked overhead;
3. the cost of confinement: 10 lesson-01 submissions per backend this machine offers, against no
   confinement at all (``--unsafe-no-sandbox`` with the ``none`` backend), as overhead ratios;
4. batch: 20 copies of lesson 01's reference, and 20 submissions that compute for a while, graded
   with ``--jobs 1`` and ``--jobs 2``, both with one BLAS thread per sandbox.

Run: ``.venv/bin/python benchmarks/bench_grading.py [--n 20] [--lessons 01 05]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

BUSY_SUBMISSION = '''
import numpy as np

def linear_attribution(weights, inputs, baseline=0.0):
    work = np.random.default_rng(0).random((200, 200))
    for _ in range(40):
        work = np.tanh(work @ work / 200)
    return np.asarray(weights)[None, :] * (np.asarray(inputs) - np.asarray(baseline))
'''

SEED = "benchmark-seed"
LIMITS = dict(timeout=600, startup=900, threads=1)


def _graded(record) -> float:
    """Seconds inside the student's functions (the record must have full marks)."""
    compute = sum(case.seconds for exercise in record.exercises for case in exercise.cases)
    assert record.points == record.max_points, [(e.id, e.status, e.message)
                                                for e in record.exercises]
    return compute


def per_lesson(lessons: list[str], fresh: set[str]) -> list[dict]:
    """Overhead of each lesson's reference forked from a warm zygote (and with its own)."""
    from xaikit.exercises.registry import EXERCISES, kit_root
    from xaikit.grading.grader import (
        _forbidden,
        _preload,
        _secrets,
        grade_submission,
        preload_modules,
        prepare,
    )
    from xaikit.grading.sandbox import Limits, Zygote, kit_copy, select_confinement
    from xaikit.grading.submission import read_submission

    limits = Limits(**LIMITS)
    confinement = select_confinement(limits)
    rows = []
    for lesson in lessons:
        exercise = next(EXERCISES[n] for n in EXERCISES if EXERCISES[n].lesson == lesson)
        path = kit_root() / exercise.reference.partition(":")[0]
        start = time.perf_counter()
        prepared = prepare(lesson, SEED)
        references = time.perf_counter() - start
        submission = read_submission(path, "reference")
        kit = kit_copy(_forbidden(prepared))
        start = time.perf_counter()
        with Zygote(_preload(preload_modules(submission.tree), prepared), confinement.backend,
                    kit, limits, _secrets()) as zygote:
            zygote_seconds = time.perf_counter() - start
            grade_submission(submission, prepared, limits, lesson, "x", zygote=zygote)  # warm
            start = time.perf_counter()
            record = grade_submission(submission, prepared, limits, lesson, "x", zygote=zygote)
            wall = time.perf_counter() - start
        row = {"label": f"lesson {lesson} reference", "cases": sum(len(p.cases)
                                                                   for p in prepared),
               "wall": wall, "compute": _graded(record), "references": references,
               "zygote": zygote_seconds, "fresh": None}
        if lesson in fresh:
            start = time.perf_counter()
            record = grade_submission(submission, prepared, limits, lesson, "x")
            row["fresh"] = time.perf_counter() - start - _graded(record)
        rows.append(row)
    return rows


def confinement_cost(n: int = 10) -> list[tuple[str, float]]:
    """Overhead per lesson-01 submission for each complete backend and for none."""
    from xaikit.exercises.registry import kit_root
    from xaikit.grading.grader import _secrets, grade_submission, prepare
    from xaikit.grading.sandbox import Limits, Zygote, kit_copy
    from xaikit.grading.sandbox.backends import Backend
    from xaikit.grading.sandbox.confinement import survey
    from xaikit.grading.submission import read_submission

    limits = Limits(**LIMITS)
    prepared = prepare("01", SEED)
    submission = read_submission(kit_root() / "solutions" / "01_why_interpret.py", "reference")
    backends = [c.backend for choice in ("bubblewrap", "landlock") for c in survey(choice)
                if c.complete] + [Backend("none")]
    results = []
    for backend in backends:
        with Zygote(["numpy"], backend, kit_copy(), limits, _secrets()) as zygote:
            grade_submission(submission, prepared, limits, "01", "x", zygote=zygote)
            start = time.perf_counter()
            compute = sum(_graded(grade_submission(submission, prepared, limits, "01", "x",
                                                   zygote=zygote)) for _ in range(n))
            results.append((backend.label, (time.perf_counter() - start - compute) / n))
    return results


def batch(n: int, jobs: int, folder: Path) -> float:
    from xaikit.grading.grader import GradeOptions, grade
    from xaikit.grading.sandbox import Limits

    out = Path(tempfile.mkdtemp(prefix="bench-grades-"))
    try:
        options = GradeOptions(lesson="01", out=out, jobs=jobs, seed=SEED, progress=False,
                               limits=Limits(**LIMITS))
        start = time.perf_counter()
        records = grade([folder], options, log=lambda _: None)
        wall = time.perf_counter() - start
        assert len(records) == n and all(r.points == r.max_points for r in records)
        return wall
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _copies(folder: Path, code: str, n: int) -> Path:
    for i in range(n):
        (folder / f"student{i:02d}").mkdir(parents=True)
        (folder / f"student{i:02d}" / "submission.py").write_text(code)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="submissions in the batch")
    parser.add_argument("--lessons", nargs="*", default=None,
                        help="lessons to price (default: every lesson with exercises)")
    parser.add_argument("--fresh", nargs="*", default=None,
                        help="lessons whose fresh (own-zygote) overhead is measured too "
                             "(default: 01 and the first TensorFlow lesson)")
    args = parser.parse_args()

    from xaikit.exercises.registry import EXERCISES, kit_root
    from xaikit.grading.sandbox import describe_confinement

    print(describe_confinement().splitlines()[0])
    lessons = args.lessons if args.lessons is not None else \
        sorted({EXERCISES[name].lesson for name in EXERCISES})
    fresh = set(args.fresh if args.fresh is not None else
                ["01", next((n for n in lessons if n != "01"), "01")])
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        rows = per_lesson(lessons, fresh)
        print(f"\n{'submission':22s} {'cases':>5s} {'wall s':>7s} {'student s':>9s} "
              f"{'overhead s':>10s} {'target':>9s} {'fresh overhead s':>16s} {'zygote gain':>11s}"
              f" {'once: refs s':>12s} {'once: zygote s':>14s}")
        for row in rows:
            overhead = row["wall"] - row["compute"]
            gain = f"{row['fresh'] / overhead:.1f}x" if row["fresh"] is not None else "-"
            fresh_text = f"{row['fresh']:.2f}" if row["fresh"] is not None else "-"
            print(f"{row['label']:22s} {row['cases']:5d} {row['wall']:7.2f} {row['compute']:9.3f}"
                  f" {overhead:10.2f} {'ok' if overhead <= 2 else 'OVER 2 s':>9s}"
                  f" {fresh_text:>16s} {gain:>11s} {row['references']:12.2f}"
                  f" {row['zygote']:14.2f}")
        solution = (kit_root() / "solutions" / "01_why_interpret.py").read_text()
        costs = confinement_cost()
        floor = costs[-1][1]
        print("\noverhead per lesson-01 submission by confinement (10 submissions, --jobs 1):")
        for label, seconds in costs:
            print(f"  {label:42s} {seconds:6.3f} s  ({seconds / floor:.2f} x no sandbox)")
        print()
        for label, code in (("reference (no student compute)", solution),
                            ("busy (NumPy matmuls in each case)", BUSY_SUBMISSION)):
            folder = _copies(work / label.split()[0], code, args.n)
            one = batch(args.n, 1, folder)
            two = batch(args.n, 2, folder)
            ratio = two / one
            print(f"{args.n} lesson-01 submissions, {label}: --jobs 1 {one:.1f} s, --jobs 2 "
                  f"{two:.1f} s, ratio {ratio:.2f} (target <= 0.60: "
                  f"{'ok' if ratio <= 0.6 else 'MISSED'})")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
