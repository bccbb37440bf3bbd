"""``xaikit release``: build what students receive (lessons with stubs, the kit, no solutions)."""

from __future__ import annotations

import argparse

HELP = "build what students receive: lessons with stubs and public checks, no solutions"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("examples:\n"
                     "  xaikit release --lesson 01 02 --out handout-week1/\n"
                     "  xaikit release --out handout/                       (every lesson)\n\n"
                     "The handout holds the chosen lessons (.py and .ipynb), the xaikit package "
                     "without the grader,\nthe public checks' expected values as data (no "
                     "oracle code), a student README and\nrequirements.txt (with Jupyter); never "
                     "solutions/ or the seed. It is checked for near-copies\nof the reference "
                     "solutions before it is kept.  See docs/instructors.md.")
    parser.add_argument("--out", "-o", required=True, metavar="DIR",
                        help="folder to create (must be new or empty)")
    parser.add_argument("--lesson", "-l", nargs="+", default=None, metavar="NN",
                        help="the lessons to hand out (default: all)")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier student bundle in --out")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="kit folder (default: the current kit)")
    parser.add_argument("--no-notebooks", dest="notebooks", action="store_false",
                        help="do not convert the lessons to .ipynb")
    parser.add_argument("--zip", action="store_true",
                        help="also write DIR.zip (to upload to an LMS or to Colab)")


def run(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from xaikit.grading.release import build_student_bundle, leak_report

    out = build_student_bundle(args.out, root=args.root, force=args.force,
                               notebooks=args.notebooks, lessons=args.lesson)
    print(f"wrote the student bundle to {out} (checked: no solutions, no oracle, no grader, no "
          "near-copy of a solution)")
    for note in leak_report(out, Path(args.root) if args.root else None)[1]:
        print(f"note: {note}")
    if args.zip:
        archive = shutil.make_archive(str(Path(out)), "zip", root_dir=Path(out).parent,
                                      base_dir=Path(out).name)
        print(f"wrote {archive}")
    return 0
