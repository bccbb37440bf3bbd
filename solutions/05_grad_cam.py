"""Solutions to the exercises of lesson 05, "Grad-CAM" (instructor side)."""

import keras
import numpy as np
import tensorflow as tf


def cam_from_weights(activations, kernel, targets):
    """Class activation maps M_c = sum_k w_k^c A^k (Zhou et al. 2016, Eq. 2).

    Parameters
    ----------
    activations : np.ndarray
        (N, h, w, K) activations of the last convolution.
    kernel : np.ndarray
        (K, n_classes) weights of the dense layer after global average pooling.
    targets : np.ndarray
        (N,) int, one class per image.

    Returns
    -------
    np.ndarray
        (N, h, w) maps.
    """
    return np.einsum("nhwk,kn->nhw", activations, np.asarray(kernel)[:, np.asarray(targets)])


def grad_cam_map(model, images, targets, layer_name):
    """Grad-CAM on the grid of ``layer_name`` (Selvaraju et al. 2017, Eqs. 1-2).

    Parameters
    ----------
    model : keras.Model
        A functional model whose output is the class scores S (no softmax).
    images : np.ndarray
        (N, H, W, C) images.
    targets : np.ndarray
        (N,) int, one class per image.
    layer_name : str
        The spatial layer A.

    Returns
    -------
    np.ndarray
        (N, h, w) maps ReLU(sum_k alpha_k A^k), alpha_k the spatial mean of dS_c/dA^k.
    """
    tap = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])
    with tf.GradientTape() as tape:
        activations, scores = tap(tf.convert_to_tensor(images, tf.float32), training=False)
        score = tf.gather(scores, np.asarray(targets), batch_dims=1)
    grads = tape.gradient(score, activations)
    alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(alpha * activations, axis=-1)).numpy()
