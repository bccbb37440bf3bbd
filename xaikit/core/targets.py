"""Target selection: which score S(x) an explanation differentiates.

A target becomes a per-image weight vector w over the K outputs, and the score is
``S(x) = sum_k w_k f_k(x)``, computed by :func:`score` **inside** the gradient tape:

- ``None`` -> the predicted class (argmax of the explained output): w = e_argmax;
- an int c -> w = e_c for every image; a list/array of N ints -> one class per image;
- a tuple ``(A, B)`` -> the contrastive score "why A and not B": w = e_A - e_B, S = f_A - f_B
  (each of A, B an int, None = predicted, or N ints).

API
---
- ``score(outputs, weights) -> tf.Tensor``: (N,) scores, used inside a tape.
- ``explicit_targets(targets, n_images, n_classes, predicted=None)``: None filled in.
- ``target_weights(targets, n_images, n_classes, predicted=None) -> np.ndarray``: (N, K) float32.
- ``resolve(model, images, targets=None, *, on="logits", output=None, batch_size=32)
  -> Resolved``: the explained model (logits by default), the checked images, the (N, K)
  weights and the (N,) explained classes; the one entry point every method uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.core import batching
from xaikit.core.checks import check_images, check_targets, warn
from xaikit.core.models import explained_model

__all__ = ["Resolved", "explicit_targets", "resolve", "score", "target_weights"]


def score(outputs: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """The per-image score S = sum_k w_k f_k(x); call it inside the GradientTape."""
    return tf.reduce_sum(outputs * weights, axis=-1)


def explicit_targets(
    targets: Any, n_images: int, n_classes: int, predicted: np.ndarray | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``targets`` as N ints (or a tuple of two arrays for a contrastive pair), None filled in.

    ``predicted`` (N,) is the argmax of the output, used where a target is None.
    """
    classes, contrast = check_targets(targets, n_images, n_classes)
    if contrast is None:
        return _fill(classes, predicted)
    return _fill(classes, predicted), _fill(contrast, predicted)


def target_weights(
    targets: Any, n_images: int, n_classes: int, predicted: np.ndarray | None = None
) -> np.ndarray:
    """(N, K) float32 score weights w for ``targets``: e_A, or e_A - e_B for a pair (A, B)."""
    explicit = explicit_targets(targets, n_images, n_classes, predicted)
    first, second = explicit if isinstance(explicit, tuple) else (explicit, None)
    weights = np.zeros((n_images, n_classes), np.float32)
    weights[np.arange(n_images), first] += 1.0
    if second is not None:
        weights[np.arange(n_images), second] -= 1.0
    return weights


def _fill(classes: np.ndarray, predicted: np.ndarray | None) -> np.ndarray:
    if (classes < 0).any():
        if predicted is None:
            raise ValueError("targets=None needs the predicted classes")
        classes = np.where(classes < 0, predicted, classes)
    return classes


@dataclass(frozen=True)
class Resolved:
    """What a method needs: ``model`` (explained, (N, K)), ``images`` (float32 NHWC),
    ``weights`` (N, K), ``classes`` (N,) (the first class of a contrastive pair) and
    ``targets``: the targets with every None replaced by the predicted class (N ints, or a
    tuple of two such arrays), to pass on to a method applied to transformed images."""

    model: keras.Model
    images: np.ndarray
    weights: np.ndarray
    classes: np.ndarray
    targets: np.ndarray | tuple[np.ndarray, np.ndarray]


def resolve(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> Resolved:
    """Check the inputs and turn ``targets`` into per-image score weights.

    Parameters
    ----------
    model : keras.Model
        The user's classifier.
    images : array (N, H, W, C)
    targets : None, int, N ints, or tuple (A, B)
    on : {"logits", "probabilities"}
        Explain the pre-softmax scores (default) or the model's own output.
    output : int, str or None
        Which output of a multi-output model.
    batch_size : int
        Internal batch for the forward pass that finds predicted classes.

    Raises
    ------
    ValueError
        Bad images, targets out of range, multi-output model without ``output``.
    """
    head = batching.cached(model, ("explained", on, output),
                           lambda: explained_model(model, on=on, output=output))
    images = check_images(images, head if _has_graph(head) else None)
    n_classes = int(head.outputs[0].shape[-1]) if _has_graph(head) else None
    predicted = None
    if n_classes is None or _needs_prediction(targets):
        logits = batching.predict(head, images, batch_size=batch_size)
        n_classes = logits.shape[-1]
        predicted = logits.argmax(axis=-1)
        if on == "logits":
            _warn_if_probabilities(logits)
    explicit = explicit_targets(targets, len(images), n_classes, predicted)
    weights = target_weights(explicit, len(images), n_classes)
    classes = explicit[0] if isinstance(explicit, tuple) else explicit
    return Resolved(head, images, weights, classes, explicit)


def _has_graph(model: keras.Model) -> bool:
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def _needs_prediction(targets: Any) -> bool:
    if isinstance(targets, tuple):
        return any(t is None for t in targets)
    return targets is None


def _warn_if_probabilities(outputs: np.ndarray) -> None:
    if outputs.ndim == 2 and outputs.shape[1] > 1 and (outputs >= 0).all() and np.allclose(
        outputs.sum(axis=1), 1.0, atol=1e-4
    ):
        warn(
            "the explained output looks like softmax probabilities (rows sum to 1) but no final "
            "softmax layer was found to strip; gradients of probabilities saturate. Make the model "
            "end in a Dense(name='logits') + Activation('softmax') head"
        )
