"""Weakly supervised localisation scores: does a map's hot region land on the object?

Introduced in lesson 02 (Simonyan, Vedaldi & Zisserman 2013, Sec. 3.1, localise the object from
its saliency map alone) and used again in lesson 05 for Grad-CAM.

Boxes are ``(y0, x0, y1, x1)`` in pixel coordinates with the end exclusive, so the box of the
single pixel ``(i, j)`` is ``(i, j, i + 1, j + 1)`` and its area is 1.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from xaikit.base.checks import check_maps, check_number, check_option
from xaikit.base.messages import message

__all__ = ["COMPONENTS", "box_from_map", "box_iou", "localisation_scores"]

COMPONENTS = ("largest", "all")


def _check_boxes(boxes: np.ndarray, n: int) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape != (n, 4):
        raise ValueError(message("expected", name="boxes",
                                 expected=f"({n}, 4) as (y0, x0, y1, x1), one box per map",
                                 got=f"shape {boxes.shape}",
                                 fix="; for a data set with several boxes per image pick one, "
                                     "e.g. boxes[:, 0]"))
    return boxes


def _largest_component(keep: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of each (H, W) mask of the batch, all maps at once."""
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # connect within a map, never across the batch axis
    labels, count = ndimage.label(keep, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    owner = ndimage.minimum(
        np.arange(len(keep))[:, None, None] * np.ones_like(labels), labels, np.arange(1, count + 1)
    ).astype(int)
    order = np.lexsort((sizes, owner))  # by map, then by size: the last of each map is largest
    last = np.r_[owner[order][1:] != owner[order][:-1], True]
    largest = np.zeros(len(keep), int)
    largest[owner[order][last]] = order[last] + 1
    return labels == largest[:, None, None]


def box_from_map(
    maps: np.ndarray, *, quantile: float = 0.95, component: str = "largest"
) -> np.ndarray:
    """Box around the pixels above a per-map quantile (their largest connected part by default).

    A pixel is kept when its value is strictly above the map's ``quantile`` or equals the map's
    maximum (so the box is never empty, and a flat background does not count as hot). As in
    Simonyan et al. (2014, Sec. 3.1), the box is then fitted to the largest 8-connected
    component of the kept pixels (``component="largest"``), or to all of them (``"all"``).

    Parameters
    ----------
    maps : np.ndarray
        (N, H, W) attribution maps (raw values; take ``np.abs`` first for signed maps).
    quantile : float
        Keep the pixels above this quantile of each map, in (0, 1). ``0.95`` keeps the
        hottest 5 % of the pixels.
    component : {"largest", "all"}
        Box the largest connected component of the kept pixels, or all of them.

    Returns
    -------
    np.ndarray
        (N, 4) float boxes ``(y0, x0, y1, x1)``, end exclusive.

    Examples
    --------
    >>> m = np.zeros((1, 8, 8)); m[0, 2:4, 5:7] = 1.0
    >>> m[0, 7, 0] = 1.0  # an isolated hot pixel: left out of the largest component
    >>> box_from_map(m, quantile=0.9).tolist(), box_from_map(m, quantile=0.9, component="all").tolist()
    ([[2.0, 5.0, 4.0, 7.0]], [[2.0, 0.0, 8.0, 7.0]])
    """
    check_number("quantile", quantile, low=0.0, high=1.0, low_open=True, high_open=True)
    check_option("component", component, COMPONENTS)
    maps = check_maps(maps)
    threshold = np.quantile(maps.reshape(len(maps), -1), quantile, axis=1)
    keep = (maps > threshold[:, None, None]) | (maps == maps.max(axis=(1, 2), keepdims=True))
    if component == "largest":
        keep = _largest_component(keep)
    rows, cols = keep.any(axis=2), keep.any(axis=1)
    height, width = maps.shape[1:]
    y0 = rows.argmax(axis=1)
    y1 = height - rows[:, ::-1].argmax(axis=1)
    x0 = cols.argmax(axis=1)
    x1 = width - cols[:, ::-1].argmax(axis=1)
    return np.stack([y0, x0, y1, x1], axis=1).astype(np.float64)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of matching pairs of boxes.

    .. math:: \\mathrm{IoU}(A, B) = \\frac{|A \\cap B|}{|A \\cup B|}

    Parameters
    ----------
    boxes_a, boxes_b : np.ndarray
        (N, 4) boxes ``(y0, x0, y1, x1)``, end exclusive.

    Returns
    -------
    np.ndarray
        (N,) IoU in [0, 1].

    Examples
    --------
    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]])).round(4).tolist()
    [0.1429]
    """
    boxes_a = np.asarray(boxes_a, dtype=np.float64)
    boxes_b = _check_boxes(boxes_b, len(boxes_a))
    boxes_a = _check_boxes(boxes_a, len(boxes_b))
    top_left = np.maximum(boxes_a[:, :2], boxes_b[:, :2])
    bottom_right = np.minimum(boxes_a[:, 2:], boxes_b[:, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
    area_a = np.prod(boxes_a[:, 2:] - boxes_a[:, :2], axis=1)
    area_b = np.prod(boxes_b[:, 2:] - boxes_b[:, :2], axis=1)
    union = area_a + area_b - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


def localisation_scores(
    maps: np.ndarray,
    boxes: np.ndarray,
    *,
    quantile: float = 0.95,
    component: str = "largest",
    iou_threshold: float = 0.5,
) -> dict[str, np.ndarray]:
    """Score maps against ground-truth boxes: box IoU, box hit and pointing game.

    The predicted box is :func:`box_from_map` at ``quantile`` and ``component``; a *hit* is IoU ≥ ``iou_threshold``
    (the ILSVRC localisation criterion Simonyan et al. report against, with 0.5); the *pointing
    game* (Zhang et al. 2016) counts a hit when the map's maximum lies inside the box.

    Parameters
    ----------
    maps : np.ndarray
        (N, H, W) attribution maps, larger = more important.
    boxes : np.ndarray
        (N, 4) ground-truth boxes ``(y0, x0, y1, x1)``, end exclusive.
    quantile, component
        Make the predicted box, see :func:`box_from_map`.
    iou_threshold : float
        IoU at or above which a predicted box counts as a hit.

    Returns
    -------
    dict
        ``"box"`` (N, 4) predicted boxes, ``"iou"`` (N,), ``"hit"`` (N,) bool,
        ``"pointing"`` (N,) bool.
    """
    maps = check_maps(maps)
    boxes = _check_boxes(boxes, len(maps))
    predicted = box_from_map(maps, quantile=quantile, component=component)
    iou = box_iou(predicted, boxes)
    flat_argmax = maps.reshape(len(maps), -1).argmax(axis=1)
    peak_y, peak_x = np.unravel_index(flat_argmax, maps.shape[1:])
    pointing = (
        (peak_y >= boxes[:, 0])
        & (peak_y < boxes[:, 2])
        & (peak_x >= boxes[:, 1])
        & (peak_x < boxes[:, 3])
    )
    return {"box": predicted, "iou": iou, "hit": iou >= iou_threshold, "pointing": pointing}
