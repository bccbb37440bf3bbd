"""Relevance propagation: LRP conservation, LRP-0 = gradient x input, DeepLIFT summation-to-delta."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from xaikit.attribution import deep_taylor, deeplift, deeplift_details, gradient, lrp, lrp_details

IMAGES = np.random.default_rng(0).random((4, 12, 12, 3), dtype=np.float32)


def _cnn(bias: bool, seed: int = 1) -> keras.Model:
    """Conv-relu, maxpool, conv, BatchNorm, ReLU, avgpool, flatten, dense-relu, dropout, logits."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", use_bias=bias)(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, use_bias=bias)(x)
    x = keras.layers.BatchNormalization(center=bias)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(10, activation="relu", use_bias=bias)(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Dense(4, use_bias=bias, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(x))
    batch_norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    n = 8
    weights = [rng.uniform(0.5, 2.0, n).astype("float32")]  # gamma
    if bias:
        weights.append(rng.normal(0, 0.3, n).astype("float32"))  # beta
        weights += [rng.normal(0, 0.3, n).astype("float32"), rng.uniform(0.5, 2, n).astype("float32")]
    else:
        weights += [np.zeros(n, "float32"), rng.uniform(0.5, 2, n).astype("float32")]
    batch_norm.set_weights(weights)
    if bias:
        for layer in model.layers:
            if getattr(layer, "use_bias", False) and hasattr(layer, "bias"):
                layer.bias.assign(rng.normal(0, 0.2, layer.bias.shape).astype("float32"))
    return model


def _logits(model, images):
    return keras.Model(model.inputs[0], model.get_layer("logits").output)(images).numpy()


@pytest.mark.parametrize("rule", ["epsilon", "alpha_beta", "zplus"])
def test_lrp_conserves_relevance_on_a_bias_free_net(rule):
    model = _cnn(bias=False)
    details = lrp_details(model, IMAGES, 2, rule=rule, epsilon=0.0)
    logits = _logits(model, IMAGES)[:, 2]
    np.testing.assert_allclose(details.score, logits, rtol=1e-5)
    np.testing.assert_allclose(details.total, logits, atol=1e-4 * max(1.0, np.abs(logits).max()))
    np.testing.assert_allclose(details.maps.sum(axis=(1, 2)), details.total, rtol=1e-5, atol=1e-6)


def test_lrp_zero_equals_gradient_times_input_on_a_bias_free_relu_net():
    model = _cnn(bias=False)
    relevance = lrp_details(model, IMAGES, 1, epsilon=0.0).relevance
    expected = gradient(model, IMAGES, 1) * IMAGES
    np.testing.assert_allclose(relevance, expected, atol=1e-5 * np.abs(expected).max())


def test_lrp_reports_the_share_absorbed_by_the_bias():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    kernel, bias = model.get_weights()
    model.set_weights([kernel, np.array([0.7, -0.3], "float32")])
    details = lrp_details(model, IMAGES[:2, :4, :4, :1], 0, epsilon=0.0)
    np.testing.assert_allclose(details.absorbed, 0.7, atol=1e-5)
    np.testing.assert_allclose(details.relevance[..., 0].reshape(2, -1),
                               IMAGES[:2, :4, :4, 0].reshape(2, -1) * kernel[:, 0], atol=1e-6)


def test_lrp_on_a_biased_net_does_not_conserve_and_says_how_much():
    model = _cnn(bias=True)
    details = lrp_details(model, IMAGES, 0)
    np.testing.assert_allclose(details.score - details.total, details.absorbed, atol=1e-6)
    assert np.abs(details.absorbed).max() > 1e-3


def test_contrastive_targets_conserve_the_score_difference():
    model = _cnn(bias=False)
    details = lrp_details(model, IMAGES, (0, 3), epsilon=0.0)
    logits = _logits(model, IMAGES)
    np.testing.assert_allclose(details.total, logits[:, 0] - logits[:, 3], atol=1e-4)


def test_deep_taylor_is_zplus_with_zb_at_the_pixels_and_conserves():
    model = _cnn(bias=False)
    maps = deep_taylor(model, IMAGES, 1)
    logits = _logits(model, IMAGES)[:, 1]
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), logits, atol=1e-4)
    same = lrp(model, IMAGES, 1, rule="zplus", rules={0: "zb"})
    np.testing.assert_allclose(maps, same)
    assert not np.allclose(maps, lrp(model, IMAGES, 1, rule="zplus"))
    wider = deep_taylor(model, IMAGES, 1, low=-0.5, high=1.5)  # both bound terms active
    np.testing.assert_allclose(wider.sum(axis=(1, 2)), logits, atol=1e-4)
    assert not np.allclose(wider, maps)


