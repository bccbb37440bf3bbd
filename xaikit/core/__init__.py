"""Shared plumbing for every explanation method: checks, targets, model surgery, batching.

A method module calls :func:`resolve` (checked images, explained model, target weights), then one
of the batched, compiled primitives below. Nothing here knows about a particular method.

API
---
- :func:`resolve` -> :class:`Resolved` (``model``, ``images``, ``weights``, ``classes``).
- :func:`input_gradients` -> (dS/dx (N, H, W, C), S (N,), Resolved).
- :func:`layer_gradients` -> :class:`LayerGradients` (activations A, dS/dA, S, Resolved) for a
  layer chosen by name, index or automatically (also inside nested backbones).
- checks: ``check_images``, ``check_targets``, ``check_option``, ``check_int``, ``check_number``,
  ``rng``; models: ``find_layer``, ``activation_model``, ``explained_model``,
  ``relu_override_model``, ``logits_model``; batching: ``batch_slices``, ``cached``,
  ``predict``, ``gradient_function``, ``forward_function``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from xaikit.core import batching
from xaikit.core.batching import batch_slices, cached, forward_function, gradient_function, predict
from xaikit.core.checks import (
    check_images,
    check_int,
    check_number,
    check_option,
    check_targets,
    rng,
)
from xaikit.core.models import (
    activation_model,
    explained_model,
    find_layer,
    logits_model,
    relu_override_model,
)
from xaikit.core.targets import Resolved, resolve, score, target_weights

__all__ = [
    "LayerGradients",
    "Resolved",
    "activation_model",
    "batch_slices",
    "cached",
    "check_images",
    "check_int",
    "check_number",
    "check_option",
    "check_targets",
    "explained_model",
    "find_layer",
    "forward_function",
    "gradient_function",
    "input_gradients",
    "layer_gradients",
    "logits_model",
    "predict",
    "relu_override_model",
    "resolve",
    "rng",
    "score",
    "tap_model",
    "target_weights",
]


def input_gradients(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray, Resolved]:
    """dS/dx (N, H, W, C), the scores S (N,) and the resolved inputs, in internal batches."""
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
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
    """Cached :func:`activation_model` (``x -> [A, explained output]``) per (model, layer, on, output)."""
    key = ("tap", layer if not isinstance(layer, keras.layers.Layer) else id(layer), on, output)
    return cached(model, key, lambda: activation_model(model, layer, on=on, output=output))


def layer_gradients(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    layer: Any = None,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> LayerGradients:
    """Activations of ``layer`` and the gradient of the target score with respect to them."""
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    tapped = tap_model(model, layer, on=on, output=output)
    activations, scores, grads = batching.layer_gradients(
        tapped, resolved.images, resolved.weights, batch_size=batch_size
    )
    return LayerGradients(activations, grads, scores, resolved, tapped)
