"""Faithfulness on random subsets and single features: correlations, infidelity, monotonicity.

Introduced in lesson 10. Where deletion follows the map's own order, these metrics perturb
*random* subsets (or one feature at a time) and ask whether the map predicts the effect. The
subsets, noise draws and baseline are drawn once from ``seed`` and shared by every image (RISE's
convention for masks), so an image's score never depends on the others in the batch; all
perturbed images of all images run in batched compiled forwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from scipy import stats

from xaikit.base.checks import check_int, check_number, rng
from xaikit.base.messages import message
from xaikit.core import predict
from xaikit.metrics._removal import (
    pixel_ranks,
    prepare,
    random_subsets,
    region_ranks,
    removal_baselines,
    removal_curves,
    score_images,
    step_counts,
    subset_scores,
)
from xaikit.metrics.registry import register
from xaikit.metrics.similarity import row_correlation

__all__ = ["SensitivityN", "Sufficiency", "faithfulness_correlation", "infidelity",
           "monotonicity", "monotonicity_correlation", "sensitivity_n", "sufficiency"]

SUBSET_FRACTION = 0.1  # |S| / d for faithfulness correlation
N_SUBSETS = 100  # subsets per image (Bhatt et al.; Ancona et al. use 100 per n as well)
SENSITIVITY_N_POINTS = 8  # default n: log-spaced from 1 to 80 % of the pixels
INFIDELITY_SIGMA = 0.1  # standard deviation of the Gaussian perturbations I (images in [0, 1])
MONOTONICITY_PATCH = 4  # feature size of monotonicity correlation
SUFFICIENCY_THRESHOLD = 0.1  # RMS distance under which two max-normalised maps count as equal
_MODEL = frozenset({"model", "maps"})


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, stochastic=True,
          fast_options={"n_samples": 12})
def faithfulness_correlation(model: keras.Model, images: Any, maps_or_method: Any,
                             targets: Any = None, *, subset_fraction: float = SUBSET_FRACTION,
                             n_samples: int = N_SUBSETS, baseline: Any = "black", on: str = "logits",
                             batch_size: int = 64, seed: Any = 0) -> np.ndarray:
    """Faithfulness correlation (Bhatt, Weller & Moura, IJCAI 2020, arXiv:2005.00631, Eq. 2).

    .. math:: \\mu_F(g, x) = \\operatorname{corr}_{S \\subseteq d,\\ |S| = s}
              \\Big(\\sum_{i \\in S} g_i(x),\\; f(x) - f\\big(x_{[x_S = \\bar x_S]}\\big)\\Big)

    Pearson's correlation, over ``n_samples`` random subsets S of ``subset_fraction`` of the
    pixels, between the map's total over S and the score drop when S is set to ``baseline``.

    Parameters
    ----------
    subset_fraction : float
        s / d (default 0.1).
    n_samples : int
        Random subsets (default 100), the same for every image.
    baseline : str, number or array
        :math:`\\bar x` (default "black").
    on : {"logits", "probabilities"}
        f (default the logit: on a linear model gradient x input then gives exactly 1).
    model, images, maps_or_method, targets, batch_size, seed
        As :func:`xaikit.metrics.faithfulness.deletion`.

    Returns
    -------
    np.ndarray
        float64 (N,) in [-1, 1]; 0 where the map or the drops are constant.

    Examples
    --------
    On a linear model, gradient x input is exact: every drop equals the map's total over S.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> x = np.random.default_rng(0).random((2, 4, 4, 1)).astype("float32")
    >>> weights = model.layers[-1].get_weights()[0][:, 0].reshape(4, 4)
    >>> faithfulness_correlation(model, x, weights * x[..., 0], 0, n_samples=20).round(5).tolist()
    [1.0, 1.0]
    """
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    pixels = prepared.maps[0].size
    size = max(1, round(check_number("subset_fraction", subset_fraction, low=0.0, high=1.0)
                        * pixels))
    subsets = random_subsets(pixels, size, check_int("n_samples", n_samples), seed)
    clean = prepared.score(prepared.images, prepared.weights)
    replaced = removal_baselines(prepared.images, baseline, seed=seed)
    drops = clean[:, None] - subset_scores(prepared, replaced, subsets, batch_size)
    totals = prepared.maps.reshape(len(clean), -1) @ subsets.T
    return row_correlation(totals, drops)


@dataclass(frozen=True)
class SensitivityN:
    """Sensitivity-n per image: ``ns`` (K,) subset sizes, ``correlations`` (N, K)."""

    ns: np.ndarray
    correlations: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: image, n, correlation."""
        return [{"image": i, "n": int(n), "correlation": float(c)}
                for i, row in enumerate(self.correlations) for n, c in zip(self.ns, row)]


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, stochastic=True,
          returns="table", fast_options={"ns": (2, 20), "n_samples": 12})
