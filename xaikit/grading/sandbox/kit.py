"""The copy of the kit a sandbox sees: no exercise oracles, no forbidden implementations.

Inside the sandbox, ``import xaikit`` finds this copy and nothing else (bubblewrap binds only it;
the fallback's Landlock rules let the sandbox read only it).  Compared with the real package:

- ``xaikit/exercises/lessonNN.py`` are absent: no oracle, no case builder, no hidden-case
  generator exists in the sandbox (``EXERCISES`` is empty there);
- ``xaikit/grading/`` holds only the sandbox's own harness (``sandbox/``), not the grader;
- every function an exercise of the batch forbids, *and every kit function it calls* (found in
  its source, transitively: the gradient, forward and layer-tap plumbing of ``core``, the target
  and input checks), has its body replaced by a ``raise ForbiddenCallError(...)``: its name,
  signature and decorators stay (so the lessons' imports work), the implementation is gone, and
  so is every other kit function built on it.  Patching, reloading or re-reading the module from
  inside the sandbox finds only the stand-ins.  Functions the kit runs while it is imported
  (decorators such as ``register``) are kept, and so are ``xaikit.base``, ``xaikit.exercises``,
  ``xaikit.grading``, ``xaikit.models``, ``xaikit.data``, ``xaikit.viz`` and ``xaikit.report``
  (unless a function there is itself forbidden).  (Copying the kit's source into a submission is plagiarism, for the
  instructor to judge.)

A function forbidden by one exercise is absent for every exercise of the batch (the grader
grades one lesson per batch).
"""

from __future__ import annotations

import ast
import atexit
import compileall
import importlib
import inspect
import os
import re
import shutil
import tempfile
import textwrap
import threading
import types
from collections.abc import Iterable
from pathlib import Path

from xaikit.base.messages import message

_LESSON_MODULE = re.compile(r"lesson\d\d\.py")
_GRADER_ONLY = ("grader.py", "release.py", "reports.py", "submission.py")
_LOCK = threading.Lock()
_COPIES: dict[tuple[frozenset[str], str | None], Path] = {}


def package_dir() -> Path:
    """The real ``xaikit`` package folder of this process."""
    import xaikit

    return Path(xaikit.__file__).resolve().parent


def kit_copy(forbidden: Iterable[str] = (), scratch: str | os.PathLike[str] | None = None) -> Path:
    """A folder holding the sandbox's ``xaikit`` (made once per forbidden set and process).

    Parameters
    ----------
    forbidden : iterable of str
        Dotted names of kit functions to remove (the batch's exercises' ``forbidden``).
    scratch : path, optional
        Folder for the copy (default: the system's temporary folder).

    Returns
    -------
    Path
        ``FOLDER`` such that ``FOLDER/xaikit`` is the package (put ``FOLDER`` on ``sys.path``).

    Raises
    ------
    ValueError
        If a forbidden name is not a kit function defined in the package.
    """
    key = (frozenset(forbidden), None if scratch is None else str(scratch))
    with _LOCK:
        if key in _COPIES and _COPIES[key].is_dir():
            return _COPIES[key]
        targets = _closure(sorted(key[0]))
        folder = Path(tempfile.mkdtemp(prefix="xaikit-grade-kit-", dir=scratch))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        source = package_dir()
        shutil.copytree(source, folder / "xaikit", ignore=_ignore(source))
        by_file: dict[str, list[tuple[str, str]]] = {}
        for relative, qualname, dotted in targets:
            by_file.setdefault(relative, []).append((qualname, dotted))
        for relative, functions in by_file.items():
            if (folder / "xaikit" / relative).is_file():  # else absent already (an oracle)
                _strip(folder / "xaikit" / relative, functions)
        compileall.compile_dir(str(folder), quiet=2)
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        _COPIES[key] = folder
        return folder


def _ignore(source: Path):  # noqa: ANN202 - shutil's ignore callback
    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).resolve()
        dropped = {name for name in names if name == "__pycache__" or name.endswith(".pyc")}
        if here == source / "exercises":
            dropped |= {name for name in names if _LESSON_MODULE.fullmatch(name)}
        if here == source / "grading":
            dropped |= set(_GRADER_ONLY)
        return dropped

    return ignore


def _resolve(dotted: str) -> types.FunctionType:
    """The kit function a forbidden name refers to."""
    module_name, _, attribute = dotted.rpartition(".")
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(message("sandbox_forbidden_unknown", name=dotted, error=error)) from None
    function = inspect.unwrap(value)
    if not isinstance(function, types.FunctionType) or "<locals>" in function.__qualname__:
        raise ValueError(message("sandbox_forbidden_not_function", name=dotted,
                                 kind=type(value).__name__))
    if _kit_file(function) is None:
        raise ValueError(message("sandbox_forbidden_outside_kit", name=dotted,
                                 path=function.__code__.co_filename))
    return function


