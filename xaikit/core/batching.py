"""Internal batching and the compiled forward/gradient functions, cached per model.

One ``tf.function`` per (model, kind) is traced once with a batch dimension of ``None``
(:func:`compile_function`), so different batch sizes reuse one graph; the cache keeps its
*concrete* function and callers pass tensors, which skips the per-call signature binding and
input conversion of a ``tf.function`` (most of the fixed cost of a call at batch 1). The score is computed inside
the tape (:func:`xaikit.core.targets.score`). Caches are ``WeakKeyDictionary`` s keyed by the
user's model: rewritten models and compiled functions live as long as the model does.

API
---
- ``batch_slices(n, batch_size) -> Iterator[slice]``: the internal batches.
- ``run_batched(function, n_items, batch_size)``: ``function(part)`` for every internal batch,
  the outputs concatenated as NumPy — the one batch-and-concatenate loop of the kit.
- ``cached(model, key, build)``: memoise ``build()`` per (model, key).
- ``compile_function(function, signature)``: the concrete function of ``function`` traced once;
  ``batch_spec(array)`` a signature entry shaped like ``array`` (free batch dimension) and
  ``tensors(*arrays)`` the float32 arguments.
- ``forward_function(model)``: compiled ``x -> outputs``.
- ``gradient_function(model)``: compiled ``(x, w) -> (S, dS/dx)`` with ``S = sum_k w_k f_k(x)``.
- ``layer_gradient_function(tap_model)``: compiled ``(x, w) -> (A, S, dS/dA)`` for a model
  ``x -> [A, f(x)]`` (see :func:`xaikit.core.surgery.activation_model`).
- ``predict(model, images, batch_size)`` -> outputs (N, K) as NumPy.
- ``gradients(model, images, weights, batch_size)`` -> (scores (N,), gradients (N, H, W, C)).
- ``layer_gradients(tap_model, images, weights, batch_size)`` -> (A, scores, dS/dA).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.base.checks import check_int
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core.targets import score

__all__ = [
    "batch_slices",
    "batch_spec",
    "cached",
    "compile_function",
    "forward_function",
    "gradient_function",
    "gradients",
    "input_spec",
    "layer_gradient_function",
    "layer_gradients",
    "predict",
    "run_batched",
    "tensors",
    "weights_spec",
]

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batch_slices(n_items: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n_items)``.

    Examples
    --------
    >>> list(batch_slices(5, 2))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    batch_size = check_int("batch_size", batch_size)
    for start in range(0, n_items, batch_size):
        yield slice(start, min(start + batch_size, n_items))


def _numpy(value: Any) -> tuple[np.ndarray, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(np.asarray(v) for v in value)
    return (np.asarray(value),)


def run_batched(function: Callable[[slice], Any], n_items: int, batch_size: int) -> Any:
    """``function(part)`` for each internal batch ``part`` of ``range(n_items)``, concatenated.

    ``function`` returns an array or a tuple/list of arrays (tensors are converted to NumPy);
    the result is one array, or a tuple of arrays concatenated along axis 0.

    Examples
    --------
    >>> run_batched(lambda part: np.arange(10)[part] * 2, 10, 4).tolist()
    [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    """
    parts = [_numpy(function(part)) for part in batch_slices(n_items, batch_size)]
    joined = tuple(np.concatenate(column) for column in zip(*parts))
    return joined[0] if len(joined) == 1 else joined


def cached(model: Any, key: Any, build: Callable[[], Any]) -> Any:
    """``build()`` memoised per (model, key); the entry dies with the model."""
    entries = _CACHE.setdefault(model, {})
    if key not in entries:
        entries[key] = build()
    return entries[key]


def compile_function(function: Callable, signature: list[tf.TensorSpec]) -> Callable:
    """``function`` traced once for ``signature`` (None dimensions stay free), as a concrete
    function: call it with tensors of the signature's dtypes."""
    return tf.function(function, input_signature=signature).get_concrete_function()


def batch_spec(array: np.ndarray) -> tf.TensorSpec:
    """A float32 ``TensorSpec`` shaped like ``array`` with a free batch dimension.

    Examples
    --------
    >>> batch_spec(np.zeros((5, 8, 8, 3)))
    TensorSpec(shape=(None, 8, 8, 3), dtype=tf.float32, name=None)
    """
    return tf.TensorSpec([None, *np.shape(array)[1:]], tf.float32)


def input_spec(model: keras.Model) -> tf.TensorSpec:
    """A float32 ``TensorSpec`` of the model's input with a free batch dimension."""
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else (None, None, None, None)
    return tf.TensorSpec([None, *shape[1:]], tf.float32)


def weights_spec(model: keras.Model) -> tf.TensorSpec:
    """A float32 ``TensorSpec`` (None, K) of the score weights of the model's (last) output."""
    outputs = getattr(model, "outputs", None)
    return tf.TensorSpec([None, outputs[-1].shape[-1] if outputs else None], tf.float32)


def forward_function(model: keras.Model) -> Callable:
    """Compiled ``x -> model(x)`` (inference mode), cached per model."""

    def forward(x):
        return model(x, training=False)

    return cached(model, "forward", lambda: compile_function(forward, [input_spec(model)]))


def gradient_function(model: keras.Model) -> Callable:
    """Compiled ``(x, w) -> (S, dS/dx)`` where S = sum_k w_k f_k(x), cached per model."""

    def gradient(x, weights):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = score(model(x, training=False), weights)
        return scores, tape.gradient(scores, x)

    return cached(model, "gradient", lambda: compile_function(
        gradient, [input_spec(model), weights_spec(model)]))


def layer_gradient_function(tap_model: keras.Model) -> Callable:
    """Compiled ``(x, w) -> (A, S, dS/dA)`` for ``tap_model: x -> [A, f(x)]``, cached."""

    def layer_gradient(x, weights):
        with tf.GradientTape() as tape:
            activations, outputs = tap_model(x, training=False)
            scores = score(outputs, weights)
        grads = tape.gradient(scores, activations)
        if grads is None:  # known at trace time
            raise ValueError(message("layer_gradient_disconnected", model=tap_model.name))
        return activations, scores, grads

    return cached(tap_model, "layer_gradient", lambda: compile_function(
        layer_gradient, [input_spec(tap_model), weights_spec(tap_model)]))


def predict(model: keras.Model, images: np.ndarray, *, batch_size: int = BATCH_SIZE) -> Any:
    """``model`` outputs for ``images`` in internal batches, as NumPy (a tuple for several outputs).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> predict(model, np.zeros((5, 2), np.float32), batch_size=2).shape
    (5, 3)
    """
    forward = forward_function(model)
    return run_batched(lambda part: forward(tf.constant(images[part], tf.float32)), len(images),
                       batch_size)


def gradients(
    model: keras.Model, images: np.ndarray, weights: np.ndarray, *, batch_size: int = BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) and input gradients (N, H, W, C), one compiled call per internal batch."""
    gradient = gradient_function(model)
    return run_batched(lambda part: gradient(*tensors(images[part], weights[part])), len(images),
                       batch_size)


def layer_gradients(
    tap_model: keras.Model, images: np.ndarray, weights: np.ndarray, *, batch_size: int = BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activations, scores and dS/dA for ``tap_model: x -> [A, f(x)]``, batched."""
    layer_gradient = layer_gradient_function(tap_model)
    return run_batched(lambda part: layer_gradient(*tensors(images[part], weights[part])),
                       len(images), batch_size)


def tensors(*arrays: np.ndarray) -> tuple[tf.Tensor, ...]:
    """The arrays as float32 tensors, the arguments a compiled (concrete) function takes."""
    return tuple(tf.constant(a, tf.float32) for a in arrays)
