"""Reading a prototype network: where its prototypes come from, and "this looks like that".

Chen, Li, Tao, Barnett, Su & Rudin, "This Looks Like That: Deep Learning for Interpretable Image
Recognition", NeurIPS 2019 (arXiv:1806.10574), Sec. 2.3: the similarity map of a prototype
on an image, upsampled to the image's size, shows *where* the image looks like the prototype;
the prototype's own region is the part of its source image above the map's 95th percentile.
On an8flower the discriminative part is known, so a region can be scored against it: the
fraction of the region on the part (its precision) against that part's share of the image
(what a region placed at random would get), and the region's IoU with the part.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.base.checks import check_masks
from xaikit.base.resize import resize_bilinear
from xaikit.models.prototypes import PrototypeHead, log_similarity

__all__ = ["REGION_QUANTILE", "part_iou", "part_precision", "prototype_regions",
           "similarity_maps"]

REGION_QUANTILE = 0.95  # the paper's visualisation: the map's top 5 % of pixels


def similarity_maps(head: PrototypeHead, latents: Any, size: tuple[int, int]) -> np.ndarray:
    """Every prototype's similarity map on every image, upsampled (bilinear), (N, P, H, W)."""
    maps = np.moveaxis(log_similarity(latents, head.prototypes), -1, 1)  # (N, P, h, w)
    n, p = maps.shape[:2]
    return resize_bilinear(maps.reshape(n * p, *maps.shape[2:]), size).reshape(n, p, *size)


def prototype_regions(head: PrototypeHead, train_latents: Any, size: tuple[int, int], *,
                      quantile: float = REGION_QUANTILE) -> np.ndarray:
    """Each prototype's region on its own source image, (P, H, W) bool (Chen et al., Sec. 2.3).

    Parameters
    ----------
    head : PrototypeHead
        A pushed prototype layer (``head.source`` indexes ``train_latents``).
    train_latents : array (N, h, w, D)
        The latents the prototypes were pushed onto.
    size : (H, W)
        The images' size.
    quantile : float
        Pixels at or above this quantile of the upsampled map form the region.
    """
    latents = np.asarray(train_latents)[head.source[:, 0]]  # (P, h, w, D): each source image
    own = np.moveaxis(log_similarity(latents, head.prototypes), -1, 1)
    own = own[np.arange(len(own)), np.arange(len(own))]  # (P, h, w): prototype j on its image
    maps = resize_bilinear(own, size)
    threshold = np.quantile(maps.reshape(len(maps), -1), quantile, axis=1)
    return maps >= threshold[:, None, None]


def part_precision(regions: Any, masks: Any) -> np.ndarray:
    """Fraction of each region on its part mask, (P,) float64; chance is the part's area share.

    Examples
    --------
    >>> part_precision(np.eye(2, dtype=bool)[None], np.ones((1, 2, 2), bool)).tolist()
    [1.0]
    """
    regions, masks = check_masks(regions, name="regions"), check_masks(masks)
    return (regions & masks).sum(axis=(1, 2)) / regions.sum(axis=(1, 2))


def part_iou(regions: Any, masks: Any) -> np.ndarray:
    """Intersection over union of each region with its part mask, (P,) float64.

    Examples
    --------
    >>> part_iou(np.eye(2, dtype=bool)[None], np.ones((1, 2, 2), bool)).tolist()
    [0.5]
    """
    regions, masks = check_masks(regions, name="regions"), check_masks(masks)
    return (regions & masks).sum(axis=(1, 2)) / (regions | masks).sum(axis=(1, 2))
