"""Layer lookup: walking nested models, finding a layer, the spatial layers, a GAP + dense head.

Every function reads the model's layer graph and changes nothing.  Nested models (a
``keras.applications`` backbone inside a ``Sequential``) are searched depth first.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np

from xaikit.base.messages import message

__all__ = [
    "gap_dense",
    "find_layer",
    "is_graph_model",
    "iter_layers",
    "output_rank",
    "require_graph",
    "spatial_layer",
    "spatial_layer_names",
]

LayerRef = str | int | keras.layers.Layer | None


def is_graph_model(model: object) -> bool:
    """True for Sequential and functional models (those with a layer graph to follow or rewire).

    Examples
    --------
    >>> is_graph_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    True
    """
    if isinstance(model, keras.Sequential):
        return True
    if not isinstance(model, keras.Model):
        return False
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def require_graph(model: keras.Model, what: str) -> None:
    """TypeError naming ``what`` when ``model`` is subclassed (no layer graph to walk or rewire)."""
    if not is_graph_model(model):
        raise TypeError(message("subclassed", what=what, model=type(model).__name__))


def iter_layers(model: keras.Model) -> Iterator[tuple[tuple[keras.Model, ...], keras.layers.Layer]]:
    """Yield ``(containers, layer)`` for every layer, depth first, nested models expanded.

    ``containers`` is the chain of models from ``model`` down to the one holding ``layer``.
    """
    for layer in model.layers:
        yield (model,), layer
        if isinstance(layer, keras.Model):
            for inner, sub in iter_layers(layer):
                yield (model, *inner), sub


def output_rank(layer: keras.layers.Layer) -> int | None:
    """The rank of ``layer``'s (symbolic) output, or None when it has no single built output."""
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError):
        return None


def spatial_layer_names(model: keras.Model) -> list[str]:
    """Names of the layers with a 4-D (N, h, w, k) output, depth first (nested models too)."""
    return [sub.name for _, sub in iter_layers(model)
            if not isinstance(sub, keras.layers.InputLayer) and output_rank(sub) == 4]


def find_layer(model: keras.Model, layer: LayerRef = None) -> keras.layers.Layer:
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
    TypeError
        A subclassed model, or ``layer`` of another type.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, name="c"),
    ...                           keras.layers.Flatten(), keras.layers.Dense(2)])
    >>> find_layer(model).name
    'c'
    """
    require_graph(model, "find_layer")
    spatial = spatial_layer_names(model)
    every = [sub.name for _, sub in iter_layers(model)]
    if layer is None:
        if not spatial:
            raise ValueError(message("no_spatial_layer", model=model.name, layers=every))
        layer = spatial[-1]
    if isinstance(layer, keras.layers.Layer):
        if any(sub is layer for _, sub in iter_layers(model)):
            return layer
        raise ValueError(message("layer_foreign", layer=layer.name, model=model.name))
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        count = len(model.layers)
        if not -count <= layer < count:
            raise ValueError(message("layer_index", index=layer, model=model.name, count=count,
                                     low=-count, high=count - 1))
        return model.layers[layer]
    if isinstance(layer, str):
        for _, sub in iter_layers(model):
            if sub.name == layer:
                return sub
        raise ValueError(message("layer_name", layer=layer, model=model.name, spatial=spatial,
                                 layers=every))
    raise TypeError(message("layer_type", value=layer))


def spatial_layer(model: keras.Model, layer: LayerRef = None) -> keras.layers.Layer:
    """The layer whose 4-D (N, h, w, K) activations a CAM method weights.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional; nested backbones are searched.
    layer : str, int, Layer or None
        As :func:`find_layer`: a name, an index into ``model.layers``, a layer, or None for the
        last layer with a 4-D output.

    Raises
    ------
    ValueError
        Unknown layer, or a layer whose output is not 4-D; the message lists the 4-D layers.
    """
    found = find_layer(model, layer)
    if output_rank(found) != 4:
        raise ValueError(message("layer_not_spatial", layer=found.name,
                                 shape=tuple(found.output.shape),
                                 allowed=spatial_layer_names(model)))
    return found


def gap_dense(head: keras.Model, n_channels: int) -> tuple[str, np.ndarray, np.ndarray]:
    """The dense layer of a conv -> GlobalAveragePooling2D -> Dense head (Zhou et al. 2016).

    Parameters
    ----------
    head : keras.Model
        The explained model (logits, one output).
    n_channels : int
        K, the channels of the spatial layer that feeds the pooling.

    Returns
    -------
    (name, kernel (K, n_classes) float32, bias (n_classes,) float32)
        The last Dense layer whose kernel maps the K channels to the head's classes.

    Raises
    ------
    ValueError
        No such Dense layer (use Grad-CAM, which equals CAM on GAP nets and works on any net).
    """
    n_classes = int(head.outputs[0].shape[-1])
    dense = [sub for _, sub in iter_layers(head) if isinstance(sub, keras.layers.Dense)
             and tuple(sub.kernel.shape) == (n_channels, n_classes)]
    if not dense:
        raise ValueError(message("cam_no_gap_dense", model=head.name, channels=n_channels,
                                 classes=n_classes))
    layer = dense[-1]
    kernel = np.asarray(layer.kernel, np.float32)
    bias = (np.asarray(layer.bias, np.float32) if layer.use_bias
            else np.zeros(n_classes, np.float32))
    return layer.name, kernel, bias
