"""xaikit.viz: normalisation conventions, resizing, overlays, grids; no TensorFlow inside."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from xaikit import viz  # noqa: E402

MAPS = np.random.default_rng(0).normal(size=(3, 8, 8))


def test_viz_imports_no_tensorflow():
    code = "import sys, xaikit.viz; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_normalize_modes():
    minmax = viz.normalize(MAPS, "minmax")
    assert np.allclose(minmax.min(axis=(1, 2)), 0) and np.allclose(minmax.max(axis=(1, 2)), 1)
    absolute = viz.normalize(MAPS, "abs", percentile=100)
    np.testing.assert_allclose(absolute, np.abs(MAPS) / np.abs(MAPS).max(axis=(1, 2), keepdims=True))
    signed = viz.normalize(MAPS, "signed", percentile=90)
    assert signed.min() == -1 and signed.max() == 1  # clipped at the 90th percentile of |m|
    assert np.array_equal(np.sign(signed), np.sign(MAPS))  # zero stays zero, signs kept
    assert not viz.normalize(np.zeros((4, 4)), "abs").any()
    with pytest.raises(ValueError, match="allowed"):
        viz.normalize(MAPS, "log")
    with pytest.raises(ValueError, match="to_2d"):
        viz.normalize(MAPS[..., None])


def test_to_2d_reductions():
    grads = np.array([[[[1.0, -3.0, 2.0]]]])
    assert viz.to_2d(grads, "max_abs").item() == 3.0
    assert viz.to_2d(grads, "sum").item() == 0.0
    assert viz.to_2d(grads, "sum_abs").item() == 6.0
    assert np.isclose(viz.to_2d(grads, "l2").item(), np.sqrt(14))
    assert viz.to_2d(MAPS).shape == MAPS.shape


def test_resize_matches_tensorflow_bilinear():
    import tensorflow as tf

    coarse = np.random.default_rng(1).random((2, 4, 5))
    ours = viz.resize(coarse, (12, 15))
    theirs = tf.image.resize(coarse[..., None], (12, 15), method="bilinear").numpy()[..., 0]
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_overlay_and_grid():
    image = np.random.default_rng(2).random((16, 16, 1))
    blended = viz.overlay(image, MAPS[0], alpha=0.0)
    assert blended.shape == (16, 16, 3)
    np.testing.assert_allclose(blended[..., 0], (image[..., 0] - image.min()) / np.ptp(image))
    coloured = viz.overlay(image, MAPS[0], signed=True)
    assert coloured.min() >= 0 and coloured.max() <= 1
    images = np.random.default_rng(3).random((2, 8, 8, 3))
    fig = viz.grid(images, {"saliency": np.abs(MAPS[:2]), "gradient": MAPS[:2, ..., None]},
                   signed=["gradient"])
    assert len(fig.axes) == 6
    assert fig.axes[1].get_title() == "saliency"
