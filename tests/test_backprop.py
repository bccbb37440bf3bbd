"""Deconvnet and guided backprop: the ReLU rules on Kim's worked example, ReLU6, model safety."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xaikit.attribution import deconvnet, gradient, guided_backprop
from xaikit.core.gradients import rule_gradients
from xaikit.core.surgery import relu_override_model

# Kim (2019), "Interpretable Deep Learning", slides "Review: Backpropagation at ReLU" and "Deconvnet"
FORWARD = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], np.float32)  # f, the ReLU input
UPSTREAM = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], np.float32)  # R, the signal from above
EXPECTED = {
    "backprop": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
    "guided_backprop": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}


def _worked_example_model(form: str) -> keras.Model:
    """x (3, 3, 1) -> ReLU -> score = sum(R * relu(x)): the backward signal reaching the ReLU is R."""
    inputs = keras.Input((3, 3, 1))
    if form == "ReLU layer":
        x = keras.layers.ReLU()(inputs)
    elif form == "Activation('relu')":
        x = keras.layers.Activation("relu")(inputs)
    else:  # an identity 1x1 convolution with activation="relu"
        conv = keras.layers.Conv2D(1, 1, activation="relu", kernel_initializer="ones")
        x = conv(inputs)
    x = keras.layers.Flatten()(x)
    score = keras.layers.Dense(1, use_bias=False, name="logits")
    out = score(x)
    model = keras.Model(inputs, out)
    score.set_weights([UPSTREAM.reshape(9, 1)])
    return model


@pytest.mark.parametrize("form", ["ReLU layer", "Activation('relu')", "Conv2D(activation='relu')"])
def test_worked_relu_example_matches_kims_slides(form):
    model = _worked_example_model(form)
    image = FORWARD[None, :, :, None]
    backprop = gradient(model, image, 0)[0, :, :, 0]
    np.testing.assert_array_equal(backprop, EXPECTED["backprop"])
    for rule in ("deconvnet", "guided_backprop"):
        got = rule_gradients(model, image, 0, rule=rule)[0][0, :, :, 0]
        np.testing.assert_array_equal(got, EXPECTED[rule], err_msg=rule)
    signed = guided_backprop(model, image, 0, signed=True, per_channel=True)[0, :, :, 0]
    np.testing.assert_array_equal(signed, EXPECTED["guided_backprop"])
    np.testing.assert_array_equal(deconvnet(model, image, 0)[0], np.abs(EXPECTED["deconvnet"]))


# ReLU6 (MobileNet, EfficientNet-Lite): the guided rule keeps ReLU6's own gradient mask
# [0 < f < 6], so a unit saturated at 6 passes nothing back; deconvnet ignores the forward pass.
RELU6_FORWARD = np.array([[1, -1, 7], [2, -5, 6.5], [-3, 2, 4]], np.float32)
RELU6_EXPECTED = {
    "backprop": [[-2, 0, 0], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
    "guided_backprop": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}


@pytest.mark.parametrize("form", ["ReLU(max_value=6)", "Activation('relu6')",
                                  "Conv2D(activation='relu6')"])
def test_relu6_rules_keep_its_own_gradient_mask(form):
    inputs = keras.Input((3, 3, 1))
    if form == "ReLU(max_value=6)":
        x = keras.layers.ReLU(max_value=6)(inputs)
    elif form == "Activation('relu6')":
        x = keras.layers.Activation("relu6")(inputs)
    else:
        x = keras.layers.Conv2D(1, 1, activation="relu6", kernel_initializer="ones")(inputs)
    score = keras.layers.Dense(1, use_bias=False, name="logits")
    model = keras.Model(inputs, score(keras.layers.Flatten()(x)))
    score.set_weights([UPSTREAM.reshape(9, 1)])
    image = RELU6_FORWARD[None, :, :, None]
    np.testing.assert_array_equal(gradient(model, image, 0)[0, :, :, 0], RELU6_EXPECTED["backprop"])
    for rule in ("deconvnet", "guided_backprop"):
        got = rule_gradients(model, image, 0, rule=rule)[0][0, :, :, 0]
        np.testing.assert_array_equal(got, RELU6_EXPECTED[rule], err_msg=rule)
    forward = relu_override_model(model, "guided_backprop")(image)
    np.testing.assert_allclose(forward, model(image), rtol=1e-6)


def test_a_relu_with_another_cap_needs_the_opt_in():
    inputs = keras.Input((3, 3, 1))
    out = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.ReLU(max_value=3)(inputs)))
    with pytest.raises(ValueError, match=r"ReLU\(max_value=3"):
        relu_override_model(keras.Model(inputs, out), "guided_backprop")


def _small_cnn(activation: str = "relu") -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation=activation)(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(x))


def test_rewrite_leaves_user_model_unchanged_and_forward_identical():
    model = _small_cnn()
    images = np.random.default_rng(0).random((3, 10, 10, 3), dtype=np.float32)
    before = [w.copy() for w in model.get_weights()]
    n_layers = len(model.layers)
    prediction = model.predict(images, verbose=0)
    for rule in ("deconvnet", "guided_backprop"):
        rewritten = relu_override_model(model, rule)
        np.testing.assert_allclose(rewritten.predict(images, verbose=0), prediction, rtol=1e-5, atol=1e-6)
    guided_backprop(model, images)
    assert len(model.layers) == n_layers
    np.testing.assert_allclose(model.predict(images, verbose=0), prediction, rtol=1e-6)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_guided_backprop_differs_from_gradient_and_follows_weight_changes():
    model = _small_cnn()
    images = np.random.default_rng(1).random((2, 10, 10, 3), dtype=np.float32)
    guided = guided_backprop(model, images, 1, signed=True, per_channel=True)
    plain = gradient(model, images, 1)
    assert not np.allclose(guided, plain)
    # weights are shared, not copied: retraining the model changes the cached rewrite's maps
    model.set_weights([w * 1.5 for w in model.get_weights()])
    fresh = _small_cnn()
    fresh.set_weights(model.get_weights())
    np.testing.assert_allclose(
        guided_backprop(model, images, 1), guided_backprop(fresh, images, 1), rtol=1e-5, atol=1e-7
    )


def test_other_activations_need_an_explicit_opt_in():
    model = _small_cnn(activation="tanh")
    images = np.zeros((1, 10, 10, 3), np.float32)
    with pytest.raises(ValueError, match="allow_other_activations=True"):
        guided_backprop(model, images, 0)
    maps = guided_backprop(model, images + 0.5, 0, allow_other_activations=True)
    assert maps.shape == (1, 10, 10) and np.isfinite(maps).all()


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="allowed"):
        relu_override_model(_small_cnn(), "zennit")
