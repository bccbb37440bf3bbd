"""Batched, compiled gradients of the target score: at the input, at a layer, under ReLU rules,
on noisy copies (SmoothGrad) and along a straight path (integrated gradients).

Every function resolves its inputs once (:func:`resolve_gradients`: :func:`xaikit.core.resolve`
plus the warning about differentiating probabilities), then runs one compiled forward+backward
per internal batch.  The noisy and path engines build their inputs *inside* the compiled function
from a few scalars (the batch's first flat index), draw the noise there, and sum each image's
samples there, so only one (H, W, C) array per image in the batch comes back to NumPy.

API
---
- ``resolve_gradients(...) -> Resolved``; ``input_gradients(...) -> (dS/dx, S, Resolved)``;
- ``tap_model(...)``; ``layer_gradients(...) -> LayerGradients`` (A, dS/dA, S, Resolved);
- ``rule_gradients(model, images, targets, *, rule, ...) -> (R (N, H, W, C), Resolved)``;
- ``gaussian_noise(key, start, count, shape)``: the standard-normal draws of samples
  ``start .. start + count - 1`` (the same numbers whatever the batching);
- ``noisy_gradient_sums(...)``, ``path_gradient_sums(...)``: the SmoothGrad and IG engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.base.checks import warn
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core import batching
from xaikit.core.resolution import Resolved, resolve
from xaikit.core.surgery import (
    activation_model,
    is_graph_model,
    output_activation,
    relu_override_model,
)
from xaikit.core.targets import score

__all__ = [
    "LayerGradients",
    "gaussian_noise",
    "input_gradients",
    "layer_gradients",
    "noisy_gradient_sums",
    "path_gradient_sums",
    "resolve_gradients",
    "rule_gradients",
    "tap_model",
]

PHILOX = 1  # tf.random.Algorithm.PHILOX: counter-based, so any block of draws can be made alone
PHILOX_BLOCK = 4  # Philox yields four numbers per counter step


def resolve_gradients(model: keras.Model, images: Any, targets: Any = None, *, on: str = "logits",
                      output: int | str | None = None, batch_size: int = BATCH_SIZE) -> Resolved:
    """:func:`xaikit.core.resolve`, warning when the differentiated output is a softmax."""
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    if on == "probabilities" and is_graph_model(resolved.model) \
            and output_activation(resolved.model) == "softmax":
        warn(message("probability_gradients"))
    return resolved


def input_gradients(model: keras.Model, images: Any, targets: Any = None, *, on: str = "logits",
                    output: int | str | None = None, batch_size: int = BATCH_SIZE
                    ) -> tuple[np.ndarray, np.ndarray, Resolved]:
    """dS/dx (N, H, W, C), the scores S (N,) and the resolved inputs, in internal batches."""
    resolved = resolve_gradients(model, images, targets, on=on, output=output,
                                 batch_size=batch_size)
    scores, grads = batching.gradients(resolved.model, resolved.images, resolved.weights,
                                       batch_size=batch_size)
    return grads, scores, resolved


@dataclass(frozen=True)
class LayerGradients:
    """Activations A (N, h, w, k), dS/dA (same shape), scores S (N,) and the resolved inputs."""

    activations: np.ndarray
    gradients: np.ndarray
    scores: np.ndarray
    resolved: Resolved
    tap_model: keras.Model


def tap_model(model: keras.Model, layer: Any = None, *, on: str = "logits",
              output: int | str | None = None) -> keras.Model:
    """Cached :func:`~xaikit.core.surgery.activation_model` (``x -> [A, explained output]``)."""
    key = ("tap", layer if not isinstance(layer, keras.layers.Layer) else id(layer), on, output)
    return batching.cached(model, key, lambda: activation_model(model, layer, on=on, output=output))


def layer_gradients(model: keras.Model, images: Any, targets: Any = None, *, layer: Any = None,
                    on: str = "logits", output: int | str | None = None,
                    batch_size: int = BATCH_SIZE) -> LayerGradients:
    """Activations of ``layer`` and the gradient of the target score with respect to them."""
    resolved = resolve_gradients(model, images, targets, on=on, output=output,
                                 batch_size=batch_size)
    tapped = tap_model(model, layer, on=on, output=output)
    activations, scores, grads = batching.layer_gradients(tapped, resolved.images,
                                                          resolved.weights, batch_size=batch_size)
    return LayerGradients(activations, grads, scores, resolved, tapped)


def rule_gradients(model: keras.Model, images: Any, targets: Any = None, *, rule: str,
                   allow_other_activations: bool = False, on: str = "logits",
                   output: int | str | None = None, batch_size: int = BATCH_SIZE
                   ) -> tuple[np.ndarray, Resolved]:
    """dS/dx with every ReLU's backward pass replaced by ``rule`` ("deconvnet" or
    "guided_backprop", :func:`~xaikit.core.surgery.relu_override_model`); (N, H, W, C)."""
    resolved = resolve_gradients(model, images, targets, on=on, output=output,
                                 batch_size=batch_size)
    rewritten = batching.cached(
        model, ("relu_override", rule, on, output, allow_other_activations),
        lambda: relu_override_model(resolved.model, rule,
                                    allow_other_activations=allow_other_activations))
    _, grads = batching.gradients(rewritten, resolved.images, resolved.weights,
                                  batch_size=batch_size)
    return grads, resolved


def gaussian_noise(key: tf.Tensor, start: tf.Tensor, count: tf.Tensor, shape: tuple) -> tf.Tensor:
    """Standard-normal draws (count, *shape) of the flat samples ``start .. start + count - 1``.

    Sample k is the Philox stream of ``key`` from counter ``k * ceil(prod(shape) / 4)``, so the
    draws of a sample do not depend on which batch it is computed in (works in and out of a
    ``tf.function``).
    """
    size = int(np.prod(shape))
    blocks = -(-size // PHILOX_BLOCK)
    counter = tf.stack([tf.cast(start, tf.uint64) * np.uint64(blocks), tf.constant(0, tf.uint64)])
    flat = tf.raw_ops.StatelessRandomNormalV2(
        shape=tf.stack([tf.cast(count, tf.int32), blocks * PHILOX_BLOCK]), key=key,
        counter=counter, alg=PHILOX, dtype=tf.float32)
    return tf.reshape(flat[:, :size], [-1, *shape])


def _segment_sums(values: tf.Tensor, which: tf.Tensor) -> tf.Tensor:
    """Sum of ``values`` per image, images ``which[0] .. which[-1]`` (``which`` sorted)."""
    local = which - which[0]
    return tf.math.unsorted_segment_sum(values, local, local[-1] + 1)


def _noisy_function(model: keras.Model, shape: tuple, squares: bool):
    def build():
        image = tf.TensorSpec([None, *shape], tf.float32)
        scalar = tf.TensorSpec([], tf.int64)
        signature = [image, tf.TensorSpec([None], tf.float32), batching.weights_spec(model),
                     tf.TensorSpec([1], tf.uint64), scalar, scalar, scalar]

        def noisy(clean, scale, weights, key, start, stop, n_images):
            flat = tf.range(start, stop)
            sample, which = flat // n_images, flat % n_images  # sample-major: few draws a batch
            first = sample[0]
            draws = gaussian_noise(key, first, sample[-1] - first + 1, shape)
            x = tf.gather(clean, which) + tf.gather(scale, which)[:, None, None, None] \
                * tf.gather(draws, sample - first)
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = score(model(x, training=False), tf.gather(weights, which))
            grads = tape.gradient(total, x)
            images, local = tf.unique(which)
            count = tf.size(images)
            sums = tf.math.unsorted_segment_sum(grads, local, count)
            if squares:
                return images, sums, tf.math.unsorted_segment_sum(grads * grads, local, count)
            return images, sums

        return batching.compile_function(noisy, signature)

    return batching.cached(model, ("noisy_gradients", shape, squares), build)


def noisy_gradient_sums(resolved: Resolved, scale: np.ndarray, key: np.ndarray, n_samples: int,
                        *, squares: bool, batch_size: int) -> tuple[np.ndarray, ...]:
    """Σ_i dS/dx at x_n + scale_n · ε_i over the ``n_samples`` noisy copies of each image n,
    float64 (N, H, W, C); with ``squares`` also Σ_i (dS/dx)².

    ε_i is :func:`gaussian_noise` of sample i, the same draw for every image (as Xplique's
    SmoothGrad): each image's sum is over n independent draws, an image's result does not depend
    on the other images or on ``batch_size``, and a batch of B noisy images (sample-major order)
    draws only about B / N noise images."""
    images = resolved.images
    noisy = _noisy_function(resolved.model, images.shape[1:], squares)
    constants = (tf.constant(images), tf.constant(scale, tf.float32),
                 tf.constant(resolved.weights), tf.constant(key, tf.uint64))
    totals = tuple(np.zeros(images.shape, np.float64) for _ in range(1 + squares))
    for part in batching.batch_slices(len(images) * n_samples, batch_size):
        which, *sums = noisy(*constants, *_scalars(part.start, part.stop, len(images)))
        which = np.asarray(which)
        for total, values in zip(totals, sums):
            total[which] += np.asarray(values)
    return totals


def _path_function(model: keras.Model, shape: tuple):
    def build():
        image = tf.TensorSpec([None, *shape], tf.float32)
        nodes = tf.TensorSpec([None], tf.float32)
        scalar = tf.TensorSpec([], tf.int64)
        signature = [image, image, batching.weights_spec(model), nodes, nodes, scalar, scalar]

        def path(base, delta, weights, alphas, node_weights, start, stop):
            flat = tf.range(start, stop)
            n_nodes = tf.cast(tf.size(alphas), tf.int64)
            which, node = flat // n_nodes, flat % n_nodes
            x = tf.gather(base, which) + tf.gather(alphas, node)[:, None, None, None] \
                * tf.gather(delta, which)
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = score(model(x, training=False), tf.gather(weights, which))
            weighted = tape.gradient(total, x) * tf.gather(node_weights, node)[:, None, None, None]
            return (_segment_sums(weighted, which),)

        return batching.compile_function(path, signature)

    return batching.cached(model, ("path_gradients", shape), build)


def path_gradient_sums(resolved: Resolved, base: np.ndarray, alphas: np.ndarray,
                       node_weights: np.ndarray, *, batch_size: int) -> np.ndarray:
    """Σ_k w_k dS/dx at x' + α_k (x − x') for each image (the integral of integrated gradients
    by quadrature nodes α_k and weights w_k), float64 (N, H, W, C)."""
    images = resolved.images
    path = _path_function(resolved.model, images.shape[1:])
    constants = (tf.constant(base), tf.constant(images - base), tf.constant(resolved.weights),
                 tf.constant(alphas, tf.float32), tf.constant(node_weights, tf.float32))
    return _accumulate(lambda part: path(*constants, *_scalars(part.start, part.stop)),
                       len(images), len(alphas), images.shape, 1, batch_size)[0]


def _scalars(*values: int) -> tuple[tf.Tensor, ...]:
    return tuple(tf.constant(value, tf.int64) for value in values)


def _accumulate(run, n_images: int, per_image: int, shape: tuple, n_outputs: int,
                batch_size: int) -> tuple[np.ndarray, ...]:
    """Add each batch's per-image sums into float64 totals (images ``start // per_image`` on)."""
    totals = tuple(np.zeros(shape, np.float64) for _ in range(n_outputs))
    for part in batching.batch_slices(n_images * per_image, batch_size):
        first = part.start // per_image
        for total, sums in zip(totals, run(part)):
            sums = np.asarray(sums)
            total[first:first + len(sums)] += sums
    return totals
