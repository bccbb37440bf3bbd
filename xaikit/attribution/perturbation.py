"""Perturbation family: occlusion (Zeiler & Fergus 2014) and RISE (Petsiuk, Das & Saenko 2018).

Introduced in lessons 03 (occlusion) and 06 (perturbation and surrogates).  Both explain by
forward passes only: every perturbed image ``x ⊙ M + b ⊙ (1 − M)`` (b the baseline) is built
inside one compiled function from a batch of keep-masks ``M`` and run through the model in
internal batches (:func:`xaikit.core.masking.masked_outputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from xaikit.attribution.registry import ANY_MODEL, register
from xaikit.base.checks import check_int, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.base.resize import resize_bilinear
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core.baselines import baseline_images
from xaikit.core.batching import batch_slices
from xaikit.core.gradients import tap_model
from xaikit.core.masking import masked_outputs
from xaikit.core.resolution import resolve

__all__ = ["OCCLUSION_PANELS", "occlusion", "occlusion_boxes", "rise"]

OCCLUSION_PANELS = ("score_drop", "probability", "label", "activation")


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
    baseline: str | float | np.ndarray = "grey",
    panel: str = "score_drop",
    layer: str | int | None = None,
    channel: int | None = None,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus, ECCV 2014, Sec. 4.2, Fig. 7).

    A ``patch`` × ``patch`` square of ``baseline`` slides over the image with step ``stride``; for
    each position :math:`p` the occluded image :math:`x_p` is classified.  A pixel's value is the
    mean over the :math:`P(i)` squares that cover it:

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
    baseline : {"grey", "black", "mean", "blurred", "random"}, number or array
        The occluder (:func:`xaikit.core.baselines.baseline_images`; "grey" is the paper's,
        "blurred" uses sigma = patch / 2).
    panel : {"score_drop", "probability", "label", "activation"}
        "score_drop": S(x) − S(x_p) (the default map; high = evidence); the paper's panels:
        "probability": the target's probability under occlusion (Fig. 7 d; low = evidence),
        "label": the most probable label (Fig. 7 e; per pixel, the label most often predicted by
        the squares covering it, as a float map of class indices), "activation": the total
        activation of feature map ``channel`` of ``layer`` (Fig. 7 b; default: the strongest map
        on the unoccluded image).
    layer, channel :
        For ``panel="activation"``: layer name/index (default: the last 4-D layer) and channel.
    output : int or str, optional
        Which output of a multi-output model.
    on : {"logits", "probabilities"}
        The score S of "score_drop".
    batch_size : int
        Occluded images per compiled forward call.

    Returns
    -------
    np.ndarray
        float32 (N, H, W).

    Notes
    -----
    Cost: N × (P + 1) forward passes (P positions, plus the unoccluded image).
    """
    check_option("panel", panel, OCCLUSION_PANELS)
    if panel != "activation" and (layer is not None or channel is not None):
        raise ValueError(message("occlusion_layer", panel=panel))
    patch = check_int("patch", patch)
    stride = check_int("stride", (patch // 2 or 1) if stride is None else stride)
    head_on = "probabilities" if panel in ("probability", "label") else on
    resolved = resolve(model, images, targets, on=head_on, output=output, batch_size=batch_size)
    x = resolved.images
    if patch > min(x.shape[1:3]):
        raise ValueError(message("patch_size", patch=patch, height=x.shape[1], width=x.shape[2]))
    boxes = occlusion_boxes(x.shape[1], x.shape[2], patch, stride)
    keep = np.concatenate([np.ones_like(boxes[:1]), 1.0 - boxes])
    occluders = baseline_images(x, baseline, blur_sigma=patch / 2)
    forward = resolved.model if panel != "activation" else tap_model(model, layer, output=output)
    coverage = boxes.reshape(len(boxes), -1)
    maps = []
    for i in range(len(x)):
        out = masked_outputs(forward, x[i], occluders[i], keep, len(keep), batch_size=batch_size)
        if panel == "activation":
            totals = out[0].sum(axis=(1, 2))
            if channel is not None:
                check_option("channel", channel, range(totals.shape[1]))
            values = totals[:, int(np.argmax(totals[0])) if channel is None else channel]
        elif panel == "label":
            votes = np.eye(out.shape[1])[out[1:].argmax(axis=1)].T @ coverage
            maps.append(votes.argmax(axis=0).reshape(x.shape[1:3]))
            continue
        else:
            values = out @ resolved.weights[i]
        if panel == "score_drop":
            values = values[0] - values
        maps.append(((values[1:] @ coverage) / coverage.sum(axis=0)).reshape(x.shape[1:3]))
    return np.stack(maps).astype(np.float32)


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
        up = resize_bilinear(cells[part].astype(np.float32), size)
        rows = (shifts[part, :1] + np.arange(height))[:, :, None]
        cols = (shifts[part, 1:] + np.arange(width))[:, None, :]
        return up[np.arange(len(up))[:, None, None], rows, cols]

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
    baseline: str | float | np.ndarray = "black",
    output: int | str | None = None,
    on: str = "probabilities",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """RISE: randomized input sampling for explanation (Petsiuk, Das & Saenko, BMVC 2018, eq. 6).

    .. math:: S_{x,f}(\\lambda) \\approx \\frac{1}{N \\cdot p} \\sum_{i=1}^{N} f(x \\odot M_i)\\, M_i(\\lambda)

    Parameters
    ----------
    model, images, targets, output : as :func:`occlusion`.
    n_masks : int
        N, the number of random masks (the paper uses 4000 for ResNet50 / 8000 for VGG16).
    grid : int
        s, the side of the low-resolution binary grid (paper: 7).
    p : float
        Probability that a grid cell is kept (paper: 0.5).
    baseline : {"black", "grey", "mean", "blurred", "random"}, number or array
        What masked pixels become; "black" (0) is the paper's ``x ⊙ M``.
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
    Cost: N_images × n_masks forward passes.
    """
    n_masks = check_int("n_masks", n_masks)
    grid = check_int("grid", grid)
    p = check_number("p", p, low=0.0, high=1.0, low_open=True)
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    x = resolved.images
    masks = _rise_masks(x.shape[1], x.shape[2], grid, p, n_masks, seed)
    fills = baseline_images(x, baseline, seed=seed)
    saliency = np.zeros(x.shape[:3], np.float64)
    for part in batch_slices(n_masks, batch_size):
        keep = masks(part)
        for i in range(len(x)):
            scores = masked_outputs(resolved.model, x[i], fills[i], keep, len(keep),
                                    batch_size=len(keep)) @ resolved.weights[i]
            saliency[i] += np.tensordot(scores, keep, axes=1)
    return (saliency / (n_masks * p)).astype(np.float32)
