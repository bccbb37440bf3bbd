"""The exercise format: declare an exercise once, check a student's function against it.

How an exercise is laid out
---------------------------
An exercise is a function the student writes in a lesson.  Three files hold it:

``lessons/NN_topic.py`` (what students receive)
    the stub, then the in-place public check::

        def linear_attribution(weights, inputs, baseline=0.0):
            raise NotImplementedError("your code here")

        check("01.linear_attribution", linear_attribution)

    :func:`check` never raises: an unsolved stub prints "not implemented yet", so the executed
    lesson does not fail.

``solutions/NN_topic.py`` (instructor side only, absent from the student bundle)
    the solved function with the same signature (a test checks that they cannot drift).

``xaikit/exercises/lessonNN.py`` (one module per lesson, discovered automatically)
    the declaration, registered at import time::

        register(Exercise(
            id="01.linear_attribution",          # "NN.function_name"
            function="linear_attribution",       # name the student defines
            points=1,
            public_cases=_public_cases,          # () -> list[Case], deterministic
            hidden_cases=_hidden_cases,          # (seed) -> list[Case], random from the seed
            oracle=_expected,                    # computes the expected output from the kit
            reference="solutions/01_why_interpret.py:linear_attribution",
            forbidden=("xaikit.attribution.saliency",),  # kit functions the student may not call
            hint="...",
        ))

Rules for exercise modules: importing one must be cheap (import TensorFlow, models and data
inside the case builders, not at module level); public cases are the same on every run; hidden
cases depend only on the seed (the grader draws it secretly); a :class:`Case` may carry its own
``expected`` value (a worked example), otherwise the oracle computes it.  ``compare`` defaults to
:func:`compare_outputs` (shape, dtype kind, values with ``rtol``/``atol``); pass
``functools.partial(compare_outputs, rtol=..., atol=...)`` or your own
``(expected, got) -> (ok, message)`` for looser checks.

Forbidden calls
---------------
While the student's function runs, every kit function named in ``forbidden`` is replaced, in
every ``xaikit`` module and registry dict that holds it and in the student's own globals, by a
function raising :class:`ForbiddenCallError` ("this exercise asks you to implement grad_cam
yourself; calling xaikit.attribution.grad_cam is not allowed").  ``forbid`` (in
:mod:`xaikit.exercises.checking`) is the context manager doing this; the grader reuses it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pkgutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs

__all__ = [
    "Case", "Exercise", "EXERCISES", "register", "ReferenceNotAvailable", "load_reference",
    "load_lesson_function", "kit_root", "lesson_path", "copy_arguments",
]


class ReferenceNotAvailable(FileNotFoundError):
    """Raised when the reference solutions (instructor side) are not in this copy of the kit."""


@dataclass(frozen=True)
class Case:
    """One call of the student's function: ``function(*args, **kwargs)``.

    Parameters
    ----------
    name : str
        Says in words what the case tests ("one input, zero baseline").
    args, kwargs :
        The arguments passed to the function (they are copied before each call).
    expected : optional
        The expected output when it is known by hand (a worked example); otherwise the
        exercise's oracle computes it.
    """

    name: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    expected: Any = None


@dataclass
class Exercise:
    """Declaration of one exercise (see the module docstring for the format)."""

    id: str
    function: str
    points: float
    public_cases: Callable[[], Sequence[Case]] | Sequence[Case]
    hidden_cases: Callable[[int], Sequence[Case]]
    reference: str
    oracle: Callable[..., Any] | None = None
    compare: Callable[[Any, Any], tuple[bool, str]] | None = None
    forbidden: Sequence[str] = ()
    hint: str = ""
    title: str = ""

    def __post_init__(self) -> None:
        lesson, _, name = self.id.partition(".")
        if not (len(lesson) == 2 and lesson.isdigit() and name.isidentifier()):
            raise ValueError(f"exercise id must look like 'NN.function_name'; got {self.id!r}")
        if not self.function.isidentifier():
            raise ValueError(f"exercise {self.id}: function must be a Python name; "
                             f"got {self.function!r}")
        if ":" not in self.reference:
            raise ValueError(f"exercise {self.id}: reference must be 'solutions/NN_topic.py:name';"
                             f" got {self.reference!r}")
        if not isinstance(self.points, (int, float)) or self.points <= 0:
            raise ValueError(f"exercise {self.id}: points must be a positive number; "
                             f"got {self.points!r}")
        self.forbidden = tuple(self.forbidden)

    @property
    def lesson(self) -> str:
        """The two-digit lesson number, e.g. ``"01"``."""
        return self.id.split(".", 1)[0]

    def public(self) -> list[Case]:
        """The public cases (deterministic)."""
        cases = self.public_cases() if callable(self.public_cases) else self.public_cases
        return list(cases)

    def hidden(self, seed: int) -> list[Case]:
        """The hidden cases drawn from ``seed`` (instructor side)."""
        return list(self.hidden_cases(seed))

    def expected(self, case: Case) -> Any:
        """The expected output of ``case``: its own ``expected`` or the oracle's output."""
        if case.expected is not None:
            return case.expected
        if self.oracle is None:
            raise ValueError(f"exercise {self.id}: case {case.name!r} has no expected value and "
                             "the exercise has no oracle")
        return self.oracle(*copy_arguments(case.args), **copy_arguments(dict(case.kwargs)))

    def compare_outputs(self, expected: Any, got: Any) -> tuple[bool, str]:
        """Compare with the exercise's ``compare`` (default :func:`compare_outputs`)."""
        return (self.compare or compare_outputs)(expected, got)


