"""Solutions to the exercises of lesson 04, "Why gradients are noisy, and the fixes" (instructor side)."""

import numpy as np
import tensorflow as tf


def _gradients(model, images, targets):
    """dS/dx for S = the target output of each image, one batched tape."""
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = tf.gather(model(x), np.asarray(targets), batch_dims=1)
    return tape.gradient(scores, x).numpy()


def smooth_grad(model, images, targets, noise, sigma):
    """SmoothGrad: mean gradient over the noisy copies x + sigma * (max x - min x) * noise.

    Parameters
    ----------
    model : keras.Model
        Outputs the scores S (N, K).
    images : np.ndarray
        (N, H, W, C).
    targets : np.ndarray
        (N,) class per image.
    noise : np.ndarray
        (n, N, H, W, C) standard-normal draws.
    sigma : float
        Noise level as a fraction of each image's range.

    Returns
    -------
    np.ndarray
        (N, H, W, C) averaged raw gradients.
    """
    images = np.asarray(images, np.float32)
    scale = sigma * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    noisy = images[None] + scale[None, :, None, None, None] * noise
    n, count = noise.shape[:2]
    grads = _gradients(model, noisy.reshape(n * count, *images.shape[1:]), np.tile(targets, n))
    return grads.reshape(n, count, *images.shape[1:]).mean(axis=0)


def integrated_gradients_trapezoid(model, images, targets, baseline, steps):
    """Integrated Gradients on the straight path from ``baseline``, trapezoid rule, (N, H, W, C).

    Parameters
    ----------
    model : keras.Model
        Outputs the scores S (N, K).
    images, baseline : np.ndarray
        (N, H, W, C) inputs x and baselines x'.
    targets : np.ndarray
        (N,) class per image.
    steps : int
        m, the number of intervals (m + 1 gradient evaluations per image).

    Returns
    -------
    np.ndarray
        IG(x) = (x - x') * sum_k w_k dS/dx(x' + alpha_k (x - x')), (N, H, W, C).
    """
    images = np.asarray(images, np.float32)
    baseline = np.asarray(baseline, np.float32)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, np.float32)
    weights[[0, -1]] /= 2
    path = baseline[None] + alphas[:, None, None, None, None] * (images - baseline)[None]
    count = len(images)
    grads = _gradients(model, path.reshape(-1, *images.shape[1:]), np.tile(targets, steps + 1))
    grads = grads.reshape(steps + 1, count, *images.shape[1:])
    return (images - baseline) * np.tensordot(weights, grads, axes=1)