def sensitivity_n(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
                  ns: Sequence[int] | None = None, n_samples: int = N_SUBSETS,
                  baseline: Any = "black", on: str = "logits", batch_size: int = 64,
                  seed: Any = 0) -> SensitivityN:
    """Sensitivity-n (Ancona, Ceolini, Öztireli & Gross, ICLR 2018, arXiv:1711.06104, Def. 4).

    A map is sensitivity-n when, for every subset :math:`S` of :math:`n` pixels,

    .. math:: \\sum_{i \\in S} R_i(x) = f(x) - f\\big(x_{[x_S = 0]}\\big);

    the measure is Pearson's correlation of the two sides over ``n_samples`` random subsets, for
    each n (the paper's curves over n, Fig. 3).

    Parameters
    ----------
    ns : sequence of int, optional
        Subset sizes; default 8 log-spaced sizes from 1 to 80 % of the pixels.
    n_samples : int
        Subsets per size (the paper: 100), the same for every image.
    baseline : str, number or array
        The removed value (the paper: 0, "black").
    on, model, images, maps_or_method, targets, batch_size, seed
        As :func:`faithfulness_correlation`.

    Returns
    -------
    SensitivityN
    """
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    pixels = prepared.maps[0].size
    if ns is None:
        ns = np.unique(np.round(np.geomspace(1, 0.8 * pixels, SENSITIVITY_N_POINTS)))
    sizes = np.array([check_int("ns", int(n)) for n in np.ravel(ns)])
    if sizes.max() > pixels:
        raise ValueError(message("expected", name="ns", expected=f"subset sizes <= {pixels} (the "
                                 "pixels of an image)", got=int(sizes.max()), fix=""))
    samples = check_int("n_samples", n_samples)
    generator = rng(seed)
    subsets = np.concatenate([random_subsets(pixels, int(n), samples, generator) for n in sizes])
    clean = prepared.score(prepared.images, prepared.weights)
    replaced = removal_baselines(prepared.images, baseline, seed=seed)
    drops = clean[:, None] - subset_scores(prepared, replaced, subsets, batch_size)
    totals = prepared.maps.reshape(len(clean), -1) @ subsets.T
    shape = (len(clean) * len(sizes), samples)  # rows: (image, n) pairs
    correlations = row_correlation(totals.reshape(shape), drops.reshape(shape))
    return SensitivityN(sizes, correlations.reshape(len(clean), len(sizes)))


@register(family="faithfulness", needs=_MODEL, higher_is_better=False, stochastic=True,
          fast_options={"n_samples": 8})
