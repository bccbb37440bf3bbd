"""Solutions to the exercises of lesson 07, "Relevance propagation" (instructor side)."""

import numpy as np


def lrp_epsilon_dense(a: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                      relevance: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
    """LRP-epsilon through z = a @ W + b: R_i = a_i sum_j w_ij R_j / (z_j + eps sign z_j)."""
    z = a @ weights + bias
    s = relevance / (z + epsilon * np.where(z >= 0, 1.0, -1.0))
    return a * (s @ weights.T)
