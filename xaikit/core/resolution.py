"""The one entry point of every method: checked images, the explained model, target weights.

:func:`resolve` turns ``(model, images, targets, on, output)`` into a :class:`Resolved`: the
explained model (cached per model, ``on`` and ``output``), the float32 images, the (N, K) score
weights of :mod:`xaikit.core.targets` and the explained classes.  A forward pass runs only when a
target is left to the prediction (``None``) or the model's output size is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_images, warn
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core import batching
from xaikit.core.surgery import explained_model, is_graph_model
from xaikit.core.targets import explicit_targets, needs_prediction, target_weights

__all__ = ["Resolved", "head_model", "resolve"]

PROBABILITY_ROW_SUM_TOLERANCE = 1e-4  # rows summing to 1 within this look like softmax outputs


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


def head_model(model: keras.Model, *, on: str = "logits", output: int | str | None = None):
    """:func:`~xaikit.core.surgery.explained_model`, cached per (model, on, output)."""
    return batching.cached(model, ("explained", on, output),
                           lambda: explained_model(model, on=on, output=output))


def _input_info(head: keras.Model) -> tuple[keras.Model | None, int | None]:
    """(the model to check the images against, its number of outputs), both None when unknown."""
    def build():
        if not is_graph_model(head):
            return None, None
        return head, int(head.outputs[0].shape[-1])

    return batching.cached(head, "input_info", build)


def resolve(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = BATCH_SIZE,
) -> Resolved:
    """Check the inputs and turn ``targets`` into per-image score weights.

    Parameters
    ----------
    model : keras.Model
        The user's classifier.
    images : array (N, H, W, C)
    targets : None, int, N ints, or tuple (A, B)
    on : {"logits", "probabilities"}
        Explain the scores before the final softmax/sigmoid (default) or after it.
    output : int, str or None
        Which output of a multi-output model.
    batch_size : int
        Internal batch for the forward pass that finds predicted classes.

    Raises
    ------
    ValueError
        Bad images, targets out of range, multi-output model without ``output``.
    """
    head = head_model(model, on=on, output=output)
    checked_against, n_classes = _input_info(head)
    images = check_images(images, checked_against)
    predicted = None
    if n_classes is None or needs_prediction(targets):
        scores = batching.predict(head, images, batch_size=batch_size)
        n_classes = scores.shape[-1]
        predicted = scores.argmax(axis=-1)
        if on == "logits":
            _warn_if_probabilities(scores)
    explicit = explicit_targets(targets, len(images), n_classes, predicted)
    weights = target_weights(explicit, len(images), n_classes)
    classes = explicit[0] if isinstance(explicit, tuple) else explicit
    return Resolved(head, images, weights, classes, explicit)


def _warn_if_probabilities(outputs: np.ndarray) -> None:
    if outputs.ndim == 2 and outputs.shape[1] > 1 and (outputs >= 0).all() and np.allclose(
        outputs.sum(axis=1), 1.0, atol=PROBABILITY_ROW_SUM_TOLERANCE
    ):
        warn(message("logits_look_like_probabilities"))
