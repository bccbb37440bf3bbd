"""Layer taps: the activations of several layers in one batched forward pass, and a model's tail.

Interpretation methods (TCAV, CKA, MMD-critic, CRAFT) read a model's internal representations
rather than its input gradients. The surgery they need lives here, once:

- :func:`layers_model`: ``x -> [A_1, ..., A_n]`` for any layers of a Sequential or functional
  model (nested backbones too), sharing the user's layers and weights;
- :func:`layer_activations`: those activations for a batch of images, computed in internal
  batches with one compiled forward pass, optionally averaged over the spatial positions;
- :func:`tail_model`: ``A -> explained output``, the part of the network after a layer (the
  function a concept decomposition of ``A`` is fed back into).

Introduced in lesson 14.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from xaikit.base.messages import message
from xaikit.core.batching import batch_slices, cached, forward_function
from xaikit.core.checks import check_images, check_option
from xaikit.core.surgery import explained_model, find_layer, iter_layers, require_graph
from xaikit.core.surgery.rewrite import rebuild

__all__ = ["POOLS", "layer_activations", "layer_names", "layers_model", "tail_model"]

POOLS = (None, "mean")
"""How :func:`layer_activations` reduces a 4-D (N, h, w, k) activation: kept, or averaged over
(h, w) to (N, k) (global average pooling)."""


def layer_names(model: keras.Model) -> list[str]:
    """Names of every layer with one (N, ...) output, depth first, inputs and nested models
    excluded: the candidates of :func:`layers_model`."""
    require_graph(model, "layer_names")
    return [layer.name for _, layer in iter_layers(model)
            if not isinstance(layer, (keras.layers.InputLayer, keras.Model))
            and _rank(layer) is not None]


def _rank(layer: keras.layers.Layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError):
        return None


def _contains_any(model: keras.Model, targets: Sequence[keras.layers.Layer]) -> bool:
    return any(sub is target for _, sub in iter_layers(model) for target in targets)


def _multi_tap(container: keras.Model, targets: Sequence[keras.layers.Layer]) -> keras.Model:
    """Model ``x -> [output of each target, container's output]`` around shared layers."""
    taps: dict[int, Any] = {}

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model) and _contains_any(layer, targets):
            inner = [t for t in targets if any(sub is t for _, sub in iter_layers(layer))]
            *tapped, out = _multi_tap(layer, inner)(*args, **kwargs)
            taps.update({id(t): a for t, a in zip(inner, tapped)})
            return out
        out = layer(*args, **kwargs)
        if any(layer is t for t in targets):
            if id(layer) in taps:
                raise ValueError(message("layer_reused_tap", layer=layer.name,
                                         model=container.name))
            taps[id(layer)] = out
        return out

    inputs, outputs = rebuild(container, call)
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                       [*(taps[id(t)] for t in targets), outputs[0]])


def layers_model(model: keras.Model, layers: Sequence[str | int | keras.layers.Layer]
                 ) -> keras.Model:
    """Model ``x -> [A_1, ..., A_n]`` with the activations of ``layers``, weights shared.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional (nested models are followed); never modified.
    layers : sequence of str, int or Layer
        As :func:`xaikit.core.find_layer`; at least one.

    Returns
    -------
    keras.Model
        Cached per (model, layers); its outputs are a list even for one layer.

    Raises
    ------
    ValueError
        Unknown layer (the message lists the candidates), an empty list, or a layer called
        more than once in the graph.
    TypeError
        A subclassed model.

    Examples
    --------
    >>> net = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, name="c"),
    ...                         keras.layers.Flatten(name="f"), keras.layers.Dense(3, name="d")])
    >>> [tuple(t.shape) for t in layers_model(net, ["c", "d"]).outputs]
    [(None, 2, 2, 2), (None, 3)]
    """
    require_graph(model, "layers_model")
    if isinstance(layers, (str, int)) or not len(layers):
        raise ValueError(message("expected", name="layers", expected="a non-empty list of layer "
                                 "names, indices or layers", got=repr(layers), fix=""))
    found = [find_layer(model, layer) for layer in layers]
    key = ("layers", tuple(id(layer) for layer in found))

    def build() -> keras.Model:
        tapped = _multi_tap(model, found)
        return keras.Model(tapped.inputs, tapped.outputs[:-1], name=f"{model.name}_layers")

    return cached(model, key, build)


