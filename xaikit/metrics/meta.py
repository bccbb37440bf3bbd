"""Can we trust the metrics? A random-map control, metric coherency, baseline sensitivity.

Introduced in lesson 11. Metrics are not neutral: they disagree with each other (Vandersmissen &
Oramas, "On the coherency of quantitative evaluation of visual explanations", CVIU 2024,
arXiv:2302.10764) and their rankings move with arbitrary choices such as the baseline (the
effect Quantus' README shows). These functions evaluate *metrics*, not explanations, so they are
not in ``METRICS``: they take several methods and one or more metrics and return tables.

- :func:`random_map`: a method with the method signature returning uniform noise, the control
  every table of lessons 10-11 shows (a metric that cannot tell a method from it says nothing).
- :func:`metric_coherency`: Kendall's tau between the rankings of the methods that two metrics
  give, image by image, on the raw maps and on binarised / sparsified maps.
- :func:`baseline_sensitivity`: how a metric's ranking of the methods moves with the baseline
  (the value removed pixels take).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_images, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.metrics.common import attribution_maps, is_method
from xaikit.metrics.registry import METRIC_INFO, get_metric

__all__ = ["TRANSFORMS", "BaselineSensitivity", "Coherency", "baseline_sensitivity",
           "kendall_tau", "metric_coherency", "per_image", "random_map", "transform_maps"]

TRANSFORMS = ("none", "binarise", "sparsify")
KEEP_FRACTION = 0.2  # the share of pixels kept by binarisation / sparsification
SENSITIVITY_BASELINES = ("black", "mean", "petsiuk_blur", "uniform_noise")


def random_map(model: keras.Model, images: Any, targets: Any = None, *,
               seed: Any = 0) -> np.ndarray:
    """The random control: uniform noise maps in [0, 1) of the images' size.

    It has the signature of an attribution method, so every metric accepts it where it accepts
    a method; it ignores the model and the targets. A metric that scores a method no better
    than this control gives no evidence for that method.

    Returns
    -------
    np.ndarray
        float32 (N, H, W).
    """
    x = check_images(images)
    return rng(seed).random(x.shape[:3], dtype=np.float32)


def transform_maps(maps: np.ndarray, transform: str, *, fraction: float = KEEP_FRACTION
                   ) -> np.ndarray:
    """``"none"``; ``"binarise"``: 1 on each map's top ``fraction`` of pixels, 0 elsewhere;
    ``"sparsify"``: the map's values on its top ``fraction``, 0 elsewhere.

    Examples
    --------
    >>> transform_maps(np.array([[[0.1, 0.9, 0.4, 0.2]]]), "binarise", fraction=0.5)
    array([[[0., 1., 1., 0.]]])
    """
    check_option("transform", transform, TRANSFORMS)
    if transform == "none":
        return maps
    fraction = check_number("fraction", fraction, low=0.0, high=1.0)
    flat = maps.reshape(len(maps), -1)
    count = max(1, round(fraction * flat.shape[1]))
    top = np.zeros(flat.shape, bool)
    np.put_along_axis(top, np.argsort(-flat, axis=1, kind="stable")[:, :count], True, axis=1)
    kept = top.astype(np.float64) if transform == "binarise" else np.where(top, flat, 0.0)
    return kept.reshape(maps.shape)


def per_image(result: Any) -> np.ndarray:
    """A metric's result as one float per image: scores as they are, the area under
    perturbation curves (``.auc``), ``.scores`` of a table, the pointing game's ``.hits``, the
    mean over n of sensitivity-n."""
    if isinstance(result, np.ndarray):
        return result.astype(np.float64)
    for attribute in ("auc", "scores", "hits"):
        values = getattr(result, attribute, None)
        if isinstance(values, np.ndarray) and values.ndim == 1:
            return values.astype(np.float64)
    correlations = getattr(result, "correlations", None)
    if isinstance(correlations, np.ndarray):
        return correlations.mean(axis=1)
    raise TypeError(message("expected", name="metric result", expected="per-image scores, "
                            "curves with .auc, or a table with .scores", got=type(result).__name__,
                            fix=""))


def _evaluate(name: str, model: keras.Model, images: np.ndarray, maps: np.ndarray, method: Any,
              targets: Any, masks: Any, options: Mapping[str, Any]) -> np.ndarray:
    """Goodness per image (N,): the metric oriented so that higher is better."""
    info = METRIC_INFO[name]
    function = get_metric(name)
    if "model" in info.needs:
        given = method if "method" in info.needs else maps
        result = function(model, images, given, targets, **options)
    elif "masks" in info.needs:
        result = function(maps, masks, **options)
    else:
        result = function(maps, **options)
    return per_image(result) * (1.0 if info.higher_is_better is not False else -1.0)


def kendall_tau(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between the rankings in ``first`` and ``second`` (..., K) along the last
    axis, all leading positions at once; 0 where either ranking is all ties, NaN where either
    holds a NaN.

    Examples
    --------
    >>> float(kendall_tau(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])))
    -1.0
    """
    i, j = np.triu_indices(first.shape[-1], k=1)
    a = np.sign(first[..., i] - first[..., j])
    b = np.sign(second[..., i] - second[..., j])
    pairs = np.sqrt((a != 0).sum(axis=-1) * (b != 0).sum(axis=-1))
    concordance = (a * b).sum(axis=-1)
    tau = np.divide(concordance, pairs, out=np.zeros(concordance.shape), where=pairs > 0)
    return np.where(np.isnan(first).any(axis=-1) | np.isnan(second).any(axis=-1), np.nan, tau)


