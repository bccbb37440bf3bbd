"""Solutions to the exercises of lesson 12, "What do units see?" (instructor side)."""

import numpy as np
import tensorflow as tf


def receptive_field_size(layers):
    """Size and stride (jump) of the receptive field of a chain of layers.

    Parameters
    ----------
    layers : list of (kernel, stride, dilation)
        From the input to the layer.

    Returns
    -------
    tuple of two ints
        (r, j): the input pixels one unit sees and the input pixels between neighbouring units.
    """
    size, jump = 1, 1
    for kernel, stride, dilation in layers:
        extent = dilation * (kernel - 1) + 1
        size += (extent - 1) * jump
        jump *= stride
    return int(size), int(jump)


def ascent_step(model, images, shift, tv_weight, learning_rate):
    """One gradient-ascent step on S(x) = model(roll(x, shift))[:, 0] - tv_weight * TV(x).

    Parameters
    ----------
    model : keras.Model
        Outputs one score per image, (N, 1).
    images : np.ndarray
        (N, H, W, C).
    shift : (int, int)
        The jitter (dy, dx) of this step, applied circularly.
    tv_weight, learning_rate : float

    Returns
    -------
    np.ndarray
        (N, H, W, C): x + learning_rate * dS/dx.
    """
    x = tf.convert_to_tensor(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(tf.roll(x, list(shift), axis=[1, 2]), training=False)[:, 0]
        tv = (tf.reduce_sum((x[:, 1:] - x[:, :-1]) ** 2, axis=(1, 2, 3))
              + tf.reduce_sum((x[:, :, 1:] - x[:, :, :-1]) ** 2, axis=(1, 2, 3)))
        objective = tf.reduce_sum(score - tv_weight * tv)
    return (x + learning_rate * tape.gradient(objective, x)).numpy()
