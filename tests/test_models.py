"""Tests of xaikit.models: architectures, training, zoo + cache, logits_model, pretrained."""

from __future__ import annotations

import importlib
import json
import threading
import time
import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xaikit.base.names import ZOO_NAMES  # noqa: E402
from xaikit.data import ImageSet, load  # noqa: E402
from xaikit.models import (  # noqa: E402
    ZOO,
    accuracy,
    cache,
    classifier_head,
    decode_predictions,
    logits_model,
    mlp,
    preprocess_input,
    pretrained,
    seed_everything,
    simple_cnn,
    train,
    vgg_mini,
    zoo,
    zoo_info,
)
from xaikit.models import training as training_module  # noqa: E402
from xaikit.models.pretrained import WeightsNotFoundError, weights_filename  # noqa: E402

zoo_module = importlib.import_module("xaikit.models.zoo")  # the attribute `zoo` is the function


# ---------------------------------------------------------------------------- helpers
def toy_set(n: int = 96, size: int = 8, seed: int = 0) -> ImageSet:
    """Images whose class (0..2) is which third of the image holds a bright bar: learnable."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = rng.uniform(0, 0.3, size=(n, size, size, 1)).astype(np.float32)
    third = size // 3
    for c in range(3):
        images[labels == c, c * third : (c + 1) * third, :, 0] += 0.6
    return ImageSet(images=np.clip(images, 0, 1), labels=labels, class_names=["top", "mid", "bottom"])


def tiny_cnn(seed: int = 0, size: int = 8) -> keras.Model:
    """conv 3x3*4 -> flatten -> logits -> softmax (flatten keeps the bar's position)."""
    seed_everything(seed)
    inputs = keras.Input((size, size, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    return keras.Model(inputs, classifier_head(x, 3))


def same_weights(a: keras.Model, b: keras.Model) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


# ---------------------------------------------------------------------------- architectures
def test_simple_cnn_is_the_sanity_checks_network():
    model = simple_cnn((28, 28, 1), 10)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.kernel_size, c.filters) for c in convs] == [((5, 5), 32), ((5, 5), 64)]
    assert model.get_layer("fc1").units == 1024
    assert model.get_layer("logits").units == 10
    probs = model(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32))
    np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, rtol=1e-5)


def test_vgg_mini_ends_in_last_conv_gap_dense():
    model = vgg_mini((32, 32, 3), 5, widths=(8, 16, 32))
    names = [layer.name for layer in model.layers]
    assert names[-4:] == ["last_conv", "gap", "logits", "probs"]
    assert tuple(model.get_layer("last_conv").output.shape) == (None, 8, 8, 32)
    # CAM's premise (Zhou et al. 2016, Eq. 2): logits = W . mean_xy(f) + b exactly.
    x = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    features = keras.Model(model.input, model.get_layer("last_conv").output)(x)
    w, b = model.get_layer("logits").get_weights()
    logits = keras.Model(model.input, model.get_layer("logits").output)(x)
    np.testing.assert_allclose(np.mean(features, axis=(1, 2)) @ w + b, logits, rtol=1e-4, atol=1e-5)


def test_multi_label_head_is_sigmoid():
    model = mlp((4,), 3, multi_label=True)
    out = np.asarray(model(np.ones((2, 4), np.float32)))
    assert not np.allclose(out.sum(axis=1), 1.0)
    assert model.layers[-1].name == "probs"


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 1, 1), (0, 28, 1), "image"])
def test_bad_input_shape_is_a_clear_error(shape):
    with pytest.raises(ValueError, match="input_shape"):
        simple_cnn(shape, 10)


def test_wrong_data_shape_for_model_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expects \(8, 8, 1\)"):
        train(tiny_cnn(), toy_set(size=9), epochs=1, progress=False)


# ---------------------------------------------------------------------------- training
def test_training_is_deterministic_and_learns():
    data = toy_set()
    first, second, other = tiny_cnn(0), tiny_cnn(0), tiny_cnn(1)
    for model, seed in ((first, 0), (second, 0), (other, 1)):
        train(model, data, epochs=3, batch_size=16, seed=seed, progress=False)
    assert same_weights(first, second)
    assert not same_weights(first, other)
    assert accuracy(first, data) > 0.6  # chance is 1/3