@dataclass(frozen=True)
class Coherency:
    """Metric coherency: ``goodness[transform]`` (metrics, methods, images), higher = better;
    ``tau[transform]`` (metrics, metrics, images): Kendall's tau between the two metrics'
    rankings of the methods on each image (NaN where a metric could not run on that transform)."""

    metrics: tuple[str, ...]
    methods: tuple[str, ...]
    transforms: tuple[str, ...]
    goodness: dict[str, np.ndarray]
    tau: dict[str, np.ndarray]

    def agreement(self, transform: str = "none") -> dict[str, float]:
        """Each metric's mean tau with every other metric (over images and partners)."""
        tau = self.tau[transform].mean(axis=2)
        off = ~np.eye(len(self.metrics), dtype=bool)
        agreement = {}
        for m, name in enumerate(self.metrics):  # a handful of metrics
            partners = tau[m][off[m] & np.isfinite(tau[m])]
            agreement[name] = float(partners.mean()) if partners.size else float("nan")
        return agreement

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: transform, metric_a, metric_b, mean tau over images."""
        return [{"transform": t, "metric_a": a, "metric_b": b,
                 "tau": float(self.tau[t][i, j].mean())}
                for t in self.transforms for i, a in enumerate(self.metrics)
                for j, b in enumerate(self.metrics) if i < j]


def _maps_of(model: keras.Model, images: np.ndarray, methods: Mapping[str, Any], targets: Any,
             batch_size: int, seed: Any) -> dict[str, np.ndarray]:
    if not isinstance(methods, Mapping) or len(methods) < 2:
        raise ValueError(message("expected", name="methods", expected="a mapping of at least two "
                                 "names to methods or maps", got=type(methods).__name__, fix=""))
    return {name: attribution_maps(model, images, given, targets, batch_size=batch_size, seed=seed)
            for name, given in methods.items()}


def metric_coherency(model: keras.Model, images: Any, methods: Mapping[str, Any],
                     targets: Any = None, *, metrics: Sequence[str],
                     metric_options: Mapping[str, Mapping[str, Any]] | None = None,
                     masks: Any = None, transforms: Sequence[str] = ("none", "binarise"),
                     fraction: float = KEEP_FRACTION, batch_size: int = 32,
                     seed: Any = 0) -> Coherency:
    """Metric coherency (Vandersmissen & Oramas, CVIU 2024, arXiv:2302.10764, Sec. 4).

    Each metric ranks the methods on each image; two metrics are coherent when their rankings
    agree. For metrics :math:`m, m'` and image :math:`x`,

    .. math:: \\tau_x(m, m') = \\tau_b\\big(\\mathrm{rank}_m(x), \\mathrm{rank}_{m'}(x)\\big),

    Kendall's tau-b between the two rankings of the methods (1: same order, -1: reversed),
    computed on the raw maps and on each map ``transform`` (binarised: the top ``fraction`` of
    pixels set to 1, the rest 0; sparsified: the rest set to 0), the paper's probes of whether a
    metric reacts to the values or only to the order of the pixels.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    methods : mapping name -> method name, callable or maps (N, H, W)
    targets : None, int or N ints
    metrics : sequence of str
        Names of :data:`xaikit.metrics.METRICS`. Metrics that explain again ("method" in their
        needs) run on the raw maps only (NaN rows for the transforms).
    metric_options : mapping metric name -> options, optional
    masks : bool array (N, H, W), optional
        Ground truth for metrics that need masks (the pointing game, ...).
    transforms : sequence of {"none", "binarise", "sparsify"}
    fraction : float
        Share of pixels kept by the transforms (default 0.2).
    batch_size, seed : passed to the methods and metrics.

    Returns
    -------
    Coherency
    """
    x = check_images(images)
    maps = _maps_of(model, x, methods, targets, batch_size, seed)
    options = {name: dict((metric_options or {}).get(name, {})) for name in metrics}
    for name in metrics:
        get_metric(name)
        if "seed" in inspect.signature(METRIC_INFO[name].function).parameters:
            options[name].setdefault("seed", seed)
    goodness, tau = {}, {}
    for transform in transforms:  # a few transforms x metrics x methods, each batched over images
        table = np.full((len(metrics), len(maps), len(x)), np.nan)
        for m, name in enumerate(metrics):
            needs_method = "method" in METRIC_INFO[name].needs
            if needs_method and transform != "none":
                continue
            for k, (method, values) in enumerate(maps.items()):
                given = methods[method]
                if needs_method and not is_method(given):
                    continue
                table[m, k] = _evaluate(name, model, x, transform_maps(values, transform,
                                                                       fraction=fraction),
                                        given, targets, masks, options[name])
        ranks = np.moveaxis(table, 1, 2)  # (metrics, images, methods)
        tau[transform] = kendall_tau(ranks[:, None], ranks[None, :])
        goodness[transform] = table
    return Coherency(tuple(metrics), tuple(maps), tuple(transforms), goodness, tau)


@dataclass(frozen=True)
class BaselineSensitivity:
    """A metric's scores of the methods under each baseline: ``goodness`` (baselines, methods,
    images), higher = better; ``tau`` (baselines, baselines, images): agreement of the method
    rankings."""

    metric: str
    baselines: tuple[str, ...]
    methods: tuple[str, ...]
    goodness: np.ndarray
    tau: np.ndarray

    def ranks(self) -> np.ndarray:
        """(baselines, methods): each method's rank (1 = best) by its mean goodness under each
        baseline."""
        order = np.argsort(-self.goodness.mean(axis=2), axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(1, order.shape[1] + 1)[None], axis=1)
        return ranks

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: baseline, method, mean goodness, rank."""
        ranks = self.ranks()
        return [{"metric": self.metric, "baseline": str(baseline), "method": method,
                 "goodness": float(self.goodness[f, k].mean()), "rank": int(ranks[f, k])}
                for f, baseline in enumerate(self.baselines)
                for k, method in enumerate(self.methods)]


