"""Randomisation tests (Adebayo et al. 2018; Sixt et al. 2020; Hedström et al. 2024) on models
with known answers, and the machinery they rest on (copy, re-initialise in place, no retracing)."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from xaikit.attribution import gradient, guided_backprop, lrp
from xaikit.core import batching, cached
from xaikit.core.weights import copy_model, layer_seed, reinitialise, weighted_layers
from xaikit.metrics import randomisation
from xaikit.metrics.randomisation import (
    cascading_randomisation,
    data_randomisation,
    efficient_mprt,
    independent_randomisation,
    random_logit,
    smooth_mprt,
)
from xaikit.metrics.similarity import spearman

SIZE, CLASSES = 12, 4
RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0.1, 1.0, size=(6, SIZE, SIZE, 1)).astype(np.float32)


def _last_layer_model() -> keras.Model:
    """The class lives in the last layer alone: an identity ReLU layer, then the logits."""
    pixels = SIZE * SIZE
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(pixels, activation="relu", kernel_initializer="identity",
                           name="identity")(x)
    logits = keras.layers.Dense(CLASSES, name="logits")(x)
    model = keras.Model(inputs, keras.layers.Activation("softmax")(logits))
    model.get_layer("logits").set_weights([RNG.normal(size=(pixels, CLASSES)).astype("float32"),
                                           np.zeros(CLASSES, "float32")])
    return model


def _cnn(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, name="logits")(x))


def test_randomising_the_class_layer_changes_the_gradient_completely():
    model = _last_layer_model()
    targets = np.arange(len(IMAGES)) % CLASSES
    result = cascading_randomisation(model, IMAGES, gradient, targets, layers=["logits"],
                                     similarities=("spearman",), seed=3)
    kernel = model.get_layer("logits").get_weights()[0]
    np.testing.assert_allclose(result.maps["gradient"][0],
                               kernel[:, targets].T.reshape(-1, SIZE, SIZE), rtol=1e-5)
    twin = copy_model(model)
    position = [layer.name for layer in weighted_layers(twin)].index("logits")
    reinitialise(twin.get_layer("logits"), layer_seed(3, position))
    new_kernel = twin.get_layer("logits").get_weights()[0]
    assert not np.allclose(new_kernel, kernel)
    np.testing.assert_allclose(result.maps["gradient"][1],
                               new_kernel[:, targets].T.reshape(-1, SIZE, SIZE), rtol=1e-5)
    # two independent Gaussian/Glorot draws of 144 pixels: uncorrelated up to sampling noise
    assert np.abs(result.similarity["spearman"][0, 0]).max() < 0.3
    np.testing.assert_allclose(result.similarity["spearman"][0, 0],
                               spearman(result.maps["gradient"][0], result.maps["gradient"][1]))


def test_randomising_an_identity_layer_below_keeps_the_class_direction():
    model = _last_layer_model()
    result = independent_randomisation(model, IMAGES, "gradient", 1, layers=["logits"],
                                       similarities=("spearman",))
    cascade = cascading_randomisation(model, IMAGES, "gradient", 1, layers=["logits"],
                                      similarities=("spearman",))
    np.testing.assert_array_equal(result.maps["gradient"], cascade.maps["gradient"])


def test_the_users_model_is_never_changed():
    model = _cnn()
    before = [w.copy() for w in model.get_weights()]
    outputs = np.asarray(model(IMAGES))
    cascading_randomisation(model, IMAGES, ["saliency", "gradient_x_input"],
                            similarities=("ssim",))
    independent_randomisation(model, IMAGES, "saliency", similarities=("ssim",))
    efficient_mprt(model, IMAGES, "saliency")
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(np.asarray(model(IMAGES)), outputs)


def test_compiled_functions_are_traced_once_and_see_the_new_weights():
    model = _cnn(1)
    result = cascading_randomisation(model, IMAGES, {"gbp": guided_backprop, "lrp": lrp},
                                     similarities=("spearman_abs",), seed=5)
    twin = cached(model, ("randomisation_copy",), lambda: None)
    head = cached(twin, ("explained", "logits", None), lambda: None)
    rewritten = cached(twin, ("relu_override", "guided_backprop", "logits", None, False),
                       lambda: None)
    gradient = batching.gradient_function(rewritten)  # a concrete function: traced once
    assert head is not None and gradient is not None
    cascading_randomisation(model, IMAGES, {"gbp": guided_backprop}, similarities=("spearman_abs",),
                            seed=6)
    assert cached(model, ("randomisation_copy",), lambda: None) is twin
    assert batching.gradient_function(rewritten) is gradient, "a second cascade traced again"
    fresh = copy_model(model)
    layers = weighted_layers(fresh)
    targets = result.maps["gbp"][0] is not None and model(IMAGES).numpy().argmax(-1)
    for step, (position, layer) in enumerate(reversed(list(enumerate(layers))), start=1):
        reinitialise(layer, layer_seed(5, position))
        np.testing.assert_allclose(result.maps["gbp"][step], guided_backprop(fresh, IMAGES, targets),
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(result.maps["lrp"][step], lrp(fresh, IMAGES, targets),
                                   rtol=1e-4, atol=1e-6)


def test_orders_steps_and_the_tidy_table():
    model = _cnn()
    top = cascading_randomisation(model, IMAGES, "saliency", similarities=("ssim", "top_k"))
    bottom = cascading_randomisation(model, IMAGES, "saliency", order="bottom-up",
                                     similarities=("ssim",))
    assert top.steps == ("logits", "last_conv", "conv1") == bottom.steps[::-1]
    assert top.test == "cascading top-down" and bottom.test == "cascading bottom-up"
    np.testing.assert_array_equal(top.maps["saliency"][-1], bottom.maps["saliency"][-1])
    assert top.maps["saliency"].shape == (4, len(IMAGES), SIZE, SIZE)
    assert top.similarity["ssim"].shape == (1, 3, len(IMAGES))
    rows = top.to_rows()
    assert len(rows) == 2 * 3 * len(IMAGES)
    assert set(rows[0]) == {"test", "method", "step", "layer", "measure", "image", "similarity"}
    assert top.mean("ssim").shape == (1, 3)


def test_layers_are_re_drawn_from_their_own_initializers():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, kernel_initializer=keras.initializers.Constant(0.5),
                           bias_initializer="ones", name="constant")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="glorot")(x))
    model.set_weights([w + 3.0 for w in model.get_weights()])
    twin = copy_model(model)
    for position, layer in enumerate(weighted_layers(twin)):
        reinitialise(layer, layer_seed(0, position))
    constant, bn, glorot = (twin.get_layer(n).get_weights() for n in ("constant", "bn", "glorot"))
    np.testing.assert_array_equal(constant[0], 0.5)
    np.testing.assert_array_equal(constant[1], 1.0)
    for value, fill in zip(bn, (1.0, 0.0, 0.0, 1.0)):  # gamma, beta, moving mean and variance
        np.testing.assert_array_equal(value, fill)
    limit = np.sqrt(6 / (3 + 2))
    assert np.abs(glorot[0]).max() <= limit and np.unique(glorot[0]).size == 6
    again = copy_model(model)
    reinitialise(again.get_layer("glorot"), layer_seed(0, 2))
    np.testing.assert_array_equal(again.get_layer("glorot").get_weights()[0], glorot[0])


def test_depthwise_and_separable_kernels_find_their_initializers():
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.DepthwiseConv2D(3, depthwise_initializer="ones", name="depthwise")(inputs)
    x = keras.layers.SeparableConv2D(2, 3, pointwise_initializer="ones", name="separable")(x)
    twin = copy_model(keras.Model(inputs, x))
    for position, layer in enumerate(weighted_layers(twin)):
        reinitialise(layer, layer_seed(1, position))
    np.testing.assert_array_equal(twin.get_layer("depthwise").get_weights()[0], 1.0)
    np.testing.assert_array_equal(twin.get_layer("separable").get_weights()[1], 1.0)
    custom = keras.layers.Layer(name="custom")  # a weight without an initializer attribute
    custom.scale = custom.add_weight(shape=(2,), name="scale")
    with pytest.raises(ValueError, match="'custom': no initializer for its weight 'scale'"):
        reinitialise(custom, 0)


def test_clear_errors():
    model = _cnn()
    with pytest.raises(ValueError, match="layers=.*unknown.*conv1"):
        cascading_randomisation(model, IMAGES, "saliency", layers=["nope"])
    with pytest.raises(ValueError, match="order"):
        cascading_randomisation(model, IMAGES, "saliency", order="sideways")
    with pytest.raises(ValueError, match="similarities"):
        cascading_randomisation(model, IMAGES, "saliency", similarities=("cosine",))
    with pytest.raises(TypeError, match="maps_or_method"):
        cascading_randomisation(model, IMAGES, np.zeros((len(IMAGES), SIZE, SIZE)))

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(CLASSES)

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, SIZE * SIZE)))

    subclassed = Subclassed()
    subclassed(IMAGES)
    with pytest.raises(TypeError, match="cannot copy the Subclassed model"):
        cascading_randomisation(subclassed, IMAGES, "saliency")


def _templates(same: bool) -> keras.Model:
    """Linear logits; every class the same template (class-blind) or its own one."""
    pixels = SIZE * SIZE
    base = RNG.normal(size=(pixels, 1))
    kernel = base * np.arange(1, CLASSES + 1) if same else RNG.normal(size=(pixels, CLASSES))
    inputs = keras.Input((SIZE, SIZE, 1))
    dense = keras.layers.Dense(CLASSES)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([kernel.astype("float32"), np.zeros(CLASSES, "float32")])
    return model


def test_random_logit_separates_class_blind_from_class_specific_maps():
    blind = random_logit(_templates(True), IMAGES, "gradient", similarity="spearman")
    model = _templates(False)
    specific = random_logit(model, IMAGES, "gradient", similarity="spearman")
    np.testing.assert_allclose(blind, 1.0, atol=1e-9)  # the same direction for every class
    assert np.abs(specific).max() < 0.35
    again = random_logit(model, IMAGES[:1], "gradient", similarity="spearman")
    assert again[0] == pytest.approx(specific[0])


def _the_input(model, images, targets=None):
    """A "method" that ignores the model: the image itself (an edge detector would do too)."""
    return np.asarray(images)[..., 0]


def test_efficient_mprt_is_zero_for_a_model_free_method_and_positive_for_gradients():
    model = _cnn(2)
    np.testing.assert_allclose(efficient_mprt(model, IMAGES, _the_input), 0.0)
    assert efficient_mprt(model, IMAGES, "saliency", bins=10).shape == (len(IMAGES),)


def test_smooth_mprt_without_noise_is_the_bottom_up_cascade():
    model = _cnn(3)
    smooth = smooth_mprt(model, IMAGES, "saliency", n_samples=1, sigma=0.0,
                         similarities=("spearman_abs",))
    plain = cascading_randomisation(model, IMAGES, "saliency", order="bottom-up",
                                    similarities=("spearman_abs",))
    np.testing.assert_allclose(smooth.similarity["spearman_abs"],
                               plain.similarity["spearman_abs"], atol=1e-12)
    free = smooth_mprt(model, IMAGES, _the_input, n_samples=3, similarities=("spearman",))
    np.testing.assert_allclose(free.similarity["spearman"], 1.0, atol=1e-12)


def test_data_randomisation_compares_with_the_given_model():
    model, other = _cnn(4), _cnn(5)
    result = data_randomisation(model, IMAGES, ["saliency"], randomised=other,
                                similarities=("ssim",))
    assert result.steps == ("permuted labels",)
    np.testing.assert_allclose(result.maps["saliency"][1],
                               gradient(other, IMAGES, model(IMAGES).numpy().argmax(-1))
                               .__abs__().max(-1), rtol=1e-5)
    same = data_randomisation(model, IMAGES, "saliency", randomised=model, similarities=("ssim",))
    np.testing.assert_allclose(same.similarity["ssim"], 1.0)


def test_permuted_label_model_retrains_the_zoo_recipe_on_permuted_labels(monkeypatch):
    seen = {}

    def fake_retrain(name, train_set, **options):
        seen.update(name=name, labels=train_set.labels, **options)
        return "model"

    import xaikit.models

    monkeypatch.setattr(xaikit.models, "retrain", fake_retrain)
    assert randomisation.permuted_label_model("digits", seed=7, fast=True) == "model"
    from xaikit.data import load

    labels = load("digits", split="train", fast=True).labels
    assert seen["name"] == "digits" and seen["tag"] == "permuted-labels" and seen["seed"] == 7
    assert sorted(seen["labels"]) == sorted(labels) and (seen["labels"] != labels).mean() > 0.5
    np.testing.assert_array_equal(seen["val_set"].labels, seen["labels"])  # early stopping on
    # the fit to the random labels, so the network memorises them


def test_similarities_accept_callables():
    model = _cnn()
    masked = functools.partial(spearman, mask=IMAGES[..., 0] > 0.5)
    result = cascading_randomisation(model, IMAGES, "saliency", similarities=(masked,))
    assert list(result.similarity) == ["spearman"]


def test_groups_of_layers_are_randomised_as_one_step():
    model = _cnn(6)
    groups = cascading_randomisation(model, IMAGES, "saliency", layers={
        "convolutions": ["conv1", "last_conv"], "top": "logits"}, similarities=("ssim",))
    single = cascading_randomisation(model, IMAGES, "saliency", similarities=("ssim",))
    assert groups.steps == ("top", "convolutions")
    np.testing.assert_array_equal(groups.maps["saliency"][1], single.maps["saliency"][1])
    np.testing.assert_array_equal(groups.maps["saliency"][2], single.maps["saliency"][3])
    alone = independent_randomisation(model, IMAGES, "saliency", layers={"c": ["conv1"]},
                                      similarities=("ssim",))
    np.testing.assert_array_equal(alone.maps["saliency"][1],
                                  independent_randomisation(model, IMAGES, "saliency",
                                                            layers=["conv1"],
                                                            similarities=("ssim",))
                                  .maps["saliency"][1])
    with pytest.raises(ValueError, match="at least one layer name per step"):
        cascading_randomisation(model, IMAGES, "saliency", layers={"empty": []})
