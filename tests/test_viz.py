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


def _lesson_like_figure(rows: int = 3):
    """Built like lesson 03's Fig. 7: five panels a row, 8-9 pt titles, colorbars with ticks."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, 5, figsize=(10, 2.1 * rows), squeeze=False)
    for row in range(rows):
        axes[row, 0].imshow(MAPS[row % 3])
        axes[row, 0].set_ylabel(f"class {row}", fontsize=9)
        for col in range(1, 5):
            shown = axes[row, col].imshow(MAPS[(row + col) % 3], cmap="jet")
            fig.colorbar(shown, ax=axes[row, col], fraction=0.046)
            axes[row, col].set_title(f"({col}) panel" if row == 0 else "", fontsize=8)
    for ax in axes[:, :5].ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def test_old_settings_render_lesson_figures_too_small():
    """Negative control: lesson 03's figure as saved before (dpi 110, 8 pt titles) renders under 8 px."""
    import matplotlib.pyplot as plt

    fig = _lesson_like_figure()
    sizes = viz.text_sizes_px(fig)
    names = {text for text, _ in sizes}
    assert "(1) panel" in names and "class 0" in names and any(t[0].isdigit() or t[0] == "−"
                                                               for t in names)  # colorbar ticks
    assert min(size for _, size in sizes) < 0.8 * viz.MIN_TEXT_PX
    plt.close(fig)


def test_legible_makes_every_text_at_least_ten_px_at_the_content_width():
    import matplotlib.pyplot as plt

    fig = _lesson_like_figure()
    factor = viz.legible(fig)
    assert factor > 1.0
    sizes = viz.text_sizes_px(fig)
    assert min(size for _, size in sizes) >= viz.MIN_TEXT_PX - 1e-6
    # relative sizes kept: the 9 pt label stays 9/8 of the 8 pt titles
    by_text = dict(sizes)
    assert by_text["class 0"] / by_text["(1) panel"] == pytest.approx(9 / 8, rel=1e-6)
    assert viz.legible(fig) == 1.0, "a legible figure is left as it is"
    plt.close(fig)


def test_sizes_model_the_saved_png_width(tmp_path):
    """text_sizes_px assumes the PNG savefig(bbox_inches='tight') writes: check its width."""
    import matplotlib.pyplot as plt

    fig = _lesson_like_figure(rows=2)
    viz.legible(fig)
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    path = tmp_path / "f.png"
    fig.savefig(path, dpi=viz.SAVE_DPI, bbox_inches="tight")
    width = int.from_bytes(path.read_bytes()[16:20], "big")
    assert width == pytest.approx((box.width + 0.2) * viz.SAVE_DPI, rel=0.005)
    sizes = dict(viz.text_sizes_px(fig))
    title_pt = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text() == "(1) panel"][0]
    expected = title_pt.get_fontsize() / 72 * viz.SAVE_DPI * min(1, viz.SITE_CONTENT_WIDTH_PX / width)
    assert sizes["(1) panel"] == pytest.approx(expected, rel=0.01)
    plt.close(fig)


def test_tick_labels_keep_their_new_size_and_hidden_axes_do_not_count():
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 3))
    left.plot([0, 1], [0, 1])
    left.set_title("curve", fontsize=7)
    right.imshow(MAPS[0])
    right.axis("off")  # its tick labels are never drawn
    viz.legible(fig)
    left.set_xlim(0, 2)  # new ticks after enlarging take the new label size
    sizes = viz.text_sizes_px(fig)
    assert min(size for _, size in sizes) >= viz.MIN_TEXT_PX - 1e-6
    assert len(sizes) == 1 + len(left.get_xticklabels()) + len(left.get_yticklabels())
    plt.close(fig)


def test_a_small_figure_is_shown_unscaled():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("t", fontsize=10)
    sizes = dict(viz.text_sizes_px(fig))
    assert sizes["t"] == pytest.approx(10 / 72 * viz.SAVE_DPI)  # narrower than the page: 1:1
    plt.close(fig)
