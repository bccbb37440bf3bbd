"""``xaikit grade``: grade students' submissions of a lesson with public and hidden checks."""

from __future__ import annotations

import argparse
import shutil
import sys

HELP = "grade submissions (.ipynb/.py) of a lesson in a sandbox, with hidden checks"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "examples:\n"
        "  xaikit grade submissions/ --lesson 02 --jobs 2 --out grades --roster roster.csv\n"
        "  xaikit grade late/s07.py --lesson 02 --out grades          (a resubmission)\n"
        "  xaikit grade --out grades --lesson 02 --deadline 2025-03-01T23:59 --late-per-day 0.9\n"
        "  xaikit grade --out grades --lesson 02 --regrade 02.box_iou\n"
        "  xaikit grade --out grades --lesson 02 --override s07 02.box_iou 1 --why \"...\"\n"
        "  xaikit grade --out grades --report            (statistics, histogram, similarity,\n"
        "                                                 Canvas/Moodle CSV)\n"
        "  xaikit grade --gradescope-bundle autograder-02.zip --lesson 02\n"
        "  xaikit grade --check-sandbox                  (what confinement this machine offers)\n\n"
        "The secret seed of the hidden cases comes from --seed, else $XAIKIT_GRADER_SEED, else\n"
        "the seed file (--seed-file, default ~/.config/xaikit/grader_seed, created on first use).\n"
        "Every graded submission is kept in OUT/records/; OUT/grades.csv, totals.csv and\n"
        "gradebook.csv are rebuilt from all of them after each run.  Students' code runs\n"
        "confined (bubblewrap, else Landlock + seccomp); without complete confinement the\n"
        "grader refuses unless --unsafe-no-sandbox is given.  See docs/instructors.md.")
    parser.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                        help="notebooks or .py files, or folders holding them")
    parser.add_argument("--lesson", "-l", default=None, metavar="NN",
                        help="the lesson whose exercises are graded (e.g. 01); required except "
                             "with --report and --check-sandbox")
    parser.add_argument("--out", "-o", default="grades", metavar="DIR",
                        help="output folder, one for the whole class and term "
                             "(default: %(default)s)")
    parser.add_argument("--roster", default=None, metavar="CSV",
                        help="class list (id, name, email, login[, canvas_id, moodle_id]); kept "
                             "as OUT/roster.csv for later runs")
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
                        help="grade again the given submissions even if already graded")
    parser.add_argument("--regrade", nargs="+", default=(), metavar="EXERCISE",
                        help="grade these exercises again in every record of the lesson (from "
                             "the stored file paths); 'changed' = the exercises whose reference, "
                             "tolerances or cases changed since they were graded")
    parser.add_argument("--override", nargs=3, default=None,
                        metavar=("STUDENT", "EXERCISE", "POINTS"),
                        help="set an exercise's points by hand (POINTS 'clear' removes it); "
                             "needs --why; shown in the student's feedback")
    parser.add_argument("--why", default=None, metavar="TEXT",
                        help="the reason of an --override (the student reads it)")
    parser.add_argument("--pick", nargs=2, default=None, metavar=("STUDENT", "SHA"),
                        help="make the student's submission whose hash starts with SHA the one "
                             "that counts ('latest' undoes it)")
    parser.add_argument("--deadline", default=None, metavar="WHEN",
                        help="the lesson's deadline (2025-03-01 or 2025-03-01T23:59, local time); "
                             "kept in OUT/policy.json")
    parser.add_argument("--late-per-day", type=float, default=None, metavar="F",
                        help="share of the points kept per day late (0.9 = 10%% off a day)")
    parser.add_argument("--late-cap", type=float, default=None, metavar="F",
                        help="largest share of the points a late penalty takes (0.5 = at most "
                             "half)")
    parser.add_argument("--counts", choices=("latest", "best"), default=None,
                        help="which submission of a student counts (default latest)")
    parser.add_argument("--seed", default=None, metavar="S",
                        help="secret seed of the hidden cases (visible in `ps`: prefer the "
                             "environment variable or the seed file)")
    parser.add_argument("--seed-file", default=None, metavar="FILE",
                        help="file holding the secret seed")
    parser.add_argument("--new-seed", action="store_true",
                        help="accept a seed other than the one OUT was graded with (the "
                             "Gradescope bundle: create a seed file if there is none)")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="kit folder holding solutions/ (default: the current kit)")
    parser.add_argument("--all-cells", action="store_true",
                        help="run every top-level statement of a submission, not only its "
                             "imports, definitions and the assignments its functions use")
    parser.add_argument("--report", action="store_true",
                        help="write OUT/report/: per-exercise statistics, score histograms, a "
                             "similarity report, Canvas and Moodle CSV exports")
    parser.add_argument("--similarity-threshold", type=float, default=None, metavar="F",
                        help="flag pairs of submissions at least this similar (default 0.8)")
    parser.add_argument("--gradescope-bundle", default=None, metavar="ZIP",
                        help="write Gradescope's autograder zip for --lesson instead of grading")
    parser.add_argument("--gradescope-results", default=None, metavar="FILE",
                        help="grade one student's hand-in (the file named like the lesson) and "
                             "write its results.json here (used by the autograder bundle)")
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

    if args.check_sandbox:
        from xaikit.grading.sandbox import Limits, describe_confinement, select_confinement

        print(describe_confinement(args.sandbox))
        try:
            return 0 if select_confinement(Limits(sandbox=args.sandbox)).complete else 1
        except ValueError:
            return 1
    if args.report:
        from xaikit.grading.classreport import write_report

        written = write_report(Path(args.out), lessons=[args.lesson] if args.lesson else None,
                               threshold=args.similarity_threshold, root=args.root)
        for path in written:
            print(f"wrote {path}")
        return 0
    if args.lesson is None:
        from xaikit.base.messages import message

        raise ValueError(message("grade_lesson_required"))
    if args.gradescope_bundle:
        from xaikit.grading.release import build_gradescope_bundle

        build_gradescope_bundle(args.gradescope_bundle, args.lesson, seed=args.seed,
                                seed_file=args.seed_file, root=args.root, timeout=args.timeout,
                                memory_mb=args.memory, create_seed=args.new_seed, log=print)
        return 0
    if args.override or args.pick:
        return _manual(args)
    return _grade(args)


