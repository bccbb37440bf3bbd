"""Receptive fields computed from the architecture: kernel, stride, padding, dilation, pooling.

Introduced in lesson 12 (re-exported by :mod:`xaikit.interpretation.units`). Along each axis a
layer with kernel k, stride s, dilation d and left padding p maps the receptive field of its
input units (size r, jump j between neighbouring units, centre c of unit 0, in input pixels)
to that of its output units (Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning", arXiv:1603.07285; Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019, Eqs. 1-2):

.. math:: k' = d(k - 1) + 1, \\quad r_{out} = r_{in} + (k' - 1) j_{in}, \\quad
          j_{out} = s \\, j_{in}, \\quad c_{out} = c_{in} + \\Big(\\frac{k' - 1}{2} - p\\Big) j_{in}.

"same" padding follows TensorFlow: the total padding is :math:`\\max((o - 1)s + k' - n, 0)`
for n inputs and :math:`o = \\lceil n / s \\rceil` outputs, the smaller half on the left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from xaikit.base.messages import message
from xaikit.core import find_layer
from xaikit.core.probes import walk

__all__ = ["ReceptiveField", "receptive_field"]

_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_GRID_KEEPING = (
    keras.layers.BatchNormalization, keras.layers.LayerNormalization, keras.layers.Activation,
    keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.PReLU, keras.layers.ELU,
    keras.layers.Softmax, keras.layers.Dropout, keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.Rescaling,
    keras.layers.Normalization, keras.layers.Identity, keras.layers.Add, keras.layers.Subtract,
    keras.layers.Multiply, keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum,
    keras.layers.Concatenate,
)


@dataclass(frozen=True)
class ReceptiveField:
    """The input region that a unit of a layer sees, per axis (rows, columns).

    Attributes
    ----------
    size : (int, int)
        Input pixels one unit depends on.
    stride : (int, int)
        Input pixels between neighbouring units (the jump).
    centre : (float, float)
        Input pixel index (row, column) at the centre of the field of unit (0, 0); pixel i
        covers [i, i + 1), so a half-integer centre lies between two pixels.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    centre: tuple[float, float]

    def boxes(self, positions: Any) -> np.ndarray:
        """Pixel-edge boxes (y0, x0, y1, x1) of the units at grid ``positions`` (..., 2).

        The box covers rows y0..y1-1 and columns x0..x1-1; it may reach outside the image
        where the network pads.
        """
        positions = np.asarray(positions, np.float64)
        size, stride, centre = (np.asarray(v, np.float64) for v in (self.size, self.stride,
                                                                    self.centre))
        start = np.rint(centre + positions * stride - (size - 1) / 2).astype(np.int64)
        return np.concatenate([start, start + size.astype(np.int64)], axis=-1)[
            ..., [0, 1, 2, 3]]


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def _window(field: tuple, n_in: int | None, kernel: int, stride: int, dilation: int,
            padding: str, layer: str) -> tuple:
    size, jump, centre = field
    extent = dilation * (kernel - 1) + 1
    if padding == "valid":
        left = 0
    else:
        if n_in is None and stride > 1:
            raise ValueError(message("rf_layer", layer=layer, kind="'same' padding",
                                     reason="needs a known input size when the stride is > 1"))
        n_out = -(-n_in // stride) if n_in is not None else None
        total = max((n_out - 1) * stride + extent - n_in, 0) if n_in is not None else extent - 1
        left = total // 2
    return (size + (extent - 1) * jump, jump * stride,
            centre + ((extent - 1) / 2 - left) * jump)


def _union(fields: list[tuple], layer: str) -> tuple:
    jumps = {field[1] for field in fields}
    if len(jumps) > 1:
        raise ValueError(message("rf_layer", layer=layer, kind="merge",
                                 reason=f"merges branches with different strides {sorted(jumps)}"))
    low = min(centre - (size - 1) / 2 for size, _, centre in fields)
    high = max(centre + (size - 1) / 2 for size, _, centre in fields)
    return (int(round(high - low)) + 1, fields[0][1], (low + high) / 2)


def _axis_rule(layer: keras.layers.Layer, fields: list[tuple], n_in: int | None,
               axis: int) -> tuple:
    name = layer.name
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(message("rf_layer", layer=name, kind=type(layer).__name__,
                                 reason="is channels_first"))
    if isinstance(layer, _CONVS):
        if layer.padding not in ("valid", "same"):
            raise ValueError(message("rf_layer", layer=name, kind=type(layer).__name__,
                                     reason=f"has padding {layer.padding!r}"))
        return _window(fields[0], n_in, _pair(layer.kernel_size)[axis],
                       _pair(layer.strides)[axis], _pair(layer.dilation_rate)[axis],
                       layer.padding, name)
    if isinstance(layer, _POOLS):
        return _window(fields[0], n_in, _pair(layer.pool_size)[axis], _pair(layer.strides)[axis],
                       1, layer.padding, name)
    if isinstance(layer, (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)):
        amounts = layer.padding if isinstance(layer, keras.layers.ZeroPadding2D) else layer.cropping
        before = int(amounts[axis][0])
        size, jump, centre = fields[0]
        sign = -1 if isinstance(layer, keras.layers.ZeroPadding2D) else 1
        return (size, jump, centre + sign * before * jump)
    if isinstance(layer, _GRID_KEEPING):
        return _union(fields, name)
    raise ValueError(message("rf_layer", layer=name, kind=type(layer).__name__,
                             reason="has no receptive-field rule"))


def receptive_field(model: keras.Model, layer: str | int | keras.layers.Layer) -> ReceptiveField:
    """The receptive field of the units of ``layer``, computed from the architecture.

    Walks the graph from the input to ``layer`` (nested models inlined) and applies, per
    layer and axis, the rule of the module docstring; branches that merge (Add, Concatenate)
    take the union of their fields.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional, channels-last, with a known input size.
    layer : name, index or Layer
        A layer with a (N, h, w, K) output.

    Returns
    -------
    ReceptiveField

    Raises
    ------
    ValueError
        A layer on the way without a rule (Conv2DTranspose, UpSampling2D, Lambda, ...),
        "causal" padding, channels-first data, or a non-spatial ``layer``.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((32, 32, 3)),
    ...     keras.layers.Conv2D(8, 3, padding="same", name="a"),
    ...     keras.layers.Conv2D(8, 3, padding="same", name="b"),
    ...     keras.layers.MaxPooling2D(2, name="pool")])
    >>> receptive_field(model, "b").size, receptive_field(model, "pool").stride
    ((5, 5), (2, 2))
    """
    target = find_layer(model, layer)
    fields: dict[int, tuple[tuple, tuple]] = {}
    found: list[tuple] = []

    def visit(sub, inputs, out):
        if sub is None:
            fields[id(out)] = ((1, 1, 0.0), (1, 1, 0.0))
        if sub is None or not inputs or any(id(t) not in fields for t in inputs):
            return
        if len(out.shape) == 4:
            inner = [fields[id(t)] for t in inputs]
            fields[id(out)] = tuple(
                _axis_rule(sub, [f[axis] for f in inner], inputs[0].shape[1 + axis], axis)
                for axis in (0, 1))
            if sub is target:
                found.append(fields[id(out)])

    walk(model, visit)
    if not found:
        from xaikit.interpretation.units import spatial_layer

        spatial_layer(model, target, "receptive_field")
        raise ValueError(message("layer_calls", layer=target.name, count=0))
    (size_y, jump_y, centre_y), (size_x, jump_x, centre_x) = found[0]
    return ReceptiveField((int(size_y), int(size_x)), (int(jump_y), int(jump_x)),
                          (float(centre_y), float(centre_x)))
