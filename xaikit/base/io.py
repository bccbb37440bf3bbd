"""Atomic writes: a file is either its old content or its new content, never half of each.

The data goes to a temporary file in the same folder, is flushed and ``fsync``-ed, then moved into
place with :func:`os.replace` (atomic on POSIX and Windows); the folder entry is synced too where
the platform allows.  An interrupted write leaves the old file and no temporary file behind.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.json"
>>> _ = atomic_write_json(path, {"x": 1})
>>> path.read_text()
'{\\n "x": 1\\n}\\n'
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_json"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[IO[Any]], Any], *,
                 mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        The destination; its folder is created when missing.
    data : bytes, str or callable
        The content (``str`` is written as UTF-8), or a function ``write(handle)`` that writes
        into a binary file handle (e.g. ``lambda h: fig.savefig(h, format="png")``).
    mode : int, optional
        File permissions (e.g. ``0o600`` for a secret); default: ``0o644`` (``mkstemp`` alone
        would leave ``0o600``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644 if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, mode: int | None = None) -> Path:
    """Write ``obj`` as indented UTF-8 JSON (a trailing newline) with :func:`atomic_write`."""
    text = json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    return atomic_write(path, text, mode=mode)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
