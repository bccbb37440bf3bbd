"""Reading a student's submission: notebook or Python file -> the code the grader runs.

The grader never executes a whole notebook.  It keeps

- the top-level ``import`` statements, ``def`` and ``class`` statements;
- assignments whose value calls nothing and reads only names already kept (constants);
- the module-level assignments *the graded functions need* — ``SUM_AXIS = int(np.int64(-1))``,
  ``KERNEL = np.array(...)``, ``rng = np.random.default_rng(0)`` — found by following the
  global names each exercise function reads (through the helpers and assignments it uses in
  turn; every function's when the grader names none); they run
  within the load time limit, and when loading with them fails, the grader loads the code
  again without them and says so;
- ``try`` blocks made only of the above;

and drops everything else (training runs, figures, ``check(...)`` calls, loops): the grade does
not depend on how long the lesson's own cells take.  Colab- and Jupyter-only imports
(``google.colab``, ``IPython``, ``ipywidgets``), IPython magics (``%matplotlib``, ``!pip``,
``%%bash`` cells) are skipped with a note, never a zero.  When a function reads a name that only
a dropped statement sets (a ``for`` loop, a ``with`` block, a dropped import), the note says so.
With ``run_all=True`` the whole code is kept.

Everything here runs in the grader's own process and only *parses* the student's text
(``ast.parse``); nothing of the submission is executed.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import re
from collections.abc import Collection
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
    notes: list[str] = field(default_factory=list)
    fallback_code: str = ""


PYTHON_CELL_MAGICS = ("time", "timeit", "capture", "prun", "debug", "memit")
"""Cell magics whose body is Python: the magic line is skipped, the body kept."""

NOTEBOOK_ONLY_MODULES = ("google.colab", "IPython", "ipywidgets", "ipykernel", "jupyter",
                         "jupyter_client", "notebook", "ipython_genutils")
"""Imports that exist only in Colab or Jupyter: skipped (the functions must not need them)."""

MAGIC_NOTE = ("IPython magics and shell commands (lines starting with % or !) are skipped by "
              "the grader")


def notebook_code(raw: bytes, notes: list[str] | None = None) -> str:
    """The code cells of a ``.ipynb`` file, joined in order.

    Lines starting with ``%`` or ``!`` (IPython magics and shell escapes) are commented out; a
    cell magic whose body is not Python (``%%bash``, ``%%html``, ``%%writefile``...) comments
    out the whole cell.  What was skipped is appended to ``notes``.

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
    notes = notes if notes is not None else []
    chunks = []
    magics = False
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(part) for part in source)
        if not isinstance(source, str):
            continue
        lines = source.splitlines()
        first = lines[0].strip() if lines else ""
        if first.startswith("%%"):
            magic = first[2:].split()[0] if first[2:].split() else ""
            if magic not in PYTHON_CELL_MAGICS:
                notes.append(f"a `%%{magic}` cell is not Python and was skipped")
                chunks.append("\n".join("# " + line for line in lines))
                continue
        commented = []
        for line in lines:
            if line.lstrip().startswith(("%", "!")):
                magics = True
                commented.append("# " + line)
            else:
                commented.append(line)
        chunks.append("\n".join(commented))
    if magics:
        notes.append(MAGIC_NOTE)
    return "\n\n".join(chunks) + "\n"


MAGIC_LINE = re.compile(r"^\s*([A-Za-z_][\w, ]*=\s*)?[!%]")


def parse_code(code: str, notes: list[str]) -> tuple[str, ast.Module]:
    """Parse ``code``; lines that are IPython magics (``!pip``, ``%time``, ``x = !ls``) and make
    it unparsable are commented out first (noted).

    Raises
    ------
    SyntaxError
        If the code does not parse even without the magic lines.
    """
    try:
        return code, ast.parse(code, filename="submission.py")
    except SyntaxError:
        lines = code.splitlines()
        magic = [i for i, line in enumerate(lines) if MAGIC_LINE.match(line)]
        if not magic:
            raise
        for i in magic:
            lines[i] = "# " + lines[i]
        code = "\n".join(lines) + "\n"
        tree = ast.parse(code, filename="submission.py")
        if MAGIC_NOTE not in notes:
            notes.append(MAGIC_NOTE)
        return code, tree


