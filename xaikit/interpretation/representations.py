"""How similar are two representations? CKA and SVCCA, between layers and between models.

A representation is the matrix :math:`X \\in \\mathbb{R}^{n \\times p}` of a layer's activations on
the same n images (4-D activations flattened, or averaged over positions).

- **CKA** (Kornblith, Norouzi, Lee & Hinton, "Similarity of Neural Network Representations
  Revisited", ICML 2019, arXiv:1905.00414), Eq. (3)-(4): with centred kernel matrices
  :math:`\\tilde K = H K H`, :math:`\\tilde L = H L H` (:math:`H = I - \\frac{1}{n}\\mathbf{1}\\mathbf{1}^T`),

  .. math:: \\mathrm{CKA}(K, L) = \\frac{\\mathrm{HSIC}(K, L)}{\\sqrt{\\mathrm{HSIC}(K, K)\\,
            \\mathrm{HSIC}(L, L)}}, \\qquad \\mathrm{HSIC}(K, L) \\propto
            \\mathrm{tr}(\\tilde K \\tilde L);

  linear CKA takes :math:`K = X X^T` (then :math:`\\mathrm{CKA} = \\lVert Y^T X \\rVert_F^2 /
  (\\lVert X^T X \\rVert_F \\lVert Y^T Y \\rVert_F)` for centred X, Y), RBF CKA
  :math:`K_{ij} = \\exp(-\\lVert x_i - x_j \\rVert^2 / (2 \\sigma^2 m^2))` with m the median
  distance between examples. CKA is invariant to orthogonal transforms and isotropic scaling,
  not to general invertible linear maps (their Sec. 2-3).
- **SVCCA** (Raghu, Gilmer, Yosinski & Sohl-Dickstein, "SVCCA: Singular Vector Canonical
  Correlation Analysis for Deep Learning Dynamics and Interpretability", NeurIPS 2017,
  arXiv:1706.05806): keep the top singular directions of each centred representation that
  explain a fraction ``keep`` of its variance, then average the canonical correlations
  :math:`\\rho_i` of the two reduced representations, :math:`\\bar\\rho = \\frac{1}{c}\\sum_i \\rho_i`.
  With ``keep=1`` it is plain mean CCA, invariant to every invertible linear map.

Introduced in lesson 14.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.core.checks import check_array, check_number, check_option, message
from xaikit.core.taps import layer_activations

__all__ = ["KERNELS", "MEASURES", "Similarity", "cka", "layer_similarity", "svcca"]

KERNELS = ("linear", "rbf")
MEASURES = ("cka", "svcca")


def _matrix(name: str, value: Any) -> np.ndarray:
    array = check_array(name, value)
    if array.ndim < 2 or len(array) < 2:
        raise ValueError(message("expected", name=name, expected="an array (n, ...) with n >= 2 "
                                 "examples", got=f"shape {array.shape}", fix=""))
    return array.reshape(len(array), -1).astype(np.float64)


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = _matrix("x", x), _matrix("y", y)
    if len(x) != len(y):
        raise ValueError(message("activation_rows", name="x", got=len(x), other="y",
                                 expected=len(y)))
    return x, y


def _centred_gram(x: np.ndarray, kernel: str, sigma: float) -> np.ndarray:
    """:math:`H K H` for one representation (n, p)."""
    x = x - x.mean(axis=0)
    gram = x @ x.T
    if kernel == "rbf":
        norms = np.diag(gram)
        squared = np.maximum(norms[:, None] + norms[None, :] - 2 * gram, 0.0)
        median = np.median(np.sqrt(squared[np.triu_indices(len(x), 1)]))
        gram = np.exp(-squared / (2 * (sigma * median) ** 2)) if median > 0 else np.ones_like(gram)
        gram = gram - gram.mean(axis=0) - gram.mean(axis=1)[:, None] + gram.mean()
    return gram


def _centred(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=0)


def _linear_cka_of_features(x: np.ndarray, y: np.ndarray, norm_x: float, norm_y: float) -> float:
    """Linear CKA of centred features without the n x n Gram matrices (cheaper when p <= n):
    :math:`\\lVert Y^T X \\rVert_F^2 / (\\lVert X^T X \\rVert_F \\lVert Y^T Y \\rVert_F)`."""
    denominator = norm_x * norm_y
    return float(np.linalg.norm(y.T @ x) ** 2 / denominator) if denominator > 0 else 0.0


def _cka_of_grams(a: np.ndarray, b: np.ndarray) -> float:
    denominator = np.sqrt(np.vdot(a, a) * np.vdot(b, b))
    return float(np.vdot(a, b) / denominator) if denominator > 0 else 0.0


def cka(x: Any, y: Any, *, kernel: str = "linear", sigma: float = 0.8) -> float:
    """Centred kernel alignment of two representations of the same n examples.

    Parameters
    ----------
    x, y : arrays (n, ...)
        Activations of the same n examples (flattened to (n, p)); widths may differ.
    kernel : {"linear", "rbf"}
    sigma : float
        RBF bandwidth as a fraction of the median distance (Kornblith et al. use 0.2-0.8).

    Returns
    -------
    float
        In [0, 1]; 1 for representations equal up to rotation and scale.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(50, 4))
    >>> round(cka(x, 3 * x @ np.linalg.qr(np.ones((4, 4)) + np.eye(4))[0]), 12)
    1.0
    """
    check_option("kernel", kernel, KERNELS)
    sigma = check_number("sigma", sigma, low=1e-6)
    x, y = _pair(x, y)
    if kernel == "linear" and max(x.shape[1], y.shape[1]) <= len(x):
        x, y = _centred(x), _centred(y)
        return _linear_cka_of_features(x, y, np.linalg.norm(x.T @ x), np.linalg.norm(y.T @ y))
    return _cka_of_grams(_centred_gram(x, kernel, sigma), _centred_gram(y, kernel, sigma))


def _reduce(x: np.ndarray, keep: float) -> np.ndarray:
    """Orthonormal basis of the top singular directions of centred x explaining ``keep``."""
    u, s, _ = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    energy = np.cumsum(s**2) / max(float(np.sum(s**2)), 1e-300)
    rank = int(np.sum(s > s[0] * 1e-10)) if len(s) and s[0] > 0 else 0
    count = min(int(np.searchsorted(energy, keep - 1e-12) + 1), rank)
    return u[:, :max(count, 1)]


def svcca(x: Any, y: Any, *, keep: float = 0.99) -> float:
    """SVCCA similarity: mean canonical correlation after SVD reduction (Raghu et al. 2017).

    Parameters
    ----------
    x, y : arrays (n, ...)
    keep : float
        Fraction of each representation's variance kept by the SVD step (the paper: 0.99);
        1.0 is plain mean CCA.

    Returns
    -------
    float
        Mean canonical correlation in [0, 1].

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(50, 4))
    >>> round(svcca(x, x @ np.diag([1.0, 2.0, 3.0, 4.0]), keep=1.0), 10)
    1.0
    """
    keep = check_number("keep", keep, low=1e-6, high=1.0)
    x, y = _pair(x, y)
    qx, qy = _reduce(x, keep), _reduce(y, keep)
    correlations = np.linalg.svd(qx.T @ qy, compute_uv=False)
    return float(np.mean(np.clip(correlations, 0.0, 1.0)))


@dataclass(frozen=True)
class Similarity:
    """``matrix`` (len(rows), len(columns)): the similarity of every pair of layers."""

    measure: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    matrix: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per pair of layers."""
        return [{"measure": self.measure, "layer": a, "other_layer": b,
                 "similarity": float(self.matrix[i, j])}
                for i, a in enumerate(self.rows) for j, b in enumerate(self.columns)]


