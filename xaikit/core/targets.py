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
- ``needs_prediction(targets) -> bool``: whether a None must be filled with the predicted class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from xaikit.base.checks import check_targets
from xaikit.base.messages import message

__all__ = ["explicit_targets", "needs_prediction", "score", "target_weights"]


def score(outputs: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """The per-image score S = sum_k w_k f_k(x); call it inside the GradientTape.

    Examples
    --------
    >>> score(tf.constant([[1.0, 2.0]]), tf.constant([[0.0, 1.0]])).numpy().tolist()
    [2.0]
    """
    return tf.reduce_sum(outputs * weights, axis=-1)


def explicit_targets(
    targets: Any, n_images: int, n_classes: int, predicted: np.ndarray | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``targets`` as N ints (or a tuple of two arrays for a contrastive pair), None filled in.

    ``predicted`` (N,) is the argmax of the output, used where a target is None.

    Examples
    --------
    >>> explicit_targets(None, 2, 3, predicted=np.array([2, 0])).tolist()
    [2, 0]
    """
    classes, contrast = check_targets(targets, n_images, n_classes)
    if contrast is None:
        return _fill(classes, predicted)
    return _fill(classes, predicted), _fill(contrast, predicted)


def target_weights(
    targets: Any, n_images: int, n_classes: int, predicted: np.ndarray | None = None
) -> np.ndarray:
    """(N, K) float32 score weights w for ``targets``: e_A, or e_A - e_B for a pair (A, B).

    Examples
    --------
    >>> target_weights((0, 2), 1, 3).tolist()
    [[1.0, 0.0, -1.0]]
    """
    explicit = explicit_targets(targets, n_images, n_classes, predicted)
    first, second = explicit if isinstance(explicit, tuple) else (explicit, None)
    weights = np.zeros((n_images, n_classes), np.float32)
    weights[np.arange(n_images), first] += 1.0
    if second is not None:
        weights[np.arange(n_images), second] -= 1.0
    return weights


def needs_prediction(targets: Any) -> bool:
    """Whether ``targets`` leaves some class to the prediction (None, alone or in a pair)."""
    if isinstance(targets, tuple):
        return any(t is None for t in targets)
    return targets is None


def _fill(classes: np.ndarray, predicted: np.ndarray | None) -> np.ndarray:
    if (classes < 0).any():
        if predicted is None:
            raise ValueError(message("targets_unpredicted"))
        classes = np.where(classes < 0, predicted, classes)
    return classes
