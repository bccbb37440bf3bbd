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
        "  xaikit grade --gradescope-bundle autograder-02.zip --lesson 02\n"
        "  xaikit grade --check-sandbox\n\n"
        "The secret seed of the hidden cases comes from --seed, else $XAIKIT_GRADER_SEED, else\n"
        "the seed file (--seed-file, default ~/.config/xaikit/grader_seed, created on first use).\n"
        "Outputs: OUT/grades.csv, OUT/totals.csv, OUT/feedback/*.md, OUT/gradescope/*.json.\n"
        "Students' code runs confined (bubblewrap, else Landlock + seccomp); without complete\n"
        "confinement the grader refuses unless --unsafe-no-sandbox is given.\n"
        "See docs/instructors.md.")
    parser.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                        help="notebooks or .py files, or folders holding them")
    parser.add_argument("--lesson", "-l", default=None, metavar="NN",
                        help="the lesson whose exercises are graded (e.g. 01); required except "
                             "with --check-sandbox")
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
                        help="start a warm process (a new interpreter importing TensorFlow) "
                             "for every submission instead of one per batch (slower)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")
    sandbox = parser.add_argument_group("sandbox")
    sandbox.add_argument("--check-sandbox", action="store_true",
                         help="say which confinement this machine offers (found by grading a "
                              "probe in each) and exit: 0 when complete, 1 when not")
    sandbox.add_argument("--sandbox", default="auto", choices=("auto", "bubblewrap", "landlock"),
                         help="confinement to use (default: the best complete one)")
    sandbox.add_argument("--unsafe-no-sandbox", action="store_true",
                         help="grade even without complete confinement (students' code can "
                              "then read solutions/ or the seed); printed in every feedback "
                              "file and in grades.csv")
    sandbox.add_argument("--tmp-size", type=int, default=64, metavar="MB",
                         help="size of each sandbox's private /tmp (default: %(default)d)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xaikit.grading.grader import GradeOptions, grade
    from xaikit.grading.sandbox import Limits

    if args.check_sandbox:
        from xaikit.grading.sandbox import describe_confinement, select_confinement

        print(describe_confinement(args.sandbox))
        try:
            return 0 if select_confinement(Limits(sandbox=args.sandbox)).complete else 1
        except ValueError:
            return 1
    if args.lesson is None:
        raise ValueError("--lesson NN is required (the lesson whose exercises are graded)")
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
    if args.memory < 0 or args.max_output <= 0 or args.threads < 0 or args.tmp_size <= 0:
        raise ValueError("--memory and --threads must be >= 0, --max-output and --tmp-size > 0")
    limits = Limits(timeout=args.timeout, startup=args.startup_timeout, memory_mb=args.memory,
                    output_mb=args.max_output, threads=args.threads, tmp_mb=args.tmp_size,
                    sandbox=args.sandbox, unsafe_no_sandbox=args.unsafe_no_sandbox)
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
