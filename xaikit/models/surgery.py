"""``logits_model``: the same network with its final softmax/sigmoid made linear.

Gradient-based explanations should differentiate the class *score* (the logit), not the
probability: a saturated softmax has near-zero gradients, and the softmax couples every class
(Simonyan et al., ICLR 2014 workshop, Sec. 2; Selvaraju et al., ICCV 2017, Sec. 3 use the
pre-softmax score :math:`y^c`).
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["logits_model", "output_activation"]

_SQUASHING = ("softmax", "sigmoid")


def _activation_name(fn: object) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name).lower()


def output_activation(model: keras.Model) -> str:
    """Name of the activation applied by a model's final layer.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional model (nested models are followed).

    Returns
    -------
    str
        ``"softmax"``, ``"sigmoid"``, ``"linear"`` or the name of another activation.
    """
    last = _output_layer(model)
    if isinstance(last, keras.Model):
        return output_activation(last)
    if isinstance(last, layers.Softmax):
        return "softmax"
    activation = getattr(last, "activation", None)
    return "linear" if activation is None else _activation_name(activation)


class _LinearPart(layers.Layer):
    """``Dense`` layer ``dense`` without its activation, computed with ``dense``'s own variables.

    The original layer is held as a sub-layer, so the weights are shared, not copied.
    """

    def __init__(self, dense: layers.Dense, **kwargs):
        super().__init__(name=f"{dense.name}_linear", **kwargs)
        self.dense = dense

    def call(self, x):
        y = ops.matmul(x, self.dense.kernel)
        if self.dense.use_bias:
            y = y + self.dense.bias
        return y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


def _output_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer producing the single output (the last layer: layers are in topological order)."""
    if _is_graph(model) and not isinstance(model, keras.Sequential) and len(model.outputs) != 1:
        raise ValueError(
            f"logits_model: model {model.name!r} has {len(model.outputs)} outputs; only "
            "single-output classifiers are supported. Build a model with the one output to explain, "
            "e.g. keras.Model(model.inputs, model.outputs[0])."
        )
    if not model.layers:
        raise ValueError(f"logits_model: model {model.name!r} has no layers.")
    return model.layers[-1]


def _is_graph(model: keras.Model) -> bool:
    """True for Sequential and functional models (those with a layer graph we can follow)."""
    if isinstance(model, keras.Sequential):
        return True
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def _input_shape(model: keras.Model) -> tuple:
    try:
        shape = model.inputs[0].shape
    except (AttributeError, ValueError, IndexError, TypeError):
        shape = None
    if shape is None:
        raise ValueError(
            f"logits_model: model {model.name!r} has no defined input shape; build it with "
            "keras.Input(shape=...) (or call model.build((None, H, W, C))) first."
        )
    return tuple(shape[1:])


def _strip(layer: keras.layers.Layer, x):
    """Apply ``layer`` to ``x`` without its final squashing; None if it is a pure softmax/sigmoid."""
    if isinstance(layer, keras.Model):
        return logits_model(layer)(x)
    if isinstance(layer, layers.Softmax):
        return None
    activation = getattr(layer, "activation", None)
    name = "linear" if activation is None else _activation_name(activation)
    if isinstance(layer, layers.Activation):
        if name in _SQUASHING:
            return None
        if name == "linear":
            return layer(x)
    elif name in _SQUASHING and isinstance(layer, layers.Dense):
        return _LinearPart(layer)(x)
    elif name == "linear":
        return layer(x)
    raise ValueError(
        f"logits_model: the output layer {layer.name!r} ({type(layer).__name__}) applies "
        f"activation {name!r}; expected a softmax or sigmoid (an Activation/Softmax layer or a "
        "Dense layer with activation='softmax'|'sigmoid') or a linear output."
    )


def logits_model(model: keras.Model) -> keras.Model:
    """Return ``model`` with its final softmax or sigmoid removed (the pre-activation scores).

    The returned model **shares layers and weights** with ``model`` (nothing is copied), so later
    changes to the weights (training, the cascading randomisation of the sanity checks) are seen
    by both; ``model`` itself is never modified. Handled heads: an ``Activation`` or ``Softmax``
    layer at the end (dropped), a ``Dense`` layer with ``activation="softmax"|"sigmoid"``
    (replaced by its linear part, computed with the same kernel and bias), a nested model whose
    own output is such a head (a ``keras.applications`` backbone inside a ``Sequential``,
    handled recursively), and a model that already ends in a linear layer (returned unchanged).

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional classifier with one output.

    Returns
    -------
    keras.Model
        A functional model from the same inputs to the logits, or ``model`` itself when its
        output is already linear.

    Raises
    ------
    TypeError
        ``model`` is not a Keras model, or is subclassed (no layer graph to follow).
    ValueError
        The model has several outputs, no input shape, or a final activation other than
        softmax/sigmoid/linear.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"logits_model expects a keras.Model; got {type(model).__name__}.")
    if not _is_graph(model):
        raise TypeError(
            f"logits_model: {type(model).__name__} is a subclassed model, whose layer graph "
            "cannot be rewritten; make call() return the logits (no final softmax) and pass that "
            "model instead, or wrap the layers in a functional/Sequential model."
        )
    if output_activation(model) == "linear":
        return model
    last = _output_layer(model)
    if isinstance(model, keras.Sequential):
        inputs = keras.Input(shape=_input_shape(model))
        x = inputs
        for layer in model.layers[:-1]:
            x = layer(x)
        stripped = _strip(last, x)
        return keras.Model(inputs, x if stripped is None else stripped, name=f"{model.name}_logits")

    def call(layer, *args, **kwargs):
        if layer is not last:
            return layer(*args, **kwargs)
        stripped = _strip(layer, args[0])
        return args[0] if stripped is None else stripped

    # clone_function=identity re-uses every layer (shared weights); only the head call changes.
    rewired = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    return keras.Model(rewired.input, rewired.output, name=f"{model.name}_logits")
