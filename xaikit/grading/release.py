"""What leaves the instructor's machine: the student handout and the Gradescope autograder.

Student handout (``xaikit release --lesson 01 02 05 --out DIR``)
    ``lessons/`` (the released lessons' jupytext ``.py`` sources with stubs and public checks, and
    ``.ipynb`` notebooks made from them), the ``xaikit`` package without the grader and without
    the exercise declarations of lessons not released, a student ``README.md`` (install in a
    venv or on Colab, open the notebooks, run the checks, hand in), ``requirements.txt`` (the
    pinned run-time packages and Jupyter, nothing for docs or tests), ``pyproject.toml``,
    ``datasets/``.  No oracle code ships: each ``oracle=...`` of a released
    ``xaikit/exercises/lessonNN.py`` becomes ``released_expected("NN.name")`` and the public
    cases' expected values are written as data (:mod:`xaikit.exercises.released`).  The hidden
    case *generators* stay (they only say which kinds of inputs the hidden checks use; the
    cases depend on the secret seed, the expected outputs on ``solutions/``).  The handout is then
    checked (:func:`check_student_bundle`): no ``solutions/``, no grader, no oracle left, and no
    function that is a near-copy of a reference solution (normalised-AST fingerprints,
    :mod:`xaikit.grading.similarity`) — except the kit's own implementations of what an exercise
    forbids calling, which are listed as notes.

Gradescope bundle (``xaikit grade --gradescope-bundle OUT.zip --lesson NN``)
    ``setup.sh`` and ``run_autograder`` at the top (Gradescope's layout), ``kit/`` (the package,
    ``pyproject.toml``, ``requirements.txt`` with the run-time packages only, and this lesson's
    solutions only) and ``grader_seed``.  The seed must exist (it is never created silently);
    its fingerprint is printed so that it can be compared with local grading.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from xaikit.base.messages import message
from xaikit.exercises.registry import EXERCISES, Exercise, kit_root
from xaikit.grading.grader import (
    lesson_exercises,
    lesson_stem,
    normalise_lesson,
    resolve_seed,
    round_points,
    seed_fingerprint,
)
from xaikit.grading.similarity import containment, fingerprints, tokens

MARKER = ".xaikit-student-bundle"
INSTRUCTOR_ONLY = ("xaikit/grading", "xaikit/commands/grade.py", "xaikit/commands/release.py")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
LEAK_CONTAINMENT = 0.7
"""A handed-out function containing this share of a solution's fingerprints is a near-copy."""
MIN_LEAK_PRINTS = 4
"""A solution with fewer fingerprints counts as copied only when all of them are found."""
RUNTIME_EXTRAS = {"student": ("jupyter",), "gradescope": ()}


# ================================================================================================
# oracles out, expected values in


