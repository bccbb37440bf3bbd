"""LIME, KernelSHAP (against shap.KernelExplainer) and meaningful perturbation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy import ndimage
from test_perturbation import SIZE, SQUARE, square_images, square_model

from xaikit.attribution import (
    kernel_shap,
    kernel_shap_details,
    lime,
    lime_details,
    meaningful_perturbation,
)
from xaikit.attribution.surrogate import shapley_kernel, superpixels


def _linear_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))


def _segment_sums(values: np.ndarray, segments: np.ndarray) -> np.ndarray:
    return np.bincount(segments.ravel(), values.sum(axis=-1).ravel())


def _cnn(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax")(x))


def _smooth_image() -> np.ndarray:
    image = ndimage.gaussian_filter(np.random.default_rng(1).random((1, SIZE, SIZE, 3)), (0, 3, 3, 0))
    return ((image - image.min()) / (image.max() - image.min())).astype(np.float32)


def _shap_reference(model, image, target, segments, fill_value, nsamples):
    shap = pytest.importorskip("shap")
    n_features = int(segments.max()) + 1

    def f(coalitions):
        keep = coalitions[:, segments][..., None]
        masked = image[None] * keep + fill_value * (1 - keep)
        return model(masked.astype("float32"), training=False).numpy()[:, target]

    explainer = shap.KernelExplainer(f, np.zeros((1, n_features)))
    return explainer.shap_values(np.ones((1, n_features)), nsamples=nsamples, l1_reg=False,
                                 silent=True)[0]


@pytest.mark.parametrize("segmentation", ["grid", "slic"])
def test_kernel_shap_agrees_with_shap_kernel_explainer(segmentation):
    model, image = _cnn(), _smooth_image()
    details = kernel_shap_details(model, image, 1, segmentation=segmentation, n_segments=9, baseline="grey",
                          n_samples=4096)
    segments = details.segments[0]
    expected = _shap_reference(model, image[0], 1, segments, 0.5, nsamples=4096)
    np.testing.assert_allclose(details.weights[0], expected, atol=1e-5 * max(1, np.abs(expected).max()))
    assert np.abs(expected).max() > 1e-3  # not a vacuous comparison


def test_sampled_kernel_shap_is_close_to_exact_and_efficient():
    model, image = _cnn(), np.random.default_rng(1).random((1, SIZE, SIZE, 3), dtype=np.float32)
    options = dict(segmentation="grid", n_segments=9, baseline="grey")
    exact = kernel_shap_details(model, image, 1, n_samples=510, **options)
    sampled = kernel_shap_details(model, image, 1, n_samples=150, seed=3, **options)
    for d in (exact, sampled):  # efficiency: sum of values = f(x) - f(baseline)
        np.testing.assert_allclose(d.weights[0].sum(), d.full_score[0] - d.intercept[0], atol=1e-5)
    scale = np.abs(exact.weights[0]).max()
    assert np.abs(sampled.weights[0] - exact.weights[0]).max() < 0.15 * scale


def test_kernel_shap_on_an_additive_model_gives_each_segment_its_own_term():
    model, images = _linear_model(), square_images(2)
    details = kernel_shap_details(model, images, 2, segmentation="grid", n_segments=9, baseline="black",
                          on="logits", n_samples=1000)
    kernel = model.get_weights()[0][:, 2].reshape(SIZE, SIZE, 3)
    for n in range(2):
        expected = _segment_sums(images[n] * kernel, details.segments[n])
        np.testing.assert_allclose(details.weights[n], expected, atol=1e-4)


def test_lime_surrogate_recovers_a_linear_models_weights():
    model, images = _linear_model(), square_images(2)
    details = lime_details(model, images, 1, segmentation="grid", n_segments=16, baseline="black", on="logits",
                   alpha=1e-6, n_samples=300)
    kernel = model.get_weights()[0][:, 1].reshape(SIZE, SIZE, 3)
    for n in range(2):
        expected = _segment_sums(images[n] * kernel, details.segments[n])
        np.testing.assert_allclose(details.weights[n], expected, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(details.maps[n], expected[details.segments[n]], rtol=1e-3, atol=1e-4)
    assert (details.r2 > 0.999).all()


def test_lime_finds_the_square_and_reports_lower_fidelity_on_a_nonlinear_model():
    images = square_images(1)
    details = lime_details(square_model(weight=0.02), images, 0, segmentation="grid", n_segments=16,
                   baseline="black", n_samples=400)
    segment = details.segments[0][SQUARE][0, 0]
    assert details.weights[0].argmax() == segment
    assert details.r2[0] < 0.999


def test_forward_passes_are_counted():
    from test_perturbation import square_model as counted

    model, images = counted(count=True), square_images(2)
    counter = model.get_layer("counter").count
    lime(model, images, 0, segmentation="grid", n_segments=9, n_samples=70, batch_size=32)
    assert int(counter.numpy()) == 2 * 70
    counter.assign(0.0)
    kernel_shap(model, images, 0, segmentation="grid", n_segments=9, n_samples=5000)
    assert int(counter.numpy()) == 2 * (2**9 - 2 + 2)
    counter.assign(0.0)
    kernel_shap(model, images, 0, segmentation="grid", n_segments=16, n_samples=100)
    assert int(counter.numpy()) == 2 * (100 + 2)


def test_shapley_kernel_and_superpixels():
    np.testing.assert_allclose(shapley_kernel(4, np.array([1, 2, 3])), [0.25, 0.125, 0.25])
    images = square_images(2)
    for method in ("slic", "quickshift", "grid"):
        segments = superpixels(images, method, n_segments=16)
        assert segments.shape == (2, SIZE, SIZE) and segments.min() == 0
        assert all(len(np.unique(s)) == s.max() + 1 for s in segments)
    assert superpixels(images, "grid", n_segments=16).max() == 15


def test_meaningful_perturbation_deletes_the_evidence_square_and_is_seeded():
    model, images = square_model(weight=0.01), square_images(2)
    options = dict(iterations=80, mask_size=6, l1=0.3, tv=0.1, sigma=6.0, batch_size=2)
    saliency = meaningful_perturbation(model, images, 0, seed=1, **options)
    assert saliency.min() >= 0 and saliency.max() <= 1
    outside = np.ones((SIZE, SIZE), bool)
    outside[SQUARE] = False
    for n in range(2):
        assert saliency[n][SQUARE].mean() > saliency[n][outside].mean() + 0.2
    np.testing.assert_allclose(saliency, meaningful_perturbation(model, images, 0, seed=1, **options))


def test_bad_inputs_get_clear_errors():
    model, images = _cnn(), square_images(1)
    with pytest.raises(ValueError, match="segmentation='felzenszwalb' is not allowed"):
        lime(model, images, segmentation="felzenszwalb")
    for method, name in ((kernel_shap, "KernelSHAP"), (lime, "LIME")):
        with pytest.raises(ValueError, match=f"single superpixel from the segments array; {name}"):
            method(model, images, segmentation=np.zeros((SIZE, SIZE), int))
    with pytest.raises(ValueError, match="baseline='white' is not allowed"):
        lime(model, images, baseline="white")
    with pytest.raises(ValueError, match="on='softmax' is not allowed"):
        lime(model, images, on="softmax")
    with pytest.raises(ValueError, match="kernel_width"):
        lime(model, images, kernel_width=0.0)


def test_meaningful_perturbation_defaults_delete_the_evidence_of_a_confident_model():
    # p(class 0) ~ 0.998: the softmax is saturated, so its gradient at m = 1 is small.  With the
    # paper's sparsity weight the mask still learns to delete the square (a sparsity weight
    # ~10x larger keeps m = 1 everywhere and returns an all-zero map).
    model, images = square_model(weight=0.03), square_images(2)
    assert model.predict(images, verbose=0)[:, 0].min() > 0.99
    saliency = meaningful_perturbation(model, images, 0, iterations=150, sigma=6.0, seed=0)
    outside = np.ones((SIZE, SIZE), bool)
    outside[SQUARE] = False
    for n in range(2):
        assert saliency[n][SQUARE].mean() > 0.3
        assert saliency[n][SQUARE].mean() > saliency[n][outside].mean() + 0.2