def copy_arguments(value: Any) -> Any:
    """Copy arrays and containers (never models) so a function cannot alter the shared inputs."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple):
        return tuple(copy_arguments(v) for v in value)
    if isinstance(value, list):
        return [copy_arguments(v) for v in value]
    if isinstance(value, dict):
        return {k: copy_arguments(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------
# registry with lazy discovery of xaikit/exercises/lessonNN.py


class _Registry(Mapping[str, Exercise]):
    """``EXERCISES``: id -> :class:`Exercise`; imports the lesson modules on first access."""

    def __init__(self) -> None:
        self._items: dict[str, Exercise] = {}
        self._discovered = False
        self.import_errors: dict[str, str] = {}

    def add(self, exercise: Exercise, replace: bool = False) -> None:
        if exercise.id in self._items and not replace:
            raise ValueError(f"exercise {exercise.id} is registered twice")
        self._items[exercise.id] = exercise

    def remove(self, exercise_id: str) -> None:
        self._items.pop(exercise_id, None)

    def discover(self) -> None:
        """Import every ``xaikit/exercises/lessonNN.py`` (once)."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module("xaikit.exercises")
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if module.name.startswith("lesson") and module.name[6:].isdigit():
                self._import(f"xaikit.exercises.{module.name}")

    def _import(self, name: str) -> None:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                self.import_errors[name] = f"{type(error).__name__}: {error}"
        except Exception as error:  # one broken module must not hide the others
            self.import_errors[name] = f"{type(error).__name__}: {error}"

    def __getitem__(self, exercise_id: str) -> Exercise:
        if exercise_id not in self._items and not self._discovered:
            # only the exercise's own lesson module, so check() stays cheap
            self._import(f"xaikit.exercises.lesson{str(exercise_id).partition('.')[0]}")
        if exercise_id not in self._items:
            self.discover()
        if exercise_id not in self._items:
            known = ", ".join(sorted(self._items)) or "none"
            broken = "".join(f"; {name} failed to import ({error})"
                             for name, error in self.import_errors.items())
            raise KeyError(f"no exercise {exercise_id!r} (known: {known}){broken}")
        return self._items[exercise_id]

    def __iter__(self) -> Iterator[str]:
        self.discover()
        return iter(sorted(self._items))

    def __len__(self) -> int:
        self.discover()
        return len(self._items)


