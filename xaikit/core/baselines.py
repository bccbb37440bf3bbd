"""Baselines: what replaces removed information, with the same names in every method.

IG's path start x', DeepLIFT's reference x⁰, the occluder of occlusion, the value of masked
pixels in RISE and of switched-off superpixels in LIME/KernelSHAP are all a *baseline* image per
input image, chosen by one name of :data:`xaikit.base.vocabulary.BASELINES`, a number or an
array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from xaikit.base.checks import check_images, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.base.vocabulary import BASELINES

__all__ = ["BLUR_SIGMA_FRACTION", "GREY", "baseline_images"]

GREY = 0.5  # the grey occluder of Zeiler & Fergus, for images in [0, 1]
BLUR_SIGMA_FRACTION = 0.1  # the blurred baseline's default Gaussian sigma, a fraction of max(H, W)


def baseline_images(images: np.ndarray, baseline: Any, *, seed: Any = 0,
                    blur_sigma: float | None = None) -> np.ndarray:
    """The baseline image of each image, float32 of the images' shape (N, H, W, C).

    Parameters
    ----------
    images : np.ndarray
        float32 (N, H, W, C).
    baseline : str, number or array
        ``"black"`` (zeros), ``"grey"`` (0.5), ``"mean"`` (each image's per-channel mean),
        ``"blurred"`` (a Gaussian blur of each image, sigma ``blur_sigma``), ``"random"``
        (uniform in each image's [min, max], from ``seed``), a number (a constant image), or an
        array broadcastable to (N, H, W, C): (C,), (H, W, C), (1, H, W, C) or (N, H, W, C).
    seed : int, Generator or None
        For ``"random"``.
    blur_sigma : float, optional
        For ``"blurred"``: sigma in pixels; default ``0.1 * max(H, W)``.

    Raises
    ------
    ValueError
        An unknown name, a non-finite number, or an array that does not broadcast.

    Examples
    --------
    >>> baseline_images(np.ones((1, 2, 2, 1), np.float32), "grey")[0, :, :, 0].tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    if isinstance(baseline, str):
        check_option("baseline", baseline, BASELINES)
        if baseline in ("black", "grey"):
            return np.full_like(images, 0.0 if baseline == "black" else GREY)
        if baseline == "mean":
            return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).copy()
        if baseline == "blurred":
            sigma = BLUR_SIGMA_FRACTION * max(images.shape[1:3]) if blur_sigma is None else blur_sigma
            return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0),
                                           mode="reflect").astype(np.float32)
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        return (low + (high - low) * rng(seed).random(images.shape)).astype(np.float32)
    if np.ndim(baseline) == 0:
        return np.full_like(images, check_number("baseline", baseline))
    array = check_images(np.reshape(baseline, (1,) * (4 - np.ndim(baseline)) + np.shape(baseline))
                         if np.ndim(baseline) < 4 else baseline, name="baseline")
    try:
        return np.broadcast_to(array, images.shape).astype(np.float32)
    except ValueError:
        raise ValueError(message("baseline_shape", shape=np.shape(baseline),
                                 images=images.shape, allowed=", ".join(BASELINES))) from None
