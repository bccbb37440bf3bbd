"""Solutions to the exercises of lesson 09, "Ground truth" (instructor side)."""

import numpy as np
from sklearn.linear_model import lars_path


def coverage_iou(maps, masks, q):
    """IoU of each map binarised above its q-quantile with its mask (Oramas et al. 2019).

    Parameters
    ----------
    maps : np.ndarray
        (N, H, W) explanation maps, larger = more important.
    masks : np.ndarray
        (N, H, W) bool ground-truth masks.
    q : float
        Quantile level in [0, 1).

    Returns
    -------
    np.ndarray
        (N,) IoU.
    """
    threshold = np.quantile(maps, q, axis=(1, 2), keepdims=True)
    on = maps > threshold
    inter = (on & masks).sum(axis=(1, 2))
    union = (on | masks).sum(axis=(1, 2))
    return inter / np.maximum(union, 1)


def mass_accuracy(maps, masks):
    """Share of each map's positive relevance inside its mask (Arras et al. 2022).

    Parameters
    ----------
    maps : np.ndarray
        (N, H, W) relevance maps.
    masks : np.ndarray
        (N, H, W) bool ground-truth masks.

    Returns
    -------
    np.ndarray
        (N,) in [0, 1]; 0 for a map without positive relevance.
    """
    positive = np.maximum(maps, 0.0)
    inside = (positive * masks).sum(axis=(1, 2))
    total = positive.sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def lasso_units(responses, labels, mu):
    """Per class, min ||X w + b - l_c||^2 subject to ||w||_1 <= mu (Oramas et al. 2019).

    Parameters
    ----------
    responses : np.ndarray
        (N, U) pooled unit responses X.
    labels : np.ndarray
        (N,) int class labels; C = labels.max() + 1.
    mu : float
        The l1 budget.

    Returns
    -------
    np.ndarray
        (C, U) weights; non-zero entries are the class's relevant units.
    """
    x = responses - responses.mean(axis=0)
    rows = []
    for c in range(int(labels.max()) + 1):
        y = (labels == c).astype(float)
        _, _, coefs = lars_path(x, y - y.mean(), method="lasso")
        norms = np.abs(coefs).sum(axis=0)
        if mu >= norms[-1]:
            rows.append(coefs[:, -1])
            continue
        j = np.searchsorted(norms, mu, side="right")
        t = (mu - norms[j - 1]) / (norms[j] - norms[j - 1])
        rows.append(coefs[:, j - 1] + t * (coefs[:, j] - coefs[:, j - 1]))
    return np.stack(rows)
