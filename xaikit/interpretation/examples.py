"""Example-based explanations: the images that represent a class, those it misses, and neighbours.

- **MMD-critic** (Kim, Khanna & Koyejo, "Examples are not Enough, Learn to Criticize!
  Criticism for Interpretability", NeurIPS 2016): *prototypes* S are chosen greedily to
  minimise the maximum mean discrepancy between the data X and S (Eq. 2-3),

  .. math:: J_b(S) = \\frac{2}{n|S|}\\sum_{i \\in [n], j \\in S} k(x_i, x_j)
            - \\frac{1}{|S|^2}\\sum_{i, j \\in S} k(x_i, x_j)
            \\quad (\\text{maximised}),

  and *criticisms* C are the points where the witness function
  :math:`f(x) = \\frac{1}{n}\\sum_i k(x, x_i) - \\frac{1}{|S|}\\sum_{j \\in S} k(x, x_j)` is
  largest in magnitude (the data the prototypes do not explain), chosen greedily with the
  log-determinant diversity term :math:`\\log\\det K_{C,C}` (Eq. 5). Here the examples are
  represented by a layer's activations and k is the RBF kernel.
- :func:`nearest_training_examples`: the training images closest to each test image in a
  layer's activation space ("this looks like that" by retrieval).

Introduced in lesson 14.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.core.checks import check_array, check_int, check_number, check_option, message
from xaikit.core.taps import layer_activations

__all__ = ["Neighbours", "Prototypes", "nearest_training_examples", "prototypes_and_criticisms"]

METRICS = ("euclidean", "cosine")


@dataclass(frozen=True)
class Prototypes:
    """Prototypes and criticisms of each group (class) of examples.

    ``prototypes`` / ``criticisms``: group label -> indices into the examples, in the order
    chosen; ``witness``: (N,) the witness function of each example within its group;
    ``mmd2``: group label -> the squared MMD between the group and its prototypes.
    """

    prototypes: dict[int, np.ndarray]
    criticisms: dict[int, np.ndarray]
    witness: np.ndarray
    mmd2: dict[int, float]

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per chosen example: group, role, rank, index, witness value."""
        return [{"group": int(group), "role": role, "rank": rank, "index": int(index),
                 "witness": float(self.witness[index])}
                for role, chosen in (("prototype", self.prototypes), ("criticism", self.criticisms))
                for group, indices in chosen.items() for rank, index in enumerate(indices)]


def _rbf(x: np.ndarray, gamma: float | None) -> np.ndarray:
    squared = np.sum(x * x, axis=1)
    distance = np.maximum(squared[:, None] + squared[None, :] - 2 * x @ x.T, 0.0)
    if gamma is None:
        median = np.median(distance[np.triu_indices(len(x), 1)]) if len(x) > 1 else 1.0
        gamma = 1.0 / median if median > 0 else 1.0
    return np.exp(-gamma * distance)


def _prototypes(kernel: np.ndarray, m: int) -> np.ndarray:
    """Greedy maximisation of J_b(S) (Kim et al. 2016, Alg. 1), all candidates at once."""
    n = len(kernel)
    column_means = kernel.mean(axis=0)
    chosen: list[int] = []
    cross, inner = np.zeros(n), 0.0  # sum_{j in S} k(c, j) per candidate c; sum_{i,j in S} k
    for size in range(1, m + 1):
        gain = (2 * (column_means[chosen].sum() + column_means) / size
                - (inner + 2 * cross + np.diag(kernel)) / size**2)
        gain[chosen] = -np.inf
        best = int(np.argmax(gain))
        inner += 2 * cross[best] + kernel[best, best]
        cross += kernel[:, best]
        chosen.append(best)
    return np.asarray(chosen)


def _criticisms(kernel: np.ndarray, witness: np.ndarray, exclude: np.ndarray, c: int
                ) -> np.ndarray:
    """Greedy max of sum |witness| + log det K_CC (Kim et al. 2016, Alg. 2), vectorised."""
    chosen: list[int] = []
    for _ in range(c):
        if chosen:
            inverse = np.linalg.inv(kernel[np.ix_(chosen, chosen)])
            block = kernel[:, chosen]
            schur = np.diag(kernel) - np.einsum("nc,cd,nd->n", block, inverse, block)
        else:
            schur = np.diag(kernel).copy()
        gain = np.abs(witness) + np.log(np.maximum(schur, 1e-12))
        gain[np.r_[exclude, chosen].astype(int)] = -np.inf
        if not np.isfinite(gain).any():
            break
        chosen.append(int(np.argmax(gain)))
    return np.asarray(chosen, int)


