"""Help for self-learners: ``hint("NN.name")`` and, in self-study mode, ``solution("NN.name")``.

In a lesson notebook::

    from xaikit.exercises import hint, solution

    hint("05.grad_cam")        # prints the exercise's hint (always available)
    solution("05.grad_cam")    # prints the reference solution (self-study mode only)

**Self-study mode** is switched on by the environment variable ``XAIKIT_SELF_STUDY=1`` in a
clone of the repository (the reference solutions live in ``solutions/``, which the student
bundle of a graded course leaves out).  Outside self-study mode ``solution`` says so and prints
nothing of the solution, so a course that grades the exercises keeps its default.  The same
switch builds the self-study site: ``make site SELF_STUDY=1`` shows each exercise's reference
solution and the model answers of the open questions in collapsible boxes.

The solution text is the solved function from ``solutions/NN_topic.py`` together with the
module-level helpers and constants it uses, so it runs as shown.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from xaikit.base.messages import message
from xaikit.exercises.registry import EXERCISES, Exercise, ReferenceNotAvailable, kit_root

__all__ = ["SELF_STUDY_ENV", "hint", "self_study", "solution", "solution_source"]

SELF_STUDY_ENV = "XAIKIT_SELF_STUDY"
"""The environment variable that switches self-study mode on (``1``) or off (``0``, unset)."""

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def self_study() -> bool:
    """Whether self-study mode is on (``XAIKIT_SELF_STUDY=1``).

    Raises
    ------
    ValueError
        If the variable holds anything but 1/0, true/false, yes/no or on/off.
    """
    value = os.environ.get(SELF_STUDY_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValueError(message("env", name=SELF_STUDY_ENV, value=value,
                                 allowed="1 (self-study: solutions shown) or 0 (default)"))
    return value in _TRUE


def _exercise(exercise_id: str) -> Exercise:
    if not isinstance(exercise_id, str):
        raise TypeError(message("expected", name="exercise_id", expected="an id like '05.grad_cam'",
                                got=type(exercise_id).__name__, fix=""))
    if exercise_id not in EXERCISES:
        raise KeyError(message("exercise_unknown", got=exercise_id,
                               allowed=", ".join(sorted(EXERCISES)) or "none"))
    return EXERCISES[exercise_id]


def hint(exercise_id: str) -> None:
    """Print the hint of an exercise (what to think about, not the code).

    Parameters
    ----------
    exercise_id : str
        The exercise's id, ``"NN.name"`` as in the lesson's ``check("NN.name", ...)``.

    Raises
    ------
    KeyError
        If no exercise has this id (the message lists the known ids).

    Examples
    --------
    >>> hint("01.linear_attribution")  # doctest: +ELLIPSIS
    Hint for 01.linear_attribution: ...
    """
    exercise = _exercise(exercise_id)
    text = exercise.hint or message("exercise_no_hint", id=exercise.id)
    print(f"Hint for {exercise.id}: {text}")


def solution_source(exercise_id: str, root: str | os.PathLike[str] | None = None) -> str:
    """The reference solution's source: the solved function and the module-level names it uses.

    Parameters
    ----------
    exercise_id : str
        The exercise's id, ``"NN.name"``.
    root : path, optional
        The folder holding ``solutions/`` (default: the repository this kit runs from).

    Returns
    -------
    str
        Python source: the imports the code needs, helpers and constants, then the function.

    Raises
    ------
    ReferenceNotAvailable
        If ``solutions/`` is not in this copy of the kit (a student bundle or a pip install).
    """
    exercise = _exercise(exercise_id)
    relative, _, name = exercise.reference.partition(":")
    path = (Path(root) if root is not None else kit_root()) / relative
    if not path.is_file():
        raise ReferenceNotAvailable(message("solution_missing", id=exercise.id, file=relative,
                                            folder=path.parent))
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    defined: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    defined[target.id] = node
    if name not in defined:
        raise AttributeError(message("solution_function", file=relative, function=name))
    needed: list[ast.stmt] = []
    pending = [defined[name]]
    while pending:  # the function, then every module-level name it (transitively) reads
        node = pending.pop()
        if node in needed:
            continue
        needed.append(node)
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        pending += [defined[u] for u in sorted(used) if u in defined and defined[u] is not node]
    body = [n for n in tree.body if n in needed]  # in the file's order
    names = {n.id for node in body for n in ast.walk(node) if isinstance(n, ast.Name)}
    names |= {n.value.id for node in body for n in ast.walk(node)
              if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
               and any((a.asname or a.name).split(".")[0] in names for a in n.names)]
    parts = [ast.get_source_segment(source, n) for n in imports]
    text = "\n".join(p for p in parts if p)
    for node in body:
        segment = ast.get_source_segment(source, node) or ""
        text += ("\n\n\n" if text else "") + segment
    return text + "\n"


def solution(exercise_id: str) -> None:
    """Print the reference solution of an exercise, in self-study mode only.

    Self-study mode: ``XAIKIT_SELF_STUDY=1`` in a clone of the repository (see the module
    docstring).  Otherwise prints how to switch it on, and nothing of the solution.

    Parameters
    ----------
    exercise_id : str
        The exercise's id, ``"NN.name"``.

    Raises
    ------
    KeyError
        If no exercise has this id.
    ReferenceNotAvailable
        In self-study mode, if ``solutions/`` is not in this copy of the kit.
    """
    exercise = _exercise(exercise_id)
    if not self_study():
        print(message("solution_locked", id=exercise.id, env=SELF_STUDY_ENV))
        return
    print(f"# Reference solution of {exercise.id} ({exercise.reference})\n")
    print(solution_source(exercise.id))