EXERCISES = _Registry()
"""All exercises by id ("NN.name"); lesson modules are imported on first access."""


def register(*exercises: Exercise, replace: bool = False) -> None:
    """Register exercises (called at import time by ``xaikit/exercises/lessonNN.py``)."""
    for exercise in exercises:
        if not isinstance(exercise, Exercise):
            raise TypeError(f"register() expects Exercise objects; got {type(exercise).__name__}")
        EXERCISES.add(exercise, replace=replace)


# --------------------------------------------------------------------------------------------
# locating lessons, solutions and the stubs


def kit_root() -> Path:
    """The folder holding ``lessons/`` (the current directory or a parent, else the package's
    parent folder)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "lessons").is_dir():
            return folder
    return Path(__file__).resolve().parents[2]


def lesson_path(number: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The lesson file ``lessons/NN_*.py`` for a lesson number (e.g. ``"01"``)."""
    folder = Path(root) if root is not None else kit_root()
    matches = sorted((folder / "lessons").glob(f"{number}_*.py"))
    if len(matches) != 1:
        found = "none" if not matches else ", ".join(m.name for m in matches)
        raise FileNotFoundError(f"expected one lesson file lessons/{number}_*.py in {folder}; "
                                f"found {found}")
    return matches[0]


_REFERENCES: dict[tuple[str, str, int, int], Callable[..., Any]] = {}


def load_reference(exercise: str | Exercise,
                   root: str | os.PathLike[str] | None = None) -> Callable[..., Any]:
    """Load the reference solution of an exercise from ``solutions/NN_topic.py`` (instructor side).

    Raises
    ------
    ReferenceNotAvailable
        If ``solutions/`` or the file is absent (as in the student bundle).
    AttributeError
        If the file does not define the function.
    """
    if not isinstance(exercise, Exercise):
        exercise = EXERCISES[exercise]
    relative, _, function_name = exercise.reference.partition(":")
    path = (Path(root) if root is not None else kit_root()) / relative
    if not path.is_file():
        raise ReferenceNotAvailable(
            f"{exercise.id}: the reference solution {relative} is not in this copy of the kit "
            f"(looked in {path.parent}); reference solutions are instructor-side only and are "
            "not part of the student bundle"
        )
    status = path.stat()
    key = (str(path.resolve()), function_name, status.st_mtime_ns, status.st_size)
    if key not in _REFERENCES:  # an edited solutions file is loaded again
        module_name = f"_xaikit_solution_{path.stem}_{abs(hash(key[0]))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ReferenceNotAvailable(f"{exercise.id}: cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if not callable(getattr(module, function_name, None)):
            raise AttributeError(f"{exercise.id}: {relative} does not define {function_name}()")
        _REFERENCES[key] = getattr(module, function_name)
    return _REFERENCES[key]


def load_lesson_function(path: str | os.PathLike[str], name: str) -> Callable[..., Any]:
    """Define one top-level function of a lesson source (e.g. the student's stub) in isolation.

    Only the file's top-level ``import`` statements and that ``def`` are executed, so nothing
    else of the lesson runs.

    Raises
    ------
    LookupError
        If the file has no top-level function ``name``.
    """
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    definitions = [node for node in tree.body
                   if isinstance(node, ast.FunctionDef) and node.name == name]
    if not definitions:
        raise LookupError(f"{path} defines no top-level function {name}()")
    module = ast.Module(body=[*imports, definitions[-1]], type_ignores=[])
    namespace: dict[str, Any] = {"__name__": f"_xaikit_lesson_{Path(path).stem}"}
    exec(compile(module, str(path), "exec"), namespace)  # noqa: S102 - the kit's own lesson file
    return namespace[name]
