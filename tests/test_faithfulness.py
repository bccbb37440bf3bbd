"""Faithfulness metrics on models with known answers (lesson 10).

On a linear model the score after removing a set S of pixels (to 0) is f(x) - sum_{i in S} g_i
with g = w * x summed over channels, so ordering the pixels by g is the best possible deletion
order at *every* step, a random order is worse and the reversed order the worst; insertion
mirrors it; correlation-type metrics of g are exactly 1 and the gradient's infidelity is 0.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xaikit.base.vocabulary import BASELINES
from xaikit.core.baselines import baseline_images
from xaikit.metrics import _removal
from xaikit.metrics.faithfulness import (
    abpc,
    aopc,
    deletion,
    faithfulness_correlation,
    infidelity,
    insertion,
    irof,
    monotonicity,
    pixel_flipping,
    region_perturbation,
    road,
    sensitivity_n,
    sufficiency,
)
from xaikit.metrics.road import noisy_linear_imputation

SIZE, N = 10, 6


@pytest.fixture(scope="module")
def linear():
    """f_0(x) = w . x (logits), f_1 = 0; softmax head; plus images and the ideal maps w * x."""
    generator = np.random.default_rng(0)
    weights = generator.normal(size=(SIZE, SIZE, 2))
    kernel = np.zeros((SIZE * SIZE * 2, 2), np.float32)
    kernel[:, 0] = weights.ravel()
    model = keras.Sequential([keras.Input((SIZE, SIZE, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(2, use_bias=False, name="logits"),
                              keras.layers.Activation("softmax")])
    model.layers[1].set_weights([kernel])
    images = generator.random((N, SIZE, SIZE, 2), dtype=np.float32)
    ideal = (weights[None] * images).sum(axis=-1)
    noise = generator.normal(size=ideal.shape)
    return model, images, ideal, noise


def _ordered(model, images, ideal, noise, metric, **options):
    """The metric's result for the ideal, random and reversed maps (targets: class 0)."""
    return [metric(model, images, maps, 0, **options) for maps in (ideal, noise, -ideal)]


@pytest.mark.parametrize("metric, options", [(deletion, {"baseline": "black"}),
                                             (pixel_flipping, {"pixels_per_step": 7})])
def test_ideal_order_deletes_fastest_at_every_step_and_reversed_slowest(linear, metric, options):
    best, random, worst = _ordered(*linear, metric, **options)
    assert (best.scores <= random.scores + 1e-9).all() and (random.scores <= worst.scores + 1e-9).all()
    assert (best.auc < random.auc).all() and (random.auc < worst.auc).all()
    np.testing.assert_allclose(best.scores[:, 0], worst.scores[:, 0])  # same start
    np.testing.assert_allclose(best.fractions[:, -1], 1.0)


def test_insertion_mirrors_deletion(linear):
    best, random, worst = _ordered(*linear, insertion, baseline="black")
    assert (best.scores >= random.scores - 1e-9).all() and (random.scores >= worst.scores - 1e-9).all()
    assert (best.auc > random.auc).all() and (random.auc > worst.auc).all()


def test_deletion_probabilities_are_the_softmax_of_the_remaining_logit(linear):
    model, images, ideal, _ = linear
    result = deletion(model, images[:1], ideal[:1], 0, pixels_per_step=SIZE * SIZE, baseline="black")
    assert result.scores.shape == (1, 2)
    expected = 1 / (1 + np.exp(-ideal[0].sum()))
    np.testing.assert_allclose(result.scores[0], [expected, 0.5], rtol=1e-5)
    np.testing.assert_allclose(result.auc, (expected + 0.5) / 2, rtol=1e-5)