def test_early_stopping_restores_the_best_weights():
    data, val = toy_set(seed=0), toy_set(n=30, seed=1)
    model = tiny_cnn()
    result = train(model, data, epochs=12, batch_size=16, seed=0, val=val, patience=2,
                   learning_rate=0.05, progress=False)
    best = result["best_epoch"]
    assert result["history"]["val_loss"][best - 1] == min(result["history"]["val_loss"])
    kept = training_module._loss_and_accuracy(model, val)[0]
    np.testing.assert_allclose(kept, result["history"]["val_loss"][best - 1], rtol=1e-5)


def test_training_resumes_after_a_crash(tmp_path, monkeypatch):
    data, ckpt = toy_set(), tmp_path / "run.ckpt.npz"
    reference = tiny_cnn()
    train(reference, data, epochs=4, batch_size=16, seed=3, progress=False)

    real_save, saves = training_module._save_checkpoint, []

    def crash_after_second_epoch(*args):
        real_save(*args)
        saves.append(1)
        if len(saves) == 2:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(training_module, "_save_checkpoint", crash_after_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_cnn(), data, epochs=4, batch_size=16, seed=3, progress=False, checkpoint=ckpt)
    assert ckpt.exists()
    monkeypatch.setattr(training_module, "_save_checkpoint", real_save)
    resumed = tiny_cnn(seed=99)  # different initial weights: everything must come from the checkpoint
    result = train(resumed, data, epochs=4, batch_size=16, seed=3, progress=False, checkpoint=ckpt)
    assert result["epochs_run"] == 4 and not ckpt.exists()
    assert same_weights(resumed, reference)


def test_multi_label_accuracy_is_top_k_set_match():
    # A parameter-free sigmoid "model" whose scores are monotone in the pixel values.
    model = keras.Sequential([keras.Input((1, 1, 3)), keras.layers.Flatten(), keras.layers.Activation("sigmoid")])
    scores = np.array([[0.9, 0.8, 0.1], [0.9, 0.1, 0.8], [0.1, 0.8, 0.9]], np.float32)
    truth = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]], np.float32)  # row 2 ranks class 2 above 1
    data = ImageSet(images=scores[:, None, None, :], labels=np.array([0, 0, 1]),
                    class_names=["a", "b", "c"], meta={"multi_hot": truth})
    np.testing.assert_allclose(accuracy(model, data), 2 / 3)


# ---------------------------------------------------------------------------- zoo (fast)
FAST_ENTRIES = list(ZOO_NAMES)  # every zoo entry is trained and checked, new ones included


@pytest.mark.parametrize("name", FAST_ENTRIES)
def test_fast_zoo_model_reaches_its_stated_fast_accuracy(name):
    model = zoo(name, fast=True, progress=False)
    measured = accuracy(model, load(name, split="test", fast=True))
    assert measured >= ZOO[name].fast_accuracy
    info = zoo_info(name, fast=True)
    assert info["cached"] and info["test_accuracy"] == pytest.approx(measured, abs=1e-6)
    assert model.layers[-1].name == "probs" and model.get_layer("logits") is not None


def test_unknown_zoo_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="allowed: 'an8flower-double-12c', 'an8flower-single-6c', 'digits'"):
        zoo("mnist-resnet")


# ---------------------------------------------------------------------------- zoo (full, slow)
@pytest.mark.slow
@pytest.mark.parametrize("name", FAST_ENTRIES)
def test_full_zoo_model_reaches_its_stated_accuracy(name):
    model = zoo(name, fast=False, progress=False)
    assert accuracy(model, load(name, split="test", fast=False)) >= ZOO[name].accuracy


# ---------------------------------------------------------------------------- cache atomicity
@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XAIKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_honours_the_environment(tmp_cache):
    assert cache.cache_dir() == tmp_cache and tmp_cache.is_dir()


def _saved_entry(key="toy-0123"):
    model = tiny_cnn()
    cache.save_verified(model, key, {"test_accuracy": 0.5})
    return model, cache.entry_paths(key)


