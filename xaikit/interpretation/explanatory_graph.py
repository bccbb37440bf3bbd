"""The explanatory graph: part patterns disentangled from filters, linked across layers.

Zhang, Cao, Shi, Wu & Zhu, "Interpreting CNN Knowledge via an Explanatory Graph", AAAI 2018
(arXiv:1708.01785). A filter of a trained CNN fires on a mixture of parts; the explanatory graph
splits each filter's activation peaks into several part patterns (nodes) and mines them top-down,
layer by layer, without annotations. A node V of layer l belongs to one filter and has parents
Par(V) among the nodes of layer l + 1; on image I it is expected at its parents' inferred
positions displaced by learned offsets, and a peak x of its filter (position :math:`p_x`,
activation weight :math:`w_x`) is explained by the mixture

.. math:: P(p_x) = \\pi_0 \\frac{1}{HW} + \\sum_{V \\in f} \\pi_V
          \\prod_{U \\in \\mathrm{Par}(V)}
          \\mathcal N\\big(p_x \\mid \\hat p^I_{U} + \\Delta_{U\\to V},\\ \\sigma_{U\\to V}^2\\big)
          \\Big/ Z,

a uniform background :math:`\\pi_0` and the product (normalised) over the parents active on I:
each parent votes for V's position with the weight of its precision, scaled by the parent's
responsibility for its own peak. The top layer's nodes hang
from one root at the image origin (their offsets are absolute positions). An EM-like procedure
maximises the activation-weighted log-likelihood of the peaks: the E step assigns every peak to
a node or the background; the M step sets each offset :math:`\\Delta_{U\\to V}` to the weighted
mean displacement of V's peaks from U, :math:`\\sigma_{U\\to V}` to its spread, and chooses as
parents the nodes above whose displacement gains the most likelihood over the background
(co-activation and a stable spatial relationship). The nodes are initialised greedily: per
filter, the (parent, displacement) mode holding the most peak weight, then the next one among
the peaks left. A node's position on an image is its filter's peak assigned to it.

Simplifications (stated in lesson 15): a filter's activation is summarised by its ``peaks``
strongest local maxima (the paper spreads every unit's activation as "entities"), and the E
step is soft over a node's peaks on one image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message

__all__ = ["ACTIVE", "Edge", "GraphLayer", "edges", "explanatory_graph", "local_peaks"]

ACTIVE = 0.5  # a node is active on an image when it takes a peak with this responsibility


@dataclass(frozen=True)
class GraphLayer:
    """The nodes mined from one conv layer (V nodes, F filters, N images, K peaks a map).

    Attributes
    ----------
    filters : (V,) int
        The filter each node belongs to (``nodes`` consecutive nodes per filter).
    parents : (V, M) int
        Parent nodes in the layer above (index into its nodes; the top layer's parent is the
        root at the image origin, index 0 of a one-node virtual layer).
    offsets : (V, M, 2) float
        Displacement (row, column, pixels) of the node from each parent.
    spread : (V, M) float
        Standard deviation (pixels, per axis) of the node's position around each parent's
        prediction; the parents vote weighted by the inverse variance.
    positions : (N, V, 2) float
        The node's inferred position on each image: the peak of its filter it explains best.
    certainty : (N, V) float
        The node's responsibility for that peak (0 where the filter has no peak); the node is
        active on the image when it exceeds ``ACTIVE``, and it votes for its children's
        positions with this weight.
    assignment : (N, F, K) int
        Node of each peak of each filter map (-1: background or no peak).
    """

    filters: np.ndarray
    parents: np.ndarray
    offsets: np.ndarray
    spread: np.ndarray
    positions: np.ndarray
    certainty: np.ndarray
    assignment: np.ndarray

    @property
    def active(self) -> np.ndarray:
        """(N, V) bool: the node takes a peak with responsibility above ``ACTIVE``."""
        return self.certainty > ACTIVE


@dataclass(frozen=True)
class Edge:
    """Node ``lower`` of graph layer ``layer`` sits at ``offset`` (pixels) from node ``upper`` of
    layer ``layer + 1``; both are active on a ``support`` share of the images."""

    layer: int
    upper: int
    lower: int
    offset: tuple[float, float]
    support: float


def _centres(index: np.ndarray, grid: tuple[int, int], image_size: tuple[int, int]) -> np.ndarray:
    h, w = grid
    return np.stack([(index // w + 0.5) * image_size[0] / h,
                     (index % w + 0.5) * image_size[1] / w], axis=-1)


def local_peaks(maps: Any, image_size: tuple[int, int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` strongest local maxima (3 × 3) of every filter map.

    Returns positions (N, F, k, 2) in pixels and weights (N, F, k): the activation divided by
    the filter's largest activation over all images, 0 where the map has fewer positive peaks.

    Examples
    --------
    >>> maps = np.zeros((1, 4, 4, 1)); maps[0, 0, 0, 0], maps[0, 3, 3, 0] = 2.0, 1.0
    >>> positions, weights = local_peaks(maps, (8, 8), 3)
    >>> positions[0, 0, :2].tolist(), weights[0, 0].tolist()
    ([[1.0, 1.0], [7.0, 7.0]], [1.0, 0.5, 0.0])
    """
    maps = np.asarray(check_array("maps", maps, ndim=4), np.float32)
    n, h, w, f = maps.shape
    padded = np.pad(maps, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    rows = np.maximum(np.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    neighbourhood = np.maximum(np.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])
    score = np.where((maps >= neighbourhood) & (maps > 0), maps, np.float32(0))
    score = score.reshape(n, h * w, f).transpose(0, 2, 1)  # (N, F, hw)
    top = np.argpartition(-score, min(k, h * w) - 1, axis=-1)[..., :k]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(score, top, -1), axis=-1,
                                             kind="stable"), -1)
    value = np.take_along_axis(score, top, axis=-1)
    scale = np.maximum(maps.max(axis=(0, 1, 2)), 1e-12)[None, :, None]
    return _centres(top, (h, w), image_size), (value / scale).astype(np.float64)