def _manual(args: argparse.Namespace) -> int:
    """--override and --pick: change what counts, then rebuild the class files."""
    from pathlib import Path

    from xaikit.base.messages import message
    from xaikit.grading import records, reports
    from xaikit.grading.grader import lesson_exercises, normalise_lesson

    out = Path(args.out)
    lesson = normalise_lesson(args.lesson)
    exercises = {e.id: e for e in lesson_exercises(lesson)}
    students = records.RecordStore(out).students(lesson)
    if args.override:
        student, exercise_id, points = args.override
        if student not in students:
            raise ValueError(message("grade_unknown_student", flag="--override", student=student,
                                     lesson=lesson, out=out,
                                     known=", ".join(sorted(students)) or "none"))
        if exercise_id not in exercises:
            raise ValueError(message("option", name="--override EXERCISE", value=exercise_id,
                                     allowed=", ".join(exercises)))
        value = None if points == "clear" else float(points)
        maximum = float(exercises[exercise_id].points)
        if value is not None and not 0.0 <= value <= maximum:
            raise ValueError(message("grade_override_points", maximum=f"{maximum:g}",
                                     exercise=exercise_id, got=points))
        if value is not None and not (args.why or "").strip():
            raise ValueError(message("grade_override_why"))
        records.add_override(out, records.Override(lesson, student, exercise_id, value,
                                                   (args.why or "").strip()))
        print(f"{student} {exercise_id}: " + ("override removed" if value is None else
                                               f"set to {value:g} / {maximum:g}"))
    if args.pick:
        student, sha = args.pick
        chosen = records.pin_submission(out, lesson, student, sha)
        print(f"{student}: the {'latest' if chosen == 'latest' else chosen[:12]} submission "
              "counts")
    fingerprint = reports.folder_seed(out) or ""
    prints = {e.id: records.exercise_fingerprint(e, args.root) for e in exercises.values()}
    reports.write_class(out, lesson, list(exercises.values()), prints, fingerprint, args.root)
    print(f"rebuilt {out / 'grades.csv'}, totals.csv, gradebook.csv and the feedback")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from pathlib import Path

    from xaikit.grading.batch import GradeOptions, grade
    from xaikit.grading.sandbox import Limits

    regrade_only = bool(args.regrade) and not args.submissions
    policy_only = not args.submissions and any(
        v is not None for v in (args.deadline, args.late_per_day, args.late_cap, args.counts))
    if not args.submissions and not (regrade_only or policy_only):
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
    single = bool(args.gradescope_results)
    options = GradeOptions(lesson=args.lesson, out=Path(args.out), jobs=args.jobs, limits=limits,
                           force=args.force, seed=args.seed, seed_file=args.seed_file,
                           root=args.root, run_all=args.all_cells, progress=args.progress,
                           zygote=args.zygote, roster=args.roster, regrade=tuple(args.regrade),
                           new_seed=args.new_seed, deadline=args.deadline,
                           late_per_day=args.late_per_day, late_cap=args.late_cap,
                           counts=args.counts, single=single)
    records = grade(args.submissions, options)
    if single:
        _gradescope_results(records, options, Path(args.gradescope_results))
    if records:
        total = sum(r.points for r in records)
        maximum = sum(r.max_points for r in records)
        print(f"{len(records)} submission(s) of this run: mean {total / len(records):.2f} of "
              f"{maximum / len(records):g}; the class: {Path(args.out) / 'totals.csv'}",
              file=sys.stdout)
    return 0


def _gradescope_results(records: list, options: object, target: object) -> None:
    """Copy the single student's results.json (or write one saying what to hand in)."""
    from pathlib import Path

    from xaikit.grading.grader import dumps, normalise_lesson
    from xaikit.grading.reports import gradescope_path

    out = Path(options.out)
    lesson = normalise_lesson(options.lesson)
    if len(records) == 1:
        shutil.copyfile(gradescope_path(out, lesson, records[0].student), target)
        return
    listing = (out / f"files-{lesson}.csv").read_text(encoding="utf-8") \
        if (out / f"files-{lesson}.csv").is_file() else ""
    reason = listing.strip().splitlines()[1].split(",", 3)[-1] if listing.count("\n") > 1 \
        else "no .ipynb or .py file was handed in"
    Path(target).write_text(dumps({
        "score": 0, "tests": [], "stdout_visibility": "hidden",
        "output": f"Nothing was graded: {reason}. Upload your lesson notebook "
                  f"({lesson}_....ipynb)."}), encoding="utf-8")
