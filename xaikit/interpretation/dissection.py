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

Activations are streamed in batches: the thresholds are exact running top-(m + 1) values per
unit, merged for all units at once. A layer no larger than the image keeps its layer-resolution
activations for the tally (in a temporary file when they exceed ``MEMORY_BUDGET``, in the
checkpoint folder when one is given), and so does a wider, early layer up to ``HOLD_BYTES``;
beyond that it is computed again in the tally instead; the upsampled maps are never held. Each batch of concept masks is built once; at the
masks' resolution the intersections are one matrix product, otherwise only the pixels of the
unit masks are gathered from them. A progress bar follows both passes, and ``checkpoint=folder``
makes an interrupted run resume (:class:`Checkpoint`).
"""

from __future__ import annotations

import functools
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
import tensorflow as tf

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
HOLD_BYTES = 128 * 2**20  # a layer wider than the image is held up to this size, else recomputed
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

    The folder holds the layer activations (``activations<i>.npy``, written batch by batch)
    and ``state.npz`` (the phase, the next batch, the running top values or the tallies),
    written atomically at most every ``SAVE_SECONDS`` and at the end of each phase. A run
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

    def buffer(self, index: int, shape: tuple[int, ...]) -> np.ndarray:
        """Where the activations of layer ``index`` live: memory, a temporary file, or the
        checkpoint folder (reopened when resuming)."""
        if self.folder is None:
            if np.prod(shape) * 4 <= MEMORY_BUDGET:
                return np.empty(shape, np.float32)
            return np.memmap(tempfile.TemporaryFile(), np.float32, "w+", shape=shape)
        path = self.folder / f"activations{index}.npy"
        resume = self.state["batch"] > 0 or self.state["phase"] == "tally"
        return np.lib.format.open_memmap(path, mode="r+" if resume else "w+",
                                         dtype=np.float32, shape=None if resume else shape)

    def step(self, phase: str, batch: int, arrays: dict[str, np.ndarray],
             buffers: Sequence[np.ndarray] = (), *, force: bool = False) -> None:
        """One batch done (``force``: a phase done): advance the bar, save when it is time."""
        if self.bar is not None and not force:
            self.bar.update(1)
        if self.folder is None or not (force or time.monotonic() - self.last >= SAVE_SECONDS):
            return
        for buffer in buffers:
            if isinstance(buffer, np.memmap):
                buffer.flush()
        self.state = {"phase": phase, "batch": batch, **arrays}
        payload = {"fingerprint": np.array(self.fingerprint), **self.state}
        atomic_write(self.folder / STATE_FILE, lambda handle: np.savez(handle, **payload))
        self.last = time.monotonic()
        if phase == "done":
            for path in self.folder.glob("activations*.npy"):
                path.unlink()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fingerprint(model: keras.Model, images: np.ndarray, concepts: Any, options: dict) -> str:
    """SHA-256 of the model's weights, the images, the first concept masks and the options."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    for array in (*model.get_weights(), images, concepts.masks(np.arange(min(8, len(images))))):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def held_layers(probe: keras.Model, images: np.ndarray) -> list[bool]:
    """Which layers' activations to hold between the passes: those no larger than an image,
    and any layer whose activations over all images take at most ``HOLD_BYTES``.

    A layer with more values per image than the image (an early, wide layer) is cheap to reach
    and costly to hold on a large data set (hundreds of MB of fresh pages), so the tally
    recomputes it; a deeper one is held (in memory, a temporary file or the checkpoint folder).
    """
    return [math.prod(output.shape[1:]) <= math.prod(images.shape[1:])
            or 4 * len(images) * math.prod(output.shape[1:]) <= HOLD_BYTES
            for output in probe.outputs]


def _probe(model: keras.Model, layers: Sequence[Any], rotations: dict | None) -> keras.Model:
    if rotations is None:
        return cached(model, ("dissection", tuple(id(layer) for layer in layers)),
                      lambda: feature_model(model, layers))
    return feature_model(model, layers, rotations=rotations)


