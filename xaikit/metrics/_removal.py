"""The engine behind every removal metric: scores, baselines, orders, batched perturbed forwards.

Introduced in lesson 10. Deletion, insertion, pixel flipping, region perturbation, AOPC, ABPC,
IROF, monotonicity and the random-subset metrics all perturb each image many times and read one
score per perturbed image. Here the perturbed images of *all* images and steps are built chunk by
chunk (``batch_size`` at a time, image-major) and scored by one compiled forward per chunk, so N
images at S steps cost about N·S / batch_size compiled calls, never one call per step per image.

Private to :mod:`xaikit.metrics`: the public metrics live in ``faithfulness`` and friends.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage

from xaikit.base.checks import check_int, check_option, rng
from xaikit.base.messages import message
from xaikit.base.vocabulary import BASELINES as SHARED_BASELINES
from xaikit.core import batch_slices, cached, resolve
from xaikit.core.baselines import baseline_images
from xaikit.core.surgery import output_activation
from xaikit.metrics.common import attribution_maps

__all__ = ["BASELINES", "BLUR_KERNEL", "BLUR_SIGMA", "ON", "PETSIUK_BLUR", "UNIFORM_NOISE", "Curves",
           "Prepared", "blur", "pixel_ranks", "prepare", "region_ranks", "removal_baselines",
           "removal_curves", "score_images", "trapezoid"]

PETSIUK_BLUR = "petsiuk_blur"  # Petsiuk et al.'s insertion start (not the methods' "blurred")
UNIFORM_NOISE = "uniform_noise"  # Samek et al.'s noise in [0, 1), shared (not "random")
BASELINES = (*SHARED_BASELINES, PETSIUK_BLUR, UNIFORM_NOISE)
ON = ("probabilities", "logits")
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0  # Petsiuk et al.'s insertion start: an 11 x 11 Gaussian, sigma 5


@dataclass(frozen=True)
class Curves:
    """Per-image perturbation curves and the area under each.

    Attributes
    ----------
    metric : str
        Which metric made them ("deletion", "insertion", ...).
    fractions : np.ndarray
        (N, S + 1) float64: the fraction of pixels (regions, segments) perturbed at each step,
        from 0 to at most 1 (one row per image, identical rows unless segments differ).
    scores : np.ndarray
        (N, S + 1) float64: the score of the explained class after each step.
    auc : np.ndarray
        (N,) float64: the trapezoidal area under each curve over ``fractions``.
    """

    metric: str
    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows, one per (image, step): image, step, fraction, score."""
        n, steps = self.scores.shape
        return [{"metric": self.metric, "image": i, "step": s,
                 "fraction": float(self.fractions[i, s]), "score": float(self.scores[i, s])}
                for i in range(n) for s in range(steps)]


@dataclass(frozen=True)
class Prepared:
    """Checked inputs of a model-based metric: the logits model, images, maps, score weights,
    explained classes and the compiled scorer ``score(images, weights) -> (n,)``."""

    model: keras.Model
    images: np.ndarray
    maps: np.ndarray
    weights: np.ndarray
    classes: np.ndarray
    score: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _link(model: keras.Model, head: keras.Model, images: np.ndarray, on: str) -> str:
    """How outputs of the logits ``head`` become the scored quantity: identity, softmax, sigmoid."""
    if on == "logits":
        return "identity"
    try:
        activation = output_activation(model) if model.inputs else None
    except (AttributeError, ValueError):
        activation = None
    if activation is None:  # subclassed: use call()'s output as is when it already sums to one
        out = np.asarray(head(images[:1], training=False))
        looks = out.ndim == 2 and (out >= 0).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)
        return "identity" if looks else "softmax"
    return "sigmoid" if activation == "sigmoid" else "softmax"


def _score_function(head: keras.Model, link: str, shape: tuple[int, ...]) -> Callable:
    """Compiled ``(x, w) -> sum_k w_k link(head(x))_k`` per image, cached per (head, link, shape)."""

    def build() -> Callable:
        transform = {"identity": tf.identity, "softmax": tf.nn.softmax, "sigmoid": tf.sigmoid}[link]

        @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32),
                                      tf.TensorSpec([None, None], tf.float32)])
        def score(x, weights):
            return tf.reduce_sum(transform(head(x, training=False)) * weights, axis=-1)

        return score.get_concrete_function()  # one trace per head: never counted as retracing

    compiled = cached(head, ("metric_score", link, shape), build)
    return lambda x, w: np.asarray(compiled(x, w), np.float64)


