"""On-disk cache of trained models: keyed, atomically written, verified before loading.

Layout of :func:`cache_dir` (``$XAIKIT_CACHE``, default ``~/.cache/xaikit``)::

    models/<key>.keras        the trained model (keras.saving format)
    models/<key>.json         sidecar: sha256 and size of the .keras file, accuracy, recipe, versions
    models/<key>.lock         lock file held while a process trains this entry (POSIX only)
    models/<key>.ckpt.npz     per-epoch training checkpoint (deleted when training finishes)

The key is ``<name>-<sha256 of the recipe and the keras/tensorflow/xaikit versions>[:16]``, so a
changed recipe or library version trains a new entry instead of loading a stale one. Every file is
written to a temporary file in the same folder and moved into place with :func:`os.replace`
(atomic on POSIX and Windows): a reader sees the old file or the new one, never half of one. The
model is moved into place first and its sidecar second, so a crash in between leaves a model whose
hash no sidecar vouches for, which :func:`load_verified` rejects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "cache_dir",
    "entry_key",
    "entry_paths",
    "atomic_write_bytes",
    "atomic_write_json",
    "save_verified",
    "load_verified",
    "file_lock",
    "sha256_file",
]

CACHE_FORMAT = 1


def cache_dir() -> Path:
    """The xaikit cache folder: ``$XAIKIT_CACHE`` if set, else ``~/.cache/xaikit`` (created).

    Returns
    -------
    pathlib.Path
        An existing folder.
    """
    root = os.environ.get("XAIKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "xaikit")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


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


@contextlib.contextmanager
def _temporary_sibling(path: Path) -> Iterator[Path]:
    """A temp file name next to ``path`` (same suffix); moved onto ``path`` if the block succeeds."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix + ".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, os.replace)."""
    path = Path(path)
    with _temporary_sibling(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


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
    fd, tmp = tempfile.mkstemp(dir=paths["model"].parent, prefix=f".{key}.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        sidecar = {
            **info,
            "file": paths["model"].name,
            "sha256": sha256_file(tmp),
            "bytes": os.path.getsize(tmp),
            "versions": _versions(),
        }
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a cached model is not a secret
        os.replace(tmp, paths["model"])
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
