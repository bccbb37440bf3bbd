"""The registry of evaluation metrics: ``METRICS`` and what each one needs.

Every metric module (``randomisation``, ``axioms``, ``ground_truth``, ``faithfulness``,
``robustness``, ``complexity``, ``meta``) registers its public metrics with :func:`register`;
``tests/test_metrics_contract.py`` then runs each through one contract, built from ``needs``.

Calling conventions (one per kind, never changed by a flag)
-----------------------------------------------------------
- model-based (``"model" in needs``)::

      metric(model, images, maps_or_method, targets=None, *, ..., batch_size=32, seed=0)

  ``maps_or_method`` is precomputed maps (N, H, W), a name of :data:`xaikit.attribution.METHODS`
  or a callable with the method signature; :func:`xaikit.metrics.common.attribution_maps`
  resolves it. A metric that must recompute explanations (on perturbed inputs or randomised
  models) declares ``"method"`` and refuses precomputed maps.
- model-free: ``metric(maps, masks, *, ...)`` (``needs`` = {"maps", "masks"} or {"maps",
  "parts"}), ``metric(maps, *, ...)`` (``needs`` = {"maps"}), or a comparison of two batches
  of maps pair by pair, ``metric(maps, reference, *, ...)`` (``needs`` = {"maps",
  "reference"}; the similarity family).

A metric returns per-image scores, a float64 array (N,), or a result dataclass with
``.to_rows()`` (a tidy list of dicts) when the result has several axes (curves, layers,
methods, fractions).

API
---
- ``@register(name=None, *, family, needs, higher_is_better, stochastic=False,
  fast_options=None, returns="scores")``
- ``METRICS``: name -> function;  ``METRIC_INFO``: name -> :class:`MetricInfo`;
  ``get_metric(name_or_callable)``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xaikit.base.messages import message

__all__ = ["FAMILIES", "METRICS", "METRIC_INFO", "NEEDS", "MetricInfo", "get_metric", "register"]

FAMILIES = ("randomisation", "axioms", "ground_truth", "faithfulness", "robustness",
            "complexity", "meta", "similarity")
NEEDS = frozenset({"model", "maps", "method", "masks", "parts", "boxes", "reference",
                   "retraining"})
RETURNS = ("scores", "table")


@dataclass(frozen=True)
class MetricInfo:
    """What the contract test and the docs need to know about a metric.

    ``needs``: the inputs it takes ("model": a model and images; "maps": precomputed maps are
    accepted; "method": an attribution method is required; "masks" / "parts" / "boxes": ground
    truth; "reference": a second batch of maps to compare with; "retraining": it trains models). ``higher_is_better``: the direction of a better
    explanation (None when the score is a diagnostic without a direction). ``returns``:
    ``"scores"`` (N,) or ``"table"`` (a result object with ``.to_rows()``).
    """

    name: str
    function: Callable[..., Any]
    family: str
    needs: frozenset
    higher_is_better: bool | None
    stochastic: bool
    returns: str
    fast_options: Mapping[str, Any]


METRICS: dict[str, Callable[..., Any]] = {}
METRIC_INFO: dict[str, MetricInfo] = {}


def register(
    name: str | None = None,
    *,
    family: str,
    needs: frozenset | set | tuple,
    higher_is_better: bool | None,
    stochastic: bool = False,
    returns: str = "scores",
    fast_options: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a metric under ``name`` (default: the function's name)."""
    if family not in FAMILIES:
        raise ValueError(message("option", name="family", value=family,
                                 allowed=", ".join(map(repr, FAMILIES))))
    kinds = frozenset(needs)
    if not kinds or kinds - NEEDS:
        raise ValueError(message("expected", name="needs", expected=f"a subset of {sorted(NEEDS)}",
                                 got=sorted(kinds), fix=""))
    if returns not in RETURNS:
        raise ValueError(message("option", name="returns", value=returns,
                                 allowed=", ".join(map(repr, RETURNS))))

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        key = name or function.__name__
        if key in METRICS and METRICS[key] is not function:
            raise ValueError(message("expected", name="metric name", expected="a new name",
                                     got=f"{key!r}, already registered", fix=""))
        METRICS[key] = function
        METRIC_INFO[key] = MetricInfo(key, function, family, kinds, higher_is_better,
                                      stochastic, returns, dict(fast_options or {}))
        return function

    return decorate


def discover() -> None:
    """Import every module of :mod:`xaikit.metrics` so that all metrics are registered."""
    package = importlib.import_module("xaikit.metrics")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_") and module.name != "registry":
            importlib.import_module(f"xaikit.metrics.{module.name}")


def get_metric(metric: str | Callable[..., Any]) -> Callable[..., Any]:
    """The registered function for ``metric`` (a name or a function); unknown names list METRICS."""
    if callable(metric):
        return metric
    discover()
    if metric not in METRICS:
        raise ValueError(message("option", name="metric", value=metric,
                                 allowed=", ".join(sorted(METRICS))))
    return METRICS[metric]