def test_cache_round_trip(tmp_cache):
    model, paths = _saved_entry()
    loaded, sidecar = cache.load_verified("toy-0123")
    assert same_weights(model, loaded) and sidecar["test_accuracy"] == 0.5
    assert sidecar["sha256"] == cache.sha256_file(paths["model"])
    assert not [p for p in paths["model"].parent.iterdir() if p.name.startswith(".")]  # no temp files


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "no_sidecar", "bad_sidecar"])
def test_damaged_cache_entry_is_reported_and_not_loaded(tmp_cache, damage):
    _, paths = _saved_entry()
    blob = paths["model"].read_bytes()
    if damage == "truncate":  # a write interrupted midway
        paths["model"].write_bytes(blob[: len(blob) // 2])
    elif damage == "flip_byte":  # same size, different content: only the hash can tell
        middle = len(blob) // 2
        paths["model"].write_bytes(blob[:middle] + bytes([blob[middle] ^ 0xFF]) + blob[middle + 1 :])
    elif damage == "no_sidecar":  # crash between moving the model and writing its sidecar
        paths["sidecar"].unlink()
    else:
        paths["sidecar"].write_text("{not json")
    with pytest.warns(RuntimeWarning, match=paths["model"].name):
        assert cache.load_verified("toy-0123") is None


def test_interrupted_save_leaves_the_previous_entry_intact(tmp_cache, monkeypatch):
    model, paths = _saved_entry()
    before = paths["model"].read_bytes()

    def half_written_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as fh:
            fh.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full (simulated)")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="simulated"):
        patch.setattr(keras.Model, "save", half_written_save)
        cache.save_verified(tiny_cnn(seed=5), "toy-0123", {"test_accuracy": 0.9})
    assert paths["model"].read_bytes() == before
    loaded, sidecar = cache.load_verified("toy-0123")
    assert same_weights(model, loaded) and sidecar["test_accuracy"] == 0.5
    assert not [p for p in paths["model"].parent.iterdir() if p.name.startswith(".")]


def test_zoo_rebuilds_a_corrupted_entry(tmp_cache, monkeypatch):
    calls = []

    def fake_build_and_train(name, recipe, fast, checkpoint, progress):
        calls.append(name)
        return tiny_cnn(seed=len(calls)), {"test_accuracy": 0.5, "train_seconds": 0.0}

    monkeypatch.setattr(zoo_module, "_build_and_train", fake_build_and_train)
    first = zoo("digits", fast=True)
    again = zoo("digits", fast=True)
    assert len(calls) == 1 and same_weights(first, again)
    again.set_weights([w * 0 for w in again.get_weights()])  # a user's edit never reaches the cache
    assert same_weights(zoo("digits", fast=True), first)
    path = zoo_info("digits", fast=True)["path"]
    with open(path, "r+b") as fh:
        fh.truncate(100)
    with pytest.warns(RuntimeWarning, match="rebuilt"):
        rebuilt = zoo("digits", fast=True)
    assert len(calls) == 2 and not same_weights(rebuilt, first)
    assert same_weights(zoo("digits", fast=True), rebuilt) and len(calls) == 2
    zoo("digits", fast=True, retrain=True)
    assert len(calls) == 3


def test_cache_key_changes_with_the_recipe(tmp_cache):
    recipe = ZOO["digits"].as_dict(fast=False)
    assert cache.entry_key("digits", recipe) == cache.entry_key("digits", dict(recipe))
    assert cache.entry_key("digits", recipe) != cache.entry_key("digits", {**recipe, "epochs": 99})


def test_file_lock_serialises_writers(tmp_path):
    lock, events = tmp_path / "entry.lock", []

    def worker(tag):
        with cache.file_lock(lock):
            events.append(f"{tag}-in")
            time.sleep(0.2)
            events.append(f"{tag}-out")

    threads = [threading.Thread(target=worker, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert events == ["a-in", "a-out", "b-in", "b-out"]


# ---------------------------------------------------------------------------- logits_model
def _pre_softmax_dense(model, x):
    """Manual reference: the input of the final Dense times its kernel plus bias."""
    dense = model.get_layer("logits")
    features = keras.Model(model.inputs[0], dense.input)(x)
    w, b = dense.get_weights()
    return np.asarray(features) @ w + b


def _snapshot(model):
    return [layer.name for layer in model.layers], [w.copy() for w in model.get_weights()]


def _functional():
    return vgg_mini((16, 16, 3), 4, widths=(4, 8), convs_per_block=1)


def _sequential_dense_softmax():
    return keras.Sequential([
        keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, activation="softmax", name="logits"),
    ])  # fmt: skip


def _sequential_activation():
    return keras.Sequential([
        keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(4, name="logits"),
        keras.layers.Activation("softmax"),
    ])  # fmt: skip


def _sequential_without_input():
    model = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(4, activation="softmax", name="logits")])
    model(np.zeros((3, 16, 16, 3), np.float32))  # built by a first batch of 3 (fixes no batch size here)
    return model


def _functional_sigmoid():
    return vgg_mini((16, 16, 3), 4, widths=(4,), convs_per_block=1, multi_label=True)


@pytest.mark.parametrize(
    "build", [_functional, _sequential_dense_softmax, _sequential_activation,
              _sequential_without_input, _functional_sigmoid],
)  # fmt: skip
def test_logits_model_returns_the_pre_activation_scores(build):
    seed_everything(0)
    model = build()
    x = np.random.default_rng(0).random((3, 16, 16, 3), dtype=np.float32)
    names, weights = _snapshot(model)
    before = np.asarray(model(x))
    logits = np.asarray(logits_model(model)(x))
    np.testing.assert_allclose(logits, _pre_softmax_dense(model, x), rtol=1e-5, atol=1e-6)
    squash = keras.activations.sigmoid if build is _functional_sigmoid else keras.activations.softmax
    np.testing.assert_allclose(np.asarray(squash(logits)), before, rtol=1e-5, atol=1e-6)
    after_names, after_weights = _snapshot(model)  # the user's model is untouched
    assert after_names == names and all(np.array_equal(a, b) for a, b in zip(weights, after_weights))
    np.testing.assert_array_equal(np.asarray(model(x)), before)


def test_logits_model_on_a_nested_keras_applications_backbone():
    seed_everything(0)
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=7)
    model = keras.Sequential([keras.Input((32, 32, 3)), backbone])
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    head = backbone.get_layer("predictions")
    features = keras.Model(backbone.input, head.input)(x)
    w, b = head.get_weights()
    np.testing.assert_allclose(logits_model(model)(x), np.asarray(features) @ w + b, rtol=1e-4, atol=1e-6)
    assert backbone.get_layer("predictions").activation.__name__ == "softmax"

    outer = keras.Sequential([keras.Input((32, 32, 3)), keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, include_top=False, pooling="avg"),
        keras.layers.Dense(3, activation="softmax", name="logits")])  # fmt: skip
    np.testing.assert_allclose(logits_model(outer)(x), _pre_softmax_dense(outer, x), rtol=1e-4, atol=1e-6)


