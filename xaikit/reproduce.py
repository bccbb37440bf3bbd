"""The lesson runner: execute ``lessons/NN_topic.py`` headless and collect their results.

Each lesson (a jupytext percent ``.py`` file) is converted to a notebook, executed with nbclient
on a kernel running *this* Python interpreter (a kernelspec written to a temporary folder, nothing
in the home folder), and written as ``<out>/<stem>.ipynb``.  The kernel gets the environment
variables ``XAIKIT_OUT=<out>/<stem>`` (where :mod:`xaikit.report` saves figures and records
tables and results) and ``XAIKIT_FAST`` (fast mode); progress bars are off (``TQDM_DISABLE=1``
unless set) so they do not fill the notebook, and IPython uses a temporary profile.  Afterwards ``<out>/summary.md`` lists, per
lesson, its status, wall time, tables, key results and figures, and the error of a failing one.

A lesson fails when a cell raises **or when one of its checks fails** (every
:func:`xaikit.report.result` carries a check of the tolerance policy, :mod:`xaikit.tolerance`):
the error names the lesson's failed results. Tier-2 checks compare with
``lessons/expected/<stem>.json`` (the kernel gets its path in ``XAIKIT_EXPECTED``), which holds
them per numeric platform (:mod:`xaikit.core.platform`): on a platform it has no record of, they
are shown beside the other platforms' values, status ``elsewhere``. With ``record=True``
(``xaikit reproduce --record``) the values of this mode are written there instead, under this
platform.

A failing lesson is reported and the others still run; :attr:`RunReport.ok` says whether all
passed (the CLI turns it into the exit status).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xaikit.base.io import atomic_write, atomic_write_json
from xaikit.report import EXPECTED_ENV, RECORD_ENV, read_results

__all__ = ["LessonError", "LessonRun", "RunReport", "find_lessons", "reproduce",
           "DEFAULT_CELL_TIMEOUT", "EXPECTED_DIR", "expected_path"]

DEFAULT_CELL_TIMEOUT = 1800
"""Seconds one cell may run before the lesson is stopped and reported as failed."""

EXPECTED_DIR = "expected"
"""Folder next to the lessons holding each lesson's recorded (tier-2) values."""

_KERNEL_NAME = "xaikit-python"
_RUN_FILE = "run.json"
_LESSON_FILE = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.py$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class LessonError(ValueError):
    """A lesson was asked for that does not exist or cannot be read."""


@dataclass
class LessonRun:
    """Outcome of one lesson."""

    number: str
    stem: str
    source: Path
    status: str  # "passed" or "failed"
    seconds: float
    notebook: Path | None = None
    error: str | None = None
    figures: list[dict[str, Any]] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    platform: dict[str, str] | None = None  # the numeric platform of its tier-2 values

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class RunReport:
    """Outcome of :func:`reproduce`: one :class:`LessonRun` per lesson and the summary file."""

    lessons: list[LessonRun]
    out: Path
    summary: Path
    fast: bool

    @property
    def ok(self) -> bool:
        """True when every lesson passed."""
        return all(lesson.passed for lesson in self.lessons)

    @property
    def failed(self) -> list[LessonRun]:
        return [lesson for lesson in self.lessons if not lesson.passed]


def expected_path(lesson: str | os.PathLike[str]) -> Path:
    """``lessons/expected/<stem>.json`` for the lesson file ``lesson``."""
    path = Path(lesson)
    return path.parent / EXPECTED_DIR / f"{path.stem}.json"


def default_lessons_dir() -> Path:
    """``./lessons`` when it exists, else the ``lessons/`` folder next to the package."""
    here = Path.cwd() / "lessons"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "lessons"


