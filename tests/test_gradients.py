"""Gradient family: properties from the papers, finite differences, and tf-keras-vis agreement."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from xaikit import viz
from xaikit.attribution import (
    completeness_gap,
    gradient,
    gradient_x_input,
    integrated_gradients,
    interior_gradients,
    saliency,
    smoothgrad,
)
from xaikit.attribution.gradients import quadrature
from xaikit.core import explained_model
from xaikit.core.baselines import baseline_images


def _smooth_model(softmax: bool = True) -> keras.Model:
    """A small differentiable (tanh) CNN, functional, with a Dense logits + softmax head."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(3, name="logits")(x)
    if softmax:
        x = keras.layers.Activation("softmax", name="probs")(x)
    return keras.Model(inputs, x)


def _relu_cnn() -> keras.Model:
    keras.utils.set_random_seed(6)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(x))


RNG = np.random.default_rng(0)
SMALL = RNG.random((3, 6, 6, 2), dtype=np.float32)
IMAGES = RNG.random((4, 10, 10, 3), dtype=np.float32)


def test_gradient_matches_central_finite_differences():
    model = _smooth_model()
    logits = explained_model(model)
    image, target, eps = SMALL[:1], 1, 1e-2
    basis = np.eye(image.size, dtype=np.float32).reshape(-1, *image.shape[1:])
    plus = logits(image + eps * basis).numpy()[:, target]
    minus = logits(image - eps * basis).numpy()[:, target]
    finite = ((plus - minus) / (2 * eps)).reshape(image.shape)
    grads = gradient(model, image, target)
    scale = np.abs(finite).max()
    np.testing.assert_allclose(grads, finite, atol=2e-3 * scale)
    np.testing.assert_allclose(saliency(model, image, target), np.abs(finite).max(-1), atol=2e-3 * scale)


