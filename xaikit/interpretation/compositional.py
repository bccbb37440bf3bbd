"""Compositional explanations of units: logical formulas of concepts (Mu & Andreas, NeurIPS 2020).

Introduced in lesson 13. Network Dissection labels a unit with one concept; Mu & Andreas
("Compositional Explanations of Neurons", NeurIPS 2020, arXiv:2006.14032, Sec. 2) search
formulas L built from concepts with AND, OR and AND NOT, scored like a concept:

.. math:: \\delta(n, L) = \\mathrm{IoU}(M_n, L) = \\frac{\\sum_x |M_n(x) \\wedge L(x)|}
          {\\sum_x |M_n(x) \\vee L(x)|}

with :math:`M_n` the unit's dissection mask (top-0.5 % threshold, upsampled maps). The search
is a beam search: start from the best single concepts, extend each formula of the beam by one
operator and one concept, keep the ``beam`` best, up to ``length`` concepts. Masks are held as
packed bits, so every candidate's IoU is a popcount, and the search runs for all units at once
(:func:`beam_search`).
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

__all__ = ["Explanation", "beam_search", "compositional_explanations"]

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


def _ratio(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    return np.divide(inter, union, out=np.zeros(np.shape(inter)), where=union > 0)


def _combine(bits: np.ndarray, op: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """``bits`` AND / OR / AND NOT ``atoms`` elementwise, ``op`` an index into OPERATORS
    broadcast against the leading axes."""
    op = np.asarray(op)[(...,) + (None,) * (bits.ndim - np.ndim(op))]
    return np.where(op == 0, bits & atoms, np.where(op == 1, bits | atoms, bits & ~atoms))


def _apply(steps: np.ndarray, atoms: np.ndarray) -> np.ndarray:
    """The bits (U, W) of formulas given as steps (U, L, 2) of (operator, concept), read left
    to right (the first operator is ignored; operator -1 ends a shorter formula)."""
    bits = atoms[steps[:, 0, 1]]
    for position in range(1, steps.shape[1]):
        op, concept = steps[:, position, 0], steps[:, position, 1]
        bits = np.where((op < 0)[:, None], bits, _combine(bits, np.maximum(op, 0),
                                                          atoms[concept]))
    return bits


def _text(steps: np.ndarray, names: list[str]) -> str:
    text = names[steps[0, 1]]
    for op, concept in steps[1:]:
        if op >= 0:
            text = f"({text} {OPERATORS[op]} {names[concept]})"
    return text


def beam_search(units: np.ndarray, atoms: np.ndarray, length: int,
                beam: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beam search of every unit at once.

    ``units`` (U, W) and ``atoms`` (C, W) are packed masks (:func:`_words`). Start from each
    unit's ``beam`` best concepts; extend every formula of a beam by each operator and its
    ``beam`` best concepts, keep the ``beam`` best of the old and the new formulas (stable:
    earlier first on ties, a formula met twice kept once), up to ``length`` concepts.

    One formula F extended by concept c needs only :math:`|F \\wedge c|` and
    :math:`|M \\wedge F \\wedge c|` for all (unit, formula, concept) at once:
    AND gives (:math:`|M F c|`, :math:`|F c|`), OR (:math:`|MF| + |Mc| - |MFc|`,
    :math:`|F| + |c| - |Fc|`), AND NOT (:math:`|MF| - |MFc|`, :math:`|F| - |Fc|`), and
    IoU = inter / (|M| + size - inter).

    Returns
    -------
    (scores (U, B), steps (U, B, length, 2), singles (U, C))
        The final beams, best first: IoUs and formulas as (operator, concept) steps
        (operator -1 pads a shorter formula), and every single concept's IoU.

    Examples
    --------
    >>> atoms = np.random.default_rng(0).random((3, 256)) < 0.4
    >>> pack = lambda bits: _words(np.packbits(bits, axis=-1))
    >>> scores, steps, _ = beam_search(pack(atoms[:1] | atoms[1:2]), pack(atoms), 2, 3)
    >>> float(scores[0, 0]), _text(steps[0, 0], ["a", "b", "c"])
    (1.0, '(b OR a)')
    """
    n_units = len(units)
    unit_count = _count(units)
    atom_count = _count(atoms)
    unit_atom = np.stack([_count(units & atom) for atom in atoms], axis=1)  # (U, C)
    singles = _ratio(unit_atom, unit_count[:, None] + atom_count - unit_atom)
    order = np.argsort(-singles, axis=1, kind="stable")[:, :beam]
    scores = np.take_along_axis(singles, order, axis=1)
    steps = np.full((n_units, order.shape[1], length, 2), -1)
    steps[..., 0, 1] = order
    valid = np.ones(order.shape, bool)
    bits = atoms[order]  # (U, B, W)
    rows = np.arange(n_units)[:, None]
    for _ in range(1, length):
        with_unit = bits & units[:, None]
        size, inter = _count(bits), _count(with_unit)  # (U, B)
        both = np.stack([_count(bits & atom) for atom in atoms], axis=-1)  # (U, B, C)
        all_three = np.stack([_count(with_unit & atom) for atom in atoms], axis=-1)
        inters = np.stack([all_three, inter[..., None] + unit_atom[:, None] - all_three,
                           inter[..., None] - all_three], axis=2)  # (U, B, 3, C)
        sizes = np.stack([both, size[..., None] + atom_count - both,
                          size[..., None] - both], axis=2)
        grown = _ratio(inters, unit_count[:, None, None, None] + sizes - inters)
        best = np.argsort(-grown, axis=-1, kind="stable")[..., :beam]  # (U, B, 3, b)
        new_scores = np.take_along_axis(grown, best, axis=-1).reshape(n_units, -1)
        source = np.broadcast_to(np.arange(bits.shape[1])[:, None, None], best.shape)
        source = source.reshape(n_units, -1)
        ops = np.broadcast_to(np.arange(3)[:, None], best.shape).reshape(n_units, -1)
        concepts = best.reshape(n_units, -1)
        new_steps = steps[rows, source].copy()
        end = (new_steps[..., 1] >= 0).sum(axis=-1)  # a shorter formula grows at its end
        np.put_along_axis(new_steps, end[..., None, None],
                          np.stack([ops, concepts], axis=-1)[:, :, None], axis=2)
        repeated = (new_steps[:, :, None] == steps[:, None]).all(axis=(-1, -2)) \
            & valid[:, None]
        new_valid = valid[rows, source] & ~repeated.any(axis=-1)
        every_score = np.concatenate([scores, new_scores], axis=1)
        every_valid = np.concatenate([valid, new_valid], axis=1)
        keep = np.argsort(np.where(every_valid, -every_score, np.inf), axis=1,
                          kind="stable")[:, :beam]
        fresh = keep >= scores.shape[1]
        picked = np.maximum(keep - scores.shape[1], 0)
        origin = np.where(fresh, source[rows, picked], keep)
        combined = _combine(bits[rows, origin], np.where(fresh, ops[rows, picked], 0),
                            atoms[concepts[rows, picked]])
        bits = np.where(fresh[..., None], combined, bits[rows, origin])
        steps = np.where(fresh[..., None, None], new_steps[rows, picked], steps[rows, origin])
        scores = np.take_along_axis(every_score, keep, axis=1)
        valid = np.take_along_axis(every_valid, keep, axis=1)
    return scores, steps, singles


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
    scores, steps, singles = beam_search(unit_bits, atoms, length, beam)
    single = singles.argmax(axis=1)
    held_out_scores = np.full((len(units), 2), np.nan)
    if len(test):
        test_bits, test_atoms = bits_of(test)
        count = _count(test_bits)
        for column, candidate in enumerate((_apply(steps[:, 0], test_atoms),
                                            test_atoms[single])):
            inter = _count(candidate & test_bits)
            held_out_scores[:, column] = _ratio(inter, count + _count(candidate) - inter)
    found = []
    for i, unit in enumerate(units):
        size = int((steps[i, 0, :, 1] >= 0).sum())
        text = _text(steps[i, 0], names)
        formula = text[1:-1] if size > 1 else text  # drop the outermost parentheses
        found.append(Explanation(target.name, int(unit), formula, float(scores[i, 0]), size,
                                 names[single[i]], float(singles[i, single[i]]),
                                 *map(float, held_out_scores[i])))
    return found
