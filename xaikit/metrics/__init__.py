"""Evaluation of explanations: one module per family, every metric registered in ``METRICS``.

Families (see :mod:`xaikit.metrics.registry` for the calling conventions and return types):

- :mod:`~xaikit.metrics.localisation`: boxes from maps, box IoU (lesson 02);
- ``randomisation``, ``axioms``: sanity checks (lesson 08);
- ``ground_truth``: maps against known evidence (lesson 09);
- ``faithfulness``, ``robustness``, ``complexity``, ``meta``: lessons 10-11;
- ``similarity``: the comparisons of maps all of them share.

``xaikit.metrics.METRICS`` lists every registered metric (importing it imports every family).
"""

from __future__ import annotations

import importlib
from typing import Any

from xaikit.base.messages import message

__all__ = ["METRICS", "METRIC_INFO", "get_metric"]


def __getattr__(name: str) -> Any:
    registry = importlib.import_module("xaikit.metrics.registry")
    if name in ("METRICS", "METRIC_INFO"):
        registry.discover()
        return getattr(registry, name)
    if name == "get_metric":
        return registry.get_metric
    raise AttributeError(message("no_attribute", module=__name__, name=name))
