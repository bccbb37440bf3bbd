"""Input invariance (Kindermans et al. 2019) and completeness, on hand-built models whose answer
is known per method, and the bias-compensation construction behind input invariance."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xaikit.attribution import completeness_gap, integrated_gradients, lrp_details
from xaikit.core.shift import shift_compensated_model
from xaikit.metrics.axioms import INVARIANCE_TOLERANCE, completeness, input_invariance

SIZE, CLASSES, SHIFT = 8, 3, -1.0
RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0.0, 1.0, size=(5, SIZE, SIZE, 1)).astype(np.float32)


def _mlp(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="relu", bias_initializer="random_normal")(x)
    x = keras.layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax")(x))


def _valid_cnn(seed: int = 1) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, padding="valid", activation="relu", name="conv1",
                            bias_initializer="random_normal")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, name="logits")(x))


# Kindermans et al. (2019), Sec. 3-4: which methods survive a compensated mean shift
EXPECTED = {
    "gradient": ("gradient", {}, None, True),
    "saliency": ("saliency", {}, None, True),
    "smoothgrad": ("smoothgrad", {"n_samples": 4}, None, True),
    "guided_backprop": ("guided_backprop", {}, None, True),
    "gradient_x_input": ("gradient_x_input", {}, None, False),
    "ig_zero_baseline": ("integrated_gradients", {"baseline": 0.0, "steps": 16}, None, False),
    "ig_shifted_baseline": ("integrated_gradients", {"baseline": 0.0, "steps": 16},
                            {"baseline": SHIFT, "steps": 16}, True),
    "lrp_epsilon": ("lrp", {}, None, False),
    "deeplift_shifted_reference": ("deeplift", {"baseline": 0.0}, {"baseline": SHIFT}, True),
}


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_input_invariance_pattern_on_an_mlp(label):
    method, options, shifted, invariant = EXPECTED[label]
    d = input_invariance(_mlp(), IMAGES, method, shift=SHIFT, options=options,
                         shifted_options=shifted)
    assert d.shape == (len(IMAGES),) and d.dtype == np.float64
    if invariant:
        assert d.max() < INVARIANCE_TOLERANCE, d
    else:
        assert d.min() > 0.05, d


def test_grad_cam_is_input_invariant_on_a_valid_padded_cnn():
    d = input_invariance(_valid_cnn(), IMAGES, "grad_cam", shift=0.5)
    assert d.max() < INVARIANCE_TOLERANCE
    d = input_invariance(_valid_cnn(), IMAGES, "gradient_x_input", shift=0.5)
    assert d.min() > 0.05


def test_gradient_x_input_changes_by_exactly_the_shift_times_the_weights():
    inputs = keras.Input((SIZE, SIZE, 1))
    dense = keras.layers.Dense(CLASSES)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = RNG.normal(size=(SIZE * SIZE, CLASSES)).astype("float32")
    dense.set_weights([kernel, np.zeros(CLASSES, "float32")])
    d = input_invariance(model, IMAGES, "gradient_x_input", 0, shift=SHIFT)
    w = kernel[:, 0].reshape(1, SIZE, SIZE)
    before, after = IMAGES[..., 0] * w, (IMAGES[..., 0] + SHIFT) * w
    expected = (np.abs(SHIFT * w).reshape(1, -1).max(1)
                / np.maximum(np.abs(before), np.abs(after)).reshape(len(IMAGES), -1).max(1))
    np.testing.assert_allclose(d, expected, rtol=1e-5)


def test_the_compensated_model_gives_the_same_logits_and_leaves_the_model_alone():
    model = _mlp()
    weights = [w.copy() for w in model.get_weights()]
    shifted = shift_compensated_model(model, SHIFT)
    np.testing.assert_allclose(shifted(IMAGES + SHIFT), model(IMAGES), atol=1e-6)
    for old, new in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    per_channel = shift_compensated_model(_valid_cnn(), np.array([0.25]))
    np.testing.assert_allclose(per_channel(IMAGES + 0.25), _valid_cnn()(IMAGES), atol=1e-5)


def test_shifts_that_cannot_be_compensated_get_a_clear_error():
    inputs = keras.Input((SIZE, SIZE, 1))
    same = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(
        keras.layers.Conv2D(2, 3, padding="same", name="padded")(inputs))))
    with pytest.raises(ValueError, match="'padded'.*padding='same' pads with zeros"):
        input_invariance(same, IMAGES, "saliency")
    no_bias = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(2, use_bias=False, name="plain")])
    with pytest.raises(ValueError, match="'plain'.*no bias"):
        shift_compensated_model(no_bias, 1.0)
    pooled = keras.Sequential([keras.Input((SIZE, SIZE, 1)), keras.layers.MaxPooling2D(),
                               keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not an affine layer"):
        shift_compensated_model(pooled, 1.0)
    with pytest.raises(ValueError, match="not constant"):
        shift_compensated_model(_valid_cnn(), RNG.normal(size=(SIZE, SIZE, 1)))
    with pytest.raises(ValueError, match="shift"):
        shift_compensated_model(_mlp(), np.ones(3))


def test_completeness_reports_the_gaps_the_methods_report():
    model = _mlp(2)
    maps = integrated_gradients(model, IMAGES, steps=8)
    np.testing.assert_allclose(completeness(model, IMAGES, maps),
                               completeness_gap(model, IMAGES, maps), atol=1e-5)
    np.testing.assert_allclose(completeness(model, IMAGES, "deeplift"), 0.0, atol=1e-4)
    details = lrp_details(model, IMAGES, epsilon=0.0)
    np.testing.assert_allclose(completeness(model, IMAGES, details.maps, baseline=None),
                               -details.absorbed, atol=1e-4)


def test_completeness_of_gradient_x_input_on_a_linear_model_is_exact():
    inputs = keras.Input((SIZE, SIZE, 1))
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, use_bias=False)(
        keras.layers.Flatten()(inputs)))
    np.testing.assert_allclose(completeness(model, IMAGES, "gradient_x_input"), 0.0, atol=1e-5)
    assert np.abs(completeness(model, IMAGES, "saliency")).min() > 1e-3


def test_a_shift_that_bypasses_the_first_layer_is_detected():
    inputs = keras.Input((SIZE, SIZE, 1))
    flat = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(SIZE * SIZE, name="first")(flat)
    skip = keras.layers.Add()([hidden, flat])  # the shift reaches the logits around "first"
    model = keras.Model(inputs, keras.layers.Dense(CLASSES)(skip))
    with pytest.raises(ValueError, match="does not reproduce the logits.*'first'"):
        shift_compensated_model(model, SHIFT)