def find_lessons(lessons: Sequence[str | int | os.PathLike[str]] | None = None,
                 lessons_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Resolve lesson numbers (``"01"``, ``"1"``, ``1``) or paths to lesson files.

    Parameters
    ----------
    lessons : sequence, optional
        Lesson numbers or paths to ``.py`` files; None means every ``NN_topic.py`` in the folder.
    lessons_dir : path, optional
        The lessons folder (default: :func:`default_lessons_dir`).

    Returns
    -------
    list of pathlib.Path
        The lesson files, in the order asked (or sorted by number).

    Raises
    ------
    LessonError
        For a number with no lesson, an ambiguous number, a missing folder or an unreadable file.
    """
    folder = Path(lessons_dir) if lessons_dir is not None else default_lessons_dir()
    if not folder.is_dir():
        raise LessonError(f"no lessons folder at {folder} (run from the kit's root folder or "
                          "pass --lessons-dir)")
    available = {}
    for path in sorted(folder.glob("*.py")):
        match = _LESSON_FILE.match(path.name)
        if match:
            available.setdefault(match.group(1), []).append(path)
    if lessons is None:
        paths = [paths[0] for _, paths in sorted(available.items())]
        if not paths:
            raise LessonError(f"no lesson files NN_topic.py in {folder}")
    else:
        paths = [_lookup(item, available, folder) for item in lessons]
    for path in paths:
        _check_readable(path)
    return paths


def _lookup(item: str | int | os.PathLike[str], available: dict[str, list[Path]],
            folder: Path) -> Path:
    text = str(item).strip()
    if text.isdigit():
        number = f"{int(text):02d}"
        if number not in available:
            known = ", ".join(sorted(available)) or "none"
            raise LessonError(f"no lesson {number} in {folder} (available: {known})")
        if len(available[number]) > 1:
            names = ", ".join(path.name for path in available[number])
            raise LessonError(f"lesson number {number} is ambiguous in {folder}: {names}")
        return available[number][0]
    path = Path(text)
    if path.suffix == ".py" and path.exists():
        return path
    raise LessonError(f"{text!r} is neither a lesson number (like 01) nor an existing .py file")


def _check_readable(path: Path) -> None:
    import jupytext

    try:
        text = path.read_text(encoding="utf-8")
        jupytext.reads(text, fmt="py:percent")
    except (OSError, UnicodeDecodeError) as error:
        raise LessonError(f"cannot read lesson file {path}: {error}") from error
    except Exception as error:
        raise LessonError(f"lesson file {path} is not a valid jupytext percent file: "
                          f"{error}") from error


def reproduce(lessons: Sequence[str | int | os.PathLike[str]] | None = None,
              out: str | os.PathLike[str] = "xaikit-out", fast: bool | None = None,
              timeout: int = DEFAULT_CELL_TIMEOUT,
              lessons_dir: str | os.PathLike[str] | None = None,
              progress: bool = True, resume: bool = False, record: bool = False,
              jobs: int = 1) -> RunReport:
    """Execute lessons headless and write notebooks, figures and ``summary.md`` into ``out``.

    Parameters
    ----------
    lessons : sequence of str/int/path, optional
        Lesson numbers (``["01", "05"]``) or lesson files; None runs every lesson.
    out : path
        Output folder: ``<stem>.ipynb``, ``<stem>/*.png``, ``<stem>/results.json``, ``summary.md``.
    fast : bool, optional
        Fast mode (smaller n, reduced zoo recipes); None reads ``XAIKIT_FAST``.
    timeout : int
        Seconds one cell may run.
    lessons_dir : path, optional
        Where to find lessons by number.
    progress : bool
        Show a progress bar on stderr.
    resume : bool
        Skip a lesson whose last run into ``out`` passed, in the same mode, from the same source
        (recorded in ``<out>/<stem>/run.json``), e.g. after an interrupted run.
    record : bool
        Record the tier-2 values of this mode into ``lessons/expected/<stem>.json`` instead of
        comparing with them (re-record only with a reason in the commit message).
    jobs : int
        Lessons executed at the same time, each on its own kernel (started in the order given;
        the report keeps that order). A lesson mostly keeps one core busy, so ``jobs=2`` on two
        cores nearly halves the time; trained models are shared through the model cache, whose
        entries are trained once under a file lock.

    Returns
    -------
    RunReport

    Raises
    ------
    LessonError
        For a missing lesson number or an unreadable lesson file (before anything runs).
    """
    from tqdm.auto import tqdm

    from xaikit.base.env import fast_mode

    if fast is None:
        fast = fast_mode()
    if not isinstance(timeout, int) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive number of lessons run at once; got {jobs!r}")
    paths = find_lessons(lessons, lessons_dir)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xaikit-kernel-") as kernels:
        _write_kernelspec(Path(kernels))
        bar = tqdm(total=len(paths), desc="lessons", unit="lesson", disable=not progress,
                   file=sys.stderr)

        def one(path: Path) -> LessonRun:
            run = _previous_run(path, out_dir, fast) if resume and not record else None
            resumed = run is not None
            if run is None:
                run = _run_lesson(path, out_dir, fast, timeout, Path(kernels), record)
            mark = "passed" if run.passed else f"FAILED: {(run.error or '').splitlines()[0]}"
            mark += " (previous run, --resume)" if resumed else ""
            if progress:
                bar.write(f"{run.stem}: {mark} ({run.seconds:.1f} s)", file=sys.stderr)
            bar.update()
            return run

        with ThreadPoolExecutor(max_workers=min(jobs, len(paths))) as pool:
            runs = list(pool.map(one, paths))
        bar.close()
    summary = out_dir / "summary.md"
    report = RunReport(runs, out_dir, summary, fast)
    atomic_write(summary, render_summary(report))
    return report


_HEADLESS_STARTUP = """\
# Written by xaikit.reproduce: quiet, reproducible headless execution of a lesson.
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto without widgets
"""


def _write_kernelspec(folder: Path) -> None:
    """A kernelspec for this interpreter and an IPython profile, both inside ``folder``."""
    spec_dir = folder / _KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"],
        "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (xaikit)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-xaikit-headless.py").write_text(_HEADLESS_STARTUP, encoding="utf-8")


def _kernel_env(lesson_out: Path, fast: bool, kernels: Path, expected: Path,
                record: bool) -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    pythonpath = [package_root, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update({
        "XAIKIT_OUT": str(lesson_out.resolve()),
        "XAIKIT_FAST": "1" if fast else "0",
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(pythonpath)),
        "PYTHONHASHSEED": env.get("PYTHONHASHSEED", "0"),
        "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "TF_ENABLE_ONEDNN_OPTS": env.get("TF_ENABLE_ONEDNN_OPTS", "0"),
        # progress bars inside a headless notebook become hundreds of stderr outputs
        "TQDM_DISABLE": env.get("TQDM_DISABLE", "1"),
        "IPYTHONDIR": str(kernels / "ipython"),
        EXPECTED_ENV: str(expected.resolve()),
        RECORD_ENV: "1" if record else "0",
    })
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows the figures
    return env


def _run_lesson(path: Path, out_dir: Path, fast: bool, timeout: int, kernels: Path,
                record: bool = False) -> LessonRun:
    import jupytext
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.util import run_sync

    stem = path.stem
    lesson_out = out_dir / stem
    lesson_out.mkdir(parents=True, exist_ok=True)
    for stale in [lesson_out / "results.json", lesson_out / _RUN_FILE, *lesson_out.glob("*.png")]:
        stale.unlink(missing_ok=True)
    notebook_path = out_dir / f"{stem}.ipynb"
    start = time.perf_counter()
    error = None
    notebook = jupytext.reads(path.read_text(encoding="utf-8"), fmt="py:percent")
    notebook.metadata["kernelspec"] = {"name": _KERNEL_NAME, "display_name": "Python 3 (xaikit)",
                                       "language": "python"}
    manager = AsyncKernelManager(kernel_name=_KERNEL_NAME,
                                 kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(notebook, km=manager, timeout=timeout, kernel_name=_KERNEL_NAME,
                            allow_errors=False, record_timing=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        client.execute(env=_kernel_env(lesson_out, fast, kernels, expected_path(path), record))
    except Exception as exc:  # a failing lesson is reported, the others still run
        error = _describe_error(exc, notebook)
    finally:  # nbclient shuts down only the kernels of managers it made itself
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=True)
    seconds = time.perf_counter() - start
    atomic_write(notebook_path, nbformat.writes(notebook))
    collected = read_results(lesson_out)
    error = error or _failed_checks(collected["results"])
    if record and error is None:
        _record_expected(expected_path(path), fast, collected["results"], collected["platform"])
    status = "failed" if error else "passed"
    atomic_write_json(lesson_out / _RUN_FILE, {"status": status, "seconds": seconds,
                                               "error": error, "fast": fast,
                                               "source_sha256": _sha256(path)})
    return LessonRun(number=stem[:2], stem=stem, source=path, status=status, seconds=seconds,
                     notebook=notebook_path, error=error, **collected)


def _failed_checks(results: list[dict[str, Any]]) -> str | None:
    """The error text naming every result whose check failed, or None."""
    failed = [item for item in results if item.get("status") == "failed"]
    if not failed:
        return None
    lines = [f"{len(failed)} check(s) failed: " + ", ".join(item["name"] for item in failed)]
    lines += [f"  {item['name']} (tier {item.get('tier')} {item.get('check')}): value "
              f"{_summary_cell(item.get('value'))}; claimed {item.get('tolerance')}; "
              f"{item.get('detail')}" for item in failed]
    return "\n".join(lines)


def _record_expected(path: Path, fast: bool, results: list[dict[str, Any]],
                     platform: dict[str, str] | None) -> None:
    """Write this mode's tier-2 values into the lesson's expected file, under the numeric
    platform they were computed on (other modes and platforms kept)."""
    values = {item["name"]: item["value"] for item in results if item.get("tier") == 2}
    if not values or platform is None:
        return
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    platforms = stored.get("platforms", {})
    entry = platforms.get(platform["id"], {})
    entry.update({"machine": platform["machine"], "fast" if fast else "full": values})
    platforms[platform["id"]] = {key: entry[key] for key in ("machine", "fast", "full")
                                 if key in entry}
    atomic_write_json(path, {"platforms": dict(sorted(platforms.items()))})


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _previous_run(path: Path, out_dir: Path, fast: bool) -> LessonRun | None:
    """The recorded run of ``path`` in ``out_dir`` if it passed in this mode from this source."""
    record_path = out_dir / path.stem / _RUN_FILE
    notebook = out_dir / f"{path.stem}.ipynb"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (record.get("status") == "passed" and record.get("fast") == fast
            and record.get("source_sha256") == _sha256(path) and notebook.is_file()):
        return None
    return LessonRun(number=path.stem[:2], stem=path.stem, source=path, status="passed",
                     seconds=float(record.get("seconds", 0.0)), notebook=notebook,
                     **read_results(out_dir / path.stem))


def _describe_error(exc: BaseException, notebook: Any) -> str:
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(exc, CellExecutionError):
        number, output = _failing_cell(notebook)
        if output is None:
            return f"{exc.ename}: {_ANSI.sub('', exc.evalue)}"
        lines = [f"{output.get('ename')}: {_ANSI.sub('', str(output.get('evalue')))} "
                 f"(code cell {number})"]
        traceback = _ANSI.sub("", "\n".join(output.get("traceback", [])))
        return "\n".join(lines + [line for line in traceback.splitlines() if line.strip()][-15:])
    if isinstance(exc, CellTimeoutError):
        return f"timeout: a cell ran longer than the limit ({_ANSI.sub('', str(exc)).strip()})"
    if isinstance(exc, DeadKernelError):
        return f"the kernel died (out of memory or a crash): {exc}"
    return f"{type(exc).__name__}: {_ANSI.sub('', str(exc))}"


def _failing_cell(notebook: Any) -> tuple[int | None, Any]:
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, 1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return number, output
    return None, None


def render_summary(report: RunReport) -> str:
    """The Markdown text of ``summary.md``."""
    passed = sum(run.passed for run in report.lessons)
    mode = "fast mode (XAIKIT_FAST=1)" if report.fast else "full mode"
    lines = ["# xaikit reproduction summary", "",
             f"{passed}/{len(report.lessons)} lessons passed, {mode}, "
             f"{sum(run.seconds for run in report.lessons):.0f} s in all.", "",
             "| lesson | status | wall time | figures | tables | results |",
             "| --- | --- | --- | --- | --- | --- |"]
    for run in report.lessons:
        lines.append(f"| [{run.stem}](#{run.stem.replace('_', '-')}) | {run.status} | "
                     f"{run.seconds:.1f} s | {len(run.figures)} | {len(run.tables)} | "
                     f"{len(run.results)} |")
    for run in report.lessons:
        lines += ["", f"## {run.stem}", "",
                  f"Status: **{run.status}** in {run.seconds:.1f} s; executed notebook: "
                  f"[{run.stem}.ipynb]({run.stem}.ipynb).", ""]
        if run.platform:
            lines += [f"Numeric platform of its tier-2 values: `{run.platform['id']}` "
                      f"({run.platform['machine']}).", ""]
        if run.error:
            lines += ["Error:", "", "```text", run.error, "```", ""]
        for table in run.tables:
            title = table.get("caption") or table["name"]
            lines += [f"**{table['name']}**: {title}", "", table["markdown"].rstrip(), ""]
        if run.results:
            lines += ["| result | here | paper | tier | check | outcome | note |",
                      "| --- | --- | --- | --- | --- | --- | --- |"]
            for item in run.results:
                outcome = f"{item.get('status')}: {item.get('detail')}"
                cells = [item["name"], item["value"], item.get("paper"), item.get("tier"),
                         item.get("tolerance"), outcome, item.get("note")]
                lines.append("| " + " | ".join(_summary_cell(c) for c in cells) + " |")
            lines.append("")
        for fig in run.figures:
            caption = fig.get("caption") or fig["name"]
            lines += [f"![{caption}]({run.stem}/{fig['file']})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _summary_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        value = f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")