def test_saliency_options_and_gradient_x_input_on_a_linear_model():
    inputs = keras.Input((4, 4, 3))
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = dense.get_weights()[0][:, 1].reshape(4, 4, 3)
    x = RNG.random((2, 4, 4, 3), dtype=np.float32)
    np.testing.assert_allclose(gradient(model, x, 1), np.broadcast_to(kernel, x.shape), rtol=1e-6)
    np.testing.assert_allclose(saliency(model, x, 1), np.abs(kernel).max(-1)[None].repeat(2, 0), rtol=1e-6)
    strongest = np.take_along_axis(kernel, np.abs(kernel).argmax(-1)[..., None], -1)[..., 0]
    np.testing.assert_allclose(saliency(model, x, 1, signed=True)[0], strongest, rtol=1e-6)
    assert saliency(model, x, 1, per_channel=True).shape == (2, 4, 4, 3)
    np.testing.assert_allclose(gradient_x_input(model, x, 1), (kernel * x).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(gradient_x_input(model, x, 1, per_channel=True), kernel * x, rtol=1e-5)


def test_quadrature_rules_against_numpy_trapezoid_and_exact_integrals():
    alphas, weights = quadrature("trapezoid", 10)
    cube = alphas**3
    assert np.isclose((weights * cube).sum(), np.trapezoid(cube, alphas))
    for rule, expected in [("riemann_left", 0.45), ("riemann_right", 0.55), ("riemann_mid", 0.5),
                           ("trapezoid", 0.5)]:
        alphas, weights = quadrature(rule, 10)
        assert np.isclose((weights * alphas).sum(), expected), rule
    with pytest.raises(ValueError, match="allowed: 'riemann_left'"):
        quadrature("simpson", 10)


@pytest.mark.parametrize("rule,factor", [("riemann_left", 7 / 8), ("riemann_right", 9 / 8),
                                         ("riemann_mid", 1.0), ("trapezoid", 1.0)])
def test_integrated_gradients_on_an_analytic_function(rule, factor):
    """S(x) = sum x^2: IG_i = x_i^2 exactly for rules exact on linear integrands."""
    inputs = keras.Input((3, 3, 1))
    squared = keras.layers.Multiply()([inputs, inputs])
    score = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    model = keras.Model(inputs, score(keras.layers.Flatten()(squared)))
    x = RNG.random((2, 3, 3, 1), dtype=np.float32)
    maps = integrated_gradients(model, x, 0, steps=8, rule=rule)
    np.testing.assert_allclose(maps, factor * x[..., 0] ** 2, rtol=1e-5)


def test_integrated_gradients_completeness_on_a_zoo_model():
    from xaikit.data import load
    from xaikit.models import zoo

    model = zoo("digits", fast=True)
    images = load("digits", split="test", fast=True).images[:8]
    logits = explained_model(model)
    for rule in ("trapezoid", "riemann_mid"):
        maps = integrated_gradients(model, images, steps=64, rule=rule)
        gap = completeness_gap(model, images, maps)
        classes = logits(images).numpy().argmax(1)
        rows = np.arange(len(images))
        difference = logits(images).numpy()[rows, classes] - logits(0 * images).numpy()[rows, classes]
        np.testing.assert_allclose(maps.reshape(8, -1).sum(1) - difference, gap, atol=1e-3)
        assert (np.abs(gap) <= 0.01 * np.abs(difference)).all(), (rule, gap / difference)


@pytest.mark.parametrize("baseline", ["black", "mean", "blurred", "random", 0.5, "array"])
def test_integrated_gradients_completeness_for_every_baseline(baseline):
    model = _smooth_model()
    if baseline == "array":
        baseline = RNG.random((6, 6, 2), dtype=np.float32)
    maps = integrated_gradients(model, SMALL, 2, baseline=baseline, steps=64)
    gap = completeness_gap(model, SMALL, maps, 2, baseline=baseline)
    logits = explained_model(model)
    start = baseline_images(SMALL, baseline)
    difference = logits(SMALL).numpy()[:, 2] - logits(start).numpy()[:, 2]
    assert (np.abs(gap) <= 0.01 * np.abs(difference) + 1e-6).all()
    np.testing.assert_allclose(maps.reshape(3, -1).sum(1), difference, rtol=0.01, atol=1e-5)


def test_baseline_errors():
    with pytest.raises(ValueError, match="allowed: 'black', 'grey', 'mean', 'blurred', 'random'"):
        baseline_images(SMALL, "white")
    with pytest.raises(ValueError, match="does not broadcast"):
        baseline_images(SMALL, np.zeros((5, 5, 2)))


def test_smoothgrad_equals_the_average_over_explicit_noise():
    model = _relu_cnn()
    noise = np.random.default_rng(3).standard_normal((5, 4, 10, 10, 3)).astype(np.float32)
    sigma = 0.2 * (IMAGES.max(axis=(1, 2, 3)) - IMAGES.min(axis=(1, 2, 3)))
    classes = explained_model(model)(IMAGES).numpy().argmax(1)
    noisy = IMAGES[None] + sigma[None, :, None, None, None] * noise
    manual = np.mean([gradient(model, copy, classes) for copy in noisy], axis=0)
    got = smoothgrad(model, IMAGES, n_samples=5, sigma=0.2, noise=noise, per_channel=True, batch_size=3)
    np.testing.assert_allclose(got, manual, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(smoothgrad(model, IMAGES, n_samples=5, sigma=0.2, noise=noise),
                               np.abs(manual).max(-1), rtol=1e-4, atol=1e-6)
    squared = smoothgrad(model, IMAGES, n_samples=5, sigma=0.2, noise=noise, squared=True,
                         per_channel=True)
    variance = smoothgrad(model, IMAGES, n_samples=5, sigma=0.2, noise=noise, vargrad=True,
                          per_channel=True)
    np.testing.assert_allclose(squared, np.mean([gradient(model, c, classes) ** 2 for c in noisy], 0),
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(variance, np.maximum(squared - manual**2, 0), rtol=1e-3, atol=1e-6)
    # batched = per image when each image gets the same noise
    single = smoothgrad(model, IMAGES[2:3], n_samples=5, sigma=0.2, noise=noise[:, 2:3])
    np.testing.assert_allclose(single[0], smoothgrad(model, IMAGES, n_samples=5, sigma=0.2,
                                                     noise=noise)[2], rtol=1e-5, atol=1e-7)


def test_smoothgrad_is_seeded_batch_size_free_and_composes():
    model = _relu_cnn()
    first = smoothgrad(model, IMAGES, n_samples=6, seed=4, batch_size=5)
    np.testing.assert_array_equal(first, smoothgrad(model, IMAGES, n_samples=6, seed=4, batch_size=5))
    np.testing.assert_allclose(first, smoothgrad(model, IMAGES, n_samples=6, seed=4, batch_size=32),
                               rtol=1e-5, atol=1e-7)
    assert not np.allclose(first, smoothgrad(model, IMAGES, n_samples=6, seed=5))
    np.testing.assert_allclose(smoothgrad(model, IMAGES, n_samples=3, sigma=0.0),
                               saliency(model, IMAGES), rtol=1e-5)
    smoothed_ig = smoothgrad(model, IMAGES, method="integrated_gradients", n_samples=2, steps=4)
    assert smoothed_ig.shape == (4, 10, 10)
    with pytest.raises(ValueError, match="noise has"):
        smoothgrad(model, IMAGES, n_samples=2, noise=np.zeros((3, 4, 10, 10, 3)))
    with pytest.raises(ValueError, match="exclusive"):
        smoothgrad(model, IMAGES, squared=True, vargrad=True)


def test_interior_gradients_is_the_gradient_at_the_scaled_image():
    model = _relu_cnn()
    classes = explained_model(model)(IMAGES).numpy().argmax(1)
    np.testing.assert_allclose(interior_gradients(model, IMAGES, alpha=1.0), saliency(model, IMAGES))
    np.testing.assert_allclose(interior_gradients(model, IMAGES, alpha=0.3),
                               saliency(model, 0.3 * IMAGES, classes), rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        interior_gradients(model, IMAGES, alpha=0.0)


# --- agreement with tf-keras-vis on the same weights ---------------------------------------------
def _tfkv_saliency(model):
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    return Saliency(model, model_modifier=ReplaceToLinear(), clone=True)


def test_saliency_agrees_with_tf_keras_vis():
    from tf_keras_vis.utils.scores import CategoricalScore

    functional = _relu_cnn()
    sequential = keras.Sequential([keras.Input((10, 10, 3)), *functional.layers[1:]])
    targets = [0, 3, 1, 2]
    peer = _tfkv_saliency(functional)(CategoricalScore(targets), IMAGES)
    for model in (functional, sequential):
        ours = viz.normalize(saliency(model, IMAGES, targets), "minmax")
        np.testing.assert_allclose(ours, peer, atol=1e-4)
    wrapped = keras.Model(sequential.inputs, sequential.outputs)  # tf-keras-vis needs a functional model
    np.testing.assert_allclose(_tfkv_saliency(wrapped)(CategoricalScore(targets), IMAGES), peer, atol=1e-4)


def test_smoothgrad_agrees_with_tf_keras_vis_given_the_same_noise():
    from tf_keras_vis.utils.scores import CategoricalScore

    model = _relu_cnn()
    targets, n, level = [2, 0, 1, 3], 6, 0.2
    noise = np.random.RandomState(11).standard_normal((n, *IMAGES.shape))  # its np.random draws
    per_channel_magnitude = functools.partial(saliency, per_channel=True)  # |g| per channel
    for modifier, method in (("abs", per_channel_magnitude), (None, "gradient")):
        np.random.seed(11)
        kwargs = {} if modifier == "abs" else {"gradient_modifier": None}
        peer = _tfkv_saliency(model)(CategoricalScore(targets), IMAGES, smooth_samples=n,
                                     smooth_noise=level, **kwargs)
        ours = smoothgrad(model, IMAGES, targets, method=method, n_samples=n, sigma=level,
                          noise=noise, per_channel=True).max(-1)
        np.testing.assert_allclose(viz.normalize(ours, "minmax"), peer, atol=1e-4)
