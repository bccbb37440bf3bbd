"""Solutions to the exercises of lesson 15, "Interpretable by design" (instructor side)."""

import numpy as np


def intervene(predicted, true, order, k):
    """Correct the first ``k`` concepts of each image's ``order`` (Koh et al. 2020, Sec. 6).

    Parameters
    ----------
    predicted : np.ndarray
        (N, K) predicted concept probabilities.
    true : np.ndarray
        (N, K) true concepts, 0 or 1.
    order : np.ndarray
        (N, K) int, each row a permutation of 0..K-1, most urgent concept first.
    k : int
        How many concepts to correct per image.

    Returns
    -------
    np.ndarray
        (N, K) float64: the true values at the corrected concepts, the predictions elsewhere.
    """
    predicted = np.asarray(predicted, np.float64)
    chosen = np.zeros(predicted.shape, bool)
    np.put_along_axis(chosen, np.asarray(order)[:, :k], True, axis=1)
    return np.where(chosen, np.asarray(true, np.float64), predicted)


def log_similarity(latents, prototypes, epsilon=1e-4):
    """ProtoPNet's similarity log((d + 1) / (d + eps)) of every patch to every prototype.

    Parameters
    ----------
    latents : np.ndarray
        (N, h, w, D) latent patches.
    prototypes : np.ndarray
        (P, D) prototypes.
    epsilon : float
        The small constant of the denominator.

    Returns
    -------
    np.ndarray
        (N, h, w, P) float64 similarities.
    """
    diff = np.asarray(latents, np.float64)[..., None, :] - np.asarray(prototypes, np.float64)
    distances = np.sum(diff * diff, axis=-1)
    return np.log((distances + 1.0) / (distances + epsilon))