def baseline_sensitivity(model: keras.Model, images: Any, methods: Mapping[str, Any],
                         targets: Any = None, *, metric: str | Callable[..., Any] = "deletion",
                         baselines: Sequence[Any] = SENSITIVITY_BASELINES,
                         metric_options: Mapping[str, Any] | None = None, batch_size: int = 32,
                         seed: Any = 0) -> BaselineSensitivity:
    """How a perturbation metric's ranking of methods moves with its baseline.

    The same maps are scored with each ``baseline`` (black, the image mean, Petsiuk's blur,
    uniform noise by default); Kendall's tau between the rankings under two baselines says how
    much the verdict depends on that arbitrary choice (1: not at all).

    Parameters
    ----------
    model, images, methods, targets : as :func:`metric_coherency`.
    metric : str
        A metric of :data:`xaikit.metrics.METRICS` with a ``baseline`` option (deletion, insertion,
        pixel_flipping, region_perturbation, aopc, abpc, irof, faithfulness_correlation, ...).
    baselines : sequence
        Values of the metric's ``baseline`` (names, numbers or arrays; see
        :func:`xaikit.metrics.faithfulness.deletion`).
    metric_options : mapping, optional
        Further options of the metric.
    batch_size, seed : passed to the methods and the metric.

    Returns
    -------
    BaselineSensitivity
    """
    x = check_images(images)
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    get_metric(metric)
    if name not in METRIC_INFO or "baseline" not in inspect.signature(METRIC_INFO[name].function
                                                                  ).parameters:
        raise ValueError(message("expected", name="metric", expected="a registered metric with a "
                                 "baseline option", got=repr(name), fix=""))
    maps = _maps_of(model, x, methods, targets, batch_size, seed)
    goodness = np.stack([np.stack([
        _evaluate(name, model, x, values, None, targets, None,
                  {**dict(metric_options or {}), "baseline": baseline, "batch_size": batch_size,
                   "seed": seed})
        for values in maps.values()]) for baseline in baselines])
    ranks = np.moveaxis(goodness, 1, 2)  # (baselines, images, methods)
    tau = kendall_tau(ranks[:, None], ranks[None, :])
    return BaselineSensitivity(name, tuple(str(b) for b in baselines), tuple(maps), goodness, tau)