def test_gamma_rule_moves_towards_positive_contributions():
    model = _cnn(bias=False)
    eps = lrp_details(model, IMAGES, 1, epsilon=0.0).relevance
    gamma = lrp_details(model, IMAGES, 1, rule="gamma", gamma=100.0).relevance
    zplus = lrp_details(model, IMAGES, 1, rule="zplus").relevance
    assert np.abs(gamma - zplus).mean() < np.abs(eps - zplus).mean()


@pytest.mark.parametrize("baseline", [0.0, 0.3, "random"])
def test_deeplift_sums_to_delta(baseline):
    model = _cnn(bias=True)
    reference = (np.random.default_rng(3).random(IMAGES.shape, dtype=np.float32)
                 if baseline == "random" else baseline)
    details = deeplift_details(model, IMAGES, 2, baseline=reference)
    logits = _logits(model, IMAGES)[:, 2]
    expected = logits - _logits(model, np.broadcast_to(np.float32(reference), IMAGES.shape))[:, 2]
    np.testing.assert_allclose(details.score, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(details.total, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_deeplift_rescale_differs_from_the_gradient_on_a_saturated_relu():
    # f(x) = relu(x1 + x2 - 1): at x = (1, 1) from x0 = 0 the rescale multiplier is 1/2 per input
    inputs = keras.Input((1, 2, 1))
    hidden = keras.layers.Dense(1, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.set_weights([np.ones((2, 1), "float32"), np.array([-1.0], "float32"),
                       np.ones((1, 1), "float32"), np.zeros(1, "float32")])
    contributions = deeplift(model, np.ones((1, 1, 2, 1), "float32"), 0)
    np.testing.assert_allclose(contributions[0, 0], [0.5, 0.5], atol=1e-6)


def test_sequential_and_nested_models_give_the_functional_result():
    model = _cnn(bias=True)
    expected = lrp(model, IMAGES, 1)
    sequential = keras.Sequential([keras.Input((12, 12, 3)), *model.layers[1:]])
    np.testing.assert_allclose(lrp(sequential, IMAGES, 1), expected, atol=1e-6)
    backbone = keras.Model(model.inputs, model.layers[-4].output)
    nested = keras.Sequential([keras.Input((12, 12, 3)), backbone, *model.layers[-3:]])
    np.testing.assert_allclose(lrp(nested, IMAGES, 1), expected, atol=1e-6)


def test_unsupported_layer_is_named_with_the_supported_list():
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.LeakyReLU(name="leaky")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))
    with pytest.raises(ValueError, match=r"'leaky' \(LeakyReLU\).*supported: Conv2D, Dense"):
        lrp(model, IMAGES[:1, :6, :6, :1])
    with pytest.raises(ValueError, match="'leaky'"):
        deeplift(model, IMAGES[:1, :6, :6, :1])


def test_branching_model_and_bad_rules_are_rejected():
    inputs = keras.Input((6, 6, 1))
    a = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    merged = keras.layers.Add(name="add")([a, inputs])
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(merged)))
    with pytest.raises(ValueError, match="linear-chain"):
        lrp(model, IMAGES[:1, :6, :6, :1])
    cnn = _cnn(bias=False)
    with pytest.raises(ValueError, match="'nope' is not allowed"):
        lrp(cnn, IMAGES, rule="nope")
    with pytest.raises(ValueError, match="neither a layer name"):
        lrp(cnn, IMAGES, rules={"missing": "gamma"})
    with pytest.raises(ValueError, match="out of range"):
        lrp(cnn, IMAGES, rules={7: "gamma"})
    with pytest.raises(ValueError, match="first layer only"):
        lrp(cnn, IMAGES, rule="zb")
    with pytest.raises(ValueError, match="does not broadcast"):
        deeplift(cnn, IMAGES, baseline=np.zeros((5, 5)))


def test_many_rule_settings_and_batch_sizes_never_retrace():
    """One graph per (model, rules, image shape), traced once for every batch size: TensorFlow's
    "triggered tf.function retracing" warning (5 traces of one function in a row) never fires,
    whatever the number of rule settings a lesson sweeps (lesson 07 sweeps epsilon)."""
    import logging

    import tensorflow as tf

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    tf.get_logger().addHandler(handler)
    try:
        model = _cnn(bias=True)
        images = np.concatenate([IMAGES, IMAGES[:3]])  # 7 images: a short last batch
        for epsilon in (0.0, 1e-3, 1e-2, 0.1, 0.25, 1.0):
            lrp(model, images, 1, epsilon=epsilon, batch_size=3)
        lrp(model, images, 1, epsilon=0.0, batch_size=2)
        for baseline in ("black", "random"):
            deeplift(model, images, 1, baseline=baseline, batch_size=3)
    finally:
        tf.get_logger().removeHandler(handler)
    assert not [r for r in records if "retracing" in r], records
