"""Rewired models around the user's layers: activation taps and ReLU backward-rule rewrites.

Both rebuild the model's graph with the **same layer objects** (weights shared, nothing copied,
the user's model untouched), calling a replacement where a layer needs one:

- :func:`activation_model`: ``x -> [activations A of a layer, explained output]``, for a layer at
  any nesting depth (rebuilding the enclosing graphs avoids keras' "graph disconnected" error);
- :func:`relu_override_model`: every rectifier's backward pass replaced by the deconvnet or the
  guided-backprop rule (Kim's slides, "Backprop. Based"; f the rectifier's input, R the signal
  from above):

  - backprop:        R_in = R_out * f'(f)
  - deconvnet:       R_in = R_out * [R_out > 0]                  (Zeiler & Fergus, ECCV 2014)
  - guided_backprop: R_in = R_out * f'(f) * [R_out > 0]          (Springenberg et al., ICLR-W 2015)

  with f'(f) = [f > 0] for ReLU and [0 < f < 6] for ReLU6 (MobileNet, EfficientNet-Lite): the
  guided rule keeps each rectifier's own gradient mask, so a ReLU6 saturated at 6 passes nothing
  back, as its ordinary gradient does; deconvnet ignores the forward pass at every rectifier.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from xaikit.base.checks import check_option
from xaikit.base.messages import message
from xaikit.core.surgery.heads import explained_model
from xaikit.core.surgery.layers import LayerRef, find_layer, iter_layers, require_graph

__all__ = ["RECTIFIERS", "RELU_RULES", "activation_model", "rebuild", "relu_override_model"]

RELU_RULES = ("deconvnet", "guided_backprop")
RECTIFIERS = {"relu": None, "relu6": 6.0}  # rectifier name -> its upper cap (None: uncapped)
_NEUTRAL_ACTIVATIONS = ("linear", *RECTIFIERS)


def rebuild(container: keras.Model, call: Callable) -> tuple[list, list]:
    """Re-run ``container``'s graph on fresh inputs with shared layers, ``call(layer, x)`` per layer."""
    if isinstance(container, keras.Sequential):
        inputs = keras.Input(shape=tuple(container.input_shape[1:]))
        x = inputs
        for layer in container.layers:
            x = call(layer, x)
        return [inputs], [x]
    rewired = keras.models.clone_model(
        container,
        clone_function=lambda layer: layer,
        call_function=lambda layer, *args, **kwargs: call(layer, *args, **kwargs),
    )
    return list(rewired.inputs), list(rewired.outputs)


def _single(inputs: list) -> object:
    return inputs[0] if len(inputs) == 1 else inputs


def _contains(model: keras.Model, target: keras.layers.Layer) -> bool:
    return any(sub is target for _, sub in iter_layers(model))


def _tap_model(container: keras.Model, target: keras.layers.Layer) -> keras.Model:
    """Model ``x -> [target's output, container's output]`` built around shared layers."""
    taps = []

    def call(layer, *args, **kwargs):
        if layer is target:
            out = layer(*args, **kwargs)
            taps.append(out)
            return out
        if isinstance(layer, keras.Model) and _contains(layer, target):
            tap, out = _tap_model(layer, target)(*args, **kwargs)
            taps.append(tap)
            return out
        return layer(*args, **kwargs)

    inputs, outputs = rebuild(container, call)
    if len(taps) != 1:
        raise ValueError(message("layer_reused", layer=target.name, model=container.name,
                                 count=len(taps)))
    return keras.Model(_single(inputs), [taps[0], outputs[0]],
                       name=f"{container.name}_tap_{target.name}")


def activation_model(
    model: keras.Model,
    layer: LayerRef = None,
    *,
    on: str = "logits",
    output: int | str | None = None,
) -> keras.Model:
    """Model ``x -> [activations A of layer, explained output (N, K)]`` sharing ``model``'s weights.

    Works for Sequential and functional models and for a layer inside a nested backbone: the
    enclosing graphs are rebuilt around the inner model's layers, so the activations and the
    explained output come from one connected graph.

    Raises
    ------
    ValueError
        As :func:`~xaikit.core.surgery.find_layer` and
        :func:`~xaikit.core.surgery.explained_model`, or a layer that does not feed the output.
    """
    require_graph(model, "activation_model")
    target = find_layer(model, layer)
    head = explained_model(model, on=on, output=output)
    if not _contains(head, target):
        raise ValueError(message("layer_not_feeding", layer=target.name, model=model.name))
    return _tap_model(head, target)