def _calls_anything(node: ast.AST) -> bool:
    return any(
        isinstance(sub, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr,
                         ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
        for sub in ast.walk(node)
    )


def _bound_names(statement: ast.stmt) -> set[str]:
    """Names a top-level statement binds (imports, definitions, assignment targets, loops...)."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    found = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return found


def _reads(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)
            and isinstance(sub.ctx, ast.Load)}


def _global_reads(definition: ast.stmt) -> set[str]:
    """Names a function or class reads that it does not bind itself (its globals, roughly)."""
    local = set()
    for node in ast.walk(definition):
        if isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    if isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        local.discard(definition.name)
    return _reads(definition) - local


def _notebook_only(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Import):
        modules = [alias.name for alias in statement.names]
    elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
        modules = [statement.module]
    else:
        return False
    return all(any(m == prefix or m.startswith(prefix + ".") for prefix in NOTEBOOK_ONLY_MODULES)
               for m in modules)


def _is_definition(statement: ast.stmt, bound: set[str]) -> bool:
    """Whether a top-level statement only defines names (imports, defs, constants, ``try``).

    An assignment counts when its value calls nothing, indexes nothing and reads only names
    already defined by kept statements (or builtins), so dropping the lesson's computations cannot
    break it (``sets["a"]`` fails when the cell that filled ``sets = {}`` was dropped).
    """
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return not _notebook_only(statement)
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        if statement.value is None or _calls_anything(statement.value) or any(
                isinstance(node, ast.Subscript) for node in ast.walk(statement.value)):
            return False
        return _plain_targets(statement) and _reads(statement.value) <= bound | BUILTINS
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


BUILTINS = set(dir(builtins))


def _plain_targets(statement: ast.stmt) -> bool:
    """Assignment to names only (``obj.attr = ...`` and ``table[key] = ...`` change objects)."""
    if isinstance(statement, ast.AnnAssign):
        return isinstance(statement.target, ast.Name)
    if isinstance(statement, ast.AugAssign):
        return isinstance(statement.target, ast.Name)
    if isinstance(statement, ast.Assign):
        return all(isinstance(node, (ast.Name, ast.Tuple, ast.List, ast.Store, ast.Starred))
                   for target in statement.targets for node in ast.walk(target))
    return False


def _line_span(statement: ast.stmt) -> range:
    first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
    return range(first - 1, statement.end_lineno or statement.lineno)


def _describe(statement: ast.stmt) -> str:
    kinds = {ast.For: "a `for` loop", ast.While: "a `while` loop", ast.With: "a `with` block",
             ast.If: "an `if` block", ast.Try: "a `try` block that also runs other code",
             ast.Expr: "an expression", ast.Import: "an import the grader skips",
             ast.ImportFrom: "an import the grader skips"}
    for kind, words in kinds.items():
        if isinstance(statement, kind):
            return words
    return "a statement the grader does not run"


@dataclass
class Selection:
    """Which top-level statements of a submission run, and what to tell the student."""

    kept: list[ast.stmt]
    computed: list[ast.stmt]  # kept assignments that call functions (dropped in the fallback)
    dropped: list[ast.stmt]
    notes: list[str]


def select_statements(tree: ast.Module, functions: Collection[str] | None = None) -> Selection:
    """Split the top-level statements (see the module docstring).

    ``functions`` are the names the grader calls: only the module-level assignments that these
    reach (directly, or through the other functions and assignments they use) are kept, and only
    their missing names are noted. None means every function defined.
    """
    body = tree.body
    always: list[ast.stmt] = []
    bound: set[str] = set()
    for statement in body:
        if _is_definition(statement, bound):
            always.append(statement)
            bound |= _bound_names(statement)
    defined = {s.name: s for s in always if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                           ast.ClassDef))}
    candidates = [s for s in body if s not in always and
                  isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and _plain_targets(s)
                  and getattr(s, "value", None) is not None]
    binders: dict[str, list[ast.stmt]] = {}
    for statement in candidates:
        for name in _bound_names(statement):
            binders.setdefault(name, []).append(statement)
    chosen: set[int] = set()
    reached: dict[str, ast.stmt] = {}
    todo: list[str] = list(defined if functions is None else functions)
    while todo:
        name = todo.pop()
        if name in defined and name not in reached:
            reached[name] = defined[name]
            todo += _global_reads(defined[name])
        for statement in binders.get(name, []):
            if id(statement) not in chosen:
                chosen.add(id(statement))
                todo += _reads(statement)
    definitions = sorted(reached.values(), key=lambda definition: definition.lineno)
    # keep a chosen assignment only if everything it reads is defined by then (else it would
    # stop the whole load with a NameError)
    computed: list[ast.stmt] = []
    available = set(BUILTINS)
    kept_ids = {id(s) for s in always}
    for statement in body:
        if id(statement) in kept_ids:
            available |= _bound_names(statement)
        elif id(statement) in chosen:
            reads = _reads(statement) | (
                {statement.target.id} if isinstance(statement, ast.AugAssign) else set())
            if reads <= available:
                computed.append(statement)
                kept_ids.add(id(statement))
                available |= _bound_names(statement)
    kept = [s for s in body if id(s) in kept_ids]
    dropped = [s for s in body if id(s) not in kept_ids]
    notes = []
    for statement in dropped:
        if _notebook_only(statement):
            names = ", ".join(sorted(_bound_names(statement)))
            notes.append(f"line {statement.lineno}: the Colab/Jupyter-only import of {names} is "
                         "skipped (the grader runs your functions outside a notebook)")
    kept_bound = set().union(*(_bound_names(s) for s in kept)) if kept else set()
    for definition in definitions:
        for name in sorted(_global_reads(definition) - kept_bound - BUILTINS):
            setters = [s for s in dropped if name in _bound_names(s)]
            if setters:
                where = setters[-1]
                notes.append(
                    f"`{definition.name}` uses `{name}`, which line {where.lineno} sets in "
                    f"{_describe(where)}; the grader runs only your imports, functions and the "
                    f"module-level assignments they use, so `{name}` will not exist — define it "
                    "inside the function or with a plain assignment")
    return Selection(kept, computed, dropped, notes)


def _keep_lines(code: str, kept: list[ast.stmt], dropped: list[ast.stmt]) -> str:
    """``code`` with the dropped statements turned into blank lines (line numbers stay)."""
    lines = code.splitlines()
    kept_lines = {i for s in kept for i in _line_span(s)}
    dropped_lines = {i for s in dropped for i in _line_span(s)}
    if kept_lines & dropped_lines:  # statements sharing a line (``a = 1; run()``)
        return ast.unparse(ast.Module(body=kept, type_ignores=[])) + "\n"
    return "\n".join("" if i in dropped_lines else line for i, line in enumerate(lines)) + "\n"


def definitions_only(code: str, tree: ast.Module) -> str:
    """Keep the top-level statements that define names or that the functions need (see the
    module docstring).

    Dropped statements become blank lines, so line numbers in tracebacks still match the
    student's code cells.
    """
    selection = select_statements(tree)
    return _keep_lines(code, selection.kept, selection.dropped)


def student_name(path: Path, lesson_stem: str) -> str:
    """``alice.ipynb`` -> ``alice``; ``alice/01_why_interpret.ipynb`` -> ``alice``."""
    stem = path.stem
    if stem == lesson_stem or stem.startswith(lesson_stem.split("_")[0] + "_"):
        parent = path.resolve().parent.name
        if parent:
            return parent
    return stem


def read_submission(path: Path, lesson_stem: str, *, run_all: bool = False,
                    functions: Collection[str] | None = None) -> Submission:
    """Read ``path`` (``.ipynb`` or ``.py``) into a :class:`Submission`; never raises for bad content.

    Parameters
    ----------
    path : Path
        The submission file.
    lesson_stem : str
        The lesson's file stem (``"01_why_interpret"``), used to name the student.
    run_all : bool
        Keep every top-level statement instead of only the definitions.
    functions : collection of str, optional
        The functions the grader calls (the exercises'): only the module-level assignments they
        need are kept (a lesson's own cells, such as ``model = zoo("digits")`` read by a lesson
        helper, never run at load). None: what any function defined needs.
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
    notes: list[str] = []
    try:
        if path.suffix == ".ipynb":
            code = notebook_code(raw, notes)
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
            code, tree = parse_code(code, notes)
        except SyntaxError as err:
            raise SubmissionError(
                "syntax", f"Python could not read your code: {err.msg} "
                f"(line {err.lineno} of the code cells: {(err.text or '').strip()!r})"
            ) from None
        except (ValueError, RecursionError, MemoryError) as err:
            raise SubmissionError("syntax", f"Python could not read your code ({err})") from None
    except SubmissionError as err:
        return Submission(name, path, digest, error=err, notes=notes)
    if run_all:
        return Submission(name, path, digest, code=code, tree=tree, notes=notes,
                          fallback_code=code)
    selection = select_statements(tree, functions)
    kept = _keep_lines(code, selection.kept, selection.dropped)
    plain = [s for s in selection.kept if s not in selection.computed]
    fallback = _keep_lines(code, plain, selection.dropped + selection.computed)
    return Submission(name, path, digest, code=kept, tree=tree, notes=notes + selection.notes,
                      fallback_code=fallback)