def infidelity(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
               n_samples: int = 50, sigma: float = INFIDELITY_SIGMA, on: str = "logits",
               batch_size: int = 64, seed: Any = 0) -> np.ndarray:
    """Infidelity (Yeh, Hsieh, Suggala, Inouye & Ravikumar, NeurIPS 2019, arXiv:1901.09392, Eq. 1).

    .. math:: \\mathrm{INFD}(\\Phi, f, x) = \\mathbb{E}_{I \\sim \\mathcal N(0, \\sigma^2)}
              \\Big[\\big(\\beta\\, I^\\top \\Phi(x) - (f(x) - f(x - I))\\big)^2\\Big]

    with one perturbation per pixel, added to all its channels (the maps are per pixel), and
    :math:`\\beta` the least-squares scale of the map
    (as in the authors' code), so that the score does not depend on the map's units. Lower is
    better; the gradient of a linear model has infidelity 0.

    Parameters
    ----------
    n_samples : int
        Perturbations I per image (shared by every image).
    sigma : float
        Their standard deviation (default 0.1, images in [0, 1]).
    on, model, images, maps_or_method, targets, batch_size, seed
        As :func:`faithfulness_correlation`.

    Returns
    -------
    np.ndarray
        float64 (N,).
    """
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    x = prepared.images
    samples = check_int("n_samples", n_samples)
    noise = check_number("sigma", sigma, low=0.0) * rng(seed).standard_normal(
        (samples, *x.shape[1:3], 1)).astype(np.float32)

    def build(part: slice) -> tuple[np.ndarray, np.ndarray]:
        flat = np.arange(part.start, part.stop)
        return x[flat // samples] - noise[flat % samples], prepared.weights[flat // samples]

    perturbed = score_images(prepared.score, len(x) * samples, build, batch_size)
    drops = prepared.score(x, prepared.weights)[:, None] - perturbed.reshape(len(x), samples)
    explained = np.einsum("nhw,shw->ns", prepared.maps, noise[..., 0].astype(np.float64))
    power = (explained**2).sum(axis=1)
    beta = np.divide((explained * drops).sum(axis=1), power, out=np.zeros_like(power),
                     where=power > 0)
    return ((beta[:, None] * explained - drops) ** 2).mean(axis=1)


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, fast_options={})
def monotonicity(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
                 pixels_per_step: int | None = None, baseline: Any = "black",
                 on: str = "probabilities", batch_size: int = 64, seed: Any = 0) -> np.ndarray:
    """Monotonicity (Arya et al., 2019, arXiv:1909.03012, AIX360; after Luss et al. 2019).

    Starting from ``baseline``, the image's pixels are added back in order of *increasing* relevance,
    ``k`` per step; a faithful map makes the class probability rise at every step. The score is
    the fraction of steps at which it does not fall,

    .. math:: \\frac{1}{S} \\sum_{s=1}^{S} [\\, p_c(x^{(s)}) \\ge p_c(x^{(s-1)}) \\,],

    which is 1 exactly when Arya et al.'s boolean monotonicity holds.

    Parameters
    ----------
    pixels_per_step : int, optional
        k (default the image width).
    baseline, on, model, images, maps_or_method, targets, batch_size, seed
        As :func:`xaikit.metrics.faithfulness.deletion`.

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, 1].
    """
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    x, maps = prepared.images, prepared.maps
    ranks = pixel_ranks(maps, descending=False, seed=seed)
    counts = step_counts(maps[0].size, x.shape[2] if pixels_per_step is None else pixels_per_step)
    scores = removal_curves(prepared, removal_baselines(x, baseline, seed=seed), x, ranks, counts,
                            batch_size)
    return (np.diff(scores, axis=1) >= 0).mean(axis=1)


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, stochastic=True,
          fast_options={"n_samples": 3, "patch": 6})