def prepare(model: keras.Model, images: Any, maps_or_method: Any, targets: Any, *, on: str,
            batch_size: int, seed: Any, options: dict | None = None) -> Prepared:
    """Check the inputs, resolve the targets, compute or check the maps, build the scorer.

    ``on="probabilities"`` scores softmax(logits) (sigmoid for a multi-label head) whatever the
    model's head, so a softmax model and its logits twin give the same scores.
    """
    check_option("on", on, ON)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*subclassed.*")
        resolved = resolve(model, images, targets, on="logits", batch_size=batch_size)
    x = resolved.images
    maps = attribution_maps(model, x, maps_or_method, resolved.targets, batch_size=batch_size,
                            seed=seed, options=options)
    link = _link(model, resolved.model, x, on)
    score = _score_function(resolved.model, link, x.shape[1:])
    return Prepared(resolved.model, x, maps, resolved.weights, resolved.classes, score)


def score_images(score: Callable, count: int, build: Callable[[slice], tuple[np.ndarray, np.ndarray]],
                 batch_size: int) -> np.ndarray:
    """Scores (count,) of ``count`` perturbed images made ``batch_size`` at a time by ``build``.

    ``build(part)`` returns the images and score weights of the flat indices ``part``.
    """
    out = np.empty(count, np.float64)
    for part in batch_slices(count, batch_size):
        batch, weights = build(part)
        out[part] = score(np.ascontiguousarray(batch, np.float32), weights)
    return out


def removal_curves(prepared: Prepared, start: np.ndarray, end: np.ndarray, ranks: np.ndarray,
                   counts: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, S + 1) scores of ``start`` with the units ranked below ``counts[s]`` set to ``end``.

    ``ranks`` (N, H, W) is the step unit (pixel, region, segment) position of every pixel in the
    removal order; ``counts`` (S + 1,) or (N, S + 1) how many units are replaced at each step.
    Deletion is ``start = x``, ``end = baseline``; insertion ``start = baseline``, ``end = x``.
    """
    n = len(start)
    counts = np.broadcast_to(np.asarray(counts), (n, np.shape(counts)[-1]))
    steps = counts.shape[1]

    def build(part: slice) -> tuple[np.ndarray, np.ndarray]:
        flat = np.arange(part.start, part.stop)
        which, step = flat // steps, flat % steps
        removed = ranks[which] < counts[which, step][:, None, None]
        return np.where(removed[..., None], end[which], start[which]), prepared.weights[which]

    return score_images(prepared.score, n * steps, build, batch_size).reshape(n, steps)


def trapezoid(scores: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Trapezoidal area under each row of ``scores`` over the matching row of ``fractions``."""
    return np.trapezoid(scores, np.broadcast_to(fractions, scores.shape), axis=1)


