"""A model's weights as something to copy, re-initialise and restore (model surgery on a copy).

Introduced in lesson 08 (sanity checks). The randomisation tests of Adebayo et al. (NeurIPS 2018)
re-initialise a trained network's layers one after another; here that happens **in place, on one
copy** of the user's model, so every compiled function and rewritten model cached for the copy
(:mod:`xaikit.core.batching`) stays valid: assigning new values to a variable needs no retracing.
The user's model is never touched.

API
---
- ``copy_model(model) -> keras.Model``: a clone with its own variables holding copies of the
  weights (Sequential, functional, nested models; a subclassed model raises a TypeError).
- ``weighted_layers(model) -> list[Layer]``: the layers that hold weights, in forward order,
  nested models expanded (the candidates for randomisation).
- ``reinitialise(layer, seed)``: every weight of ``layer`` drawn again from the layer's own
  initializer (``kernel_initializer``, ``bias_initializer``, ``gamma_initializer``, ...), seeded.
- ``layer_seed(seed, index) -> int``: the seed of the ``index``-th randomised layer, so a layer
  gets the same random weights whatever the order of randomisation.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from xaikit.base.messages import message

__all__ = ["copy_model", "layer_seed", "reinitialise", "weighted_layers"]

# where a weight's initializer lives when it is not "<weight name>_initializer" (Keras 3:
# DepthwiseConv2D's "kernel", SeparableConv2D's "depthwise_kernel" and "pointwise_kernel")
_INITIALIZER_ALIASES = {"kernel": ("depthwise_initializer",),
                        "depthwise_kernel": ("depthwise_initializer",),
                        "pointwise_kernel": ("pointwise_initializer",)}


def copy_model(model: keras.Model) -> keras.Model:
    """A clone of ``model`` with its own variables, holding copies of the weights.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional (nested models are cloned too).

    Returns
    -------
    keras.Model
        Same architecture, same outputs; changing its weights never changes ``model``.

    Raises
    ------
    TypeError
        ``model`` cannot be cloned (a subclassed model without a layer graph).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> twin = copy_model(model)
    >>> twin.layers[0].kernel is model.layers[0].kernel, bool(np.all(twin.get_weights()[0] == model.get_weights()[0]))
    (False, True)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(message("expected", name="model", expected="a keras.Model",
                                got=type(model).__name__, fix=""))
    try:
        clone = keras.models.clone_model(model)
    except (TypeError, ValueError, NotImplementedError) as error:
        raise TypeError(message("model_copy", model=type(model).__name__,
                                reason=str(error).splitlines()[0][:120])) from error
    clone.set_weights(model.get_weights())
    return clone


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` that hold weights, in forward order, inside nested models too.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, name="c"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(2, name="d")])
    >>> [layer.name for layer in weighted_layers(model)]
    ['c', 'd']
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(weighted_layers(layer))
        elif layer.weights:
            found.append(layer)
    return found


def layer_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th randomised layer, derived from ``seed`` (never equal)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] % (2**31 - 1))


def _initializer(layer: keras.layers.Layer, weight: Any) -> Any:
    name = weight.name.split("/")[-1]
    attributes = (f"{name}_initializer", *_INITIALIZER_ALIASES.get(name, ()))
    for attribute in attributes:
        initializer = getattr(layer, attribute, None)
        if initializer is not None:
            return keras.initializers.get(initializer)
    raise ValueError(message("initializer_missing", layer=layer.name, weight=name,
                             attribute=" or ".join(attributes)))


def reinitialise(layer: keras.layers.Layer, seed: int) -> None:
    """Draw every weight of ``layer`` again from the layer's own initializer, in place.

    Kernels get the layer's ``kernel_initializer`` (Glorot uniform for a default Dense or
    Conv2D), biases its ``bias_initializer`` (zeros by default), BatchNormalization its
    ``gamma``/``beta``/moving-statistics initializers: the layer as it was before training
    (Adebayo et al., NeurIPS 2018). Each weight gets its own seed derived from ``seed``.

    Raises
    ------
    ValueError
        A weight without an initializer attribute on its layer (named in the message).
    """
    for position, weight in enumerate(layer.weights):
        initializer = _initializer(layer, weight)
        config = initializer.get_config()
        if "seed" in config:
            initializer = type(initializer).from_config({**config,
                                                         "seed": layer_seed(seed, position)})
        weight.assign(keras.ops.cast(initializer(tuple(weight.shape), dtype=weight.dtype),
                                     weight.dtype))
