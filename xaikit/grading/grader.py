"""Batch grading: hidden cases from a secret seed, references in the parent, sandboxed children.

Flow for one lesson
-------------------
1. The seed is resolved (``--seed``, else ``$XAIKIT_GRADER_SEED``, else the seed file, created
   with a fresh random seed on first use; see :func:`resolve_seed`).  Each exercise's hidden cases
   are drawn from ``sha256(seed : exercise id)``, so the raw seed never reaches exercise code.
2. In the grader's own process: the public and hidden cases are built and the expected outputs
   computed with the reference solutions in ``solutions/`` (a case's own ``expected`` wins, as in
   :meth:`Exercise.expected`).  This happens once per run, not once per student.
3. Per submission: :mod:`xaikit.grading.sandbox` runs the student's code in a child that gets the
   case *inputs* only and sends back raw outputs; the parent scores them with the exercise's
   ``compare``.  A timeout or crash during one exercise costs that exercise only: a new child is
   started for the exercises after it.
4. The batch around this (finding and identifying submissions, records kept per student,
   lesson and submission, resume, regrades, the class's files) is
   :func:`xaikit.grading.batch.grade`.
"""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import inspect
import json
import os
import pickle
import secrets
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xaikit.base.io import atomic_write
from xaikit.base.messages import message
from xaikit.exercises.registry import (
    EXERCISES,
    Exercise,
    copy_arguments,
    kit_root,
    load_reference,
)
from xaikit.grading.sandbox import (
    ChildRun,
    Limits,
    ProtocolError,
    SandboxRefused,
    Unsupported,
    Zygote,
    decode_value,
    describe_exit,
    kit_copy,
    run_child,
    select_confinement,
)
from xaikit.grading.submission import Submission

if TYPE_CHECKING:
    from xaikit.grading.batch import GradeOptions

GRADER_VERSION = 2
SEED_ENV = "XAIKIT_GRADER_SEED"
SEED_FILE_ENV = "XAIKIT_GRADER_SEED_FILE"


# ================================================================================================
# seed


def default_seed_file() -> Path:
    """``$XAIKIT_GRADER_SEED_FILE``, else ``$XDG_CONFIG_HOME/xaikit/grader_seed``
    (``~/.config/xaikit/grader_seed``)."""
    if os.environ.get(SEED_FILE_ENV):
        return Path(os.environ[SEED_FILE_ENV])
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "xaikit" / "grader_seed"


def resolve_seed(seed: str | None = None, seed_file: str | os.PathLike[str] | None = None,
                 create: bool = True) -> tuple[str, str]:
    """The secret seed and where it came from.

    Order: the ``seed`` argument (``--seed``), the environment variable ``XAIKIT_GRADER_SEED``,
    the seed file (``seed_file`` or :func:`default_seed_file`).  When none exists and ``create``
    is true, a random 128-bit seed is written to the seed file (mode 0600).

    Raises
    ------
    ValueError
        If no seed is available and ``create`` is false, or a seed is empty.
    """
    if seed is not None:
        if not str(seed).strip():
            raise ValueError(message("grade_seed_empty", where="--seed"))
        return str(seed).strip(), "--seed"
    if os.environ.get(SEED_ENV, "").strip():
        return os.environ[SEED_ENV].strip(), f"${SEED_ENV}"
    path = Path(seed_file) if seed_file is not None else default_seed_file()
    if path.is_file():
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ValueError(message("grade_seed_empty", where=f"the seed file {path}"))
        return value, str(path)
    if not create:
        raise ValueError(message("grade_no_seed", env=SEED_ENV, path=path))
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(16)
    atomic_write(path, value + "\n", mode=0o600)
    return value, f"{path} (new)"