class _OverriddenRectifier(keras.layers.Layer):
    """ReLU (``cap=None``) or ReLU6 (``cap=6``) whose backward pass follows ``rule``."""

    def __init__(self, rule: str, cap: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rule, self.cap = rule, cap

    def call(self, x):
        rule, cap = self.rule, self.cap

        @tf.custom_gradient
        def rectify(features):
            def grad(upstream):
                if rule == "deconvnet":
                    return tf.nn.relu(upstream)
                passing = features > 0
                if cap is not None:
                    passing = tf.logical_and(passing, features < cap)
                return tf.nn.relu(upstream) * tf.cast(passing, upstream.dtype)

            out = tf.nn.relu(features)
            return (out if cap is None else tf.minimum(out, cap)), grad

        return rectify(x)

    def compute_output_shape(self, input_shape):
        return input_shape


class _Preactivation(keras.layers.Layer):
    """A Dense/Conv/DepthwiseConv layer without its activation, with that layer's own variables."""

    def __init__(self, inner: keras.layers.Layer, **kwargs):
        super().__init__(name=f"{inner.name}_preact", **kwargs)
        self.inner = inner

    def call(self, x):
        inner = self.inner
        if isinstance(inner, keras.layers.Dense):
            y = keras.ops.matmul(x, inner.kernel)
            return y + inner.bias if inner.use_bias else y
        if isinstance(inner, keras.layers.DepthwiseConv2D):
            y = keras.ops.depthwise_conv(x, inner.kernel, strides=inner.strides,
                                         padding=inner.padding, data_format=inner.data_format,
                                         dilation_rate=inner.dilation_rate)
        else:
            y = inner.convolution_op(x, inner.kernel)
        if inner.use_bias:
            y = y + keras.ops.reshape(inner.bias, (1,) * (len(y.shape) - 1) + (-1,))
        return y

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


def rectifier_of(layer: keras.layers.Layer) -> str | None:
    """The activation ``layer`` applies: "relu", "relu6", another name, or None (none at all).

    ``ReLU()`` is "relu", ``ReLU(max_value=6)`` "relu6"; a ReLU with another cap, a negative slope
    or a threshold is named by its settings (no backward rule is defined for it).
    """
    if isinstance(layer, keras.layers.ReLU):
        if not layer.negative_slope and not layer.threshold:
            if layer.max_value is None:
                return "relu"
            if float(layer.max_value) == RECTIFIERS["relu6"]:
                return "relu6"
        return (f"ReLU(max_value={layer.max_value}, negative_slope={layer.negative_slope}, "
                f"threshold={layer.threshold})")
    if isinstance(layer, (keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU,
                          keras.layers.Softmax)):
        return type(layer).__name__
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    return getattr(activation, "__name__", type(activation).__name__).lower()


def relu_override_model(
    model: keras.Model, rule: str, *, allow_other_activations: bool = False
) -> keras.Model:
    """``model`` with every ReLU's (and ReLU6's) gradient replaced by the deconvnet or
    guided-backprop rule (see the module docstring).

    Parameters
    ----------
    model : keras.Model
        Sequential or functional, nested models followed. Weights are shared.
    rule : {"deconvnet", "guided_backprop"}
    allow_other_activations : bool
        Other hidden activations (sigmoid, tanh, LeakyReLU, ...) raise a ValueError unless this
        is True, in which case they keep their ordinary gradient.

    Raises
    ------
    ValueError
        Unknown rule, or another activation without the opt-in.
    TypeError
        A subclassed model.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu6"),
    ...                           keras.layers.Dense(2)], name="net")
    >>> relu_override_model(model, "guided_backprop").name
    'net_guided_backprop'
    """
    check_option("rule", rule, RELU_RULES)
    require_graph(model, "relu_override_model")
    last = model.layers[-1]
    unsupported = [(sub.name, act) for _, sub in iter_layers(model)
                   if (act := rectifier_of(sub)) is not None and act not in _NEUTRAL_ACTIVATIONS
                   and sub.name != last.name]
    if unsupported and not allow_other_activations:
        raise ValueError(message("rule_activations", rule=rule, layers=unsupported))

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            return relu_override_model(layer, rule, allow_other_activations=True)(*args, **kwargs)
        kind = rectifier_of(layer)
        if kind not in RECTIFIERS:
            return layer(*args, **kwargs)
        rectifier = _OverriddenRectifier(rule, RECTIFIERS[kind], name=f"{layer.name}_{rule}")
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
            return rectifier(*args, **kwargs)
        if not isinstance(layer, keras.layers.Dense) and not hasattr(layer, "convolution_op") \
                and not isinstance(layer, keras.layers.DepthwiseConv2D):
            raise ValueError(message("rule_layer", layer=layer.name, kind=type(layer).__name__,
                                     activation=kind))
        return rectifier(_Preactivation(layer)(*args, **kwargs))

    inputs, outputs = rebuild(model, call)
    return keras.Model(_single(inputs), outputs[0], name=f"{model.name}_{rule}")
