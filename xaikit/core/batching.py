"""Internal batching and the compiled forward/gradient functions, cached per model.

One ``tf.function`` per (model, kind) is traced with a batch dimension of ``None``
(``input_signature``), so different batch sizes reuse one graph. The score is computed inside
the tape (:func:`xaikit.core.targets.score`). Caches are ``WeakKeyDictionary`` s keyed by the
user's model: rewritten models and compiled functions live as long as the model does.

API
---
- ``batch_slices(n, batch_size) -> Iterator[slice]``: the internal batches.
- ``cached(model, key, build)``: memoise ``build()`` per (model, key).
- ``forward_function(model)``: compiled ``x -> outputs``.
- ``gradient_function(model)``: compiled ``(x, w) -> (S, dS/dx)`` with ``S = sum_k w_k f_k(x)``.
- ``layer_gradient_function(tap_model)``: compiled ``(x, w) -> (A, S, dS/dA)`` for a model
  ``x -> [A, f(x)]`` (see :func:`xaikit.core.models.activation_model`).
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

__all__ = [
    "batch_slices",
    "cached",
    "forward_function",
    "gradient_function",
    "gradients",
    "layer_gradient_function",
    "layer_gradients",
    "predict",
]

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batch_slices(n_items: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n_items)``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an int >= 1")
    for start in range(0, n_items, int(batch_size)):
        yield slice(start, min(start + int(batch_size), n_items))


def cached(model: Any, key: Any, build: Callable[[], Any]) -> Any:
    """``build()`` memoised per (model, key); the entry dies with the model."""
    entries = _CACHE.setdefault(model, {})
    if key not in entries:
        entries[key] = build()
    return entries[key]


def _input_spec(model: keras.Model) -> tf.TensorSpec:
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else (None, None, None, None)
    return tf.TensorSpec([None, *shape[1:]], tf.float32)


def _weights_spec(model: keras.Model) -> tf.TensorSpec:
    outputs = getattr(model, "outputs", None)
    return tf.TensorSpec([None, outputs[-1].shape[-1] if outputs else None], tf.float32)


def forward_function(model: keras.Model) -> Callable:
    """Compiled ``x -> model(x)`` (inference mode), cached per model."""

    def build():
        @tf.function(input_signature=[_input_spec(model)])
        def forward(x):
            return model(x, training=False)

        return forward

    return cached(model, "forward", build)


def gradient_function(model: keras.Model) -> Callable:
    """Compiled ``(x, w) -> (S, dS/dx)`` where S = sum_k w_k f_k(x), cached per model."""
    from xaikit.core.targets import score

    def build():
        @tf.function(input_signature=[_input_spec(model), _weights_spec(model)])
        def gradient(x, weights):
            with tf.GradientTape() as tape:
                tape.watch(x)
                scores = score(model(x, training=False), weights)
            return scores, tape.gradient(scores, x)

        return gradient

    return cached(model, "gradient", build)


def layer_gradient_function(tap_model: keras.Model) -> Callable:
    """Compiled ``(x, w) -> (A, S, dS/dA)`` for ``tap_model: x -> [A, f(x)]``, cached."""
    from xaikit.core.targets import score

    def build():
        @tf.function(input_signature=[_input_spec(tap_model), _weights_spec(tap_model)])
        def layer_gradient(x, weights):
            with tf.GradientTape() as tape:
                activations, outputs = tap_model(x, training=False)
                scores = score(outputs, weights)
            return activations, scores, tape.gradient(scores, activations)

        return layer_gradient

    return cached(tap_model, "layer_gradient", build)


def _concat(parts: list) -> Any:
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(len(parts[0])))
    return np.concatenate(parts)


def _numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(np.asarray(v) for v in value)
    return np.asarray(value)


def predict(model: keras.Model, images: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """``model`` outputs for ``images`` in internal batches, as NumPy."""
    forward = forward_function(model)
    return _concat([_numpy(forward(images[part])) for part in batch_slices(len(images), batch_size)])


def gradients(
    model: keras.Model, images: np.ndarray, weights: np.ndarray, *, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) and input gradients (N, H, W, C), one compiled call per internal batch."""
    gradient = gradient_function(model)
    parts = [_numpy(gradient(images[part], weights[part]))
             for part in batch_slices(len(images), batch_size)]
    return _concat(parts)


def layer_gradients(
    tap_model: keras.Model, images: np.ndarray, weights: np.ndarray, *, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activations, scores and dS/dA for ``tap_model: x -> [A, f(x)]``, batched."""
    layer_gradient = layer_gradient_function(tap_model)
    parts = [_numpy(layer_gradient(images[part], weights[part]))
             for part in batch_slices(len(images), batch_size)]
    return _concat(parts)
