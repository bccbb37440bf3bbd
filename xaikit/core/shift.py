"""The model that sees a constant input shift and answers exactly as the original (Kindermans et al.).

Introduced in lesson 08. Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan & Kim, "The
(Un)reliability of Saliency Methods" (in *Explainable AI*, LNCS 11700, 2019; arXiv:1711.00867),
given a network :math:`f_1(x) = g(W x + b)` and a constant shift :math:`m`, the network

.. math:: f_2(x) = g(W x + b - W m), \\qquad\\text{so}\\qquad f_2(x + m) = f_1(x) \\;\\; \\forall x,

has the same weights, compensates the shift in its first layer's bias, and makes the same
predictions with the same gradients. A saliency method is *input invariant* when it gives
:math:`f_2` on :math:`x + m` the map it gives :math:`f_1` on :math:`x`.

API
---
- ``shift_compensated_model(model, shift) -> keras.Model``: :math:`f_2` as a copy of ``model``
  (the user's model is unchanged), checked on numbers before it is returned.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_array, model_input_shape
from xaikit.base.messages import message
from xaikit.core.weights import copy_model

__all__ = ["shift_compensated_model"]

# layers that commute with a constant shift: f(x + m) = f(x) + f(m) with f(m) computable
_PASS_THROUGH = (keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout)
_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
CHECK_TOLERANCE = 1e-4  # relative agreement of f2(x + m) and f1(x) demanded of the construction


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    leaves = []
    for layer in model.layers:
        leaves.extend(_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return leaves


def _offset(layer: keras.layers.Layer, shift: np.ndarray) -> np.ndarray:
    """W m: what the layer's linear part adds for the constant input ``shift`` (one position)."""
    kernel = keras.ops.convert_to_tensor(layer.kernel)
    batch = keras.ops.convert_to_tensor(shift[None].astype(np.float32))
    if isinstance(layer, keras.layers.Dense):
        offset = np.asarray(keras.ops.matmul(batch, kernel))[0]
    else:
        if layer.padding != "valid":
            raise ValueError(message(
                "shift_layer", layer=layer.name, kind=type(layer).__name__,
                reason=f"padding={layer.padding!r} pads with zeros, so a shifted input is not "
                "shifted at the borders and no bias can compensate it"))
        offset = np.asarray(layer.convolution_op(batch, kernel))[0]
    flat = offset.reshape(-1, offset.shape[-1])
    if not np.allclose(flat, flat[0], rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(flat).max()))):
        raise ValueError(message(
            "shift_layer", layer=layer.name, kind=type(layer).__name__,
            reason="the shift is not constant along the axes the layer slides or broadcasts "
            "over (give a scalar or one value per channel)"))
    return flat[0]


def shift_compensated_model(model: keras.Model, shift: Any, *,
                            into: keras.Model | None = None) -> keras.Model:
    """A copy of ``model`` whose first layer's bias compensates the input shift ``shift``.

    .. math:: b_2 = b_1 - W m \\quad\\Rightarrow\\quad f_2(x + m) = f_1(x)

    (Kindermans et al. 2019, arXiv:1711.00867). The first layer with weights must be a
    Dense layer or a convolution with ``padding="valid"`` and a bias, reached from the input
    through Flatten, Reshape or Dropout only; with zero padding the shift is not constant at the
    borders and a bias cannot compensate it.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional classifier (nested models followed); never modified.
    shift : float or array
        The constant m added to every input: a number, one value per channel (C,), or an array
        of the input's shape (H, W, C) for a Dense first layer.
    into : keras.Model, optional
        A copy of ``model`` made earlier (:func:`~xaikit.core.weights.copy_model`, e.g. cached
        with its compiled functions) to overwrite with ``model``'s weights and compensate,
        instead of a new copy.

    Returns
    -------
    keras.Model
        :math:`f_2`, checked: ``f2(x + m)`` equals ``model(x)`` to float tolerance on a probe.

    Raises
    ------
    TypeError
        ``model`` cannot be copied (subclassed).
    ValueError
        A first layer that cannot compensate the shift (the message says why), or a model the
        construction does not reproduce.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
    >>> shifted = shift_compensated_model(model, -1.0)
    >>> x = np.random.default_rng(0).random((4, 2, 2, 1)).astype("float32")
    >>> bool(np.allclose(shifted(x - 1.0), model(x), atol=1e-5))
    True
    """
    shape = tuple(model_input_shape(model)[1:])
    values = check_array("shift", shift).astype(np.float32)
    try:
        image = np.broadcast_to(values, shape).copy()
    except ValueError:
        raise ValueError(message("expected", name="shift", expected=f"a number, one value per "
                                 f"channel or an array of the input shape {shape}",
                                 got=f"shape {values.shape}", fix="")) from None
    if into is None:
        twin = copy_model(model)
    else:
        twin = into
        twin.set_weights(model.get_weights())
    for layer in _leaf_layers(twin):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, _PASS_THROUGH):
            image = np.asarray(layer(image[None], training=False))[0]
            continue
        if not isinstance(layer, (keras.layers.Dense, *_CONVOLUTIONS)):
            raise ValueError(message("shift_layer", layer=layer.name, kind=type(layer).__name__,
                                     reason="it is not an affine layer"))
        if not layer.use_bias:
            raise ValueError(message("shift_layer", layer=layer.name, kind=type(layer).__name__,
                                     reason="it has no bias (use_bias=False)"))
        layer.bias.assign(keras.ops.convert_to_tensor(layer.bias) - _offset(layer, image))
        _check(model, twin, values, shape, layer.name)
        return twin
    raise ValueError(message("shift_layer", layer=model.name, kind=type(model).__name__,
                             reason="it has no layer with weights"))


def _check(model: keras.Model, twin: keras.Model, shift: np.ndarray, shape: tuple,
           name: str) -> None:
    probe = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    original = np.asarray(model(probe, training=False))
    shifted = np.asarray(twin(probe + shift, training=False))
    gap = float(np.abs(shifted - original).max())
    if gap > CHECK_TOLERANCE * max(1.0, float(np.abs(original).max())):
        raise ValueError(message("shift_check", gap=f"{gap:.3g}", layer=name))
