"""On-disk cache of trained models: keyed, atomically written, verified before loading.

Layout of :func:`cache_dir` (``$XAIKIT_CACHE``, default ``~/.cache/xaikit``)::

    models/<key>.keras        the trained model (keras.saving format)
    models/<key>.json         sidecar: sha256 and size of the .keras file, accuracy, recipe, versions
    models/<key>.lock         lock file held while a process trains this entry (POSIX only)
    models/<key>.ckpt.npz     per-epoch training checkpoint (deleted when training finishes)

The key is ``<name>-<sha256 of the recipe and the keras/tensorflow/xaikit versions>[:16]``, so a
changed recipe or library version trains a new entry instead of loading a stale one. Every file is
written with :mod:`xaikit.base.io` (a temporary file in the same folder, ``fsync``, then
:func:`os.replace`): a reader sees the old file or the new one, never half of one. The
model is moved into place first and its sidecar second, so a crash in between leaves a model whose
hash no sidecar vouches for, which :func:`load_verified` rejects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from xaikit.base.io import atomic_path, atomic_write_json
from xaikit.base.paths import cache_dir

__all__ = [
    "cache_dir",
    "entry_key",
    "entry_paths",
    "save_verified",
    "load_verified",
    "file_lock",
    "sha256_file",
]

CACHE_FORMAT = 1


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    from xaikit import __version__

    return {"keras": keras.__version__, "tensorflow": tf.__version__, "xaikit": __version__}


def entry_key(name: str, recipe: dict[str, Any]) -> str:
    """Cache key of a zoo entry: its name plus a hash of the recipe and the library versions.

    Parameters
    ----------
    name : str
        Entry name (e.g. ``"digits"``); ``fast`` recipes pass ``"digits-fast"``.
    recipe : dict
        JSON-serialisable recipe (architecture, data, epochs, ...).

    Returns
    -------
    str
        ``"<name>-<16 hex digits>"``.
    """
    payload = json.dumps(
        {"recipe": recipe, "versions": _versions(), "format": CACHE_FORMAT}, sort_keys=True
    )
    return f"{name}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def entry_paths(key: str) -> dict[str, Path]:
    """Paths of the files of cache entry ``key`` (``model``, ``sidecar``, ``lock``, ``checkpoint``)."""
    folder = cache_dir() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "model": folder / f"{key}.keras",
        "sidecar": folder / f"{key}.json",
        "lock": folder / f"{key}.lock",
        "checkpoint": folder / f"{key}.ckpt.npz",
    }


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_verified(model: Any, key: str, info: dict[str, Any]) -> dict[str, Any]:
    """Save ``model`` under cache entry ``key`` with a sidecar holding its sha256 and ``info``.

    Parameters
    ----------
    model : keras.Model
        The trained model.
    key : str
        Entry key from :func:`entry_key`.
    info : dict
        JSON-serialisable facts to keep next to the model (accuracy, recipe, timings).

    Returns
    -------
    dict
        The sidecar written (``info`` plus ``sha256``, ``bytes``, ``versions``, ``file``).
    """
    paths = entry_paths(key)
    with atomic_path(paths["model"]) as tmp:
        model.save(tmp)
        sidecar = {
            **info,
            "file": paths["model"].name,
            "sha256": sha256_file(tmp),
            "bytes": os.path.getsize(tmp),
            "versions": _versions(),
        }
    atomic_write_json(paths["sidecar"], sidecar)
    return sidecar


def load_verified(key: str) -> tuple[Any, dict[str, Any]] | None:
    """Load cache entry ``key`` if it is complete and intact.

    The model file must exist, its sidecar must exist and parse, the file's size and sha256 must
    match the sidecar, and Keras must load it. Otherwise a warning names the file and the reason
    and ``None`` is returned, so the caller rebuilds the entry; a bad file is never loaded.

    Returns
    -------
    (keras.Model, dict) or None
        The model and its sidecar, or ``None`` when there is nothing (valid) to load.
    """
    import keras

    paths = entry_paths(key)
    model_path, sidecar_path = paths["model"], paths["sidecar"]
    if not model_path.exists() and not sidecar_path.exists():
        return None
    reason = None
    sidecar: dict[str, Any] = {}
    if not model_path.exists():
        reason = "the model file is missing (only its sidecar exists)"
    elif not sidecar_path.exists():
        reason = f"its sidecar {sidecar_path.name} is missing (interrupted write?)"
    else:
        try:
            sidecar = json.loads(sidecar_path.read_text())
        except (OSError, ValueError) as exc:
            reason = f"its sidecar {sidecar_path.name} is unreadable ({exc})"
        else:
            size = model_path.stat().st_size
            if size != sidecar.get("bytes"):
                reason = f"it has {size} bytes, the sidecar says {sidecar.get('bytes')} (truncated?)"
            elif sha256_file(model_path) != sidecar.get("sha256"):
                reason = "its sha256 does not match the sidecar (corrupted or half-written)"
    if reason is None:
        try:
            model = keras.saving.load_model(model_path, compile=False)
        except Exception as exc:  # any load failure means: rebuild, never use it
            reason = f"Keras cannot load it ({type(exc).__name__}: {exc})"
        else:
            return model, sidecar
    warnings.warn(
        f"xaikit: ignoring cached model {model_path}: {reason}; it will be rebuilt.",
        RuntimeWarning,
        stacklevel=3,
    )
    return None


def load_or_build(key: str, build: Callable[[dict[str, Path]], tuple[Any, dict[str, Any]]], *,
                  rebuild: bool = False) -> Any:
    """The cached model of ``key``, or the one ``build`` makes now (then cached).

    ``build(paths)`` gets the entry's paths (its ``"checkpoint"`` for a resumable training) and
    returns ``(model, info)``; it runs under the entry's lock, after a second look at the cache
    (another process may have built it while this one waited), and its model is saved with
    :func:`save_verified`. ``rebuild=True`` builds again even over a valid entry.

    Returns
    -------
    keras.Model
        A fresh copy loaded from the cache.
    """
    if not rebuild and (cached := load_verified(key)) is not None:
        return cached[0]
    paths = entry_paths(key)
    with file_lock(paths["lock"]):
        cached = None if rebuild else load_verified(key)
        if cached is None:
            model, info = build(paths)
            save_verified(model, key, info)
            cached = load_verified(key)
    return cached[0]


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the duration of the block.

    Two processes training the same zoo entry then run one after the other; the second finds
    the first one's model in the cache. POSIX only (``fcntl``); elsewhere the block runs
    unlocked, which is still safe because every write is atomic.
    """
    try:
        import fcntl
    except ImportError:  # Windows: atomic writes alone keep the cache consistent
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
