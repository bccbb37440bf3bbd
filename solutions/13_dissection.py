"""Solutions to the exercises of lesson 13, "Network dissection" (instructor side)."""

import numpy as np


def unit_iou(activations, mask, quantile):
    """IoU of a unit's top-quantile mask with a concept, over all images (Bau et al. 2017).

    Parameters
    ----------
    activations : np.ndarray
        (N, H, W) activations of one unit at the mask's resolution.
    mask : np.ndarray
        (N, H, W) bool concept mask.
    quantile : float
        m = ceil(quantile * N * H * W) activations lie above the threshold.

    Returns
    -------
    float
    """
    values = np.sort(np.asarray(activations).ravel())[::-1]
    m = int(np.ceil(quantile * values.size))
    threshold = values[min(m, values.size - 1)]
    unit = np.asarray(activations) > threshold
    concept = np.asarray(mask, bool)
    union = (unit | concept).sum()
    return float((unit & concept).sum() / union) if union else 0.0


def detector_count(iou, threshold):
    """(detectors, unique detectors) of a layer's IoU table (K units, C concepts).

    Parameters
    ----------
    iou : np.ndarray
        (K, C).
    threshold : float
        A unit is a detector when its best IoU is strictly above it.

    Returns
    -------
    tuple of two ints
    """
    iou = np.asarray(iou)
    best = iou.argmax(axis=1)
    detectors = iou.max(axis=1) > threshold
    return int(detectors.sum()), len(set(best[detectors].tolist()))
