"""The similarity helpers agree with scipy and scikit-image pair by pair, on known pairs.

Oracles: ``scipy.stats.spearmanr`` (rank correlation), ``skimage.metrics.structural_similarity``
(SSIM) and ``skimage.feature.hog`` (HOG features), each called map by map; a set intersection for
the top-k overlap. The kit's functions compute the whole batch at once.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy import stats
from skimage.feature import hog
from skimage.metrics import structural_similarity

from xaikit.metrics import similarity
from xaikit.metrics.similarity import (
    hog_similarity,
    spearman,
    spearman_abs,
    ssim,
    top_k_intersection,
    unit_scale,
)

RNG = np.random.default_rng(0)


def _pairs(n: int = 6, size: tuple[int, int] = (24, 24)) -> tuple[np.ndarray, np.ndarray]:
    """Known pairs of every kind: related, unrelated, negated, tied, blocky, with a flat map."""
    a = RNG.normal(size=(n, *size))
    b = 0.6 * a + 0.4 * RNG.normal(size=(n, *size))  # related
    b[1] = RNG.normal(size=size)  # unrelated
    b[2] = -a[2]  # negated
    a[3] = np.round(a[3])  # many ties
    b[3] = np.round(2 * b[3]) / 2
    yy, xx = np.mgrid[:size[0], :size[1]]
    a[4] = (yy > size[0] // 3).astype(float) + (xx > size[1] // 2)  # blocks: angles on bin edges
    b[4] = np.hypot(yy - 10.0, xx - 12.0) < 6  # a disc
    b[5] = 0.0  # a flat map
    return a, b


def test_spearman_agrees_with_scipy_pair_by_pair():
    a, b = _pairs()
    expected = [stats.spearmanr(x.ravel(), y.ravel()).statistic for x, y in zip(a[:5], b[:5])]
    got = spearman(a, b)
    assert got.dtype == np.float64 and got.shape == (len(a),)
    np.testing.assert_allclose(got[:5], expected, atol=1e-12)
    assert got[5] == 0.0  # scipy: NaN for a constant map; here defined as 0
    assert got[2] == pytest.approx(-1.0)


def test_spearman_abs_agrees_with_scipy_on_absolute_values():
    a, b = _pairs()
    expected = [stats.spearmanr(np.abs(x).ravel(), np.abs(y).ravel()).statistic
                for x, y in zip(a[:5], b[:5])]
    np.testing.assert_allclose(spearman_abs(a, b)[:5], expected, atol=1e-12)
    assert spearman_abs(a, b)[2] == pytest.approx(1.0)  # a map and its negation: same magnitudes


@pytest.mark.parametrize(("size", "win_size"), [((24, 24), 7), ((9, 13), 7), ((10, 8), 3)])
def test_ssim_agrees_with_scikit_image(size, win_size):
    a, b = _pairs(size=size)
    ua, ub = unit_scale(a), unit_scale(b)
    expected = [structural_similarity(x, y, win_size=win_size, data_range=1.0)
                for x, y in zip(ua, ub)]
    np.testing.assert_allclose(ssim(a, b, win_size=win_size), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ssim(a, a, win_size=win_size), 1.0, atol=1e-12)


def test_ssim_scales_each_map_first():
    a, b = _pairs()
    np.testing.assert_allclose(ssim(5 * a - 3, b), ssim(a, b), atol=1e-12)


@pytest.mark.parametrize(("cell", "block", "orientations", "size"),
                         [((8, 8), (3, 3), 9, (32, 32)), ((4, 6), (2, 1), 6, (21, 26)),
                          ((3, 3), (3, 3), 12, (12, 12))])
def test_hog_features_agree_with_scikit_image(cell, block, orientations, size):
    a, _ = _pairs(size=size)
    a = np.concatenate([a, np.round(3 * unit_scale(a))])  # integer maps: angles on bin edges
    features = similarity._hog(unit_scale(a), orientations, cell, block)
    expected = np.stack([hog(m, orientations=orientations, pixels_per_cell=cell,
                             cells_per_block=block, block_norm="L2-Hys")
                         for m in unit_scale(a)])
    # scikit-image accumulates each cell's histogram in float32
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)


def test_hog_similarity_is_spearman_of_scikit_image_hog():
    a, b = _pairs(size=(32, 40))
    expected = [stats.spearmanr(hog(x), hog(y)).statistic
                for x, y in zip(unit_scale(a[:5]), unit_scale(b[:5]))]
    # scikit-image sums each cell in float32, which can break the ties of the rounded pair (3)
    # differently: its ranks then differ by a hair
    np.testing.assert_allclose(hog_similarity(a, b)[[0, 1, 2, 4]], np.take(expected, [0, 1, 2, 4]),
                               atol=1e-6)
    assert hog_similarity(a, b)[3] == pytest.approx(expected[3], abs=1e-3)
    assert hog_similarity(a, b)[5] == 0.0  # a flat map has no gradients
    np.testing.assert_allclose(hog_similarity(a, 2 * a + 1), 1.0, atol=1e-12)


def test_top_k_intersection_matches_set_overlap():
    a, b = _pairs(size=(10, 10))
    for k in (1, 7, 100):
        expected = [len(set(np.argsort(-x.ravel(), kind="stable")[:k])
                        & set(np.argsort(-y.ravel(), kind="stable")[:k])) / k
                    for x, y in zip(a, b)]
        np.testing.assert_allclose(top_k_intersection(a, b, k=k), expected)
    np.testing.assert_array_equal(top_k_intersection(a, b, k=0.1), top_k_intersection(a, b, k=10))
    assert top_k_intersection(a, b, k=100).tolist() == [1.0] * len(a)  # every pixel
    assert top_k_intersection(a[:3], -a[:3], k=50).tolist() == [0.0] * 3  # no ties: opposite halves


def test_batch_equals_pair_by_pair():
    a, b = _pairs(size=(24, 24))
    for function in (spearman, spearman_abs, ssim, hog_similarity, top_k_intersection):
        whole = function(a, b)
        single = np.concatenate([function(a[i:i + 1], b[i:i + 1]) for i in range(len(a))])
        np.testing.assert_array_equal(whole, single, err_msg=function.__name__)


def test_bad_input_gets_a_clear_error():
    a, b = _pairs(size=(24, 24))
    with pytest.raises(ValueError, match="maps_b"):
        spearman(a, b[:3])
    with pytest.raises(ValueError, match="maps_b.*size"):
        ssim(a, b[:, :20])
    nan = b.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hog_similarity(a, nan)
    with pytest.raises(ValueError, match="maps_a"):
        spearman_abs(a[0], b[0])
    with pytest.raises(ValueError, match="win_size"):
        ssim(a, b, win_size=4)
    with pytest.raises(ValueError, match="win_size"):
        ssim(a[:, :5, :5], b[:, :5, :5])
    with pytest.raises(ValueError, match="at least"):
        hog_similarity(a[:, :16], b[:, :16])
    for bad in (0, 24 * 24 + 1, 0.0, 1.5, True):
        with pytest.raises(ValueError, match="k="):
            top_k_intersection(a, b, k=bad)


def test_docstring_examples_run():
    assert doctest.testmod(similarity, extraglobs={"np": np}).failed == 0