def strip_oracles(source: str) -> tuple[str, list[str]]:
    """``lessonNN.py`` source with every ``oracle=...`` of ``Exercise(...)`` replaced by
    ``released_expected(id)`` and the oracle functions (and helpers only they used) deleted.

    Returns the new source and the exercise ids changed.

    Raises
    ------
    ValueError
        If an ``Exercise(...)`` with an oracle has no literal ``id=``.
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def position(lineno: int, col: int) -> int:
        return offsets[lineno - 1] + len(lines[lineno - 1].encode("utf-8")[:col].decode("utf-8"))

    edits: list[tuple[int, int, str]] = []
    oracle_names: set[str] = set()
    replaced: set[int] = set()
    changed = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(
                node.func, "attr", None)) == "Exercise"):
            continue
        keywords = {k.arg: k for k in node.keywords}
        if "oracle" not in keywords:
            continue
        ident = keywords.get("id")
        if ident is None or not isinstance(ident.value, ast.Constant):
            raise ValueError(message("release_oracle_id", line=node.lineno))
        value = keywords["oracle"].value
        if isinstance(value, ast.Name):
            oracle_names.add(value.id)
        replaced |= {id(n) for n in ast.walk(value)}
        edits.append((position(value.lineno, value.col_offset),
                      position(value.end_lineno, value.end_col_offset),
                      f"released_expected({ident.value.value!r})"))
        changed.append(ident.value.value)
    deleted = _deletable(tree, oracle_names, replaced)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in deleted:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            edits.append((offsets[first - 1], offsets[node.end_lineno], ""))
    text = source
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    if changed:
        text = _add_import(text)
    return text, changed


def _deletable(tree: ast.Module, roots: set[str], replaced: set[int]) -> set[str]:
    """The oracle functions, and module-level functions used only by deleted ones (uses inside
    the replaced ``oracle=`` values, ids in ``replaced``, do not count)."""
    functions = {node.name: node for node in tree.body
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    deleted = {name for name in roots if name in functions}
    while True:
        used_elsewhere = set()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in deleted:
                continue
            used_elsewhere |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                               and isinstance(n.ctx, ast.Load) and id(n) not in replaced}
        # an oracle still used by the kept code (a case builder) must stay
        deleted = {name for name in deleted if name not in used_elsewhere}
        used_by_deleted = {n.id for name in deleted for n in ast.walk(functions[name])
                           if isinstance(n, ast.Name)}
        more = {name for name in used_by_deleted if name in functions
                and name not in used_elsewhere and name not in deleted}
        if not more:
            return deleted
        deleted |= more


def _add_import(text: str) -> str:
    tree = ast.parse(text)
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    line = "from xaikit.exercises.released import released_expected\n"
    if not imports:
        return line + text
    lines = text.splitlines(keepends=True)
    at = imports[-1].end_lineno
    return "".join(lines[:at]) + line + "".join(lines[at:])


def public_expected(lesson: str) -> dict[str, list[dict[str, object]]]:
    """The expected values of a lesson's public cases (by the oracles), as released data."""
    from xaikit.exercises.released import encode, summarise

    table: dict[str, list[dict[str, object]]] = {}
    for exercise in lesson_exercises(lesson):
        rows = []
        for case in exercise.public():
            if case.expected is not None:
                continue
            rows.append({"case": case.name,
                         "inputs": summarise((tuple(case.args), dict(case.kwargs))),
                         "expected": encode(exercise.expected(case))})
        table[exercise.id] = rows
    return table


# ================================================================================================
# the leak check


def _solutions(root: Path, lessons: Sequence[str] | None = None
               ) -> list[tuple[str, Exercise | None, list[str], set[int]]]:
    """(label, exercise, normalised tokens, fingerprints) of every reference solution."""
    by_reference = {EXERCISES[i].reference: EXERCISES[i] for i in EXERCISES}
    result = []
    for path in sorted((root / "solutions").glob("*.py")):
        if lessons is not None and path.name[:2] not in lessons:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        keep = _imported(tree)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                stream = tokens(node, keep)
                if "NotImplementedError" in ast.dump(node):
                    continue
                exercise = by_reference.get(f"solutions/{path.name}:{node.name}")
                result.append((f"{path.name}:{node.name}", exercise, stream,
                               fingerprints(stream)))
    return result


def _imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _bundle_sources(bundle: Path) -> list[tuple[Path, str]]:
    sources = []
    for path in sorted(bundle.rglob("*")):
        if path.suffix == ".py":
            sources.append((path, path.read_text(encoding="utf-8", errors="replace")))
        elif path.suffix == ".ipynb":
            try:
                cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
            except (OSError, ValueError, AttributeError):
                continue
            code = [("".join(c["source"]) if isinstance(c.get("source"), list) else
                     str(c.get("source", ""))) for c in cells if c.get("cell_type") == "code"]
            text = "\n".join(re.sub(r"^\s*[%!].*$", "", c, flags=re.M) for c in code)
            sources.append((path, text))
    return sources


