"""Solutions to the exercises of lesson 14, "Concepts, representations and surrogates"."""

import numpy as np


def tcav_score(gradients, cav):
    """The TCAV score (Kim et al. 2018, Eq. 2): the share of positive directional derivatives.

    Parameters
    ----------
    gradients : np.ndarray
        (N, ...) gradients of the class logit with respect to the layer.
    cav : np.ndarray
        The concept activation vector, shaped like one gradient.

    Returns
    -------
    float
        The fraction of the N images with gradient · cav > 0.
    """
    flat = np.asarray(gradients, np.float64).reshape(len(gradients), -1)
    return float(np.mean(flat @ np.asarray(cav, np.float64).ravel() > 0))


def linear_cka(x, y):
    """Linear CKA of two representations of the same examples (Kornblith et al. 2019).

    Parameters
    ----------
    x, y : np.ndarray
        (n, p1) and (n, p2).

    Returns
    -------
    float
        ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) with centred columns.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    cross = np.linalg.norm(y.T @ x, "fro") ** 2
    return float(cross / (np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro")))
