"""CAM family: paper properties, agreement with tf-keras-vis, model kinds, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from xaikit.attribution import METHODS, explain, guided_backprop
from xaikit.attribution.class_activation import (
    cam,
    grad_cam,
    grad_cam_pp,
    guided_grad_cam,
    layer_cam,
    score_cam,
)


def _images(n: int, size: int = 16, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, size, size, channels)).astype(np.float32)


def _gap_layers(n_classes: int = 4):
    """conv -> pool -> conv "last_conv" -> GAP -> Dense "logits" (fresh layers)."""
    return [
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(n_classes, name="logits"),
    ]


def _functional(layers, size: int = 16, softmax: bool = True) -> keras.Model:
    inputs = keras.Input((size, size, 3))
    x = inputs
    for layer in layers:
        x = layer(x)
    if softmax:
        x = keras.layers.Activation("softmax", name="probs")(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def gap_model() -> keras.Model:
    keras.utils.set_random_seed(3)
    return _functional(_gap_layers())


@pytest.fixture(scope="module")
def three_forms(gap_model):
    """The same weights as functional, Sequential and nested (backbone inside a Sequential)."""
    sequential = keras.Sequential([keras.Input((16, 16, 3)), *_gap_layers(),
                                   keras.layers.Activation("softmax")])
    backbone_in = keras.Input((16, 16, 3))
    x = backbone_in
    for layer in _gap_layers()[:3]:
        x = layer(x)
    backbone = keras.Model(backbone_in, x, name="backbone")
    head = _gap_layers()[3:]
    nested = keras.Sequential([keras.Input((16, 16, 3)), backbone, *head,
                               keras.layers.Activation("softmax")])
    sequential.set_weights(gap_model.get_weights())
    nested.set_weights(gap_model.get_weights())
    return {"functional": gap_model, "sequential": sequential, "nested": nested}


def test_cam_equals_grad_cam_up_to_positive_scale_on_gap_net(gap_model):
    """Selvaraju et al. 2017, Sec. 3.1: with GAP, alpha_k^c = w_k^c / Z, so Grad-CAM = ReLU(CAM)/Z."""
    images = _images(5)
    signs = []
    for targets in ([0, 1, 2, 3, 0], 2, None, (1, 3)):
        class_map = cam(gap_model, images, targets, upsample=False)
        grad_map = grad_cam(gap_model, images, targets, upsample=False)
        z = class_map.shape[1] * class_map.shape[2]
        np.testing.assert_allclose(grad_map, np.maximum(class_map, 0.0) / z, rtol=1e-5, atol=1e-7)
        signs.extend(np.sign(class_map).ravel())
    assert {-1.0, 1.0} <= set(signs)  # both the ReLU'd and the kept part are exercised


def test_grad_cam_pp_equals_layer_cam_on_gap_net(gap_model):
    """Constant gradients per channel make Grad-CAM++'s normalised alphas uniform: both maps are
    sum_k ReLU(w_k^c) A^k / Z (and differ on a non-GAP net)."""
    images = _images(4, seed=6)
    pp, layer = (f(gap_model, images, [0, 1, 2, 3], upsample=False) for f in (grad_cam_pp, layer_cam))
    assert pp.max() > 0
    np.testing.assert_allclose(pp, layer, rtol=1e-5, atol=1e-7)
    flat = _peer_model(pool=True)
    pp, layer = (f(flat, images, [0, 1, 2, 3], upsample=False) for f in (grad_cam_pp, layer_cam))
    assert not np.allclose(pp, layer, rtol=1e-3, atol=1e-6)


def test_cam_is_the_dense_weighted_sum_and_reproduces_the_logits(gap_model):
    images = _images(3)
    class_map = cam(gap_model, images, [0, 1, 2], upsample=False)
    tap = keras.Model(gap_model.input, [gap_model.get_layer("last_conv").output,
                                         gap_model.get_layer("logits").output])
    activations, logits = (t.numpy() for t in tap(images))
    kernel, bias = gap_model.get_layer("logits").get_weights()
    expected = np.einsum("nhwk,kn->nhw", activations, kernel[:, [0, 1, 2]])
    np.testing.assert_allclose(class_map, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(class_map.mean(axis=(1, 2)) + bias[[0, 1, 2]],
                               logits[[0, 1, 2], [0, 1, 2]], rtol=1e-5, atol=1e-5)


def test_counterfactual_is_grad_cam_with_negated_gradients(gap_model):
    """Grad-CAM and its counterfactual split the signed map sum_k alpha_k A^k into + and - parts."""
    images = _images(4, seed=1)
    targets = [3, 2, 1, 0]
    tap = keras.Model(gap_model.input, [gap_model.get_layer("last_conv").output,
                                         gap_model.get_layer("logits").output])
    with tf.GradientTape() as tape:
        activations, logits = tap(images)
        scores = tf.gather(logits, targets, batch_dims=1)
    grads = tape.gradient(scores, activations).numpy()
    signed = (grads.mean(axis=(1, 2), keepdims=True) * activations.numpy()).sum(axis=-1)
    plain = grad_cam(gap_model, images, targets, upsample=False)
    counter = grad_cam(gap_model, images, targets, counterfactual=True, upsample=False)
    np.testing.assert_allclose(plain, np.maximum(signed, 0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(counter, np.maximum(-signed, 0), rtol=1e-5, atol=1e-7)
    assert (counter > 0).any() and (plain > 0).any()


def test_guided_grad_cam_is_guided_backprop_times_upsampled_grad_cam(gap_model):
    images = _images(3, seed=2)
    coarse = grad_cam(gap_model, images, [0, 1, 2], upsample=False)
    upsampled = grad_cam(gap_model, images, [0, 1, 2])
    assert coarse.shape == (3, 8, 8) and upsampled.shape == (3, 16, 16)
    np.testing.assert_allclose(
        upsampled, tf.image.resize(coarse[..., None], (16, 16)).numpy()[..., 0], atol=1e-7)
    guided = guided_backprop(gap_model, images, [0, 1, 2])
    combined = guided_grad_cam(gap_model, images, [0, 1, 2])
    np.testing.assert_allclose(combined, guided * upsampled, rtol=1e-5, atol=1e-9)
    per_channel = guided_grad_cam(gap_model, images, [0, 1, 2], signed=True, per_channel=True)
    raw = guided_backprop(gap_model, images, [0, 1, 2], signed=True, per_channel=True)
    np.testing.assert_allclose(per_channel, raw * upsampled[..., None], rtol=1e-5, atol=1e-9)


def _evidence_model() -> keras.Model:
    """Two input channels -> identity 1x1 ReLU conv "features" -> logit 0 = sum of the square."""
    inputs = keras.Input((16, 16, 2))
    features = keras.layers.Conv2D(2, 1, activation="relu", name="features")(inputs)
    flat = keras.layers.Flatten()(features)
    logits = keras.layers.Dense(2, name="logits")(flat)
    model = keras.Model(inputs, logits)
    model.get_layer("features").set_weights([np.eye(2, dtype=np.float32)[None, None],
                                             np.zeros(2, np.float32)])
    square = np.zeros((16, 16, 2), np.float32)
    square[4:8, 10:14, :] = 1.0
    kernel = np.stack([square.ravel(), np.zeros(square.size, np.float32)], axis=1)
    model.get_layer("logits").set_weights([kernel, np.zeros(2, np.float32)])
    return model


def test_score_cam_peaks_where_the_evidence_is():
    """Channel 0 holds a blob inside the evidence square, channel 1 an equal blob outside it."""
    model = _evidence_model()
    images = np.zeros((2, 16, 16, 2), np.float32)
    images[:, 5:7, 11:13, 0] = 1.0  # inside the square: the score sees it
    images[:, 10:12, 2:4, 1] = 1.0  # outside: the score ignores it
    images[1] *= 3.0
    maps = score_cam(model, images, 0)
    inside, outside = maps[:, 5:7, 11:13].mean(axis=(1, 2)), maps[:, 10:12, 2:4].mean(axis=(1, 2))
    peaks = np.array([np.unravel_index(m.argmax(), m.shape) for m in maps])
    assert ((peaks[:, 0] >= 4) & (peaks[:, 0] < 8) & (peaks[:, 1] >= 10) & (peaks[:, 1] < 14)).all()
    assert (inside > 1.5 * outside).all()
    logit_maps = score_cam(model, images, 0, on="logits")
    np.testing.assert_allclose(logit_maps[:, 10:12, 2:4], 0.0, atol=1e-6)
    np.testing.assert_allclose(score_cam(model, images, 0, batch_size=3), maps, rtol=1e-6, atol=1e-7)


def _peer_model(pool: bool) -> keras.Model:
    keras.utils.set_random_seed(7)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    if pool:
        x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, outputs)


def _minmax(maps: np.ndarray) -> np.ndarray:
    low = maps.min(axis=(1, 2), keepdims=True)
    return (maps - low) / (maps.max(axis=(1, 2), keepdims=True) - low)


@pytest.mark.parametrize("pool", [True, False])
def test_agrees_with_tf_keras_vis(pool):
    """Same functional model (linear logits head), same targets, compared on the layer's grid.

    With ``pool=False`` the layer has the input's resolution, so both libraries' resizing is the
    identity and Score-CAM's masks are the same; tf-keras-vis's Grad-CAM++ carries exp(S_c).
    """
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    model = _peer_model(pool)
    images = _images(3, seed=4)
    targets = [0, 1, 3]
    score = CategoricalScore(targets)
    options = dict(penultimate_layer="last_conv", expand_cam=False, normalize_cam=False)
    peers = {
        "grad_cam": Gradcam(model)(score, images, **options),
        "layer_cam": Layercam(model)(score, images, **options),
        "grad_cam_pp": GradcamPlusPlus(model)(score, images, **options),
    }
    if not pool:
        peers["score_cam"] = Scorecam(model)(score, images, **options)
    logits = model(images).numpy()[np.arange(3), targets]
    for name, peer in peers.items():
        ours = METHODS[name](model, images, targets, layer="last_conv", upsample=False)
        peer = np.asarray(peer)
        assert ours.shape == peer.shape and peer.max() > 0
        np.testing.assert_allclose(_minmax(ours), _minmax(peer), atol=1e-4, err_msg=name)
        if name == "grad_cam_pp":
            peer = peer / np.exp(logits)[:, None, None]
        np.testing.assert_allclose(ours, peer, rtol=1e-4, atol=1e-4 * peer.max(), err_msg=name)


def test_sequential_functional_and_nested_give_identical_maps(three_forms):
    images = _images(3, seed=5)
    for name in ("cam", "grad_cam", "grad_cam_pp", "layer_cam", "score_cam", "guided_grad_cam"):
        maps = {form: explain(model, images, [1, 2, 3], method=name)
                for form, model in three_forms.items()}
        assert np.abs(maps["functional"]).max() > 0, name
        for form in ("sequential", "nested"):
            np.testing.assert_allclose(maps[form], maps["functional"], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} {form}")
    by_index = grad_cam(three_forms["sequential"], images, [1, 2, 3], layer=2)
    np.testing.assert_allclose(by_index, grad_cam(three_forms["functional"], images, [1, 2, 3]),
                               rtol=1e-5, atol=1e-6)


def test_unknown_layer_lists_the_spatial_layers(gap_model):
    with pytest.raises(ValueError, match=r"no layer named 'nope'.*'conv1', 'pool', 'last_conv'"):
        grad_cam(gap_model, _images(1), layer="nope")


def test_layer_without_spatial_output_is_refused(gap_model):
    for method in (grad_cam, score_cam, cam):
        with pytest.raises(ValueError, match=r"'gap' has output shape \(None, 6\).*4-D.*'last_conv'"):
            method(gap_model, _images(1), layer="gap")


def test_cam_refuses_a_head_that_is_not_gap_plus_dense():
    with pytest.raises(ValueError, match=r"GlobalAveragePooling2D.*grad_cam"):
        cam(_peer_model(pool=True), _images(1), 0)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="last_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, activation="relu", name="hidden")(x)
    hidden_head = keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))
    with pytest.raises(ValueError, match=r"does not reach the logits.*'logits'.*grad_cam"):
        cam(hidden_head, _images(2), 0)
