"""Inverting a representation: which image has these activations? (Mahendran & Vedaldi 2015).

Introduced in lesson 12. Given the activations :math:`\\Phi_0 = \\Phi(x_0)` of an image at
some layer, Mahendran & Vedaldi ("Understanding Deep Image Representations by Inverting Them",
CVPR 2015, arXiv:1412.0035, Sec. 2) look for an image with the same activations and a natural
image prior:

.. math:: x^* = \\arg\\min_x \\frac{\\lVert \\Phi(x) - \\Phi_0 \\rVert_2^2}
          {\\lVert \\Phi_0 \\rVert_2^2} + \\lambda_\\alpha R_\\alpha(x) + \\lambda_{V^\\beta} R_{V^\\beta}(x)

with the bounded-range prior :math:`R_\\alpha` and the total-variation prior
:math:`R_{V^\\beta}` (:mod:`xaikit.interpretation.objectives`). What the reconstruction keeps
is what the layer keeps: early layers give back the image, later layers its colours and parts
but not their exact place or texture. It is activation maximisation of the negated loss
(:func:`~xaikit.interpretation.maximization.activation_maximization`), all images in one batch.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.core import check_images, check_number
from xaikit.interpretation.maximization import activation_maximization, pixel
from xaikit.interpretation.objectives import Objective, alpha_norm, total_variation
from xaikit.interpretation.units import feature_maps, spatial_layer

__all__ = ["inversion", "representation_loss"]


def representation_loss(layer: str, target: np.ndarray) -> Objective:
    """Per image :math:`\\lVert \\Phi(x) - \\Phi_0 \\rVert^2 / \\lVert \\Phi_0 \\rVert^2` at ``layer``."""
    target = np.asarray(target, np.float32)
    axes = tuple(range(1, target.ndim))
    scale = np.maximum((target**2).sum(axis=axes), np.finfo(np.float32).tiny).astype(np.float32)

    def score(features, _image):
        return tf.reduce_sum((features[layer] - target) ** 2, axis=axes) / scale

    return Objective(score, (layer,), len(target), f"representation_loss({layer})")


def inversion(
    model: keras.Model,
    images: Any,
    layer: str | int | keras.layers.Layer,
    *,
    tv_weight: float = 2.0,
    beta: float = 2.0,
    alpha_weight: float = 1.0,
    alpha: float = 6.0,
    steps: int = 300,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> np.ndarray:
    """Reconstruct ``images`` from their activations at ``layer`` (Mahendran & Vedaldi 2015).

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C) in [0, 1]
    layer : name, index or Layer
        The representation :math:`\\Phi` to invert.
    tv_weight, beta : float
        :math:`\\lambda_{V^\\beta}` and :math:`\\beta` of the total-variation prior, which is
        averaged over the H * W * C values here (the paper sums it and scales by the data
        range), so one weight serves every image size.
    alpha_weight, alpha : float
        :math:`\\lambda_\\alpha` and :math:`\\alpha` of :math:`R_\\alpha(x) = \\sum |x - 0.5|^\\alpha`
        (also averaged), which keeps pixels near [0, 1].
    steps, learning_rate : int, float
        Adam steps (the paper: gradient descent with momentum) and step size.
    seed : int
        The starting image is grey plus seeded noise.

    Returns
    -------
    np.ndarray
        float32 (N, H, W, C), clipped to [0, 1] after every step.

    Examples
    --------
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c")])
    >>> inversion(model, np.full((1, 8, 8, 3), 0.5), "c", steps=3).shape
    (1, 8, 8, 3)
    """
    images = check_images(images, model)
    target = spatial_layer(model, layer, "inversion")
    size = float(np.prod(images.shape[1:]))
    tv_weight = check_number("tv_weight", tv_weight, low=0.0) / size
    alpha_weight = check_number("alpha_weight", alpha_weight, low=0.0) / size
    objective = (-representation_loss(target.name, feature_maps(model, images, target))
                 - tv_weight * total_variation(beta) - alpha_weight * alpha_norm(alpha))
    return activation_maximization(model, objective, parameterization=pixel(0.5, 0.05, (0.0, 1.0)),
                                   steps=steps, learning_rate=learning_rate, seed=seed)
