"""Model surgery for second derivatives: every ReLU replaced by a softplus (lesson 11).

A ReLU network is piecewise linear, so the gradient of a gradient map with respect to the input
(the Hessian of the score) is zero almost everywhere and an attack on the map cannot follow it.
Ghorbani, Abid & Zou (AAAI 2019, arXiv:1710.10547, Sec. 3) therefore attack the same network
with each ReLU replaced by a softplus, :math:`\\ln(1 + e^{\\beta z}) / \\beta`, which tends to the
ReLU as :math:`\\beta \\to \\infty`.

:func:`softplus_model` returns a **weight-copied clone** (``keras.models.clone_model``, nested
models cloned recursively, then the weights copied): the user's model is never modified and
later training of it is not seen by the clone.

API
---
- ``softplus_model(model, *, beta=SOFTPLUS_BETA) -> keras.Model``.
"""

from __future__ import annotations

import keras

from xaikit.base.messages import message

__all__ = ["SOFTPLUS_BETA", "softplus_model"]

SOFTPLUS_BETA = 10.0  # sharpness of the smooth ReLU (larger: closer to the ReLU, rougher Hessian)


def _smooth_relu(beta: float, max_value: float | None = None):
    """``z -> softplus(beta z) / beta`` (capped at ``max_value`` for a ReLU6-style layer)."""

    def smooth(z):
        out = keras.ops.softplus(beta * z) / beta
        return out if max_value is None else keras.ops.minimum(out, max_value)

    smooth.__name__ = f"softplus_beta_{beta:g}"
    return smooth


def _replacement(layer: keras.layers.Layer, beta: float) -> keras.layers.Layer:
    """A fresh copy of ``layer`` (weights set later) with its ReLU made smooth."""
    if isinstance(layer, keras.layers.ReLU):
        if layer.negative_slope or layer.threshold:
            raise ValueError(message(
                "expected", name=f"layer {layer.name!r}", expected="a ReLU without negative_slope "
                "or threshold (softplus replaces the plain ReLU)", got=f"negative_slope="
                f"{layer.negative_slope}, threshold={layer.threshold}", fix=""))
        cap = None if layer.max_value is None else float(layer.max_value)
        return keras.layers.Activation(_smooth_relu(beta, cap), name=layer.name)
    config = layer.get_config()
    if config.get("activation") in ("relu", "relu6"):
        cap = 6.0 if config["activation"] == "relu6" else None
        config["activation"] = _smooth_relu(beta, cap)
    return layer.__class__.from_config(config)


def _has_graph(model: object) -> bool:
    if isinstance(model, keras.Sequential):
        return True
    try:
        return isinstance(model, keras.Model) and bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def softplus_model(model: keras.Model, *, beta: float = SOFTPLUS_BETA) -> keras.Model:
    """A copy of ``model`` with every ReLU replaced by :math:`\\ln(1 + e^{\\beta z}) / \\beta`.

    Covers ``Activation("relu")``, ``ReLU`` layers (with ``max_value``: capped) and layers with
    ``activation="relu"`` (or ``"relu6"``), inside nested models too. Other activations are kept.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional model (never modified).
    beta : float
        :math:`\\beta` (default 10).

    Returns
    -------
    keras.Model
        The smooth twin, with copies of ``model``'s weights.

    Raises
    ------
    TypeError
        A subclassed model (no layer graph to clone).
    ValueError
        A leaky or thresholded ReLU layer.

    Examples
    --------
    >>> import numpy as np
    >>> relu = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="relu")])
    >>> smooth = softplus_model(relu, beta=100.0)
    >>> x = np.ones((1, 2), "float32")
    >>> bool(np.allclose(relu(x), smooth(x), atol=0.01))
    True
    """
    if not _has_graph(model):
        raise TypeError(message(
            "expected", name="model", expected="a Sequential or functional keras.Model (the "
            "softplus twin is a clone of its layer graph)", got=type(model).__name__,
            fix="; build the model with keras.Input"))
    clone = keras.models.clone_model(model, clone_function=lambda layer: _replacement(layer, beta),
                                     recursive=True)
    clone.set_weights(model.get_weights())
    return clone