def blur(images: np.ndarray, *, size: int = BLUR_KERNEL, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """Images blurred by the ``size`` x ``size`` Gaussian of Petsiuk et al.'s evaluation code.

    The kernel is a unit impulse smoothed with standard deviation ``sigma`` inside a ``size`` x
    ``size`` window (so it sums to one); each channel is convolved with it, borders reflected (the
    RISE code zero-pads mean-subtracted tensors, which pads with the mean colour).
    """
    impulse = np.zeros((size, size))
    impulse[size // 2, size // 2] = 1.0
    kernel = ndimage.gaussian_filter(impulse, sigma)
    return ndimage.convolve(images, kernel[None, :, :, None], mode="reflect").astype(np.float32)


def removal_baselines(images: np.ndarray, baseline: Any, *, seed: Any = 0) -> np.ndarray:
    """What removed pixels become, as images of the same shape (N, H, W, C).

    The names of :data:`xaikit.base.vocabulary.BASELINES` (``"black"``, ``"grey"``, ``"mean"``,
    ``"blurred"``, ``"random"``), numbers and arrays mean what they mean for the attribution
    methods: :func:`xaikit.core.baselines.baseline_images` makes them. Two further names are the
    metrics' own, from the papers that define them:

    - ``"petsiuk_blur"``: :func:`blur`, the 11 x 11, sigma-5 Gaussian of Petsiuk et al.'s
      insertion (not ``"blurred"``, whose sigma is 0.1 · max(H, W) with an untruncated kernel);
    - ``"uniform_noise"``: uniform noise in [0, 1), one noise image drawn from ``seed`` and shared
      by all images so that a score never depends on the batch (Samek et al.'s region
      perturbation; not ``"random"``, which draws each image's own noise in its [min, max]).
    """
    if isinstance(baseline, str):
        check_option("baseline", baseline, BASELINES)
        if baseline == PETSIUK_BLUR:
            return blur(images)
        if baseline == UNIFORM_NOISE:
            noise = rng(seed).random(images.shape[1:], dtype=np.float32)
            return np.broadcast_to(noise, images.shape).copy()
    return baseline_images(images, baseline, seed=seed)


def _tie_break(size: int, seed: Any) -> np.ndarray:
    """One random key per position, shared by every image (ties never follow raster order)."""
    return rng(seed).permutation(size)


def pixel_ranks(maps: np.ndarray, *, descending: bool = True, seed: Any = 0) -> np.ndarray:
    """(N, H, W) int: each pixel's position when pixels are sorted by relevance.

    Ties are broken by a random order drawn from ``seed`` (the same for every image).
    """
    n, height, width = maps.shape
    flat = maps.reshape(n, -1)
    keys = np.broadcast_to(_tie_break(flat.shape[1], seed), flat.shape)
    order = np.lexsort((keys, -flat if descending else flat), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=1)
    return ranks.reshape(n, height, width)


def region_ranks(maps: np.ndarray, patch: int, *, descending: bool = True,
                 seed: Any = 0) -> tuple[np.ndarray, int]:
    """(N, H, W) region positions and the region count for a grid of ``patch`` x ``patch`` squares.

    The squares tile the image from the top-left corner (the last row and column may be
    narrower); a region's relevance is the sum of the map over it.
    """
    patch = check_int("patch", patch)
    n, height, width = maps.shape
    rows, cols = -(-height // patch), -(-width // patch)
    labels = (np.arange(height)[:, None] // patch) * cols + np.arange(width)[None, :] // patch
    sums = np.zeros((n, rows * cols))
    np.add.at(sums, (slice(None), labels.ravel()), maps.reshape(n, -1))
    order = pixel_ranks(sums.reshape(n, rows, cols), descending=descending, seed=seed)
    return order.reshape(n, -1)[:, labels], rows * cols


def step_counts(units: int, per_step: int, steps: int | None = None) -> np.ndarray:
    """(S + 1,) units removed after each step: 0, k, 2k, ..., capped at ``units``."""
    per_step = check_int("pixels_per_step", per_step)
    total = -(-units // per_step) if steps is None else min(check_int("steps", steps),
                                                            -(-units // per_step))
    return np.minimum(np.arange(total + 1) * per_step, units)


def random_subsets(size: int, subset: int, n_samples: int, seed: Any) -> np.ndarray:
    """(n_samples, size) bool: random subsets of ``subset`` positions, shared by every image."""
    generator = rng(seed)
    keys = generator.random((n_samples, size))
    chosen = np.argpartition(keys, subset - 1, axis=1)[:, :subset] if subset < size else \
        np.broadcast_to(np.arange(size), (n_samples, size))
    masks = np.zeros((n_samples, size), bool)
    np.put_along_axis(masks, chosen, True, axis=1)
    return masks


def subset_scores(prepared: Prepared, baseline: np.ndarray, subsets: np.ndarray,
                  batch_size: int) -> np.ndarray:
    """(N, n_samples) scores with the pixels of each subset (n_samples, H·W) set to ``baseline``."""
    x = prepared.images
    n, height, width = x.shape[:3]
    samples = len(subsets)
    masks = subsets.reshape(samples, height, width)

    def build(part: slice) -> tuple[np.ndarray, np.ndarray]:
        flat = np.arange(part.start, part.stop)
        which, sample = flat // samples, flat % samples
        return (np.where(masks[sample][..., None], baseline[which], x[which]),
                prepared.weights[which])

    return score_images(prepared.score, n * samples, build, batch_size).reshape(n, samples)


def check_fractions(name: str, values: Sequence[float]) -> np.ndarray:
    """Sorted fractions in (0, 1] as float64, with a clear error otherwise."""
    array = np.asarray(values, np.float64).ravel()
    if array.size == 0 or not np.isfinite(array).all() or (array <= 0).any() or (array > 1).any():
        raise ValueError(message("expected", name=name, expected="fractions in (0, 1]",
                                 got=list(np.asarray(values).ravel()), fix=""))
    return np.sort(array)