def leak_report(bundle: Path, root: Path | None = None,
                lessons: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) of a student handout's code against the reference solutions.

    A function is a problem when its normalised token stream equals a solution's, or when it
    contains at least :data:`LEAK_CONTAINMENT` of the fingerprints of a solution (all of them
    for a solution with fewer than :data:`MIN_LEAK_PRINTS`).  A match inside the kit's own implementation of a function
    the solution's exercise forbids is a note (the kit is handed out; copying it is plagiarism
    the similarity report is for).
    """
    root = Path(root) if root is not None else kit_root()
    solutions = _solutions(root, lessons)
    problems, notes = [], []
    for path, text in _bundle_sources(bundle):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError):
            continue
        keep = _imported(tree)
        kit_file = "/".join(path.relative_to(bundle).parts[1:])  # relative to the package
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            stream = tokens(node, keep)
            prints = fingerprints(stream)
            for label, exercise, solution_stream, solution_prints in solutions:
                share = 1.0 if stream == solution_stream else \
                    containment(solution_prints, prints)
                needed = LEAK_CONTAINMENT if len(solution_prints) >= MIN_LEAK_PRINTS else 1.0
                if not solution_prints or share < needed:
                    continue
                where = f"{path.relative_to(bundle)}:{node.name}"
                text_line = f"{where} is {share:.0%} like the reference solution {label}"
                forbidden = exercise.forbidden if exercise is not None else ()
                if (kit_file, node.name) in _stripped(tuple(forbidden)):
                    notes.append(text_line + " (the kit's own implementation, which the "
                                 "exercise forbids calling)")
                else:
                    problems.append(text_line)
    return problems, notes


@functools.cache
def _stripped(forbidden: tuple[str, ...]) -> set[tuple[str, str]]:
    """The kit functions the sandbox removes for ``forbidden`` (helpers they call included)."""
    from xaikit.grading.sandbox.kit import forbidden_implementations

    return forbidden_implementations(forbidden)


def check_student_bundle(bundle: Path, root: Path | None = None,
                         lessons: Sequence[str] | None = None) -> list[str]:
    """Problems of a student handout (empty when it reveals no solution).

    Looks for a ``solutions`` folder, the grader, oracle code left in the exercise modules, and
    any function that is a near-copy of a reference solution (:func:`leak_report`).
    """
    bundle = Path(bundle)
    problems = [f"{path.relative_to(bundle)} is in the bundle" for path in bundle.rglob("*")
                if path.is_dir() and path.name == "solutions"]
    problems += [f"{part} is in the bundle" for part in INSTRUCTOR_ONLY if (bundle / part).exists()]
    for path in sorted((bundle / "xaikit" / "exercises").glob("lesson[0-9][0-9].py")):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.keyword) and node.arg == "oracle" and not (
                    isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", "") == "released_expected"):
                problems.append(f"{path.relative_to(bundle)}: an oracle is left at line "
                                f"{node.value.lineno}")
    problems += leak_report(bundle, root, lessons)[0]
    return problems


# ================================================================================================
# the student handout


def released_lessons(root: Path, lessons: Sequence[str] | None) -> list[Path]:
    """The lesson files to hand out (all when ``lessons`` is None).

    Raises
    ------
    ValueError
        If a lesson number has no file.
    """
    available = {p.name[:2]: p for p in sorted((root / "lessons").glob("[0-9][0-9]_*.py"))}
    if lessons is None:
        return list(available.values())
    wanted = [normalise_lesson(n) for n in lessons]
    missing = [n for n in wanted if n not in available]
    if missing:
        raise ValueError(message("release_lesson_missing", missing=" ".join(missing),
                                 folder=root / "lessons", available=", ".join(available)))
    return [available[n] for n in sorted(set(wanted))]


def requirements_for(root: Path, extras: Sequence[str] = ()) -> str:
    """The pinned packages that ``xaikit`` needs at run time (and ``extras``), from
    ``requirements.lock``: the direct dependencies and everything they need, nothing else."""
    import tomllib

    lock = root / "requirements.lock"
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project.get("dependencies", []))
    for extra in extras:
        wanted += project.get("optional-dependencies", {}).get(extra, [])
    roots = {_canonical(re.split(r"[\s;<>=!~\[]", item, maxsplit=1)[0]) for item in wanted}
    if not lock.is_file():
        return "\n".join(wanted) + "\n"
    pins: dict[str, str] = {}
    via: dict[str, set[str]] = {}
    current = None
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if match:
            current = _canonical(match.group(1))
            pins[current] = line.strip()
            via[current] = set()
        elif current and line.strip().startswith("#"):
            text = line.strip().lstrip("#").strip()
            text = text[len("via"):].strip() if text.startswith("via") else text
            if text and not text.startswith("xaikit"):
                via[current].add(_canonical(text.split()[0]))
    needed = {name for name in roots if name in pins}
    while True:
        more = {name for name, parents in via.items() if parents & needed} - needed
        if not more:
            break
        needed |= more
    header = ("# Pinned run-time packages of xaikit" + (f" with {', '.join(extras)}" if extras
                                                        else "") + " (from requirements.lock)\n")
    return header + "\n".join(pins[name] for name in sorted(needed)) + "\n"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


STUDENT_README = """# xaikit — your course handout

