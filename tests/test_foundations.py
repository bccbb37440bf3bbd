"""The foundations hold: one reader of XAIKIT_FAST, one list of zoo names, a TensorFlow-free face
of ``core`` that imports nothing above it, every error worded by the message table, one stub."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xaikit"

# Packages whose every raise formats its text with xaikit.base.messages.message. The grader,
# report/reproduce and the exercises' runner word their own messages until their owners move them.
MESSAGE_TABLE_PACKAGES = ("base", "core", "attribution", "models", "data", "metrics", "viz.py",
                          "commands/data.py", "commands/explain.py", "commands/info.py",
                          "commands/train.py")


def _guarded_import(code: str, forbidden: tuple[str, ...]) -> subprocess.CompletedProcess:
    guard = (
        "import builtins\n"
        "real = builtins.__import__\n"
        f"FORBIDDEN = {forbidden!r}\n"
        "def guard(name, globals=None, locals=None, fromlist=(), level=0):\n"
        "    if level == 0 and any(name == f or name.startswith(f + '.') for f in FORBIDDEN):\n"
        "        raise ImportError(f'{name} must not be imported here')\n"
        "    return real(name, globals, locals, fromlist, level)\n"
        "builtins.__import__ = guard\n"
    )
    return subprocess.run([sys.executable, "-c", guard + code], capture_output=True, text=True)


def test_core_face_imports_no_tensorflow():
    result = _guarded_import("import xaikit.core, xaikit.core.checks\n"
                             "assert 'resolve' in dir(xaikit.core)\n", ("tensorflow", "keras"))
    assert result.returncode == 0, result.stderr[-2000:]


def test_core_imports_nothing_above_it():
    code = ("import pkgutil, importlib, xaikit.core\n"
            "for m in pkgutil.walk_packages(xaikit.core.__path__, 'xaikit.core.'):\n"
            "    importlib.import_module(m.name)\n")
    above = ("xaikit.models", "xaikit.data", "xaikit.viz", "xaikit.attribution", "xaikit.metrics",
             "xaikit.interpretation", "xaikit.exercises", "xaikit.grading", "xaikit.report")
    result = _guarded_import(code, above)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("1", True), ("TRUE", True),
                                                  ("off", False), ("", False), ("0", False)])
def test_xaikit_fast_is_read_one_way_everywhere(monkeypatch, value, expected):
    import xaikit.data as data
    import xaikit.models as models
    from xaikit.base.env import fast_mode

    monkeypatch.setenv("XAIKIT_FAST", value)
    assert data.fast_mode is fast_mode and models.fast_default is fast_mode
    assert data.recipe("shapes")["fast"] is expected
    assert models.zoo_info("shapes")["fast"] is expected
    monkeypatch.setenv("XAIKIT_FAST", "ture")
    with pytest.raises(ValueError, match="XAIKIT_FAST='ture' is not understood"):
        data.recipe("shapes")


def test_no_other_module_reads_xaikit_fast():
    pending = {"report.py"}  # the lead switches report.fast_mode to xaikit.base.env.fast_mode
    reading = re.compile(r"environ(\.get\(|\[)\s*[\"']XAIKIT_FAST[\"']")
    readers = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
               if reading.search(path.read_text())]
    assert set(readers) <= pending, readers


def test_zoo_names_are_listed_once():
    from xaikit.base.names import ZOO_NAMES
    from xaikit.commands import data as data_command
    from xaikit.commands import train as train_command
    from xaikit.data import RECIPES
    from xaikit.models import ZOO

    assert set(ZOO) == set(ZOO_NAMES) == set(RECIPES)
    assert data_command.ZOO is ZOO_NAMES and train_command._NAMES is ZOO_NAMES


def _calls_message(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Call) and getattr(sub.func, "id", None) == "message"
               for sub in ast.walk(node))


def _raises(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every raise in ``path`` whose message is not made by message(...), directly
    or through a module function that builds the exception with message(...)."""
    tree = ast.parse(path.read_text())
    factories = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                 and any(isinstance(sub, ast.Return) and sub.value is not None
                         and _calls_message(sub.value) for sub in ast.walk(node))}
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None or isinstance(node.exc, ast.Name):
            continue
        call = node.exc
        arguments = call.args if isinstance(call, ast.Call) else []
        worded = (arguments and isinstance(arguments[0], ast.Call)
                  and getattr(arguments[0].func, "id", None) == "message")
        made = isinstance(call, ast.Call) and getattr(call.func, "id", None) in factories
        if not (worded or made):
            bad.append((node.lineno, ast.unparse(node)[:80]))
    return bad


@pytest.mark.parametrize("area", MESSAGE_TABLE_PACKAGES)
def test_every_raise_is_worded_by_the_message_table(area):
    root = PACKAGE / area
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    allowed = {("base/messages.py", "KeyError")}  # the table's own "no such key"
    offenders = {}
    for path in files:
        name = str(path.relative_to(PACKAGE))
        bad = [(line, text) for line, text in _raises(path)
               if not any(name == f and kind in text for f, kind in allowed)]
        if bad:
            offenders[name] = bad
    assert not offenders, offenders


def test_lesson_stubs_say_not_implemented_one_way():
    stub = 'raise NotImplementedError("your code here")'
    for lesson in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py")):
        for line in lesson.read_text().splitlines():
            if "raise NotImplementedError" in line:
                assert line.strip() == stub, f"{lesson.name}: {line.strip()}"
