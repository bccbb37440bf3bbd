"""Model surgery, done once: the explained output, layer lookup, taps and ReLU-rule rewrites.

Every rewrite **shares the user's layers and weights** (nothing is copied, the user's model is
never modified), so later training of the model is seen by the rewritten models.

API
---
- ``explained_model(model, *, on="logits", output=None) -> keras.Model``: the single (N, K) output
  to explain: the logits (final softmax/sigmoid stripped by ``logits_model``) by default, or
  ``on="probabilities"`` (warns when that output is post-softmax). ``output`` picks one output of
  a multi-output model by index or name.
- ``find_layer(model, layer=None) -> keras.layers.Layer``: by name (searched inside nested
  models), by index into ``model.layers``, or ``None`` = the last layer with a 4-D output
  (inside nested backbones too). Unknown names raise a ValueError listing the candidates.
- ``activation_model(model, layer=None, *, on="logits", output=None) -> keras.Model``: the model
  ``x -> [activations of layer, explained output]``; works for a layer inside a nested backbone
  (a ``keras.applications`` model inside a Sequential) by rebuilding the enclosing graphs around
  the inner model's layers, which avoids keras' "graph disconnected" error.
- ``relu_override_model(model, rule, *, allow_other_activations=False) -> keras.Model``: the same
  network with every ReLU's backward pass replaced by ``rule`` ("deconvnet" or
  "guided_backprop"); covers ``Conv*/Dense(activation="relu")``, ``ReLU`` layers and
  ``Activation("relu")``. Other hidden activations raise unless explicitly allowed.
- ``logits_model``, ``output_activation``: re-exported from :mod:`xaikit.models`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

from xaikit.core.checks import warn
from xaikit.models.surgery import logits_model, output_activation

__all__ = [
    "RELU_RULES",
    "activation_model",
    "explained_model",
    "find_layer",
    "iter_layers",
    "logits_model",
    "output_activation",
    "relu_override_model",
]

RELU_RULES = ("deconvnet", "guided_backprop")
_NEUTRAL_ACTIVATIONS = ("linear", "relu")


def _is_graph_model(layer: object) -> bool:
    if isinstance(layer, keras.Sequential):
        return True
    if not isinstance(layer, keras.Model):
        return False
    try:
        return bool(layer.inputs) and bool(layer.outputs)
    except (AttributeError, ValueError):
        return False


def require_graph(model: keras.Model, what: str) -> None:
    """TypeError naming ``what`` when ``model`` is subclassed (no layer graph to walk or rewire)."""
    if not _is_graph_model(model):
        raise TypeError(
            f"{what}: {type(model).__name__} is a subclassed model without a layer graph; "
            "allowed: Sequential or functional models (build the layers with keras.Input)"
        )


def iter_layers(model: keras.Model) -> Iterator[tuple[tuple[keras.Model, ...], keras.layers.Layer]]:
    """Yield ``(containers, layer)`` for every layer, depth first, nested models expanded.

    ``containers`` is the chain of models from ``model`` down to the one holding ``layer``.
    """
    for layer in model.layers:
        yield (model,), layer
        if isinstance(layer, keras.Model):
            for inner, sub in iter_layers(layer):
                yield (model, *inner), sub


def _output_rank(layer: keras.layers.Layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError):
        return None


def find_layer(model: keras.Model, layer: str | int | keras.layers.Layer | None = None):
    """Find a layer by name, index or automatically.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional; nested models are searched.
    layer : str, int, Layer or None
        A name (searched at every nesting depth, outermost first), an index into
        ``model.layers`` (negative allowed), a layer object, or ``None`` for the last layer
        with a 4-D (N, h, w, k) output, looking inside nested backbones.

    Returns
    -------
    keras.layers.Layer

    Raises
    ------
    ValueError
        Unknown name or index, or no 4-D layer; the message lists the candidates.
    """
    require_graph(model, "find_layer")
    spatial = [sub.name for _, sub in iter_layers(model)
               if not isinstance(sub, keras.layers.InputLayer) and _output_rank(sub) == 4]
    if layer is None:
        if not spatial:
            raise ValueError(
                f"model {model.name!r} has no layer with a 4-D (N, h, w, k) output; pass layer= "
                f"one of: {[sub.name for _, sub in iter_layers(model)]}"
            )
        layer = spatial[-1]
    if isinstance(layer, keras.layers.Layer):
        if any(sub is layer for _, sub in iter_layers(model)):
            return layer
        raise ValueError(f"layer {layer.name!r} is not part of model {model.name!r}")
    if isinstance(layer, (int,)) and not isinstance(layer, bool):
        if not -len(model.layers) <= layer < len(model.layers):
            raise ValueError(
                f"layer index {layer} is out of range; model {model.name!r} has "
                f"{len(model.layers)} layers (allowed {-len(model.layers)}..{len(model.layers) - 1})"
            )
        return model.layers[layer]
    if isinstance(layer, str):
        for _, sub in iter_layers(model):
            if sub.name == layer:
                return sub
        raise ValueError(
            f"no layer named {layer!r} in model {model.name!r}; layers with a 4-D output: "
            f"{spatial}; all layers: {[sub.name for _, sub in iter_layers(model)]}"
        )
    raise TypeError(f"layer={layer!r} is not allowed; allowed: a name, an int index, a Layer or None")


def _rebuild(container: keras.Model, call: Callable) -> tuple[list, list]:
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

    inputs, outputs = _rebuild(container, call)
    if len(taps) != 1:
        raise ValueError(
            f"layer {target.name!r} is called {len(taps)} times in {container.name!r}; "
            "allowed: a layer used exactly once"
        )
    return keras.Model(_single(inputs), [taps[0], outputs[0]], name=f"{container.name}_tap_{target.name}")


def explained_model(
    model: keras.Model, *, on: str = "logits", output: int | str | None = None
) -> keras.Model:
    """The model whose single (N, K) output is explained.

    Parameters
    ----------
    model : keras.Model
        The user's classifier (never modified).
    on : {"logits", "probabilities"}
        ``"logits"`` (default) strips a final softmax/sigmoid with ``logits_model``;
        ``"probabilities"`` keeps it and warns when the output is a softmax (its gradients
        mix all classes and saturate).
    output : int, str or None
        For multi-output models: the index or output-layer name to explain.

    Raises
    ------
    ValueError
        ``on`` not allowed, multi-output model without ``output``, unknown ``output``,
        or an output that is not (N, K).
    """
    if on not in ("logits", "probabilities"):
        raise ValueError(f"on={on!r} is not allowed; allowed: 'logits', 'probabilities'")
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}")
    model = _select_output(model, output)
    if on == "probabilities":
        if _is_graph_model(model) and output_activation(model) == "softmax":
            warn(
                "explaining post-softmax probabilities: their gradients couple every class and "
                "vanish when the softmax saturates; the default on='logits' explains the class "
                "score before the softmax"
            )
        return model
    if not _is_graph_model(model):
        warn(
            f"model {model.name!r} is subclassed: xaikit cannot see or strip a softmax inside its "
            "call(), so it explains what call() returns; return logits from call() for the "
            "class score before the softmax"
        )
        return model
    head = logits_model(model)
    rank = len(head.outputs[0].shape)
    if rank != 2:
        raise ValueError(
            f"model {model.name!r} outputs shape {tuple(head.outputs[0].shape)}; xaikit explains "
            "classifiers with an (N, K) output"
        )
    return head


def _select_output(model: keras.Model, output: int | str | None) -> keras.Model:
    if not _is_graph_model(model) or isinstance(model, keras.Sequential):
        if output not in (None, 0):
            raise ValueError(f"output={output!r} given but model {model.name!r} has a single output")
        return model
    names = [tensor.name for tensor in model.outputs]
    if len(names) == 1:
        if output not in (None, 0, names[0]):
            raise ValueError(f"output={output!r} is not allowed; the model has one output {names}")
        return model
    if output is None:
        raise ValueError(
            f"model {model.name!r} has {len(names)} outputs {names}; pass output= one of "
            f"{list(range(len(names)))} or a name from {names}"
        )
    if isinstance(output, str):
        layer_names = [tensor._keras_history.operation.name for tensor in model.outputs]
        if output not in names and output not in layer_names:
            raise ValueError(f"output={output!r} is not an output of the model; allowed: {layer_names}")
        index = names.index(output) if output in names else layer_names.index(output)
    else:
        if not isinstance(output, int) or not -len(names) <= output < len(names):
            raise ValueError(f"output={output!r} is not allowed; allowed: 0..{len(names) - 1}")
        index = output
    return keras.Model(model.inputs, model.outputs[index], name=f"{model.name}_output{index}")


def activation_model(
    model: keras.Model,
    layer: str | int | keras.layers.Layer | None = None,
    *,
    on: str = "logits",
    output: int | str | None = None,
) -> keras.Model:
    """Model ``x -> [activations A of layer, explained output (N, K)]`` sharing ``model``'s weights.

    Works for Sequential and functional models and for a layer inside a nested backbone: the
    enclosing graphs are rebuilt around the inner model's layers, so the activations and the
    logits come from one connected graph.

    Raises
    ------
    ValueError
        As :func:`find_layer` and :func:`explained_model`.
    """
    require_graph(model, "activation_model")
    target = find_layer(model, layer)
    head = explained_model(model, on=on, output=output)
    if not _contains(head, target):
        raise ValueError(f"layer {target.name!r} does not feed the explained output of {model.name!r}")
    return _tap_model(head, target)


class _OverriddenReLU(keras.layers.Layer):
    """ReLU whose backward pass follows a modified rule (Kim's slides, "Backprop. Based").

    - backprop:        R_in = R_out * [f > 0]
    - deconvnet:       R_in = R_out * [R_out > 0]                 (Zeiler & Fergus 2014)
    - guided_backprop: R_in = R_out * [f > 0] * [R_out > 0]       (Springenberg et al. 2015)
    """

    def __init__(self, rule: str, **kwargs):
        super().__init__(**kwargs)
        self.rule = rule

    def call(self, x):
        rule = self.rule

        @tf.custom_gradient
        def relu(features):
            def grad(upstream):
                if rule == "deconvnet":
                    return tf.nn.relu(upstream)
                return tf.nn.relu(upstream) * tf.cast(features > 0, upstream.dtype)

            return tf.nn.relu(features), grad

        return relu(x)

    def compute_output_shape(self, input_shape):
        return input_shape


class _Preactivation(keras.layers.Layer):
    """A Dense/Conv layer without its activation, computed with that layer's own variables."""

    def __init__(self, inner: keras.layers.Layer, **kwargs):
        super().__init__(name=f"{inner.name}_preact", **kwargs)
        self.inner = inner

    def call(self, x):
        inner = self.inner
        if isinstance(inner, keras.layers.Dense):
            y = keras.ops.matmul(x, inner.kernel)
            return y + inner.bias if inner.use_bias else y
        y = inner.convolution_op(x, inner.kernel)
        if inner.use_bias:
            y = y + keras.ops.reshape(inner.bias, (1,) * (len(y.shape) - 1) + (-1,))
        return y

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


def _activation_of(layer: keras.layers.Layer) -> str | None:
    if isinstance(layer, keras.layers.ReLU):
        plain = (layer.max_value is None and not layer.negative_slope and not layer.threshold)
        return "relu" if plain else "relu (with max_value/negative_slope/threshold)"
    if isinstance(layer, (keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU,
                          keras.layers.Softmax)):
        return type(layer).__name__
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", type(activation).__name__).lower()
    return name


def relu_override_model(
    model: keras.Model, rule: str, *, allow_other_activations: bool = False
) -> keras.Model:
    """``model`` with every ReLU's gradient replaced by the deconvnet or guided-backprop rule.

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
    """
    if rule not in RELU_RULES:
        raise ValueError(f"rule={rule!r} is not allowed; allowed: {RELU_RULES}")
    require_graph(model, "relu_override_model")
    unsupported = [
        (sub.name, act) for _, sub in iter_layers(model)
        if (act := _activation_of(sub)) is not None and act not in _NEUTRAL_ACTIVATIONS
    ]
    last = model.layers[-1]
    unsupported = [(name, act) for name, act in unsupported if name != last.name]
    if unsupported and not allow_other_activations:
        raise ValueError(
            f"{rule} defines a backward rule for ReLU only; layers {unsupported} use other "
            "activations. Allowed: ReLU, Activation('relu'), activation='relu'; pass "
            "allow_other_activations=True to keep their ordinary gradients"
        )

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            return relu_override_model(layer, rule, allow_other_activations=True)(*args, **kwargs)
        if _activation_of(layer) != "relu":
            return layer(*args, **kwargs)
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)):
            return _OverriddenReLU(rule, name=f"{layer.name}_{rule}")(*args, **kwargs)
        if not isinstance(layer, keras.layers.Dense) and not hasattr(layer, "convolution_op"):
            raise ValueError(
                f"layer {layer.name!r} ({type(layer).__name__}) has activation='relu' but is not "
                "a Dense or Conv layer; allowed: Dense, Conv1D/2D/3D, ReLU, Activation('relu')"
            )
        pre = _Preactivation(layer)(*args, **kwargs)
        return _OverriddenReLU(rule, name=f"{layer.name}_{rule}")(pre)

    inputs, outputs = _rebuild(model, call)
    return keras.Model(_single(inputs), outputs[0], name=f"{model.name}_{rule}")
