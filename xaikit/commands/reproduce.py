"""``xaikit reproduce``: execute the lessons headless and write their results."""

from __future__ import annotations

import argparse
import sys

HELP = "execute lessons headless; write executed notebooks, figures and summary.md"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("examples:\n"
                     "  xaikit reproduce                  every lesson, into xaikit-out/\n"
                     "  xaikit reproduce --lesson 01 05   lessons 01 and 05\n"
                     "  xaikit reproduce --fast           fast mode (what the tests run)\n"
                     "  xaikit reproduce --resume         skip lessons that already passed\n"
                     "  xaikit reproduce --jobs 2         two lessons at a time (2 cores)\n"
                     "  xaikit reproduce -l 05 --record   record lesson 05's tier-2 values")
    parser.add_argument("--lesson", "-l", nargs="+", metavar="NN", dest="lessons",
                        help="lesson numbers (e.g. 01 05) or lesson files; default: all lessons")
    parser.add_argument("--out", "-o", default="xaikit-out", metavar="DIR",
                        help="output folder (default: %(default)s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", dest="fast", action="store_true", default=None,
                      help="fast mode: smaller n and reduced zoo recipes (default: $XAIKIT_FAST)")
    mode.add_argument("--full", dest="fast", action="store_false",
                      help="full mode even when XAIKIT_FAST=1 is set")
    parser.add_argument("--timeout", type=int, default=None, metavar="S",
                        help="seconds one cell may run (default: 1800)")
    parser.add_argument("--lessons-dir", default=None, metavar="DIR",
                        help="folder holding NN_topic.py lessons (default: ./lessons)")
    parser.add_argument("--resume", action="store_true",
                        help="skip lessons whose last run into --out passed (same mode, same "
                             "source), e.g. after an interrupted run")
    parser.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                        help="lessons run at the same time, each on its own kernel "
                             "(default: %(default)s; a lesson mostly keeps one core busy)")
    parser.add_argument("--record", action="store_true",
                        help="write this mode's tier-2 values into lessons/expected/NN_topic.json "
                             "instead of comparing (re-record only with a reason in the commit)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from xaikit.reproduce import DEFAULT_CELL_TIMEOUT, LessonError, reproduce

    if args.jobs < 1:
        print(f"xaikit reproduce: error: --jobs must be 1 or more (lessons run at once); got "
              f"{args.jobs}", file=sys.stderr)
        return 2
    try:
        report = reproduce(args.lessons, out=args.out, fast=args.fast,
                           timeout=args.timeout or DEFAULT_CELL_TIMEOUT,
                           lessons_dir=args.lessons_dir, progress=args.progress,
                           resume=args.resume, record=args.record, jobs=args.jobs)
    except LessonError as error:
        print(f"xaikit reproduce: error: {error}", file=sys.stderr)
        return 2
    passed = sum(run.passed for run in report.lessons)
    print(f"{passed}/{len(report.lessons)} lessons passed; summary: {report.summary}")
    for run in report.failed:
        print(f"  {run.stem} failed: {(run.error or '').splitlines()[0]}")
    return 0 if report.ok else 1