def exercise_seed(seed: str, exercise_id: str) -> int:
    """The integer passed to ``exercise.hidden_cases``: 63 bits of ``sha256(seed:id)``."""
    digest = hashlib.sha256(f"{seed}:{exercise_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def seed_fingerprint(seed: str) -> str:
    """A short public fingerprint of the seed (for resume checks; reveals nothing)."""
    return hashlib.sha256(f"xaikit-grader-fingerprint:{seed}".encode()).hexdigest()[:12]


# ================================================================================================
# preparing the cases (parent side, trusted)


@dataclass
class PreparedCase:
    """A case ready to send: its pickled inputs and the expected output (never sent)."""

    name: str
    visibility: str  # "public" | "hidden"
    payload: bytes
    expected: Any


@dataclass
class PreparedExercise:
    exercise: Exercise
    cases: list[PreparedCase]
    call: str  # how the grader calls the function, for messages


def lesson_exercises(lesson: str) -> list[Exercise]:
    """The exercises of lesson ``NN`` in id order.

    Raises
    ------
    ValueError
        If the lesson has no exercise (lists the lessons that have some).
    """
    lesson = normalise_lesson(lesson)
    found = [EXERCISES[name] for name in EXERCISES if EXERCISES[name].lesson == lesson]
    if not found:
        known = sorted({EXERCISES[name].lesson for name in EXERCISES}) or ["none"]
        raise ValueError(message("grade_lesson_empty", lesson=lesson, known=", ".join(known)))
    return found


def normalise_lesson(lesson: str | int) -> str:
    """``1``, ``"1"``, ``"01"`` -> ``"01"``; anything else is a ValueError."""
    text = str(lesson).strip()
    if not text.isdigit() or not 0 < int(text) < 100:
        raise ValueError(message("grade_lesson_number", got=lesson))
    return f"{int(text):02d}"


def prepare(lesson: str, seed: str, root: str | os.PathLike[str] | None = None,
            exercises: Sequence[Exercise] | None = None) -> list[PreparedExercise]:
    """Build public and hidden cases and compute their expected outputs with the references.

    Parameters
    ----------
    lesson : str
        Lesson number.
    seed : str
        The secret seed.
    root : path, optional
        The kit folder holding ``solutions/`` (default: :func:`kit_root`).
    """
    prepared = []
    for exercise in exercises if exercises is not None else lesson_exercises(lesson):
        reference = load_reference(exercise, root)
        cases = [(case, "public") for case in exercise.public()]
        cases += [(case, "hidden") for case in exercise.hidden(exercise_seed(seed, exercise.id))]
        ready = []
        for case, visibility in cases:
            expected = case.expected
            if expected is None:
                expected = reference(*copy_arguments(case.args),
                                     **copy_arguments(dict(case.kwargs)))
            payload = pickle.dumps((tuple(case.args), dict(case.kwargs)),
                                   protocol=pickle.HIGHEST_PROTOCOL)
            ready.append(PreparedCase(case.name, visibility, payload, expected))
        prepared.append(PreparedExercise(exercise, ready, _call_text(exercise, reference)))
    return prepared


def _call_text(exercise: Exercise, reference: Callable[..., Any]) -> str:
    try:
        parameters = inspect.signature(reference).parameters.values()
    except (TypeError, ValueError):
        return f"{exercise.function}(...)"
    parts = [p.name if p.default is inspect.Parameter.empty else f"{p.name}=..."
             for p in parameters]
    return f"{exercise.function}({', '.join(parts)})"


# ================================================================================================
# grading one submission


@dataclass
class CaseGrade:
    name: str
    visibility: str
    status: str  # passed failed error signature timeout crashed memory forbidden ...
    message: str = ""
    seconds: float = 0.0  # time inside the student's function (as the child measured it)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class ExerciseGrade:
    id: str
    title: str
    max_points: float
    cases: list[CaseGrade] = field(default_factory=list)
    status: str = "failed"
    points: float = 0.0
    message: str = ""  # one line about the whole exercise (missing, forbidden, load error)
    hint: str = ""
    fingerprint: dict[str, str] = field(default_factory=dict)  # what it was graded against
    graded_at: str = ""
    grader_points: float | None = None  # set when an override replaced the grader's points
    override_why: str = ""

    def score(self) -> None:
        """Set ``points`` (share of passed cases, rounded to 0.01, half up) and ``status``."""
        total = len(self.cases)
        passed = sum(case.passed for case in self.cases)
        if self.status in ("forbidden", "missing", "load_error", "unreadable", "syntax",
                           "grader_error"):
            self.points = 0.0
            return
        self.points = round_points(self.max_points * passed / total) if total else 0.0
        if total and passed == total:
            self.status = "passed"
        elif passed:
            self.status = "partial"
        else:
            first = next((case.status for case in self.cases if not case.passed), "failed")
            self.status = first


def round_points(value: float) -> float:
    """Round to 0.01 with halves rounded up (0.125 -> 0.13), as gradebooks expect."""
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass
class StudentGrade:
    student: str
    submission: str
    sha256: str
    lesson: str
    seed_fingerprint: str
    exercises: list[ExerciseGrade] = field(default_factory=list)
    problem: str = ""  # a problem with the whole submission, in student words
    log_tail: str = ""  # instructor-only: the end of the child's stdout/stderr
    sandbox: str = ""
    seconds: float = 0.0
    version: int = GRADER_VERSION
    name: str = ""  # display name (the roster's, else the student key)
    submitted_at: str = ""  # ISO 8601: the file's modification time
    graded_at: str = ""
    late: bool = False  # marked late by the LMS export
    layout: str = ""  # how the student was identified: file, folder, canvas, moodle
    lms_id: str = ""  # the Canvas user id or Moodle participant id of the export
    notes: list[str] = field(default_factory=list)  # what loading the submission skipped, and why

    @property
    def points(self) -> float:
        return round_points(sum(exercise.points for exercise in self.exercises))

    @property
    def max_points(self) -> float:
        return round_points(sum(exercise.max_points for exercise in self.exercises))

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["exercises"] = [dict(vars(e), cases=[vars(c) for c in e.cases])
                             for e in self.exercises]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StudentGrade:
        """The record from :meth:`to_json` (unknown keys of other versions are ignored)."""
        exercise_keys = set(ExerciseGrade.__dataclass_fields__)
        case_keys = set(CaseGrade.__dataclass_fields__)
        exercises = [ExerciseGrade(**{k: v for k, v in dict(
            e, cases=[CaseGrade(**{k: v for k, v in c.items() if k in case_keys})
                      for c in e["cases"]]).items() if k in exercise_keys})
            for e in data["exercises"]]
        keys = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in dict(data, exercises=exercises).items() if k in keys})


