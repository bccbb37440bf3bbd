"""Relevant units (Oramas et al. 2019) on a network built so that known units carry each class.

The network's "colours" layer has one unit per discriminative an8flower petal colour (a ReLU of
one minus the L1 distance of the pixel to that colour) plus distractor units for the stem's
green and the background's grey; the class score is the max-pooled response of the class's
colour unit. So the relevant units are known, removing one leaves its class with no evidence
(all scores tie: chance), and its response map is the petals.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from xaikit.data import an8flower
from xaikit.data.an8flower import PETAL_COLOURS_6C
from xaikit.interpretation.relevant_units import (
    RelevantUnits,
    explanation_by_interpretation,
    relevant_units,
    semantic_coverage,
    top_units_accuracy,
    unit_ablation,
    unit_responses,
)
from xaikit.metrics.ground_truth import feature_coverage

COLOURS = np.array([*PETAL_COLOURS_6C.values(), (0.35, 0.6, 0.25), (0.5, 0.5, 0.5)], np.float32)
N_CLASSES, RADIUS = 6, 0.35  # L1 radius: a lit petal stays inside, other colours outside


def colour_model(size: int = 32, pooling: str = "max") -> keras.Model:
    """The colour-unit network; ``pooling="mean"`` averages the units over space instead."""
    n = len(COLOURS)
    inputs = keras.Input((size, size, 3))
    diff = keras.layers.Conv2D(6 * n, 1, activation="relu", name="abs_parts")(inputs)
    units = keras.layers.Conv2D(n, 1, activation="relu", name="colours")(diff)
    pool = keras.layers.GlobalMaxPooling2D if pooling == "max" else keras.layers.GlobalAveragePooling2D
    pooled = pool(name="pool")(units)
    logits = keras.layers.Dense(N_CLASSES, name="logits")(pooled)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(logits))
    kernel, bias = np.zeros((1, 1, 3, 6 * n), np.float32), np.zeros(6 * n, np.float32)
    combine, offset = np.zeros((1, 1, 6 * n, n), np.float32), np.ones(n, np.float32)
    for c, colour in enumerate(COLOURS):
        for ch in range(3):  # |x - colour| = relu(x - colour) + relu(colour - x)
            for s, sign in enumerate((1.0, -1.0)):
                j = 6 * c + 2 * ch + s
                kernel[0, 0, ch, j], bias[j] = sign, -sign * colour[ch]
                combine[0, 0, j, c] = -1.0 / RADIUS
    model.get_layer("abs_parts").set_weights([kernel, bias])
    model.get_layer("colours").set_weights([combine, offset])
    dense = np.zeros((n, N_CLASSES), np.float32)
    dense[np.arange(N_CLASSES), np.arange(N_CLASSES)] = 5.0  # distractor units: weight 0
    model.get_layer("logits").set_weights([dense, np.zeros(N_CLASSES, np.float32)])
    return model


@pytest.fixture(scope="module")
def setting():
    data = an8flower("single-6c", n_per_class=12, size=32, seed=4)
    model = colour_model()
    return model, data, relevant_units(model, data, layers="colours")


def test_the_constructed_network_is_right_and_its_units_are_colour_detectors(setting):
    model, data, _ = setting
    assert (model.predict(data.images, verbose=0).argmax(1) == data.labels).mean() == 1.0
    responses, layers, sizes = unit_responses(model, data.images, layers="colours")
    assert layers == ["colours"] and sizes == [len(COLOURS)]
    own = responses[np.arange(len(data)), data.labels]
    assert own.min() > 0.3 and responses[:, :N_CLASSES].sum(1).max() < own.max() + 1e-6 + own.max()


def test_relevant_units_are_the_class_colour_units(setting):
    _, _, units = setting
    assert isinstance(units, RelevantUnits) and units.mu > 0
    for c in range(N_CLASSES):
        assert units.units[c][0] == c and units.weights[c][0] > 0
        positive = units.units[c][units.weights[c] > 0.05 * units.weights[c][0]]
        assert set(positive) == {c}, units.unit_names(units.units[c])
    assert units.unit_names([2, 7]) == ["colours:2", "colours:7"]
    assert {row["unit"] for row in units.to_rows() if row["rank"] == 0} == set(range(N_CLASSES))


def test_a_small_budget_keeps_one_unit_per_class(setting):
    model, data, _ = setting
    tight = relevant_units(model, data, layers="colours", mu=0.3)
    assert [u.tolist() for u in tight.units] == [[c] for c in range(N_CLASSES)]
    assert all(np.abs(w).sum() <= 0.3 + 1e-9 for w in tight.weights)
    with pytest.raises(ValueError, match="mu"):
        relevant_units(model, data, layers="colours", mu=-1.0)


def test_ablating_a_class_units_drops_its_accuracy_to_chance(setting):
    model, data, units = setting
    ablation = unit_ablation(model, data, units, max_units=1, n_random=4, seed=0)
    relevant, random = ablation.curve("relevant"), ablation.curve("random")
    assert relevant[0] == 1.0 and random[0] == 1.0
    # all scores tie (chance, 1/6), or a neighbouring colour's unit wins (0)
    assert relevant[1] <= 1.0 / N_CLASSES + 1e-9 and relevant[1] > 0.1
    assert random[1] > 0.5  # one random unit of 8 rarely is the class's own
    for c in range(N_CLASSES):
        assert ablation.relevant[data.labels == c, 1].max() <= 1.0 / N_CLASSES + 1e-9
    assert ablation.to_rows()[1]["removed"] == 1


def test_keeping_only_the_top_unit_of_each_class_keeps_the_accuracy(setting):
    model, data, units = setting
    rows = top_units_accuracy(model, data, units, ks=(1,))
    assert rows[0]["units_kept"] == N_CLASSES and rows[0]["accuracy"] == 1.0
    assert rows[-1]["k"] == "all" and rows[-1]["accuracy"] == 1.0


def test_explanation_by_interpretation_covers_the_petals(setting):
    model, data, units = setting
    maps = explanation_by_interpretation(model, data.images, units=units)
    assert maps.shape == data.images.shape[:3] and maps.min() >= 0
    coverage = feature_coverage(maps, data.masks, binarise="mean", thresholds=[0.5])
    assert np.median(coverage.iou) > 0.6
    wrong = explanation_by_interpretation(model, data.images, (data.labels + 1) % N_CLASSES,
                                          units=units)
    assert wrong.sum() < 0.05 * maps.sum()  # another class's units do not fire on these petals
    parts = {k: v for k, v in data.parts.items() if k != "background"}
    semantic = semantic_coverage(model, data.images, parts, units=units, binarise="mean",
                                 threshold=0.5)
    assert semantic.parts == ("stem", "leaves", "petals", "centre")
    assert (semantic.iou.argmax(axis=1) == 2).mean() > 0.9


def test_units_of_another_model_are_refused(setting):
    model, data, units = setting
    other = dataclasses.replace(units, sizes=(5,))  # as if from a model with 5 such units
    with pytest.raises(ValueError, match="relevant_units"):
        explanation_by_interpretation(model, data.images, units=other)
    with pytest.raises(TypeError, match="RelevantUnits"):
        unit_ablation(model, data, {"units": []})


def test_layer_segments_chain_back_to_the_model_and_refuse_skip_connections():
    from xaikit.core.segments import layer_segments

    model = colour_model(8)
    x = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32)
    segments, names = layer_segments(model, ["colours", "abs_parts"])
    assert names == ["abs_parts", "colours"] and len(segments) == 3
    y = x
    for segment in segments:
        y = segment(y)
    np.testing.assert_allclose(y, model(x), rtol=1e-6)
    inputs = keras.Input((8, 8, 3))
    branch = keras.layers.Conv2D(3, 3, padding="same", name="branch")(inputs)
    merged = keras.layers.Add()([branch, inputs])
    skip = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(merged)))
    with pytest.raises(ValueError, match="skip connection"):
        layer_segments(skip, ["branch"])


def test_sequential_models_give_the_same_units_and_nested_layers_a_clear_error(setting):
    model, data, units = setting
    sequential = keras.Sequential([keras.Input((32, 32, 3))] + [
        type(layer).from_config(layer.get_config()) for layer in model.layers[1:]])
    sequential.set_weights(model.get_weights())
    again = relevant_units(sequential, data, layers="colours")
    assert [u.tolist() for u in again.units] == [u.tolist() for u in units.units]
    nested = keras.Sequential([keras.Input((32, 32, 3)),
                               keras.Model(model.inputs, model.get_layer("colours").output),
                               *model.layers[-3:]])
    with pytest.raises(ValueError, match="nested"):
        relevant_units(nested, data, layers="colours")
