"""Faithfulness: remove (or insert) what the map points at and watch the score.

Introduced in lesson 10. Every metric here orders the pixels (regions, superpixels) by the map,
perturbs each image step by step and reads the explained class's score, all images and steps in
batched compiled forwards (:mod:`xaikit.metrics._removal`). Curve metrics return
:class:`Curves` (per-image curves for plots, ``.auc`` per image, ``.to_rows()``); summaries
(AOPC, ABPC, IROF) return per-image scores (N,).

The random-subset metrics (faithfulness correlation, sensitivity-n, infidelity, monotonicity,
sufficiency) are in :mod:`xaikit.metrics.faithfulness_subsets`, ROAD in
:mod:`xaikit.metrics.road`, ROAR and KAR, which retrain, in :mod:`xaikit.metrics.retraining`;
all are re-exported here.

Defaults change scores (Quantus' lesson): every baseline, step size and score is named in the
docstrings and shown in lesson 10. ``baseline`` (what removed pixels become) speaks the methods'
vocabulary, :data:`xaikit.base.vocabulary.BASELINES` ("black" 0, "grey", "mean" the image's mean
colour, "blurred", "random"), a number or an array broadcastable to the images, plus the metrics'
own "petsiuk_blur" (Petsiuk et al.'s 11 x 11, sigma 5 Gaussian) and "uniform_noise" (uniform in
[0, 1), seeded, shared by all images); see :func:`xaikit.metrics._removal.removal_baselines`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from xaikit.attribution.surrogate import superpixels
from xaikit.base.checks import check_int, check_option
from xaikit.metrics._removal import (
    Curves,
    pixel_ranks,
    prepare,
    region_ranks,
    removal_baselines,
    removal_curves,
    step_counts,
    trapezoid,
)
from xaikit.metrics.registry import register

__all__ = ["ORDERS", "Curves", "abpc", "aopc", "deletion", "faithfulness_correlation",
           "infidelity", "insertion", "irof", "kar", "monotonicity", "monotonicity_correlation",
           "pixel_flipping", "region_perturbation", "road", "roar", "sensitivity_n", "sufficiency"]

ORDERS = ("morf", "lerf")
SAMEK_STEPS = 100  # L, the perturbation steps of Samek et al. (2017)
REGION_PATCH = 4  # side of a region; Samek et al. use 9 x 9 on 224-pixel images
IROF_SEGMENTS = 50  # SLIC superpixels per image for IROF
EPSILON = 1e-12
_MODEL = frozenset({"model", "maps"})


def _curves(metric: str, model: keras.Model, images: Any, maps_or_method: Any, targets: Any, *,
            descending: bool, insert: bool, per_step: int | None, steps: int | None, baseline: Any,
            on: str, batch_size: int, seed: Any, patch: int | None = None) -> Curves:
    """The shared body of the curve metrics (pixels, or ``patch`` x ``patch`` regions)."""
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    x, maps = prepared.images, prepared.maps
    if patch is None:
        ranks, units = pixel_ranks(maps, descending=descending, seed=seed), maps[0].size
        per_step = x.shape[2] if per_step is None else per_step
    else:
        ranks, units = region_ranks(maps, patch, descending=descending, seed=seed)
    counts = step_counts(units, per_step or 1, steps)
    replaced = removal_baselines(x, baseline, seed=seed)
    start, end = (replaced, x) if insert else (x, replaced)
    scores = removal_curves(prepared, start, end, ranks, counts, batch_size)
    fractions = np.broadcast_to(counts / units, scores.shape).astype(np.float64)
    return Curves(metric, fractions, scores, trapezoid(scores, fractions))


@register(family="faithfulness", needs=_MODEL, higher_is_better=False, returns="table")
def deletion(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
             pixels_per_step: int | None = None, baseline: Any = "mean",
             on: str = "probabilities", batch_size: int = 64, seed: Any = 0) -> Curves:
    """Deletion (Petsiuk, Das & Saenko, BMVC 2018, arXiv:1806.07421, Sec. 4.1).

    The most relevant pixels are replaced by ``baseline``, ``k`` per step, and the probability of the
    explained class is recorded; a faithful map makes it fall fast, so a *lower* area is better:

    .. math:: \\mathrm{AUC} = \\int_0^1 p_c\\big(x^{(f)}\\big)\\, df

    where :math:`x^{(f)}` has the fraction :math:`f` most relevant pixels deleted (trapezoid
    rule over the exact fractions).

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    maps_or_method : array (N, H, W), method name or callable
        The maps, or the method computing them (see :func:`xaikit.metrics.common.attribution_maps`).
    targets : None, int or N ints
        The explained class (None: the predicted one).
    pixels_per_step : int, optional
        k; default the image width W (the paper's 224 pixels per step on 224 x 224 images).
    baseline : str, number or array
        What deleted pixels become; default "mean", the image's mean colour. The paper's code
        sets deleted pixels to 0 *after* ImageNet normalisation, which is the data set's mean
        colour in pixel space; "black" is the literal 0 of [0, 1] images, far out of
        distribution for most models (lesson 10 shows how much that changes the verdict).
    on : {"probabilities", "logits"}
        The recorded score; the paper's is the class probability.
    batch_size : int
        Perturbed images per compiled forward.
    seed : int
        Breaks ties in the ranking (and draws the "uniform_noise" and "random" baselines).

    Returns
    -------
    Curves
        ``scores`` (N, S + 1), ``fractions`` (N, S + 1), ``auc`` (N,).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> deletion(model, np.ones((1, 4, 4, 1)), np.arange(16.0).reshape(1, 4, 4)).auc.shape
    (1,)
    """
    return _curves("deletion", model, images, maps_or_method, targets, descending=True,
                   insert=False, per_step=pixels_per_step, steps=None, baseline=baseline, on=on,
                   batch_size=batch_size, seed=seed)


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, returns="table")
def insertion(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
              pixels_per_step: int | None = None, baseline: Any = "petsiuk_blur",
              on: str = "probabilities", batch_size: int = 64, seed: Any = 0) -> Curves:
    """Insertion (Petsiuk, Das & Saenko, BMVC 2018, arXiv:1806.07421, Sec. 4.1).

    Starting from ``baseline`` (default: the image blurred by an 11 x 11 Gaussian with sigma 5, the
    paper's code), the most relevant pixels of the image are put back, ``k`` per step; a faithful
    map makes the class probability rise fast, so a *higher* area is better:

    .. math:: \\mathrm{AUC} = \\int_0^1 p_c\\big(\\tilde x^{(f)}\\big)\\, df

    Parameters
    ----------
    baseline : str, number or array
        The image the pixels are inserted into (default "petsiuk_blur").
    model, images, maps_or_method, targets, pixels_per_step, on, batch_size, seed
        As :func:`deletion`.

    Returns
    -------
    Curves
    """
    return _curves("insertion", model, images, maps_or_method, targets, descending=True,
                   insert=True, per_step=pixels_per_step, steps=None, baseline=baseline, on=on,
                   batch_size=batch_size, seed=seed)


@register(family="faithfulness", needs=_MODEL, higher_is_better=False, returns="table",
          fast_options={"steps": 8})
def pixel_flipping(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
                   pixels_per_step: int = 1, steps: int | None = None, baseline: Any = "black",
                   on: str = "logits", batch_size: int = 64, seed: Any = 0) -> Curves:
    """Pixel flipping (Bach et al., PLoS ONE 2015, "On pixel-wise explanations ... by LRP", Sec. 4).

    Pixels are flipped (replaced by ``baseline``) one at a time in order of decreasing relevance and
    the classifier's score :math:`f(x)` (the logit by default, as in the paper) is recorded after
    each flip; a faithful map makes it fall fastest (lower area is better).

    Parameters
    ----------
    pixels_per_step : int
        Pixels flipped per step (the paper: 1).
    steps : int, optional
        Stop after this many steps (default: until every pixel is flipped).
    baseline, on : as :func:`deletion`, with defaults "black" and "logits".
    model, images, maps_or_method, targets, batch_size, seed : as :func:`deletion`.

    Returns
    -------
    Curves
    """
    return _curves("pixel_flipping", model, images, maps_or_method, targets, descending=True,
                   insert=False, per_step=pixels_per_step, steps=steps, baseline=baseline, on=on,
                   batch_size=batch_size, seed=seed)


@register(family="faithfulness", needs=_MODEL, higher_is_better=False, returns="table",
          stochastic=True, fast_options={"steps": 6})
def region_perturbation(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None,
                        *, order: str = "morf", patch: int = REGION_PATCH,
                        steps: int | None = SAMEK_STEPS, baseline: Any = "uniform_noise",
                        on: str = "logits", batch_size: int = 64, seed: Any = 0) -> Curves:
    """Region perturbation (Samek et al., IEEE TNNLS 2017, arXiv:1509.06321, Algorithm 1).

    The image is tiled into ``patch`` x ``patch`` regions, ordered by summed relevance (MoRF:
    most relevant first; LeRF: least relevant first); after step :math:`k` the first :math:`k`
    regions hold ``baseline`` (the paper: uniform noise):

    .. math:: x^{(0)}_{\\mathrm{MoRF}} = x, \\qquad
              x^{(k)}_{\\mathrm{MoRF}} = g\\big(x^{(k-1)}_{\\mathrm{MoRF}}, r_k\\big)

    Parameters
    ----------
    order : {"morf", "lerf"}
    patch : int
        Region side in pixels (default 4; the paper's 9 x 9 is 4 % of a 224-pixel side).
    steps : int or None
        L, the number of perturbation steps (the paper's 100; None: every region).
    baseline : str, number or array
        Default "uniform_noise": uniform in [0, 1), one noise image drawn from ``seed``.
    on : {"logits", "probabilities"}
        f(x): the classifier's score (the logit) by default.
    model, images, maps_or_method, targets, batch_size, seed : as :func:`deletion`.

    Returns
    -------
    Curves
        ``fractions`` are the fraction of regions perturbed.
    """
    check_option("order", order, ORDERS)
    return _curves(f"region_perturbation_{order}", model, images, maps_or_method, targets,
                   descending=order == "morf", insert=False, per_step=1, steps=steps,
                   baseline=baseline, on=on, batch_size=batch_size, seed=seed, patch=patch)


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, stochastic=True,
          fast_options={"steps": 6})
def aopc(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
         order: str = "morf", patch: int = REGION_PATCH, steps: int | None = SAMEK_STEPS,
         baseline: Any = "uniform_noise", on: str = "logits", batch_size: int = 64,
         seed: Any = 0) -> np.ndarray:
    """Area over the perturbation curve (Samek et al., IEEE TNNLS 2017, arXiv:1509.06321, Eq. 12).

    .. math:: \\mathrm{AOPC} = \\frac{1}{L + 1} \\sum_{k=0}^{L}
              f\\big(x^{(0)}_{\\mathrm{MoRF}}\\big) - f\\big(x^{(k)}_{\\mathrm{MoRF}}\\big)

    per image (the paper averages these over images; so does the lesson, with a CI). With MoRF
    a higher AOPC is better; with ``order="lerf"`` a lower one.

    Parameters
    ----------
    All as :func:`region_perturbation`.

    Returns
    -------
    np.ndarray
        float64 (N,).
    """
    scores = region_perturbation(model, images, maps_or_method, targets, order=order, patch=patch,
                                 steps=steps, baseline=baseline, on=on, batch_size=batch_size,
                                 seed=seed).scores
    return (scores[:, :1] - scores).mean(axis=1)


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, stochastic=True,
          fast_options={"steps": 6})
def abpc(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
         patch: int = REGION_PATCH, steps: int | None = SAMEK_STEPS, baseline: Any = "uniform_noise",
         on: str = "logits", batch_size: int = 64, seed: Any = 0) -> np.ndarray:
    """Area between the perturbation curves, LeRF minus MoRF (Schulz et al., ICLR 2020,
    arXiv:2001.00396, Sec. 5; on Samek et al.'s region perturbation).

    .. math:: \\mathrm{ABPC} = \\frac{1}{L + 1} \\sum_{k=0}^{L}
              f\\big(x^{(k)}_{\\mathrm{LeRF}}\\big) - f\\big(x^{(k)}_{\\mathrm{MoRF}}\\big)

    Higher is better: removing the least relevant regions should hurt less than removing the
    most relevant ones. Both orders use the same baseline (the same noise image).

    Parameters
    ----------
    All as :func:`region_perturbation`.

    Returns
    -------
    np.ndarray
        float64 (N,).
    """
    curves = {order: region_perturbation(model, images, maps_or_method, targets, order=order,
                                         patch=patch, steps=steps, baseline=baseline, on=on,
                                         batch_size=batch_size, seed=seed).scores
              for order in ORDERS}
    return (curves["lerf"] - curves["morf"]).mean(axis=1)


@register(family="faithfulness", needs=_MODEL, higher_is_better=True,
          fast_options={"n_segments": 8})
def irof(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
         n_segments: int = IROF_SEGMENTS, baseline: Any = "mean", on: str = "probabilities",
         batch_size: int = 64, seed: Any = 0) -> np.ndarray:
    """Iterative removal of features (Rieger & Hansen, 2020, arXiv:2003.08747, Sec. 3).

    The image is cut into SLIC superpixels, ordered by their *mean* relevance and removed one by
    one (set to ``baseline``, default the image's mean colour); IROF is the area over the curve of
    the class probability relative to the unperturbed one,

    .. math:: \\mathrm{IROF}(x) = 1 - \\int_0^1 \\frac{p_c(x^{(f)})}{p_c(x)}\\, df,

    with :math:`f` the fraction of superpixels removed. Higher is better.

    Parameters
    ----------
    n_segments : int
        SLIC's target number of superpixels per image (default 50).
    baseline, on : as :func:`deletion`, defaults "mean" and "probabilities".
    model, images, maps_or_method, targets, batch_size, seed : as :func:`deletion`.

    Returns
    -------
    np.ndarray
        float64 (N,).
    """
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    x, maps = prepared.images, prepared.maps
    segments = superpixels(x, "slic", n_segments=check_int("n_segments", n_segments))
    n, most = len(x), int(segments.max()) + 1
    count = segments.reshape(n, -1).max(axis=1) + 1
    labels = (segments.reshape(n, -1) + most * np.arange(n)[:, None]).ravel()
    sums = np.bincount(labels, maps.ravel(), minlength=n * most).reshape(n, most)
    sizes = np.bincount(labels, minlength=n * most).reshape(n, most)
    means = np.where(sizes > 0, sums / np.maximum(sizes, 1), -np.inf)  # absent segments last
    order = pixel_ranks(means[:, None, :], descending=True, seed=seed)[:, 0, :]
    ranks = np.take_along_axis(order, segments.reshape(n, -1), axis=1).reshape(maps.shape)
    counts = np.minimum(np.arange(most + 1)[None, :], count[:, None])
    scores = removal_curves(prepared, x, removal_baselines(x, baseline, seed=seed), ranks, counts,
                            batch_size)
    relative = scores / np.maximum(scores[:, :1], EPSILON)
    return 1.0 - trapezoid(relative, counts / count[:, None])


from xaikit.metrics.faithfulness_subsets import (  # noqa: E402  (re-exported: one family)
    faithfulness_correlation,
    infidelity,
    monotonicity,
    monotonicity_correlation,
    sensitivity_n,
    sufficiency,
)
from xaikit.metrics.retraining import kar, roar  # noqa: E402
from xaikit.metrics.road import road  # noqa: E402
