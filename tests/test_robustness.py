"""Robustness metrics and the fragility attack (lesson 11) on constructed cases."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xaikit.core.softplus import softplus_model
from xaikit.metrics import robustness
from xaikit.metrics.fragility import centre_of_mass, fragility
from xaikit.metrics.robustness import (
    avg_sensitivity,
    local_lipschitz,
    max_sensitivity,
    relative_input_stability,
    relative_output_stability,
)

SIZE = 8


@pytest.fixture(scope="module")
def setting():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((SIZE, SIZE, 1)),
                              keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3),
                              keras.layers.Activation("softmax")])
    images = 0.2 + 0.6 * np.random.default_rng(0).random((4, SIZE, SIZE, 1), dtype=np.float32)
    return model, images


def constant(model, images, targets=None):
    return np.ones(np.shape(images)[:3])


def doubled(model, images, targets=None):
    return 2.0 * np.asarray(images)[..., 0]


def identity(model, images, targets=None):
    return np.asarray(images, np.float64)[..., 0]


def test_a_constant_explanation_has_zero_sensitivity(setting):
    model, images = setting
    np.testing.assert_array_equal(max_sensitivity(model, images, constant), 0.0)
    np.testing.assert_array_equal(avg_sensitivity(model, images, constant), 0.0)
    np.testing.assert_array_equal(local_lipschitz(model, images, constant), 0.0)


def test_sensitivity_and_lipschitz_of_a_linear_explanation(setting):
    model, images = setting
    radius = 0.01
    np.testing.assert_allclose(local_lipschitz(model, images, doubled, radius=radius), 2.0,
                               rtol=1e-5)
    ratio = max_sensitivity(model, images, doubled, radius=radius, n_samples=20)
    bound = radius * SIZE / np.sqrt((images[..., 0] ** 2).sum(axis=(1, 2)))
    assert (ratio <= bound + 1e-9).all() and (ratio > 0.3 * bound).all()
    assert (avg_sensitivity(model, images, doubled, radius=radius) <= ratio).all()


def test_relative_stability_of_the_identity_explanation_is_one(setting):
    model, images = setting
    np.testing.assert_allclose(relative_input_stability(model, images, identity, radius=0.005),
                               1.0, rtol=1e-4)
    assert np.isfinite(relative_output_stability(model, images, identity, radius=0.005)).all()


def test_robustness_metrics_refuse_precomputed_maps(setting):
    model, images = setting
    with pytest.raises(TypeError, match="maps_or_method"):
        max_sensitivity(model, images, np.zeros((4, SIZE, SIZE)))


def test_softplus_twin_is_a_copy_that_tends_to_the_relu_model(setting):
    model, images = setting
    before = [w.copy() for w in model.get_weights()]
    sharp, soft = softplus_model(model, beta=1e3), softplus_model(model, beta=1.0)
    np.testing.assert_allclose(sharp(images), model(images), atol=1e-3)
    assert np.abs(np.asarray(soft(images)) - np.asarray(model(images))).max() > 1e-3
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)  # the user's model is untouched
    assert all(a is not b for a, b in zip(model.weights, sharp.weights))  # copies, not shared


def test_centre_of_mass_in_pixels():
    maps = np.zeros((2, 5, 7))
    maps[0, 1, 2] = 3.0
    maps[1, 4, :] = -1.0
    np.testing.assert_allclose(centre_of_mass(maps), [[1.0, 2.0], [4.0, 3.0]])
    np.testing.assert_allclose(centre_of_mass(np.zeros((1, 5, 7))), [[2.0, 3.0]])


def test_fragility_stays_in_budget_and_keeps_the_label(setting):
    model, images = setting
    epsilon = 4 / 255
    result = fragility(model, images, "saliency", epsilon=epsilon, iterations=4)
    assert result.perturbations == ("random", "top_k", "centre_of_mass")
    assert (result.linf <= epsilon + 1e-6).all()
    assert not result.label_changed[1:].any(), "attack steps that change the label are refused"
    assert ((result.top_k_intersection >= 0) & (result.top_k_intersection <= 1)).all()
    rows = result.to_rows()
    assert len(rows) == 3 * len(images) and {"spearman", "centre_shift"} <= set(rows[0])


def test_fragility_attacks_need_a_differentiable_method(setting):
    model, images = setting
    with pytest.raises(ValueError, match="grad_cam"):
        fragility(model, images, "grad_cam")
    fragility(model, images, "grad_cam", perturbations=("random",))


def test_stability_gives_the_separate_measures_from_one_set_of_perturbations(setting):
    model, images = setting
    together = robustness.stability(model, images, doubled, radius=0.01, n_samples=4)
    for name, function in (("max_sensitivity", max_sensitivity),
                           ("avg_sensitivity", avg_sensitivity),
                           ("local_lipschitz", local_lipschitz),
                           ("relative_input_stability", relative_input_stability),
                           ("relative_output_stability", relative_output_stability)):
        np.testing.assert_allclose(together.scores[name],
                                   function(model, images, doubled, radius=0.01, n_samples=4))
    assert len(together.to_rows()) == len(images)
