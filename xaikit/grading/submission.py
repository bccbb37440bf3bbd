"""Reading a student's submission: notebook or Python file -> the code the grader runs.

The grader never executes a whole notebook.  It keeps the top-level statements that *define*
things — imports, ``def``, ``class``, constant assignments (no function calls on the right-hand
side) and ``try`` blocks made only of those — and drops everything else (training runs, figures,
``check(...)`` calls).  The student's functions receive everything they need as arguments, so the
grade does not depend on how long the lesson's own cells take.  With ``run_all=True`` the whole
code is kept.

Everything here runs in the grader's own process and only *parses* the student's text
(``ast.parse``); nothing of the submission is executed.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

MAX_SUBMISSION_BYTES = 20 * 1024 * 1024
"""Submissions larger than this (20 MiB, outputs included) are refused without being parsed."""

SUFFIXES = (".ipynb", ".py")


class SubmissionError(ValueError):
    """A submission that cannot be turned into code; ``reason`` is a sentence for the student."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass
class Submission:
    """One student's submission, ready to be sent to the sandbox.

    Attributes
    ----------
    student : str
        Name used in ``grades.csv`` and for the feedback file.
    path : Path
        The file as handed in.
    sha256 : str
        Hash of the file's bytes (used to skip already graded submissions).
    code : str
        The code the sandbox executes (see the module docstring for what is kept).
    error : SubmissionError or None
        Set when the file could not be read or parsed; ``code`` is then empty.
    """

    student: str
    path: Path
    sha256: str
    code: str = ""
    error: SubmissionError | None = None
    tree: ast.Module | None = field(default=None, repr=False)


