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

from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message
from xaikit.core.batching import predict

__all__ = ["EPSILON", "PrototypeHead", "latents", "log_similarity", "push", "squared_distances",
           "train_prototypes"]

EPSILON = 1e-4  # the paper's code's epsilon in the log activation
CLUSTER, SEPARATION = 0.8, 0.08  # the paper's weights of the cluster and separation costs
WRONG_CLASS = -0.5  # the paper's initial last-layer weight from a prototype to another class


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


def latents(model: Any, images: Any, *, layer: str = "last_conv", batch_size: int = 128
            ) -> np.ndarray:
    """The latent patches (N, h, w, D) of ``images`` at ``layer`` of a functional ``model``."""
    import keras

    features = keras.Model(model.inputs, model.get_layer(layer).output)
    return np.asarray(predict(features, images, batch_size=batch_size), np.float32)


def train_prototypes(latents: Any, labels: Any, n_classes: int, *, per_class: int = 2,
                     epochs: int = 20, batch_size: int = 64, learning_rate: float = 0.05,
                     seed: int = 0) -> PrototypeHead:
    """ProtoPNet's prototype layer trained on a frozen backbone's latents, then pushed.

    Stage 1 of Chen et al. (NeurIPS 2019, arXiv:1806.10574, Sec. 2.2) with the backbone frozen:
    the prototypes minimise

    .. math:: \\mathrm{CE}(h(g_p(z)), y) + \\lambda_1 \\frac1n\\sum_i \\min_{j: p_j \\in P_{y_i}}
              \\min_{\\tilde z \\in z_i} \\lVert \\tilde z - p_j\\rVert^2 - \\lambda_2
              \\frac1n\\sum_i \\min_{j: p_j \\notin P_{y_i}} \\min_{\\tilde z\\in z_i}
              \\lVert\\tilde z - p_j\\rVert^2

    (cross-entropy, cluster and separation costs, :math:`\\lambda_1 = 0.8, \\lambda_2 = 0.08`)
    with the last layer fixed at 1 for a prototype's own class and -0.5 elsewhere; stage 2 is
    :func:`push`. The paper's stage 3 (a sparse last layer) is not done.

    Parameters
    ----------
    latents : array (N, h, w, D)
        Training latents (see :func:`latents`).
    labels : array (N,) of int
    n_classes : int
    per_class : int
        Prototypes per class (the paper: 10).
    epochs, batch_size, learning_rate, seed
        Adam on mini-batches shuffled by ``default_rng([seed, epoch])``.

    Returns
    -------
    PrototypeHead
    """
    import tensorflow as tf

    latents = check_array("latents", latents, ndim=4).astype(np.float32)
    labels = check_array("labels", labels, ndim=1, dtype_kind="iu")
    classes = np.repeat(np.arange(n_classes), per_class)
    last = np.where(classes[:, None] == np.arange(n_classes), 1.0, WRONG_CLASS).astype(np.float32)
    generator = np.random.default_rng(seed)
    top = float(np.quantile(latents, 0.99))
    prototypes = tf.Variable(generator.uniform(0.0, top, (len(classes), latents.shape[-1]))
                             .astype(np.float32))
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    own = tf.constant(classes[None, :] == np.arange(n_classes)[:, None])  # (n_classes, P)

    @tf.function(reduce_retracing=True)
    def step(z: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            d = tf.maximum(tf.reduce_sum(z**2, -1, keepdims=True) - 2.0 * tf.einsum(
                "nhwd,pd->nhwp", z, prototypes) + tf.reduce_sum(prototypes**2, -1), 0.0)
            nearest = tf.reduce_min(d, axis=(1, 2))  # (n, P)
            scores = tf.reduce_max(tf.math.log((d + 1.0) / (d + EPSILON)), axis=(1, 2))
            mine = tf.gather(own, y)
            big = tf.reduce_max(nearest)
            cluster = tf.reduce_min(tf.where(mine, nearest, big), axis=1)
            separation = tf.reduce_min(tf.where(mine, big, nearest), axis=1)
            loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
                y, scores @ last, from_logits=True)) + CLUSTER * tf.reduce_mean(
                cluster) - SEPARATION * tf.reduce_mean(separation)
        optimizer.apply_gradients([(tape.gradient(loss, prototypes), prototypes)])

    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(latents))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            step(tf.constant(latents[chosen]), tf.constant(labels[chosen]))
    pushed, source = push(prototypes.numpy(), classes, latents, labels)
    return PrototypeHead(prototypes=pushed, classes=classes, last_layer=last.astype(np.float64),
                         source=source)