HIDDEN_SAFE = ("shape:", "dtype:", "returned None", "expected a tuple", "expected a NumPy array",
               "expected a numeric array")


def redact_hidden(message: str) -> str:
    """A hidden case's comparison message without the expected values."""
    if any(marker in message for marker in HIDDEN_SAFE):
        return message
    if "NaN or infinite" in message:
        return message.split("NaN or infinite")[0] + "NaN or infinite (the reference has none)"
    if "values:" in message:
        head = message.split("values:")[0]
        return f"{head}values differ from the reference solution beyond the tolerance"
    return "the output differs from the reference solution"


def _score_case(prepared: PreparedExercise, case: PreparedCase, result: dict[str, Any],
                payload: bytes, limits: Limits) -> CaseGrade:
    status = result.get("status")
    seconds = result.get("seconds")
    grade = CaseGrade(case.name, case.visibility, "error",
                      seconds=float(seconds) if isinstance(seconds, (int, float)) else 0.0)
    if status == "returned":
        try:
            got = decode_value(result.get("output"), payload)
        except ProtocolError as error:
            grade.message = f"the grader could not read what your function returned ({error})"
            return grade
        unsupported = _find_unsupported(got)
        if unsupported is not None:
            grade.status = "failed"
            grade.message = (f"your function returned {unsupported!r}, which the grader cannot "
                             "read; return NumPy arrays, numbers, or tuples/lists of them")
            return grade
        try:
            ok, message = prepared.exercise.compare_outputs(copy.deepcopy(case.expected), got)
        except Exception as error:  # a compare bug or an odd output: the case fails, we go on
            ok, message = False, (f"the output could not be compared ({type(error).__name__}: "
                                  f"{error})")
        grade.status = "passed" if ok else "failed"
        if not ok:
            grade.message = message if case.visibility == "public" else redact_hidden(message)
        return grade
    line = f" (line {result['line']}: `{result.get('source', '')}`)" if result.get("line") else ""
    if status == "signature":
        grade.status = "signature"
        grade.message = (f"the grader calls {prepared.call}, but your function's signature "
                         f"does not accept that ({result.get('message')})")
    elif status == "forbidden":
        grade.status = "forbidden"
        grade.message = str(result.get("message"))
    elif status == "not_implemented":
        grade.status = "not_implemented"
        grade.message = "not implemented (the function still raises NotImplementedError)"
    elif status == "memory":
        grade.status = "memory"
        grade.message = f"your function ran out of memory (the limit is {limits.memory_mb} MiB)"
    elif status == "too_large":
        grade.status = "too_large"
        grade.message = (f"your function returned {result.get('nbytes', 0) / 2**20:.0f} "
                         f"MiB of data; the limit is {limits.output_mb} MiB")
    elif result.get("type") == "SystemExit":
        grade.message = f"your function called sys.exit() / exit(){line}; return a value instead"
    else:
        grade.message = (f"your function raised {result.get('type')}: "
                         f"{str(result.get('message'))[:300]}{line}")
    return grade


