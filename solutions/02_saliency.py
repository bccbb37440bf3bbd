"""Solutions to the exercises of lesson 02, "Saliency maps and class models" (instructor side)."""

import numpy as np
import tensorflow as tf


def saliency_map(model, images, targets):
    """Image-specific class saliency (Simonyan et al. 2014, Sec. 3.1): max_k |dS_c/dI_ijk|.

    Parameters
    ----------
    model : keras.Model
        A model whose output is the class scores S (no softmax).
    images : np.ndarray
        (N, H, W, C) float images.
    targets : np.ndarray
        (N,) int, the class c explained for each image.

    Returns
    -------
    np.ndarray
        (N, H, W) saliency maps.
    """
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = tf.gather(model(x, training=False), np.asarray(targets), batch_dims=1)
    grads = tape.gradient(scores, x)
    return tf.reduce_max(tf.abs(grads), axis=-1).numpy()


def box_iou(box_a, box_b):
    """Intersection over union of two boxes (y0, x0, y1, x1), end exclusive.

    Returns
    -------
    float
        |A ∩ B| / |A ∪ B|, 0 for boxes that do not overlap.
    """
    ay0, ax0, ay1, ax1 = (float(v) for v in box_a)
    by0, bx0, by1, bx1 = (float(v) for v in box_b)
    height = max(0.0, min(ay1, by1) - max(ay0, by0))
    width = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    intersection = height * width
    union = (ay1 - ay0) * (ax1 - ax0) + (by1 - by0) * (bx1 - bx0) - intersection
    return intersection / union if union > 0 else 0.0