def _kit_file(function: types.FunctionType) -> str | None:
    """The function's file relative to the package, or None outside it."""
    try:
        return str(Path(function.__code__.co_filename).resolve().relative_to(package_dir()))
    except ValueError:
        return None


_KEPT = ("base/", "exercises/", "grading/", "models/", "data/", "viz.py", "report.py")
"""Never stripped: the floor, the exercise format, the harness, and what builds or loads models
and data or draws figures (a lesson's top-level code the loader keeps may call them)."""


def _closure(forbidden: list[str]) -> list[tuple[str, str, str]]:
    """(file, qualified name, message name) of the forbidden functions and their kit callees."""
    named = {_resolve(dotted): dotted for dotted in forbidden}
    keep = _import_time_functions()
    found: dict[types.FunctionType, str] = {}
    todo = list(named.items())
    while todo:
        function, name = todo.pop()
        if function in found:
            continue
        found[function] = name
        todo += [(callee, f"{callee.__module__}.{callee.__qualname__} (used by {name})")
                 for callee in _callees(function)
                 if callee not in found and callee not in keep and callee not in named
                 and not str(_kit_file(callee)).startswith(_KEPT)]
    return [(str(_kit_file(f)), f.__qualname__, name) for f, name in found.items()]


def forbidden_implementations(forbidden: Iterable[str]) -> set[tuple[str, str]]:
    """(file relative to the package, qualified name) of the kit functions a list of forbidden
    names removes from the sandbox: each forbidden function and every kit function it calls.

    The student handout checks its near-copies of reference solutions against the same set
    (:func:`xaikit.grading.release.leak_report`): the kit's own implementation of a forbidden
    function, helpers included, is expected to look like the solution.
    """
    return {(path, name) for path, name, _ in _closure(sorted(set(forbidden)))}


def _callees(function: types.FunctionType) -> set[types.FunctionType]:
    """Kit functions named in ``function``'s source (``name`` or ``module.name`` chains)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return set()
    return _resolve_names(tree, function.__globals__)


def _resolve_names(tree: ast.AST, namespace: dict) -> set[types.FunctionType]:
    found = set()
    for node in ast.walk(tree):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in namespace:
            continue
        value = namespace[node.id]
        for attribute in reversed(chain):
            if not isinstance(value, types.ModuleType):
                break
            value = getattr(value, attribute, None)
        value = inspect.unwrap(value) if callable(value) else value
        if isinstance(value, types.FunctionType) and _kit_file(value) is not None and \
                "<locals>" not in value.__qualname__:
            found.add(value)
    return found


def _import_time_functions() -> set[types.FunctionType]:
    """Kit functions that run while the kit is imported (decorators, module-level calls), and
    everything they call: they must keep working in the sandbox."""
    import sys

    direct: set[types.FunctionType] = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not (name == "xaikit" or name.startswith("xaikit.")) or not path:
            continue
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for part in _module_level(tree):
            calls = [part] if not isinstance(part, ast.stmt) else \
                [node.func for node in ast.walk(part) if isinstance(node, ast.Call)]
            for call in calls:
                direct |= _resolve_names(call, vars(module))
    closure: set[types.FunctionType] = set()
    todo = list(direct)
    while todo:
        function = todo.pop()
        if function not in closure:
            closure.add(function)
            todo += list(_callees(function))
    return closure


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """The parts of a module that run on import: statements outside function bodies (whose
    calls run), decorators (which are called) and default values and class bases (expressions
    whose calls run)."""
    parts: list[ast.AST] = []
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts += node.decorator_list
            parts += [ast.Expr(d) for d in [*node.args.defaults, *node.args.kw_defaults]
                      if d is not None]
        elif isinstance(node, ast.ClassDef):
            parts += node.decorator_list
            parts += [ast.Expr(b) for b in node.bases]
            todo += node.body
        else:
            parts.append(node)
    return parts


def _strip(path: Path, functions: list[tuple[str, str]]) -> None:
    """Replace the bodies of ``functions`` (qualified name, dotted name) in the file at ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for qualname, dotted in functions:
        scope: ast.AST = tree
        for part in qualname.split("."):
            found = [node for node in getattr(scope, "body", [])
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and node.name == part]
            if not found:
                raise ValueError(message("sandbox_forbidden_not_function", name=dotted,
                                         kind="a definition the grader cannot find"))
            scope = found[-1]
        text = message("sandbox_forbidden_call", name=dotted)
        stand_in = ast.parse(
            "from xaikit.exercises.checking import ForbiddenCallError as _ForbiddenCallError\n"
            f"raise _ForbiddenCallError({text!r})\n").body
        docstring = ast.get_docstring(scope, clean=False)
        scope.body = ([ast.Expr(ast.Constant(docstring))] if docstring else []) + stand_in
    path.write_text(ast.unparse(ast.fix_missing_locations(tree)) + "\n", encoding="utf-8")
