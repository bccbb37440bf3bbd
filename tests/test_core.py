"""xaikit.core: input checks and their messages, targets, layer lookup, taps, batching."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from xaikit.attribution import explain, integrated_gradients, saliency, smoothgrad
from xaikit.core import (
    activation_model,
    batching,
    check_images,
    check_targets,
    explained_model,
    find_layer,
    layer_gradients,
    resolve,
    rng,
    target_weights,
)
from xaikit.core.checks import MESSAGES, check_int, check_number, check_option


def _backbone() -> keras.Model:
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b_conv1")(inputs)
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="b_conv2")(x)
    return keras.Model(inputs, x, name="backbone")


def _nested(softmax: bool = True) -> keras.Sequential:
    keras.utils.set_random_seed(3)
    layers = [keras.Input((12, 12, 3)), _backbone(), keras.layers.GlobalAveragePooling2D(name="gap"),
              keras.layers.Dense(3, name="logits")]
    if softmax:
        layers.append(keras.layers.Activation("softmax", name="probs"))
    return keras.Sequential(layers, name="nested")


IMAGES = np.random.default_rng(0).random((4, 12, 12, 3), dtype=np.float32)


# --- checks -------------------------------------------------------------------------------------
def test_check_images_messages_say_what_is_allowed():
    model = _nested()
    with pytest.raises(ValueError, match=r"expected a batch of images \(N, H, W, C\); use images\[None\]"):
        check_images(IMAGES[0])
    with pytest.raises(ValueError, match="has 1 channel.*expects 3"):
        check_images(IMAGES[..., :1], model)
    with pytest.raises(ValueError, match=r"spatial size \(10, 12\); the model expects \(12, 12\)"):
        check_images(IMAGES[:, :10], model)
    bad = IMAGES.copy()
    bad[0, 0, 0, 0], bad[1, 1, 1, 1] = np.nan, np.inf
    with pytest.raises(ValueError, match="2 NaN or infinite"):
        check_images(bad)
    with pytest.raises(ValueError, match="is empty"):
        check_images(IMAGES[:0])
    with pytest.raises(TypeError, match="array or tensor of numbers"):
        check_images(np.array([["a"]]))
    ints = check_images(np.ones((1, 2, 2, 1), np.uint8))
    assert ints.dtype == np.float32


def test_check_targets_forms_and_errors():
    classes, contrast = check_targets(None, 3, 5)
    assert classes.tolist() == [-1, -1, -1] and contrast is None
    assert check_targets(2, 3, 5)[0].tolist() == [2, 2, 2]
    assert check_targets([0, 4, 1], 3, 5)[0].tolist() == [0, 4, 1]
    first, second = check_targets((1, None), 2, 5)
    assert first.tolist() == [1, 1] and second.tolist() == [-1, -1]
    with pytest.raises(ValueError, match=r"\[5, 7\] out of range; the model has 5 classes, allowed 0..4"):
        check_targets([5, 7, 0], 3, 5)
    with pytest.raises(ValueError, match="targets has 2 entries but there are 3 images"):
        check_targets([0, 1], 3, 5)
    for bad in (1.5, "cat", [0.5, 1.0], True, (1, 2, 3)):
        with pytest.raises(ValueError, match="allowed: None"):
            check_targets(bad, 2, 5)


def test_option_checks_and_rng():
    assert check_option("rule", "a", ["a", "b"]) == "a"
    with pytest.raises(ValueError, match="rule='c' is not allowed; allowed: 'a', 'b'"):
        check_option("rule", "c", ["a", "b"])
    with pytest.raises(ValueError, match="steps=0 must be an int >= 1"):
        check_int("steps", 0)
    with pytest.raises(ValueError, match=r"sigma=-1 must be a finite number >= 0"):
        check_number("sigma", -1, low=0.0)
    np.testing.assert_array_equal(rng(7).random(3), rng(7).random(3))
    generator = np.random.default_rng(1)
    assert rng(generator) is generator
    with pytest.raises(ValueError, match="seed"):
        rng(1.5)
    assert set(MESSAGES) >= {"rank", "channels", "finite", "target_range"}


# --- targets ------------------------------------------------------------------------------------
def test_target_weights_and_contrastive_scores():
    weights = target_weights((2, 0), 2, 3)
    np.testing.assert_array_equal(weights, [[-1, 0, 1], [-1, 0, 1]])
    model = _nested()
    logits = explained_model(model)(IMAGES).numpy()
    resolved = resolve(model, IMAGES)
    np.testing.assert_array_equal(resolved.classes, logits.argmax(1))
    # contrastive gradient = gradient of A minus gradient of B
    from xaikit.attribution import gradient

    both = gradient(model, IMAGES, (0, 2))
    np.testing.assert_allclose(both, gradient(model, IMAGES, 0) - gradient(model, IMAGES, 2),
                               rtol=1e-5, atol=1e-6)


def test_logits_by_default_and_warning_for_probabilities():
    model = _nested()
    head = explained_model(model)
    np.testing.assert_allclose(keras.ops.softmax(head(IMAGES)), model(IMAGES), rtol=1e-5, atol=1e-6)
    with pytest.warns(UserWarning, match="post-softmax"):
        probabilities = saliency(model, IMAGES, 0, on="probabilities")
    assert not np.allclose(probabilities, saliency(model, IMAGES, 0))
    with pytest.raises(ValueError, match="allowed: 'logits', 'probabilities'"):
        saliency(model, IMAGES, 0, on="softmax")


def test_multi_output_model_needs_output():
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 3)(inputs))
    model = keras.Model(inputs, [keras.layers.Dense(2, name="head_a")(x),
                                 keras.layers.Dense(4, name="head_b")(x)])
    with pytest.raises(ValueError, match=r"has 2 outputs.*pass output="):
        saliency(model, IMAGES)
    assert saliency(model, IMAGES, 3, output="head_b").shape == (4, 12, 12)
    with pytest.raises(ValueError, match="allowed: 0..1"):
        saliency(model, IMAGES, output=5)
    with pytest.raises(ValueError, match="2 classes, allowed 0..1"):
        saliency(model, IMAGES, 3, output=0)


def test_unknown_method_lists_methods():
    with pytest.raises(ValueError, match="unknown attribution method 'salency'; allowed: .*saliency"):
        explain(_nested(), IMAGES, method="salency")


# --- layers -------------------------------------------------------------------------------------
def test_find_layer_by_name_index_and_auto_inside_nested_models():
    model = _nested()
    assert find_layer(model).name == "b_conv2"  # last 4-D output, found inside the backbone
    assert find_layer(model, "b_conv1").name == "b_conv1"
    assert find_layer(model, -1).name == "probs"
    with pytest.raises(ValueError, match=r"no layer named 'conv9'.*'b_conv1', 'b_conv2'"):
        find_layer(model, "conv9")
    with pytest.raises(ValueError, match="out of range"):
        find_layer(model, 10)


def test_activation_model_for_a_layer_inside_a_nested_backbone():
    model = _nested()
    n_layers = len(model.layers)
    tapped = activation_model(model, "b_conv1")
    activations, logits = tapped(IMAGES)
    backbone = model.get_layer("backbone")
    direct = keras.Model(backbone.input, backbone.get_layer("b_conv1").output)(IMAGES)
    np.testing.assert_allclose(activations, direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, explained_model(model)(IMAGES), rtol=1e-5, atol=1e-6)
    assert len(model.layers) == n_layers
    grads = layer_gradients(model, IMAGES, 1, layer="b_conv2")
    assert grads.activations.shape == grads.gradients.shape == (4, 12, 12, 5)
    # dS/dA of a GAP + Dense head is the Dense weight of the class / (h * w), the same everywhere
    kernel = model.get_layer("logits").get_weights()[0][:, 1]
    np.testing.assert_allclose(grads.gradients, np.broadcast_to(kernel / 144, grads.gradients.shape),
                               rtol=1e-5, atol=1e-7)


def test_keras_applications_backbone_inside_sequential():
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False,
                                              weights=None)
    model = keras.Sequential([keras.Input((32, 32, 3)), backbone, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3), keras.layers.Activation("softmax")])
    images = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    assert find_layer(model).name == "out_relu"
    result = layer_gradients(model, images, 0, layer="block_13_expand_relu")
    direct = keras.Model(backbone.input, backbone.get_layer("block_13_expand_relu").output)(images)
    np.testing.assert_allclose(result.activations, direct, rtol=1e-4, atol=1e-5)
    guided = explain(model, images, method="guided_backprop")  # MobileNetV2's ReLU6 has a rule
    assert guided.shape == (2, 32, 32) and np.isfinite(guided).all() and guided.max() > 0


# --- batching -----------------------------------------------------------------------------------
def _counting(monkeypatch):
    """Record the batch size of every call of the compiled gradient, path and noise functions."""
    from xaikit.core import gradients as engines

    calls: list[int] = []

    def counting(build, size):
        def counted(*args, **kwargs):
            compiled = build(*args, **kwargs)

            def call(*inputs):
                calls.append(size(inputs))
                return compiled(*inputs)

            return call

        return counted

    monkeypatch.setattr(batching, "gradient_function",
                        counting(batching.gradient_function, lambda inputs: len(inputs[0])))
    monkeypatch.setattr(engines, "_path_function", counting(
        engines._path_function, lambda inputs: int(inputs[-1] - inputs[-2])))
    monkeypatch.setattr(engines, "_noisy_function", counting(
        engines._noisy_function, lambda inputs: int(inputs[-2] - inputs[-3])))
    return calls


def test_methods_make_one_compiled_call_per_internal_batch(monkeypatch):
    model = _nested()
    images = np.concatenate([IMAGES, IMAGES, IMAGES[:2]])  # 10 images
    calls = _counting(monkeypatch)
    saliency(model, images, 0, batch_size=4)
    assert calls == [4, 4, 2]
    calls.clear()
    integrated_gradients(model, images[:3], 0, steps=7, batch_size=10)  # 3 x 8 trapezoid nodes
    assert calls == [10, 10, 4]
    calls.clear()
    smoothgrad(model, images[:2], 0, n_samples=5, batch_size=4)  # 10 noisy copies
    assert calls == [4, 4, 2]


def test_one_trace_for_all_batch_sizes():
    model = _nested()
    for n in (1, 3, 4):
        saliency(model, IMAGES[:n], 0)
    compiled = batching.gradient_function(batching.cached(model, ("explained", "logits", None),
                                                          lambda: explained_model(model)))
    assert isinstance(compiled, tf.types.experimental.ConcreteFunction)  # traced once, reused
    assert compiled.structured_input_signature[0][0].shape.as_list() == [None, 12, 12, 3]


def test_no_warning_for_a_logits_model():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        saliency(_nested(softmax=False), IMAGES)


def test_subclassed_model_is_explained_as_called_with_a_warning():
    class Softmaxed(keras.Model):
        def __init__(self):
            super().__init__(name="softmaxed")
            self.inner = _nested(softmax=False)

        def call(self, x):
            return keras.ops.softmax(self.inner(x))

    model = Softmaxed()
    with pytest.warns(UserWarning, match="'softmaxed' is subclassed.*return logits from call"):
        maps = saliency(model, IMAGES, 0)
    x = tf.constant(IMAGES)
    with tf.GradientTape() as tape:
        tape.watch(x)
        probability = tf.reduce_sum(model(x)[:, 0])
    expected = tf.reduce_max(tf.abs(tape.gradient(probability, x)), axis=-1).numpy()
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)


# --- the explain command ------------------------------------------------------------------------
def test_explain_command_writes_a_figure_and_reports_bad_input(tmp_path, capsys):
    from xaikit.cli import main

    model_path, image_path, out = tmp_path / "m.keras", tmp_path / "x.npy", tmp_path / "map.png"
    _nested().save(model_path)
    np.save(image_path, IMAGES[0])
    args = ["explain", "--model", str(model_path), "--image", str(image_path), "--out", str(out)]
    assert main([*args, "--method", "integrated_gradients", "--set", "steps=4", "--target", "1"]) == 0
    assert out.stat().st_size > 0 and "class 1" in capsys.readouterr().out
    assert main([*args, "--method", "salency"]) == 2
    assert "allowed: " in capsys.readouterr().err
    assert main([*args, "--method", "saliency", "--target", "7"]) == 2
    assert "3 classes, allowed 0..2" in capsys.readouterr().err


def test_a_weightless_layer_on_the_input_fails_with_a_clear_error():
    """Keras 3 leaves a Flatten directly on the input disconnected from the output's gradient."""
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(3)])
    images = np.random.default_rng(0).uniform(size=(2, 4, 4, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="directly on the model's input"):
        layer_gradients(model, images, [0, 1], layer="flat")
