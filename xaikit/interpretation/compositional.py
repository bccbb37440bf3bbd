"""Compositional explanations of units: logical formulas of concepts (Mu & Andreas, NeurIPS 2020).

Introduced in lesson 13. Network Dissection labels a unit with one concept; Mu & Andreas
("Compositional Explanations of Neurons", NeurIPS 2020, arXiv:2006.14032, Sec. 2) search
formulas L built from concepts with AND, OR and AND NOT, scored like a concept:

.. math:: \\delta(n, L) = \\mathrm{IoU}(M_n, L) = \\frac{\\sum_x |M_n(x) \\wedge L(x)|}
          {\\sum_x |M_n(x) \\vee L(x)|}

with :math:`M_n` the unit's dissection mask (top-0.5 % threshold, upsampled maps). The search
is a beam search: start from the best single concepts, extend each formula of the beam by one
operator and one concept, keep the ``beam`` best, up to ``length`` concepts. Masks are held as
packed bits, so every candidate's IoU is a popcount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.base.messages import message
from xaikit.base.resize import bilinear_matrix
from xaikit.core import batching, check_images, check_int, check_number, rng
from xaikit.interpretation.dissection import DEFAULT_QUANTILE, stream_activations
from xaikit.interpretation.units import check_units, spatial_layer

__all__ = ["Explanation", "compositional_explanations"]

OPERATORS = ("AND", "OR", "AND NOT")


@dataclass(frozen=True)
class Explanation:
    """The best formula of one unit, next to its best single concept."""

    layer: str
    unit: int
    formula: str
    iou: float
    length: int
    single: str
    single_iou: float
    held_out_iou: float = float("nan")
    held_out_single_iou: float = float("nan")


def _words(packed: np.ndarray) -> np.ndarray:
    """Packed bytes (..., B) as uint64 words (zero-padded), so popcounts run 8 bytes at a time."""
    pad = (-packed.shape[-1]) % 8
    padded = np.pad(packed, [(0, 0)] * (packed.ndim - 1) + [(0, pad)])
    return np.ascontiguousarray(padded).view(np.uint64)


def _count(bits: np.ndarray) -> np.ndarray:
    return np.bitwise_count(bits).sum(axis=-1, dtype=np.int64)


def _iou(candidates: np.ndarray, unit: np.ndarray, unit_count: int) -> np.ndarray:
    inter = _count(candidates & unit)
    union = unit_count + _count(candidates) - inter
    return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)


def _combine(bits: np.ndarray, op: str, atoms: np.ndarray) -> np.ndarray:
    return {"AND": bits & atoms, "OR": bits | atoms, "AND NOT": bits & ~atoms}[op]


def _apply(steps: tuple[tuple[str, int], ...], atoms: np.ndarray) -> np.ndarray:
    """The bits of a formula given as steps ((None, c0), (op1, c1), ...), read left to right."""
    bits = atoms[steps[0][1]]
    for op, c in steps[1:]:
        bits = _combine(bits, op, atoms[c])
    return bits


def _search(unit: np.ndarray, atoms: np.ndarray, names: list[str], length: int,
            beam: int) -> list[tuple[float, str, int, tuple]]:
    """Beam search; returns the final beam as (iou, formula, length, steps), best first."""
    unit_count = int(_count(unit))
    scores = _iou(atoms, unit, unit_count)
    pool = {names[c]: (float(scores[c]), atoms[c], ((None, c),)) for c in range(len(names))}
    kept = sorted(pool.items(), key=lambda item: -item[1][0])[:beam]
    for _ in range(2, length + 1):
        grown = dict(kept)
        for text, (_, bits, steps) in kept:
            for op in OPERATORS:
                combined = _combine(bits, op, atoms)
                scores = _iou(combined, unit, unit_count)
                for c in np.argsort(-scores, kind="stable")[:beam]:
                    grown.setdefault(f"({text} {op} {names[c]})",
                                     (float(scores[c]), combined[c], (*steps, (op, int(c)))))
        kept = sorted(grown.items(), key=lambda item: -item[1][0])[:beam]
    return [(score, text, len(steps), steps) for text, (score, _, steps) in kept]


def _unit_bits(activations: np.ndarray, thresholds: np.ndarray, size: tuple[int, int],
               batch_size: int) -> np.ndarray:
    """(U, bytes): the upsampled, thresholded maps of each unit, packed per batch of images."""
    rows = tf.constant(bilinear_matrix(activations.shape[1], size[0]), tf.float32)
    cols = tf.constant(bilinear_matrix(activations.shape[2], size[1]), tf.float32)
    parts = []
    for part in batching.batch_slices(len(activations), batch_size):
        up = tf.einsum("Hh,bhwk,Ww->kbHW", rows, tf.constant(activations[part]), cols)
        on = np.asarray(up > thresholds[:, None, None, None])
        parts.append(np.packbits(on.reshape(len(thresholds), -1), axis=1))
    return np.concatenate(parts, axis=1)


def compositional_explanations(
    model: keras.Model,
    data: Any,
    concepts: Any,
    layer: str | int | keras.layers.Layer,
    units: Any = None,
    *,
    length: int = 3,
    beam: int = 10,
    quantile: float = DEFAULT_QUANTILE,
    held_out: float = 0.0,
    seed: int = 0,
    batch_size: int = 64,
) -> list[Explanation]:
    """The best AND / OR / AND NOT formula of at most ``length`` concepts for each unit.

    Mu & Andreas, "Compositional Explanations of Neurons", NeurIPS 2020, arXiv:2006.14032.

    Parameters
    ----------
    model : keras.Model
    data : ImageSet or array (N, H, W, C)
    concepts : ConceptSet
        For the same N images (:func:`xaikit.data.concepts.concepts`).
    layer : name, index or Layer
    units : None, int or ints
        Units to explain (None: all).
    length : int
        Maximum number of concepts in a formula (>= 1; the paper uses up to 10, here 3).
    beam : int
        Beam width (the paper: 10).
    quantile : float
        The units' mask threshold, as :func:`~xaikit.interpretation.dissection.network_dissection`.
    held_out : float
        Fraction of the images (drawn with ``seed``) kept out of the search; the formula and
        the best single concept found on the others are then scored on them
        (``held_out_iou``, ``held_out_single_iou``; NaN when 0): does the formula generalise?
        The thresholds are those of all images.
    seed : int
    batch_size : int

    Returns
    -------
    list of Explanation
        One per unit, in the order of ``units``.

    Raises
    ------
    ValueError
        Bad layer, units, options, or concepts of another number of images.
    """
    images = check_images(getattr(data, "images", data), model)
    if len(concepts) != len(images):
        raise ValueError(message("concept_count", got=len(concepts), expected=len(images)))
    length, beam = check_int("length", length), check_int("beam", beam)
    target = spatial_layer(model, layer, "compositional_explanations")
    units = check_units(units, int(target.output.shape[-1]), target.name)
    held_out = check_number("held_out", held_out, low=0.0, high=0.9)
    held, thresholds = stream_activations(model, images, [target], quantile=quantile,
                                          batch_size=batch_size)
    order = rng(check_int("seed", seed, minimum=0)).permutation(len(images))
    cut = len(images) - int(round(held_out * len(images)))
    search, test = np.sort(order[:cut]), np.sort(order[cut:])

    def bits_of(index):
        unit_bits = _words(_unit_bits(held[0][index][..., units], thresholds[0][units],
                                      tuple(concepts.size), batch_size))
        atoms = _words(np.concatenate(
            [np.packbits(np.moveaxis(concepts.masks(index[part]), -1, 0)
                         .reshape(len(concepts.names), -1), axis=1)
             for part in batching.batch_slices(len(index), batch_size)], axis=1))
        return unit_bits, atoms

    (unit_bits, atoms), names = bits_of(search), list(concepts.names)
    test_bits, test_atoms = bits_of(test) if len(test) else (None, None)
    found = []
    for i, (unit, bits) in enumerate(zip(units, unit_bits)):
        score, text, size, steps = _search(bits, atoms, names, length, beam)[0]
        singles = _iou(atoms, bits, int(_count(bits)))
        scores = [float("nan")] * 2
        if test_bits is not None:
            count = int(_count(test_bits[i]))
            scores = [float(_iou(candidate[None], test_bits[i], count)[0]) for candidate in
                      (_apply(steps, test_atoms), test_atoms[int(singles.argmax())])]
        formula = text[1:-1] if size > 1 else text  # drop the outermost parentheses
        found.append(Explanation(target.name, int(unit), formula, score, size,
                                 names[int(singles.argmax())], float(singles.max()), *scores))
    return found
