"""What one unit sees: filters, feature maps, receptive fields, top patches and their projections.

Introduced in lesson 12. A *unit* is one channel k of a convolutional layer (a feature map
A^k, N x h x w); its activation at grid position (i, j) depends only on the input pixels of
its *receptive field*, which :func:`receptive_field` computes from the architecture.
Zeiler & Fergus (ECCV 2014, arXiv:1311.2901, Fig. 2) show, for a unit, the 9 dataset patches
that activate it most (:func:`top_activations`) next to the deconvnet *projection* of each
activation back to pixel space (:func:`project`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.base.messages import message
from xaikit.core import batching, cached, check_images, check_option, find_layer
from xaikit.core.probes import feature_model
from xaikit.core.surgery.rewrite import RELU_RULES, relu_override_model
from xaikit.interpretation.receptive_fields import ReceptiveField, receptive_field

__all__ = ["ReceptiveField", "TopActivations", "check_units", "crop", "feature_maps", "filters",
           "project", "receptive_field", "spatial_layer", "top_activations"]


def spatial_layer(model: keras.Model, layer: Any, what: str) -> keras.layers.Layer:
    """``find_layer`` that insists on a (N, h, w, K) output (the message lists the candidates)."""
    found = find_layer(model, layer)
    shape = tuple(found.output.shape)
    if len(shape) != 4:
        candidates = [sub.name for sub in _layers(model) if len(tuple(sub.output.shape)) == 4]
        raise ValueError(message("not_spatial", what=what, layer=found.name, shape=shape,
                                 candidates=candidates))
    return found


def _layers(model: keras.Model) -> list:
    from xaikit.core.surgery.layers import iter_layers

    return [sub for _, sub in iter_layers(model) if not isinstance(sub, keras.Model)
            and not isinstance(sub, keras.layers.InputLayer)]


def check_units(units: Any, count: int, layer: str) -> np.ndarray:
    """``units`` (None = all, an int or ints) as an int64 array of channel indices of ``layer``."""
    if units is None:
        return np.arange(count)
    array = np.atleast_1d(np.asarray(units))
    if (array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu"
            or (array < 0).any() or (array >= count).any()):
        raise ValueError(message("units", value=units, layer=layer, count=count, last=count - 1))
    return array.astype(np.int64)


def layer_features(model: keras.Model, layer: keras.layers.Layer) -> keras.Model:
    """Cached truncated model ``x -> A`` of one layer (shared weights)."""
    return cached(model, ("features", id(layer)), lambda: feature_model(model, [layer]))


def filters(model: keras.Model, layer: str | int | keras.layers.Layer | None = None) -> np.ndarray:
    """The kernel of a convolution, for display (first layer: Zeiler & Fergus Fig. 6).

    Parameters
    ----------
    model : keras.Model
        Sequential or functional (nested models searched).
    layer : name, index, Layer or None
        A ``Conv2D``; None takes the first ``Conv2D`` of the graph.

    Returns
    -------
    np.ndarray
        float32 (kh, kw, C_in, K): filter k is ``result[..., k]``.

    Raises
    ------
    ValueError
        No ``Conv2D`` in the model, or ``layer`` is not one.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
    >>> filters(model).shape
    (3, 3, 3, 4)
    """
    if layer is None:
        convs = [sub for sub in _layers(model) if isinstance(sub, keras.layers.Conv2D)]
        if not convs:
            raise ValueError(message("no_conv", model=model.name,
                                     candidates=[sub.name for sub in _layers(model)]))
        return np.asarray(convs[0].kernel, np.float32)
    found = find_layer(model, layer)
    if not isinstance(found, keras.layers.Conv2D):
        raise ValueError(message("no_conv", model=model.name,
                                 candidates=[sub.name for sub in _layers(model)
                                             if isinstance(sub, keras.layers.Conv2D)]))
    return np.asarray(found.kernel, np.float32)


def feature_maps(model: keras.Model, images: Any, layer: str | int | keras.layers.Layer, *,
                 batch_size: int = 32) -> np.ndarray:
    """The activations A of ``layer`` for ``images``, (N, h, w, K) (or (N, K) for a dense layer).

    Examples
    --------
    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="c")])
    >>> feature_maps(model, np.zeros((2, 8, 8, 3)), "c").shape
    (2, 6, 6, 4)
    """
    images = check_images(getattr(images, "images", images), model)
    tap = layer_features(model, find_layer(model, layer))
    return batching.predict(tap, images, batch_size=batch_size)


@dataclass(frozen=True)
class TopActivations:
    """The k strongest activations of each unit over a data set (Zeiler & Fergus, Fig. 2).

    Attributes
    ----------
    layer : str
    units : (U,) int
    values : (U, k) float32, in decreasing order: max over the grid of A^u in that image.
    images : (U, k) int, index of the image in the data.
    positions : (U, k, 2) int, grid position (i, j) of the maximum.
    boxes : (U, k, 4) int, its receptive field (y0, x0, y1, x1) in pixel edges (may reach
        outside the image).
    patches : (U, k, rh, rw, C) float32, the receptive field cropped from the image, zero
        outside the image (what the network's zero padding shows it).
    """

    layer: str
    units: np.ndarray
    values: np.ndarray
    images: np.ndarray
    positions: np.ndarray
    boxes: np.ndarray
    patches: np.ndarray


def _merge_top(best: tuple[np.ndarray, ...], new: tuple[np.ndarray, ...], k: int):
    """Keep the k largest values (axis 0) of the concatenated (values, *payload) arrays."""
    joined = [np.concatenate([b, n]) for b, n in zip(best, new)]
    order = np.argsort(-joined[0], axis=0, kind="stable")[:k]
    return tuple(np.take_along_axis(array, order, axis=0) for array in joined)


def crop(images: np.ndarray, index: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Crop ``boxes`` (..., 4) from ``images[index]`` (...), zero outside the image.

    All boxes must have one size (a layer's receptive field); returns (..., rh, rw, C).
    """
    height, width = images.shape[1:3]
    size_y, size_x = int(boxes[..., 2].max() - boxes[..., 0].max()), int(
        boxes[..., 3].max() - boxes[..., 1].max())
    rows = boxes[..., 0, None] + np.arange(size_y)
    cols = boxes[..., 1, None] + np.arange(size_x)
    inside = ((rows >= 0) & (rows < height))[..., :, None] & ((cols >= 0) & (cols < width))[..., None, :]
    patches = images[index[..., None, None], np.clip(rows, 0, height - 1)[..., :, None],
                     np.clip(cols, 0, width - 1)[..., None, :]]
    return patches * inside[..., None]


def top_activations(
    model: keras.Model,
    data: Any,
    layer: str | int | keras.layers.Layer,
    units: Any = None,
    *,
    k: int = 9,
    batch_size: int = 64,
) -> TopActivations:
    """The k images (and patches) of ``data`` that activate each unit most (Zeiler & Fergus 2014).

    For unit u and image n the activation is :math:`a_{n,u} = \\max_{i,j} A^u_{n}(i, j)`; the
    result holds, per unit, the k images with the largest :math:`a_{n,u}` (one patch per
    image, as the paper's 9-patch grids), the grid position of the maximum and the input patch
    under its receptive field (:func:`receptive_field`). Activations are streamed in batches:
    only the running top-k is kept.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
    arXiv:1311.2901, Sec. 4 and Fig. 2.

    Parameters
    ----------
    model : keras.Model
    data : ImageSet or array (N, H, W, C)
    layer : name, index or Layer
        A layer with a (N, h, w, K) output.
    units : None, int or sequence of ints
        Channels of ``layer`` (None: all).
    k : int
        Patches per unit (1..N).
    batch_size : int

    Returns
    -------
    TopActivations

    Raises
    ------
    ValueError
        Not a spatial layer, units out of range, k out of range.
    """
    images = check_images(getattr(data, "images", data), model)
    target = spatial_layer(model, layer, "top_activations")
    units = check_units(units, int(target.output.shape[-1]), target.name)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(images):
        raise ValueError(message("top_images", value=k, n=len(images)))
    forward = batching.forward_function(layer_features(model, target))
    width = int(target.output.shape[2])
    best = (np.full((0, len(units)), -np.inf, np.float32), np.zeros((0, len(units)), np.int64),
            np.zeros((0, len(units)), np.int64))
    for part in batching.batch_slices(len(images), batch_size):
        maps = np.asarray(forward(images[part]))[..., units]
        flat = maps.reshape(len(maps), -1, len(units))
        where = flat.argmax(axis=1)
        values = np.take_along_axis(flat, where[:, None, :], axis=1)[:, 0]
        index = np.broadcast_to(np.arange(part.start, part.stop)[:, None], values.shape)
        best = _merge_top(best, (values, index, where), int(k))
    values, index, where = best
    positions = np.stack([where // width, where % width], axis=-1)
    boxes = receptive_field(model, target).boxes(positions)
    return TopActivations(target.name, units, values.T, index.T, positions.transpose(1, 0, 2),
                          boxes.transpose(1, 0, 2), crop(images, index.T, boxes.transpose(1, 0, 2)))


def _projection_function(model: keras.Model, target: keras.layers.Layer, rule: str):
    def build():
        rewritten = relu_override_model(layer_features(model, target), rule)
        spec = tf.TensorSpec([None, *rewritten.inputs[0].shape[1:]], tf.float32)

        @tf.function(input_signature=[spec, tf.TensorSpec([None, 3], tf.int32)])
        def backproject(x, where):
            with tf.GradientTape() as tape:
                tape.watch(x)
                maps = rewritten(x, training=False)
                rows = tf.range(tf.shape(x)[0], dtype=tf.int32)[:, None]
                value = tf.gather_nd(maps, tf.concat([rows, where], axis=1))
                seed = tf.reduce_sum(value * tf.stop_gradient(value))
            return tape.gradient(seed, x)

        return backproject.get_concrete_function()  # one trace per model, never a retracing

    return cached(model, ("projection", id(target), rule), build)


def project(
    model: keras.Model,
    images: Any,
    layer: str | int | keras.layers.Layer,
    units: Any,
    *,
    positions: Any = None,
    rule: str = "deconvnet",
    batch_size: int = 32,
) -> np.ndarray:
    """Project one activation of a unit back to pixel space (Zeiler & Fergus 2014, Fig. 2).

    All other activations of the layer are set to zero and the chosen one, with its value
    :math:`a = A^u_n(i, j)`, is passed down through the network with the deconvnet rule at
    every ReLU (Sec. 2.1: unpooling with the max-pooling switches, rectification of the
    signal, transposed filters). That is the gradient of :math:`a \\cdot \\mathrm{sg}(a)`
    with respect to the input, with each ReLU's backward pass replaced by
    :math:`R_{in} = R_{out} [R_{out} > 0]` (deconvnet) or
    :math:`R_{in} = R_{out} [f > 0][R_{out} > 0]` (guided backpropagation, Springenberg et
    al., ICLR-W 2015); max-pooling's gradient is the paper's switch unpooling.

    Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
    arXiv:1311.2901.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional with ReLU hidden activations.
    images : array (N, H, W, C)
    layer : name, index or Layer
        A layer with a (N, h, w, K) output.
    units : int or N ints
        The unit of each image.
    positions : None or (N, 2) ints
        Grid position (i, j) per image; None: where the unit is largest in that image.
    rule : {"deconvnet", "guided_backprop"}
    batch_size : int

    Returns
    -------
    np.ndarray
        float32 (N, H, W, C), the raw signal (normalise it for display).

    Raises
    ------
    ValueError
        Bad units, positions outside the grid, an unknown rule, non-ReLU activations.
    """
    rule = check_option("rule", rule, RELU_RULES)
    images = check_images(images, model)
    target = spatial_layer(model, layer, "project")
    height, width, channels = (int(d) for d in target.output.shape[1:])
    units = check_units(units, channels, target.name)
    units = np.broadcast_to(units, (len(images),)) if units.size == 1 else units
    if len(units) != len(images):
        raise ValueError(message("units", value=units.tolist(), layer=target.name,
                                 count=channels, last=channels - 1))
    if positions is None:
        maps = feature_maps(model, images, target, batch_size=batch_size)
        flat = maps[np.arange(len(images)), :, :, units].reshape(len(images), -1).argmax(axis=1)
        positions = np.stack([flat // width, flat % width], axis=1)
    positions = np.asarray(positions)
    if (positions.shape != (len(images), 2) or positions.dtype.kind not in "iu"
            or (positions < 0).any() or (positions >= [height, width]).any()):
        raise ValueError(message("expected", name="positions",
                                 expected=f"(N, 2) ints inside the {height}x{width} grid",
                                 got=f"{positions.tolist() if positions.size < 9 else positions.shape}",
                                 fix=""))
    where = np.concatenate([positions, units[:, None]], axis=1).astype(np.int32)
    backproject = _projection_function(model, target, rule)
    parts = [np.asarray(backproject(images[part], where[part]))
             for part in batching.batch_slices(len(images), batch_size)]
    return np.concatenate(parts).astype(np.float32)