def _find_unsupported(value: Any) -> Unsupported | None:
    if isinstance(value, Unsupported):
        return value
    if isinstance(value, (tuple, list)):
        return next((u for u in map(_find_unsupported, value) if u is not None), None)
    if isinstance(value, dict):
        return next((u for u in map(_find_unsupported, value.values()) if u is not None), None)
    return None


def static_forbidden(tree: ast.Module | None, function: str,
                     forbidden: Sequence[str]) -> tuple[str, int] | None:
    """A forbidden kit name used inside the student's function, found without running it.

    Catches ``xaikit.attribution.grad_cam(...)``, ``attribution.grad_cam`` and names imported
    with ``from xaikit... import grad_cam`` (module level or inside the function).  The runtime
    block of :func:`xaikit.exercises.forbid` catches the rest.
    """
    if tree is None or not forbidden:
        return None
    imported: dict[str, str] = {}  # local name -> dotted origin
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported[(alias.asname or alias.name).split(".")[0]] = \
                    alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    definitions = [node for node in tree.body
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and node.name == function]
    if not definitions:
        return None
    for dotted in forbidden:
        last = dotted.rsplit(".", 1)[-1]
        for node in ast.walk(definitions[-1]):
            if isinstance(node, ast.Attribute) and node.attr == last:
                root = node
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and imported.get(root.id, "").startswith("xaikit"):
                    return dotted, node.lineno
            elif isinstance(node, ast.Name) and imported.get(node.id) and \
                    imported[node.id].startswith("xaikit") and \
                    imported[node.id].rsplit(".", 1)[-1] == last:
                return dotted, node.lineno
    return None


PRELOADABLE = ("numpy", "scipy", "tensorflow", "keras", "matplotlib", "sklearn", "skimage",
               "xaikit")


def preload_modules(tree: ast.Module | None) -> list[str]:
    """Trusted libraries the submission imports at top level, imported by the harness first.

    TensorFlow's import takes seconds; done before the student's code runs, it counts against
    the sandbox's start-up time rather than the student's time limit.
    """
    names: set[str] = set()
    for node in tree.body if tree is not None else ():
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return sorted(name for name in names if name.split(".")[0] in PRELOADABLE
                  and all(part.isidentifier() for part in name.split(".")))


def grade_submission(submission: Submission, prepared: Sequence[PreparedExercise],
                     limits: Limits, lesson: str, fingerprint: str,
                     scratch: str | os.PathLike[str] | None = None,
                     zygote: Zygote | None = None) -> StudentGrade:
    """Grade one submission in the sandbox; never raises for anything the submission does.

    Parameters
    ----------
    submission, prepared, limits, lesson, fingerprint :
        The submission, the lesson's prepared exercises, the limits, and what the record
        carries.
    scratch : path, optional
        Folder for the kit's copy when this call starts its own zygote.
    zygote : Zygote, optional
        The batch's warm process (:func:`_start_zygote`); without it (or when it died), this
        call starts one for this submission alone (TensorFlow is then imported for it).

    Raises
    ------
    SandboxRefused
        Only when it starts its own zygote: no complete confinement and
        ``limits.unsafe_no_sandbox`` unset.
    """
    record = StudentGrade(submission.student, str(submission.path), submission.sha256, lesson,
                          fingerprint)
    grades = [ExerciseGrade(p.exercise.id, p.exercise.title, float(p.exercise.points),
                            hint=p.exercise.hint) for p in prepared]
    record.exercises = grades
    if submission.error is not None:
        record.problem = submission.error.reason
        for grade in grades:
            grade.status = submission.error.kind
            grade.message = submission.error.reason
            grade.score()
        return record
    for index, p in enumerate(prepared):
        hit = static_forbidden(submission.tree, p.exercise.function, p.exercise.forbidden)
        if hit:
            grades[index].status = "forbidden"
            grades[index].message = (f"this exercise asks you to implement {p.exercise.function}"
                                     f" yourself; your code calls {hit[0]} (line {hit[1]})")
    own = None
    try:
        if zygote is None or not zygote.alive():  # no batch zygote, or it died: one of its own
            confinement = select_confinement(limits)
            own = Zygote(_preload(preload_modules(submission.tree), prepared),
                         confinement.backend, kit_copy(_forbidden(prepared), scratch), limits,
                         _secrets(), label=confinement.summary(limits.unsafe_no_sandbox))
        _run_exercises(submission, prepared, limits, own or zygote, grades, record)
    except SandboxRefused:
        raise
    except Exception as error:  # noqa: BLE001 - a fault of the grader: this record only
        message = ("the grader failed while grading this submission (" + type(error).__name__ +
                   "); this is not your fault: your instructor will re-run the grader")
        record.problem = message
        record.log_tail = (record.log_tail + "\n" + traceback.format_exc())[-4000:]
        for grade in grades:
            if grade.status == "failed" and not grade.cases:
                grade.status, grade.message = "grader_error", message
    finally:
        if own is not None:
            own.close()
    for grade in grades:
        grade.score()
    return record