def layer_activations(model: keras.Model, images: Any,
                      layers: Sequence[str | int | keras.layers.Layer], *,
                      pool: str | None = None, batch_size: int = 32) -> dict[str, np.ndarray]:
    """Activations of ``layers`` for ``images``, one compiled forward pass per internal batch.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional.
    images : array (N, H, W, C)
    layers : sequence of str, int or Layer
    pool : {None, "mean"}
        None keeps each activation as it is; ``"mean"`` averages 4-D (N, h, w, k) activations
        over (h, w) inside each batch (memory O(N k) instead of O(N h w k)).
    batch_size : int
        Images per forward pass.

    Returns
    -------
    dict
        Layer name -> float32 array (N, ...) in the order of ``layers``.

    Examples
    --------
    >>> net = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, name="c"),
    ...                         keras.layers.Flatten(), keras.layers.Dense(3, name="d")])
    >>> acts = layer_activations(net, np.zeros((5, 4, 4, 1)), ["c"], pool="mean")
    >>> acts["c"].shape
    (5, 2)
    """
    check_option("pool", pool, POOLS)
    tapped = layers_model(model, layers)
    images = check_images(images, tapped)
    forward = forward_function(tapped)
    names = [find_layer(model, layer).name for layer in layers]
    parts: list[list[np.ndarray]] = [[] for _ in names]
    for part in batch_slices(len(images), batch_size):
        outputs = forward(images[part])
        for store, value in zip(parts, outputs if isinstance(outputs, (list, tuple))
                                else [outputs]):
            value = np.asarray(value, np.float32)
            store.append(value.mean(axis=(1, 2)) if pool == "mean" and value.ndim == 4
                         else value)
    return {name: np.concatenate(store) for name, store in zip(names, parts)}


def tail_model(model: keras.Model, layer: str | int | keras.layers.Layer, *,
               on: str = "logits", output: int | str | None = None) -> keras.Model:
    """Model ``A -> explained output``: the network after ``layer``, weights shared.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional, with ``layer`` in its top-level graph.
    layer : str, int or Layer
        Its output is the tail's input.
    on, output
        As :func:`xaikit.core.explained_model` (logits by default).

    Raises
    ------
    ValueError
        ``layer`` inside a nested model, or a tail that needs more than ``layer``'s output
        (a skip connection around it).

    Examples
    --------
    >>> net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="h"),
    ...                         keras.layers.Dense(2, name="out")])
    >>> tuple(tail_model(net, "h").inputs[0].shape)
    (None, 4)
    """
    require_graph(model, "tail_model")
    found = find_layer(model, layer)

    def build() -> keras.Model:
        if not any(sub is found for sub in model.layers):
            raise ValueError(message("tail_nested", layer=found.name, model=model.name))
        if isinstance(model, keras.Sequential):  # a chain: the layers after ``found``
            start = x = keras.Input(shape=tuple(found.output.shape[1:]))
            for sub in model.layers[[id(s) for s in model.layers].index(id(found)) + 1:]:
                x = sub(x)
            rest = keras.Model(start, x, name=f"{model.name}_tail")
        else:
            try:
                rest = keras.Model(found.output, model.outputs, name=f"{model.name}_tail")
            except ValueError as error:
                raise ValueError(message("tail_graph", layer=found.name, model=model.name,
                                         error=error)) from error
        return explained_model(rest, on=on, output=output)

    return cached(model, ("tail", id(found), on, output), build)