def stream_activations(model: keras.Model, images: np.ndarray, layers: Sequence[Any], *,
                       quantile: float = DEFAULT_QUANTILE, rotations: dict | None = None,
                       batch_size: int = 64, checkpoint: Checkpoint | None = None,
                       hold: Sequence[bool] | None = None,
                       ) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
    """One streamed forward pass: the activations of each layer and its per-unit thresholds.

    Returns ``(activations, thresholds)``: per layer (N, h, w, K) float32 (layer resolution;
    None for a layer whose ``hold`` is False: only its thresholds are kept) and (K,) the
    thresholds T (the (m + 1)-th largest value of each unit, m = ceil(quantile N h w)).
    ``checkpoint`` resumes an interrupted pass and records this one.
    """
    checkpoint = checkpoint or Checkpoint(None)
    probe = _probe(model, layers, rotations)
    shapes = [(len(images), *output.shape[1:]) for output in probe.outputs]
    hold = [True] * len(shapes) if hold is None else list(hold)
    held = [checkpoint.buffer(i, shape) if keep else None
            for i, (shape, keep) in enumerate(zip(shapes, hold))]
    keeps = [top_count(quantile, n * h * w) for n, h, w, _ in shapes]
    state = checkpoint.state
    if state["phase"] != "forward":
        return held, [state[f"threshold{i}"] for i in range(len(held))]
    tops = [state.get(f"top{i}", np.zeros((shape[-1], 0), np.float32))
            for i, shape in enumerate(shapes)]
    forward = batching.forward_function(probe)
    buffers = [buffer for buffer in held if buffer is not None]
    for part in batching.batch_slices(len(images), batch_size):
        if part.start < state["batch"]:
            continue
        outputs = forward(images[part])
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for i, (a, buffer, keep) in enumerate(zip(outputs, held, keeps)):
            a = np.asarray(a)
            if buffer is not None:
                buffer[part] = a
            tops[i] = merge_top(tops[i], a.reshape(-1, a.shape[-1]), keep)
        checkpoint.step("forward", part.stop, {f"top{i}": t for i, t in enumerate(tops)},
                        buffers)
    limits = [top.min(axis=1) for top in tops]
    checkpoint.step("tally", 0, {f"threshold{i}": t for i, t in enumerate(limits)}, buffers,
                    force=True)
    return held, limits


@functools.lru_cache(maxsize=16)
def _tally_function(grid: tuple[int, int], size: tuple[int, int]):
    """Compiled (A, T, masks) -> (intersections (K, C), unit pixels (K,)), masks ``up(A) > T``.

    At the masks' resolution (half-pixel bilinear resizing to the same size is the identity)
    the intersections are one product of the unit masks and the concept masks over all
    pixels. Otherwise only the (image, unit) pairs whose map exceeds T somewhere are upsampled
    (a bilinear value is a convex combination of grid values, so the others have empty
    masks), and only the mask pixels are gathered from the concept masks. Counts are exact
    (sums of 0/1 in float32 below 2**24 per batch).
    """
    rows = tf.constant(bilinear_matrix(grid[0], size[0]), tf.float32)
    cols = tf.constant(bilinear_matrix(grid[1], size[1]), tf.float32)

    def same_size(activations, thresholds, masks):
        on = tf.cast(tf.reshape(activations > thresholds, [-1, tf.shape(activations)[-1]]),
                     tf.float32)
        labels = tf.cast(tf.reshape(masks, [-1, tf.shape(masks)[-1]]), tf.float32)
        return tf.matmul(on, labels, transpose_a=True), tf.reduce_sum(on, axis=0)

    def upsampled(activations, thresholds, masks):
        units = tf.shape(activations)[-1]
        pairs = tf.where(tf.reduce_max(activations, axis=[1, 2]) > thresholds)
        maps = tf.gather_nd(tf.transpose(activations, [0, 3, 1, 2]), pairs)
        up = tf.einsum("pHw,Ww->pHW", tf.einsum("Hh,phw->pHw", rows, maps), cols)
        on = tf.where(up > tf.gather(thresholds, pairs[:, 1])[:, None, None])
        image, unit = tf.gather(pairs[:, 0], on[:, 0]), tf.gather(pairs[:, 1], on[:, 0])
        hits = tf.cast(tf.gather_nd(masks, tf.stack([image, on[:, 1], on[:, 2]], 1)), tf.float32)
        return (tf.math.unsorted_segment_sum(hits, unit, units),
                tf.math.unsorted_segment_sum(tf.ones_like(unit, tf.float32), unit, units))

    # Traced once for any batch, unit and concept count: a concrete function never retraces.
    return batching.compile_function(same_size if grid == size else upsampled,
                                     [tf.TensorSpec([None, *grid, None], tf.float32),
                                      tf.TensorSpec([None], tf.float32),
                                      tf.TensorSpec([None, *size, None], tf.bool)])


