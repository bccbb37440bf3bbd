"""Activation maximisation: the input a unit, channel or class responds to most.

Introduced in lesson 12 (lesson 02's class models are one use of it). Three orthogonal pieces,
as in lucid/lucent (Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017):

- an **objective** (:mod:`xaikit.interpretation.objectives`: ``channel``, ``unit``,
  ``class_score``, penalties ``l2_decay``, ``total_variation``; composed with ``+ - *``);
- a **parameterisation** of the image: :func:`pixel` (the pixels themselves, Erhan et al. 2009,
  Simonyan et al. 2014) or :func:`fourier` (a decorrelated, frequency-scaled Fourier basis
  with a sigmoid, Olah et al. 2017);
- **transforms** applied to the image before the network at every step, so that the result
  must survive them (Yosinski et al. 2015; Olah et al. 2017): :func:`jitter`, :func:`rotate`,
  :func:`scale`, :func:`blur`.

:func:`activation_maximization` runs all steps of gradient ascent for all units in one
compiled, batched loop; the transforms draw their randomness from ``seed`` (stateless), so
the same seed gives the same images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.base.messages import message
from xaikit.core import (
    cached,
    check_int,
    check_number,
    check_option,
    explained_model,
    find_layer,
    rng,
)
from xaikit.core.batching import compile_function
from xaikit.core.checks import model_input_shape
from xaikit.core.probes import feature_model
from xaikit.interpretation.objectives import OUTPUT, Objective, class_score, l2_decay

__all__ = ["OPTIMIZERS", "Parameterization", "Transform", "activation_maximization", "blur",
           "class_model_visualisation", "fourier", "jitter", "pixel", "rotate", "scale",
           "shift"]

OPTIMIZERS = ("adam", "sgd", "normalized")
ADAM_BETAS, ADAM_EPSILON = (0.9, 0.999), 1e-7  # Keras' Adam defaults
GRADIENT_EPSILON = 1e-12  # keeps the normalised step finite where the gradient vanishes


@dataclass(frozen=True)
class Parameterization:
    """How the optimised parameters p become the image x(p).

    ``init(generator, batch, shape) -> p`` (NumPy), ``image(p, shape) -> x`` (TensorFlow,
    (B, H, W, C) for ``shape`` (H, W, C)), ``project(p) -> p`` applied after each step (e.g.
    clipping to the value range).
    """

    name: str
    init: Callable[[np.random.Generator, int, tuple], np.ndarray]
    image: Callable[[tf.Tensor, tuple], tf.Tensor]
    project: Callable[[tf.Tensor], tf.Tensor] = staticmethod(lambda p: p)


def pixel(mean: float | np.ndarray = 0.5, sd: float = 0.05,
          value_range: tuple[float, float] | None = None) -> Parameterization:
    """The pixels are the parameters: x = p, starting at ``mean + sd * N(0, 1)``.

    ``mean`` is a number, an image (H, W, C) or one image per unit (B, H, W, C).
    ``value_range`` (low, high) clips x after every step (projected gradient ascent, as
    Yosinski et al.'s clipping); None leaves it free (Simonyan et al. 2014).
    """
    mean = np.asarray(mean, np.float32)

    def init(generator, batch, shape):
        noise = generator.standard_normal((batch, *shape)).astype(np.float32)
        return np.broadcast_to(mean, (batch, *shape)) + np.float32(sd) * noise

    project = (lambda p: p) if value_range is None else (
        lambda p: tf.clip_by_value(p, value_range[0], value_range[1]))
    return Parameterization("pixel", init, lambda p, _shape: p, project)


def colour_basis(images: np.ndarray) -> np.ndarray:
    """(3, 3) square root of the colour covariance of ``images``, largest column norm 1."""
    pixels = np.asarray(images, np.float64).reshape(-1, images.shape[-1])
    values, vectors = np.linalg.eigh(np.cov(pixels.T))
    root = vectors @ np.diag(np.sqrt(np.maximum(values, 0.0))) @ vectors.T
    return (root / np.linalg.norm(root, axis=0).max()).astype(np.float32)


def fourier(sd: float = 0.01, decay_power: float = 1.0, colours: np.ndarray | None = None
            ) -> Parameterization:
    """Olah et al. (2017)'s decorrelated parameterisation: scaled Fourier coefficients.

    .. math:: x = \\sigma\\big(M \\, \\mathcal{F}^{-1}[\\, s(f) \\odot p \\,]\\big), \\qquad
              s(f) = \\max(|f|, 1/\\max(H, W))^{-\\text{decay\\_power}}

    Gradient steps on p move all frequencies at a rate that compensates their natural 1/f
    falloff, which removes the high-frequency patterns of pixel-space ascent. M decorrelates
    colours: the square root of the colour covariance of ``colours`` (sample images), or
    the identity; the sigmoid keeps x in (0, 1).
    """
    basis = np.eye(3, dtype=np.float32) if colours is None else colour_basis(colours)

    def spectrum_scale(height, width):
        fy, fx = np.fft.fftfreq(height)[:, None], np.fft.rfftfreq(width)[None, :]
        scale = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(height, width)) ** decay_power
        return (scale * height * width / (2 * np.sqrt((scale**2).sum()))).astype(np.float32)

    def init(generator, batch, shape):
        height, width, channels = shape
        size = (batch, channels, height, width // 2 + 1, 2)
        return (sd * generator.standard_normal(size)).astype(np.float32)

    def image(p, shape):
        height, width, channels = shape
        scale = spectrum_scale(height, width)
        spectrum = tf.complex(p[..., 0] * scale, p[..., 1] * scale)
        logits = tf.transpose(tf.signal.irfft2d(spectrum, fft_length=[height, width]),
                              [0, 2, 3, 1])
        if channels == 3:
            logits = tf.einsum("bhwc,dc->bhwd", logits, basis)
        return tf.sigmoid(logits)

    return Parameterization("fourier", init, image)


Transform = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
"""A transform ``(images, seed) -> images``; ``seed`` is a stateless (2,) int32 seed."""


def shift(dy: int, dx: int) -> Transform:
    """Shift the image by (dy, dx) pixels, circularly (a deterministic :func:`jitter`)."""

    def transform(images, _seed):
        return tf.roll(images, [int(dy), int(dx)], axis=[1, 2])

    return transform


def jitter(pixels: int = 4) -> Transform:
    """Shift the image by a random (dy, dx) in [-pixels, pixels] (circular; Mordvintsev et al. 2015)."""
    pixels = check_int("pixels", pixels, minimum=0)

    def transform(images, seed):
        shift = tf.random.stateless_uniform([2], seed, -pixels, pixels + 1, dtype=tf.int32)
        return tf.roll(images, shift, axis=[1, 2])

    return transform


def _affine(images, matrix):
    """Resample ``images`` at the input positions ``matrix @ (x, y, 1)`` about the image centre."""
    height, width = images.shape[1], images.shape[2]
    cy, cx = (height - 1) / 2, (width - 1) / 2
    (a, b), (c, d) = matrix
    transform = tf.stack([a, b, cx - a * cx - b * cy, c, d, cy - c * cx - d * cy, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transform[None], output_shape=[height, width],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")


def rotate(degrees: float = 5.0) -> Transform:
    """Rotate by a random angle in [-degrees, degrees] (bilinear, reflected borders)."""
    degrees = check_number("degrees", degrees, low=0.0)

    def transform(images, seed):
        angle = tf.random.stateless_uniform([], seed, -degrees, degrees) * np.pi / 180
        cos, sin = tf.cos(angle), tf.sin(angle)
        return _affine(images, ((cos, -sin), (sin, cos)))

    return transform


def scale(low: float = 0.9, high: float = 1.1) -> Transform:
    """Zoom by a random factor in [low, high] about the centre (bilinear, reflected borders)."""
    low, high = check_number("low", low, low=1e-3), check_number("high", high, low=1e-3)

    def transform(images, seed):
        inverse = 1.0 / tf.random.stateless_uniform([], seed, low, high)
        return _affine(images, ((inverse, 0.0), (0.0, inverse)))

    return transform


def blur(sigma: float = 0.5) -> Transform:
    """Gaussian blur of width ``sigma`` pixels (deterministic; cf. Yosinski et al.'s blur)."""
    sigma = check_number("sigma", sigma, low=1e-3)
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)

    def transform(images, _seed):
        channels = images.shape[-1]
        padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
        rows = tf.constant(np.tile(taps[:, None, None, None], (1, 1, channels, 1)))
        cols = tf.constant(np.tile(taps[None, :, None, None], (1, 1, channels, 1)))
        out = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
        return tf.nn.depthwise_conv2d(out, cols, [1, 1, 1, 1], "VALID")

    return transform


def _step(optimizer: str, learning_rate: float):
    """``update(p, g, m, v, t) -> (p, m, v)`` for gradient *ascent*."""
    beta1, beta2 = ADAM_BETAS

    def update(p, g, m, v, t):
        if optimizer == "sgd":
            return p + learning_rate * g, m, v
        if optimizer == "normalized":
            rms = tf.sqrt(tf.reduce_mean(g**2, axis=list(range(1, len(g.shape))), keepdims=True))
            return p + learning_rate * g / (rms + GRADIENT_EPSILON), m, v
        m = m + (g - m) * (1 - beta1)
        v = v + (g * g - v) * (1 - beta2)
        alpha = learning_rate * tf.sqrt(1 - beta2**t) / (1 - beta1**t)
        return p + alpha * m / (tf.sqrt(v) + ADAM_EPSILON), m, v

    return update


def activation_maximization(
    model: keras.Model,
    objective: Objective,
    *,
    parameterization: Parameterization | None = None,
    transforms: Sequence[Transform] = (),
    steps: int = 256,
    learning_rate: float = 0.05,
    optimizer: str = "adam",
    on: str = "logits",
    output: int | str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Images that maximise ``objective`` by gradient ascent (one per unit of the objective).

    .. math:: x^* = x(p^*), \\qquad p^* = \\arg\\max_p \\;
              \\mathbb{E}_{t}\\big[S(\\Phi(t(x(p))))\\big] - R(x(p))

    with S the objective's score of the activations :math:`\\Phi` of the transformed image
    t(x) and R its penalties (Erhan et al., "Visualizing Higher-Layer Features of a Deep
    Network", 2009; Simonyan, Vedaldi & Zisserman, ICLR-W 2014, arXiv:1312.6034, Eq. 1;
    Yosinski, Clune, Nguyen, Fuchs & Lipson, ICML-W 2015, arXiv:1506.06579; Olah et al.,
    Distill 2017). Each step draws one transform (stateless, from ``seed``) for the batch.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional (nested models searched), with a fixed input size.
    objective : Objective
        What to maximise; its ``batch`` (units) sets the number of images (1 if None).
    parameterization : Parameterization
        :func:`pixel` (default: ``pixel()``) or :func:`fourier`.
    transforms : sequence of Transform
        Applied in order before the network at every step.
    steps, learning_rate : int, float
        Gradient-ascent steps and step size.
    optimizer : {"adam", "sgd", "normalized"}
        Keras' Adam (defaults beta 0.9/0.999, epsilon 1e-7), plain steps ``p + lr g``, or
        steps ``p + lr g / rms(g)`` per image (lesson 02's class models).
    on, output : str, int
        Which model output :func:`~xaikit.interpretation.objectives.class_score` reads.
    seed : int
        Seeds the initial parameters and every transform.

    Returns
    -------
    np.ndarray
        float32 (B, H, W, C), the images x(p*) (in the parameterisation's range).

    Raises
    ------
    ValueError
        Unknown layer or optimizer, bad options, a model without a fixed input size.

    Examples
    --------
    >>> import keras
    >>> from xaikit.interpretation.objectives import channel
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c")])
    >>> activation_maximization(model, channel("c", [0, 1, 2]), steps=4).shape
    (3, 8, 8, 3)
    """
    if not isinstance(objective, Objective):
        raise TypeError(message("objective", name="objective", got=type(objective).__name__))
    steps = check_int("steps", steps, minimum=1)
    learning_rate = check_number("learning_rate", learning_rate, low=0.0)
    update = _step(check_option("optimizer", optimizer, OPTIMIZERS), learning_rate)
    seed = check_int("seed", seed, minimum=0)
    parameterization = parameterization or pixel()
    # the softmax is stripped (on=) only where a class score is maximised; a unit's activation
    # does not depend on the head, and a feature extractor has no classifier head to resolve
    head = (cached(model, ("explained", on, output),
                   lambda: explained_model(model, on=on, output=output))
            if OUTPUT in objective.layers else model)
    shape = tuple(model_input_shape(head)[1:])
    if any(d is None for d in shape):
        raise ValueError(message("model_shape_unknown", model=model.name))
    layers = [name for name in objective.layers if name != OUTPUT]
    probe = cached(model, ("maximization", on, output, tuple(layers), OUTPUT in objective.layers),
                   lambda: feature_model(head, [find_layer(head, name) for name in layers],
                                         output=OUTPUT in objective.layers))
    keys = layers + ([OUTPUT] if OUTPUT in objective.layers else [])
    start = parameterization.init(rng(seed), objective.batch or 1, shape)

    def ascend(params):
        def body(t, p, m, v):
            with tf.GradientTape() as tape:
                tape.watch(p)
                image = parameterization.image(p, shape)
                seen = image
                for index, transform in enumerate(transforms):
                    seen = transform(seen, tf.stack([tf.constant(seed, tf.int32), t * 16 + index]))
                features = probe(seen, training=False)
                features = features if isinstance(features, (list, tuple)) else [features]
                total = tf.reduce_sum(objective.score(dict(zip(keys, features)), image))
            p, m, v = update(p, tape.gradient(total, p), m, v, tf.cast(t + 1, tf.float32))
            return t + 1, parameterization.project(p), m, v

        zeros = tf.zeros_like(params)
        return tf.while_loop(lambda t, *_: t < steps, body, (tf.constant(0), params, zeros, zeros))[1]

    # Each call traces its own ascent loop once (the objective is a Python closure), as a
    # concrete function: one trace, never a retrace of a shared tf.function.
    start = tf.constant(start)
    final = compile_function(ascend, [tf.TensorSpec(start.shape, start.dtype)])(start)
    return np.asarray(parameterization.image(final, shape), np.float32)


def class_model_visualisation(
    model: keras.Model,
    classes: Any,
    *,
    l2: float = 0.01,
    steps: int = 200,
    learning_rate: float = 0.01,
    mean_image: float | np.ndarray = 0.0,
    on: str = "logits",
) -> np.ndarray:
    """Class model visualisation (Simonyan, Vedaldi & Zisserman, ICLR-W 2014, Eq. 1, Fig. 1).

    .. math:: \\arg\\max_I \\; S_c(I) - \\lambda \\lVert I \\rVert_2^2

    One use of :func:`activation_maximization`: objective ``class_score(c) - l2 * l2_decay(mean)``,
    pixels starting at ``mean_image`` (I is the offset from the data mean, as the paper's
    mean-subtracted inputs), normalised steps ``lr * g / rms(g)``, no transforms. Introduced
    in lesson 02.

    Parameters
    ----------
    model : keras.Model
    classes : int or sequence of ints
    l2 : float
        The regularisation weight lambda (>= 0).
    steps, learning_rate : int, float
    mean_image : float or array (H, W, C)
    on : {"logits", "probabilities"}

    Returns
    -------
    np.ndarray
        float32 (len(classes), H, W, C): ``mean_image + I`` (raw; not clipped).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> class_model_visualisation(model, [0, 1], steps=5).shape
    (2, 4, 4, 1)
    """
    l2 = check_number("l2", l2, low=0.0)
    classes = np.atleast_1d(np.asarray(classes))
    objective = class_score(classes) - l2 * l2_decay(mean_image)
    return activation_maximization(model, objective, parameterization=pixel(mean_image, sd=0.0),
                                   steps=steps, learning_rate=learning_rate,
                                   optimizer="normalized", on=on, seed=0)
