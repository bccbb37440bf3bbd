"""Solutions to the exercises of lesson 06, "Perturbation and surrogates" (instructor side)."""

from math import comb

import numpy as np


def rise_saliency(scores: np.ndarray, masks: np.ndarray, p: float) -> np.ndarray:
    """RISE's estimate sum_i f(x . M_i) M_i / (N p) from N scores and N masks (N, H, W)."""
    return np.tensordot(scores, masks, axes=1) / (len(scores) * p)


def shapley_kernel(n_features: int, sizes: np.ndarray) -> np.ndarray:
    """KernelSHAP's weight (M - 1) / (C(M, s) s (M - s)) for each coalition size s."""
    sizes = np.asarray(sizes)
    binom = np.array([comb(n_features, int(s)) for s in sizes], dtype=float)
    return (n_features - 1) / (binom * sizes * (n_features - sizes))
