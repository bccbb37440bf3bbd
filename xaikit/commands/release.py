"""``xaikit release``: build the student bundle (lessons with stubs, the kit, no solutions)."""

from __future__ import annotations

import argparse

HELP = "build what students receive: lessons with stubs and public checks, no solutions"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("The bundle holds lessons/ (.py and .ipynb), the xaikit package without the "
                     "grader, pyproject.toml,\nREADME.md and datasets/; never solutions/ or the "
                     "grader seed.  See docs/instructors.md.")
    parser.add_argument("--out", "-o", required=True, metavar="DIR",
                        help="folder to create (must be new or empty)")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier student bundle in --out")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="kit folder (default: the current kit)")
    parser.add_argument("--no-notebooks", dest="notebooks", action="store_false",
                        help="do not convert the lessons to .ipynb")


def run(args: argparse.Namespace) -> int:
    from xaikit.grading.release import build_student_bundle

    out = build_student_bundle(args.out, root=args.root, force=args.force,
                               notebooks=args.notebooks)
    print(f"wrote the student bundle to {out} (checked: no solutions, no grader)")
    return 0
