"""Probing a network's inside: the graph walked with nested models inlined, and feature models.

Introduced in lesson 12. Model surgery for the interpretation layer (units, activation
maximisation, inversion, dissection); like every rewrite in :mod:`xaikit.core.models` the new
models **share the user's layers and weights** and never modify the user's model.

API
---
- ``walk(model, visit=None) -> (inputs, outputs)``: re-run ``model``'s graph on a fresh
  ``keras.Input`` with every nested model inlined (Sequential or functional, at any depth), so
  that each leaf layer is called once in one flat graph; ``visit(layer, inputs, output)`` is
  called after each leaf call (inputs: the flat list of tensors it got), and once first as
  ``visit(None, [], input)`` with the fresh input.
- ``feature_model(model, layers, *, output=False, rotations=None) -> keras.Model``:
  ``x -> [A_1, ..., A_L]`` (plus the model's output last when ``output=True``), truncated: only
  the layers the outputs need are computed. ``rotations`` maps a layer name to a (K, K)
  matrix Q applied to its channels, ``A -> A Q`` (the rotated basis of Bau et al. 2017, Sec. 3.2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from xaikit.base.messages import message
from xaikit.core.surgery.layers import find_layer, require_graph

__all__ = ["feature_model", "walk"]


def _leaf_call(layer: keras.layers.Layer, args: tuple, kwargs: dict, visit: Callable | None):
    if isinstance(layer, keras.Model):
        inputs = keras.tree.flatten(args)
        return _inline(layer, inputs[0] if len(inputs) == 1 else inputs, visit)
    out = layer(*args, **kwargs)
    if visit is not None:
        visit(layer, [t for t in keras.tree.flatten(args) if hasattr(t, "shape")], out)
    return out


def _inline(container: keras.Model, x: Any, visit: Callable | None):
    """``container``'s graph applied to the symbolic tensor(s) ``x``, nested models inlined."""
    require_graph(container, "walk")
    if isinstance(container, keras.Sequential):
        for layer in container.layers:
            x = _leaf_call(layer, (x,), {}, visit)
        return x
    rebuilt = keras.models.clone_model(
        container, input_tensors=keras.tree.pack_sequence_as(container.input, keras.tree.flatten(x)),
        clone_function=lambda layer: layer,
        call_function=lambda layer, *args, **kwargs: _leaf_call(layer, args, kwargs, visit))
    outputs = rebuilt.outputs
    return outputs[0] if len(outputs) == 1 else outputs


def walk(model: keras.Model, visit: Callable | None = None) -> tuple[Any, Any]:
    """Rebuild ``model`` as one flat graph on a fresh input, calling ``visit`` after each layer.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional, with a known input shape; nested models are inlined.
    visit : callable, optional
        ``visit(layer, inputs, output)`` for every leaf layer call, in graph order, after one
        first call ``visit(None, [], input)`` with the fresh input.

    Returns
    -------
    (inputs, outputs)
        The fresh ``keras.Input`` and the output tensor(s) of the flat graph.

    Raises
    ------
    TypeError
        A subclassed model (no graph to walk).
    """
    require_graph(model, "walk")
    shape = tuple(model.inputs[0].shape[1:]) if model.inputs else None
    if shape is None or len(model.inputs) != 1:
        raise ValueError(message("model_inputs", count=len(model.inputs or [])))
    inputs = keras.Input(shape=shape, name=f"{model.name}_input")
    if visit is not None:
        visit(None, [], inputs)
    return inputs, _inline(model, inputs, visit)


def feature_model(
    model: keras.Model,
    layers: Sequence[str | int | keras.layers.Layer],
    *,
    output: bool = False,
    rotations: Mapping[str, np.ndarray] | None = None,
) -> keras.Model:
    """The model ``x -> [A_1, ..., A_L]`` of the activations of ``layers`` (weights shared).

    Parameters
    ----------
    model : keras.Model
        Sequential or functional; layers inside nested models are found (by name).
    layers : sequence of names, indices or layers
        As :func:`xaikit.core.models.find_layer`; each must be called once in the graph.
    output : bool
        Append the model's own output as the last output.
    rotations : mapping of layer name to (K, K) array, optional
        Replace the activations A of that layer by ``A @ Q`` (a change of basis of its K
        channels; Bau et al., CVPR 2017, Sec. 3.2 use a random orthogonal Q).

    Returns
    -------
    keras.Model
        A functional model computing only what its outputs need.

    Raises
    ------
    ValueError
        An unknown layer, a layer called more than once, or a rotation of the wrong shape.
    """
    targets = [find_layer(model, layer) for layer in layers]
    rotations = dict(rotations or {})
    taps: dict[int, list] = {id(layer): [] for layer in targets}

    def visit(layer, _inputs, out):
        if id(layer) in taps:
            taps[id(layer)].append(out)

    inputs, outputs = walk(model, visit)
    tensors = []
    for layer in targets:
        found = taps[id(layer)]
        if len(found) != 1:
            raise ValueError(message("layer_calls", layer=layer.name, count=len(found)))
        tensor = found[0]
        if layer.name in rotations:
            tensor = _rotate(tensor, rotations[layer.name], layer.name)
        tensors.append(tensor)
    if output:
        tensors.append(outputs if not isinstance(outputs, list) else outputs[0])
    return keras.Model(inputs, tensors, name=f"{model.name}_features")


def _rotate(tensor: Any, rotation: np.ndarray, name: str) -> Any:
    rotation = np.asarray(rotation, np.float32)
    channels = int(tensor.shape[-1])
    if rotation.shape != (channels, channels):
        raise ValueError(message("expected", name=f"rotations[{name!r}]",
                                 expected=f"a ({channels}, {channels}) matrix",
                                 got=f"shape {rotation.shape}", fix=""))
    return keras.ops.matmul(tensor, keras.ops.convert_to_tensor(rotation))