def prototypes_and_criticisms(model: Any, images: Any, *, layer: Any, groups: Any = None,
                              n_prototypes: int = 4, n_criticisms: int = 2,
                              gamma: float | None = None, pool: str | None = "mean",
                              batch_size: int = 32) -> Prototypes:
    """MMD-critic prototypes and criticisms of each group, in ``layer``'s activation space.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    layer : str, int or Layer
        Where the examples are compared (``pool="mean"``: its channels averaged over positions).
    groups : array (N,) of int, optional
        A group per image (classes); prototypes and criticisms are chosen within each group.
        Default: one group.
    n_prototypes, n_criticisms : int
        Per group.
    gamma : float, optional
        RBF kernel :math:`k(x, y) = e^{-\\gamma \\lVert x - y \\rVert^2}`; default: one over the
        median squared distance within the group.
    pool : {"mean", None}
    batch_size : int

    Returns
    -------
    Prototypes

    Examples
    --------
    Two tight clusters and a far point: one prototype per cluster, the far point criticised.

    >>> import keras
    >>> net = keras.Sequential([keras.Input((1, 1, 2)), keras.layers.Flatten(name="x")])
    >>> points = np.array([[0, 0], [0, .1], [.1, 0], [5, 5], [5, 5.1], [5.1, 5], [2, 9]], "f4")
    >>> chosen = prototypes_and_criticisms(net, points.reshape(7, 1, 1, 2), layer="x",
    ...                                    n_prototypes=2, n_criticisms=1, gamma=1.0)
    >>> sorted((chosen.prototypes[0] // 3).tolist()), chosen.criticisms[0].tolist()
    ([0, 1], [6])
    """
    name = layer
    acts = layer_activations(model, images, [name], pool=pool, batch_size=batch_size)
    x = next(iter(acts.values())).reshape(len(images), -1).astype(np.float64)
    groups = np.zeros(len(x), int) if groups is None else check_array("groups", groups, ndim=1)
    if len(groups) != len(x):
        raise ValueError(message("activation_rows", name="groups", got=len(groups),
                                 other="images", expected=len(x)))
    m, c = check_int("n_prototypes", n_prototypes), check_int("n_criticisms", n_criticisms, minimum=0)
    if gamma is not None:
        gamma = check_number("gamma", gamma, low=1e-12)
    witness = np.zeros(len(x))
    prototypes, criticisms, mmd2 = {}, {}, {}
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        kernel = _rbf(x[members], gamma)
        chosen = _prototypes(kernel, min(m, len(members)))
        local = kernel.mean(axis=1) - kernel[:, chosen].mean(axis=1)
        witness[members] = local
        mmd2[int(group)] = float(kernel.mean() - 2 * kernel[:, chosen].mean()
                                 + kernel[np.ix_(chosen, chosen)].mean())
        prototypes[int(group)] = members[chosen]
        criticisms[int(group)] = members[_criticisms(kernel, local, chosen,
                                                     min(c, len(members) - len(chosen)))]
    return Prototypes(prototypes, criticisms, witness, mmd2)


@dataclass(frozen=True)
class Neighbours:
    """``indices`` (N, k) into the training images, nearest first, and their ``distances``."""

    indices: np.ndarray
    distances: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per (image, rank)."""
        return [{"image": i, "rank": r, "index": int(j), "distance": float(d)}
                for i, (row, dist) in enumerate(zip(self.indices, self.distances))
                for r, (j, d) in enumerate(zip(row, dist))]


def nearest_training_examples(model: Any, images: Any, train_images: Any, *, layer: Any,
                              k: int = 5, metric: str = "euclidean", pool: str | None = "mean",
                              batch_size: int = 32) -> Neighbours:
    """The ``k`` training images nearest to each image in ``layer``'s activation space.

    Parameters
    ----------
    model : keras.Model
    images, train_images : arrays (N, H, W, C), (M, H, W, C)
    layer : str, int or Layer
    k : int
    metric : {"euclidean", "cosine"}
    pool : {"mean", None}
    batch_size : int

    Returns
    -------
    Neighbours

    Examples
    --------
    >>> import keras
    >>> net = keras.Sequential([keras.Input((1, 1, 2)), keras.layers.Flatten(name="x")])
    >>> train = np.array([[0, 0], [1, 0], [5, 5]], "f4").reshape(3, 1, 1, 2)
    >>> nearest_training_examples(net, train[[2]] + 0.1, train, layer="x", k=2).indices.tolist()
    [[2, 1]]
    """
    check_option("metric", metric, METRICS)
    k = check_int("k", k)
    queries = layer_activations(model, images, [layer], pool=pool, batch_size=batch_size)
    keys = layer_activations(model, train_images, [layer], pool=pool, batch_size=batch_size)
    q = next(iter(queries.values())).reshape(len(images), -1).astype(np.float64)
    t = next(iter(keys.values())).reshape(len(train_images), -1).astype(np.float64)
    if metric == "cosine":
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
        distance = 1.0 - q @ t.T
    else:
        distance = np.sqrt(np.maximum(np.sum(q * q, axis=1)[:, None]
                                      + np.sum(t * t, axis=1)[None] - 2 * q @ t.T, 0.0))
    order = np.argsort(distance, axis=1, kind="stable")[:, :min(k, len(t))]
    return Neighbours(order, np.take_along_axis(distance, order, axis=1))
