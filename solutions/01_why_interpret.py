"""Solutions to the exercises of lesson 01, "Why interpret a CNN" (instructor side)."""

import numpy as np


def linear_attribution(weights: np.ndarray, inputs: np.ndarray,
                       baseline: np.ndarray | float = 0.0) -> np.ndarray:
    """Exact attributions of a linear score f(x) = w . x + b relative to a baseline.

    Parameters
    ----------
    weights : np.ndarray
        Weight vector w, shape (D,).
    inputs : np.ndarray
        Inputs x, shape (N, D).
    baseline : float or np.ndarray
        The reference input x_bar: a scalar or shape (D,).

    Returns
    -------
    np.ndarray
        phi with shape (N, D) and phi[n, i] = w[i] * (x[n, i] - x_bar[i]); each row sums to
        f(x_n) - f(x_bar).
    """
    return np.asarray(weights)[None, :] * (np.asarray(inputs) - np.asarray(baseline))