def monotonicity_correlation(model: keras.Model, images: Any, maps_or_method: Any,
                             targets: Any = None, *, patch: int = MONOTONICITY_PATCH,
                             n_samples: int = 10, on: str = "probabilities",
                             batch_size: int = 64, seed: Any = 0) -> np.ndarray:
    """Monotonicity correlation (Nguyen & Rodríguez Martínez, 2020, arXiv:2007.07584, Sec. 4.2).

    Spearman's rank correlation, over the features :math:`i` (``patch`` x ``patch`` squares),
    between the attribution :math:`|a_i|` (the map summed over the square) and the effect of
    replacing feature :math:`i` by uniform noise,

    .. math:: \\rho_S\\Big(|a_i|,\\; \\mathbb{E}\\big[(f(x) - f(x_{[x_i = \\text{noise}]}))^2\\big]\\Big).

    Parameters
    ----------
    patch : int
        Feature side in pixels (default 4).
    n_samples : int
        Noise draws per feature (shared by every image).
    on, model, images, maps_or_method, targets, batch_size, seed
        As :func:`xaikit.metrics.faithfulness.deletion`.

    Returns
    -------
    np.ndarray
        float64 (N,) in [-1, 1].
    """
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    x, maps = prepared.images, prepared.maps
    features, count = region_ranks(np.zeros_like(maps[:1]), patch, seed=seed)
    features = features[0]
    samples = check_int("n_samples", n_samples)
    noise = rng(seed).random((samples, *x.shape[1:]), dtype=np.float32)
    per_image = count * samples

    def build(part: slice) -> tuple[np.ndarray, np.ndarray]:
        flat = np.arange(part.start, part.stop)
        which, feature, sample = flat // per_image, flat % per_image // samples, flat % samples
        inside = (features[None] == feature[:, None, None])[..., None]
        return np.where(inside, noise[sample], x[which]), prepared.weights[which]

    scores = score_images(prepared.score, len(x) * per_image, build, batch_size)
    clean = prepared.score(x, prepared.weights)
    effect = ((clean[:, None, None] - scores.reshape(len(x), count, samples)) ** 2).mean(axis=2)
    attribution = np.zeros((len(x), count))
    np.add.at(attribution, (slice(None), features.ravel()), maps.reshape(len(x), -1))
    return row_correlation(stats.rankdata(np.abs(attribution), axis=1),
                                 stats.rankdata(effect, axis=1))


@dataclass(frozen=True)
class Sufficiency:
    """Per image: the share of images with a near-identical map that get the same prediction
    (``scores`` (N,)), and how many such images there are (``neighbours`` (N,), itself included)."""

    scores: np.ndarray
    neighbours: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: image, sufficiency, neighbours."""
        return [{"image": i, "sufficiency": float(s), "neighbours": int(k)}
                for i, (s, k) in enumerate(zip(self.scores, self.neighbours))]


@register(family="faithfulness", needs=_MODEL, higher_is_better=True, returns="table")
def sufficiency(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
                threshold: float = SUFFICIENCY_THRESHOLD, batch_size: int = 64,
                seed: Any = 0) -> Sufficiency:
    """Sufficiency (Dasgupta, Frost & Moshkovitz, ICML 2022, arXiv:2202.00734, Def. 3).

    An explanation is sufficient when every input that gets the same explanation also gets the
    same prediction. Over the given set of images,

    .. math:: \\mathrm{suff}(x_i) = \\Pr_j\\big[\\hat y_j = \\hat y_i \\;\\big|\\;
              d(e_i, e_j) \\le \\tau\\big],

    with each map divided by its largest magnitude and :math:`d` the root-mean-square difference
    of two maps (so :math:`\\tau` does not depend on the image size). The score is relative to
    the set: it is a table, not a per-image score of one image.

    Parameters
    ----------
    threshold : float
        :math:`\\tau` (default 0.1).
    model, images, maps_or_method, targets, batch_size, seed
        As :func:`xaikit.metrics.faithfulness.deletion`; ``targets`` chooses the explained class,
        the predictions compared are the model's.

    Returns
    -------
    Sufficiency
    """
    prepared = prepare(model, images, maps_or_method, targets, on="logits", batch_size=batch_size,
                       seed=seed)
    tau = check_number("threshold", threshold, low=0.0)
    flat = prepared.maps.reshape(len(prepared.maps), -1)
    scale = np.abs(flat).max(axis=1, keepdims=True)
    flat = np.divide(flat, scale, out=np.zeros_like(flat), where=scale > 0)
    squared = (flat**2).sum(axis=1)
    distance = np.sqrt(np.maximum(squared[:, None] + squared[None] - 2 * flat @ flat.T, 0.0)
                       / flat.shape[1])
    near = distance <= tau
    predicted = predict(prepared.model, prepared.images, batch_size=batch_size).argmax(axis=1)
    same = predicted[:, None] == predicted[None]
    return Sufficiency((near & same).sum(axis=1) / near.sum(axis=1), near.sum(axis=1))
