"""Objects the exercises' cases hand to a student's function (callables, stateful helpers).

A case's arguments travel into the grader's sandbox, where the kit is a stripped copy
(:mod:`xaikit.grading.sandbox.kit`): the ``lessonNN`` modules are absent, and every kit function an
exercise forbids is replaced by a stand-in, *with everything it calls*. A fixture therefore lives
here (this module ships to the sandbox) and uses Keras and TensorFlow only, never a kit function
an exercise could forbid.

- ``Reinitialiser(model, seed)``: ``reinitialise(layer)`` redraws a layer's weights in place,
  refusing the layers of ``model`` (the user's model must stay as it was).
- ``explain_gradient(model, images, targets)``: ``|dS_c/dx|``, maximum over channels.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

__all__ = ["Reinitialiser", "explain_gradient"]

SEED_RANGE = 100_000  # a layer's draw depends on its name and the case's seed only


class Reinitialiser:
    """``reinitialise(layer)``: redraw every weight of ``layer`` in place, from N(0, 0.1²).

    The new weights depend only on the layer's name and the case's seed, so any correct loop gets
    the same ones. Layers of the model given at construction are refused: randomise a copy.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    >>> Reinitialiser(model, 0)(model.get_layer("d"))
    Traceback (most recent call last):
    ValueError: layer 'd' belongs to the model you were given: re-initialise the layers of a copy (keras.models.clone_model, then set_weights), the user's model must not change
    """

    def __init__(self, model: Any, seed: int) -> None:
        self.model = model
        self.seed = seed

    def __call__(self, layer: Any) -> None:
        protected = {id(weight) for weight in self.model.weights}
        if any(id(weight) in protected for weight in layer.weights):
            raise ValueError(f"layer {layer.name!r} belongs to the model you were given: "
                             "re-initialise the layers of a copy (keras.models.clone_model, then "
                             "set_weights), the user's model must not change")
        rng = np.random.default_rng(self.seed + zlib.crc32(layer.name.encode()) % SEED_RANGE)
        for weight in layer.weights:
            weight.assign(rng.normal(0.0, 0.1, size=tuple(weight.shape)).astype(weight.dtype))

    def __repr__(self) -> str:
        return f"Reinitialiser(seed={self.seed})"


def explain_gradient(model: Any, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``|dS_c/dx|`` of the model's output ``c = targets[i]``, maximum over channels, (N, H, W).

    Simonyan, Vedaldi & Zisserman (ICLR 2014 workshop, arXiv:1312.6034), Eq. (3), computed on
    the output as given (no softmax stripping).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    >>> explain_gradient(model, np.zeros((1, 2, 2, 1), np.float32), np.array([0])).tolist()
    [[[1.0, 1.0], [1.0, 1.0]]]
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = tf.gather(model(images), np.asarray(targets, np.int64), axis=1, batch_dims=1)
    grads = tape.gradient(scores, images)
    return np.abs(grads.numpy()).max(axis=-1)