def _seed(x: np.ndarray, weight: np.ndarray, upper: np.ndarray, on: np.ndarray, nodes: int,
          size: float, extent: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Greedy initial nodes: per filter, the (parent, offset) mode of a displacement histogram
    that holds the most peak weight, its peaks removed before the next node is sought."""
    n, f, k, _ = x.shape
    u = upper.shape[1]
    bins = (int(np.ceil(2 * extent[0] / size)) + 1, int(np.ceil(2 * extent[1] / size)) + 1)
    shift = x[:, :, :, None] - upper[:, None, None]  # (N, F, K, U, 2)
    cell = np.floor((shift + np.asarray(extent)) / size).astype(np.int64)
    flat = ((np.arange(f)[:, None, None] * u + np.arange(u)) * bins[0] * bins[1]
            + cell[..., 0] * bins[1] + cell[..., 1])  # (N, F, K, U)
    remaining = weight.copy()
    parents, offsets = np.zeros((f, nodes), np.int64), np.zeros((f, nodes, 2))
    rows = np.arange(f)
    for j in range(nodes):  # a few nodes per filter
        counts = np.bincount(flat.ravel(), (remaining[..., None] * on[:, None, None]).ravel(),
                             minlength=f * u * bins[0] * bins[1]).reshape(f, u, *bins)
        counts = np.pad(counts, ((0, 0), (0, 0), (1, 1), (1, 1)))
        counts = counts[:, :, :-2] + counts[:, :, 1:-1] + counts[:, :, 2:]  # 3 x 3 box sum
        counts = counts[..., :-2] + counts[..., 1:-1] + counts[..., 2:]
        best = np.argmax(counts.reshape(f, -1), axis=1)
        parent, cell_r, cell_c = np.unravel_index(best, (u, *bins))
        centre = np.stack([cell_r, cell_c], -1) * size - np.asarray(extent) + size / 2
        mine = np.moveaxis(shift[:, rows, :, parent], 0, 1)  # (N, F, K, 2)
        near = (np.linalg.norm(mine - centre[None, :, None], axis=-1) <= 1.5 * size)
        near &= (remaining > 0) & (on[:, parent][:, :, None] > 0)
        share = remaining * near
        total = share.sum(axis=(0, 2))
        offsets[:, j] = np.where(total[:, None] > 0, np.einsum("nfk,nfkc->fc", share, mine)
                                 / np.maximum(total, 1e-12)[:, None], centre)
        parents[:, j] = parent
        remaining = np.where(near, 0.0, remaining)
    return parents, offsets


def _log_likelihood(xv, upper, on, parents, offsets, variance):  # type: ignore[no-untyped-def]
    """log-likelihood of every peak of each node's filter (``xv``, (N, V, K, 2)) under the
    product of its active parents' Gaussians (a precision-weighted vote), (N, V, K); -inf where
    none of the node's parents is active."""
    precision = on[:, parents] / variance  # (N, V, M)
    total = precision.sum(-1)  # (N, V)
    predicted = np.einsum("nvm,nvmc->nvc", precision, upper[:, parents] + offsets)
    predicted /= np.maximum(total, 1e-12)[..., None]
    square = ((xv - predicted[:, :, None]) ** 2).sum(-1)  # (N, V, K)
    ll = -0.5 * square * total[..., None] + np.log(np.maximum(total, 1e-12) / (2 * np.pi))[..., None]
    return np.where(total[..., None] > 0, ll, -np.inf)


def _pair_moments(node, xv, upper, on):  # type: ignore[no-untyped-def]
    """Weighted mean displacement (V, U, 2) and per-axis variance (V, U) of every node's peaks
    (weights ``node``, (N, V, K)) from every upper node, and the weight of each pair (V, U):
    sums over images written as matrix products."""
    mx = np.einsum("nvk,nvkc->nvc", node, xv)
    left = np.concatenate([node.sum(-1), mx[..., 0], mx[..., 1],
                           np.einsum("nvk,nvk->nv", node, (xv ** 2).sum(-1))], axis=1)
    right = np.concatenate([on, on * upper[..., 0], on * upper[..., 1],
                            on * (upper ** 2).sum(-1)], axis=1)
    v, u = node.shape[1], on.shape[1]
    moments = (left.T @ right).reshape(4, v, 4, u)  # one product: [s, m_r, m_c, q] x [1, r, c, r²+c²]
    weight = np.maximum(moments[0, :, 0], 1e-12)  # (V, U)
    offset = np.stack([moments[1, :, 0] - moments[0, :, 1], moments[2, :, 0] - moments[0, :, 2]],
                      -1) / weight[..., None]
    spread = (moments[3, :, 0] - 2 * (moments[1, :, 1] + moments[2, :, 2])
              + moments[0, :, 3]) / weight
    return offset, (spread - (offset ** 2).sum(-1)) / 2, weight


def _mine_layer(x, weight, upper, on, nodes, parents_per_node, iterations, cell,  # type: ignore[no-untyped-def]
                image_size):
    n, f, k, _ = x.shape
    area = float(image_size[0] * image_size[1])
    m = min(parents_per_node, upper.shape[1])
    filters = np.repeat(np.arange(f), nodes)
    xv = x[:, filters]  # (N, V, K, 2): each node sees its filter's peaks
    seed_parent, seed_offset = _seed(x, weight, upper, on, nodes, 4 * cell, image_size)
    parents = np.repeat(seed_parent.reshape(-1, 1), m, axis=1)
    offsets = np.repeat(seed_offset.reshape(-1, 1, 2), m, axis=1)
    variance = np.full((f * nodes, m), (2.0 * cell) ** 2)
    prior = np.full((f, nodes + 1), 1.0 / (nodes + 1))  # the last column: background
    total = np.maximum(weight.sum(axis=(0, 2)), 1e-12)  # (F,)
    floor = cell ** 2 / 12  # the variance of a position rounded to a map cell
    for iteration in range(iterations + 1):  # EM; the last pass is the final E step
        ll = _log_likelihood(xv, upper, on, parents, offsets, variance).reshape(n, f, nodes, k)
        ll = ll + np.log(np.maximum(prior[:, :nodes], 1e-12))[None, :, :, None]
        background = (np.log(np.maximum(prior[:, nodes], 1e-12)) - np.log(area))[None, :, None,
                                                                                   None]
        top = np.maximum(ll.max(axis=2, keepdims=True), background)
        part, rest = np.exp(ll - top), np.exp(background - top)
        norm = part.sum(axis=2, keepdims=True) + rest
        resp = part / norm  # (N, F, nodes, K); the background takes rest / norm
        if iteration == iterations:
            break
        share = resp * weight[:, :, None, :]
        prior[:, :nodes] = share.sum(axis=(0, 3)) / total[:, None]
        prior[:, nodes] = (rest / norm * weight[:, :, None, :]).sum(axis=(0, 2, 3)) / total
        offset_all, var, pair = _pair_moments(share.reshape(n, f * nodes, k), xv, upper, on)
        var = np.maximum(var, floor)
        gain = pair * (np.log(area) - np.log(2 * np.pi * var) - 1)
        parents = np.argsort(-gain, axis=1, kind="stable")[:, :m]
        offsets = np.take_along_axis(offset_all, parents[..., None], axis=1)
        variance = np.take_along_axis(var, parents, axis=1)
    resp = resp.transpose(0, 1, 3, 2)  # (N, F, K, nodes)
    best = (resp * weight[..., None]).argmax(axis=2)  # (N, F, nodes): the peak it explains best
    certainty = np.take_along_axis(resp * (weight[..., None] > 0), best[:, :, None],
                                   axis=2)[:, :, 0].reshape(n, -1)
    positions = np.take_along_axis(x, best[..., None], axis=2).reshape(n, f * nodes, 2)
    label = resp.argmax(-1)
    part_wins = np.take_along_axis(resp, label[..., None], -1)[..., 0] > 1 - resp.sum(-1)
    assignment = np.where(part_wins & (weight > 0), np.arange(f)[None, :, None] * nodes + label,
                          -1)
    return GraphLayer(filters, parents, offsets, np.sqrt(variance), positions, certainty,
                      assignment)


def explanatory_graph(layers: list[Any], image_size: tuple[int, int], *,
                      nodes: int | Sequence[int] = 3,
                      parents: int = 2, peaks: int = 3, iterations: int = 6) -> list[GraphLayer]:
    """Mine an explanatory graph from the feature maps of several conv layers (module docstring).

    Parameters
    ----------
    layers : list of arrays (N, h_l, w_l, F_l)
        Feature maps of the same N images, lowest layer first.
    image_size : (H, W)
        The images' size (positions are in pixels).
    nodes : int or sequence of int
        Part patterns (nodes) per filter, for every layer or per layer (lowest first).
    parents : int
        Parents per node (the top layer has the root only).
    peaks : int
        Local maxima per filter map taken as the filter's activation.
    iterations : int
        EM iterations per layer.

    Returns
    -------
    list of GraphLayer
        One per layer, lowest first; mined top-down.

    Examples
    --------
    >>> maps = np.zeros((6, 8, 8, 1)); maps[np.arange(6), np.arange(6), 2, 0] = 1.0
    >>> top, = explanatory_graph([maps], (8, 8), nodes=1)
    >>> top.offsets[0, 0].round(1).tolist()  # one node: the mean absolute position
    [3.0, 2.5]
    """
    if not layers:
        raise ValueError(message("expected", name="layers", expected="feature maps of at least "
                                 "one layer", got="0 layers", fix=""))
    arrays = [check_array(f"layers[{i}]", maps, ndim=4) for i, maps in enumerate(layers)]
    if len({len(maps) for maps in arrays}) != 1:
        raise ValueError(message("expected", name="layers", expected="maps of the same images",
                                 got=f"image counts {[len(m) for m in arrays]}", fix=""))
    per_layer = [int(nodes)] * len(arrays) if np.ndim(nodes) == 0 else [int(v) for v in nodes]
    if len(per_layer) != len(arrays) or min(per_layer) < 1:
        raise ValueError(message("expected", name="nodes", expected=f"a positive count, or one "
                                 f"per layer ({len(arrays)})", got=f"{nodes!r}", fix=""))
    n = len(arrays[0])
    upper, on = np.zeros((n, 1, 2)), np.ones((n, 1))  # the root at the image origin
    graph = []
    for maps, count in zip(arrays[::-1], per_layer[::-1]):  # top-down, one layer at a time
        x, weight = local_peaks(maps, image_size, peaks)
        cell = float(image_size[0]) / maps.shape[1]
        layer = _mine_layer(x, weight, upper, on, count, parents, iterations, cell, image_size)
        graph.append(layer)
        upper, on = layer.positions, layer.certainty
    return graph[::-1]


def edges(graph: list[GraphLayer]) -> list[Edge]:
    """The graph's edges (every node to each of its parents), sorted by layer, then support."""
    found = []
    for level, (lower, upper) in enumerate(zip(graph[:-1], graph[1:])):  # a handful of layers
        support = lower.active.astype(float).T @ upper.active.astype(float) / len(lower.active)
        for v, m in np.ndindex(*lower.parents.shape):
            u = int(lower.parents[v, m])
            found.append(Edge(level, u, v, tuple(float(o) for o in lower.offsets[v, m]),
                              float(support[v, u])))
    return sorted(found, key=lambda e: (e.layer, -e.support))
