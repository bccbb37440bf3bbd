"""``xaikit grade``: grade students' submissions of a lesson with public and hidden checks."""

from __future__ import annotations

import argparse
import shutil
import sys

HELP = "grade submissions (.ipynb/.py) of a lesson in a sandbox, with hidden checks"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  xaikit grade submissions/ --lesson 02 --jobs 2 --out grades/02\n"
        "  xaikit grade alice.ipynb bob.ipynb --lesson 1 --force\n"
        "  xaikit grade --gradescope-bundle autograder-02.zip --lesson 02\n\n"
        "The secret seed of the hidden cases comes from --seed, else $XAIKIT_GRADER_SEED, else\n"
        "the seed file (--seed-file, default ~/.config/xaikit/grader_seed, created on first use).\n"
        "Outputs: OUT/grades.csv, OUT/totals.csv, OUT/feedback/*.md, OUT/gradescope/*.json.\n"
        "See docs/instructors.md.")
    parser.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                        help="notebooks or .py files, or folders holding them")
    parser.add_argument("--lesson", "-l", required=True, metavar="NN",
                        help="the lesson whose exercises are graded (e.g. 01)")
    parser.add_argument("--out", "-o", default="grades", metavar="DIR",
                        help="output folder (default: %(default)s)")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="submissions graded at the same time (default: 1)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S",
                        help="seconds for loading a submission and again for each exercise "
                             "(default: %(default)g)")
    parser.add_argument("--startup-timeout", type=float, default=120.0, metavar="S",
                        help="seconds for the sandbox to start (TensorFlow import; default: "
                             "%(default)g)")
    parser.add_argument("--memory", type=int, default=4096, metavar="MB",
                        help="address-space limit of each sandbox in MiB (TensorFlow alone maps "
                             "about 1700 MiB; 0 = none; default: %(default)d)")
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="BLAS/TensorFlow threads per sandbox (default: cores // jobs; use 1 "
                             "on a machine shared with other work)")
    parser.add_argument("--max-output", type=int, default=64, metavar="MB",
                        help="largest output of one case in MiB (default: %(default)d)")
    parser.add_argument("--force", action="store_true",
                        help="grade again submissions that are already graded in --out")
    parser.add_argument("--seed", default=None, metavar="S",
                        help="secret seed of the hidden cases (visible in `ps`: prefer the "
                             "environment variable or the seed file)")
    parser.add_argument("--seed-file", default=None, metavar="FILE",
                        help="file holding the secret seed")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="kit folder holding solutions/ (default: the current kit)")
    parser.add_argument("--all-cells", action="store_true",
                        help="run every top-level statement of a submission, not only its "
                             "imports and definitions")
    parser.add_argument("--gradescope-bundle", default=None, metavar="ZIP",
                        help="write Gradescope's autograder zip for --lesson instead of grading")
    parser.add_argument("--gradescope-results", default=None, metavar="FILE",
                        help="also write the (single) student's results.json here (used by "
                             "the autograder bundle)")
    parser.add_argument("--fresh-sandboxes", dest="zygote", action="store_false",
                        help="start every sandbox as a new interpreter instead of forking it "
                             "from a warm process (slower: TensorFlow is imported each time)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xaikit.grading.grader import GradeOptions, grade
    from xaikit.grading.sandbox import Limits

    if args.gradescope_bundle:
        from xaikit.grading.release import build_gradescope_bundle

        path = build_gradescope_bundle(args.gradescope_bundle, args.lesson, seed=args.seed,
                                       seed_file=args.seed_file, root=args.root,
                                       timeout=args.timeout, memory_mb=args.memory)
        print(f"wrote {path}: upload it as the autograder of the Gradescope assignment")
        return 0
    if not args.submissions:
        raise ValueError("no SUBMISSION given (notebooks, .py files or folders)")
    for name in ("jobs", "timeout", "startup_timeout"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive; got "
                             f"{getattr(args, name)}")
    if args.memory < 0 or args.max_output <= 0 or args.threads < 0:
        raise ValueError("--memory and --threads must be >= 0 and --max-output > 0")
    limits = Limits(timeout=args.timeout, startup=args.startup_timeout, memory_mb=args.memory,
                    output_mb=args.max_output, threads=args.threads)
    options = GradeOptions(lesson=args.lesson, out=Path(args.out), jobs=args.jobs, limits=limits,
                           force=args.force, seed=args.seed, seed_file=args.seed_file,
                           root=args.root, run_all=args.all_cells, progress=args.progress,
                           zygote=args.zygote)
    records = grade(args.submissions, options)
    if args.gradescope_results:
        if len(records) != 1:
            raise ValueError(f"--gradescope-results needs exactly one submission; got "
                             f"{len(records)}")
        from xaikit.grading.reports import safe_name

        source = Path(args.out) / "gradescope" / f"{safe_name(records[0].student)}.json"
        shutil.copyfile(source, args.gradescope_results)
    total = sum(r.points for r in records)
    maximum = sum(r.max_points for r in records)
    print(f"graded {len(records)} submission(s): mean {total / len(records):.2f} of "
          f"{maximum / len(records):g}; wrote {Path(args.out) / 'grades.csv'}", file=sys.stdout)
    return 0
