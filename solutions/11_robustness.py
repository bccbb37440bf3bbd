"""Solutions to the exercises of lesson 11, "Robustness" (instructor side)."""

import numpy as np


def max_sensitivity(explain, image, deltas):
    """max_j ||explain(x + d_j) - explain(x)|| / ||explain(x)|| over the given perturbations."""
    clean = np.asarray(explain(image[None].astype(np.float32)), np.float64)
    moved = np.asarray(explain((image[None] + deltas).astype(np.float32)), np.float64)
    change = np.sqrt(((moved - clean) ** 2).sum(axis=(1, 2)))
    return float(change.max() / np.sqrt((clean**2).sum()))


def gini(maps):
    """The Gini index of each map's absolute values (N,)."""
    values = np.sort(np.abs(np.asarray(maps, np.float64)).reshape(len(maps), -1), axis=1)
    n = values.shape[1]
    ranks = np.arange(1, n + 1)
    return ((2 * ranks - n - 1) * values).sum(axis=1) / (n * values.sum(axis=1))
