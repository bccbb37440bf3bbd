"""A linear-chain view of a Keras CNN, shared by the rule-based methods (LRP, DeepLIFT).

Introduced in lesson 07.  :func:`layer_chain` turns a Sequential or linear functional model
(nested linear sub-models are flattened) into a list of :class:`Step` objects, each one a small piece of the
forward pass that a propagation rule knows how to invert:

- ``"linear"``: Conv2D / Dense (BatchNormalization right after them folded in), ``z = W a + b``,
  followed by ``act`` (``"relu"`` or ``"linear"``);
- ``"affine"``: a BatchNormalization that could not be folded, ``z = a * scale + shift``;
- ``"maxpool"``, ``"avgpool"``: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D;
- ``"reshape"``: Flatten, Dropout (inference: identity), Reshape;
- ``"relu"``: ReLU / Activation("relu") layers.

A final softmax / sigmoid is dropped, so the chain ends in the logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from xaikit.base.messages import message
from xaikit.core.surgery.layers import require_graph

__all__ = ["SUPPORTED_LAYERS", "Step", "layer_chain"]

SUPPORTED_LAYERS = (
    "Conv2D, Dense, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Reshape, "
    "BatchNormalization (folded into the Conv2D/Dense before it), Dropout, ReLU, "
    "Activation('relu' | 'linear'), and a final softmax/sigmoid (dropped)"
)
_HEAD_ACTIVATIONS = ("softmax", "sigmoid")


@dataclass
class Step:
    """One propagatable piece of the forward pass (see the module docstring for ``kind``)."""

    kind: str
    name: str
    layer: keras.layers.Layer | None = None
    act: str = "linear"
    config: dict | None = None
    batch_norm: keras.layers.Layer | None = None

    @property
    def kernel(self) -> tf.Tensor | None:
        """The (BatchNorm-folded) weights, read from the layer's variables at call time."""
        if self.kind == "affine":
            return _bn_scale_shift(self.layer)[0]
        if self.layer is None:
            return None
        kernel = tf.convert_to_tensor(self.layer.kernel)
        return kernel if self.batch_norm is None else kernel * _bn_scale_shift(self.batch_norm)[0]

    @property
    def bias(self) -> tf.Tensor | None:
        """The (BatchNorm-folded) bias; zeros for a layer without one."""
        if self.kind == "affine":
            return _bn_scale_shift(self.layer)[1]
        if self.layer is None:
            return None
        units = self.layer.kernel.shape[-1]
        bias = tf.convert_to_tensor(self.layer.bias) if self.layer.use_bias else tf.zeros(units)
        if self.batch_norm is None:
            return bias
        scale, shift = _bn_scale_shift(self.batch_norm)
        return bias * scale + shift

    def linear(self, a: tf.Tensor, kernel: tf.Tensor | None = None, bias: bool = True) -> tf.Tensor:
        """``z = W a (+ b)`` for "linear"/"affine" steps, with an optional replacement kernel."""
        kernel = self.kernel if kernel is None else kernel
        if self.kind == "affine":
            z = a * kernel
        elif self.config["type"] == "Dense":
            z = tf.matmul(a, kernel)
        else:
            z = keras.ops.conv(
                a, kernel, strides=self.config["strides"], padding=self.config["padding"],
                dilation_rate=self.config["dilation_rate"],
            )
        return z + self.bias if bias else z

    def pool(self, a: tf.Tensor) -> tf.Tensor:
        """The pooling of a "maxpool"/"avgpool" step."""
        if self.config["type"] == "GlobalAveragePooling2D":
            return tf.reduce_mean(a, axis=(1, 2), keepdims=self.config["keepdims"])
        pool = keras.ops.max_pool if self.kind == "maxpool" else keras.ops.average_pool
        return pool(a, self.config["pool_size"], self.config["strides"], self.config["padding"])

    def forward(self, a: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Return ``(pre_activation, output)`` of this step for input ``a``."""
        if self.kind in ("linear", "affine"):
            z = self.linear(a)
            return z, tf.nn.relu(z) if self.act == "relu" else z
        if self.kind in ("maxpool", "avgpool"):
            z = self.pool(a)
            return z, z
        if self.kind == "relu":
            return a, tf.nn.relu(a)
        shape = [-1, *self.config["shape"]]
        return a, tf.reshape(a, shape)


def _activation_name(layer: keras.layers.Layer) -> str:
    act = getattr(layer, "activation", None)
    return "linear" if act is None else getattr(act, "__name__", str(act))


def _flat_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of a linear chain, nested linear models expanded; ValueError on branches."""
    layers = []
    previous = model.inputs[0] if model.inputs else None
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs = layer.input
        if isinstance(inputs, (list, tuple)) and len(inputs) != 1:
            raise ValueError(message("chain_merge", layer=layer.name, count=len(inputs)))
        if (
            not isinstance(model, keras.Sequential)
            and previous is not None
            and layer.input is not previous
        ):
            raise ValueError(message("chain_branch", layer=layer.name))
        if isinstance(layer, keras.Model):
            layers.extend(_flat_layers(layer))
        else:
            layers.append(layer)
        previous = layer.output
    return layers


def _check_batch_norm(bn: keras.layers.BatchNormalization) -> None:
    axis = bn.axis if isinstance(bn.axis, int) else bn.axis[0]
    if axis not in (-1, len(bn.input.shape) - 1):
        raise ValueError(message("chain_batch_norm", layer=bn.name, axis=axis))


def _bn_scale_shift(bn: keras.layers.BatchNormalization) -> tuple[tf.Tensor, tf.Tensor]:
    """BatchNormalization at inference as ``a * scale + shift``."""
    mean = tf.convert_to_tensor(bn.moving_mean)
    gamma = tf.convert_to_tensor(bn.gamma) if bn.scale else tf.ones_like(mean)
    beta = tf.convert_to_tensor(bn.beta) if bn.center else tf.zeros_like(mean)
    scale = gamma * tf.math.rsqrt(tf.convert_to_tensor(bn.moving_variance) + bn.epsilon)
    return scale, beta - mean * scale


def layer_chain(model: keras.Model) -> list[Step]:
    """Turn ``model`` into the list of :class:`Step` objects that LRP and DeepLIFT walk backwards.

    Raises
    ------
    ValueError
        If a layer type has no propagation rule (the message names it and lists the supported
        types) or the model is not a linear chain.
    TypeError
        If ``model`` is subclassed (it has no layer graph to walk).
    """
    require_graph(model, "relevance propagation")
    steps: list[Step] = []
    layers = _flat_layers(model)
    for position, layer in enumerate(layers):
        kind = type(layer).__name__
        act = _activation_name(layer)
        last = position == len(layers) - 1
        if act in _HEAD_ACTIVATIONS and last:
            act = "linear"
        if kind in ("Conv2D", "Dense"):
            if act not in ("relu", "linear"):
                raise ValueError(message("chain_activation", layer=layer.name, kind=kind,
                                         activation=act))
            if kind == "Conv2D" and (layer.groups != 1 or layer.data_format != "channels_last"):
                raise ValueError(message("chain_conv", layer=layer.name, groups=layer.groups,
                                         data_format=layer.data_format))
            config = {"type": kind, "strides": getattr(layer, "strides", None),
                      "padding": getattr(layer, "padding", None),
                      "dilation_rate": getattr(layer, "dilation_rate", None)}
            steps.append(Step("linear", layer.name, layer, act, config))
        elif kind == "BatchNormalization":
            _check_batch_norm(layer)
            prev = steps[-1] if steps else None
            if (prev is not None and prev.kind == "linear" and prev.act == "linear"
                    and prev.batch_norm is None):
                prev.batch_norm = layer
                prev.name = f"{prev.name}+{layer.name}"
            else:
                steps.append(Step("affine", layer.name, layer, "linear", {"type": kind}))
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            config = {"type": kind, "pool_size": layer.pool_size, "strides": layer.strides,
                      "padding": layer.padding}
            steps.append(Step("maxpool" if kind.startswith("Max") else "avgpool", layer.name,
                              config=config))
        elif kind == "GlobalAveragePooling2D":
            steps.append(Step("avgpool", layer.name,
                              config={"type": kind, "keepdims": layer.keepdims}))
        elif kind in ("Flatten", "Reshape", "Dropout"):
            shape = tuple(layer.output.shape[1:])
            steps.append(Step("reshape", layer.name, config={"type": kind, "shape": shape}))
        elif kind == "ReLU" or (kind == "Activation" and act == "relu"):
            if kind == "ReLU" and (layer.negative_slope or layer.threshold or layer.max_value):
                raise ValueError(message("chain_relu", layer=layer.name))
            steps.append(Step("relu", layer.name))
        elif kind == "Activation" and act == "linear":
            continue
        else:
            detail = f" with activation {act!r}" if kind == "Activation" else ""
            raise ValueError(message("chain_layer", layer=layer.name, kind=f"{kind}{detail}",
                                     supported=SUPPORTED_LAYERS))
    return steps