Lessons in this handout: {lessons}. Each lesson is a notebook (`lessons/NN_topic.ipynb`, also as
a plain-text `.py` twin) with exercises: a function for you to write, followed by
`check("NN.name", your_function)`, which runs the **public checks** at once and tells you what
is wrong.

## 1. Install (once)

On your computer (Python 3.11 or newer; a few minutes, about 2 GB):

```bash
python3 -m venv .venv
.venv/bin/pip install -r requirements.txt      # Windows: .venv\\Scripts\\pip ...
.venv/bin/pip install --no-deps -e .
```

If the pinned install fails on your platform (for instance Apple silicon), use
`.venv/bin/pip install -e ".[jupyter]"` instead.

On Google Colab: upload this handout as a zip (File > Upload), then run in a first cell

```python
!unzip -q -o handout.zip -d handout && pip install -q -r handout/requirements.txt && pip install -q --no-deps -e handout
```

and restart the runtime (Runtime > Restart session) once; then open the lesson's notebook
(File > Upload notebook, or from your Drive).

## 2. Open the notebooks

```bash
.venv/bin/jupyter notebook lessons/
```

Run the cells from the top. The first run of a lesson may train a small model (a minute or two
on a laptop; it is cached afterwards).

## 3. Run the checks

Each exercise cell ends with `check(...)`: it prints `public checks passed` when your function
gives the expected results on the public cases, or what differs (shape, dtype, values) and a
hint. Passing the public checks is a good sign, not a grade: your function is also graded on
**hidden cases** of the same kinds (other sizes and values, one image and several, float32 and
float64, and the edge cases the exercise names).

## 4. Hand in

Hand in the lesson's notebook, **keeping its file name** (`{example}`): the grader grades the
file named like the lesson (on Gradescope too) and tells you which file it graded.

