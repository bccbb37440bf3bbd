"""What methods do to maps after the model: channel reduction, upsampling, per-image sums.

NumPy only (no gradient flows through these), shared by the families so none imports another.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xaikit.base.resize import resize_bilinear

__all__ = ["accumulate", "reduce_channels", "upsample_maps"]


def reduce_channels(grads: np.ndarray, *, signed: bool = False, per_channel: bool = False) -> np.ndarray:
    """The channel reduction of Simonyan et al. (2014), Sec. 3.1: M_ij = max_c |g_ijc|.

    ``signed=True`` keeps the sign (of the channel with the largest magnitude, the first one on
    ties); ``per_channel=True`` keeps (N, H, W, C) (|g|, or g when signed).

    Examples
    --------
    >>> reduce_channels(np.array([[[[1.0, -3.0]]]]), signed=True).tolist()
    [[[-3.0]]]
    """
    if per_channel:
        return grads if signed else np.abs(grads)
    magnitude = np.abs(grads[..., 0])
    chosen = grads[..., 0].copy() if signed else None
    for channel in range(1, grads.shape[-1]):  # a loop over the few channels: elementwise and
        values = grads[..., channel]           # faster than a reduction over a short last axis
        if signed:
            chosen = np.where(np.abs(values) > magnitude, values, chosen)
        np.maximum(magnitude, np.abs(values), out=magnitude)
    return chosen if signed else magnitude


def upsample_maps(maps: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Bilinear resize of (N, h, w) maps to (N, H, W), half-pixel centres (as ``tf.image.resize``),
    in float32: :func:`xaikit.base.resize.resize_bilinear`.

    Examples
    --------
    >>> upsample_maps(np.ones((1, 2, 2), np.float32), (4, 4)).shape
    (1, 4, 4)
    """
    return resize_bilinear(np.asarray(maps, np.float32), size)


def accumulate(total: np.ndarray, which: np.ndarray, values: np.ndarray) -> None:
    """``total[which[j]] += values[j]`` for sorted ``which`` (runs of one image), via reduceat.

    Examples
    --------
    >>> total = np.zeros(2)
    >>> accumulate(total, np.array([0, 0, 1]), np.array([1.0, 2.0, 5.0]))
    >>> total.tolist()
    [3.0, 5.0]
    """
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    total[which[starts]] += np.add.reduceat(values, starts, axis=0)
