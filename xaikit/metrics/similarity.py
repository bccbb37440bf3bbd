"""How alike are two explanations? The similarity measures every metric family shares.

Introduced in lesson 08 (sanity checks), where Adebayo et al. (NeurIPS 2018) compare the maps of a
trained model with those of its randomised copies by Spearman rank correlation (with and without
absolute values), the structural similarity index (SSIM) and the correlation of histograms of
oriented gradients (HOG); the top-k intersection is the overlap of the most important pixels
(Theiner et al. 2022, as in Quantus).

Every function takes two batches of maps, ``maps_a`` and ``maps_b`` of the same shape (N, H, W),
compares them pair by pair (map ``i`` of one with map ``i`` of the other) and returns float64
scores (N,), all pairs at once (no loop over the batch). ``1`` means identical for each measure.
They are registered in :data:`xaikit.metrics.METRICS` (family ``"similarity"``, needs
``{"maps", "reference"}``), so the metric contract covers them too.

API
---
- ``spearman(maps_a, maps_b)``, ``spearman_abs(maps_a, maps_b)``: rank correlation in [-1, 1].
- ``ssim(maps_a, maps_b, *, win_size=7)``: SSIM of the maps scaled to [0, 1] (scikit-image's
  definition and defaults).
- ``hog_similarity(maps_a, maps_b, *, orientations=9, pixels_per_cell=(8, 8),
  cells_per_block=(3, 3))``: Spearman correlation of the HOG features of the scaled maps
  (scikit-image's ``hog`` with L2-Hys blocks).
- ``top_k_intersection(maps_a, maps_b, *, k=0.1)``: share of the top-k pixels both maps pick.
- ``unit_scale(maps)``: each map min-max scaled to [0, 1] (a constant map becomes zeros).

References
----------
J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, "Sanity Checks for Saliency
Maps", NeurIPS 2018, arXiv:1810.03292.
Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from error
visibility to structural similarity", IEEE TIP 13(4), 2004.
N. Dalal, B. Triggs, "Histograms of Oriented Gradients for Human Detection", CVPR 2005.
J. Theiner, E. Müller-Budack, R. Ewerth, "Interpretable Semantic Photo Geolocation", WACV 2022,
arXiv:2104.14995 (top-k intersection).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage, stats

from xaikit.base.checks import check_int, check_maps, check_masks, check_number
from xaikit.base.messages import message
from xaikit.metrics.registry import register

__all__ = ["hog_similarity", "row_correlation", "spearman", "spearman_abs", "ssim",
           "top_k_intersection", "unit_scale"]

SSIM_K1, SSIM_K2 = 0.01, 0.03  # Wang et al. (2004): C1 = (K1 L)^2, C2 = (K2 L)^2, L = 1 here
HOG_EPSILON = 1e-5  # scikit-image's block-normalisation epsilon
HOG_CLIP = 0.2  # L2-Hys: clip the L2-normalised block at 0.2, then normalise again


def _pair(maps_a: object, maps_b: object) -> tuple[np.ndarray, np.ndarray]:
    """Both batches as float64 (N, H, W), with the same count and size."""
    maps_a = check_maps(maps_a, name="maps_a")
    maps_b = check_maps(maps_b, len(maps_a), maps_a.shape[1:], name="maps_b")
    return maps_a, maps_b


def row_correlation(x: np.ndarray, y: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation of matching rows of (N, D) arrays over the entries ``keep`` marks
    (all by default); 0 where a row is constant there.

    Examples
    --------
    >>> row_correlation(np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]),
    ...                 np.array([[2.0, 4.0, 7.0], [0.0, 1.0, 2.0]])).round(3).tolist()
    [0.993, 0.0]
    """
    weight = np.ones_like(x) if keep is None else keep.astype(np.float64)
    count = np.maximum(weight.sum(axis=1, keepdims=True), 1.0)
    x = (x - (weight * x).sum(axis=1, keepdims=True) / count) * weight
    y = (y - (weight * y).sum(axis=1, keepdims=True) / count) * weight
    scale = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    products = (x * y).sum(axis=1)
    safe = scale > 0
    return np.clip(np.divide(products, scale, out=np.zeros_like(products), where=safe), -1.0, 1.0)


