"""Evaluation of explanations: one module per family, every metric registered in ``METRICS``.

Families (see :mod:`xaikit.metrics.registry` for the calling conventions and return types):

- :mod:`~xaikit.metrics.ground_truth`: maps against known evidence: feature coverage, mass and
  rank in the mask, the pointing game, boxes from maps and box IoU (lessons 02, 09);
- :mod:`~xaikit.metrics.bim`: relative feature importance between two models trained on the
  same images (BIM: model contrast score, input dependence and independence; lesson 09);
- ``randomisation``, ``axioms``: sanity checks (lesson 08);
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