@tf.function(reduce_retracing=True)
def _pixels(masks: tf.Tensor) -> tf.Tensor:
    """(C,) pixels of each concept in a batch of masks (b, h, w, C)."""
    return tf.reduce_sum(tf.cast(masks, tf.float32), axis=[0, 1, 2])


def tally(activations: Sequence[np.ndarray | None], thresholds: Sequence[np.ndarray],
          concepts: Any, index: np.ndarray, *, batch_size: int = 64,
          checkpoint: Checkpoint | None = None,
          recompute: Callable[[slice], Sequence[tf.Tensor]] | None = None,
          ) -> list[np.ndarray]:
    """IoU (K, C) of the unit masks ``up(A) > T`` with every concept, per layer.

    ``activations`` (one (n, h, w, K) array per layer) are those of the images ``index`` of
    ``concepts`` (a :class:`xaikit.data.concepts.ConceptSet`); a layer given as None is
    computed again batch by batch, ``recompute(part)`` returning those layers' activations
    of the images ``index[part]``, in order. Each batch of concept masks is built once and scored against every
    layer. ``checkpoint`` resumes an interrupted tally and records this one.
    """
    checkpoint = checkpoint or Checkpoint(None)
    size = tuple(concepts.size)
    state = checkpoint.state
    inter, unit_pixels, runs = [], [], []
    concept_pixels = state.get("concept_pixels", np.zeros(len(concepts.names)))
    limits = [tf.constant(np.asarray(t, np.float32)) for t in thresholds]
    kept = {f"threshold{i}": np.asarray(t) for i, t in enumerate(thresholds)}
    for part in batching.batch_slices(len(index), batch_size):
        if part.start < state["batch"]:
            continue
        masks = tf.constant(concepts.masks(index[part]))
        concept_pixels = concept_pixels + np.asarray(_pixels(masks), np.float64)
        fresh = iter(recompute(part) if recompute is not None else ())
        batch = [tf.constant(a[part]) if a is not None else next(fresh) for a in activations]
        if not runs:
            runs = [_tally_function(tuple(a.shape[1:3]), size) for a in batch]
            inter = [state.get(f"inter{i}", np.zeros((a.shape[-1], len(concepts.names))))
                     for i, a in enumerate(batch)]
            unit_pixels = [state.get(f"units{i}", np.zeros(a.shape[-1]))
                           for i, a in enumerate(batch)]
        for i, (a, limit, run) in enumerate(zip(batch, limits, runs)):
            both, units = run(a, limit, masks)
            inter[i] = inter[i] + np.asarray(both, np.float64)
            unit_pixels[i] = unit_pixels[i] + np.asarray(units, np.float64)
        checkpoint.step("tally", part.stop, {
            **kept, "concept_pixels": concept_pixels,
            **{f"inter{i}": v for i, v in enumerate(inter)},
            **{f"units{i}": v for i, v in enumerate(unit_pixels)}})
    if not runs:  # resumed after the last batch
        inter = [state[f"inter{i}"] for i in range(len(activations))]
        unit_pixels = [state[f"units{i}"] for i in range(len(activations))]
    ious = []
    for both, units in zip(inter, unit_pixels):
        union = units[:, None] + concept_pixels[None, :] - both
        ious.append(np.divide(both, union, out=np.zeros_like(both), where=union > 0))
    checkpoint.step("done", len(index), {**kept, **{f"iou{i}": v for i, v in enumerate(ious)}},
                    force=True)
    return ious


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
            hold = held_layers(_probe(model, targets, rotations), images)
            held, limits = stream_activations(model, images, targets, quantile=quantile,
                                              rotations=rotations, batch_size=batch_size,
                                              checkpoint=run, hold=hold)
            again = [t for t, keep in zip(targets, hold) if not keep]
            recompute = None
            if again:
                forward = batching.forward_function(_probe(model, again, rotations))

                def recompute(part: slice) -> list[tf.Tensor]:
                    outputs = forward(images[part])
                    return outputs if isinstance(outputs, (list, tuple)) else [outputs]
            ious = tally(held, limits, concepts, np.arange(len(images)),
                         batch_size=batch_size, checkpoint=run, recompute=recompute)
    finally:
        run.close()
    results = tuple(LayerDissection(t.name, np.asarray(limit, np.float32), iou, iou_threshold)
                    for t, limit, iou in zip(targets, limits, ious))
    return Dissection(tuple(concepts.names), tuple(concepts.categories), results, quantile)
