"""Relevant units: the few internal units a classifier relies on for each class, and what they show.

Introduced in lesson 09. Oramas, Wang & Tuytelaars, "Visual Explanation by Interpretation:
Improving Visual Feedback Capabilities of Deep Neural Networks", ICLR 2019 (arXiv:1712.06302),
Sec. 3: push the training images through the network, pool every unit's response into a vector
:math:`x_i`, and find, per class, a sparse linear model from those vectors to the class
indicator. The units with non-zero weight are the class's *relevant units*; the explanation of a
prediction is built from the responses of the predicted class's relevant units
(:func:`explanation_by_interpretation`). Two evaluations from the course slides go with it:
removing the relevant units from the network one by one (:func:`unit_ablation`, and keeping only
the top ones, :func:`top_units_accuracy`), and how much of each annotated part the aggregated
responses cover (:func:`semantic_coverage`, Behzadi-Khormuji & Oramas, WACV 2023).

Units are indexed along the concatenation of the chosen layers' channels, in graph order;
``RelevantUnits.unit_names`` turns indices into ``"layer:channel"``. The network is cut at those
layers (:func:`xaikit.core.segments.layer_segments`), so ablations are masks on the activations
between the cuts, evaluated in large batches of (image, mask) pairs: no model per step.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import lars_path

from xaikit.base.checks import check_images, check_int, check_option, check_targets, rng
from xaikit.base.messages import message
from xaikit.base.resize import bilinear_matrix
from xaikit.core import batch_slices, cached, find_layer, forward_function
from xaikit.core.segments import layer_segments
from xaikit.metrics.ground_truth import binarise as binarise_maps
from xaikit.metrics.ground_truth import label_image, waiou

__all__ = ["RelevantUnits", "SemanticCoverage", "UnitAblation", "explanation_by_interpretation",
           "lasso_weights", "relevant_units", "semantic_coverage", "top_units_accuracy", "unit_ablation",
           "unit_responses"]

POOLINGS = ("max", "mean")
CV_FOLDS = 3  # folds of the cross-validation that picks mu
MU_GRID = 32  # candidate values of mu, log-spaced up to the largest l1 norm on the path


def _images_labels(data: Any) -> tuple[np.ndarray, np.ndarray]:
    images, labels = (data.images, data.labels) if hasattr(data, "images") else data
    images = check_images(images)
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
        raise ValueError(message("expected", name="labels", expected=f"{len(images)} int labels",
                                 got=f"{labels.dtype} {labels.shape}", fix=""))
    return images, labels.astype(np.int64)


def _cut(model: Any, layers: Any) -> tuple[list, list[str], list[int]]:
    layers = [find_layer(model).name] if layers is None else (
        [layers] if isinstance(layers, str) else list(layers))
    key = ("layer_segments", tuple(getattr(layer, "name", layer) for layer in layers))
    segments, names = cached(model, key, lambda: layer_segments(model, layers))
    sizes = [int(segment.outputs[0].shape[-1]) for segment in segments[:-1]]
    return segments, names, sizes


def _forward(segments: list, images: np.ndarray, batch_size: int, *, full: bool = False):
    """Yield (slice, activations per cut, output or None) batch by batch."""
    functions = [forward_function(segment) for segment in segments]
    for part in batch_slices(len(images), batch_size):
        x, activations = images[part], []
        for function in functions[:-1]:
            x = np.asarray(function(x))
            activations.append(x)
        yield part, activations, np.asarray(functions[-1](x)) if full else None


def _pool(activations: np.ndarray, pooling: str) -> np.ndarray:
    axes = tuple(range(1, activations.ndim - 1))
    return activations.max(axis=axes) if pooling == "max" else activations.mean(axis=axes)


def unit_responses(model: Any, images: Any, *, layers: Any = None, pooling: str = "max",
                   batch_size: int = 64) -> tuple[np.ndarray, list[str], list[int]]:
    """Spatially pooled responses of every unit of ``layers``: the vectors :math:`x_i` (N, U).

    Returns
    -------
    responses : np.ndarray
        float64 (N, U), units of the layers concatenated in graph order.
    layers : list of str
        The layers' names in that order.
    sizes : list of int
        Channels per layer.
    """
    check_option("pooling", pooling, POOLINGS)
    images = check_images(images, model)
    segments, names, sizes = _cut(model, layers)
    pooled = np.zeros((len(images), sum(sizes)))
    for part, activations, _ in _forward(segments, images, batch_size):
        pooled[part] = np.concatenate([_pool(a, pooling) for a in activations], axis=1)
    return pooled, names, sizes


@dataclass(frozen=True)
class RelevantUnits:
    """Per class: the relevant units (indices into the concatenated units) and their weights.

    ``units[c]`` is sorted by weight, largest first; ``scale`` (U,) is each unit's largest pooled
    response on the data (responses are divided by it before the fit).
    """

    layers: tuple[str, ...]
    sizes: tuple[int, ...]
    units: tuple[np.ndarray, ...]
    weights: tuple[np.ndarray, ...]
    mu: float
    scale: np.ndarray
    pooling: str

    @property
    def n_units(self) -> int:
        """Number of units in the layers."""
        return int(sum(self.sizes))

    def unit_names(self, indices: Any) -> list[str]:
        """``"layer:channel"`` for unit indices."""
        offsets = np.cumsum([0, *self.sizes])
        out = []
        for index in np.atleast_1d(indices):
            layer = int(np.searchsorted(offsets, index, side="right") - 1)
            out.append(f"{self.layers[layer]}:{int(index - offsets[layer])}")
        return out

    def weight_matrix(self) -> np.ndarray:
        """(C, U) Lasso weights (zero for units that are not relevant)."""
        matrix = np.zeros((len(self.units), self.n_units))
        for c, (units, weights) in enumerate(zip(self.units, self.weights)):
            matrix[c, units] = weights
        return matrix

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per class and relevant unit: class, rank, unit, name, weight."""
        return [{"class": c, "rank": r, "unit": int(u), "name": self.unit_names(u)[0],
                 "weight": float(w)}
                for c, (units, weights) in enumerate(zip(self.units, self.weights))
                for r, (u, w) in enumerate(zip(units, weights))]


