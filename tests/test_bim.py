"""BIM (Yang & Kim 2019): the object/scene generator and the relative-importance metrics.

The end-to-end test uses two networks built by hand on the generator's images: an "object model"
that only sees the near-white pasted object and the colour-unit "scene model" of
``test_relevant_units`` (averaged over space) that only sees petal colours. Which pixels matter to each is known, so
gradient maps must give the object more of their mass under the object model (model contrast
score > 0), and a map that ignores the model must score 0.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from test_relevant_units import colour_model

from xaikit.attribution import saliency
from xaikit.data import object_scene
from xaikit.data.object_scene import PART_NAMES
from xaikit.metrics.bim import (
    input_dependence,
    input_independence,
    model_contrast_score,
    region_share,
)


@pytest.fixture(scope="module")
def pair():
    kwargs = dict(n_per_pair=2, size=48, seed=7)
    return object_scene("object", **kwargs), object_scene("scene", with_objects=False, **kwargs)


def test_generator_is_deterministic_balanced_and_its_counterfactual_differs_only_under_the_object(pair):
    with_object, without = pair
    again = object_scene("object", n_per_pair=2, size=48, seed=7)
    np.testing.assert_array_equal(again.images, with_object.images)
    counts = np.zeros((5, 6), int)
    np.add.at(counts, (with_object.meta["object_labels"], with_object.meta["scene_labels"]), 1)
    assert (counts == 2).all()
    assert with_object.class_names[0] == "circle" and without.class_names[0] == "red"
    np.testing.assert_array_equal(without.labels, with_object.meta["scene_labels"])
    np.testing.assert_array_equal(with_object.masks, without.masks)
    changed = np.abs(with_object.images - without.images).max(axis=-1) > 0
    assert not (changed & ~with_object.masks).any() and changed[with_object.masks].mean() > 0.95
    stacked = np.stack([with_object.parts[name] for name in PART_NAMES])
    assert (stacked.sum(axis=0) == 1).all()
    np.testing.assert_array_equal(with_object.parts["object"], with_object.masks)
    assert not without.parts["object"].any()
    assert (without.parts["petals"] & without.masks).any()  # the object hides some petals
    with pytest.raises(ValueError, match="labeling"):
        object_scene("colour")


def test_metrics_on_hand_made_maps():
    masks = np.zeros((3, 2, 2), bool)
    masks[:, 0, 0] = True
    on, off = np.array([[4.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 4.0]])
    maps, reference = np.stack([on, off, on]), np.stack([off, on, on])
    np.testing.assert_allclose(region_share(maps, masks), [0.8, 0.2, 0.8])
    np.testing.assert_allclose(model_contrast_score(maps, reference, masks), [0.6, -0.6, 0.0])
    np.testing.assert_array_equal(input_dependence(maps, reference, masks), [0.0, 1.0, 0.5])
    np.testing.assert_array_equal(input_independence(maps * 1.05, maps), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(input_independence(maps, reference, threshold=0.5),
                                  [0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="all-zero"):
        input_independence(maps, np.zeros_like(maps))
    with pytest.raises(ValueError, match="reference"):
        model_contrast_score(maps, reference[:2], masks)


def _object_model(size: int) -> keras.Model:
    """Five logits from the mean of relu(brightness - 0.85): it sees only near-white pixels."""
    inputs = keras.Input((size, size, 3))
    bright = keras.layers.Conv2D(1, 1, activation="relu", name="bright")(inputs)
    logits = keras.layers.Dense(5, name="logits")(keras.layers.GlobalAveragePooling2D()(bright))
    model = keras.Model(inputs, logits)
    model.get_layer("bright").set_weights([np.full((1, 1, 3, 1), 1 / 3, np.float32),
                                           np.array([-0.85], np.float32)])
    model.get_layer("logits").set_weights([np.linspace(1, 5, 5, dtype=np.float32)[None],
                                           np.zeros(5, np.float32)])
    return model


def test_gradients_follow_each_model_and_a_model_blind_map_scores_zero(pair):
    with_object, without = pair
    images, masks = with_object.images, with_object.masks
    object_maps = saliency(_object_model(48), images, 4)
    scene_model = colour_model(48, pooling="mean")  # every petal pixel gets a gradient
    scene_maps = saliency(scene_model, images, with_object.meta["scene_labels"])
    contrast = model_contrast_score(object_maps, scene_maps, masks)
    assert contrast.mean() > 0.5 and (contrast > 0).mean() > 0.9
    blind = images.mean(axis=-1)  # the same map whichever model is explained
    np.testing.assert_array_equal(model_contrast_score(blind, blind, masks), 0.0)
    # the scene model gives the covered petals weight without the object, none with it
    hides = (without.parts["petals"] & masks).sum(axis=(1, 2)) > 10
    scene_without = saliency(scene_model, without.images, without.labels)
    dependence = input_dependence(scene_maps, scene_without, masks)
    assert dependence[hides].mean() > 0.9
