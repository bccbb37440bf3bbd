"""A network cut into a chain of segments at chosen layers (introduced in lesson 09).

``layer_segments(model, layers) -> (segments, names)``: ``x -> A_1``, ``A_1 -> A_2``, ...,
``A_L -> y``, sharing the model's weights, so a caller can change the activations between two
segments (unit ablation multiplies them by a mask) with one batched forward pass of the rest of
the network and no rewritten copy of the model per change.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from xaikit.base.messages import message
from xaikit.core import find_layer

__all__ = ["layer_segments"]


def _single(tensors: list) -> object:
    return tensors[0] if len(tensors) == 1 else tensors


def layer_segments(
    model: keras.Model, layers: Sequence[str | int | keras.layers.Layer]
) -> tuple[list[keras.Model], list[str]]:
    """Cut ``model`` at the outputs of ``layers``: ``x -> A_1``, ``A_1 -> A_2``, ..., ``A_L -> y``.

    Running the segments one after the other gives the model's output.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional; the layers must be top-level layers of ``model``.
    layers : sequence of name, index or Layer
        Where to cut; any order (the segments follow the graph).

    Returns
    -------
    segments : list of keras.Model
        ``len(layers) + 1`` models; the last one ends at the model's output.
    names : list of str
        The layers' names in graph order.

    Raises
    ------
    TypeError
        A subclassed model (no layer graph).
    ValueError
        Unknown layers, a layer inside a nested model, or a connection that bypasses a cut (a
        skip connection around the layer, or a layer also called in another model): the rest of
        the network must depend on the input only through the cut.
    """
    found = [find_layer(model, layer) for layer in layers]
    top = [id(layer) for layer in model.layers]
    nested = [layer.name for layer in found if id(layer) not in top]
    if nested:
        raise ValueError(message("segments_nested", layers=nested, model=model.name,
                                 top=[layer.name for layer in model.layers]))
    order = sorted({id(layer): layer for layer in found}.values(),
                   key=lambda layer: top.index(id(layer)))
    tensors = [_single(list(model.inputs)), *[layer.output for layer in order],
               _single(list(model.outputs))]
    segments = []
    for start, end, name in zip(tensors[:-1], tensors[1:],
                                [*[layer.name for layer in order], "output"]):
        try:
            segments.append(keras.Model(start, end))
        except ValueError as error:
            raise ValueError(message("segments_bypass", model=model.name, layer=name)) from error
    return segments, [layer.name for layer in order]
