"""Shared test set-up: fast mode, quiet TensorFlow, one model cache per test session.

- ``XAIKIT_FAST=1``: the zoo's reduced recipes and the lessons' fast mode.
- ``TF_CPP_MIN_LOG_LEVEL=2`` and ``TF_ENABLE_ONEDNN_OPTS=0``: no start-up noise.
- ``XAIKIT_CACHE``: unless already set, a folder in pytest's cache (``.pytest_cache/d/xaikit``)
  so the zoo models are trained once and reused by every test and every executed lesson.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["XAIKIT_FAST"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("XAIKIT_CACHE"):
        cache = getattr(config, "cache", None)
        folder = cache.mkdir("xaikit") if cache is not None else ROOT / ".pytest_cache" / "xaikit"
        Path(folder).mkdir(parents=True, exist_ok=True)
        os.environ["XAIKIT_CACHE"] = str(folder)


@pytest.fixture(scope="session")
def kit_root() -> Path:
    """The repository root (holds lessons/, solutions/, xaikit/)."""
    return ROOT
