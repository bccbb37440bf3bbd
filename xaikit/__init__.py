"""xaikit: a Keras 3 course and reproduction kit for explainable AI on CNNs.

Importing :mod:`xaikit` is cheap: TensorFlow is loaded only when a submodule that needs it is
imported (``xaikit.attribution``, ``xaikit.models``, ...).  The public entry points are

- :func:`xaikit.explain` — run any registered attribution method by name;
- :data:`xaikit.METHODS` — the registry of attribution methods;
- the subpackages :mod:`xaikit.data`, :mod:`xaikit.models`, :mod:`xaikit.attribution`,
  :mod:`xaikit.viz`, :mod:`xaikit.exercises`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
__all__ = ["explain", "METHODS", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("explain", "METHODS"):
        return getattr(importlib.import_module("xaikit.attribution"), name)
    raise AttributeError(f"module 'xaikit' has no attribute {name!r}")
