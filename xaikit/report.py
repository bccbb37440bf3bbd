"""How a lesson declares its figures, tables and key numbers.

A lesson calls four functions; nothing else is needed for its results to reach ``summary.md``::

    from xaikit.report import above, exact, fast_mode, figure, recorded, result, table

    n = 16 if fast_mode() else 256                      # smaller n in fast mode, same cells
    figure(fig, "fig3_saliency", caption="Fig. 3 of Simonyan et al. (2014), here")
    table(rows, "table1", caption="Table 1 of the survey")
    result("ig_completeness_gap", gap, check=exact(0.0, atol=0.01), paper="< 1 %")   # tier 1
    result("deletion_auc", auc, check=recorded(rtol=0.05))                          # tier 2
    result("beats_random", diffs, check=above(0.0), paper="Grad-CAM .123")          # tier 3

Every result carries its check (:mod:`xaikit.tolerance`: the three tiers), and the status is
computed from it. A failed check does not stop the notebook; the lesson runner marks the lesson
failed and names the result.

When the lesson runs under :func:`xaikit.reproduce.reproduce`, the runner sets the environment
variable ``XAIKIT_OUT`` to the lesson's own output folder: every figure is saved there as
``<name>.png`` and every table, figure and result is recorded in ``results.json`` in that folder
(rewritten atomically after each call), from which the runner writes ``summary.md``.  Outside the
runner (a student's Jupyter session, a plain script) nothing is written: the functions only display.

This module imports NumPy and matplotlib only, so lessons can use it freely; under the runner, a
tier-2 result imports TensorFlow once to name the numeric platform its value belongs to.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xaikit.base.env import fast_mode
from xaikit.base.io import atomic_write, atomic_write_json
from xaikit.tolerance import (
    Check,
    Elsewhere,
    Outcome,
    above,
    below,
    confidence_interval,
    exact,
    pattern,
    recorded,
)

__all__ = ["figure", "table", "result", "fast_mode", "output_dir", "read_results",
           "RESULTS_FILE", "EXPECTED_ENV", "RECORD_ENV", "above", "below", "confidence_interval",
           "exact", "pattern", "recorded"]

RESULTS_FILE = "results.json"
"""Name of the per-lesson record the runner reads (inside ``$XAIKIT_OUT``)."""
EXPECTED_ENV = "XAIKIT_EXPECTED"
"""Environment variable the runner sets to the lesson's ``lessons/expected/NN_topic.json``."""
RECORD_ENV = "XAIKIT_RECORD"
# A width (px) wider than any saved PNG: text sizes at the PNG's natural size (scale 1).
NATURAL_WIDTH_PX = 1e9
"""Set to 1 by ``xaikit reproduce --record``: tier-2 values are recorded, not compared."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")



def output_dir() -> Path | None:
    """The folder the lesson runner collects results from (``$XAIKIT_OUT``), or None outside it."""
    value = os.environ.get("XAIKIT_OUT", "").strip()
    if not value:
        return None
    path = Path(value)
    path.mkdir(parents=True, exist_ok=True)
    return path


class _SavedPath(type(Path())):  # type: ignore[misc]
    """The path :func:`figure` wrote; shows nothing when it ends a notebook cell."""

    def _ipython_display_(self) -> None:
        """The figure itself is already displayed: do not echo the path."""


class _MarkdownText(str):
    """The Markdown :func:`table` rendered; shows nothing when it ends a notebook cell."""

    __slots__ = ()

    def _ipython_display_(self) -> None:
        """The table itself is already displayed: do not echo its source."""


def figure(fig: Any, name: str, caption: str = "") -> Path | None:
    """Save a matplotlib figure as ``<name>.png`` into the run's output folder and display it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to save and show.  It is closed afterwards, so notebooks show it once.
        Its fonts are first enlarged where needed (:func:`xaikit.viz.legible`) so that every
        text renders at least 10 px high once the site scales the PNG to its content width.
    name : str
        File name without extension: letters, digits, ``_``, ``-`` and ``.``
        (e.g. ``"fig3_saliency"``).
    caption : str, optional
        One sentence saying what the figure shows (and which paper figure it reproduces).

    Returns
    -------
    pathlib.Path or None
        The PNG written, or None outside the lesson runner (nothing is written there).

    Raises
    ------
    TypeError
        If ``fig`` is not a matplotlib figure or ``caption`` is not a string.
    ValueError
        If ``name`` is not a plain file name.
    """
    from matplotlib.figure import Figure

    from xaikit.viz import SAVE_DPI, legible, text_sizes_px

    if not isinstance(fig, Figure):
        raise TypeError(
            f"figure() expects a matplotlib Figure (e.g. from plt.subplots()); got "
            f"{type(fig).__name__}"
        )
    _check_name(name, "figure")
    _check_caption(caption)
    legible(fig)  # the site shows figures scaled to its content width: text must stay readable
    out = output_dir()
    path = None
    if out is not None:
        path = _SavedPath(out / f"{name}.png")
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=SAVE_DPI,
                                                     bbox_inches="tight"))
        # the smallest text in px of the saved PNG at its natural size (scale 1): the site's
        # browser test measures what it becomes at the width the page really shows the figure
        sizes = [size for _, size in text_sizes_px(fig, width_px=NATURAL_WIDTH_PX, dpi=SAVE_DPI)]
        _record("figures", {"name": name, "file": path.name, "caption": caption,
                            "text_px": round(min(sizes), 2) if sizes else None})
    _display_figure(fig)
    return path


def table(
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]] | Sequence[Sequence[Any]],
    name: str,
    caption: str = "",
    columns: Sequence[str] | None = None,
) -> str:
    """Render a small results table as Markdown, display it and record it for ``summary.md``.

    Parameters
    ----------
    rows : list of dict, dict of lists, or list of lists
        ``[{"method": "LIME", "train": "No"}, ...]`` (one dict per row),
        ``{"method": ["LIME", ...], "train": ["No", ...]}`` (one list per column), or
        ``[["LIME", "No"], ...]`` together with ``columns``.
    name : str
        Identifier of the table (e.g. ``"table1"``), a plain file-name-like string.
    caption : str, optional
        What the table shows.
    columns : sequence of str, optional
        Column order (for dict rows: a subset/ordering of the keys; for list rows: required).

    Returns
    -------
    str
        The Markdown text of the table.

    Raises
    ------
    TypeError, ValueError
        If the rows are not one of the accepted forms, or rows have inconsistent lengths/keys.
    """
    _check_name(name, "table")
    _check_caption(caption)
    header, body = _normalise_rows(rows, columns)
    markdown = _markdown_table(header, body)
    out = output_dir()
    if out is not None:
        _record("tables", {"name": name, "caption": caption, "columns": header, "rows": body,
                           "markdown": markdown})
    text = (f"**{caption}**\n\n" if caption else "") + markdown
    _display_rich({"text/markdown": text, "text/html": _html_table(header, body, caption),
                   "text/plain": text})
    return _MarkdownText(markdown)


def result(name: str, value: Any, *, check: Check, paper: Any = None, note: str = "") -> Outcome:
    """Declare a key number of the lesson with the check that decides whether it holds.

    Parameters
    ----------
    name : str
        Identifier, e.g. ``"ig_completeness_gap"``.
    value : number, str, bool, mapping or array-like
        The value measured here. For a tier-3 check (:func:`above`, :func:`below`) the per-image
        or per-seed samples; the mean and its confidence interval are recorded.
    check : Check
        :func:`exact` (tier 1), :func:`recorded` (tier 2), :func:`above` / :func:`below` /
        :func:`pattern` (tier 3) from :mod:`xaikit.tolerance`.
    paper : optional
        What the paper reports (a number or a short string such as ``"< 1 %"``), shown beside
        ours; asserted only through ``check``.
    note : str, optional
        One short sentence of context.

    Returns
    -------
    Outcome
        The check's verdict (``status``: passed, failed, recorded, unrecorded, elsewhere,
        unchecked).

    Raises
    ------
    TypeError
        If ``check`` is not a check or the value is not a number, string, bool or small array.
    """
    _check_name(name, "result")
    if not isinstance(check, Check):
        raise TypeError(f"result({name!r}, check=...) must be a check from xaikit.report: "
                        f"exact(...), recorded(...), above(...), below(...) or pattern(...); "
                        f"got {type(check).__name__}")
    if not isinstance(note, str):
        raise TypeError(f"result(note=...) must be a string; got {type(note).__name__}")
    lookup = _expected_lookup() if check.tier == 2 else None  # only tier 2 reads records
    outcome = check.evaluate(name, value, lookup, _recording())
    plain = _to_json(outcome.value, f"result {name!r} value")
    plain_paper = _to_json(paper, f"result {name!r} paper") if paper is not None else None
    if output_dir() is not None:
        _record("results", {"name": name, "value": plain, "paper": plain_paper, "note": note,
                            "tier": outcome.tier, "check": outcome.kind,
                            "tolerance": outcome.tolerance, "status": outcome.status,
                            "detail": outcome.detail, **_to_json(outcome.extra, name)})
    line = f"{name} = {_format_value(plain)}"
    if plain_paper is not None:
        line += f"   (paper: {_format_value(plain_paper)})"
    line += f"   [tier {outcome.tier} {outcome.kind}: {outcome.status.upper()} — {outcome.detail}]"
    if note:
        line += f"   {note}"
    print(line)
    return outcome


def _recording() -> bool:
    return os.environ.get(RECORD_ENV, "").strip() == "1"


def _expected_lookup() -> Any:
    """``name -> recorded value`` for this lesson, mode and platform, or None outside the runner
    (under it, this process's platform is named in ``results.json`` first, for ``--record``)."""
    value = os.environ.get(EXPECTED_ENV, "").strip()
    if not value:
        return None
    return functools.partial(_lookup, Path(value), "fast" if fast_mode() else "full",
                             _this_platform()["id"])


def _lookup(path: Path, mode: str, here: str, name: str) -> Any:
    """The value platform ``here`` recorded for ``name``; else an :class:`Elsewhere` with the
    other platforms' values; else None."""
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    platforms = stored.get("platforms", {})
    own = platforms.get(here, {})
    if mode in own:
        return own[mode].get(name)
    values = {pid: record[mode][name] for pid, record in platforms.items()
              if name in record.get(mode, {})}
    if not values:
        return None
    return Elsewhere(values, {pid: platforms[pid].get("machine", "") for pid in values}, here)


def _this_platform() -> dict[str, str]:
    """This process's numeric platform (:mod:`xaikit.core.platform`, imports TensorFlow), also
    written into ``results.json`` so that ``--record`` files the values under it."""
    from xaikit.core.platform import numeric_platform

    here = numeric_platform()
    entry = {"id": here.id, "machine": here.machine}
    out = output_dir()
    if out is not None:
        record = read_results(out)
        if record["platform"] != entry:
            record["platform"] = entry
            atomic_write_json(out / RESULTS_FILE, record)
    return entry


# --------------------------------------------------------------------------------------------
# helpers


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{what}() name must be a plain file name (letters, digits, '_', '-', '.', at most "
            f"100 characters, e.g. 'fig1_saliency'); got {name!r}"
        )


def _check_caption(caption: Any) -> None:
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a string; got {type(caption).__name__}")



def read_results(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the record written by a lesson into ``folder``: lists of ``figures``, ``tables`` and
    ``results`` (empty when there is none) and the numeric ``platform`` its tier-2 values belong
    to (None when it has none)."""
    record: dict[str, Any] = {"figures": [], "tables": [], "results": [], "platform": None}
    path = Path(folder) / RESULTS_FILE
    if path.is_file():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        for key in ("figures", "tables", "results"):
            record[key] = list(loaded.get(key, []))
        record["platform"] = loaded.get("platform")
    return record


def _record(kind: str, entry: dict[str, Any]) -> None:
    out = output_dir()
    if out is None:
        return
    record = read_results(out)
    # a re-executed cell replaces its earlier entry of the same name instead of duplicating it
    record[kind] = [item for item in record[kind] if item.get("name") != entry["name"]]
    record[kind].append(entry)
    atomic_write_json(out / RESULTS_FILE, record)


def _normalise_rows(rows: Any, columns: Sequence[str] | None) -> tuple[list[str], list[list[Any]]]:
    if isinstance(rows, Mapping):
        keys = [str(key) for key in rows]
        lengths = {len(rows[key]) for key in rows}
        if len(lengths) > 1:
            raise ValueError(f"table columns have different lengths: {sorted(lengths)}")
        n = lengths.pop() if lengths else 0
        rows = [{key: rows[key][i] for key in rows} for i in range(n)]
        columns = list(columns) if columns is not None else keys
    if not isinstance(rows, Sequence) or isinstance(rows, str):
        raise TypeError(
            "table() expects a list of dicts, a dict of lists, or a list of lists with columns=; "
            f"got {type(rows).__name__}"
        )
    rows = list(rows)
    if rows and all(isinstance(row, Mapping) for row in rows):
        if columns is None:
            columns = []
            for row in rows:
                columns += [str(key) for key in row if str(key) not in columns]
        header = [str(column) for column in columns]
        body = [[_cell(row.get(column, "")) for column in header] for row in rows]
        return header, body
    if any(isinstance(row, Mapping) for row in rows):
        raise TypeError("table() rows mix dicts and non-dicts; use one form for all rows")
    if columns is None:
        raise ValueError("table() with list rows needs columns=[...] naming each column")
    header = [str(column) for column in columns]
    body = []
    for i, row in enumerate(rows):
        if isinstance(row, str) or not isinstance(row, Sequence):
            raise TypeError(f"table() row {i} is a {type(row).__name__}; expected a list or dict")
        if len(row) != len(header):
            raise ValueError(f"table() row {i} has {len(row)} cells; columns= names {len(header)}")
        body.append([_cell(value) for value in row])
    return header, body


def _cell(value: Any) -> Any:
    plain = _to_json(value, "table cell")
    if isinstance(plain, float):
        return float(f"{plain:.4g}")
    if isinstance(plain, (list, dict)):
        return json.dumps(plain)
    return plain


def _markdown_table(header: list[str], body: list[list[Any]]) -> str:
    def text(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(text(h) for h in header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(text(v) for v in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _html_table(header: list[str], body: list[list[Any]], caption: str) -> str:
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in body)
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _to_json(value: Any, what: str) -> Any:
    """Convert NumPy scalars/arrays and containers to plain JSON-compatible Python values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        if value.size > 1000:
            raise ValueError(f"{what} is an array of {value.size} entries; record a summary "
                             "number (or a figure) instead of arrays larger than 1000 entries")
        return _to_json(value.tolist(), what)
    if isinstance(value, Mapping):
        return {str(key): _to_json(item, what) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item, what) for item in value]
    raise TypeError(f"{what} must be a number, string, bool or array; got {type(value).__name__}")


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _display_rich(bundle: dict[str, str]) -> None:
    if _in_ipython():
        from IPython.display import display

        display(bundle, raw=True)
    else:
        print(bundle["text/plain"])


def _display_figure(fig: Any) -> None:
    import matplotlib.pyplot as plt

    if _in_ipython():
        from IPython.display import display

        display(fig)
    plt.close(fig)
