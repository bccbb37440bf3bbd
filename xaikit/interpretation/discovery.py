"""Concept discovery: concepts found in a class's images rather than given by a person.

- **ACE** (Ghorbani, Wexler, Zou & Kim, "Towards Automatic Concept-based Explanations",
  NeurIPS 2019, arXiv:1902.03129): segment the class images into superpixels at several
  resolutions, cluster the segments' activations (k-means), keep the clusters found in many
  images, and score each cluster as a concept with TCAV (:mod:`xaikit.interpretation.concepts`).
- **CRAFT** (Fel, Picard, Béthune, Boissin, Vigouroux, Colin, Cadène & Serre, "CRAFT: Concept
  Recursive Activation FacTorization for Explainability", CVPR 2023, arXiv:2211.10154): factorise
  the non-negative activations of image crops, :math:`A \\approx U W` (non-negative matrix
  factorisation, Eq. 1), so each row of W is a concept; a concept's importance is its total
  Sobol index for the class logit (Eq. 4), and :math:`U` computed at every position of an image
  is the concept's map.

:func:`concept_part_iou` scores discovered concepts against ground-truth parts (on an8flower: the
petals, centre, stem, leaves and background). Introduced in lesson 14.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from scipy.stats import qmc
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF
from threadpoolctl import threadpool_limits

from xaikit.attribution.surrogate import superpixels
from xaikit.base.resize import resize_bilinear
from xaikit.core import find_layer, layer_gradients, predict
from xaikit.core.checks import check_images, check_int, check_masks, check_number, message, rng
from xaikit.core.taps import layer_activations, tail_model
from xaikit.interpretation.concepts import tcav_from_activations

__all__ = ["DiscoveredConcepts", "PartIou", "ace", "concept_part_iou", "craft"]

GREY = 117.5 / 255
"""Fill of an ACE patch outside its segment (the paper's mean ImageNet value)."""
MIN_SEGMENT_AREA = 0.005
"""Segments smaller than this fraction of the image are dropped."""
MIN_IMAGE_SHARE = 0.5
"""ACE keeps a cluster whose segments come from at least this share of the images."""
CHUNK = 128


@dataclass(frozen=True)
class DiscoveredConcepts:
    """Concepts discovered in the images of one class.

    ``importance`` (n,): TCAV score (ACE) or total Sobol index (CRAFT); ``p_values`` (n,): the
    TCAV t-test (ACE; NaN for CRAFT); ``maps`` (n, N, H, W) float: where each concept is in each
    image (ACE: its segments, 0/1; CRAFT: its coefficient, upsampled); ``masks`` (n, N, H, W)
    bool: the concept's region (ACE: its segments; CRAFT: positions where it is the strongest
    concept); ``examples`` (n, E, H, W, C): example patches; ``directions`` (n, d): cluster
    centres (ACE) or the NMF concept bank W (CRAFT).
    """

    method: str
    layer: str
    target: int
    importance: np.ndarray
    p_values: np.ndarray
    maps: np.ndarray
    masks: np.ndarray
    examples: np.ndarray
    directions: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per concept: its index, importance, p-value and image coverage."""
        return [{"method": self.method, "layer": self.layer, "target": self.target,
                 "concept": i, "importance": float(imp),
                 "p_value": None if np.isnan(p) else float(p),
                 "images": int(self.masks[i].any(axis=(1, 2)).sum())}
                for i, (imp, p) in enumerate(zip(self.importance, self.p_values))]


@dataclass(frozen=True)
class PartIou:
    """IoU (n_concepts, n_parts) of each concept's region with each part, over all images."""

    iou: np.ndarray
    parts: tuple[str, ...]

    @property
    def best_part(self) -> list[str]:
        """The part each concept overlaps most."""
        return [self.parts[j] for j in self.iou.argmax(axis=1)]

    @property
    def purity(self) -> np.ndarray:
        """(n_concepts,) the IoU with the best part."""
        return self.iou.max(axis=1)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per (concept, part)."""
        return [{"concept": i, "part": part, "iou": float(self.iou[i, j])}
                for i in range(len(self.iou)) for j, part in enumerate(self.parts)]


def concept_part_iou(masks: Any, parts: Mapping[str, Any]) -> PartIou:
    """Dataset-level IoU of each concept's region with each part (Bau et al. 2017's IoU).

    .. math:: \\mathrm{IoU}(c, p) = \\frac{\\sum_x |M_c(x) \\cap P_p(x)|}
                                         {\\sum_x |M_c(x) \\cup P_p(x)|}

    summed over the images x where concept c appears.

    Parameters
    ----------
    masks : bool array (n_concepts, N, H, W)
    parts : mapping name -> bool array (N, H, W)

    Returns
    -------
    PartIou

    Examples
    --------
    >>> m = np.zeros((1, 1, 2, 2), bool); m[0, 0, 0] = True
    >>> concept_part_iou(m, {"top": m[0], "bottom": ~m[0]}).iou.tolist()
    [[1.0, 0.0]]
    """
    masks = np.asarray(masks, bool)
    names = tuple(parts)
    stacked = np.stack([check_masks(parts[p], masks.shape[1], masks.shape[2:], name=f"parts[{p!r}]",
                                    allow_empty=True) for p in names])
    present = masks.any(axis=(2, 3))[:, None, :, None, None]  # (n, 1, N, 1, 1)
    inter = (masks[:, None] & stacked[None] & present).sum(axis=(2, 3, 4))
    union = ((masks[:, None] | stacked[None]) & present).sum(axis=(2, 3, 4))
    return PartIou(inter / np.maximum(union, 1), names)


def _boxes(masks: np.ndarray) -> np.ndarray:
    """Normalised (y0, x0, y1, x1) boxes of (n, H, W) masks for ``tf.image.crop_and_resize``."""
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    height, width = masks.shape[1:]
    first = lambda a: a.argmax(axis=1)  # noqa: E731
    last = lambda a: a.shape[1] - 1 - a[:, ::-1].argmax(axis=1)  # noqa: E731
    return np.stack([first(rows) / (height - 1), first(cols) / (width - 1),
                     last(rows) / (height - 1), last(cols) / (width - 1)], axis=1)


def _patches(images: np.ndarray, owners: np.ndarray, masks: np.ndarray | None,
             boxes: np.ndarray) -> np.ndarray:
    """Crops of ``images[owners]`` (grey outside ``masks``) resized to the image size."""
    out = []
    for start in range(0, len(owners), CHUNK):
        part = slice(start, start + CHUNK)
        source = images[owners[part]]
        if masks is not None:
            source = np.where(masks[part][..., None], source, np.float32(GREY))
        out.append(tf.image.crop_and_resize(source, boxes[part], np.arange(len(source)),
                                            images.shape[1:3]).numpy())
    return np.clip(np.concatenate(out), 0.0, 1.0).astype(np.float32)


def ace(model: Any, images: Any, target: int, layer: Any, *, random_images: Any,
        scales: tuple[int, ...] = (15, 50, 80), n_clusters: int = 12, n_members: int = 40,
        n_random: int = 30, n_examples: int = 6, seed: Any = 0,
        batch_size: int = 32) -> DiscoveredConcepts:
    """Automatic concept-based explanations (Ghorbani et al. 2019, Sec. 3).

    Each image of the class is segmented with SLIC at each of ``scales`` (numbers of
    superpixels); each segment becomes a patch (its bounding box, grey outside the segment,
    resized to the input size); the patches' ``layer`` activations are clustered with k-means;
    a cluster whose segments come from at least half of the images is a concept, represented by
    its ``n_members`` patches closest to the centre; each concept is scored with TCAV against
    ``random_images`` (:func:`~xaikit.interpretation.concepts.tcav_from_activations`).

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
        Images of class ``target``.
    target : int
    layer : str, int or Layer
        Where patches are clustered and TCAV is computed.
    random_images : array (P, H, W, C)
    scales : tuple of int
        SLIC resolutions (the paper: 15, 50, 80).
    n_clusters, n_members : int
        k of k-means (the paper: 25) and patches kept per concept (the paper: 40).
    n_random : int
        Random sets of each concept's TCAV test.
    n_examples : int
        Example patches stored per concept.
    seed : int or Generator
    batch_size : int

    Returns
    -------
    DiscoveredConcepts
        Concepts ordered by decreasing TCAV score.
    """
    images = check_images(images, model)
    generator = rng(seed)
    name = find_layer(model, layer).name
    segments = [superpixels(images, "slic", n_segments=check_int("scale", s), compactness=20.0)
                for s in scales]
    labels = np.concatenate([seg[..., None] == np.arange(seg.max() + 1) for seg in segments],
                            axis=-1)  # (N, H, W, all segments of all scales)
    owners, which = np.nonzero(labels.mean(axis=(1, 2)) >= MIN_SEGMENT_AREA)
    masks = np.moveaxis(labels, -1, 1)[owners, which]
    patches = _patches(images, owners, masks, _boxes(masks))
    acts = layer_activations(model, np.concatenate([patches, random_images]), [name],
                             batch_size=batch_size)[name]
    flat = acts[:len(patches)].reshape(len(patches), -1)
    with threadpool_limits(limits=1, user_api="blas"):
        km = KMeans(n_clusters=check_int("n_clusters", n_clusters), n_init=3,
                    random_state=int(generator.integers(2**31))).fit(flat)
    distance = np.linalg.norm(flat - km.cluster_centers_[km.labels_], axis=1)
    kept, members = [], []
    for c in range(n_clusters):
        inside = np.flatnonzero(km.labels_ == c)
        if len(np.unique(owners[inside])) >= MIN_IMAGE_SHARE * len(images) and len(inside) >= 6:
            kept.append(c)
            members.append(inside[np.argsort(distance[inside])][:n_members])
    gradients = layer_gradients(model, images, int(target), layer=name,
                                batch_size=batch_size).gradients
    concept_acts = {str(c): acts[m] for c, m in zip(kept, members)}
    if not concept_acts:
        raise ValueError(message("concept_sizes", name="ace", what="expected at least one "
                                 "cluster with segments from half of the images", got="none",
                                 fix="; give more images, fewer n_clusters or other scales"))
    scores = tcav_from_activations(gradients, concept_acts, acts[len(patches):],
                                   n_random=n_random, seed=generator, layer=name,
                                   target=int(target))
    order = np.argsort(-scores.scores.mean(axis=1), kind="stable")
    maps = np.zeros((len(kept), *images.shape[:3]), bool)
    for i, k in enumerate(order):
        inside = np.flatnonzero(km.labels_ == kept[k])
        np.logical_or.at(maps[i], owners[inside], masks[inside])
    examples = np.stack([patches[members[k][:n_examples]] for k in order])
    return DiscoveredConcepts("ace", name, int(target), scores.scores.mean(axis=1)[order],
                              scores.p_values[order], maps.astype(np.float32), maps, examples,
                              km.cluster_centers_[np.asarray(kept)[order]])


def _crop_boxes(size: int, patch: float, stride: float) -> np.ndarray:
    side = max(2, round(check_number("patch", patch, low=0.05, high=1.0) * size))
    step = max(1, round(check_number("stride", stride, low=0.01, high=1.0) * size))
    starts = np.arange(0, size - side + 1, step)
    y, x = np.meshgrid(starts, starts, indexing="ij")
    y, x = y.ravel(), x.ravel()
    return np.stack([y, x, y + side - 1, x + side - 1], axis=1) / (size - 1)


def _sobol_total(function: Any, n_concepts: int, n_masks: int, seed: int) -> np.ndarray:
    """Total Sobol indices of ``function(masks (M, r)) -> (M,)`` (Jansen's estimator)."""
    design = qmc.Sobol(2 * n_concepts, scramble=True, seed=seed).random(n_masks)
    a, b = design[:, :n_concepts], design[:, n_concepts:]
    mixed = np.repeat(a[None], n_concepts, axis=0)
    mixed[np.arange(n_concepts), :, np.arange(n_concepts)] = b.T
    values = function(np.concatenate([a, b, mixed.reshape(-1, n_concepts)]))
    fa, fb, fc = values[:n_masks], values[n_masks:2 * n_masks], values[2 * n_masks:]
    variance = np.var(np.r_[fa, fb])
    diffs = (fa[None] - fc.reshape(n_concepts, n_masks)) ** 2
    return diffs.mean(axis=1) / (2 * variance) if variance > 0 else np.zeros(n_concepts)


def craft(model: Any, images: Any, target: int, layer: Any = None, *, n_concepts: int = 8,
          patch: float = 0.5, stride: float = 0.25, n_masks: int = 32, n_examples: int = 6,
          seed: int = 0, batch_size: int = 32) -> DiscoveredConcepts:
    """Concept recursive activation factorisation (Fel et al. 2023, Sec. 3).

    Crops of side ``patch`` (fraction of the image) on a grid of step ``stride`` are resized to
    the input size; their ``layer`` activations, averaged over positions, form the non-negative
    matrix A (crops × channels), factorised by scikit-learn's NMF,
    :math:`\\min_{U \\ge 0, W \\ge 0} \\lVert A - U W \\rVert_F^2` (Eq. 1). At every position of every
    image, U is solved for the fixed bank W (the concept maps). A concept's importance is its
    total Sobol index (Eq. 4) for the target logit when the coefficients are scaled by random
    masks, :math:`h((U \\odot m) W)` with h the network after ``layer``, averaged over the images.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
        Images of class ``target`` (square).
    target : int
    layer : str, int, Layer or None
        A layer with non-negative 4-D activations (after a ReLU) in the model's top-level graph;
        None: the last 4-D layer.
    n_concepts : int
        r, the rank of the factorisation.
    patch, stride : float
        Crop side and grid step as fractions of the image side.
    n_masks : int
        Quasi-Monte Carlo designs of the Sobol estimator (a power of 2).
    n_examples : int
        Crops stored per concept (the crops with the largest coefficient).
    seed : int
    batch_size : int

    Returns
    -------
    DiscoveredConcepts
        Concepts ordered by decreasing importance.
    """
    images = check_images(images, model)
    name = find_layer(model, layer).name
    boxes = _crop_boxes(images.shape[1], patch, stride)
    owners = np.repeat(np.arange(len(images)), len(boxes))
    crops = _patches(images, owners, None, np.tile(boxes, (len(images), 1)))
    crop_acts = layer_activations(model, crops, [name], pool="mean",
                                  batch_size=batch_size)[name]
    acts = layer_activations(model, images, [name], batch_size=batch_size)[name]
    if acts.ndim != 4 or acts.min() < 0:
        raise ValueError(message("concept_sizes", name="layer", what="expected non-negative "
                                 "(N, h, w, k) activations (a layer after a ReLU)",
                                 got=f"shape {acts.shape}, minimum {acts.min():.3g}", fix=""))
    with threadpool_limits(limits=1, user_api="blas"):
        nmf = NMF(n_components=check_int("n_concepts", n_concepts), init="nndsvda",
                  max_iter=500, random_state=seed).fit(crop_acts)
        n, h, w, k = acts.shape
        coefficients = nmf.transform(acts.reshape(-1, k)).reshape(n, h, w, n_concepts)
    bank, tail = nmf.components_, tail_model(model, name)

    def logits(masks: np.ndarray, i: int) -> np.ndarray:
        scaled = coefficients[i][None] * masks[:, None, None, :].astype(np.float32)
        rebuilt = np.einsum("mhwr,rk->mhwk", scaled, bank).astype(np.float32)
        return predict(tail, rebuilt, batch_size=batch_size)[:, target]

    importance = np.mean([_sobol_total(lambda m, i=i: logits(m, i), n_concepts,
                                       check_int("n_masks", n_masks), seed + i)
                          for i in range(n)], axis=0)
    order = np.argsort(-importance, kind="stable")
    maps = np.moveaxis(coefficients[..., order], -1, 0)  # (r, N, h, w)
    maps = resize_bilinear(maps.reshape(-1, h, w), images.shape[1:3]).reshape(
        n_concepts, n, *images.shape[1:3])
    masks = (maps == maps.max(axis=0, keepdims=True)) & (maps > 0)
    crop_coefficients = nmf.transform(crop_acts)[:, order]
    best = np.argsort(-crop_coefficients, axis=0)[:n_examples].T  # (r, E)
    return DiscoveredConcepts("craft", name, int(target), importance[order],
                              np.full(n_concepts, np.nan), maps.astype(np.float32), masks,
                              crops[best], bank[order])
