"""The forward-only engine of the perturbation methods: a model on masked copies of one image.

Occlusion, RISE, LIME and KernelSHAP all score ``x ⊙ M + b ⊙ (1 − M)`` for many keep-masks M
(1 = keep the pixel, 0 = replace it by the baseline b).  The blend is built inside one compiled
function, so a batch of masks costs one forward pass of the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.core.batching import cached, compile_function, run_batched

__all__ = ["masked_function", "masked_outputs"]


def masked_function(model: keras.Model, shape: tuple[int, int, int]) -> Callable:
    """Compiled ``(x, baseline, keep) -> model(x ⊙ keep + baseline ⊙ (1 − keep))`` for one image
    of ``shape`` (H, W, C) and a batch of (B, H, W) masks; shapes come from the images, so
    subclassed models work too."""

    def masked(x, baseline, keep):
        keep = keep[..., None]
        return model(x * keep + baseline * (1.0 - keep), training=False)

    image = tf.TensorSpec([1, *shape], tf.float32)
    masks = tf.TensorSpec([None, *shape[:2]], tf.float32)
    return cached(model, ("masked_forward", shape),
                  lambda: compile_function(masked, [image, image, masks]))


def masked_outputs(
    model: keras.Model, image: np.ndarray, baseline: np.ndarray,
    keep: Callable[[slice], np.ndarray] | np.ndarray, n_masks: int, *, batch_size: int,
) -> Any:
    """Outputs of ``model`` on ``image ⊙ M + baseline ⊙ (1 − M)`` for ``n_masks`` keep-masks M.

    ``keep`` is an (n_masks, H, W) array or a function giving the masks of an index slice, so
    that masks are made one internal batch at a time (memory bounded by ``batch_size`` masks).
    Returns the outputs concatenated over the internal batches (a tuple when the model has
    several outputs).
    """
    masked = masked_function(model, tuple(image.shape))
    x, b = tf.constant(image[None], tf.float32), tf.constant(baseline[None], tf.float32)

    def run(part: slice):
        masks = keep(part) if callable(keep) else keep[part]
        return masked(x, b, tf.constant(masks, tf.float32))

    return run_batched(run, n_masks, batch_size)