def _run_exercises(submission: Submission, prepared: Sequence[PreparedExercise], limits: Limits,
                   zygote: Zygote, grades: list[ExerciseGrade], record: StudentGrade) -> None:
    """Run the exercises in sandboxes (a new one after a timeout or crash) and score them."""
    record.sandbox = zygote.label
    start = 0
    while start < len(prepared):
        todo = list(range(start, len(prepared)))
        job = {"code": submission.code, "exercises": [
            {"function": prepared[i].exercise.function,
             "cases": [case.payload for case in prepared[i].cases]} for i in todo]}
        run = run_child(job, limits, zygote)
        record.seconds += run.seconds
        record.log_tail = run.log_tail[-4000:]
        start = _collect(run, todo, prepared, grades, limits, record)


def _forbidden(prepared: Sequence[PreparedExercise]) -> list[str]:
    """Every kit function an exercise of the batch forbids (absent from the sandbox's kit)."""
    return sorted({name for p in prepared for name in p.exercise.forbidden})


def _preload(names: Sequence[str], prepared: Sequence[PreparedExercise]) -> list[str]:
    """Modules the zygote imports: the submissions' trusted imports, TensorFlow for models."""
    preload = set(names)
    if any(b"keras" in case.payload for p in prepared for case in p.cases):
        preload.update(("tensorflow", "keras"))
    return sorted(preload)


def _secrets(options: GradeOptions | None = None) -> list[Path]:
    """Paths a sandbox must never see, covered should they lie in a folder it sees."""
    paths = [kit_root() / "solutions", default_seed_file()]
    if options is not None:
        paths += [Path(options.out)]
        paths += [Path(options.root) / "solutions"] if options.root else []
        paths += [Path(options.seed_file)] if options.seed_file else []
    return [path.resolve() for path in paths]


def _collect(run: ChildRun, todo: list[int], prepared: Sequence[PreparedExercise],
             grades: list[ExerciseGrade], limits: Limits, record: StudentGrade) -> int:
    """Score the validated frames of one sandbox run; return the next exercise to run.

    The frames' fields and order were checked by :mod:`xaikit.grading.sandbox.protocol`.
    """
    ready = loaded = False
    current: int | None = None
    case_index: int | None = None
    for frame in run.frames:
        header, event = frame.header, frame.header["event"]
        if event == "ready":
            ready = True
        elif event == "load_error":
            record.problem = _load_error_text(header)
            for i in todo:
                grades[i].status, grades[i].message = "load_error", record.problem
            return len(prepared)
        elif event == "loaded":
            loaded = True
        elif event == "exercise_start":
            current, case_index = todo[header["index"]], None
        elif event == "missing" and current is not None:
            grades[current].status = "missing"
            grades[current].message = _missing_text(prepared[current], header)
        elif event == "case_start":
            case_index = header["index"]
        elif event == "case_result" and current is not None:
            case = prepared[current].cases[header["index"]]
            grades[current].cases.append(
                _score_case(prepared[current], case, header, frame.payload, limits))
            if grades[current].cases[-1].status == "forbidden" and \
                    grades[current].status != "forbidden":
                grades[current].status = "forbidden"
                grades[current].message = grades[current].cases[-1].message
    if run.ended == "done":
        return len(prepared)
    if not ready or run.ended == "grader":  # nothing of the student's code ran yet
        message = ("the grader could not start its sandbox (" +
                   ("startup timeout" if run.ended == "timeout" else run.detail) +
                   "); this is not your fault: your instructor will re-run the grader")
        record.problem = message
        for i in todo:
            grades[i].status, grades[i].message = "grader_error", message
        return len(prepared)
    reason = _ending_text(run, limits)
    if not loaded or current is None:
        record.problem = f"while loading your code, {reason}"
        for i in todo:
            grades[i].status, grades[i].message = "load_error", record.problem
        return len(prepared)
    status = {"timeout": "timeout", "crashed": "crashed", "protocol": "crashed"}[run.ended]
    cases = prepared[current].cases
    where = ""
    if case_index is not None and 0 <= case_index < len(cases):
        where = f" (during {cases[case_index].visibility} case '{cases[case_index].name}')"
    for missing in cases[len(grades[current].cases):]:
        grades[current].cases.append(CaseGrade(missing.name, missing.visibility, status,
                                               f"{reason}{where}"))
    return current + 1