def notebook_code(raw: bytes) -> str:
    """The code cells of a ``.ipynb`` file, joined in order.

    Lines starting with ``%`` or ``!`` (IPython magics and shell escapes) are commented out.

    Raises
    ------
    SubmissionError
        If the bytes are not UTF-8, not JSON, or not a notebook with a ``cells`` list.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionError(
            "unreadable", f"the notebook is not valid UTF-8 text (byte {err.start}); "
            "save it again from Jupyter and resubmit"
        ) from None
    try:
        notebook = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise SubmissionError(
            "unreadable", f"the notebook file is damaged (not valid JSON: {err}); "
            "download it again from Jupyter (File > Download) and resubmit"
        ) from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise SubmissionError(
            "unreadable", "the file is JSON but not a Jupyter notebook (it has no list of cells)"
        )
    chunks = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        if not isinstance(source, str):
            continue
        lines = [
            "# " + line if line.lstrip().startswith(("%", "!")) else line
            for line in source.splitlines()
        ]
        chunks.append("\n".join(lines))
    return "\n\n".join(chunks) + "\n"


def _calls_anything(node: ast.AST) -> bool:
    return any(
        isinstance(sub, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr,
                         ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
        for sub in ast.walk(node)
    )


def _bound_names(statement: ast.stmt) -> set[str]:
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    targets = statement.targets if isinstance(statement, ast.Assign) else \
        [getattr(statement, "target", None)]
    return {node.id for target in targets if target is not None for node in ast.walk(target)
            if isinstance(node, ast.Name)}


def _is_definition(statement: ast.stmt, bound: set[str]) -> bool:
    """Whether a top-level statement only defines names (see the module docstring).

    An assignment counts when its value calls nothing and reads only names already defined by
    kept statements (or builtins), so dropping the lesson's computations cannot break it.
    """
    if isinstance(
        statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    ):
        return True
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        if statement.value is None or _calls_anything(statement.value):
            return False
        if isinstance(statement, ast.AnnAssign) and not isinstance(statement.target, ast.Name):
            return False
        if isinstance(statement, ast.Assign) and not all(
                isinstance(node, (ast.Name, ast.Tuple, ast.List, ast.Store, ast.Starred))
                for target in statement.targets for node in ast.walk(target)):
            return False  # ``obj.attr = ...`` / ``table[key] = ...`` change earlier objects
        reads = {node.id for node in ast.walk(statement.value) if isinstance(node, ast.Name)}
        return reads <= bound | set(dir(builtins))
    if isinstance(statement, ast.Try):
        inner_bound = set(bound)
        blocks = [statement.body, statement.orelse, statement.finalbody]
        blocks += [handler.body for handler in statement.handlers]
        for block in blocks:
            for inner in block:
                if isinstance(inner, ast.Pass):
                    continue
                if not _is_definition(inner, inner_bound):
                    return False
                inner_bound |= _bound_names(inner)
        return True
    return False


def _line_span(statement: ast.stmt) -> range:
    first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
    return range(first - 1, statement.end_lineno or statement.lineno)


def definitions_only(code: str, tree: ast.Module) -> str:
    """Keep the top-level statements that define names (see the module docstring).

    Dropped statements become blank lines, so line numbers in tracebacks still match the
    student's code cells.
    """
    lines = code.splitlines()
    kept_lines: set[int] = set()
    dropped_lines: set[int] = set()
    bound: set[str] = set()
    kept = []
    for statement in tree.body:
        if _is_definition(statement, bound):
            kept.append(statement)
            bound |= _bound_names(statement)
            if isinstance(statement, ast.Try):
                bound |= {name for block in (statement.body, statement.orelse, statement.finalbody)
                          for inner in block for name in _bound_names(inner)
                          if not isinstance(inner, ast.Pass)}
            kept_lines.update(_line_span(statement))
        else:
            dropped_lines.update(_line_span(statement))
    if kept_lines & dropped_lines:  # statements sharing a line (``a = 1; run()``)
        return ast.unparse(ast.Module(body=kept, type_ignores=[])) + "\n"
    return "\n".join("" if i in dropped_lines else line for i, line in enumerate(lines)) + "\n"


def student_name(path: Path, lesson_stem: str) -> str:
    """``alice.ipynb`` -> ``alice``; ``alice/01_why_interpret.ipynb`` -> ``alice``."""
    stem = path.stem
    if stem == lesson_stem or stem.startswith(lesson_stem.split("_")[0] + "_"):
        parent = path.resolve().parent.name
        if parent:
            return parent
    return stem


def read_submission(path: Path, lesson_stem: str, *, run_all: bool = False) -> Submission:
    """Read ``path`` (``.ipynb`` or ``.py``) into a :class:`Submission`; never raises for bad content.

    Parameters
    ----------
    path : Path
        The submission file.
    lesson_stem : str
        The lesson's file stem (``"01_why_interpret"``), used to name the student.
    run_all : bool
        Keep every top-level statement instead of only the definitions.
    """
    path = Path(path)
    name = student_name(path, lesson_stem)
    try:
        size = path.stat().st_size
        if size > MAX_SUBMISSION_BYTES:
            raw = b""
            error = SubmissionError(
                "unreadable", f"the file is {size / 2**20:.0f} MiB; submissions are limited to "
                f"{MAX_SUBMISSION_BYTES // 2**20} MiB (clear the notebook's outputs and resubmit)"
            )
            return Submission(name, path, hashlib.sha256(str(size).encode()).hexdigest(), error=error)
        raw = path.read_bytes()
    except OSError as err:
        return Submission(name, path, "", error=SubmissionError(
            "unreadable", f"the file could not be read ({err.strerror})"))
    digest = hashlib.sha256(raw).hexdigest()
    try:
        if path.suffix == ".ipynb":
            code = notebook_code(raw)
        elif path.suffix == ".py":
            try:
                code = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise SubmissionError(
                    "unreadable", f"the file is not valid UTF-8 text (byte {err.start})") from None
        else:
            raise SubmissionError(
                "unreadable", f"{path.name!r} is neither a .ipynb notebook nor a .py file")
        try:
            tree = ast.parse(code, filename="submission.py")
        except SyntaxError as err:
            raise SubmissionError(
                "syntax", f"Python could not read your code: {err.msg} "
                f"(line {err.lineno} of the code cells: {(err.text or '').strip()!r})"
            ) from None
        except (ValueError, RecursionError, MemoryError) as err:
            raise SubmissionError("syntax", f"Python could not read your code ({err})") from None
    except SubmissionError as err:
        return Submission(name, path, digest, error=err)
    kept = code if run_all else definitions_only(code, tree)
    return Submission(name, path, digest, code=kept, tree=tree)
