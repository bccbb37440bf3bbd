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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message
from xaikit.core.batching import predict

__all__ = ["EPSILON", "LAST_LAYER_L1", "PrototypeHead", "initial_last_layer", "latents",
           "log_similarity", "optimise_last_layer", "push", "squared_distances"]

EPSILON = 1e-4  # the paper's code's epsilon in the log activation
CLUSTER, SEPARATION = 0.8, 0.08  # the paper's weights of the cluster and separation costs
WRONG_CLASS = -0.5  # the paper's initial last-layer weight from a prototype to another class
LAST_LAYER_L1 = 1e-4  # the paper's weight of the L1 penalty on wrong-class connections (stage 3)
LAST_LAYER_STEPS = 2000  # proximal-gradient steps of stage 3 (full batch, step 1 / Lipschitz)


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


@dataclass(frozen=True)
class PrototypeHead:
    """A trained, pushed prototype layer and its last layer.

    Attributes
    ----------
    prototypes : np.ndarray
        (P, D) prototypes, each a training patch after the push.
    classes : np.ndarray
        (P,) the class of each prototype.
    last_layer : np.ndarray
        (P, n_classes) weights from similarity scores to class logits.
    source : np.ndarray
        (P, 3) the training patch of each prototype: image index, row, column.
    """

    prototypes: np.ndarray
    classes: np.ndarray
    last_layer: np.ndarray
    source: np.ndarray

    def scores(self, latents: Any) -> np.ndarray:
        """Each prototype's best similarity in each image, (N, P): max over the patches."""
        return log_similarity(latents, self.prototypes).max(axis=(1, 2))

    def logits(self, latents: Any) -> np.ndarray:
        """Class logits (N, n_classes): the scores times the last layer."""
        return self.scores(latents) @ self.last_layer


def initial_last_layer(classes: Any, n_classes: int) -> np.ndarray:
    """The paper's last layer before stage 3: 1 to the prototype's class, -0.5 elsewhere, (P, C).

    Examples
    --------
    >>> initial_last_layer([0, 1], 2).tolist()
    [[1.0, -0.5], [-0.5, 1.0]]
    """
    classes = check_array("classes", classes, ndim=1, dtype_kind="iu")
    return np.where(classes[:, None] == np.arange(n_classes), 1.0, WRONG_CLASS)


def optimise_last_layer(scores: Any, labels: Any, classes: Any, n_classes: int, *,
                        l1: float = LAST_LAYER_L1, steps: int = LAST_LAYER_STEPS,
                        init: Any = None) -> np.ndarray:
    """Stage 3 of ProtoPNet: the last layer alone, a convex problem, solved by proximal gradient.

    Chen et al. (NeurIPS 2019, arXiv:1806.10574, Sec. 2.2, stage 3) fix everything before the
    last layer h and minimise

    .. math:: \\min_h\\ \\mathrm{CE}(h\\,s, y) + \\lambda \\sum_{j, k:\\ p_j \\notin P_k}
              \\lvert h_{jk}\\rvert

    over the (fixed) similarity scores s: the L1 term drives the connections from a prototype
    to the *other* classes to zero, so the decision rests on positive evidence ("this looks like
    that prototype of class k"), not on absence. Solved here by full-batch proximal gradient
    descent (step 1/L with L = ||S||_2^2 / (2N), soft-thresholding the penalised entries),
    with Nesterov momentum (FISTA, Beck & Teboulle, SIAM J. Imaging Sci. 2009), which reaches
    exact zeros; the paper uses Adam on mini-batches.

    Parameters
    ----------
    scores : array (N, P)
        Each prototype's best similarity in each training image (``PrototypeHead.scores``).
    labels : array (N,) of int
    classes : array (P,) of int
        Each prototype's class.
    n_classes : int
    l1 : float
        The L1 weight :math:`\\lambda` (the paper: 1e-4).
    steps : int
        Proximal-gradient iterations.
    init : array (P, n_classes), optional
        Starting weights (default :func:`initial_last_layer`).

    Returns
    -------
    np.ndarray
        (P, n_classes) float64 last layer.

    Examples
    --------
    >>> w = optimise_last_layer([[5.0, 0.0], [0.0, 5.0]], [0, 1], [0, 1], 2, l1=10.0, steps=50)
    >>> float(abs(w[0, 1]) + abs(w[1, 0]))  # a large penalty: wrong-class connections exactly 0
    0.0
    """
    scores = check_array("scores", scores, ndim=2).astype(np.float64)
    labels = check_array("labels", labels, ndim=1, dtype_kind="iu")
    classes = check_array("classes", classes, ndim=1, dtype_kind="iu")
    weights = initial_last_layer(classes, n_classes) if init is None else np.array(
        init, np.float64)
    wrong = classes[:, None] != np.arange(n_classes)
    target = np.eye(n_classes)[labels]
    rate = 2.0 * len(scores) / max(np.linalg.norm(scores, 2) ** 2, 1e-12)
    ahead, momentum = weights, 1.0
    for _ in range(steps):
        logits = scores @ ahead
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        stepped = ahead - rate * scores.T @ (p - target) / len(scores)
        shrunk = np.sign(stepped) * np.maximum(np.abs(stepped) - rate * l1, 0.0)
        new, previous = np.where(wrong, shrunk, stepped), weights
        weights, momentum, old = new, (1.0 + np.sqrt(1.0 + 4.0 * momentum**2)) / 2.0, momentum
        ahead = weights + (old - 1.0) / momentum * (weights - previous)
    return weights


def latents(model: Any, images: Any, *, layer: str | Sequence[str] = "last_conv",
            batch_size: int = 128) -> Any:
    """The latent patches (N, h, w, D) of ``images`` at ``layer`` of a functional ``model``;
    a list of them, from one forward pass, when ``layer`` is a sequence of layer names."""
    import keras

    names = [layer] if isinstance(layer, str) else list(layer)
    features = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    found = predict(features, images, batch_size=batch_size)
    found = [found] if len(names) == 1 else list(found)
    arrays = [np.asarray(maps, np.float32) for maps in found]
    return arrays[0] if isinstance(layer, str) else arrays
