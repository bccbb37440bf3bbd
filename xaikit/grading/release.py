"""What leaves the instructor's machine: the student bundle and the Gradescope autograder bundle.

Student bundle (``xaikit release --out DIR``)
    ``lessons/`` (the jupytext ``.py`` sources with their stubs and public checks, plus ``.ipynb``
    notebooks made from them), the ``xaikit`` package, ``pyproject.toml``, ``README.md``,
    ``datasets/``.  Left out: ``solutions/``, the grader (``xaikit/grading``, the ``grade`` and
    ``release`` commands), tests and benchmarks, caches.  The hidden-case *generators* in
    ``xaikit/exercises/lessonNN.py`` stay: they are ordinary random-input builders, and the cases
    they make depend on the secret seed, which is never in the bundle; without the seed a student
    can draw as many cases of the same kind as they like, which is practice, not a leak.  The
    expected outputs come from ``solutions/``, which is not in the bundle either.  After copying,
    the bundle is checked: no ``solutions`` folder, and no file contains the body of a reference
    solution function.

Gradescope bundle (``xaikit grade --gradescope-bundle OUT.zip --lesson NN``)
    ``setup.sh`` and ``run_autograder`` at the top (Gradescope's layout), ``kit/`` (the package,
    ``pyproject.toml``, the lock file when there is one, ``solutions/``) and ``grader_seed``.
"""

from __future__ import annotations

import ast
import os
import shutil
import stat
import zipfile
from pathlib import Path

from xaikit.exercises.registry import kit_root
from xaikit.grading.grader import lesson_exercises, normalise_lesson, resolve_seed

MARKER = ".xaikit-student-bundle"
INSTRUCTOR_ONLY = ("xaikit/grading", "xaikit/commands/grade.py", "xaikit/commands/release.py")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


def _solution_bodies(root: Path) -> list[tuple[str, str]]:
    """(name, normalised source) of every function in ``solutions/*.py``."""
    bodies = []
    for path in sorted((root / "solutions").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                body = ast.Module(body=[s for s in node.body if not (
                    isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))],
                    type_ignores=[])
                text = ast.unparse(body).strip()
                if len(text) > 20 and "NotImplementedError" not in text:
                    bodies.append((f"{path.name}:{node.name}", text))
    return bodies


def check_student_bundle(bundle: Path, root: Path | None = None) -> list[str]:
    """Problems of a student bundle (empty when it reveals no solution).

    Looks for a ``solutions`` folder, the grader, and any Python file in which a reference
    function's body appears (compared after parsing, so formatting does not hide it).
    """
    root = Path(root) if root is not None else kit_root()
    bundle = Path(bundle)
    problems = [f"{path.relative_to(bundle)} is in the bundle" for path in bundle.rglob("*")
                if path.is_dir() and path.name == "solutions"]
    problems += [f"{part} is in the bundle" for part in INSTRUCTOR_ONLY if (bundle / part).exists()]
    bodies = _solution_bodies(root)
    for path in bundle.rglob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = ast.Module(body=[s for s in node.body if not (
                    isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))],
                    type_ignores=[])
                text = ast.unparse(body).strip()
                for name, solution in bodies:
                    if text == solution:
                        problems.append(f"{path.relative_to(bundle)}:{node.name} contains the "
                                        f"reference solution {name}")
    return problems


def build_student_bundle(out: str | os.PathLike[str], root: str | os.PathLike[str] | None = None,
                         force: bool = False, notebooks: bool = True) -> Path:
    """Write the student bundle into ``out`` (see the module docstring).

    Raises
    ------
    ValueError
        If ``out`` exists and is not empty (and not an earlier bundle with ``force``), or the
        bundle would reveal a solution (the bundle is then removed).
    """
    root = Path(root) if root is not None else kit_root()
    out = Path(out)
    if not (root / "lessons").is_dir() or not (root / "xaikit").is_dir():
        raise ValueError(f"{root} is not a kit folder (it needs lessons/ and xaikit/)")
    if out.exists() and any(out.iterdir()):
        if not (force and (out / MARKER).exists()):
            raise ValueError(f"{out} exists and is not empty; choose a new folder (or pass "
                             "--force to replace an earlier student bundle)")
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
    lessons = out / "lessons"
    lessons.mkdir()
    for lesson in sorted((root / "lessons").glob("[0-9][0-9]_*.py")):
        shutil.copy2(lesson, lessons / lesson.name)
        if notebooks:
            import jupytext

            notebook = jupytext.read(lesson)
            jupytext.write(notebook, lessons / f"{lesson.stem}.ipynb")
    for name in ("pyproject.toml", "README.md", "requirements.lock", "LICENSE"):
        if (root / name).is_file():
            shutil.copy2(root / name, out / name)
    if (root / "datasets").is_dir():
        shutil.copytree(root / "datasets", out / "datasets", ignore=_IGNORE)
    problems = check_student_bundle(out, root)
    if problems:
        shutil.rmtree(out)
        raise ValueError("the student bundle would reveal solutions: " + "; ".join(problems))
    return out


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
if [ -f kit/requirements.lock ]; then
    /autograder/venv/bin/python -m pip install -r kit/requirements.lock
fi
/autograder/venv/bin/python -m pip install ./kit
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes /autograder/results/results.json.
set -uo pipefail
cd /autograder/source
chmod -R go-rwx kit/solutions grader_seed
SUBMISSION=$(find /autograder/submission -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort | head -n 1)
if [ -z "$SUBMISSION" ]; then
    SUBMISSION=$(find /autograder/submission -name '*.py' | sort | head -n 1)
fi
if [ -z "$SUBMISSION" ]; then
    echo '{{"score": 0, "output": "No .ipynb or .py file was submitted: upload your lesson notebook.", "tests": []}}' \\
        > /autograder/results/results.json
    exit 0
fi
/autograder/venv/bin/xaikit grade "$SUBMISSION" --lesson {lesson} \\
    --root /autograder/source/kit --seed-file /autograder/source/grader_seed \\
    --out /autograder/results/xaikit --jobs 1 --timeout {timeout} --memory {memory} \\
    --gradescope-results /autograder/results/results.json --no-progress
"""


def build_gradescope_bundle(zip_path: str | os.PathLike[str], lesson: str,
                            seed: str | None = None, seed_file: str | None = None,
                            root: str | os.PathLike[str] | None = None, timeout: float = 60,
                            memory_mb: int = 4096) -> Path:
    """Write Gradescope's autograder zip for one lesson (see the module docstring)."""
    root = Path(root) if root is not None else kit_root()
    lesson = normalise_lesson(lesson)
    exercises = lesson_exercises(lesson)
    for exercise in exercises:
        reference = root / exercise.reference.partition(":")[0]
        if not reference.is_file():
            raise ValueError(f"{exercise.id}: {reference} is missing; the autograder bundle "
                             "needs the reference solutions")
    secret, _ = resolve_seed(seed, seed_file)
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
            lesson=lesson, timeout=f"{timeout:g}", memory=memory_mb), executable=True)
        add_text(archive, "grader_seed", secret + "\n")
        for folder in ("xaikit", "solutions"):
            for path in sorted((root / folder).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    archive.write(path, f"kit/{path.relative_to(root)}")
        for name in ("pyproject.toml", "README.md", "requirements.lock"):
            if (root / name).is_file():
                archive.write(root / name, f"kit/{name}")
    os.replace(temporary, zip_path)
    return zip_path


__all__ = ["build_student_bundle", "check_student_bundle", "build_gradescope_bundle"]
