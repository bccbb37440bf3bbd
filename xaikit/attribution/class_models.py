"""Class model visualisation: the image a network finds most typical of a class.

Introduced in lesson 02. Not an attribution map (it explains a class, not one image's decision),
so it is a plain function and is not registered in ``METHODS``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.base.checks import check_int, check_number, model_input_shape
from xaikit.base.messages import message
from xaikit.core.batching import cached
from xaikit.core.resolution import head_model
from xaikit.core.targets import score, target_weights

__all__ = ["class_model_visualisation"]

GRADIENT_EPSILON = 1e-12  # keeps the normalised step finite where the gradient vanishes


def _ascent_function(head: keras.Model):
    def build():
        @tf.function(reduce_retracing=True)
        def ascend(offset, mean, weights, l2, learning_rate, steps):
            def step(i, offset):
                with tf.GradientTape() as tape:
                    tape.watch(offset)
                    objective = score(head(mean + offset, training=False), weights)
                    objective -= l2 * tf.reduce_sum(offset**2, axis=(1, 2, 3))
                grads = tape.gradient(objective, offset)
                rms = tf.sqrt(tf.reduce_mean(grads**2, axis=(1, 2, 3), keepdims=True))
                return i + 1, offset + learning_rate * grads / (rms + GRADIENT_EPSILON)

            return tf.while_loop(lambda i, _: i < steps, step, (tf.constant(0), offset))[1]

        return ascend

    return cached(head, "class_model_ascent", build)


def class_model_visualisation(
    model: keras.Model,
    classes: Any,
    *,
    l2: float = 0.01,
    steps: int = 200,
    learning_rate: float = 0.01,
    mean_image: float | np.ndarray = 0.0,
    output: int | str | None = None,
    on: str = "logits",
) -> np.ndarray:
    """Class model visualisation (Simonyan, Vedaldi & Zisserman, ICLR-W 2014, Eq. 1, Fig. 1).

    Finds, by gradient ascent from the zero image, an L2-regularised image I that maximises the
    class score S_c (the unnormalised score before the softmax, as the paper):

    .. math:: \\arg\\max_I \\; S_c(I) - \\lambda \\lVert I \\rVert_2^2

    As in the paper, I is the offset from the data mean (the network sees ``mean_image + I``; the
    paper's ConvNet took mean-subtracted inputs) and the returned picture is ``mean_image + I``.
    All classes are optimised together in one batch, all ``steps`` run inside one compiled loop.

    Parameters
    ----------
    model : keras.Model
        A classifier (Sequential, functional or nested; softmax or logits head).
    classes : int or sequence of ints
        The classes to visualise, one image each.
    l2 : float
        The regularisation weight lambda (>= 0).
    steps : int
        Gradient-ascent steps.
    learning_rate : float
        Step length per step, in input units per pixel (root mean square): each step moves I by
        ``learning_rate * g / rms(g)``. The paper does not state its optimiser; the normalised
        step makes one learning rate work for networks whose gradients differ in scale.
    mean_image : float or array (H, W, C)
        The image I is added to (the training-set mean image, or 0).
    output : int or str, optional
        Which output of a multi-output model.
    on : {"logits", "probabilities"}
        Maximise the score before the softmax (default, as the paper) or the model's output.

    Returns
    -------
    np.ndarray
        float32 (len(classes), H, W, C): ``mean_image + I`` (raw; not clipped to the data range).

    Raises
    ------
    ValueError
        A class out of range, a model with unknown input size, or bad options.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> class_model_visualisation(model, [0, 1], steps=5).shape
    (2, 4, 4, 1)
    """
    l2 = check_number("l2", l2, low=0.0)
    learning_rate = check_number("learning_rate", learning_rate, low=0.0)
    steps = check_int("steps", steps, minimum=1)
    head = head_model(model, on=on, output=output)
    shape = model_input_shape(head)
    if any(d is None for d in shape[1:]):
        raise ValueError(message("fixed_input_size", what="class_model_visualisation",
                                 shape=shape))
    classes = np.atleast_1d(np.asarray(classes))
    weights = target_weights(classes, len(classes), int(head.outputs[0].shape[-1]))
    mean = np.broadcast_to(np.asarray(mean_image, np.float32), shape[1:])
    offset = np.zeros((len(classes), *shape[1:]), np.float32)
    ascend = _ascent_function(head)
    result = ascend(tf.constant(offset), tf.constant(mean[None]), tf.constant(weights),
                    tf.constant(l2, tf.float32), tf.constant(learning_rate, tf.float32),
                    tf.constant(steps))
    return (mean[None] + result.numpy()).astype(np.float32)
