"""What activation maximisation maximises: objectives that compose with ``+``, ``-`` and ``*``.

Introduced in lesson 12. An :class:`Objective` is a per-image score :math:`S_b(x)` (one value
per image of the batch being optimised), read from the activations of some layers of the
(transformed) image and, for penalties, from the image itself. Objectives compose like the
lucid/lucent objectives (Olah, Mordvintsev & Schubert, "Feature Visualization", Distill 2017):
``channel("c", 3) - 0.1 * channel("c", 4)`` (a unit against its neighbour),
``class_score(2) - 0.01 * l2_decay()``. An objective over U units asks for U images (one
unit each), so one ascent optimises all of them in a batch.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from xaikit.base.messages import message

__all__ = ["OUTPUT", "Objective", "alpha_norm", "channel", "class_score", "l2_decay",
           "total_variation", "unit"]

TV_EPSILON = 1e-8
OUTPUT = "__output__"
"""Key of the explained model's output (the logits by default) among an objective's layers."""


@dataclass(frozen=True)
class Objective:
    """A per-image score to maximise.

    Attributes
    ----------
    score : callable
        ``score(features, image) -> (B,)``: ``features`` maps each entry of ``layers`` to its
        activations on the transformed image, ``image`` is the untransformed image (B, H, W, C).
    layers : tuple
        Layer names (or :data:`OUTPUT`) the score reads.
    batch : int or None
        Images the objective asks for (one per unit); None: any number.
    name : str
        Human-readable formula.
    """

    score: Callable[[dict, tf.Tensor], tf.Tensor]
    layers: tuple = ()
    batch: int | None = None
    name: str = ""

    def _combine(self, other: Any, op: Callable, symbol: str, swap: bool = False) -> Objective:
        if isinstance(other, (int, float, np.number)) and not isinstance(other, bool):
            constant = float(other)
            left, right = (constant, self) if swap else (self, constant)
            score = (lambda f, x: op(constant, self.score(f, x))) if swap else (
                lambda f, x: op(self.score(f, x), constant))
            return Objective(score, self.layers, self.batch, f"{_name(left)} {symbol} {_name(right)}")
        if not isinstance(other, Objective):
            raise TypeError(message("objective", name=f"objective {symbol} ...",
                                    got=type(other).__name__))
        first, second = (other, self) if swap else (self, other)
        sizes = {size for size in (first.batch, second.batch) if size is not None}
        if len(sizes) > 1:
            raise ValueError(message("objective_batch", sizes=sorted(sizes)))
        layers = tuple(dict.fromkeys(first.layers + second.layers))
        return Objective(lambda f, x: op(first.score(f, x), second.score(f, x)), layers,
                         sizes.pop() if sizes else None, f"({first.name} {symbol} {second.name})")

    def __add__(self, other: Any) -> Objective:
        return self._combine(other, operator.add, "+")

    def __radd__(self, other: Any) -> Objective:
        return self._combine(other, operator.add, "+", swap=True)

    def __sub__(self, other: Any) -> Objective:
        return self._combine(other, operator.sub, "-")

    def __rsub__(self, other: Any) -> Objective:
        return self._combine(other, operator.sub, "-", swap=True)

    def __mul__(self, other: Any) -> Objective:
        return self._combine(other, operator.mul, "*")

    def __rmul__(self, other: Any) -> Objective:
        return self._combine(other, operator.mul, "*", swap=True)

    def __neg__(self) -> Objective:
        return Objective(lambda f, x: -self.score(f, x), self.layers, self.batch, f"-{self.name}")


def _name(value: Any) -> str:
    return value.name if isinstance(value, Objective) else f"{value:g}"


def _one_hot(units: Any, what: str) -> tuple[np.ndarray, int | None]:
    array = np.atleast_1d(np.asarray(units))
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu" or (array < 0).any():
        raise ValueError(message("expected", name=what, expected="an int >= 0 or a sequence of them",
                                 got=repr(units), fix=""))
    return array.astype(np.int64), (len(array) if np.ndim(units) else None)


def _select(activations: tf.Tensor, units: np.ndarray) -> tf.Tensor:
    """(B, ..., K) -> (B, ...): channel units[b] of image b (one unit broadcast to all)."""
    count = int(activations.shape[-1])
    if int(units.max()) >= count:
        raise ValueError(message("units", value=units.tolist(), layer="(objective)", count=count,
                                 last=count - 1))
    weights = tf.one_hot(units, count, dtype=activations.dtype)
    weights = tf.reshape(weights, [-1] + [1] * (len(activations.shape) - 2) + [count])
    return tf.reduce_sum(activations * weights, axis=-1)


def channel(layer: str, units: int | Sequence[int]) -> Objective:
    """Mean activation of a whole feature map: :math:`S = \\frac{1}{hw}\\sum_{ij} A^k_{ij}(x)`.

    The "channel" objective of Olah et al. (Distill 2017); on a dense layer (N, K) it is
    :math:`A^k(x)`. ``units`` = U channels asks for U images, image b maximising units[b].

    Examples
    --------
    >>> channel("conv", [0, 1]).batch
    2
    """
    units, batch = _one_hot(units, "units")

    def score(features, _image):
        selected = _select(features[layer], units)
        return tf.reduce_mean(tf.reshape(selected, [tf.shape(selected)[0], -1]), axis=1)

    return Objective(score, (layer,), batch, f"channel({layer}, {units.tolist()})")


def unit(layer: str, units: int | Sequence[int], position: tuple[int, int] | None = None
         ) -> Objective:
    """One neuron: :math:`S = A^k_{ij}(x)` at grid position (i, j), the centre by default.

    The activation maximisation of Erhan, Bengio, Courville & Vincent, "Visualizing
    Higher-Layer Features of a Deep Network", Univ. Montréal TR 1341, 2009; Yosinski et al. (ICML-W 2015) maximise the central
    unit of a convolutional channel the same way.

    Examples
    --------
    >>> unit("conv", 3).batch is None
    True
    """
    units, batch = _one_hot(units, "units")

    def score(features, _image):
        selected = _select(features[layer], units)
        if len(selected.shape) == 1:
            return selected
        i, j = position if position is not None else (selected.shape[1] // 2,
                                                      selected.shape[2] // 2)
        return selected[:, i, j]

    return Objective(score, (layer,), batch, f"unit({layer}, {units.tolist()})")


def class_score(classes: int | Sequence[int]) -> Objective:
    """The class score :math:`S_c(x)` of the explained output (the logit, before a softmax).

    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks", ICLR-W 2014,
    arXiv:1312.6034, Eq. (1) (its penalty is :func:`l2_decay`).

    Examples
    --------
    >>> class_score([0, 2]).batch
    2
    """
    classes, batch = _one_hot(classes, "classes")
    return Objective(lambda features, _image: _select(features[OUTPUT], classes), (OUTPUT,),
                     batch, f"class_score({classes.tolist()})")


def l2_decay(centre: float | np.ndarray = 0.0) -> Objective:
    """The L2 penalty :math:`\\lVert x - x_0 \\rVert_2^2` per image (subtract it to regularise).

    Simonyan et al. (2014), Eq. (1), with :math:`x_0` the data mean. Under plain gradient
    ascent with step :math:`\\eta`, maximising :math:`S - \\lambda \\lVert x \\rVert^2` is
    Yosinski et al.'s L2 decay :math:`x \\leftarrow (1 - \\theta)x + \\eta \\nabla S` with
    :math:`\\theta = 2\\eta\\lambda` ("Understanding Neural Networks Through Deep
    Visualization", ICML-W 2015, arXiv:1506.06579, Sec. 3).
    """
    centre = np.asarray(centre, np.float32)
    return Objective(lambda _f, image: tf.reduce_sum((image - centre) ** 2, axis=(1, 2, 3)),
                     (), None, "l2_decay")


def total_variation(beta: float = 2.0, *, isotropic: bool = True) -> Objective:
    """Total variation of the image (subtract it to prefer piece-wise smooth images).

    The regulariser :math:`R_{V^\\beta}` of Mahendran & Vedaldi, "Understanding Deep Image
    Representations by Inverting Them", CVPR 2015, arXiv:1412.0035, Sec. 2, summed over colour
    channels:

    .. math:: R_{V^\\beta}(x) = \\sum_{i,j,c} \\big((x_{i,j+1,c} - x_{ijc})^2
              + (x_{i+1,j,c} - x_{ijc})^2\\big)^{\\beta / 2}

    ``isotropic=False`` gives the anisotropic form :math:`\\sum |\\Delta_x|^\\beta +
    |\\Delta_y|^\\beta` (with :math:`\\beta = 1`, ``tf.image.total_variation``).
    """
    beta = float(beta)

    def score(_features, image):
        down = image[:, 1:, :-1, :] - image[:, :-1, :-1, :]
        right = image[:, :-1, 1:, :] - image[:, :-1, :-1, :]
        if isotropic:  # the epsilon keeps the gradient finite at 0 for beta < 2; R(const) = 0
            smooth = (down**2 + right**2 + TV_EPSILON) ** (beta / 2) - TV_EPSILON ** (beta / 2)
            return tf.reduce_sum(smooth, axis=(1, 2, 3))
        rows = image[:, 1:, :, :] - image[:, :-1, :, :]
        cols = image[:, :, 1:, :] - image[:, :, :-1, :]
        return (tf.reduce_sum(tf.abs(rows) ** beta, axis=(1, 2, 3))
                + tf.reduce_sum(tf.abs(cols) ** beta, axis=(1, 2, 3)))

    return Objective(score, (), None, f"total_variation({beta:g})")


def alpha_norm(alpha: float = 6.0, centre: float = 0.5) -> Objective:
    """The bounded-range prior :math:`R_\\alpha = \\sum |x - x_0|^\\alpha` (Mahendran & Vedaldi 2015, Sec. 2)."""
    alpha = float(alpha)
    return Objective(lambda _f, image: tf.reduce_sum(tf.abs(image - centre) ** alpha,
                                                     axis=(1, 2, 3)), (), None,
                     f"alpha_norm({alpha:g})")
