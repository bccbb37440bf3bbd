"""Network Dissection: which units detect which concepts (Bau et al., CVPR 2017).

Introduced in lesson 13. For unit k of a layer, the threshold :math:`T_k` is the top
``quantile`` (0.5 %) level of its activations over every position of every image,
:math:`P(a_k > T_k) = 0.005`; its activation map :math:`A_k(x)`, upsampled bilinearly to the
concept masks' resolution **before** thresholding, gives the unit's mask
:math:`M_k(x) = [\\mathrm{up}(A_k(x)) > T_k]`, scored against each concept mask
:math:`L_c(x)` over the whole data set (Bau et al., Sec. 2.2):

.. math:: \\mathrm{IoU}_{k,c} = \\frac{\\sum_x |M_k(x) \\cap L_c(x)|}{\\sum_x |M_k(x) \\cup L_c(x)|}

**How detectors are counted.** Unit k is a *detector* of concept
:math:`c_k = \\arg\\max_c \\mathrm{IoU}_{k,c}` (the first concept on ties) when
:math:`\\mathrm{IoU}_{k,c_k} > 0.04`. The *unique detectors* of a layer are the distinct
concepts among its detectors' labels (two units on "red" count once), the number Bau et al.
plot per layer and category.

**Thresholds.** :math:`T_k` is the (m + 1)-th largest of the N h w activations of unit k,
m = ceil(0.005 N h w), so that m of them exceed it (absent ties). The comparison is strict, as
in NetDissect-Lite: a ReLU unit that is zero on more than 99.5 % of the positions gets the
mask of its positive activations rather than of every pixel.

Activations are streamed in batches, once: the thresholds are exact running top-(m + 1)
values per unit, and of each layer only the blocks of pixels that can still reach them are kept
(:class:`Running`, :class:`Blocks`: a few per cent of the layer after the first batches, never
the layer itself, nor any upsampled map). The tally then builds each batch of concept masks
once and counts, for every unit, the concept pixels under the mask pixels of its blocks. A
progress bar follows both passes, and ``checkpoint=folder`` makes an interrupted run resume
(:class:`Checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import warn
from xaikit.base.io import atomic_write
from xaikit.base.messages import message
from xaikit.base.resize import bilinear_matrix
from xaikit.core import batching, cached, check_images, check_int, check_number, rng
from xaikit.core.probes import feature_model
from xaikit.interpretation.units import spatial_layer

__all__ = ["DEFAULT_QUANTILE", "Checkpoint", "Dissection", "IOU_THRESHOLD", "LayerDissection",
           "merge_top", "network_dissection", "random_rotation", "thresholds"]

DEFAULT_QUANTILE = 0.005  # Bau et al.: P(a_k >= T_k) = 0.005
IOU_THRESHOLD = 0.04  # Bau et al.: a unit detects its best concept when IoU > 0.04
MEMORY_BUDGET = 512 * 2**20  # bytes of layer activations held in memory before using a file
SAVE_SECONDS = 10.0  # a checkpointed dissection saves its state at most this often per batch
STATE_FILE = "state.npz"


def random_rotation(size: int, generator: np.random.Generator) -> np.ndarray:
    """A Haar-random (size, size) orthogonal matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(generator.standard_normal((size, size)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def top_count(quantile: float, n_values: int) -> int:
    """How many of a unit's ``n_values`` activations to keep: m + 1, m = ceil(quantile n)."""
    return min(n_values, math.ceil(quantile * n_values) + 1)


def merge_top(top: np.ndarray, values: np.ndarray, keep: int) -> np.ndarray:
    """The ``keep`` largest values of each unit among ``top`` (K, m) and ``values`` (n, K).

    Returns a (K, min(keep, m + n)) array (exact as a multiset of values, in no order). Once
    ``top`` is full only the rows of ``values`` where some unit exceeds its current keep-th
    largest value can change it (a value equal to it leaves the keep-th largest unchanged), so
    after the first batches a batch costs one comparison.

    Examples
    --------
    >>> top = merge_top(np.zeros((2, 0), np.float32), np.array([[1., 5.], [3., 4.]]), 2)
    >>> merge_top(top, np.array([[2., 6.]]), 2).min(axis=1)  # the 2nd largest of each unit
    array([2., 5.], dtype=float32)
    """
    values = np.asarray(values, np.float32)
    if top.shape[1] >= keep:
        rows = np.flatnonzero((values > top.min(axis=1)).any(axis=1))
        if len(rows) == 0:
            return top
        values = values[rows]
    joined = np.concatenate([top, values.T], axis=1)
    if joined.shape[1] <= keep:
        return joined
    return np.partition(joined, joined.shape[1] - keep, axis=1)[:, -keep:]


def thresholds(activations: np.ndarray, quantile: float = DEFAULT_QUANTILE) -> np.ndarray:
    """(K,) thresholds T of activations (n, h, w, K): each unit's (m + 1)-th largest value."""
    values = activations.reshape(-1, activations.shape[-1])
    keep = top_count(quantile, len(values))
    return merge_top(np.zeros((values.shape[1], 0), np.float32), values, keep).min(axis=1)


class Checkpoint:
    """Progress bar and, given a folder, resumable state of one dissection.

    The folder holds ``state.npz`` (the phase, the next batch, the running thresholds and
    the blocks kept (:class:`Running`), then the tallies), written atomically at most every ``SAVE_SECONDS`` and at the end of each phase. A run
    with the same folder and the same inputs (model weights, images, layers, options: the
    ``fingerprint``) continues where the last one stopped; a finished run is read back; any
    other content is replaced with a warning. Without a folder nothing is written.
    """

    def __init__(self, folder: str | os.PathLike | None, fingerprint: str = "", *,
                 batches: int = 0, batch_size: int = 1, progress: bool = False,
                 label: str = "") -> None:
        self.folder = None if folder is None else Path(folder)
        self.fingerprint, self.last = fingerprint, time.monotonic()
        self.state: dict[str, Any] = {"phase": "forward", "batch": 0}
        if self.folder is not None and (self.folder / STATE_FILE).exists():
            self.state = self._load()
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            phase = ("forward", "tally", "done").index(self.state["phase"])
            done = min(2 * batches, phase * batches + -(-self.state["batch"] // batch_size))
            self.bar = tqdm(total=2 * batches, initial=done, desc=f"dissect {label}",
                            unit="batch", leave=False)

    def _load(self) -> dict[str, Any]:
        path = self.folder / STATE_FILE
        try:
            with np.load(path, allow_pickle=False) as npz:
                state = {key: npz[key] for key in npz.files}
            if str(state.pop("fingerprint")) != self.fingerprint:
                raise ValueError("it was made for other inputs or options")
            state["phase"], state["batch"] = str(state["phase"]), int(state["batch"])
            return state
        except (OSError, ValueError, KeyError) as exc:
            warn(message("dissection_resume", path=path, reason=exc))
            return {"phase": "forward", "batch": 0}

    def step(self, phase: str, batch: int, arrays: Callable[[], dict[str, np.ndarray]], *,
             force: bool = False) -> None:
        """One batch done (``force``: a phase done): advance the bar, save ``arrays()`` when it
        is time."""
        if self.bar is not None and not force:
            self.bar.update(1)
        if self.folder is None or not (force or time.monotonic() - self.last >= SAVE_SECONDS):
            return
        self.state = {"phase": phase, "batch": batch, **arrays()}
        payload = {"fingerprint": np.array(self.fingerprint), **self.state}
        atomic_write(self.folder / STATE_FILE, lambda handle: np.savez(handle, **payload))
        self.last = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fingerprint(model: keras.Model, images: np.ndarray, concepts: Any, options: dict) -> str:
    """SHA-256 of the model's weights, the images, the first concept masks and the options."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    for array in (*model.get_weights(), images, concepts.masks(np.arange(min(8, len(images))))):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, ...]:
    """The bilinear resampling ``n_in -> n_out`` (:func:`bilinear_matrix`) by source block.

    Output i reads the cells ``low(i)`` and ``low(i) + 1`` with the weights of row i of the
    matrix (float32; the second is 0 where it is clamped to the first); the outputs with the
    same ``low`` form block ``low``. Returns ``(second, slots, first_weight, second_weight)``:
    (n_in,) the second cell of each block (the block itself where none of its outputs weighs
    another cell), and (n_in, s) per block its output indices (-1 pads) and their two weights.
    """
    matrix = bilinear_matrix(n_in, n_out).astype(np.float32)
    outputs = np.arange(n_out)
    low = (matrix > 0).argmax(axis=1)
    high = np.minimum(low + 1, n_in - 1)
    w_high = np.where(high > low, matrix[outputs, high], np.float32(0))
    second = np.arange(n_in)
    second[low[w_high > 0]] = high[w_high > 0]
    width = np.bincount(low, minlength=n_in).max()
    rank = outputs - np.searchsorted(low, low)
    slots = np.full((n_in, width), -1)
    weights = np.zeros((2, n_in, width), np.float32)
    slots[low, rank] = outputs
    weights[0, low, rank], weights[1, low, rank] = matrix[outputs, low], w_high
    return second, slots, weights[0], weights[1]


def _fma(a: np.ndarray, b: np.ndarray, c: np.ndarray, short: bool) -> np.ndarray:
    """float32 ``a * b + c`` rounded once, as a fused multiply-add.

    The product of two float32 is exact in float64. With ``short`` factors ``a`` (at most 4
    significant bits: the weights of power-of-two scale factors up to 8) the float64 sum is
    exact too, or off by less than its last bit from a sum whose float32 rounding it keeps;
    otherwise it is rounded to odd (Boldo & Melquiond 2008: its error, from TwoSum, moves an
    inexact even result one ulp towards the exact sum), which makes the final rounding to
    float32 the correct one.
    """
    total = a.astype(np.float64) * b + c
    if short:
        return total.astype(np.float32)
    product = a.astype(np.float64) * b
    back = total - product
    error = (product - (total - back)) + (c - back)
    even = (error != 0) & (total.view(np.int64) & 1 == 0)
    total[even] = np.nextafter(total[even], np.copysign(np.inf, error[even]))
    return total.astype(np.float32)


class Blocks:
    """The unit masks ``up(A) > T`` of a layer's grid at the masks' size, block by block.

    A bilinear value is a convex combination of the (up to) four grid cells of its block of
    pixels (:func:`_taps`: the pixels between the same two rows and columns of cells), so only
    the blocks with a cell above T can hold mask pixels, and a layer is summarised, exactly,
    by those blocks and their cells (``select``). ``count`` evaluates their pixels with the
    two weights of each axis in the order of the two matrix products of ``up`` (rows, then
    columns, each a fused multiply-add of its two terms: the float32 values that
    ``tf.einsum`` computes) and counts the concept pixels under the masks.
    """

    def __init__(self, grid: Sequence[int], size: Sequence[int], units: int) -> None:
        self.grid, self.size = tuple(int(n) for n in grid), tuple(int(n) for n in size)
        self.rows, self.cols = (_taps(n_in, n_out) for n_in, n_out in zip(self.grid, self.size))
        self.wide = [not np.array_equal(taps[0], np.arange(len(taps[0])))
                     for taps in (self.rows, self.cols)]
        self.cells = (1 + self.wide[0]) * (1 + self.wide[1])
        weights = np.concatenate([taps[2:] for taps in (self.rows, self.cols)], axis=None)
        self.short = bool(np.all(np.frexp(weights)[0] * 16 % 1 == 0))
        self.strides = (self.grid[0] * self.grid[1] * units, self.grid[1] * units, units)

    def select(self, activations: np.ndarray, bound: np.ndarray, first: int = 0,
               ) -> dict[str, np.ndarray]:
        """The blocks of ``activations`` (b, h, w, K) with a cell above ``bound`` (K,):
        ``index`` (n,), the flat index of the block's first cell among the images ``first ...``
        (in order), ``cells`` (n, c) its distinct cells (c = 1, 2 or 4, in the order (y, x),
        (y + 1, x), (y, x + 1), (y + 1, x + 1)) and ``peak`` (n,), at least its largest cell
        (the largest of the cell and the next ones along each resampled axis)."""
        peak = activations
        for axis in (1, 2):
            if self.wide[axis - 1]:  # the larger of each cell and the next along the axis
                lead, pairs = (slice(None),) * axis, np.empty_like(peak)
                np.maximum(peak[(*lead, slice(None, -1))], peak[(*lead, slice(1, None))],
                           out=pairs[(*lead, slice(None, -1))])
                pairs[(*lead, -1)] = peak[(*lead, -1)]
                peak = pairs
        index = np.flatnonzero(peak > bound)
        offsets = [0]
        if self.wide[0]:
            y = index // self.strides[1] % self.grid[0]
            offsets = [0, (self.rows[0][y] - y) * self.strides[1]]
        if self.wide[1]:
            x = index // self.strides[2] % self.grid[1]
            offsets = offsets + [offset + (self.cols[0][x] - x) * self.strides[2]
                                 for offset in offsets]
        values = activations.reshape(-1)
        return {"index": index + first * self.strides[0], "peak": peak.reshape(-1)[index],
                "cells": np.stack([np.take(values, index + offset) for offset in offsets], 1)}

    def count(self, blocks: dict[str, np.ndarray], limits: np.ndarray, masks: np.ndarray,
              first: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(K, C) intersections and (K,) pixels of the unit masks ``up(A) > T`` (T: ``limits``)
        over ``blocks`` of the images ``first ...`` whose concept masks are ``masks``."""
        units, concepts = len(limits), masks.shape[-1]
        # np.take: gathers of rows ~10 x faster than fancy indexing
        keep = np.flatnonzero(blocks["peak"] > np.take(limits, blocks["index"] % units))
        index, cells = np.take(blocks["index"], keep), np.take(blocks["cells"], keep, axis=0)
        image, y, x, unit = (index // self.strides[0] - first,
                             index // self.strides[1] % self.grid[0],
                             index // self.strides[2] % self.grid[1], index % units)
        step_y = 1 if self.wide[0] else 0
        step_x = (1 + step_y) if self.wide[1] else 0
        top_left, bottom_left = cells[:, :1], cells[:, step_y:step_y + 1]
        top_right, bottom_right = (cells[:, step_x:step_x + 1],
                                   cells[:, step_x + step_y:step_x + step_y + 1])
        at_y, w_top, w_bottom = (np.take(array, y, axis=0) for array in self.rows[1:])
        left = _fma(w_bottom, bottom_left, w_top * top_left, self.short)  # (n, s): a row of
        right = _fma(w_bottom, bottom_right, w_top * top_right, self.short)  # the block, 2 cells
        # A float32 combination of two values exceeds the larger by at most 3 of its ulps:
        # rows below T by 8 ulps of T cannot reach T.
        limit = np.take(limits, unit)
        near = limit - 8 * np.abs(np.spacing(limit))
        rows = np.flatnonzero((np.maximum(left, right) >= near[:, None]) & (at_y >= 0))
        block = rows // at_y.shape[1]
        at_x, w_left, w_right = (np.take(array, np.take(x, block), axis=0)
                                 for array in self.cols[1:])
        up = _fma(w_right, np.take(right, rows)[:, None],
                  w_left * np.take(left, rows)[:, None], self.short)
        on = np.flatnonzero((up > np.take(limit, block)[:, None]) & (at_x >= 0))
        rows, block = np.take(rows, on // up.shape[1]), np.take(block, on // up.shape[1])
        pixels = (np.take(image, block) * self.size[0] + np.take(at_y, rows)) * self.size[1] \
            + np.take(at_x, on)
        hit = np.flatnonzero(np.take(masks.reshape(-1, concepts), pixels, axis=0))
        owner = np.take(unit, block)
        both = np.bincount(np.take(owner, hit // concepts) * concepts + hit % concepts,
                           minlength=units * concepts)
        return both.reshape(units, concepts), np.bincount(owner, minlength=units)


class Running:
    """One layer's exact running thresholds and the blocks that can still reach them.

    ``bound`` (K,) is each unit's ``keep``-th largest activation so far once it has seen
    ``keep`` values (else -inf): a lower bound of its final threshold, so a value at or below
    it can be neither among the final top values nor a cell of a block with mask pixels.
    After the first batches (merged whole, :func:`merge_top`), a batch only adds its values
    above the bound as candidates, merged into the top values once there are as many of them,
    which raises the bound, and it keeps the blocks (:class:`Blocks`) with a cell above the
    bound; a raised bound drops the blocks that fell below it. ``state()`` is what
    ``Running(..., state=)`` resumes from.
    """

    KEYS = ("index", "peak", "cells")
    STATE = ("top", "values", "units", *KEYS)

    def __init__(self, blocks: Blocks, units: int, keep: int,
                 state: dict[str, np.ndarray] | None = None) -> None:
        self.blocks, self.keep = blocks, keep
        self.unit_type = np.min_scalar_type(units)  # small ints: a radix sort in _merge
        state = state or {"top": np.zeros((units, 0), np.float32),
                          "values": np.zeros(0, np.float32),
                          "units": np.zeros(0, self.unit_type),
                          "index": np.zeros(0, np.int64), "peak": np.zeros(0, np.float32),
                          "cells": np.zeros((0, blocks.cells), np.float32)}
        self.top = state["top"]
        self.values, self.units = [state["values"]], [state["units"]]
        self.kept = [{key: state[key] for key in self.KEYS}]
        self.pending = len(state["units"])
        self.bound = self._bound()

    def _bound(self) -> np.ndarray:
        if self.top.shape[1] < self.keep:
            return np.full(len(self.top), -np.inf, np.float32)
        return self.top.min(axis=1)

    def add(self, activations: np.ndarray, first: int) -> None:
        """Take a batch (b, h, w, K) of the images ``first ...``."""
        flat = activations.reshape(-1, activations.shape[-1])
        if self.top.shape[1] < self.keep:
            self.top = merge_top(self.top, flat, self.keep)
            self.bound = self._bound()
        else:
            index = np.flatnonzero(flat > self.bound)
            self.values.append(np.take(flat, index))
            self.units.append((index % flat.shape[1]).astype(self.unit_type))
            self.pending += len(index)
            if self.pending >= self.top.size:
                self._merge()
        self.kept.append(self.blocks.select(activations, self.bound, first))

    def _merge(self) -> None:
        values, units = np.concatenate(self.values), np.concatenate(self.units)
        counts = np.bincount(units, minlength=len(self.top))
        order = np.argsort(units, kind="stable")
        rank = np.arange(len(units)) - np.repeat(np.cumsum(counts) - counts, counts)
        dense = np.full((len(self.top), max(1, counts.max())), -np.inf, np.float32)
        dense[units[order], rank] = values[order]
        joined = np.concatenate([self.top, dense], axis=1)  # the candidates exceed the bound
        self.top = np.partition(joined, joined.shape[1] - self.keep, axis=1)[:, -self.keep:]
        self.values, self.units, self.pending = [], [], 0
        self.bound = self._bound()
        kept = self._blocks()
        above = np.flatnonzero(kept["peak"] > self.bound[kept["index"] % len(self.bound)])
        self.kept = [{key: array[above] for key, array in kept.items()}]

    def _blocks(self) -> dict[str, np.ndarray]:
        if len(self.kept) > 1:
            self.kept = [{key: np.concatenate([part[key] for part in self.kept])
                          for key in self.KEYS}]
        return self.kept[0]

    def state(self) -> dict[str, np.ndarray]:
        """The top values, the candidates and the blocks kept (in image order)."""
        values = np.concatenate([np.zeros(0, np.float32), *self.values])
        units = np.concatenate([np.zeros(0, self.unit_type), *self.units])
        self.values, self.units = [values], [units]
        return {"top": self.top, "values": values, "units": units, **self._blocks()}

    def finish(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The thresholds T (K,) (each unit's ``keep``-th largest value) and the blocks with a
        cell above them."""
        if self.pending:
            self._merge()
        return self.bound, self._blocks()


def _probe(model: keras.Model, layers: Sequence[Any], rotations: dict | None) -> keras.Model:
    if rotations is None:
        return cached(model, ("dissection", tuple(id(layer) for layer in layers)),
                      lambda: feature_model(model, layers))
    return feature_model(model, layers, rotations=rotations)


def _outputs(forward: Callable, images: np.ndarray) -> list[np.ndarray]:
    outputs = forward(images)
    return [np.asarray(a) for a in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def stream_activations(model: keras.Model, images: np.ndarray, layers: Sequence[Any], *,
                       quantile: float = DEFAULT_QUANTILE, rotations: dict | None = None,
                       batch_size: int = 64) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One streamed forward pass: the activations of each layer and its per-unit thresholds.

    Returns ``(activations, thresholds)``: per layer (N, h, w, K) float32 (layer resolution,
    in a temporary file beyond ``MEMORY_BUDGET`` bytes) and (K,) the thresholds T (the
    (m + 1)-th largest value of each unit, m = ceil(quantile N h w)).
    """
    probe = _probe(model, layers, rotations)
    shapes = [(len(images), *output.shape[1:]) for output in probe.outputs]
    held = [np.empty(shape, np.float32) if math.prod(shape) * 4 <= MEMORY_BUDGET
            else np.memmap(tempfile.TemporaryFile(), np.float32, "w+", shape=shape)
            for shape in shapes]
    keeps = [top_count(quantile, n * h * w) for n, h, w, _ in shapes]
    tops = [np.zeros((shape[-1], 0), np.float32) for shape in shapes]
    forward = batching.forward_function(probe)
    for part in batching.batch_slices(len(images), batch_size):
        for i, (a, buffer, keep) in enumerate(zip(_outputs(forward, images[part]), held, keeps)):
            buffer[part] = a
            tops[i] = merge_top(tops[i], a.reshape(-1, a.shape[-1]), keep)
    return held, [top.min(axis=1) for top in tops]


def _tally(layers: Sequence[Blocks], limits: Sequence[np.ndarray], concepts: Any,
           index: np.ndarray, batch_size: int, checkpoint: Checkpoint,
           blocks_of: Callable[[int, slice], dict[str, np.ndarray]],
           kept: Callable[[], dict[str, np.ndarray]] = dict) -> list[np.ndarray]:
    """IoU (K, C) per layer from the blocks ``blocks_of(layer, part)`` of each batch of images
    ``index[part]`` of ``concepts``; ``kept()``: what a checkpoint must save to resume."""
    state = checkpoint.state
    concept_pixels = state.get("concept_pixels", np.zeros(len(concepts.names)))
    inter = [state.get(f"inter{i}", np.zeros((len(t), len(concepts.names))))
             for i, t in enumerate(limits)]
    unit_pixels = [state.get(f"units{i}", np.zeros(len(t))) for i, t in enumerate(limits)]
    for part in batching.batch_slices(len(index), batch_size):
        if part.start < state["batch"]:
            continue
        masks, pixels = concepts.masks(index[part], pixels=True)
        concept_pixels = concept_pixels + pixels
        for i, (layer, limit) in enumerate(zip(layers, limits)):
            both, units = layer.count(blocks_of(i, part), limit, masks, part.start)
            inter[i], unit_pixels[i] = inter[i] + both, unit_pixels[i] + units
        checkpoint.step("tally", part.stop, lambda pixels=concept_pixels: {
            **kept(), "concept_pixels": pixels,
            **{f"inter{i}": v for i, v in enumerate(inter)},
            **{f"units{i}": v for i, v in enumerate(unit_pixels)}})
    ious = []
    for both, units in zip(inter, unit_pixels):
        union = units[:, None] + concept_pixels[None, :] - both
        ious.append(np.divide(both, union, out=np.zeros_like(both), where=union > 0))
    thresholds = {f"threshold{i}": np.asarray(t) for i, t in enumerate(limits)}
    checkpoint.step("done", len(index), lambda: {
        **thresholds, **{f"iou{i}": v for i, v in enumerate(ious)}}, force=True)
    return ious


def tally(activations: Sequence[np.ndarray], thresholds: Sequence[np.ndarray],
          concepts: Any, index: np.ndarray, *, batch_size: int = 64) -> list[np.ndarray]:
    """IoU (K, C) of the unit masks ``up(A) > T`` with every concept, per layer.

    ``activations`` (one (n, h, w, K) array per layer) are those of the images ``index`` of
    ``concepts`` (a :class:`xaikit.data.concepts.ConceptSet`), ``thresholds`` their T (K,).
    Each batch of concept masks is built once and scored against every layer.
    """
    layers = [Blocks(a.shape[1:3], concepts.size, a.shape[-1]) for a in activations]
    limits = [np.asarray(t, np.float32) for t in thresholds]
    return _tally(layers, limits, concepts, np.asarray(index), batch_size, Checkpoint(None),
                  lambda i, part: layers[i].select(np.asarray(activations[i][part], np.float32),
                                                   limits[i], part.start))


def _dissect(probe: keras.Model, images: np.ndarray, concepts: Any, quantile: float,
             batch_size: int, checkpoint: Checkpoint) -> tuple[list[np.ndarray], list]:
    """Thresholds and IoUs of every layer of ``probe``: one streamed forward pass that keeps
    the running thresholds and the blocks that can reach them (:class:`Running`), then the
    tally of those blocks against each batch of concept masks."""
    shapes = [(len(images), *output.shape[1:]) for output in probe.outputs]
    layers = [Blocks(shape[1:3], concepts.size, shape[-1]) for shape in shapes]
    state = checkpoint.state
    if state["phase"] == "forward":
        runs = [Running(layer, shape[-1], top_count(quantile, math.prod(shape[:3])),
                        _layer_state(state, i, Running.STATE))
                for i, (layer, shape) in enumerate(zip(layers, shapes))]
        forward = batching.forward_function(probe)
        for part in batching.batch_slices(len(images), batch_size):
            if part.start < state["batch"]:
                continue
            for run, a in zip(runs, _outputs(forward, images[part])):
                run.add(a, part.start)
            checkpoint.step("forward", part.stop, lambda: {
                f"layer{i}_{key}": value for i, run in enumerate(runs)
                for key, value in run.state().items()})
        limits, kept = map(list, zip(*[run.finish() for run in runs]))
        checkpoint.step("tally", 0, lambda: _kept(limits, kept), force=True)
    else:
        limits = [state[f"threshold{i}"] for i in range(len(layers))]
        kept = [_layer_state(state, i, Running.KEYS) for i in range(len(layers))]
    def blocks_of(i: int, part: slice) -> dict[str, np.ndarray]:
        low, high = np.searchsorted(kept[i]["index"], np.multiply([part.start, part.stop],
                                                                  layers[i].strides[0]))
        return {key: array[low:high] for key, array in kept[i].items()}

    ious = _tally(layers, limits, concepts, np.arange(len(images)), batch_size, checkpoint,
                  blocks_of, lambda: _kept(limits, kept))
    return limits, ious


def _kept(limits: Sequence[np.ndarray], kept: Sequence[dict]) -> dict[str, np.ndarray]:
    """The checkpoint arrays of the tally: thresholds and blocks of each layer."""
    return {**{f"threshold{i}": t for i, t in enumerate(limits)},
            **{f"layer{i}_{key}": array for i, blocks in enumerate(kept)
               for key, array in blocks.items()}}


def _layer_state(state: dict[str, Any], index: int, keys: Sequence[str]) -> dict | None:
    """The arrays ``keys`` of layer ``index`` in a checkpoint state (None: not there)."""
    if f"layer{index}_{keys[0]}" not in state:
        return None
    return {key: state[f"layer{index}_{key}"] for key in keys}


@dataclass(frozen=True)
class LayerDissection:
    """One layer: ``thresholds`` (K,), ``iou`` (K, C) and the labels derived from them."""

    layer: str
    thresholds: np.ndarray
    iou: np.ndarray
    iou_threshold: float

    @property
    def best(self) -> np.ndarray:
        """(K,) index of each unit's best concept (the first on ties)."""
        return self.iou.argmax(axis=1)

    @property
    def best_iou(self) -> np.ndarray:
        """(K,) IoU of each unit with its best concept."""
        return self.iou.max(axis=1)

    @property
    def detectors(self) -> np.ndarray:
        """(K,) bool: best IoU > the threshold (0.04)."""
        return self.best_iou > self.iou_threshold


@dataclass(frozen=True)
class Dissection:
    """The result of :func:`network_dissection` over several layers."""

    concepts: tuple[str, ...]
    categories: tuple[str, ...]
    layers: tuple[LayerDissection, ...]
    quantile: float

    def layer(self, name: str) -> LayerDissection:
        """The dissection of layer ``name``."""
        for entry in self.layers:
            if entry.layer == name:
                return entry
        raise ValueError(message("option", name="layer", value=name,
                                 allowed=", ".join(e.layer for e in self.layers)))

    def labels(self, name: str) -> list[str | None]:
        """Per unit of layer ``name``: its concept if it is a detector, else None."""
        entry = self.layer(name)
        return [self.concepts[c] if d else None for c, d in zip(entry.best, entry.detectors)]

    def unique_detectors(self, name: str) -> list[str]:
        """The distinct concepts detected in layer ``name`` (sorted by best IoU)."""
        entry = self.layer(name)
        order = np.argsort(-entry.best_iou, kind="stable")
        found = [self.concepts[entry.best[k]] for k in order if entry.detectors[k]]
        return list(dict.fromkeys(found))

    def summary(self) -> list[dict[str, Any]]:
        """One row per layer: units, detectors, unique detectors (all and per category)."""
        rows = []
        for entry in self.layers:
            unique = self.unique_detectors(entry.layer)
            row = {"layer": entry.layer, "units": len(entry.thresholds),
                   "detectors": int(entry.detectors.sum()), "unique_detectors": len(unique)}
            for category in dict.fromkeys(self.categories):
                row[f"unique_{category}"] = sum(self.categories[self.concepts.index(c)] == category
                                                for c in unique)
            rows.append(row)
        return rows

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: one per (layer, unit) with its best concept, category, IoU, detector."""
        return [{"layer": e.layer, "unit": k, "concept": self.concepts[c],
                 "category": self.categories[c], "iou": float(iou), "detector": bool(d),
                 "threshold": float(t)}
                for e in self.layers
                for k, (c, iou, d, t) in enumerate(zip(e.best, e.best_iou, e.detectors,
                                                       e.thresholds))]


def network_dissection(
    model: keras.Model,
    data: Any,
    concepts: Any,
    layers: Sequence[str | int | keras.layers.Layer] | str | None = None,
    *,
    quantile: float = DEFAULT_QUANTILE,
    iou_threshold: float = IOU_THRESHOLD,
    rotation: int | None = None,
    batch_size: int = 64,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> Dissection:
    """Network Dissection (Bau, Zhou, Khosla, Oliva & Torralba, CVPR 2017, arXiv:1704.05796).

    Scores every unit of ``layers`` against every concept with the IoU of the module
    docstring and labels each unit with its best concept when that IoU exceeds
    ``iou_threshold``. ``rotation`` (a seed) dissects the layer in a random orthogonal basis
    instead, :math:`A \\to A Q` with Q Haar-distributed (Sec. 3.2): an interpretable basis is
    axis-aligned if the rotated units detect fewer concepts.

    Parameters
    ----------
    model : keras.Model
    data : ImageSet or array (N, H, W, C)
    concepts : ConceptSet
        From :func:`xaikit.data.concepts.concepts` (or ``ConceptSet.from_masks``), for the
        same N images.
    layers : name(s), index or Layer(s); None: the last layer with a 4-D output
    quantile : float
        Fraction of activations above each unit's threshold (0.005).
    iou_threshold : float
        Minimum IoU of a detector (0.04).
    rotation : int or None
        Seed of the random rotation control; None: the units themselves.
    batch_size : int
    progress : bool
        Show a progress bar over the forward pass and the tally (tqdm).
    checkpoint : path, optional
        A folder for the run's state (see :class:`Checkpoint`): an interrupted dissection
        started again with the same folder and inputs resumes where it stopped, a finished
        one is read back. None: nothing is written.

    Returns
    -------
    Dissection

    Raises
    ------
    ValueError
        Non-spatial layers, concepts of another number of images, bad options.
    """
    images = check_images(getattr(data, "images", data), model)
    if len(concepts) != len(images):
        raise ValueError(message("concept_count", got=len(concepts), expected=len(images)))
    quantile = check_number("quantile", quantile, low=1e-9, high=1.0)
    iou_threshold = check_number("iou_threshold", iou_threshold, low=0.0, high=1.0)
    check_int("batch_size", batch_size)
    names = [None] if layers is None else ([layers] if isinstance(layers, (str, int))
                                            else list(layers))
    targets = [spatial_layer(model, name, "network_dissection") for name in names]
    rotations = None
    if rotation is not None:
        generator = rng(check_int("rotation", rotation, minimum=0))
        rotations = {t.name: random_rotation(int(t.output.shape[-1]), generator) for t in targets}
    options = {"layers": [t.name for t in targets], "quantile": quantile, "rotation": rotation,
               "batch_size": batch_size, "concepts": list(concepts.names),
               "size": list(concepts.size)}
    run = Checkpoint(checkpoint, checkpoint and fingerprint(model, images, concepts, options),
                     batches=-(-len(images) // batch_size), batch_size=batch_size,
                     progress=progress, label=getattr(model, "name", "model"))
    try:
        if run.state["phase"] == "done":
            limits = [run.state[f"threshold{i}"] for i in range(len(targets))]
            ious = [run.state[f"iou{i}"] for i in range(len(targets))]
        else:
            limits, ious = _dissect(_probe(model, targets, rotations), images, concepts,
                                    quantile, batch_size, run)
    finally:
        run.close()
    results = tuple(LayerDissection(t.name, np.asarray(limit, np.float32), iou, iou_threshold)
                    for t, limit, iou in zip(targets, limits, ious))
    return Dissection(tuple(concepts.names), tuple(concepts.categories), results, quantile)
