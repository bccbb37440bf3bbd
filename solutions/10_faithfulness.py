"""Solutions to the exercises of lesson 10, "Faithfulness" (instructor side)."""

import numpy as np


def deletion_auc(model, image, saliency, target, pixels_per_step):
    """Deletion AUC: delete (zero) the most salient pixels k at a time, trapezoid over fractions."""
    height, width = saliency.shape
    order = np.argsort(-saliency.ravel(), kind="stable")
    counts = np.minimum(np.arange(-(-height * width // pixels_per_step) + 1) * pixels_per_step,
                        height * width)
    ranks = np.empty(height * width, int)
    ranks[order] = np.arange(height * width)
    keep = ranks[None, :] >= counts[:, None]  # (steps + 1, H*W)
    batch = image[None] * keep.reshape(-1, height, width, 1)
    scores = np.asarray(model(batch.astype(np.float32)))[:, target].astype(np.float64)
    return float(np.trapezoid(scores, counts / (height * width)))


def morf_curve(model, image, saliency, target, patch, steps):
    """Samek's MoRF curve: zero patch x patch squares by decreasing summed saliency."""
    height, width = saliency.shape
    columns = -(-width // patch)
    labels = (np.arange(height)[:, None] // patch) * columns + np.arange(width)[None, :] // patch
    sums = np.bincount(labels.ravel(), saliency.ravel())
    order = np.argsort(-sums, kind="stable")
    rank = np.empty(len(sums), int)
    rank[order] = np.arange(len(sums))
    counts = np.arange(min(steps, len(sums)) + 1)
    keep = rank[labels][None] >= counts[:, None, None]  # (steps + 1, H, W)
    batch = image[None] * keep[..., None]
    return np.asarray(model(batch.astype(np.float32)))[:, target].astype(np.float64)
