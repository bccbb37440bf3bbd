"""How stable is the part a filter fires on? Location instability (Zhang, Wu & Zhu, CVPR 2018).

Zhang, Wu & Zhu, "Interpretable Convolutional Neural Networks", CVPR 2018 (arXiv:1710.00935),
Sec. 4.2: a filter that represents one part should fire at a fixed distance from the object's
landmarks. On each image where filter f fires, its inferred part position :math:`\\hat p_I` is
the centre of the receptive field of its strongest unit; its deviation from landmark k is

.. math:: d_{I,k} = \\frac{\\lVert \\hat p_I - p_{I,k}\\rVert}{\\sqrt{w^2 + h^2}},

and f's location instability is :math:`\\mathbb{E}_k\\, \\mathrm{std}_I\\, d_{I,k}` — low when the
filter keeps to one part.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message

__all__ = ["MIN_IMAGES", "location_instability", "part_landmarks", "position_deviation",
           "position_instability"]

MIN_IMAGES = 2  # a filter firing on fewer images has no spread (NaN)


def part_landmarks(parts: dict[str, np.ndarray], names: Any) -> np.ndarray:
    """Landmarks (N, L, 2) in pixels (row, column): the centroid of each named part's mask."""
    masks = np.stack([np.asarray(parts[name], bool) for name in names], axis=1)  # (N, L, H, W)
    rows, cols = np.indices(masks.shape[2:])
    area = np.maximum(masks.sum(axis=(2, 3)), 1)
    return np.stack([(masks * rows).sum(axis=(2, 3)) / area,
                     (masks * cols).sum(axis=(2, 3)) / area], axis=-1)


def location_instability(maps: Any, landmarks: Any, image_size: tuple[int, int]) -> np.ndarray:
    """Per-filter location instability (Zhang et al. 2018, Sec. 4.2), (F,) float64.

    Parameters
    ----------
    maps : array (N, h, w, F)
        A layer's feature maps on N images.
    landmarks : array (N, L, 2)
        Landmark positions in pixels (row, column) of each image.
    image_size : (H, W)
        The images' size; a map cell's position is the centre of its share of the image.

    Returns
    -------
    np.ndarray
        (F,): the mean over landmarks of the std over the images where the filter fires (peak
        > 0) of the normalised distance; NaN for a filter firing on fewer than ``MIN_IMAGES``.

    Examples
    --------
    >>> maps = np.zeros((3, 2, 2, 1)); maps[:, 0, 0, 0] = 1.0  # always the top-left cell
    >>> float(location_instability(maps, np.zeros((3, 1, 2)), (4, 4))[0])
    0.0
    """
    maps = check_array("maps", maps, ndim=4).astype(np.float64)
    landmarks = check_array("landmarks", landmarks, ndim=3).astype(np.float64)
    if landmarks.shape[0] != maps.shape[0] or landmarks.shape[2] != 2:
        raise ValueError(message("expected", name="landmarks", expected=f"({maps.shape[0]}, L, 2)"
                                 " positions (row, column), one set per image",
                                 got=f"shape {landmarks.shape}", fix=""))
    n, h, w, _ = maps.shape
    flat = maps.reshape(n, h * w, -1)
    peak = np.argmax(flat, axis=1)  # (N, F)
    position = np.stack([(peak // w + 0.5) * image_size[0] / h,
                         (peak % w + 0.5) * image_size[1] / w], axis=-1)  # (N, F, 2)
    return position_instability(position, flat.max(axis=1) > 0, landmarks, image_size)


def _distances(positions: Any, fires: Any, landmarks: Any,
               image_size: tuple[int, int]) -> np.ndarray:
    positions = check_array("positions", positions, ndim=3).astype(np.float64)
    landmarks = check_array("landmarks", landmarks, ndim=3).astype(np.float64)
    fires = np.asarray(fires, bool)
    if landmarks.shape[0] != positions.shape[0] or landmarks.shape[2] != 2:
        raise ValueError(message("expected", name="landmarks", expected=f"({positions.shape[0]}, "
                                 "L, 2) positions (row, column), one set per image",
                                 got=f"shape {landmarks.shape}", fix=""))
    if fires.shape != positions.shape[:2]:
        raise ValueError(message("expected", name="fires", expected=f"shape "
                                 f"{positions.shape[:2]} (image, unit)", got=f"{fires.shape}",
                                 fix=""))
    distance = np.linalg.norm(positions[:, :, None] - landmarks[:, None], axis=-1)
    return np.where(fires[:, :, None], distance / np.hypot(*image_size), np.nan)  # (N, F, L)


def position_instability(positions: Any, fires: Any, landmarks: Any,
                         image_size: tuple[int, int]) -> np.ndarray:
    """Location instability (Sec. 4.2) of units whose inferred positions are given, (F,).

    Parameters
    ----------
    positions : array (N, F, 2)
        Each unit's inferred part position on each image, pixels (row, column).
    fires : array (N, F) bool
        Where the unit fires (its position counts).
    landmarks, image_size
        As in ``location_instability``.

    Examples
    --------
    >>> positions = np.array([[[0.0, 0.0]], [[3.0, 4.0]]])
    >>> float(position_instability(positions, np.ones((2, 1), bool), np.zeros((2, 1, 2)),
    ...                            (6, 8))[0])  # distances 0 and 0.5 of the diagonal
    0.25
    """
    masked = _distances(positions, fires, landmarks, image_size)
    with warnings.catch_warnings():  # a unit that never fires: an all-NaN column
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanstd(masked, axis=0)  # (F, L)
    spread[np.asarray(fires, bool).sum(axis=0) < MIN_IMAGES] = np.nan
    return spread.mean(axis=1)


def position_deviation(positions: Any, fires: Any, landmarks: Any,
                       image_size: tuple[int, int]) -> np.ndarray:
    """Each image's share of the instability: :math:`\\mathbb E_k |d_{I,k} - \\bar d_k|`, (N, F).

    The absolute deviation of the normalised landmark distances from their mean over the
    images where the unit fires (NaN elsewhere, and for a unit firing on fewer than
    ``MIN_IMAGES``): a per-image sample of the spread, for a confidence interval over images.

    Examples
    --------
    >>> positions = np.array([[[0.0, 0.0]], [[3.0, 4.0]]])
    >>> position_deviation(positions, np.ones((2, 1), bool), np.zeros((2, 1, 2)), (6, 8)).ravel()
    array([0.25, 0.25])
    """
    masked = _distances(positions, fires, landmarks, image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        deviation = np.abs(masked - np.nanmean(masked, axis=0)).mean(axis=2)  # (N, F)
    deviation[:, np.asarray(fires, bool).sum(axis=0) < MIN_IMAGES] = np.nan
    return deviation
