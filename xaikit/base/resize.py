"""Bilinear resizing with half-pixel centres (as ``tf.image.resize`` and ``cv2.resize``), in NumPy.

One implementation for maps (CAM grids upsampled to the image, masks downsampled to a layer) and
images (the digits scaled to 32 px).  Output pixel ``i`` samples the input at
``(i + 0.5) * n_in / n_out - 0.5``, clamped to the edges.

Examples
--------
>>> resize_bilinear(np.ones((1, 2, 2)), (4, 4)).shape
(1, 4, 4)
>>> bilinear_matrix(2, 4).sum(axis=1).tolist()
[1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bilinear_matrix", "resize_bilinear"]


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of bilinear (half-pixel-centred, edge-clamped) resampling weights."""
    centres = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1.0)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    frac = centres - low
    matrix = np.zeros((n_out, n_in))
    matrix[np.arange(n_out), low] += 1.0 - frac
    matrix[np.arange(n_out), high] += frac
    return matrix


def resize_bilinear(maps: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resize (H, W), (N, H, W) or (N, H, W, C) arrays to ``size`` = (H', W').

    Two matrix products per map (rows, then columns), batched by ``np.matmul``.  The result keeps
    the input's float dtype (float64 for integer input).
    """
    array = np.asarray(maps)
    dtype = array.dtype if array.dtype.kind == "f" else np.float64
    array = array.astype(dtype, copy=False)
    height, width = array.shape[-2:] if array.ndim == 2 else array.shape[1:3]
    out_h, out_w = int(size[0]), int(size[1])
    if (height, width) == (out_h, out_w):
        return array
    rows = bilinear_matrix(height, out_h).astype(dtype)
    cols = bilinear_matrix(width, out_w).T.astype(dtype)
    if array.ndim == 4:  # channels last: resize each channel as a map
        moved = np.moveaxis(array, -1, 1)
        return np.moveaxis(np.matmul(np.matmul(rows, moved), cols), 1, -1)
    return np.matmul(np.matmul(rows, array), cols)
