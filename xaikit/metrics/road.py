"""ROAD: remove and debias, with noisy linear imputation (Rong et al., ICML 2022).

Introduced in lesson 10. Replacing removed pixels by a constant leaks the class through the
*shape* of the removed set (a digit-shaped hole still looks like the digit); ROAD fills each
removed pixel from its neighbours instead, by solving one sparse linear system, and adds a little
noise, so the imputed region carries no sharp mask boundary.

All (image, fraction) systems are stacked into one block-diagonal sparse system and solved at
once, for every channel (scipy's sparse LU).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from scipy import sparse
from scipy.sparse import linalg

from xaikit.base.checks import check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.metrics._removal import (
    Curves,
    check_fractions,
    pixel_ranks,
    prepare,
    score_images,
    trapezoid,
)
from xaikit.metrics.registry import register

__all__ = ["ROAD_FRACTIONS", "noisy_linear_imputation", "road"]

ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
ROAD_NOISE = 0.01  # standard deviation of the noise added to imputed pixels (the paper's code)
NATURAL_ORDER_BELOW = 64  # image width below which the sparse LU keeps the row-by-row order
# (dy, dx, weight): the neighbours of Rong et al.'s imputer, direct ones twice the diagonal ones
NEIGHBOURS = ((-1, -1, 1 / 12), (-1, 0, 1 / 6), (-1, 1, 1 / 12), (0, -1, 1 / 6), (0, 1, 1 / 6),
              (1, -1, 1 / 12), (1, 0, 1 / 6), (1, 1, 1 / 12))


def noisy_linear_imputation(images: np.ndarray, removed: np.ndarray, *, noise: float = ROAD_NOISE,
                            seed: Any = 0) -> np.ndarray:
    """Fill the ``removed`` pixels of each image from their neighbours (Rong et al. 2022, Sec. 4).

    Every removed pixel :math:`i` is the weighted mean of its 8 neighbours :math:`j` (weights
    1/6 for direct, 1/12 for diagonal neighbours, renormalised at the border),

    .. math:: \\sum_{j} w_{ij}\\,(x_i - x_j) = 0,

    where known neighbours are constants; the resulting sparse system is solved for all removed
    pixels of all images at once, then Gaussian noise of standard deviation ``noise`` is added
    to the imputed values.

    Parameters
    ----------
    images : array (M, H, W, C)
    removed : bool array (M, H, W)
    noise : float
    seed : int
        The noise (one field drawn for the (H, W, C) positions, shared by all images).

    Returns
    -------
    np.ndarray
        float32 (M, H, W, C); known pixels unchanged.

    Examples
    --------
    >>> ramp = np.tile(np.linspace(0, 1, 5, dtype=np.float32), (1, 5, 1))[..., None]
    >>> hole = np.zeros((1, 5, 5), bool); hole[0, 2, 2] = True
    >>> float(noisy_linear_imputation(ramp, hole, noise=0.0)[0, 2, 2, 0])
    0.5
    """
    noise = check_number("noise", noise, low=0.0)
    _, height, width, channels = images.shape
    wide = width + 2  # the images in a frame of one pixel: every neighbour has a flat position
    framed = np.pad(removed, ((0, 0), (1, 1), (1, 1)))
    inside = np.broadcast_to(np.pad(np.ones((height, width), bool), 1), framed.shape).ravel()
    position = np.flatnonzero(framed)  # the unknowns, numbered row by row
    n = len(position)
    index = np.full(framed.size, -1)
    index[position] = np.arange(n)
    known = np.pad(images.astype(np.float64) * ~removed[..., None],
                   ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(-1, channels)
    # row i of the system: the eight neighbours' weights (to the left of and right of the
    # diagonal, so each row's columns are sorted), unknown neighbours as entries, known ones
    # moved to the right-hand side; built directly in compressed form
    columns = np.empty((n, len(NEIGHBOURS) + 1), np.int64)
    values = np.empty((n, len(NEIGHBOURS) + 1))
    right = np.zeros((n, channels))
    diagonal = np.zeros(n)
    for slot, (dy, dx, weight) in enumerate(NEIGHBOURS):  # eight fixed offsets, each vectorised
        slot += slot >= len(NEIGHBOURS) // 2  # the diagonal's slot is the middle one
        target = position + dy * wide + dx
        diagonal += weight * inside[target]
        columns[:, slot] = index[target]
        values[:, slot] = -weight
        right += weight * known[target]
    middle = len(NEIGHBOURS) // 2
    columns[:, middle], values[:, middle] = np.arange(n), diagonal
    entry = columns >= 0
    # the system is symmetric: these compressed rows are also its compressed columns
    system = sparse.csc_matrix((values[entry], columns[entry],
                                np.r_[0, np.cumsum(entry.sum(axis=1))]), shape=(n, n))
    # Unknowns are numbered row by row, so each image's block is banded (bandwidth W + 1):
    # factorised in that order on narrow images (about 2x faster than COLAMD's fill-reducing
    # order at 32 pixels, as fast at 64, slower above, where COLAMD's order wins), without
    # pivoting (symmetric and diagonally dominant: the diagonal pivots are safe).
    natural = {"permc_spec": "NATURAL", "diag_pivot_thresh": 0.0,
               "options": {"SymmetricMode": True}}
    order = natural if width < NATURAL_ORDER_BELOW else {"permc_spec": "COLAMD"}
    solved = linalg.splu(system, **order).solve(right) if n else right
    image, row, col = np.unravel_index(position, framed.shape)
    row, col = row - 1, col - 1
    field = rng(seed).standard_normal((height, width, channels))
    out = images.astype(np.float64)
    out[image, row, col] = solved + noise * field[row, col]
    return out.astype(np.float32)


@register(family="faithfulness", needs=frozenset({"model", "maps"}), higher_is_better=False,
          returns="table", stochastic=True, fast_options={"fractions": (0.3, 0.7)})
def road(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
         order: str = "morf", fractions: Sequence[float] = ROAD_FRACTIONS,
         noise: float = ROAD_NOISE, on: str = "probabilities", batch_size: int = 64,
         seed: Any = 0) -> Curves:
    """ROAD (Rong, Leemann, Borisov, Kasneci & Kasneci, ICML 2022, arXiv:2202.00449, Sec. 4).

    For each fraction :math:`t`, the top (MoRF) or bottom (LeRF) :math:`t` of the pixels are
    removed and imputed by :func:`noisy_linear_imputation`; the class probability of the imputed
    image is recorded (the paper reports the accuracy over a test set, the mean of these
    per-image outcomes). With MoRF a lower curve is better, with LeRF a higher one.

    Parameters
    ----------
    order : {"morf", "lerf"}
    fractions : sequence of float in (0, 1)
        Default 10 %, 20 %, ..., 90 % (the paper's).
    noise : float
        Noise added to imputed pixels (default 0.01).
    model, images, maps_or_method, targets, on, batch_size, seed
        As :func:`xaikit.metrics.faithfulness.deletion`.

    Returns
    -------
    Curves
        The first point is the unperturbed image (fraction 0).
    """
    check_option("order", order, ("morf", "lerf"))
    levels = check_fractions("fractions", fractions)
    if levels[-1] >= 1.0:
        raise ValueError(message("expected", name="fractions", expected="values below 1",
                                 got=float(levels[-1]), fix=" (removing every pixel leaves "
                                 "nothing to impute from)"))
    prepared = prepare(model, images, maps_or_method, targets, on=on, batch_size=batch_size,
                       seed=seed)
    x, maps = prepared.images, prepared.maps
    n, pixels = len(x), maps[0].size
    ranks = pixel_ranks(maps, descending=order == "morf", seed=seed)
    counts = np.round(np.r_[0.0, levels] * pixels).astype(int)
    removed = ranks[:, None] < counts[None, :, None, None]  # (N, F + 1, H, W)
    imputed = noisy_linear_imputation(np.repeat(x, len(counts), axis=0),
                                      removed.reshape(-1, *maps.shape[1:]), noise=noise,
                                      seed=seed)
    steps = len(counts)

    def build(part: slice) -> tuple[np.ndarray, np.ndarray]:
        return imputed[part], prepared.weights[np.arange(part.start, part.stop) // steps]

    scores = score_images(prepared.score, n * steps, build, batch_size).reshape(n, steps)
    fractions_done = np.broadcast_to(counts / pixels, scores.shape).astype(np.float64)
    return Curves(f"road_{order}", fractions_done, scores, trapezoid(scores, fractions_done))
