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

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_write", "atomic_write_json"]

DEFAULT_MODE = 0o644  # a written file is readable by all (``mkstemp`` alone leaves 0o600)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, mode: int | None = None) -> Iterator[Path]:
    """A temporary file name next to ``path`` that becomes ``path`` when the block succeeds.

    For writers that need a file *name* rather than a handle (``keras.Model.save``, which infers
    the format from the ``.keras`` suffix the temporary name keeps).  The file is ``fsync``-ed
    before the rename; on any error it is removed and ``path`` keeps its old content.

    Parameters
    ----------
    path : path-like
        The destination; its folder is created when missing.
    mode : int, optional
        File permissions; default ``0o644``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "model.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("weights")
    >>> target.read_text()
    'weights'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, DEFAULT_MODE if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


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
    with atomic_path(path, mode=mode) as tmp, open(tmp, "wb") as handle:
        if callable(data):
            data(handle)
        else:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


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
