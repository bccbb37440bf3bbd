"""The explained output: one output of the model, its logits, or its probabilities.

Gradient-based explanations differentiate the class *score* (the logit), not the probability: a
saturated softmax has near-zero gradients, and the softmax couples every class (Simonyan et al.,
ICLR 2014 workshop, Sec. 2; Selvaraju et al., ICCV 2017, Sec. 3 use the pre-softmax score
:math:`y^c`).  Every rewrite here **shares the user's layers and weights**: nothing is copied and
the user's model is never modified, so later training is seen by the rewritten models.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from xaikit.base.checks import check_option, warn
from xaikit.base.messages import message
from xaikit.base.vocabulary import ON
from xaikit.core.surgery.layers import is_graph_model, require_graph

__all__ = ["explained_model", "logits_model", "output_activation", "select_output"]

SQUASHING = ("softmax", "sigmoid")


def _activation_name(fn: object) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name).lower()


def _output_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer producing the single output (the last layer: layers are in topological order)."""
    if is_graph_model(model) and not isinstance(model, keras.Sequential) and len(model.outputs) != 1:
        raise ValueError(message("logits_outputs", model=model.name, count=len(model.outputs)))
    if not model.layers:
        raise ValueError(message("model_empty", model=model.name))
    return model.layers[-1]


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

    Examples
    --------
    >>> output_activation(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "softmax")]))
    'softmax'
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
        return y + self.dense.bias if self.dense.use_bias else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


def _input_shape(model: keras.Model) -> tuple:
    try:
        shape = model.inputs[0].shape
    except (AttributeError, ValueError, IndexError, TypeError):
        shape = None
    if shape is None:
        raise ValueError(message("model_shape_unknown", model=model.name))
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
        if name in SQUASHING:
            return None
        if name == "linear":
            return layer(x)
    elif name in SQUASHING and isinstance(layer, layers.Dense):
        return _LinearPart(layer)(x)
    elif name == "linear":
        return layer(x)
    raise ValueError(message("logits_activation", layer=layer.name, kind=type(layer).__name__,
                             activation=name))


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

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "softmax")])
    >>> output_activation(logits_model(model))
    'linear'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(message("not_a_model", name="model", got=type(model).__name__))
    require_graph(model, "logits_model")
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


def select_output(model: keras.Model, output: int | str | None) -> keras.Model:
    """The sub-model ``inputs -> outputs[output]`` of a multi-output model (shared layers).

    ``output`` is an index or a name (of the output tensor or of the layer producing it); a
    single-output model accepts ``None``, ``0`` or its own output's name and is returned as is.

    Raises
    ------
    ValueError
        A multi-output model without ``output``, or an ``output`` that is not one of the model's.
    """
    if not is_graph_model(model) or isinstance(model, keras.Sequential):
        if output not in (None, 0):
            raise ValueError(message("output_single", output=output, model=model.name))
        return model
    names = [tensor.name for tensor in model.outputs]
    layer_names = [tensor._keras_history.operation.name for tensor in model.outputs]
    if len(names) == 1:
        if output not in (None, 0, names[0], layer_names[0]):
            raise ValueError(message("output_single", output=output, model=model.name))
        return model
    if output is None:
        raise ValueError(message("output_missing", model=model.name, count=len(names),
                                 last=len(names) - 1, names=layer_names))
    if isinstance(output, str):
        if output not in names and output not in layer_names:
            raise ValueError(message("output_unknown", output=output, names=layer_names,
                                     last=len(names) - 1))
        index = names.index(output) if output in names else layer_names.index(output)
    elif isinstance(output, int) and not isinstance(output, bool) and -len(names) <= output < len(names):
        index = output % len(names)
    else:
        raise ValueError(message("output_unknown", output=output, names=layer_names,
                                 last=len(names) - 1))
    return keras.Model(model.inputs, model.outputs[index], name=f"{model.name}_output{index}")


def explained_model(
    model: keras.Model, *, on: str = "logits", output: int | str | None = None
) -> keras.Model:
    """The model whose single (N, K) output is explained.

    Parameters
    ----------
    model : keras.Model
        The user's classifier (never modified).
    on : {"logits", "probabilities"}
        ``"logits"`` (default): the scores before a final softmax/sigmoid (stripped with
        :func:`logits_model`).  ``"probabilities"``: the model's own output when it ends in a
        softmax or sigmoid, and the softmax of the logits when it ends in a linear layer, so a
        logits head and a softmax head with the same weights give the same probabilities.
    output : int, str or None
        For multi-output models: the index or output-layer name to explain.

    Returns
    -------
    keras.Model
        A model ``x -> (N, K)`` sharing ``model``'s layers.  A subclassed model is returned as is
        (xaikit cannot see inside its ``call``; a warning says so).

    Raises
    ------
    ValueError
        ``on`` not allowed, multi-output model without ``output``, unknown ``output``,
        or an output that is not (N, K).
    TypeError
        ``model`` is not a Keras model.
    """
    check_option("on", on, ON)
    if not isinstance(model, keras.Model):
        raise TypeError(message("not_a_model", name="model", got=type(model).__name__))
    model = select_output(model, output)
    if not is_graph_model(model):
        warn(message("subclassed_logits", model=model.name, on=on))
        return model
    head = logits_model(model)
    rank = len(head.outputs[0].shape)
    if rank != 2:
        raise ValueError(message("output_rank", model=model.name,
                                 shape=tuple(head.outputs[0].shape)))
    if on == "logits":
        return head
    if output_activation(model) in SQUASHING:
        return model
    probabilities = layers.Softmax(name=f"{model.name}_softmax")(head.outputs[0])
    return keras.Model(head.inputs, probabilities, name=f"{model.name}_probabilities")
