"""Small classifier architectures used by the zoo and the lessons.

Every model is a functional ``keras.Model`` built on ``keras.Input`` (fixed height, width and
channels) and ends in the same head, so that :func:`xaikit.models.logits_model` can strip it::

    ... -> Dense(n_classes, name="logits") -> Activation("softmax" | "sigmoid", name="probs")

``softmax=False`` stops at the ``"logits"`` layer (a linear output); ``multi_label=True`` puts a
sigmoid instead of a softmax on top (one independent probability per class, trained with binary
cross-entropy; see the ``shapes-two-objects`` zoo entry).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from xaikit.base.checks import check_int
from xaikit.base.messages import message

__all__ = ["simple_cnn", "vgg_mini", "mlp", "classifier_head"]


def _check_shape(input_shape: Sequence[int], n_classes: int, *, rank: int) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if len(shape) != rank or not all(isinstance(d, int) and d > 0 for d in shape):
        expected = "(height, width, channels)" if rank == 3 else f"{rank} positive ints"
        raise ValueError(message("expected", name="input_shape",
                                 expected=f"{expected} of positive ints without the batch dimension",
                                 got=repr(input_shape), fix="; e.g. (32, 32, 1)"))
    check_int("n_classes", n_classes, minimum=2)
    return shape


def classifier_head(
    features: keras.KerasTensor, n_classes: int, *, softmax: bool = True, multi_label: bool = False
) -> keras.KerasTensor:
    """Append the kit's classifier head to ``features``.

    Parameters
    ----------
    features : keras.KerasTensor
        A 2-D (batch, features) symbolic tensor.
    n_classes : int
        Number of output units.
    softmax : bool
        Add the ``Activation(name="probs")`` layer on top of the ``Dense(name="logits")`` layer.
        ``False`` returns the logits.
    multi_label : bool
        Use a sigmoid (independent per-class probabilities) instead of a softmax.

    Returns
    -------
    keras.KerasTensor
        The output tensor.
    """
    logits = layers.Dense(n_classes, name="logits")(features)
    if not softmax:
        return logits
    return layers.Activation("sigmoid" if multi_label else "softmax", name="probs")(logits)


def simple_cnn(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    softmax: bool = True,
    multi_label: bool = False,
    name: str = "simple_cnn",
) -> keras.Model:
    """The CNN of the model-randomisation sanity checks.

    conv 5x5 * 32 -> max-pool 2 -> conv 5x5 * 64 -> max-pool 2 -> flatten -> dense 1024 (ReLU)
    -> dense ``n_classes`` (logits) -> softmax, as in Adebayo et al., "Sanity Checks for Saliency
    Maps", NeurIPS 2018 (arXiv:1810.03292), Sec. 3, which uses the TensorFlow MNIST tutorial
    network. Convolutions use "same" padding and ReLU. The last convolution is named
    ``"last_conv"``.

    Parameters
    ----------
    input_shape : sequence of 3 ints
        (height, width, channels), e.g. ``(32, 32, 1)``.
    n_classes : int
        Number of classes.
    softmax, multi_label : bool
        Head options, see :func:`classifier_head`.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        An un-trained functional model.
    """
    shape = _check_shape(input_shape, n_classes, rank=3)
    inputs = keras.Input(shape=shape, name="image")
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu", name="last_conv")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    outputs = classifier_head(x, n_classes, softmax=softmax, multi_label=multi_label)
    return keras.Model(inputs, outputs, name=name)


def vgg_mini(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    widths: Sequence[int] = (16, 32, 64),
    convs_per_block: int = 2,
    stem_stride: int = 1,
    batch_norm: bool = True,
    softmax: bool = True,
    multi_label: bool = False,
    name: str = "vgg_mini",
) -> keras.Model:
    """A small VGG-style network with a global-average-pooling head, so that CAM applies.

    Blocks of ``convs_per_block`` 3x3 convolutions (+ BatchNorm, ReLU) with ``widths[i]``
    channels, separated by 2x2 max-pooling (Simonyan & Zisserman, ICLR 2015). The rectified output of the
    last convolution (the layer named ``"last_conv"``: the ReLU ``Activation`` after the last
    Conv2D and BatchNorm, or the last ``Conv2D`` itself when ``batch_norm=False``) feeds
    ``GlobalAveragePooling2D(name="gap")`` and ``Dense(name="logits")`` directly: the class-activation-map
    architecture of Zhou et al., "Learning Deep Features for Discriminative Localization",
    CVPR 2016, Eq. (1)-(2): :math:`S_c = \\sum_k w^c_k \\frac{1}{Z}\\sum_{x,y} f_k(x, y)`.

    Parameters
    ----------
    input_shape : sequence of 3 ints
        (height, width, channels).
    n_classes : int
        Number of classes.
    widths : sequence of int
        Channels of each block; the last block's last convolution is ``"last_conv"``.
    convs_per_block : int
        Convolutions per block.
    stem_stride : int
        Stride of the very first convolution (2 halves the cost of large inputs).
    batch_norm : bool
        Batch normalisation after each convolution (before the ReLU), with momentum 0.9 so the
        moving statistics settle within the few hundred steps of the zoo recipes.
    softmax, multi_label : bool
        Head options, see :func:`classifier_head`.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        An un-trained functional model; the spatial size of ``"last_conv"`` is
        ``input / (stem_stride * 2 ** (len(widths) - 1))``.
    """
    shape = _check_shape(input_shape, n_classes, rank=3)
    if not widths or any(int(w) < 1 for w in widths):
        raise ValueError(message("expected", name="widths",
                                 expected="a non-empty sequence of positive ints",
                                 got=repr(widths), fix=""))
    check_int("convs_per_block", convs_per_block)
    check_int("stem_stride", stem_stride)
    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    n_blocks = len(widths)
    for b, width in enumerate(widths):
        if b > 0:
            x = layers.MaxPooling2D(2, name=f"pool{b}")(x)
        for c in range(convs_per_block):
            last = b == n_blocks - 1 and c == convs_per_block - 1
            stride = stem_stride if (b == 0 and c == 0) else 1
            tag = f"{b + 1}_{c + 1}"
            if batch_norm:
                x = layers.Conv2D(
                    int(width), 3, strides=stride, padding="same", use_bias=False,
                    name=f"conv{tag}",
                )(x)
                x = layers.BatchNormalization(momentum=0.9, name=f"bn{tag}")(x)
                x = layers.Activation("relu", name="last_conv" if last else f"relu{tag}")(x)
            else:
                x = layers.Conv2D(
                    int(width), 3, strides=stride, padding="same", activation="relu",
                    name="last_conv" if last else f"conv{tag}",
                )(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = classifier_head(x, n_classes, softmax=softmax, multi_label=multi_label)
    return keras.Model(inputs, outputs, name=name)


def mlp(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    hidden: Sequence[int] = (256, 128),
    softmax: bool = True,
    multi_label: bool = False,
    name: str = "mlp",
) -> keras.Model:
    """A multi-layer perceptron on flattened inputs: flatten -> Dense(h, ReLU)... -> logits.

    Parameters
    ----------
    input_shape : sequence of int
        Shape of one input without the batch dimension, e.g. ``(32, 32, 1)`` or ``(64,)``.
    n_classes : int
        Number of classes.
    hidden : sequence of int
        Units of the hidden ReLU layers.
    softmax, multi_label : bool
        Head options, see :func:`classifier_head`.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        An un-trained functional model.
    """
    shape = tuple(input_shape)
    _check_shape(shape, n_classes, rank=len(shape) if shape else 1)
    inputs = keras.Input(shape=shape, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden):
        x = layers.Dense(int(units), activation="relu", name=f"fc{i + 1}")(x)
    outputs = classifier_head(x, n_classes, softmax=softmax, multi_label=multi_label)
    return keras.Model(inputs, outputs, name=name)
