"""Where xaikit keeps files between runs: the cache folder and the weights folder.

- :func:`cache_dir`: ``$XAIKIT_CACHE``, else ``~/.cache/xaikit`` — trained zoo models, generated
  datasets, retrained models of ROAR / data randomisation.
- :func:`weights_dir`: the folder ``keras.applications`` caches ImageNet weights in,
  ``$KERAS_HOME/models`` or ``~/.keras/models`` (``/tmp/.keras/models`` when the home is not
  writable, Keras' own fallback).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_dir", "weights_dir"]

CACHE_ENV = "XAIKIT_CACHE"


def cache_dir(create: bool = True) -> Path:
    """The xaikit cache folder: ``$XAIKIT_CACHE`` if set, else ``~/.cache/xaikit``.

    Parameters
    ----------
    create : bool
        Create the folder when missing (default).
    """
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "xaikit")
    path = Path(root).expanduser()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def weights_dir() -> Path:
    """The folder ``keras.applications`` caches weight files in (not created here)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(home if os.path.exists(home) else os.path.dirname(home), os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return Path(home).expanduser() / "models"