def test_logits_model_shares_weights_with_the_model():
    model = _functional()
    lm = logits_model(model)
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    dense = model.get_layer("logits")
    dense.set_weights([w + 1.0 for w in dense.get_weights()])
    np.testing.assert_allclose(lm(x), _pre_softmax_dense(model, x), rtol=1e-5, atol=1e-6)


def test_logits_model_of_a_logits_model_is_itself():
    lm = logits_model(_functional())
    assert logits_model(lm) is lm
    linear = vgg_mini((16, 16, 3), 4, widths=(4,), convs_per_block=1, softmax=False)
    assert logits_model(linear) is linear


def test_logits_model_rejects_what_it_cannot_handle():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3)(inputs)
    two = keras.Model(inputs, [keras.layers.Softmax()(hidden), keras.layers.Dense(2)(inputs)])
    with pytest.raises(ValueError, match="2 outputs"):
        logits_model(two)
    relu_out = keras.Model(inputs, keras.layers.Dense(3, activation="relu")(inputs))
    with pytest.raises(ValueError, match="'relu'"):
        logits_model(relu_out)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3, activation="softmax")

        def call(self, x):
            return self.dense(x)

    with pytest.raises(TypeError, match="subclassed"):
        logits_model(Subclassed())
    with pytest.raises(TypeError, match="keras.Model"):
        logits_model("model.keras")


