"""Complexity: how concentrated is a map? (model-free; lesson 11)

A map that spreads its relevance over every pixel is hard to read; these scores measure the
concentration of the absolute relevance :math:`|a_i|` of one map, image by image, all maps at
once. They agree with Quantus 0.6 (``Sparseness``, ``Complexity``, ``EffectiveComplexity`` with
their defaults) to float tolerance (``tests/test_complexity.py``; Quantus adds 1e-7 to every
value before the Gini index, which moves it by less than 1e-4 on real maps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.base.checks import check_maps, check_number
from xaikit.metrics.registry import register

__all__ = ["complexity", "effective_complexity", "sparseness"]

EFFECTIVE_EPSILON = 1e-5  # relative to the map's largest magnitude (Quantus' default)
_MAPS = frozenset({"maps"})


def _magnitudes(maps: Any) -> np.ndarray:
    """|maps| flattened to (N, H·W) after the shared map checks."""
    maps = check_maps(maps)
    return np.abs(maps.reshape(len(maps), -1))


@register(family="complexity", needs=_MAPS, higher_is_better=True)
def sparseness(maps: Any) -> np.ndarray:
    """Sparseness: the Gini index of :math:`|a|` (Chalasani et al., ICML 2020, arXiv:1810.06583,
    Sec. 5.2, after Hurley & Rickard, IEEE TIT 2009).

    With :math:`|a|` sorted increasingly, :math:`a_{(1)} \\le \\dots \\le a_{(n)}`,

    .. math:: G(a) = \\frac{\\sum_{i=1}^{n} (2i - n - 1)\\, a_{(i)}}{n \\sum_{i=1}^{n} a_{(i)}}.

    0 for a constant map (the all-zero map included), :math:`1 - 1/n` (the largest value over
    :math:`n` entries) for a map with a single non-zero pixel. Higher is sparser.

    Parameters
    ----------
    maps : array (N, H, W)

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, 1).

    Examples
    --------
    >>> one_hot = np.zeros((1, 2, 2)); one_hot[0, 0, 0] = 5.0
    >>> sparseness(one_hot)
    array([0.75])
    """
    values = np.sort(_magnitudes(maps), axis=1)
    n = values.shape[1]
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    totals = values.sum(axis=1)
    return np.divide(values @ weights, n * totals, out=np.zeros_like(totals), where=totals > 0)


@register(family="complexity", needs=_MAPS, higher_is_better=False)
def complexity(maps: Any) -> np.ndarray:
    """Complexity: the entropy of the fractional contributions (Bhatt, Weller & Moura, IJCAI 2020,
    arXiv:2005.00631, Eq. 4).

    .. math:: \\mathbb{P}_g(i) = \\frac{|a_i|}{\\sum_j |a_j|}, \\qquad
              \\mu_C = -\\sum_i \\mathbb{P}_g(i) \\ln \\mathbb{P}_g(i),

    with :math:`0 \\ln 0 = 0`: 0 for a one-pixel map, :math:`\\ln n` for a constant one (the
    all-zero map counts as constant). Lower is simpler.

    Parameters
    ----------
    maps : array (N, H, W)

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, ln(H·W)].

    Examples
    --------
    >>> half = np.zeros((1, 2, 4)); half[0, 0] = -1.0
    >>> bool(np.isclose(complexity(half)[0], np.log(4)))
    True
    """
    values = _magnitudes(maps)
    totals = values.sum(axis=1, keepdims=True)
    shares = np.where(totals > 0, values / np.where(totals > 0, totals, 1.0), 1.0 / values.shape[1])
    logs = np.log(shares, out=np.zeros_like(shares), where=shares > 0)
    return -(shares * logs).sum(axis=1)


@register(family="complexity", needs=_MAPS, higher_is_better=False)
def effective_complexity(maps: Any, *, eps: float = EFFECTIVE_EPSILON) -> np.ndarray:
    """Effective complexity (Nguyen & Rodríguez Martínez, 2020, arXiv:2007.07584, Sec. 4.3).

    The number of features whose attribution matters, :math:`|\\{i : |a_i| > \\varepsilon\\}|`,
    with :math:`|a|` divided by its maximum first so that :math:`\\varepsilon` does not depend on
    the method's units (Quantus' default normalisation).

    Parameters
    ----------
    maps : array (N, H, W)
    eps : float
        :math:`\\varepsilon`, relative to the largest magnitude (default 1e-5).

    Returns
    -------
    np.ndarray
        float64 (N,): counts (0 for an all-zero map).

    Examples
    --------
    >>> effective_complexity(np.array([[[1.0, 1e-9], [0.5, 0.0]]]))
    array([2.])
    """
    eps = check_number("eps", eps, low=0.0)
    values = _magnitudes(maps)
    peak = values.max(axis=1, keepdims=True)
    relative = np.divide(values, peak, out=np.zeros_like(values), where=peak > 0)
    return (relative > eps).sum(axis=1).astype(np.float64)