How your code is graded: the grader runs your imports, your functions and the module-level
assignments they use — not the rest of the notebook — so a function must not depend on a
variable computed in another cell by a loop or a plot. Colab- and Jupyter-only lines
(`from google.colab import drive`, `%matplotlib`, `!pip`) are skipped. Calling the kit's own
implementation of what an exercise asks you to write scores 0 for that exercise.
"""


def build_student_bundle(out: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                         force: bool = False, notebooks: bool = True,
                         lessons: Sequence[str] | None = None) -> Path:
    """Write the student handout into ``out`` (see the module docstring).

    Parameters
    ----------
    out : path
        A new or empty folder (or an earlier handout with ``force``).
    root : path, optional
        The kit folder (default: :func:`kit_root`).
    force : bool
        Replace an earlier handout in ``out``.
    notebooks : bool
        Also write ``.ipynb`` notebooks.
    lessons : sequence of str, optional
        The lessons to hand out (default: all).

    Raises
    ------
    ValueError
        If ``out`` exists and is not empty (and not an earlier handout with ``force``), a lesson
        does not exist, or the handout would reveal a solution (it is then removed).
    """
    root = Path(root) if root is not None else kit_root()
    out = Path(out)
    if not (root / "lessons").is_dir() or not (root / "xaikit").is_dir():
        raise ValueError(f"{root} is not a kit folder (it needs lessons/ and xaikit/)")
    chosen = released_lessons(root, lessons)
    numbers = [path.name[:2] for path in chosen]
    if out.exists() and any(out.iterdir()):
        if not (force and (out / MARKER).exists()):
            raise ValueError(message("release_not_empty", out=out))
        shutil.rmtree(out)
    solutions = (root / "solutions").resolve()
    if out.resolve() == root.resolve() or solutions in (out.resolve(), *out.resolve().parents):
        raise ValueError(f"the bundle folder {out} must not be the kit folder or inside solutions/")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("student bundle made by `xaikit release`\n", encoding="utf-8")
    shutil.copytree(root / "xaikit", out / "xaikit", ignore=_IGNORE)
    for part in INSTRUCTOR_ONLY:
        target = out / part
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    _release_exercises(out / "xaikit" / "exercises", numbers)
    (out / "lessons").mkdir()
    for lesson in chosen:
        shutil.copy2(lesson, out / "lessons" / lesson.name)
        if notebooks:
            import jupytext

            jupytext.write(jupytext.read(lesson), out / "lessons" / f"{lesson.stem}.ipynb")
    for name in ("pyproject.toml", "LICENSE"):
        if (root / name).is_file():
            shutil.copy2(root / name, out / name)
    (out / "requirements.txt").write_text(requirements_for(root, RUNTIME_EXTRAS["student"]),
                                          encoding="utf-8")
    (out / "README.md").write_text(STUDENT_README.format(
        lessons=", ".join(p.stem for p in chosen), example=f"{chosen[0].stem}.ipynb"),
        encoding="utf-8")
    if (root / "datasets").is_dir():
        shutil.copytree(root / "datasets", out / "datasets", ignore=_IGNORE)
    problems = check_student_bundle(out, root)
    if problems:
        shutil.rmtree(out)
        raise ValueError(message("release_leak", problems="; ".join(problems)))
    return out


def _release_exercises(folder: Path, lessons: Sequence[str]) -> None:
    """Drop the exercise modules of lessons not released; strip the oracles of the others and
    write their public expected values as data."""
    data = folder / "public_expected"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    for path in sorted(folder.glob("lesson[0-9][0-9].py")):
        number = path.stem[len("lesson"):]
        if number not in lessons:
            path.unlink()
            continue
        text, _ = strip_oracles(path.read_text(encoding="utf-8"))
        path.write_text(text, encoding="utf-8")
        try:
            table = public_expected(number)
        except ValueError:  # a lesson without exercises
            table = {}
        (data / f"lesson{number}.json").write_text(json.dumps(table, indent=1), encoding="utf-8")


# ================================================================================================
# Gradescope


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu base image).
set -euo pipefail
cd /autograder/source
PY=$(command -v python3.12 || command -v python3.11 || true)
if [ -z "$PY" ]; then
    apt-get update && apt-get install -y python3.11 python3.11-venv
    PY=python3.11
fi
"$PY" -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install --no-cache-dir -r kit/requirements.txt
/autograder/venv/bin/python -m pip install --no-cache-dir --no-deps ./kit
apt-get install -y --no-install-recommends bubblewrap || echo "bubblewrap not installed"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes /autograder/results/results.json.
# The grader picks the file named like the lesson ({stem}.ipynb) among those handed in and
# says in the results which file it graded and which it ignored.
set -uo pipefail
cd /autograder/source
chmod -R go-rwx kit/solutions grader_seed
if [ -z "$(find /autograder/submission -name '*.ipynb' -o -name '*.py' | head -n 1)" ]; then
    echo '{{"score": 0, "output": "No .ipynb or .py file was submitted: upload {stem}.ipynb.", "tests": []}}' \\
        > /autograder/results/results.json
    exit 0
fi
/autograder/venv/bin/xaikit grade --check-sandbox  # which confinement this container allows
/autograder/venv/bin/xaikit grade /autograder/submission --lesson {lesson} \\
    --root /autograder/source/kit --seed-file /autograder/source/grader_seed \\
    --out /autograder/results/xaikit --jobs 1 --timeout {timeout} --memory {memory} \\
    --gradescope-results /autograder/results/results.json --no-progress
"""


