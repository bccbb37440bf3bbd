"""A simplified explanatory graph: part patterns linked by stable displacements across layers.

Zhang, Cao, Shi, Wu & Zhu, "Interpreting CNN Knowledge via an Explanatory Graph", AAAI 2018
(arXiv:1708.01785), mine, without annotations, which filter of a lower layer fires at a fixed
offset from which pattern of the layer above: a node is a part pattern, an edge a spatial
relationship that holds over many images. The paper fits several nodes per filter with an EM
procedure; this miner keeps one node per filter and scores every (upper, lower) filter pair:
with :math:`\\hat p^l_{I,f}` the peak position of filter f of layer l on image I,

.. math:: \\Delta_{I} = \\hat p^{l}_{I,f} - \\hat p^{l+1}_{I,u}, \\qquad
          \\bar\\Delta = \\mathrm{median}_I\\, \\Delta_I, \\qquad
          s(u, f) = \\frac1N \\sum_I \\big[\\lVert \\Delta_I - \\bar\\Delta \\rVert \\le r\\big],

and keeps the edges whose support s reaches ``min_support``: filter f is then a part of u's
pattern at offset :math:`\\bar\\Delta`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message

__all__ = ["Edge", "explanatory_graph", "peak_positions"]


@dataclass(frozen=True)
class Edge:
    """A mined relationship: ``lower`` filter of layer ``layer`` sits at ``offset`` (pixels,
    row and column) from filter ``upper`` of layer ``layer + 1`` on a ``support`` share of images."""

    layer: int
    upper: int
    lower: int
    offset: tuple[float, float]
    support: float


def peak_positions(maps: Any, image_size: tuple[int, int]) -> np.ndarray:
    """Each filter's peak on each image in pixels (row, column), (N, F, 2) float64."""
    maps = check_array("maps", maps, ndim=4)
    n, h, w, _ = maps.shape
    peak = np.argmax(maps.reshape(n, h * w, -1), axis=1)
    return np.stack([(peak // w + 0.5) * image_size[0] / h,
                     (peak % w + 0.5) * image_size[1] / w], axis=-1)


def explanatory_graph(layers: list[Any], image_size: tuple[int, int], *, radius: float = 4.0,
                      min_support: float = 0.6) -> list[Edge]:
    """Mine the edges between consecutive layers' filters (see the module docstring).

    Parameters
    ----------
    layers : list of arrays (N, h_l, w_l, F_l)
        Feature maps of the same N images, lowest layer first.
    image_size : (H, W)
        The images' size (peak positions are in pixels).
    radius : float
        Pixels a displacement may deviate from the median and still count.
    min_support : float
        Share of images an edge must hold on.

    Returns
    -------
    list of Edge
        Sorted by layer, then by support (highest first).
    """
    if len(layers) < 2:
        raise ValueError(message("expected", name="layers", expected="feature maps of at least "
                                 "two layers", got=f"{len(layers)}", fix=""))
    peaks = [peak_positions(maps, image_size) for maps in layers]
    if len({len(p) for p in peaks}) != 1:
        raise ValueError(message("expected", name="layers", expected="maps of the same images",
                                 got=f"image counts {[len(p) for p in peaks]}", fix=""))
    edges = []
    for level, (lower, upper) in enumerate(zip(peaks[:-1], peaks[1:])):  # a handful of layers
        shift = lower[:, None, :, :] - upper[:, :, None, :]  # (N, Fu, Fl, 2)
        centre = np.median(shift, axis=0)
        support = np.mean(np.linalg.norm(shift - centre, axis=-1) <= radius, axis=0)  # (Fu, Fl)
        for u, f in zip(*np.nonzero(support >= min_support)):
            edges.append(Edge(level, int(u), int(f), (float(centre[u, f, 0]),
                                                      float(centre[u, f, 1])),
                              float(support[u, f])))
    return sorted(edges, key=lambda e: (e.layer, -e.support))
