"""Units, receptive fields, projections, activation maximisation and inversion (issue 17).

Properties from the papers on models built so the answer is known: receptive fields of known
stacks (and the support of a unit's input gradient), a colour-detector unit whose top patches
and maximising image are known, Zeiler & Fergus' projection of a one-layer net (the filter
itself), and agreement with tf-keras-vis' ActivationMaximization.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from xaikit.data import an8flower
from xaikit.interpretation.inversion import inversion
from xaikit.interpretation.maximization import (
    activation_maximization,
    blur,
    fourier,
    jitter,
    pixel,
    rotate,
    scale,
    shift,
)
from xaikit.interpretation.objectives import channel, class_score, total_variation, unit
from xaikit.interpretation.units import (
    feature_maps,
    filters,
    project,
    receptive_field,
    top_activations,
)

SIZE = 32
RED, GREEN, BLUE = 0, 1, 2  # units of the colour detector


def colour_detector() -> keras.Model:
    """Units that fire on red, green, blue pixels only (1x1 conv + ReLU), then a 2x2 pool."""
    inputs = keras.Input((SIZE, SIZE, 3))
    colour = keras.layers.Conv2D(3, 1, name="colour_pre")
    x = keras.layers.ReLU(name="colour")(colour(inputs))
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(6, name="logits")(x))
    kernel = np.array([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]], np.float32).T
    colour.set_weights([kernel[None, None], np.array([-0.2, -0.05, -0.2], np.float32)])
    return model


@pytest.fixture(scope="module")
def flowers():
    return an8flower(n_per_class=4, size=SIZE, seed=3)


@pytest.fixture(scope="module")
def detector():
    return colour_detector()


def _stack(*layers, size=64, channels=1):
    return keras.Sequential([keras.Input((size, size, channels)), *layers])


def conv(k, s=1, d=1, padding="valid", name=None):
    return keras.layers.Conv2D(1, k, strides=s, dilation_rate=d, padding=padding, name=name)


@pytest.mark.parametrize("layers, size, stride", [
    ([conv(3, name="t")], 3, 1),
    ([conv(3), conv(3, name="t")], 5, 1),                                # VGG: two 3x3 = 5x5
    ([conv(3), conv(3), conv(3, name="t")], 7, 1),                       # three 3x3 = 7x7
    ([conv(3), keras.layers.MaxPooling2D(2, name="t")], 4, 2),
    ([conv(3, s=2), conv(3, name="t")], 7, 2),                           # strided conv
    ([conv(3, d=2), conv(3, d=2, name="t")], 9, 1),                      # dilation
    ([conv(7, s=2, padding="same"), keras.layers.MaxPooling2D(3, 2, padding="same"),
      conv(3, padding="same", name="t")], 19, 4),                        # ResNet stem + 3x3
])
def test_receptive_fields_of_known_stacks(layers, size, stride):
    field = receptive_field(_stack(*layers), "t")
    assert field.size == (size, size) and field.stride == (stride, stride)


def test_vgg16_textbook_receptive_fields():
    """VGG16 (Simonyan & Zisserman 2015): conv5_3 sees 196 px at stride 16, pool5 212 at 32."""
    layers = []
    for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
        layers += [conv(3, padding="same", name=f"b{block}c{i}") for i in range(convs)]
        layers.append(keras.layers.MaxPooling2D(2, name=f"b{block}pool"))
    model = _stack(*layers, size=224)
    assert receptive_field(model, "b5c2").size == (196, 196)
    assert receptive_field(model, "b5c2").stride == (16, 16)
    assert receptive_field(model, "b5pool").size == (212, 212)


def test_receptive_field_is_the_support_of_the_input_gradient():
    """The box of unit (i, j), clipped to the image, is exactly where d A(i, j) / dx is non-zero
    (positive weights, average pooling), inside a nested model, with 'same' padding on odd and
    even inputs. (A dilated kernel leaves holes, so there the support can be smaller.)"""
    inner = keras.Sequential([keras.Input((15, 16, 1)), conv(3, s=2, padding="same"),
                              keras.layers.AveragePooling2D(2, padding="same"),
                              conv(5, padding="same", name="t")], name="inner")
    inputs = keras.Input((15, 16, 1))
    model = keras.Model(inputs, keras.layers.Flatten()(inner(inputs)))
    for layer in inner.layers:
        if layer.weights:
            layer.set_weights([np.ones_like(w) for w in layer.get_weights()])
    field = receptive_field(model, "t")
    tap = keras.Model(inner.inputs, inner.get_layer("t").output)
    x = tf.ones((1, 15, 16, 1))
    for i, j in [(0, 0), (1, 2), (3, 3)]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = tap(x)[0, i, j, 0]
        support = np.argwhere(tape.gradient(value, x).numpy()[0, :, :, 0] != 0)
        y0, x0, y1, x1 = field.boxes(np.array([i, j]))
        assert support.min(0).tolist() == [max(y0, 0), max(x0, 0)]
        assert support.max(0).tolist() == [min(y1, 15) - 1, min(x1, 16) - 1]


def test_receptive_field_refuses_layers_without_a_rule():
    model = _stack(keras.layers.UpSampling2D(2), conv(3, name="t"))
    with pytest.raises(ValueError, match="UpSampling2D.*has no receptive-field rule"):
        receptive_field(model, "t")
    with pytest.raises(ValueError, match="expected a spatial"):
        top_activations(_stack(conv(3), keras.layers.Flatten(name="flat")), np.zeros((1, 64, 64, 1)),
                        "flat")


def test_filters_and_feature_maps(detector, flowers):
    assert filters(detector).shape == (1, 1, 3, 3) and filters(detector, "colour_pre").shape[-1] == 3
    maps = feature_maps(detector, flowers, "colour")
    assert maps.shape == (len(flowers), SIZE, SIZE, 3)
    red = flowers.labels == 0
    on_red = maps[..., RED].max(axis=(1, 2))
    assert on_red[red].min() > 0 and on_red[~red].max() == 0.0


def test_top_patches_of_a_red_detector_are_red_petals(detector, flowers):
    top = top_activations(detector, flowers, "pool", [RED, GREEN], k=4)
    assert top.patches.shape == (2, 4, 2, 2, 3)
    assert (flowers.labels[top.images[0]] == 0).all(), "all four red flowers, nothing else"
    for n, (y0, x0, y1, x1) in zip(top.images[0], top.boxes[0]):
        assert flowers.parts["petals"][n, y0:y1, x0:x1].any()
        assert np.allclose(top.patches[0, list(top.images[0]).index(n)], flowers.images[n, y0:y1, x0:x1])
    assert np.all(np.diff(top.values, axis=1) <= 0)
    with pytest.raises(ValueError, match=r"k=0 must be an int in 1\.\."):
        top_activations(detector, flowers, "pool", 0, k=0)
    with pytest.raises(ValueError, match="units=7 is not allowed"):
        top_activations(detector, flowers, "pool", 7)


def test_deconvnet_projection_of_a_one_layer_net_is_the_filter():
    """Zeiler & Fergus: projecting activation a of a conv+ReLU unit gives a * w in its field."""
    layer = keras.layers.Conv2D(2, 3, activation="relu", name="c")
    model = _stack(layer, size=8, channels=3)
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 2)).astype(np.float32)
    layer.set_weights([kernel, np.array([5.0, 5.0], np.float32)])
    image = np.random.default_rng(1).uniform(size=(1, 8, 8, 3)).astype(np.float32)
    a = feature_maps(model, image, "c")[0, 2, 3, 1]
    out = project(model, image, "c", 1, positions=np.array([[2, 3]]))[0]
    expected = np.zeros_like(out)
    expected[2:5, 3:6] = a * kernel[..., 1]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    guided = project(model, image, "c", 1, rule="guided_backprop")
    assert guided.shape == (1, 8, 8, 3)


def test_objectives_compose_like_their_formulas(detector, flowers):
    features = {"colour": tf.constant(feature_maps(detector, flowers.images[:2], "colour"))}
    image = tf.constant(flowers.images[:2])
    maps = features["colour"].numpy()
    combined = channel("colour", [RED, GREEN]) - 0.5 * channel("colour", BLUE) + 2
    expected = maps[[0, 1], :, :, [RED, GREEN]].mean(axis=(1, 2)) - 0.5 * maps[..., BLUE].mean(
        axis=(1, 2)) + 2
    np.testing.assert_allclose(combined.score(features, image), expected, rtol=1e-5)
    assert combined.batch == 2
    np.testing.assert_allclose(unit("colour", 0, (3, 4)).score(features, image), maps[:, 3, 4, 0])
    with pytest.raises(ValueError, match="different numbers of images"):
        channel("colour", [0, 1]) + channel("colour", [0, 1, 2])
    with pytest.raises(TypeError, match="expected an Objective"):
        channel("colour", 0) + "red"


def test_maximising_image_raises_the_unit_far_above_a_random_input(detector):
    """Maximising the pre-activation (a ReLU unit that is 0 at the start has no gradient)."""
    images = activation_maximization(detector, channel("colour_pre", [RED, GREEN, BLUE]),
                                     parameterization=pixel(value_range=(0.0, 1.0)), steps=40,
                                     learning_rate=0.05, seed=1)
    reached = feature_maps(detector, images, "colour").mean(axis=(1, 2))[range(3), range(3)]
    noise = np.random.default_rng(0).uniform(size=(64, SIZE, SIZE, 3)).astype(np.float32)
    random = feature_maps(detector, noise, "colour").mean(axis=(0, 1, 2))
    assert (reached > 10 * random).all()
    assert np.allclose(images[0].mean(axis=(0, 1)), [1, 0, 0], atol=0.05)  # pure red


def test_pixel_ascent_agrees_with_tf_keras_vis():
    """Same seed input, TV regulariser, Adam, no random modifiers: the same images."""
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.activation_maximization.regularizers import TotalVariation2D
    from tf_keras_vis.utils.scores import CategoricalScore

    from xaikit.core import rng

    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    param, weight, size = pixel(0.5, 0.1), 0.5, 12 * 12 * 3
    ours = activation_maximization(
        model, class_score([0, 2]) - (weight / size) * total_variation(1.0, isotropic=False),
        parameterization=param, steps=20, learning_rate=0.05, optimizer="adam", seed=3)
    theirs = ActivationMaximization(model)(
        CategoricalScore([0, 2]), seed_input=param.init(rng(3), 2, (12, 12, 3)),
        input_range=(None, None), input_modifiers=[], regularizers=[TotalVariation2D(weight)],
        steps=20, optimizer=keras.optimizers.Adam(learning_rate=0.05))
    np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)


def test_transforms_and_fourier_parameterisation(detector):
    image = tf.constant(np.random.default_rng(0).uniform(size=(2, 16, 16, 3)), tf.float32)
    seed = tf.constant([0, 1])
    assert np.allclose(jitter(0)(image, seed), image)
    assert np.allclose(rotate(0.0)(image, seed), image, atol=1e-5)
    assert np.allclose(scale(1.0, 1.0)(image, seed), image, atol=1e-5)
    assert np.allclose(shift(1, 2)(image, seed), np.roll(image, (1, 2), axis=(1, 2)))
    assert np.allclose(blur(1.0)(tf.ones((1, 16, 16, 3)), seed), 1.0, atol=1e-6)
    param = fourier()
    p1, p2 = (tf.constant(param.init(np.random.default_rng(s), 1, (16, 16, 3))) for s in (1, 2))
    logit = lambda p: np.log(param.image(p, (16, 16, 3)) / (1 - param.image(p, (16, 16, 3))))  # noqa: E731
    np.testing.assert_allclose(logit(p1 + p2), logit(p1) + logit(p2), atol=1e-4)
    transforms = [jitter(2), rotate(10), scale(0.9, 1.1)]
    run = lambda s: activation_maximization(detector, channel("colour", RED), steps=5,  # noqa: E731
                                            parameterization=fourier(), transforms=transforms,
                                            seed=s)
    first = run(4)
    assert np.array_equal(first, run(4)) and not np.array_equal(first, run(5))
    assert 0.0 < first.min() and first.max() < 1.0


def test_inversion_reproduces_the_representation(detector, flowers):
    """Mahendran & Vedaldi: the reconstruction has (nearly) the representation it inverts."""
    images = flowers.images[:2]
    rebuilt = inversion(detector, images, "colour_pre", steps=150, tv_weight=0.1, seed=0)
    before, after = (feature_maps(detector, x, "colour_pre") for x in (images, rebuilt))
    start = feature_maps(detector, np.full_like(images, 0.5), "colour_pre")
    assert ((after - before) ** 2).sum() < 0.02 * ((start - before) ** 2).sum()