def layer_similarity(model: Any, images: Any, layers: Sequence[Any], *, other: Any = None,
                     other_layers: Sequence[Any] | None = None, measure: str = "cka",
                     kernel: str = "linear", sigma: float = 0.8, keep: float = 0.99,
                     pool: str | None = "mean", batch_size: int = 64) -> Similarity:
    """CKA or SVCCA between every pair of layers, of one model or of two models.

    The activations of all layers come from one batched forward pass per model; for CKA each
    layer's centred kernel matrix (or, for linear CKA with no layer wider than the number of
    images, its centred features and :math:`\\lVert X^T X \\rVert_F`) is computed once and every
    pair reuses it.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
        The n examples every representation is measured on.
    layers : sequence of str, int or Layer
        The rows.
    other : keras.Model, optional
        A second model (another seed, another epoch); default: ``model`` itself.
    other_layers : sequence, optional
        The columns (default: ``layers``).
    measure : {"cka", "svcca"}
    kernel, sigma
        As :func:`cka`.
    keep
        As :func:`svcca`.
    pool : {"mean", None}
        ``"mean"`` (default) averages 4-D activations over positions (each channel one
        feature); None flattens them (positions kept: p = h·w·k, far slower for large maps).
    batch_size : int

    Returns
    -------
    Similarity

    Examples
    --------
    >>> import keras
    >>> net = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(3, 3, name="c"),
    ...                         keras.layers.Flatten(), keras.layers.Dense(2, name="d")])
    >>> images = np.random.default_rng(0).uniform(size=(20, 4, 4, 1))
    >>> sim = layer_similarity(net, images, ["c", "d"])
    >>> sim.matrix.shape, np.allclose(np.diag(sim.matrix), 1.0)
    ((2, 2), True)
    """
    check_option("measure", measure, MEASURES)
    check_option("kernel", kernel, KERNELS)
    other = model if other is None else other
    other_layers = list(layers) if other_layers is None else list(other_layers)
    acts_a = layer_activations(model, images, list(layers), pool=pool, batch_size=batch_size)
    acts_b = (acts_a if other is model and other_layers == list(layers) else
              layer_activations(other, images, other_layers, pool=pool, batch_size=batch_size))
    if measure == "svcca":
        matrix = np.array([[svcca(a, b, keep=keep) for b in acts_b.values()]
                           for a in acts_a.values()])
    elif kernel == "linear" and max(v[0].size for v in (*acts_a.values(),
                                                       *acts_b.values())) <= len(images):
        features_a = [_centred(_matrix(k, v)) for k, v in acts_a.items()]
        features_b = (features_a if acts_b is acts_a else
                      [_centred(_matrix(k, v)) for k, v in acts_b.items()])
        norms_a = [np.linalg.norm(a.T @ a) for a in features_a]
        norms_b = norms_a if acts_b is acts_a else [np.linalg.norm(b.T @ b) for b in features_b]
        matrix = np.array([[_linear_cka_of_features(a, b, na, nb)
                            for b, nb in zip(features_b, norms_b)]
                           for a, na in zip(features_a, norms_a)])
    else:
        sigma = check_number("sigma", sigma, low=1e-6)
        grams_a = [_centred_gram(_matrix(k, v), kernel, sigma) for k, v in acts_a.items()]
        grams_b = (grams_a if acts_b is acts_a else
                   [_centred_gram(_matrix(k, v), kernel, sigma) for k, v in acts_b.items()])
        matrix = np.array([[_cka_of_grams(a, b) for b in grams_b] for a in grams_a])
    return Similarity(measure, tuple(acts_a), tuple(acts_b), matrix)