def confinement_note() -> str:
    """What confinement the sandbox offers on this machine (the one call site for issue 20's
    ``describe_confinement``; "not described" until the sandbox provides it)."""
    from xaikit.grading import sandbox

    describe = getattr(sandbox, "describe_confinement", None)
    if describe is None:
        return "not described by this version of the sandbox (see docs/instructors.md)"
    return str(describe())


def gradescope_settings(lesson: str) -> str:
    """The assignment settings to enter on Gradescope for a lesson's autograder."""
    exercises = lesson_exercises(lesson)
    total = round_points(sum(float(e.points) for e in exercises))
    stem = lesson_stem(exercises[0])
    return (f"Gradescope assignment settings for lesson {lesson}:\n"
            f"  - type: Programming Assignment; Total Points: {total:g} "
            f"({', '.join(f'{e.id} {float(e.points):g}' for e in exercises)})\n"
            "  - Autograder: upload this zip; base image Ubuntu 22.04 or newer; "
            "container: at least 2 CPUs and 4 GB\n"
            "  - Autograder timeout: 20 minutes (setup.sh installs once, when the image is built; "
            "a TensorFlow lesson takes about a minute per submission)\n"
            f"  - ask students to upload {stem}.ipynb (other files are ignored and listed)\n"
            "  - manual grading: off; release hidden-check results when you publish grades")


def build_gradescope_bundle(zip_path: str | os.PathLike[str], lesson: str,
                            seed: str | None = None, seed_file: str | None = None,
                            root: str | os.PathLike[str] | None = None, timeout: float = 60,
                            memory_mb: int = 4096, create_seed: bool = False,
                            log: Callable[[str], None] = lambda _: None) -> Path:
    """Write Gradescope's autograder zip for one lesson (see the module docstring).

    Raises
    ------
    ValueError
        If a reference solution is missing, or no seed exists and ``create_seed`` is false.
    """
    root = Path(root) if root is not None else kit_root()
    lesson = normalise_lesson(lesson)
    exercises = lesson_exercises(lesson)
    references = sorted({exercise.reference.partition(":")[0] for exercise in exercises})
    for relative in references:
        if not (root / relative).is_file():
            raise ValueError(message("gradescope_reference", lesson=lesson,
                                     path=root / relative))
    try:
        secret, source = resolve_seed(seed, seed_file, create=create_seed)
    except ValueError as error:
        raise ValueError(message("gradescope_seed", reason=error)) from None
    zip_path = Path(zip_path)
    temporary = zip_path.with_name(f".{zip_path.name}.partial")
    zip_path.parent.mkdir(parents=True, exist_ok=True)

    def add_text(archive: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, text)

    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        add_text(archive, "setup.sh", SETUP_SH, executable=True)
        add_text(archive, "run_autograder", RUN_AUTOGRADER.format(
            lesson=lesson, stem=lesson_stem(exercises[0]), timeout=f"{timeout:g}",
            memory=memory_mb), executable=True)
        add_text(archive, "grader_seed", secret + "\n")
        for path in sorted((root / "xaikit").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, f"kit/{path.relative_to(root)}")
        for relative in references:
            archive.write(root / relative, f"kit/{relative}")
        archive.write(root / "pyproject.toml", "kit/pyproject.toml")
        add_text(archive, "kit/requirements.txt",
                 requirements_for(root, RUNTIME_EXTRAS["gradescope"]))
    os.replace(temporary, zip_path)
    log(f"wrote {zip_path}: lesson {lesson}, solutions {', '.join(references)}")
    log(f"seed from {source}, fingerprint {seed_fingerprint(secret)} (local grading of this "
        "class must show the same fingerprint)")
    log(f"sandbox confinement on this machine: {confinement_note()}")
    log(gradescope_settings(lesson))
    return zip_path


__all__ = ["build_gradescope_bundle", "build_student_bundle", "check_student_bundle",
           "confinement_note", "gradescope_settings", "leak_report", "public_expected",
           "requirements_for", "strip_oracles"]
