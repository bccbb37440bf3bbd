"""Perturbation family: occlusion (Zeiler & Fergus 2014) and RISE (Petsiuk, Das & Saenko 2018).

Introduced in lessons 03 (occlusion) and 06 (perturbation and surrogates).  Both explain by
forward passes only: every perturbed image ``x ⊙ M + fill ⊙ (1 − M)`` is built inside one
compiled function from a batch of keep-masks ``M`` and run through the model in internal batches.
:func:`masked_outputs` is the shared engine (LIME and KernelSHAP in :mod:`.surrogate` use it too).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from scipy import ndimage

from xaikit.attribution.registry import ANY_MODEL, register
from xaikit.core import (
    Resolved,
    batch_slices,
    cached,
    check_int,
    check_number,
    check_option,
    resolve,
    rng,
    tap_model,
)

__all__ = ["FILLS", "OCCLUSION_OUTPUTS", "fill_images", "masked_outputs", "occlusion", "rise"]

FILLS = ("grey", "mean", "zero", "blur")
OCCLUSION_OUTPUTS = ("score_drop", "probability", "label", "activation")
GREY = 0.5  # the grey occluder of Zeiler & Fergus, for images in [0, 1]


def resolve_on(model: keras.Model, images: Any, targets: Any, on: str, batch_size: int) -> Resolved:
    """:func:`xaikit.core.resolve` for forward-only methods.

    Explaining probabilities is the paper's choice for RISE, LIME, KernelSHAP and meaningful
    perturbation; core's warning about softmax *gradients* does not apply to forward passes.
    """
    check_option("on", on, ("logits", "probabilities"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="explaining post-softmax probabilities")
        return resolve(model, images, targets, on=on, batch_size=batch_size)


def fill_images(images: np.ndarray, fill: str | float | np.ndarray, *, sigma: float = 4.0) -> np.ndarray:
    """What an occluded pixel is replaced with, as images of the same shape.

    ``"grey"`` 0.5, ``"zero"`` 0, ``"mean"`` each image's mean colour, ``"blur"`` the image blurred
    by a Gaussian of ``sigma`` pixels, a number, or an array broadcastable to (N, H, W, C)
    (e.g. a dataset mean colour of shape (C,)).
    """
    if isinstance(fill, str):
        check_option("fill", fill, FILLS)
        if fill == "blur":
            return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode="reflect")
        if fill == "mean":
            return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).copy()
        return np.full_like(images, GREY if fill == "grey" else 0.0)
    try:
        return np.broadcast_to(np.asarray(fill, np.float32), images.shape).copy()
    except ValueError:
        raise ValueError(f"fill of shape {np.shape(fill)} does not broadcast to the images' shape "
                         f"{images.shape}; allowed: {FILLS}, a number, or an array of shape (C,), "
                         "(H, W, C) or (N, H, W, C)") from None


def _masked_function(model: keras.Model, shape: tuple[int, int, int]) -> Callable:
    """Compiled ``(x, fill, keep) -> model(x ⊙ keep + fill ⊙ (1 − keep))`` for one image of
    ``shape`` (H, W, C); shapes come from the images, so subclassed models work too."""

    def build():
        height, width, channels = shape
        image = tf.TensorSpec([1, height, width, channels], tf.float32)
        masks = tf.TensorSpec([None, height, width], tf.float32)

        @tf.function(input_signature=[image, image, masks])
        def masked(x, fill, keep):
            keep = keep[..., None]
            return model(x * keep + fill * (1.0 - keep), training=False)

        return masked

    return cached(model, ("masked_forward", shape), build)


def masked_outputs(
    model: keras.Model, image: np.ndarray, fill: np.ndarray, keep: Callable[[slice], np.ndarray] | np.ndarray,
    n_masks: int, *, batch_size: int,
) -> Any:
    """Outputs of ``model`` on ``image ⊙ M + fill ⊙ (1 − M)`` for ``n_masks`` keep-masks M.

    ``keep`` is an (n_masks, H, W) array or a function giving the masks of an index slice, so
    that masks are made one internal batch at a time (memory bounded).  Returns the outputs
    concatenated over the internal batches (a tuple when the model has several outputs).
    """
    masked = _masked_function(model, tuple(image.shape))
    x, f = tf.constant(image[None]), tf.constant(fill[None])
    parts = []
    for part in batch_slices(n_masks, batch_size):
        masks = keep(part) if callable(keep) else keep[part]
        out = masked(x, f, tf.constant(masks, tf.float32))
        parts.append([np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
    joined = [np.concatenate(column) for column in zip(*parts)]
    return joined[0] if len(joined) == 1 else tuple(joined)


def occlusion_boxes(height: int, width: int, patch: int, stride: int) -> np.ndarray:
    """(P, H, W) float32 masks, 1 inside each occluder square (row-major positions).

    Corners run from 0 every ``stride`` pixels; a last corner at ``H − patch`` (``W − patch``) is
    added when the stride does not reach the edge, so every pixel is covered.
    """
    def corners(size):
        starts = list(range(0, size - patch + 1, stride))
        return starts if starts[-1] == size - patch else [*starts, size - patch]

    ys, xs = corners(height), corners(width)
    boxes = np.zeros((len(ys) * len(xs), height, width), np.float32)
    for k, (y, x) in enumerate((y, x) for y in ys for x in xs):
        boxes[k, y:y + patch, x:x + patch] = 1.0
    return boxes


@register("occlusion", supports=ANY_MODEL)
def occlusion(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    patch: int = 8,
    stride: int | None = None,
    fill: str | float | np.ndarray = "grey",
    output: str = "score_drop",
    layer: str | int | None = None,
    channel: int | None = None,
    on: str = "logits",
    batch_size: int = 64,
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus, ECCV 2014, Sec. 4.2, Fig. 7).

    A ``patch`` × ``patch`` square of ``fill`` slides over the image with step ``stride``; for each
    position :math:`p` the occluded image :math:`x_p` is classified.  A pixel's value is the mean over
    the :math:`P(i)` squares that cover it:

    .. math:: \\text{score\\_drop}(i) = \\frac{1}{|P(i)|} \\sum_{p \\in P(i)} S(x) - S(x_p)

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    targets : None, int, N ints or (A, B); the class whose score is tracked.
    patch : int
        Side of the occluder in pixels.
    stride : int, optional
        Step between positions (default ``patch // 2``, so squares overlap by half).
    fill : {"grey", "mean", "zero", "blur"}, number or array
        The occluder (see :func:`fill_images`; "blur" uses sigma = patch / 2).
    output : {"score_drop", "probability", "label", "activation"}
        "score_drop": S(x) − S(x_p) (the default map; high = evidence); the paper's panels:
        "probability": the target's probability under occlusion (Fig. 7 d; low = evidence),
        "label": the most probable label (Fig. 7 e; per pixel, the label most often predicted by the
        squares covering it; an int map), "activation": the total activation of feature map
        ``channel`` of ``layer`` (Fig. 7 b; default: the strongest map on the unoccluded image).
    layer, channel :
        For ``output="activation"``: layer name/index (default: the last 4-D layer) and channel.
    on : {"logits", "probabilities"}
        The score S of "score_drop".
    batch_size : int
        Occluded images per compiled forward call.

    Returns
    -------
    np.ndarray (N, H, W)
        float32 (int64 for ``output="label"``).

    Notes
    -----
    Cost: N × (P + 1) forward passes (P positions, plus the unoccluded image).
    """
    check_option("output", output, OCCLUSION_OUTPUTS)
    if output != "activation" and (layer is not None or channel is not None):
        raise ValueError(f"layer= and channel= apply to output='activation' only; got output={output!r}")
    patch = check_int("patch", patch)
    stride = check_int("stride", (patch // 2 or 1) if stride is None else stride)
    head_on = "probabilities" if output in ("probability", "label") else on
    resolved = resolve_on(model, images, targets, head_on, batch_size)
    x = resolved.images
    if patch > min(x.shape[1:3]):
        raise ValueError(f"patch={patch} is larger than the images ({x.shape[1]}x{x.shape[2]})")
    boxes = occlusion_boxes(x.shape[1], x.shape[2], patch, stride)
    keep = np.concatenate([np.ones_like(boxes[:1]), 1.0 - boxes])
    fills = fill_images(x, fill, sigma=patch / 2)
    forward = resolved.model if output != "activation" else tap_model(model, layer)
    coverage = boxes.reshape(len(boxes), -1)
    maps = []
    for i in range(len(x)):
        out = masked_outputs(forward, x[i], fills[i], keep, len(keep), batch_size=batch_size)
        if output == "activation":
            totals = out[0].sum(axis=(1, 2))
            if channel is not None:
                check_option("channel", channel, range(totals.shape[1]))
            values = totals[:, int(np.argmax(totals[0])) if channel is None else channel]
        elif output == "label":
            votes = np.eye(out.shape[1])[out[1:].argmax(axis=1)].T @ coverage
            maps.append(votes.argmax(axis=0).reshape(x.shape[1:3]))
            continue
        else:
            values = out @ resolved.weights[i]
        if output == "score_drop":
            values = values[0] - values
        maps.append(((values[1:] @ coverage) / coverage.sum(axis=0)).reshape(x.shape[1:3]))
    return np.stack(maps).astype(np.int64 if output == "label" else np.float32)


def _rise_masks(height: int, width: int, grid: int, p: float, n_masks: int, seed) -> Callable:
    """The RISE mask generator (Petsiuk et al. 2018, Sec. 3.2) for index slices of n_masks.

    Binary ``grid`` × ``grid`` masks (keep probability ``p``) are upsampled bilinearly to
    ``(grid + 1) · cell`` with ``cell = ceil(H / grid)`` and cropped at a random shift in
    ``[0, cell)``.  The cells and shifts are drawn once from ``seed``, so the masks do not depend
    on the batch size.
    """
    generator = rng(seed)
    cells = generator.random((n_masks, grid, grid)) < p
    cell_h, cell_w = -(-height // grid), -(-width // grid)
    shifts = np.stack([generator.integers(0, cell_h, n_masks),
                       generator.integers(0, cell_w, n_masks)], axis=1)
    size = ((grid + 1) * cell_h, (grid + 1) * cell_w)

    def masks(part: slice) -> np.ndarray:
        up = tf.image.resize(cells[part, :, :, None].astype(np.float32), size, "bilinear")[..., 0]
        rows = shifts[part, :1] + np.arange(height)
        cols = shifts[part, 1:] + np.arange(width)
        up = tf.gather(up, rows, axis=1, batch_dims=1)
        return tf.gather(up, cols, axis=2, batch_dims=1)

    return masks


@register("rise", supports=ANY_MODEL, stochastic=True, fast_options={"n_masks": 16})
def rise(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    n_masks: int = 2000,
    grid: int = 7,
    p: float = 0.5,
    on: str = "probabilities",
    batch_size: int = 64,
    seed: int | None = 0,
) -> np.ndarray:
    """RISE: randomized input sampling for explanation (Petsiuk, Das & Saenko, BMVC 2018, eq. 6).

    .. math:: S_{x,f}(\\lambda) \\approx \\frac{1}{N \\cdot p} \\sum_{i=1}^{N} f(x \\odot M_i)\\, M_i(\\lambda)

    Parameters
    ----------
    model, images, targets : as :func:`occlusion`.
    n_masks : int
        N, the number of random masks (the paper uses 4000 for ResNet50 / 8000 for VGG16).
    grid : int
        s, the side of the low-resolution binary grid (paper: 7).
    p : float
        Probability that a grid cell is kept (paper: 0.5).
    on : {"probabilities", "logits"}
        f: the class probability (the paper) or the logit.
    batch_size : int
        Masks per compiled forward call; masks are made batch by batch, so memory is bounded by
        ``batch_size`` masks whatever ``n_masks`` is.
    seed : int or None
        Seed of the masks (the same masks are used for every image).

    Returns
    -------
    np.ndarray (N, H, W) float32

    Notes
    -----
    Cost: N_images × n_masks forward passes.  Masked pixels are set to 0 (``x ⊙ M``), as in the paper.
    """
    n_masks = check_int("n_masks", n_masks)
    grid = check_int("grid", grid)
    p = check_number("p", p, low=0.0, high=1.0)
    if p == 0.0:
        raise ValueError("p=0 keeps no cell of any mask; allowed: 0 < p <= 1")
    resolved = resolve_on(model, images, targets, on, batch_size)
    x = resolved.images
    masks = _rise_masks(x.shape[1], x.shape[2], grid, p, n_masks, seed)
    zeros = np.zeros_like(x[0])
    saliency = np.zeros(x.shape[:3], np.float64)
    for part in batch_slices(n_masks, batch_size):
        keep = np.asarray(masks(part))
        for i in range(len(x)):
            scores = masked_outputs(resolved.model, x[i], zeros, keep, len(keep),
                                    batch_size=len(keep)) @ resolved.weights[i]
            saliency[i] += np.tensordot(scores, keep, axes=1)
    return (saliency / (n_masks * p)).astype(np.float32)