# ---------------------------------------------------------------------------- pretrained
def _write_legacy_h5(model, path):
    """Write ``model``'s weights in the legacy HDF5 layout of the keras.applications files."""
    import h5py

    with_weights = [layer for layer in model.layers if layer.weights]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in with_weights]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = keras.__version__.encode()
        for layer in with_weights:
            group = f.create_group(layer.name)
            weights = layer.trainable_weights + layer.non_trainable_weights
            names = [f"{layer.name}/{i}".encode() for i in range(len(weights))]
            group.attrs["weight_names"] = names
            for name, weight in zip(names, weights):
                group.create_dataset(name.decode(), data=np.asarray(weight))


def test_pretrained_offline_error_is_one_clear_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as info:
        pretrained("vgg16")
    assert time.perf_counter() - start < 5  # detected before any download attempt
    message = str(info.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert str(tmp_path / "keras" / "models") in message and "weights_path=" in message
    assert "\n" not in message and message.count(". ") == 0  # one sentence


def test_pretrained_loads_a_local_weights_file(tmp_path, monkeypatch):
    seed_everything(0)
    source = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None)
    models_dir = tmp_path / "keras" / "models"
    models_dir.mkdir(parents=True)
    filename = weights_filename("mobilenet_v2", alpha=0.35, size=96)
    assert filename == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5"
    _write_legacy_h5(source, models_dir / filename)
    x = preprocess_input("mobilenet_v2", np.random.default_rng(0).random((2, 96, 96, 3), dtype=np.float32))
    assert x.min() >= -1.0 and x.max() <= 1.0
    expected = np.asarray(source(x))

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # found in the Keras cache folder
    model = pretrained("mobilenet_v2", input_shape=(96, 96, 3), alpha=0.35)
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "elsewhere"))  # or given explicitly
    model = pretrained("mobilenet_v2", models_dir / filename, input_shape=(96, 96, 3), alpha=0.35)
    np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="cannot load weights"):  # the wrong architecture's file
        pretrained("mobilenet_v2", models_dir / filename, input_shape=(96, 96, 3), alpha=0.5)
    with pytest.raises(ValueError, match="allowed: 'efficientnet-lite0', 'mobilenet_v2', 'resnet50', 'vgg16'"):
        pretrained("inception")


def test_decode_predictions_uses_a_local_class_index(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    probs = np.zeros((2, 1000), np.float32)
    probs[0, 281], probs[0, 7], probs[1, 999] = 0.9, 0.1, 1.0
    with pytest.raises(WeightsNotFoundError, match="imagenet_class_index.json"):
        decode_predictions(probs)
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    (tmp_path / "keras" / "models").mkdir(parents=True)
    (tmp_path / "keras" / "models" / "imagenet_class_index.json").write_text(json.dumps(index))
    decoded = decode_predictions(probs, top=2)
    assert decoded[0] == [("n00000281", "class_281", pytest.approx(0.9)), ("n00000007", "class_7", pytest.approx(0.1))]
    assert decoded[1][0][:2] == ("n00000999", "class_999")
    with pytest.raises(ValueError, match=r"\(N, 1000\)"):
        decode_predictions(probs[:, :10])


def test_no_warnings_when_loading_a_valid_entry(tmp_cache):
    _saved_entry()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert cache.load_verified("toy-0123") is not None


def test_retrain_trains_the_zoo_recipe_on_other_data_and_caches_it(tmp_path, monkeypatch):
    from xaikit.data import load
    from xaikit.models import retrain

    monkeypatch.setenv("XAIKIT_CACHE", str(tmp_path))
    train_set = load("digits", split="train", fast=True)
    permuted = train_set.subset(np.arange(len(train_set)))
    permuted.labels[:] = np.random.default_rng(0).permutation(permuted.labels)
    model = retrain("digits", permuted, tag="permuted-labels", fast=True, progress=False)
    test = load("digits", split="test", fast=True)
    chance = 1.0 / len(test.class_names)
    assert accuracy(model, test) < chance + 0.15, "labels permuted: no better than chance"
    entries = sorted(p.name for p in (tmp_path / "models").glob("*.keras"))
    assert len(entries) == 1 and entries[0].startswith("digits-fast-permuted-labels-")
    again = retrain("digits", permuted, tag="permuted-labels", fast=True, progress=False)
    np.testing.assert_array_equal(again.get_weights()[0], model.get_weights()[0])
    assert sorted(p.name for p in (tmp_path / "models").glob("*.keras")) == entries