def test_aopc_abpc_and_irof_prefer_the_ideal_order(linear):
    model, images, ideal, noise = linear
    options = {"baseline": "black", "patch": 2, "steps": None}
    assert (aopc(model, images, ideal, 0, **options) >= aopc(model, images, noise, 0, **options)
            - 1e-9).all()
    assert (abpc(model, images, ideal, 0, **options) > 0).all()
    assert (abpc(model, images, -ideal, 0, **options) < 0).all()
    best, worst = (irof(model, images, maps, 0, n_segments=12) for maps in (ideal, -ideal))
    assert best.mean() > worst.mean()


def test_region_perturbation_lerf_is_morf_of_the_reversed_map(linear):
    model, images, ideal, _ = linear
    lerf = region_perturbation(model, images, ideal, 0, order="lerf", patch=3)
    morf = region_perturbation(model, images, -ideal, 0, order="morf", patch=3)
    np.testing.assert_allclose(lerf.scores, morf.scores)
    assert lerf.scores.shape[1] == 16 + 1  # 4 x 4 regions of 3 px (the last ones narrower)


def test_exact_metrics_on_a_linear_model(linear):
    model, images, ideal, noise = linear
    np.testing.assert_allclose(faithfulness_correlation(model, images, ideal, 0), 1.0, atol=1e-6)
    assert (np.abs(faithfulness_correlation(model, images, noise, 0)) < 0.9).all()
    sensitivity = sensitivity_n(model, images, ideal, 0, ns=(1, 5, 40), n_samples=30)
    np.testing.assert_allclose(sensitivity.correlations, 1.0, atol=1e-6)
    gradient = np.broadcast_to(model.layers[1].get_weights()[0][:, 0].reshape(SIZE, SIZE, 2)
                               .sum(axis=-1), ideal.shape)
    np.testing.assert_allclose(infidelity(model, images, gradient, 0), 0.0, atol=1e-8)
    assert (infidelity(model, images, noise, 0) > 1e-3).all()


def test_monotonicity_of_an_all_positive_linear_model(linear):
    model, images, _, _ = linear
    positive = keras.models.clone_model(model)
    positive.set_weights([np.abs(w) for w in model.get_weights()])
    maps = np.abs(positive.get_weights()[0][:, 0]).reshape(SIZE, SIZE, 2)[None] * images
    np.testing.assert_array_equal(monotonicity(positive, images, maps.sum(-1), 0), 1.0)


def test_road_prefers_the_ideal_order_and_starts_from_the_image(linear):
    model, images, ideal, _ = linear
    best, worst = (road(model, images, maps, 0, fractions=(0.2, 0.5, 0.8), noise=0.0)
                   for maps in (ideal, -ideal))
    np.testing.assert_allclose(best.scores[:, 0], worst.scores[:, 0])
    assert (best.auc < worst.auc).all()


def test_noisy_linear_imputation_recovers_a_ramp_and_keeps_known_pixels():
    rows, cols = np.mgrid[:12, :12]
    ramp = (0.02 * rows + 0.05 * cols)[None, ..., None].astype(np.float32)
    removed = np.zeros((1, 12, 12), bool)
    removed[0, 3:9, 2:7] = True  # inside, a linear image is the mean of its 8 neighbours
    filled = noisy_linear_imputation(np.where(removed[..., None], 0.0, ramp), removed, noise=0.0)
    np.testing.assert_allclose(filled, ramp, atol=1e-5)
    corner = np.zeros((1, 12, 12), bool)
    corner[0, :2, :3] = True  # at the border the neighbour weights are renormalised
    flat = np.full((1, 12, 12, 2), 0.4, np.float32)
    filled = noisy_linear_imputation(np.where(corner[..., None], 0.0, flat), corner, noise=0.0)
    np.testing.assert_allclose(filled, flat, atol=1e-6)
    noisy = noisy_linear_imputation(ramp, removed, noise=0.01, seed=1)
    np.testing.assert_array_equal(noisy[~removed], ramp[~removed])


