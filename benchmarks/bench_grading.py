"""Grader speed: the cost of grading one submission beyond the student's compute, and --jobs.

Targets (issue 8): grading one lesson's submission costs <= 20 s beyond the student's own
compute on 2 cores; ``--jobs 2`` brings 20 submissions to <= 0.6x the wall time of ``--jobs 1``.

Measured, all in one run so the ratios share the machine's load:

1. per submission: wall time of grading the reference solution of each lesson with exercises
   (and of a lesson-01 submission that imports TensorFlow, to price TensorFlow's start-up in
   the sandbox), minus the time spent inside the student's functions; once with a fresh
   sandbox interpreter (what a single ``xaikit grade`` of one file pays on top of the zygote's
   start) and once forked from the warm zygote (what each further submission of a batch pays);
2. batch: 20 copies of lesson 01's reference, and 20 submissions that compute for a while,
   graded with ``--jobs 1`` and ``--jobs 2``, both with one BLAS thread per sandbox (with the
   default ``cores // jobs`` threads, ``--jobs 1`` gives BLAS 2 threads, which on a loaded
   machine can be many times slower than one: see docs/instructors.md).

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

TF_SUBMISSION = '''
import numpy as np
import tensorflow as tf

def linear_attribution(weights, inputs, baseline=0.0):
    w = tf.constant(weights)
    return (w[None, :] * (tf.constant(inputs) - tf.cast(baseline, w.dtype))).numpy()
'''

BUSY_SUBMISSION = '''
import numpy as np

def linear_attribution(weights, inputs, baseline=0.0):
    work = np.random.default_rng(0).random((200, 200))
    for _ in range(40):
        work = np.tanh(work @ work / 200)
    return np.asarray(weights)[None, :] * (np.asarray(inputs) - np.asarray(baseline))
'''

SEED = "benchmark-seed"


def per_submission(lesson: str, path: Path, label: str) -> list[dict]:
    """Grade one submission with a fresh sandbox, then forked from a warm zygote."""
    from xaikit.grading.grader import (
        grade_submission,
        preload_modules,
        prepare,
        seed_fingerprint,
    )
    from xaikit.grading.sandbox import Limits, Zygote, home_template
    from xaikit.grading.submission import read_submission

    home_template()
    start = time.perf_counter()
    prepared = prepare(lesson, SEED)
    prepare_seconds = time.perf_counter() - start
    submission = read_submission(path, path.stem)
    preload = set(preload_modules(submission.tree))
    if any(b"keras" in case.payload for p in prepared for case in p.cases):
        preload.update(("tensorflow", "keras"))
    start = time.perf_counter()
    zygote = Zygote(sorted(preload))
    zygote_seconds = time.perf_counter() - start
    rows = []
    try:
        for mode, warm in (("fresh", None), ("zygote", zygote)):
            start = time.perf_counter()
            record = grade_submission(submission, prepared, Limits(timeout=600, startup=600),
                                      lesson, seed_fingerprint(SEED), zygote=warm)
            wall = time.perf_counter() - start
            compute = sum(case.seconds for exercise in record.exercises
                          for case in exercise.cases)
            rows.append({"label": f"{label} [{mode}]",
                         "points": f"{record.points:g}/{record.max_points:g}",
                         "wall": wall, "compute": compute, "overhead": wall - compute,
                         "prepare": prepare_seconds, "zygote": zygote_seconds})
    finally:
        zygote.close()
    return rows


def batch(n: int, jobs: int, folder: Path, threads: int = 1) -> float:
    from xaikit.grading.grader import GradeOptions, grade
    from xaikit.grading.sandbox import Limits

    out = Path(tempfile.mkdtemp(prefix="bench-grades-"))
    try:
        options = GradeOptions(lesson="01", out=out, jobs=jobs, seed=SEED, progress=False,
                               limits=Limits(timeout=300, startup=300, threads=threads))
        start = time.perf_counter()
        records = grade([folder], options, log=lambda _: None)
        wall = time.perf_counter() - start
        assert len(records) == n and all(r.points == r.max_points for r in records)
        return wall
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="submissions in the batch")
    parser.add_argument("--lessons", nargs="*", default=None,
                        help="lessons to price (default: every lesson with exercises)")
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow submission")
    args = parser.parse_args()

    from xaikit.exercises.registry import EXERCISES, kit_root

    root = kit_root()
    lessons = args.lessons or sorted({EXERCISES[name].lesson for name in EXERCISES})
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        rows = []
        for lesson in lessons:
            exercise = next(EXERCISES[n] for n in EXERCISES if EXERCISES[n].lesson == lesson)
            rows += per_submission(lesson, root / exercise.reference.partition(":")[0],
                                   f"lesson {lesson} reference")
        if not args.no_tf:
            path = work / "tf_submission.py"
            path.write_text(TF_SUBMISSION)
            rows += per_submission("01", path, "lesson 01 + TensorFlow import")
        print(f"{'submission [sandbox]':42s} {'points':>7s} {'wall s':>8s} {'student s':>10s} "
              f"{'overhead s':>11s} {'once: refs s':>13s} {'zygote s':>9s}")
        for row in rows:
            flag = "ok" if row["overhead"] <= 20 else "OVER 20 s"
            print(f"{row['label']:42s} {row['points']:>7s} {row['wall']:8.2f} "
                  f"{row['compute']:10.3f} {row['overhead']:11.2f} {row['prepare']:13.2f} "
                  f"{row['zygote']:9.2f}  {flag}")

        print()
        solution = (root / "solutions" / "01_why_interpret.py").read_text()
        for label, code in (("reference (no student compute)", solution),
                            ("busy (NumPy matmuls in each case)", BUSY_SUBMISSION)):
            folder = work / label.split()[0]
            for i in range(args.n):
                (folder / f"student{i:02d}").mkdir(parents=True)
                (folder / f"student{i:02d}" / "submission.py").write_text(code)
            one = batch(args.n, 1, folder)
            two = batch(args.n, 2, folder)
            ratio = two / one
            print(f"{args.n} lesson-01 submissions, {label}: --jobs 1 {one:.1f} s, --jobs 2 "
                  f"{two:.1f} s, ratio {ratio:.2f} (target <= 0.60: "
                  f"{'ok' if ratio <= 0.6 else 'MISSED'}); load average "
                  f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