def _ending_text(run: ChildRun, limits: Limits) -> str:
    if run.ended == "timeout":
        return (f"your code did not finish within the time limit ({limits.timeout:g} s): an "
                "infinite loop, or much slower code than needed")
    if run.ended == "protocol":
        return ("the grader could not read your results (" + run.detail + "); this happens "
                "when code writes into the grader's own channel")
    return describe_exit(run.returncode)


def _load_error_text(header: dict[str, Any]) -> str:
    kind = header.get("type")
    line = header.get("line")
    where = f" at line {line} (`{header.get('source', '')}`)" if line else ""
    if kind == "SystemExit":
        return (f"your code called sys.exit() / exit() while it was being loaded{where}; "
                "remove it (the grader only needs your functions)")
    text = f"your code raised {kind} while it was being loaded{where}: {header.get('message')}"
    if kind in ("ModuleNotFoundError", "ImportError"):
        text += " (import only modules that come with the kit: numpy, tensorflow, keras, xaikit)"
    if kind == "PermissionError":
        text += " (the grader does not let your code touch files outside its working directory)"
    return text


def _missing_text(prepared: PreparedExercise, header: dict[str, Any]) -> str:
    name = prepared.exercise.function
    if header.get("kind"):
        return (f"`{name}` is a {header['kind']}, not a function; define it with "
                f"`def {name}(...)`")
    defined = [str(d) for d in header.get("defined", [])][:20]
    close = difflib.get_close_matches(name, defined, n=1)
    text = f"no function named `{name}` was found in your submission"
    if close:
        text += f"; did you mean to call `{close[0]}` `{name}`?"
    elif defined:
        text += f" (it defines: {', '.join(defined)})"
    return text + f" — the grader calls {prepared.call}"


def _start_zygote(todo: Sequence[Submission], prepared: Sequence[PreparedExercise],
                  options: GradeOptions, log: Callable[[str], None]) -> Zygote | None:
    """Start the batch's warm process (None, and a note, when it fails to start).

    Raises
    ------
    SandboxRefused
        When the machine offers no complete confinement and ``--unsafe-no-sandbox`` was not
        given (fail closed: nobody's code runs).
    """
    limits = options.limits
    confinement = select_confinement(limits)
    label = confinement.summary(limits.unsafe_no_sandbox)
    if not confinement.complete:
        log(f"xaikit grade: WARNING: grading without complete confinement: {label}")
    preload = _preload([name for submission in todo for name in
                        preload_modules(submission.tree)], prepared)
    try:
        return Zygote(preload, confinement.backend, kit_copy(_forbidden(prepared),
                                                             options.scratch),
                      limits, _secrets(options), label=label)
    except OSError as error:
        log(f"xaikit grade: note: no warm sandbox process ({error}); starting each sandbox "
            "afresh (slower)")
        return None


def lesson_stem(exercise: Exercise) -> str:
    """The lesson's file stem (``"05_grad_cam"``), from the exercise's reference path."""
    return Path(exercise.reference.partition(":")[0]).stem


def dumps(data: Any) -> str:
    """JSON for the reports (sorted keys, NaN-free)."""
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def __getattr__(name: str) -> Any:
    # the batch run moved to xaikit.grading.batch; these names still work from here
    if name in ("GradeOptions", "grade", "collect_submissions"):
        import importlib

        return getattr(importlib.import_module("xaikit.grading.batch"), name)
    raise AttributeError(f"module 'xaikit.grading.grader' has no attribute {name!r}")


__all__ = ["Limits", "StudentGrade", "ExerciseGrade", "CaseGrade", "grade_submission", "prepare",
           "resolve_seed", "exercise_seed", "seed_fingerprint", "lesson_exercises",
           "round_points", "lesson_stem"]
