"""The prototype layer of ProtoPNet (Chen et al., NeurIPS 2019): similarity and the push step.

Chen, Li, Tao, Barnett, Su & Rudin, "This Looks Like That: Deep Learning for Interpretable Image
Recognition", NeurIPS 2019 (arXiv:1806.10574). A prototype :math:`p_j` is a vector of the latent
space of a CNN's last convolution; its similarity to each latent patch :math:`\\tilde z` of an
image is the log activation (Sec. 2.1)

.. math:: g_{p_j}(\\tilde z) = \\log\\frac{\\lVert\\tilde z - p_j\\rVert_2^2 + 1}
          {\\lVert\\tilde z - p_j\\rVert_2^2 + \\epsilon},

large when the patch is close to the prototype. The push step (Sec. 2.2, stage 2) replaces each
prototype by the nearest latent patch of a training image of the prototype's own class, so every
prototype *is* a training patch and can be shown as one ("that").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message

__all__ = ["EPSILON", "log_similarity", "push", "squared_distances"]

EPSILON = 1e-4  # the paper's code's epsilon in the log activation


def _latents(latents: Any, prototypes: Any) -> tuple[np.ndarray, np.ndarray]:
    latents = check_array("latents", latents, ndim=4).astype(np.float64)
    prototypes = check_array("prototypes", prototypes, ndim=2).astype(np.float64)
    if prototypes.shape[1] != latents.shape[-1]:
        raise ValueError(message("expected", name="prototypes", expected=f"(P, {latents.shape[-1]})"
                                 " vectors of the latents' depth", got=f"shape {prototypes.shape}",
                                 fix=""))
    return latents, prototypes


def squared_distances(latents: Any, prototypes: Any) -> np.ndarray:
    """:math:`\\lVert\\tilde z - p_j\\rVert^2` for every patch and prototype, (N, h, w, P) float64.

    Examples
    --------
    >>> squared_distances(np.zeros((1, 1, 2, 2)), [[1.0, 1.0]])[..., 0].tolist()
    [[[2.0, 2.0]]]
    """
    latents, prototypes = _latents(latents, prototypes)
    distances = (np.sum(latents**2, axis=-1, keepdims=True) - 2.0 * latents @ prototypes.T
                 + np.sum(prototypes**2, axis=1))
    return np.maximum(distances, 0.0)


def log_similarity(latents: Any, prototypes: Any, *, epsilon: float = EPSILON) -> np.ndarray:
    """ProtoPNet's similarity maps :math:`\\log((d + 1) / (d + \\epsilon))`, (N, h, w, P) float64.

    Parameters
    ----------
    latents : array (N, h, w, D)
        Latent patches (the last convolution's output).
    prototypes : array (P, D)
        Prototype vectors.
    epsilon : float
        Keeps the similarity finite at distance 0 (its value there is log(1 / epsilon)).

    Examples
    --------
    >>> float(log_similarity(np.zeros((1, 1, 1, 2)), [[0.0, 0.0]], epsilon=1.0)[0, 0, 0, 0])
    0.0
    """
    distances = squared_distances(latents, prototypes)
    return np.log((distances + 1.0) / (distances + epsilon))


def push(prototypes: Any, prototype_classes: Any, latents: Any, labels: Any
         ) -> tuple[np.ndarray, np.ndarray]:
    """Project each prototype onto the nearest training patch of its class (Chen et al., Eq. 3).

    Parameters
    ----------
    prototypes : array (P, D)
    prototype_classes : array (P,) of int
        The class each prototype belongs to.
    latents : array (N, h, w, D)
        Latent patches of the training images.
    labels : array (N,) of int

    Returns
    -------
    (np.ndarray, np.ndarray)
        The pushed prototypes (P, D) — each exactly one row of ``latents`` — and where each came
        from, (P, 3) int: image index, row, column.

    Raises
    ------
    ValueError
        A prototype's class has no training image.
    """
    latents, prototypes = _latents(latents, prototypes)
    classes = check_array("prototype_classes", prototype_classes, ndim=1, dtype_kind="iu")
    labels = check_array("labels", labels, ndim=1, dtype_kind="iu")
    missing = sorted(set(classes.tolist()) - set(labels.tolist()))
    if missing or len(classes) != len(prototypes) or len(labels) != len(latents):
        raise ValueError(message("expected", name="prototype_classes", expected="one class per "
                                 "prototype, each with training images", got=f"{len(classes)} "
                                 f"classes for {len(prototypes)} prototypes, {len(labels)} labels "
                                 f"for {len(latents)} images, classes without images {missing}",
                                 fix=""))
    distances = squared_distances(latents, prototypes)  # (N, h, w, P)
    own_class = labels[:, None, None, None] == classes[None, None, None, :]
    flat = np.where(own_class, distances, np.inf).reshape(-1, len(prototypes))
    nearest = np.argmin(flat, axis=0)
    where = np.stack(np.unravel_index(nearest, latents.shape[:3]), axis=1)
    return latents[where[:, 0], where[:, 1], where[:, 2]], where
