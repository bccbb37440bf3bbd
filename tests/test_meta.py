"""Meta-evaluation: the random control, Kendall's tau, coherency and baseline sensitivity."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy import stats

from xaikit.metrics.meta import (
    baseline_sensitivity,
    kendall_tau,
    metric_coherency,
    random_map,
    transform_maps,
)


@pytest.fixture(scope="module")
def setting():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)),
                              keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(2),
                              keras.layers.Activation("softmax")])
    images = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    return model, images


def test_kendall_tau_is_scipys_tau_b():
    generator = np.random.default_rng(0)
    first = generator.integers(0, 4, size=(50, 6)).astype(float)
    second = generator.integers(0, 4, size=(50, 6)).astype(float)
    expected = [stats.kendalltau(a, b).statistic for a, b in zip(first, second)]
    np.testing.assert_allclose(kendall_tau(first, second), np.nan_to_num(expected), atol=1e-12)
    assert kendall_tau(np.arange(5.0), -np.arange(5.0)) == -1.0
    assert np.isnan(kendall_tau(np.array([1.0, np.nan]), np.array([1.0, 2.0])))


def test_transforms_keep_the_top_pixels():
    maps = np.arange(10.0).reshape(1, 2, 5)
    np.testing.assert_array_equal(transform_maps(maps, "binarise", fraction=0.2).ravel(),
                                  [0] * 8 + [1, 1])
    np.testing.assert_array_equal(transform_maps(maps, "sparsify", fraction=0.2).ravel(),
                                  [0] * 8 + [8, 9])
    assert transform_maps(maps, "none") is maps


def test_random_control_is_seeded_noise(setting):
    model, images = setting
    first, again = random_map(model, images, seed=1), random_map(model, images, seed=1)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (3, 8, 8) and 0 <= first.min() and first.max() < 1


def test_a_metric_is_coherent_with_itself_and_tables_are_tidy(setting):
    model, images = setting
    methods = {"saliency": "saliency", "gxi": "gradient_x_input", "random": random_map}
    result = metric_coherency(model, images, methods, metrics=["deletion", "deletion",
                                                               "sparseness"],
                              metric_options={"deletion": {"pixels_per_step": 16}})
    tau = result.tau["none"]
    np.testing.assert_allclose(tau[0, 1], 1.0)
    assert result.goodness["binarise"].shape == (3, 3, 3)
    assert {row["transform"] for row in result.to_rows()} == {"none", "binarise"}
    assert set(result.agreement()) == {"deletion", "sparseness"}


def test_baseline_sensitivity_scores_every_baseline(setting):
    model, images = setting
    methods = {"saliency": "saliency", "random": random_map}
    result = baseline_sensitivity(model, images, methods, metric="deletion",
                                  metric_options={"pixels_per_step": 16})
    assert result.goodness.shape == (4, 2, 3) and result.tau.shape == (4, 4, 3)
    untied = result.goodness[:, 0] != result.goodness[:, 1]  # (baselines, images)
    np.testing.assert_array_equal(np.diagonal(result.tau).T[untied], 1.0)  # tau(r, r) = 1
    assert untied.any()
    assert sorted(result.ranks()[0]) == [1, 2]
    with pytest.raises(ValueError, match="baseline"):
        baseline_sensitivity(model, images, methods, metric="sparseness")