def _lasso_path(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lasso path of centred data: coefficients (U, S) and their l1 norms (S,), increasing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, _, coefs = lars_path(x - x.mean(axis=0), y - y.mean(), method="lasso")
    return coefs, np.abs(coefs).sum(axis=0)


def _at_norm(coefs: np.ndarray, norms: np.ndarray, mu: float) -> np.ndarray:
    """The constrained solution with ||w||_1 <= mu: exact interpolation along the path."""
    if mu >= norms[-1]:
        return coefs[:, -1]
    j = int(np.searchsorted(norms, mu, side="right"))
    t = (mu - norms[j - 1]) / (norms[j] - norms[j - 1])
    return coefs[:, j - 1] + t * (coefs[:, j] - coefs[:, j - 1])


def _choose_mu(x: np.ndarray, onehot: np.ndarray, seed: Any) -> float:
    """The smallest mu whose cross-validated error is within one standard error of the best."""
    largest = max(_lasso_path(x, y)[1][-1] for y in onehot.T)
    grid = np.geomspace(largest / 1000, largest, MU_GRID) if largest > 0 else np.zeros(1)
    folds = np.array_split(rng(seed).permutation(len(x)), CV_FOLDS)
    error = np.zeros((len(folds), len(grid)))  # squared error per held-out image, summed over classes
    for f, held in enumerate(folds):
        train = np.setdiff1d(np.arange(len(x)), held)
        mean_x = x[train].mean(axis=0)
        for y in onehot.T:
            coefs, norms = _lasso_path(x[train], y[train])
            w = np.stack([_at_norm(coefs, norms, mu) for mu in grid], axis=1)  # (U, G)
            predicted = (x[held] - mean_x) @ w + y[train].mean()
            error[f] += ((predicted - y[held, None]) ** 2).mean(axis=0)
    mean, spread = error.mean(axis=0), error.std(axis=0, ddof=1) / np.sqrt(len(folds))
    best = int(np.argmin(mean))
    return float(grid[int(np.flatnonzero(mean <= mean[best] + spread[best])[0])])


def lasso_weights(responses: Any, labels: Any, *, mu: float,
                  n_classes: int | None = None) -> np.ndarray:
    """The constrained lasso of Oramas et al. (ICLR 2019), Sec. 3.1, one class at a time.

    For each class :math:`j`, with :math:`l_j` its 0/1 indicator over the images,

    .. math:: w_j = \\arg\\min_w \\|X w + b - l_j\\|_2^2 \\quad \\text{s.t.}
              \\quad \\|w\\|_1 \\le \\mu,

    with an unpenalised intercept :math:`b`, read off the exact lasso path of the centred data
    (scikit-learn's ``lars_path(method="lasso")``: its coefficients are piecewise linear in
    :math:`\\|w\\|_1`, so the solution at :math:`\\mu` interpolates two breakpoints; beyond
    the path's end it is the least-squares fit).

    Parameters
    ----------
    responses : array (N, U)
        The pooled unit responses :math:`X` (one row per image).
    labels : int array (N,)
    mu : float
        The l1 budget (>= 0).
    n_classes : int, optional
        Default ``labels.max() + 1``.

    Returns
    -------
    np.ndarray
        float64 (C, U) weights; the non-zero entries of row :math:`j` are class :math:`j`'s
        relevant units.

    Examples
    --------
    >>> x = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 0.2], [0.8, 0.1, 0.1], [0.1, 0.9, 0.4],
    ...               [0.2, 0.1, 0.9]])
    >>> lasso_weights(x, np.array([0, 1, 0, 1, 2]), mu=0.3).round(3).tolist()
    [[0.3, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 0.3]]
    """
    x = np.asarray(responses, np.float64)
    labels = np.asarray(labels)
    if x.ndim != 2 or labels.shape != (len(x),) or labels.dtype.kind not in "iu":
        raise ValueError(message("expected", name="responses, labels",
                                 expected="(N, U) numbers and N int labels",
                                 got=f"{x.shape} and {labels.dtype} {labels.shape}", fix=""))
    if not np.isfinite(mu) or mu < 0:
        raise ValueError(message("number", name="mu", value=mu, range=" >= 0"))
    n_classes = int(labels.max()) + 1 if n_classes is None else check_int("n_classes", n_classes)
    onehot = (labels[:, None] == np.arange(n_classes)).astype(np.float64)
    return np.stack([_at_norm(*_lasso_path(x, y), float(mu)) for y in onehot.T])


def relevant_units(model: Any, data: Any, *, layers: Any = None, mu: float | None = None,
                   pooling: str = "max", batch_size: int = 64, seed: int | None = 0) -> RelevantUnits:
    """Identify each class's relevant units with a sparse linear model (Oramas et al., ICLR 2019).

    Oramas, Wang & Tuytelaars (arXiv:1712.06302), Sec. 3.1, after Escorcia, Niebles & Ghanem
    (CVPR 2015): with :math:`X` the pooled unit responses of the images (one column per image)
    and :math:`L` the one-hot class indicators,

    .. math:: W^* = \\arg\\min_W \\|X^\\top W - L^\\top\\|_F^2
              \\quad \\text{subject to} \\quad \\|w_j\\|_1 \\le \\mu \\;\\; \\forall j,

    solved per class on the exact lasso path (scikit-learn's ``lars_path``, interpolated at
    :math:`\\|w_j\\|_1 = \\mu`). Units with :math:`w_j \\ne 0` are relevant for class :math:`j`.

    Choices the paper's equation leaves open, made here: responses are max-pooled over space
    and divided by each unit's largest response on the data (so the l1 budget treats units
    alike); the fit has an unpenalised intercept (the indicators are not centred); ``mu=None``
    takes one :math:`\\mu` for all classes, as in the equation, by 3-fold cross-validation of
    the squared error with the one-standard-error rule (the smallest :math:`\\mu` within one
    standard error of the best; Hastie, Tibshirani & Friedman, ESL, Sec. 7.10), which favours
    few units. (How the paper picks :math:`\\mu` could not be checked here.)

    Parameters
    ----------
    model : keras.Model
        A trained classifier (Sequential or functional).
    data : ImageSet or (images, labels)
        The images whose responses define relevance (the paper: the training set).
    layers : name or sequence of names, optional
        Top-level layers whose channels are the candidate units; default the last 4-D layer.
    mu : float, optional
        The l1 budget per class; None: cross-validated.
    pooling : {"max", "mean"}
        Spatial pooling of each unit's response map.
    batch_size : int
    seed : int, optional
        Fold assignment of the cross-validation.

    Returns
    -------
    RelevantUnits
        ``units[c]``, ``weights[c]`` per class, ``mu``, ``layers``, ``sizes``, ``scale``.

    Raises
    ------
    ValueError
        Bad images or labels, unknown layers, a layer that cannot be cut out (see
        :func:`xaikit.core.segments.layer_segments`), a negative ``mu``.
    """
    images, labels = _images_labels(data)
    n_classes = int(model.outputs[0].shape[-1])
    check_targets(labels, len(labels), n_classes)
    pooled, names, sizes = unit_responses(model, images, layers=layers, pooling=pooling,
                                          batch_size=batch_size)
    scale = pooled.max(axis=0)
    x = np.divide(pooled, scale, out=np.zeros_like(pooled), where=scale > 0)
    onehot = (labels[:, None] == np.arange(n_classes)).astype(np.float64)
    mu = _choose_mu(x, onehot, seed) if mu is None else mu
    units, weights = [], []
    for w in lasso_weights(x, labels, mu=mu, n_classes=n_classes):
        chosen = np.flatnonzero(np.abs(w) > 1e-12)
        chosen = chosen[np.argsort(-w[chosen], kind="stable")]
        units.append(chosen)
        weights.append(w[chosen])
    return RelevantUnits(tuple(names), tuple(sizes), tuple(units), tuple(weights), float(mu),
                         scale, pooling)


def _check_units(model: Any, units: Any) -> tuple[list, list[int]]:
    if not isinstance(units, RelevantUnits):
        raise TypeError(message("expected", name="units", expected="the RelevantUnits of "
                                "relevant_units(model, data)", got=type(units).__name__, fix=""))
    segments, names, sizes = _cut(model, units.layers)
    if tuple(names) != units.layers or tuple(sizes) != units.sizes:
        raise ValueError(message("expected", name="units", expected=f"units of layers {names} "
                                 f"with {sizes} channels", got=f"{units.layers} {units.sizes}",
                                 fix="; compute them with relevant_units() on this model"))
    return segments, sizes


def explanation_by_interpretation(model: Any, images: Any, targets: Any = None, *,
                                  units: RelevantUnits, batch_size: int = 64) -> np.ndarray:
    """Visual explanation from the responses of the explained class's relevant units.

    Oramas et al. (ICLR 2019), Sec. 3.2: the prediction is explained by the relevant units of
    the predicted class that respond on the image. Here, their response maps (divided by each
    unit's ``scale``), upsampled bilinearly to the image and weighted by the positive Lasso
    weights,

    .. math:: E_c(x) = \\sum_{u \\in R_c,\\, w_{cu} > 0} \\frac{w_{cu}}{s_u}\\,
              \\mathrm{up}\\big(A_u(x)\\big).

    (The paper renders each unit with a deconvnet visualisation; the upsampled responses are
    the variant the course slides use.)

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    targets : None, int or N ints
        The explained class (None: the predicted class).
    units : RelevantUnits
        From :func:`relevant_units` on this model.
    batch_size : int

    Returns
    -------
    np.ndarray
        float64 (N, H, W), non-negative.
    """
    images = check_images(images, model)
    segments, sizes = _check_units(model, units)
    weights = np.maximum(units.weight_matrix(), 0.0)
    weights = np.divide(weights, units.scale, out=np.zeros_like(weights), where=units.scale > 0)
    classes, _ = check_targets(targets, len(images), len(units.units))
    offsets = np.cumsum([0, *sizes])
    maps = np.zeros(images.shape[:3])
    for part, activations, output in _forward(segments, images, batch_size, full=True):
        chosen = np.where(classes[part] >= 0, classes[part], output.argmax(axis=1))
        for k, a in enumerate(activations):
            w = weights[chosen, offsets[k]:offsets[k + 1]]
            combined = np.einsum("nhwk,nk->nhw", a, w)  # upsampling is linear: combine first
            rows = bilinear_matrix(combined.shape[1], images.shape[1])
            cols = bilinear_matrix(combined.shape[2], images.shape[2])
            maps[part] += rows @ combined @ cols.T
    return maps


def _correct(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1 for a right arg-max, 1/m when the label ties with m - 1 other classes at the maximum."""
    top = scores == scores.max(axis=1, keepdims=True)
    return top[np.arange(len(labels)), labels] / top.sum(axis=1)


def _masked_correct(segments: list, sizes: list[int], images: np.ndarray, labels: np.ndarray,
                    masks: np.ndarray, pairs: np.ndarray, batch_size: int) -> np.ndarray:
    """Correctness of each (mask index, image index) pair with the units multiplied by the mask."""
    first = np.concatenate([a[0] for _, a, _ in _forward(segments[:2], images, batch_size)])
    functions = [forward_function(segment) for segment in segments[1:]]
    offsets = np.cumsum([0, *sizes])
    out = np.zeros(len(pairs))
    for part in batch_slices(len(pairs), batch_size):
        which, image = pairs[part, 0], pairs[part, 1]
        x = first[image]
        for k, function in enumerate(functions):
            x = x * masks[which, offsets[k]:offsets[k + 1]].reshape(
                (len(which),) + (1,) * (x.ndim - 2) + (-1,)).astype(x.dtype)
            x = np.asarray(function(x))
        out[part] = _correct(x, labels[image])
    return out


@dataclass(frozen=True)
class UnitAblation:
    """Correctness per image (N, K+1) with 0..K units removed: relevant ones, or random ones."""

    removed: np.ndarray
    relevant: np.ndarray
    random: np.ndarray
    labels: np.ndarray

    def curve(self, kind: str = "relevant") -> np.ndarray:
        """Accuracy (K+1,) after removing 0..K relevant (or random) units."""
        check_option("kind", kind, ("relevant", "random"))
        return (self.relevant if kind == "relevant" else self.random).mean(axis=0)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per number of removed units: removed, accuracy_relevant, accuracy_random."""
        return [{"removed": int(k), "accuracy_relevant": float(a), "accuracy_random": float(b)}
                for k, a, b in zip(self.removed, self.curve("relevant"), self.curve("random"))]


def _matched_random(order: np.ndarray, units: RelevantUnits,
                    draws: np.random.Generator) -> np.ndarray:
    """Random units, one per relevant unit of ``order`` and from its layer, not in ``order``."""
    offsets = np.cumsum([0, *units.sizes])
    layer_of = np.searchsorted(offsets, order, side="right") - 1
    picked = np.empty(len(order), np.int64)
    for layer in np.unique(layer_of):
        spots = np.flatnonzero(layer_of == layer)
        pool = np.setdiff1d(np.arange(offsets[layer], offsets[layer + 1]), order)
        if len(pool) < len(spots):  # not enough other units: draw from the whole layer
            pool = np.arange(offsets[layer], offsets[layer + 1])
        picked[spots] = draws.choice(pool, size=len(spots), replace=False)
    return picked


def unit_ablation(model: Any, data: Any, units: RelevantUnits, *, max_units: int | None = None,
                  n_random: int = 3, seed: int | None = 0, batch_size: int = 256) -> UnitAblation:
    """Accuracy as the relevant units of each image's class are removed one by one, vs random units.

    The interpretation check of the course slides ("ablating relevant units"): zero the
    responses of class :math:`c`'s relevant units with a positive weight (its evidence), in order
    of decreasing weight, and measure how often the images of class :math:`c` are still
    recognised. The control removes as many
    units drawn at random *from the same layers as the relevant ones, one for one*, among the
    units that are not relevant for the class (``n_random`` draws, averaged): units of an early
    layer feed everything after them, so an unmatched draw would compare layers rather than
    relevance. A prediction whose top
    score ties with other classes counts as the share of the tie (so a network left with no
    evidence scores chance, 1 / C). Each curve runs to ``max_units`` (default: the most evidence
    units (positive weights) any class has); a class with fewer keeps all of them removed.

    Parameters
    ----------
    model : keras.Model
    data : ImageSet or (images, labels)
        Evaluation images (a held-out split).
    units : RelevantUnits
    max_units : int, optional
    n_random : int
    seed : int, optional
        The random units.
    batch_size : int
        (image, ablation) pairs per forward pass.

    Returns
    -------
    UnitAblation
        ``removed`` (K+1,), ``relevant`` and ``random`` (N, K+1), ``.curve()``, ``.to_rows()``.
    """
    images, labels = _images_labels(data)
    segments, sizes = _check_units(model, units)
    n_random = check_int("n_random", n_random)
    evidence = [u[w > 0] for u, w in zip(units.units, units.weights)]
    longest = max((len(u) for u in evidence), default=0)
    k_max = longest if max_units is None else min(check_int("max_units", max_units, minimum=0),
                                                  longest)
    total, draws = units.n_units, rng(seed)
    masks, pairs, slots = [], [], []  # slots: (image, k, draw) with draw -1 = relevant
    for c, order in enumerate(evidence):
        members = np.flatnonzero(labels == c)
        orders = [order] + [_matched_random(order, units, draws) for _ in range(n_random)]
        for draw, ranking in enumerate(orders):
            for k in range(k_max + 1):
                mask = np.ones(total)
                mask[ranking[:min(k, len(order))]] = 0.0
                masks.append(mask)
                pairs += [(len(masks) - 1, i) for i in members]
                slots += [(i, k, draw - 1) for i in members]
    correct = _masked_correct(segments, sizes, images, labels, np.array(masks),
                              np.array(pairs, np.int64).reshape(-1, 2), batch_size)
    slots = np.array(slots, np.int64).reshape(-1, 3)
    relevant = np.zeros((len(images), k_max + 1))
    random = np.zeros((len(images), k_max + 1))
    is_relevant = slots[:, 2] < 0
    relevant[slots[is_relevant, 0], slots[is_relevant, 1]] = correct[is_relevant]
    np.add.at(random, (slots[~is_relevant, 0], slots[~is_relevant, 1]),
              correct[~is_relevant] / n_random)
    return UnitAblation(np.arange(k_max + 1), relevant, random, labels)


def top_units_accuracy(model: Any, data: Any, units: RelevantUnits, *,
                       ks: Sequence[int] = (1, 2, 4, 8), layer: str | None = None,
                       batch_size: int = 256) -> list[dict]:
    """How few units suffice: accuracy when a layer keeps only every class's top-k relevant units.

    In ``layer`` (default: the last of the units' layers, the representation the classifier
    reads) every unit is zeroed except the union over classes of each class's ``k`` relevant
    units of that layer with the largest weights; the other layers are left alone (zeroing an
    early layer would starve every later one). One mask per k, all images in batched passes.

    Returns
    -------
    list of dict
        Rows ``{"k", "units_kept", "accuracy"}``, then ``k="all"`` with every unit kept.
    """
    images, labels = _images_labels(data)
    segments, sizes = _check_units(model, units)
    ks = [check_int("k", k) for k in ks]
    where = units.layers.index(check_option("layer", units.layers[-1] if layer is None else layer,
                                            units.layers))
    offsets = np.cumsum([0, *sizes])
    inside = np.arange(offsets[where], offsets[where + 1])
    masks = np.ones((len(ks) + 1, units.n_units))
    for row, k in enumerate(ks):
        masks[row, inside] = 0.0
        for order, weights in zip(units.units, units.weights):
            mine = order[np.isin(order, inside) & (weights > 0)]
            masks[row, mine[:k]] = 1.0
    pairs = np.stack(np.meshgrid(np.arange(len(masks)), np.arange(len(images)), indexing="ij"),
                     axis=-1).reshape(-1, 2)
    correct = _masked_correct(segments, sizes, images, labels, masks, pairs, batch_size)
    accuracy = correct.reshape(len(masks), len(images)).mean(axis=1)
    return [{"k": k, "units_kept": int(m[inside].sum()), "accuracy": float(a)}
            for k, m, a in zip([*ks, "all"], masks, accuracy)]


@dataclass(frozen=True)
class SemanticCoverage:
    """IoU (N, P) of the binarised aggregated responses with each part, and the WAIoU (N,)."""

    iou: np.ndarray
    parts: tuple[str, ...]
    waiou: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per image and part: image, part, iou."""
        return [{"image": i, "part": name, "iou": float(self.iou[i, p])}
                for i in range(len(self.iou)) for p, name in enumerate(self.parts)]


def semantic_coverage(model: Any, images: Any, parts: Mapping[str, Any], targets: Any = None, *,
                      units: RelevantUnits, binarise: str = "quantile", threshold: float = 0.8,
                      batch_size: int = 64) -> SemanticCoverage:
    """How much of each annotated part the aggregated responses of the relevant units cover.

    Behzadi-Khormuji & Oramas, "A Protocol for Evaluating Model Interpretation Methods from
    Visual Explanations", WACV 2023 (in the course slides: "aggregate responses from relevant
    units; measure overlap with annotated semantic concepts"): the map of
    :func:`explanation_by_interpretation` is binarised (:func:`xaikit.metrics.ground_truth.binarise`)
    and compared with every part by IoU; the parts' area-weighted average is the WAIoU.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    parts : mapping name -> bool array (N, H, W)
        Annotated parts (e.g. ``ImageSet.parts`` without ``"background"``).
    targets : None, int or N ints
    units : RelevantUnits
    binarise, threshold
        As in :func:`xaikit.metrics.ground_truth.binarise`.
    batch_size : int

    Returns
    -------
    SemanticCoverage
    """
    names = tuple(parts)
    labels = label_image(parts, names)
    maps = explanation_by_interpretation(model, images, targets, units=units,
                                         batch_size=batch_size)
    binary = binarise_maps(maps, method=binarise, threshold=threshold)
    onehot = labels[:, None] == np.arange(1, len(names) + 1)[None, :, None, None]
    inter = np.count_nonzero(binary[:, None] & onehot, axis=(2, 3))
    union = np.count_nonzero(binary, axis=(1, 2))[:, None] + np.count_nonzero(onehot, axis=(2, 3))
    iou = inter / np.maximum(union - inter, 1)
    return SemanticCoverage(iou, names, waiou(maps, labels, binarise=binarise,
                                               threshold=threshold))
