"""A class of 60 for one lesson, and the similarity report over 60 submissions (issue 24).

Targets: grading 60 submissions of one lesson with ``--jobs 2`` on 2 cores takes <= 90 s
(start-up included); the similarity report of 60 submissions takes <= 10 s.

The class is made of the lesson's reference solution with variables renamed per student (so
every record and fingerprint differs), a quarter of them with a bug, and a few renamed copies
of one another (which the similarity report must flag).  The machine's load average is printed
with the numbers: this 2-core machine is shared, so absolute times are upper bounds.

Run: ``.venv/bin/python benchmarks/bench_semester.py [--n 60] [--lesson 01] [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
SEED = "benchmark-semester-seed"


class _Rename(ast.NodeTransformer):
    """Rename local variables (not parameters, modules or functions) with a student's suffix."""

    def __init__(self, suffix: str, protected: set[str]) -> None:
        self.suffix, self.protected = suffix, protected

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id not in self.protected:
            node.id = f"{node.id}_{self.suffix}"
        return node


def _helper(i: int) -> str:
    """A helper function of random arithmetic, different for every student."""
    import random

    rng = random.Random(i)

    def expression(depth: int) -> str:
        if depth == 0:
            return rng.choice(["x", "y", str(rng.randint(1, 9)), "np.pi"])
        op = rng.choice(["+", "-", "*", "/", "**"])
        call = rng.choice(["np.sin", "np.cos", "np.exp", "np.tanh", "abs", ""])
        inner = f"({expression(depth - 1)} {op} {expression(depth - 1)})"
        return f"{call}{inner}" if call else inner

    lines = [f"def helper_{i}(x, y):"]
    for k in range(6):
        lines.append(f"    v{k} = {expression(3)}")
        lines.append(f"    if v{k} > {rng.randint(0, 5)}:\n        x = x + v{k}")
    return "\n".join(lines + ["    return x * y"]) + "\n"


def make_class(lesson: str, n: int, folder: Path) -> None:
    from xaikit.exercises.registry import kit_root
    from xaikit.grading.grader import lesson_exercises

    exercises = lesson_exercises(lesson)
    source = (kit_root() / exercises[0].reference.partition(":")[0]).read_text()
    tree = ast.parse(source)
    protected = {a.asname or a.name.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}
    protected |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    protected |= {arg.arg for node in ast.walk(tree) if isinstance(node, ast.arguments)
                  for arg in node.args + node.kwonlyargs}
    protected |= set(dir(__builtins__)) | {"np", "tf", "keras", "comb"}
    for i in range(n):
        student = folder / f"student{i:02d}"
        student.mkdir(parents=True)
        if i in (1, 2):  # copies of student 0 (renamed the same way): to be flagged
            shutil.copy(folder / "student00" / "submission.py", student / "submission.py")
            continue
        code = ast.unparse(_Rename(f"s{i}", protected).visit(ast.parse(source)))
        code += "\n\n" + _helper(i)  # students write different code around the solution
        if i % 4 == 3:  # a bug: the first return of the file gives zeros of the same shape
            code = code.replace("return ", "return 0 * ", 1)
        (student / "submission.py").write_text(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--lesson", default="01")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    from xaikit.grading.batch import GradeOptions, grade
    from xaikit.grading.classreport import write_report
    from xaikit.grading.sandbox import Limits

    work = Path(tempfile.mkdtemp(prefix="bench-semester-"))
    try:
        make_class(args.lesson, args.n, work / "class")
        options = GradeOptions(lesson=args.lesson, out=work / "out", jobs=args.jobs, seed=SEED,
                               progress=False, limits=Limits(timeout=300, startup=300))
        load = os.getloadavg()[0]
        start = time.perf_counter()
        records = grade([work / "class"], options, log=lambda _: None)
        wall = time.perf_counter() - start
        full = sum(r.points == r.max_points for r in records)
        print(f"grading {len(records)} submissions of lesson {args.lesson}, --jobs {args.jobs}: "
              f"{wall:.1f} s ({full} full marks; target <= 90 s: "
              f"{'ok' if wall <= 90 else 'MISSED'}); load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")
        start = time.perf_counter()
        rerun = grade([work / "class"], options, log=lambda _: None)
        print(f"re-run with nothing to grade: {time.perf_counter() - start:.1f} s "
              f"({len(rerun)} records)")
        start = time.perf_counter()
        write_report(work / "out", [args.lesson])
        report = time.perf_counter() - start
        flagged = (work / "out" / "report" / args.lesson / "similarity.md").read_text()
        print(f"class report (statistics, histogram, similarity of {args.n}, LMS CSVs): "
              f"{report:.1f} s (similarity target <= 10 s: {'ok' if report <= 10 else 'MISSED'})")
        print(flagged.split("\n\n", 2)[1].split("**")[1] + " pair(s) flagged: " + ", ".join(
            line[2:].split(":")[0] for line in flagged.splitlines() if line.startswith("- ")))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
