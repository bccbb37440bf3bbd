"""Weakly supervised localisation scores (lesson 02) and class model visualisation (Eq. 1)."""

from __future__ import annotations

import numpy as np
import pytest

from xaikit.metrics.ground_truth import box_from_map, box_iou, localisation_scores


def test_box_iou_on_worked_examples():
    a = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [2, 2, 4, 4], [3, 1, 7, 9]], float)
    b = np.array([[1, 1, 3, 3], [0, 2, 2, 4], [0, 0, 8, 8], [3, 1, 7, 9]], float)
    np.testing.assert_allclose(box_iou(a, b), [1 / 7, 0.0, 4 / 64, 1.0])


def test_box_of_the_largest_hot_component_ignores_isolated_pixels():
    maps = np.zeros((2, 16, 16))
    maps[0, 3:7, 9:14] = 1.0
    maps[1, 10:15, 1:4] = 2.0
    maps[:, 0, 0] = 5.0  # the single hottest pixel, far from the blob
    np.testing.assert_array_equal(box_from_map(maps, quantile=0.9),
                                  [[3, 9, 7, 14], [10, 1, 15, 4]])
    np.testing.assert_array_equal(box_from_map(maps, quantile=0.9, component="all"),
                                  [[0, 0, 7, 14], [0, 0, 15, 4]])


def test_localisation_scores_hits_and_pointing():
    maps = np.zeros((3, 16, 16))
    maps[0, 3:7, 9:14] = 1.0  # on the box
    maps[1, 10:14, 0:4] = 1.0  # elsewhere
    maps[2, 3:7, 9:14] = 1.0
    maps[2, 15, 15] = 9.0  # box right, peak wrong
    boxes = np.tile([3.0, 9.0, 7.0, 14.0], (3, 1))
    scores = localisation_scores(maps, boxes, quantile=0.9)
    np.testing.assert_allclose(scores["iou"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(scores["hit"], [True, False, True])
    np.testing.assert_array_equal(scores["pointing"], [True, False, False])


def test_bad_input_says_what_is_allowed():
    with pytest.raises(ValueError, match=r"expected maps \(N, H, W\)"):
        box_from_map(np.zeros((16, 16)))
    with pytest.raises(ValueError, match=r"expected \(2, 4\)"):
        localisation_scores(np.zeros((2, 8, 8)), np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match=r"allowed: 'largest', 'all'"):
        box_from_map(np.zeros((1, 8, 8)), component="biggest")
    with pytest.raises(ValueError, match=r"quantile=1.5"):
        box_from_map(np.zeros((1, 8, 8)), quantile=1.5)


def test_class_model_of_a_linear_score_is_the_regularised_optimum():
    """For S_c = w_c . I + b, Eq. (1) has the closed-form optimum I* = w_c / (2 lambda)."""
    import keras

    from xaikit.interpretation.maximization import class_model_visualisation

    kernel = np.random.default_rng(0).normal(size=(4 * 4 * 3, 2)).astype(np.float32)
    inputs = keras.Input((4, 4, 3))
    dense = keras.layers.Dense(2, name="logits")
    model = keras.Model(inputs, keras.layers.Activation("softmax")(
        dense(keras.layers.Flatten()(inputs))))
    dense.set_weights([kernel, np.array([0.3, -0.2], np.float32)])
    l2 = 0.5
    images = class_model_visualisation(model, [0, 1], l2=l2, steps=400, learning_rate=0.01,
                                       mean_image=0.25)
    optimum = kernel.T.reshape(2, 4, 4, 3) / (2 * l2)
    np.testing.assert_allclose(images - 0.25, optimum, atol=0.03)
