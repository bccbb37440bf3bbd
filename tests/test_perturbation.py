"""Occlusion and RISE: the evidence square is found, additive weights recovered, passes counted."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from xaikit.attribution import occlusion, rise
from xaikit.attribution.perturbation import _rise_masks, occlusion_boxes

SIZE = 24
SQUARE = (slice(6, 12), slice(12, 18))


class CountForward(keras.layers.Layer):
    """Identity layer counting the images that pass through it (works inside tf.function)."""

    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, x):
        self.count.assign_add(tf.cast(tf.shape(x)[0], "float32"))
        return x


def square_model(weight: float = 0.004, count: bool = False) -> keras.Model:
    """Linear 2-class model whose class-0 evidence is the brightness of SQUARE (class 1: minus)."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = CountForward(name="counter")(inputs) if count else inputs
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Activation("softmax", name="probs")(logits))
    mask = np.zeros((SIZE, SIZE, 3), bool)
    mask[SQUARE] = True
    kernel = np.zeros((mask.size, 2), "float32")
    kernel[mask.ravel(), 0], kernel[mask.ravel(), 1] = weight, -weight
    model.get_layer("logits").set_weights([kernel, np.zeros(2, "float32")])
    return model


def square_images(n: int = 2, seed: int = 0) -> np.ndarray:
    images = np.random.default_rng(seed).random((n, SIZE, SIZE, 3), dtype=np.float32) * 0.3
    images[:, SQUARE[0], SQUARE[1]] = 1.0
    return images


def _inside(index, shape=(SIZE, SIZE)):
    row, col = np.unravel_index(index, shape)
    return SQUARE[0].start <= row < SQUARE[0].stop and SQUARE[1].start <= col < SQUARE[1].stop


def test_occlusion_extremes_sit_on_the_evidence_square():
    model, images = square_model(), square_images()
    drop = occlusion(model, images, 0, patch=6, stride=3)
    probability = occlusion(model, images, 0, patch=6, stride=3, panel="probability")
    for n in range(len(images)):
        assert _inside(drop[n].argmax())
        assert _inside(probability[n].argmin())
        assert drop[n][SQUARE].mean() > 5 * np.abs(np.delete(drop[n].ravel(), 0)).mean() / 5


def test_occlusion_with_one_pixel_patches_recovers_an_additive_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 2))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    images = np.random.default_rng(1).random((2, 6, 6, 2), dtype=np.float32)
    drop = occlusion(model, images, 1, patch=1, stride=1, baseline="black")
    kernel = model.get_weights()[0][:, 1].reshape(6, 6, 2)
    np.testing.assert_allclose(drop, (images * kernel).sum(axis=-1), atol=1e-5)


def test_overlapping_patches_are_averaged_and_cover_every_pixel():
    boxes = occlusion_boxes(10, 10, 4, 3)  # corners 0, 3, 6 (the last one reaches the edge)
    assert boxes.shape == (9, 10, 10) and (boxes.sum(axis=0) >= 1).all()
    keras.utils.set_random_seed(4)
    inputs = keras.Input((10, 10, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    image = np.random.default_rng(2).random((1, 10, 10, 1), dtype=np.float32)
    drops = (image[0, ..., 0] * model.get_weights()[0][:, 0].reshape(10, 10) * boxes).sum(axis=(1, 2))
    expected = (drops[:, None, None] * boxes).sum(axis=0) / boxes.sum(axis=0)
    np.testing.assert_allclose(occlusion(model, image, 0, patch=4, stride=3, baseline="black")[0],
                               expected, atol=1e-5)


def test_occlusion_label_and_activation_panels():
    model, images = square_model(weight=0.05), square_images(1)
    model.get_layer("logits").bias.assign([0.0, 0.1])  # label 1 once the square is hidden
    labels = occlusion(model, images, 0, patch=6, stride=6, baseline="black", panel="label")
    expected = np.zeros((SIZE, SIZE), np.float32)
    expected[SQUARE] = 1
    np.testing.assert_array_equal(labels[0], expected)
    keras.utils.set_random_seed(5)
    inputs = keras.Input((SIZE, SIZE, 3))
    features = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    head = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(features))
    cnn = keras.Model(inputs, head)
    whole = occlusion(cnn, images, 0, patch=SIZE, panel="activation", layer="conv", channel=2)
    occluded = images * 0 + 0.5
    expected = keras.Model(inputs, features)(occluded).numpy()[0, ..., 2].sum()
    np.testing.assert_allclose(whole, expected, rtol=1e-5)


def test_rise_peaks_on_the_evidence_square():
    model, images = square_model(), square_images()
    saliency = rise(model, images, 0, n_masks=1000, grid=6, batch_size=128)
    for n in range(len(images)):
        inside = saliency[n][SQUARE].mean()
        outside = np.delete(saliency[n].ravel(), np.ravel_multi_index(
            np.nonzero(np.pad(np.ones((6, 6)), ((6, 12), (12, 6)))), (SIZE, SIZE))).mean()
        assert inside > outside
        assert _inside(saliency[n].argmax())


def test_rise_masks_keep_p_and_do_not_depend_on_the_batch_size():
    masks = _rise_masks(20, 20, 5, 0.3, 400, seed=1)
    full = np.asarray(masks(slice(0, 400)))
    assert full.min() >= 0 and full.max() <= 1 and abs(full.mean() - 0.3) < 0.03
    np.testing.assert_allclose(np.asarray(masks(slice(100, 150))), full[100:150])
    model, images = square_model(), square_images(1)
    a = rise(model, images, 0, n_masks=90, batch_size=32, seed=7)
    b = rise(model, images, 0, n_masks=90, batch_size=90, seed=7)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(a, rise(model, images, 0, n_masks=90, seed=8))


def test_forward_passes_are_counted():
    model, images = square_model(count=True), square_images(3)
    counter = model.get_layer("counter").count
    occlusion(model, images, 0, patch=6, stride=6, batch_size=5)  # 4 x 4 positions + 1
    assert int(counter.numpy()) == 3 * (16 + 1)
    counter.assign(0.0)
    rise(model, images, 0, n_masks=50, batch_size=16)
    assert int(counter.numpy()) == 3 * 50


def test_bad_inputs_get_clear_errors():
    model, images = square_model(), square_images(1)
    with pytest.raises(ValueError, match="larger than the images"):
        occlusion(model, images, patch=SIZE + 1)
    with pytest.raises(ValueError, match="baseline='purple' is not allowed"):
        occlusion(model, images, baseline="purple")
    with pytest.raises(ValueError, match="panel='heat' is not allowed"):
        occlusion(model, images, panel="heat")
    with pytest.raises(ValueError, match="does not broadcast"):
        occlusion(model, images, baseline=np.zeros(5))
    with pytest.raises(ValueError, match="panel='activation' only"):
        occlusion(model, images, channel=1)
    with pytest.raises(ValueError, match=r"p=0.0 must be a finite number in \(0.0, 1.0\]"):
        rise(model, images, p=0.0)
    with pytest.raises(ValueError, match="n_masks"):
        rise(model, images, n_masks=0)
    with pytest.raises(ValueError, match="single image"):
        rise(model, images[0])