def _rank_correlation(x: np.ndarray, y: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Spearman correlation of matching rows of (N, D) arrays (average ranks for ties), over the
    entries ``keep`` marks: the others are ranked above them all, so they leave the kept ranks
    unchanged, and then left out."""
    if keep is not None:
        x, y = np.where(keep, x, np.inf), np.where(keep, y, np.inf)
    return row_correlation(stats.rankdata(x, axis=1), stats.rankdata(y, axis=1), keep)


def _mask(mask: object, maps: np.ndarray) -> np.ndarray | None:
    if mask is None:
        return None
    return check_masks(mask, len(maps), maps.shape[1:]).reshape(len(maps), -1)


def unit_scale(maps: object) -> np.ndarray:
    """Each map min-max scaled to [0, 1]; a constant map becomes all zeros.

    Parameters
    ----------
    maps : array (N, H, W)

    Returns
    -------
    np.ndarray
        float64 (N, H, W) in [0, 1].

    Examples
    --------
    >>> unit_scale(np.array([[[2.0, 4.0], [6.0, 10.0]]])).tolist()
    [[[0.0, 0.25], [0.5, 1.0]]]
    """
    maps = check_maps(maps)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)


@register(family="similarity", needs={"maps", "reference"}, higher_is_better=None)
def spearman(maps_a: object, maps_b: object, *, mask: object = None) -> np.ndarray:
    """Spearman rank correlation of each pair of maps, over their pixels.

    .. math:: \\rho(a, b) = \\frac{\\operatorname{cov}(R(a), R(b))}{\\sigma_{R(a)} \\sigma_{R(b)}}

    with :math:`R` the pixel ranks (ties get their average rank), as in Adebayo et al. (NeurIPS
    2018, arXiv:1810.03292, "rank correlation without absolute values"). Signed: a map and
    its negation score -1.

    Parameters
    ----------
    maps_a, maps_b : array (N, H, W)
        Maps compared pair by pair.
    mask : bool array (N, H, W), optional
        Compare only these pixels (e.g. the foreground of digits on a black background, where
        many methods give exact zeros that tie in both maps); default: every pixel.

    Returns
    -------
    np.ndarray
        float64 (N,) in [-1, 1]. A constant map carries no ranking: its correlation with any map
        is defined as 0 (where ``scipy.stats.spearmanr`` returns NaN).

    Raises
    ------
    ValueError
        Not (N, H, W), different counts or sizes, NaN or infinite values.

    Examples
    --------
    >>> a = np.arange(16.0).reshape(1, 4, 4)
    >>> spearman(a, a ** 3).tolist(), spearman(a, -a).tolist()
    ([1.0], [-1.0])
    """
    maps_a, maps_b = _pair(maps_a, maps_b)
    return _rank_correlation(maps_a.reshape(len(maps_a), -1), maps_b.reshape(len(maps_b), -1),
                             _mask(mask, maps_a))


@register(family="similarity", needs={"maps", "reference"}, higher_is_better=None)
def spearman_abs(maps_a: object, maps_b: object, *, mask: object = None) -> np.ndarray:
    """Spearman rank correlation of the absolute values of each pair of maps.

    .. math:: \\rho_{|\\cdot|}(a, b) = \\rho(|a|, |b|)

    Adebayo et al. (NeurIPS 2018, arXiv:1810.03292): "rank correlation with absolute
    values", the measure of their similarity curves; it ignores the sign, which many visualisations
    drop too.

    Parameters
    ----------
    maps_a, maps_b : array (N, H, W)
    mask : bool array (N, H, W), optional
        Compare only these pixels, as :func:`spearman`.

    Returns
    -------
    np.ndarray
        float64 (N,) in [-1, 1]; 0 where a map's absolute value is constant.

    Examples
    --------
    >>> a = np.arange(-8.0, 8.0).reshape(1, 4, 4) + 0.5
    >>> spearman_abs(a, -a).tolist()
    [1.0]
    """
    maps_a, maps_b = _pair(maps_a, maps_b)
    return spearman(np.abs(maps_a), np.abs(maps_b), mask=mask)


@register(family="similarity", needs={"maps", "reference"}, higher_is_better=None)
def ssim(maps_a: object, maps_b: object, *, win_size: int = 7) -> np.ndarray:
    """Structural similarity of each pair of maps, after scaling each map to [0, 1].

    Wang et al. (IEEE TIP 2004), Eq. (13), computed in every ``win_size`` × ``win_size`` window
    and averaged over the windows that lie inside the map:

    .. math::

        \\mathrm{SSIM}(a, b) = \\frac{(2 \\mu_a \\mu_b + C_1)(2 \\sigma_{ab} + C_2)}
        {(\\mu_a^2 + \\mu_b^2 + C_1)(\\sigma_a^2 + \\sigma_b^2 + C_2)},
        \\quad C_1 = (0.01 L)^2,\\; C_2 = (0.03 L)^2,\\; L = 1.

    Defaults are scikit-image's ``structural_similarity`` (uniform window of 7, sample
    covariance, reflected borders, ``data_range=1`` because the maps are scaled with
    :func:`unit_scale` first), one of the measures Adebayo et al. (NeurIPS 2018) report.

    Parameters
    ----------
    maps_a, maps_b : array (N, H, W)
    win_size : int
        Odd side of the window, at most the maps' smaller side (7 by default).

    Returns
    -------
    np.ndarray
        float64 (N,), at most 1 (identical maps).

    Raises
    ------
    ValueError
        Bad maps, or ``win_size`` even or larger than the maps.

    Examples
    --------
    >>> a = np.random.default_rng(0).random((2, 8, 8))
    >>> ssim(a, a).tolist()
    [1.0, 1.0]
    """
    maps_a, maps_b = _pair(maps_a, maps_b)
    win_size = check_int("win_size", win_size, minimum=1)
    if win_size % 2 == 0 or win_size > min(maps_a.shape[1:]):
        raise ValueError(message(
            "expected", name="win_size", expected=f"an odd int <= {min(maps_a.shape[1:])} "
            "(the maps' smaller side)", got=win_size, fix="; pass e.g. win_size=3 for small maps"))
    a, b = unit_scale(maps_a), unit_scale(maps_b)
    window = (1, win_size, win_size)  # never mixes maps of the batch
    mean_a, mean_b = ndimage.uniform_filter(a, window), ndimage.uniform_filter(b, window)
    count = win_size * win_size
    sample = count / (count - 1) if count > 1 else 1.0
    var_a = sample * (ndimage.uniform_filter(a * a, window) - mean_a * mean_a)
    var_b = sample * (ndimage.uniform_filter(b * b, window) - mean_b * mean_b)
    cov = sample * (ndimage.uniform_filter(a * b, window) - mean_a * mean_b)
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    index = ((2 * mean_a * mean_b + c1) * (2 * cov + c2)
             / ((mean_a ** 2 + mean_b ** 2 + c1) * (var_a + var_b + c2)))
    pad = (win_size - 1) // 2
    height, width = index.shape[1:]
    return index[:, pad:height - pad, pad:width - pad].mean(axis=(1, 2))


def _pair_of_ints(name: str, value: Sequence[int] | int) -> tuple[int, int]:
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2:
        raise ValueError(message("expected", name=name, expected="two ints (rows, columns)",
                                 got=value, fix=""))
    return check_int(name, values[0]), check_int(name, values[1])


def _hog(maps: np.ndarray, orientations: int, cell: tuple[int, int],
         block: tuple[int, int]) -> np.ndarray:
    """HOG features (N, F) of (N, H, W) maps, as ``skimage.feature.hog`` computes them per map.

    Gradients are central differences (zero on the border rows / columns), orientations unsigned
    in [0, 180) degrees, each pixel's magnitude votes into its orientation bin of its cell (cells
    tile the map from the top left; the remainder is dropped), histograms are divided by the cell
    area and each block of cells is L2-Hys normalised.
    """
    n, height, width = maps.shape
    g_row = np.zeros_like(maps)
    g_col = np.zeros_like(maps)
    g_row[:, 1:-1, :] = maps[:, 2:, :] - maps[:, :-2, :]
    g_col[:, :, 1:-1] = maps[:, :, 2:] - maps[:, :, :-2]
    magnitude = np.hypot(g_col, g_row)
    angle = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    edges = 180.0 / orientations * np.arange(orientations + 1)
    bins = np.searchsorted(edges, angle, side="right") - 1  # edges[i] <= angle < edges[i + 1]
    rows, cols = height // cell[0], width // cell[1]
    bins = bins[:, :rows * cell[0], :cols * cell[1]]
    magnitude = magnitude[:, :rows * cell[0], :cols * cell[1]]
    cell_row = np.arange(rows * cell[0]) // cell[0]
    cell_col = np.arange(cols * cell[1]) // cell[1]
    index = ((np.arange(n)[:, None, None] * rows + cell_row[None, :, None]) * cols
             + cell_col[None, None, :]) * orientations + bins
    valid = bins < orientations  # an angle of exactly 180 after the modulo votes nowhere
    histogram = np.bincount(index[valid], weights=magnitude[valid],
                            minlength=n * rows * cols * orientations)
    histogram = histogram.reshape(n, rows, cols, orientations) / (cell[0] * cell[1])
    blocks = np.lib.stride_tricks.sliding_window_view(histogram, block, axis=(1, 2))
    blocks = blocks.transpose(0, 1, 2, 4, 5, 3).reshape(n, -1, block[0] * block[1] * orientations)
    blocks = blocks / np.sqrt((blocks ** 2).sum(axis=2, keepdims=True) + HOG_EPSILON ** 2)
    blocks = np.minimum(blocks, HOG_CLIP)
    blocks = blocks / np.sqrt((blocks ** 2).sum(axis=2, keepdims=True) + HOG_EPSILON ** 2)
    return blocks.reshape(n, -1)


@register(family="similarity", needs={"maps", "reference"}, higher_is_better=None,
          fast_options={"pixels_per_cell": 4})
def hog_similarity(maps_a: object, maps_b: object, *, orientations: int = 9,
                   pixels_per_cell: Sequence[int] | int = (8, 8),
                   cells_per_block: Sequence[int] | int = (3, 3)) -> np.ndarray:
    """Spearman correlation of the HOG features of each pair of maps (scaled to [0, 1]).

    .. math:: s(a, b) = \\rho\\big(\\mathrm{HOG}(\\tilde a), \\mathrm{HOG}(\\tilde b)\\big)

    with :math:`\\tilde a` the map scaled by :func:`unit_scale` and HOG the histograms of oriented
    gradients of Dalal & Triggs (CVPR 2005) with scikit-image's defaults (9 unsigned orientations,
    8 × 8-pixel cells, 3 × 3-cell blocks, L2-Hys normalisation). Adebayo et al. (NeurIPS 2018,
    arXiv:1810.03292) compare maps by the correlation of their HOGs, which looks at the
    edges and their directions rather than at the values; the rank correlation used here matches
    :func:`spearman`. The features agree with ``skimage.feature.hog`` map by map.

    Parameters
    ----------
    maps_a, maps_b : array (N, H, W)
        At least ``pixels_per_cell * cells_per_block`` pixels on each side.
    orientations : int
        Orientation bins over [0, 180) degrees.
    pixels_per_cell, cells_per_block : (int, int) or int
        Cell size in pixels and block size in cells (rows, columns).

    Returns
    -------
    np.ndarray
        float64 (N,) in [-1, 1]; 0 where a map has constant HOG features.

    Raises
    ------
    ValueError
        Bad maps, or maps too small for one block (the message gives the minimum size).

    Examples
    --------
    >>> a = np.random.default_rng(0).random((2, 24, 24))
    >>> hog_similarity(a, 3 * a + 1).round(12).tolist()
    [1.0, 1.0]
    """
    maps_a, maps_b = _pair(maps_a, maps_b)
    orientations = check_int("orientations", orientations)
    cell = _pair_of_ints("pixels_per_cell", pixels_per_cell)
    block = _pair_of_ints("cells_per_block", cells_per_block)
    smallest = (cell[0] * block[0], cell[1] * block[1])
    if maps_a.shape[1] < smallest[0] or maps_a.shape[2] < smallest[1]:
        raise ValueError(message(
            "expected", name="maps_a", expected=f"maps of at least {smallest} pixels for one "
            f"HOG block of {block} cells of {cell} pixels", got=f"size {maps_a.shape[1:]}",
            fix="; pass smaller pixels_per_cell or cells_per_block"))
    features_a = _hog(unit_scale(maps_a), orientations, cell, block)
    features_b = _hog(unit_scale(maps_b), orientations, cell, block)
    return _rank_correlation(features_a, features_b)


# registered under another name: "top_k_intersection" is the ground-truth metric of that name
@register("top_k_similarity", family="similarity", needs={"maps", "reference"},
          higher_is_better=None)
def top_k_intersection(maps_a: object, maps_b: object, *, k: float = 0.1) -> np.ndarray:
    """Share of the ``k`` highest-valued pixels of one map that are also among the other's.

    .. math:: \\mathrm{TKI}(a, b) = \\frac{|\\operatorname{top}_k(a) \\cap \\operatorname{top}_k(b)|}{k}

    The top-k intersection of Theiner et al. (WACV 2022, arXiv:2104.14995; Quantus'
    ``TopKIntersection``, there against a ground-truth mask), here between two maps. Pixels are
    ranked by their raw values (larger = more important; pass ``np.abs(maps)`` to rank by
    magnitude); ties are broken by pixel order (row-major), so a constant map's top k are its
    first ``k`` pixels.

    Parameters
    ----------
    maps_a, maps_b : array (N, H, W)
    k : int or float
        An int >= 1: the number of pixels; a float in (0, 1]: that fraction of the pixels,
        rounded to the nearest count (at least 1). Default 0.1 (the top 10 %).

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, 1].

    Raises
    ------
    ValueError
        Bad maps, or ``k`` not a count in [1, H·W] nor a fraction in (0, 1].

    Examples
    --------
    >>> a = np.arange(16.0).reshape(1, 4, 4)
    >>> b = a.copy(); b[0, 3, 3] = -1.0  # the top pixel of a is the bottom of b
    >>> top_k_intersection(a, b, k=4).tolist()
    [0.75]
    """
    maps_a, maps_b = _pair(maps_a, maps_b)
    n, pixels = len(maps_a), maps_a.shape[1] * maps_a.shape[2]
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        count = check_int("k", k, maximum=pixels)
    else:
        fraction = check_number("k", k, low=0.0, high=1.0)
        if fraction == 0.0:
            raise ValueError(message("number", name="k", value=k, range=" in (0, 1]"))
        count = max(1, int(round(fraction * pixels)))
    chosen = np.zeros((2, n, pixels), bool)
    for index, maps in enumerate((maps_a, maps_b)):
        order = np.argsort(-maps.reshape(n, pixels), axis=1, kind="stable")[:, :count]
        np.put_along_axis(chosen[index], order, True, axis=1)
    return (chosen[0] & chosen[1]).sum(axis=1) / count