def test_the_blur_is_petsiuks_normalised_11_by_11_gaussian():
    flat = np.full((1, 16, 16, 3), 0.3, np.float32)
    np.testing.assert_allclose(_removal.blur(flat), flat, atol=1e-6)
    impulse = np.zeros((1, 21, 21, 1), np.float32)
    impulse[0, 10, 10, 0] = 1.0
    kernel = _removal.blur(impulse)[0, ..., 0]
    assert np.count_nonzero(kernel > 1e-12) == 11 * 11
    assert kernel[10, 10] == kernel.max() and abs(kernel.sum() - 1.0) < 1e-6


def test_metric_baselines_speak_the_methods_vocabulary():
    images = np.random.default_rng(1).random((3, 12, 12, 3), dtype=np.float32)
    for name in BASELINES:  # the methods' names mean what they mean for the methods
        np.testing.assert_array_equal(_removal.removal_baselines(images, name, seed=4),
                                      baseline_images(images, name, seed=4))
    for value in (0.25, np.array([0.1, 0.2, 0.3])):
        np.testing.assert_array_equal(_removal.removal_baselines(images, value),
                                      baseline_images(images, value))
    petsiuk = _removal.removal_baselines(images, "petsiuk_blur")
    np.testing.assert_array_equal(petsiuk, _removal.blur(images))
    assert not np.allclose(petsiuk, baseline_images(images, "blurred"))  # a different kernel
    noise = _removal.removal_baselines(images, "uniform_noise", seed=4)
    np.testing.assert_array_equal(noise[0], noise[2])  # one draw shared by every image
    np.testing.assert_array_equal(noise[:1], _removal.removal_baselines(images[:1],
                                                                        "uniform_noise", seed=4))


def test_perturbed_images_of_all_images_and_steps_share_compiled_calls(linear):
    """N images at S + 1 steps cost ceil(N (S + 1) / batch_size) scorer calls, not N (S + 1)."""
    model, images, ideal, _ = linear
    prepared = _removal.prepare(model, images, ideal, 0, on="probabilities", batch_size=16,
                                seed=0)
    calls = []

    def counting(x, w):
        calls.append(len(x))
        return prepared.score(x, w)

    counted = _removal.Prepared(prepared.model, prepared.images, prepared.maps, prepared.weights,
                                prepared.classes, counting)
    counts = _removal.step_counts(SIZE * SIZE, 10)
    ranks = _removal.pixel_ranks(ideal)
    _removal.removal_curves(counted, images, np.zeros_like(images), ranks, counts, 16)
    assert sum(calls) == N * len(counts) and len(calls) == -(-N * len(counts) // 16)


def test_ties_are_broken_at_random_not_in_raster_order():
    ranks = _removal.pixel_ranks(np.zeros((2, 8, 8)), seed=0)
    assert (ranks[0] == ranks[1]).all(), "the same order for every image (batch-invariant)"
    assert not (ranks[0].ravel() == np.arange(64)).all()


def test_sufficiency_counts_images_with_equal_maps():
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.set_weights([np.concatenate([np.ones((16, 1)), -np.ones((16, 1))], axis=1),
                       np.array([-8.0, 8.0])])
    images = np.stack([np.full((4, 4, 1), v, np.float32) for v in (0.0, 0.1, 0.9, 1.0)])
    maps = np.stack([np.eye(4)] * 3 + [np.ones((4, 4))])
    result = sufficiency(model, images, maps, threshold=0.05)
    np.testing.assert_array_equal(result.neighbours, [3, 3, 3, 1])
    np.testing.assert_allclose(result.scores, [2 / 3, 2 / 3, 1 / 3, 1.0])


def test_bad_options_get_clear_errors(linear):
    model, images, ideal, _ = linear
    with pytest.raises(ValueError, match="baseline"):
        deletion(model, images, ideal, baseline="purple")
    with pytest.raises(ValueError, match="order"):
        region_perturbation(model, images, ideal, order="middle")
    with pytest.raises(ValueError, match="fractions"):
        road(model, images, ideal, fractions=(0.5, 1.0))
    with pytest.raises(ValueError, match="on"):
        deletion(model, images, ideal, on="softmax")
