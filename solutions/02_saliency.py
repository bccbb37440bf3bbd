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


def box_iou(boxes_a, boxes_b):
    """Intersection over union of N pairs of boxes (y0, x0, y1, x1), end exclusive.

    Parameters
    ----------
    boxes_a, boxes_b : np.ndarray
        (N, 4) boxes; pair n is boxes_a[n] and boxes_b[n].

    Returns
    -------
    np.ndarray
        (N,) float64: |A ∩ B| / |A ∪ B|, 0 for boxes that do not overlap.
    """
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    low = np.maximum(a[:, :2], b[:, :2])
    high = np.minimum(a[:, 2:], b[:, 2:])
    intersection = np.clip(high - low, 0.0, None).prod(axis=1)
    union = (a[:, 2:] - a[:, :2]).prod(axis=1) + (b[:, 2:] - b[:, :2]).prod(axis=1) - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)
