"""Turning raw attribution maps into pictures (NumPy + matplotlib only, no TensorFlow).

Methods return raw values; every visual convention lives here:

- :func:`to_2d` — channel reduction of (N, H, W, C) maps ("max_abs" as Simonyan et al. 2014,
  "sum", "sum_abs", "l2");
- :func:`normalize` — "abs" (|m| scaled by its p-th percentile, clipped to [0, 1]), "signed"
  (m scaled by the p-th percentile of |m|, clipped to [-1, 1]) or "minmax" (tf-keras-vis's
  convention, (m - min) / (max - min)), per map;
- :func:`resize` — bilinear upsampling of coarse maps (CAM) to the image size;
- :func:`overlay` — heatmap blended over the image, as RGB;
- :data:`DIVERGING` — a blue-white-red colormap for signed maps (white = 0);
- :func:`show` and :func:`grid` — one map on an axis, a methods x images figure;
- :func:`text_sizes_px` and :func:`legible` — every text of a figure as it renders on the course
  site (scaled down to the page's content width), and the one place that enlarges the fonts so
  the smallest renders at least :data:`MIN_TEXT_PX` high (:func:`xaikit.report.figure` calls it).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.text import Text

from xaikit.base.checks import check_number, check_option
from xaikit.base.messages import message
from xaikit.base.resize import resize_bilinear

__all__ = ["DIVERGING", "MIN_TEXT_PX", "SAVE_DPI", "SITE_CONTENT_WIDTH_PX", "grid", "legible",
           "normalize", "overlay", "resize", "show", "text_sizes_px", "to_2d"]

DIVERGING = LinearSegmentedColormap.from_list(
    "xaikit_diverging", ["#2166ac", "#67a9cf", "#f7f7f7", "#ef8a62", "#b2182b"]
)
REDUCTIONS = ("max_abs", "sum", "sum_abs", "l2")
MODES = ("abs", "signed", "minmax")
SAVE_DPI = 110
"""Resolution of the PNGs :func:`xaikit.report.figure` saves."""
SITE_CONTENT_WIDTH_PX = 644
"""Width (CSS px) a wide lesson figure is shown at on the site at a desktop width, as measured
in Chromium by tests/test_site_browser.py at a 1280 px window (rendered width of every figure
wider than the column: 644 px; 680 px derived from Material's CSS was 5 % too wide, and its
labels came out at 9.6 px).  A wider PNG is shown scaled down to it
(``.xk-figure img {max-width: 100%}``), a narrower one as is."""
MIN_TEXT_PX = 10.0
"""Smallest font size (px, as CSS measures it: the em height) a figure's text may render at."""
_PT_PER_INCH = 72.0
_TIGHT_PAD_INCHES = 0.1  # savefig(bbox_inches="tight")'s default pad_inches
_LEGIBLE_ROUNDS = 4  # enlarging the fonts widens the tight box a little: settle in a few rounds


def to_2d(maps: np.ndarray, how: str = "max_abs") -> np.ndarray:
    """Reduce (N, H, W, C) or (H, W, C) maps over channels; 2-D/3-D maps pass unchanged if C absent.

    Parameters
    ----------
    maps : np.ndarray
        (N, H, W, C) maps; (N, H, W) maps are returned as they are.
    how : {"max_abs", "sum", "sum_abs", "l2"}

    Examples
    --------
    >>> to_2d(np.array([[[[1.0, -3.0]]]])).tolist()
    [[[3.0]]]
    """
    check_option("how", how, REDUCTIONS)
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 4:
        return maps
    if how == "max_abs":
        return np.abs(maps).max(axis=-1)
    if how == "sum":
        return maps.sum(axis=-1)
    if how == "sum_abs":
        return np.abs(maps).sum(axis=-1)
    return np.sqrt((maps**2).sum(axis=-1))


def normalize(maps: np.ndarray, mode: str = "abs", *, percentile: float = 99.0) -> np.ndarray:
    """Scale each map of a batch (N, H, W) (or one (H, W) map) for display.

    ``"abs"`` -> |m| / P_p(|m|) clipped to [0, 1]; ``"signed"`` -> m / P_p(|m|) clipped to
    [-1, 1] (0 stays 0); ``"minmax"`` -> (m - min) / (max - min) (tf-keras-vis's ``normalize``).
    A constant map becomes zeros.

    Examples
    --------
    >>> normalize(np.array([[0.0, 1.0], [2.0, 4.0]]), "minmax").tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    """
    check_option("mode", mode, MODES)
    check_number("percentile", percentile, low=0.0, high=100.0, low_open=True)
    maps = np.asarray(maps, dtype=np.float64)
    single = maps.ndim == 2
    batch = maps[None] if single else maps
    if batch.ndim != 3:
        raise ValueError(message("expected", name="maps", expected="(H, W) or (N, H, W)",
                                 got=f"shape {maps.shape}", fix="; reduce channels with to_2d first"))
    axes = (1, 2)
    if mode == "minmax":
        low = batch.min(axis=axes, keepdims=True)
        span = batch.max(axis=axes, keepdims=True) - low
        out = np.divide(batch - low, span, out=np.zeros_like(batch), where=span > 0)
    else:
        scale = np.percentile(np.abs(batch), percentile, axis=axes, keepdims=True)
        values = np.abs(batch) if mode == "abs" else batch
        out = np.divide(values, scale, out=np.zeros_like(batch), where=scale > 0)
        out = np.clip(out, 0.0 if mode == "abs" else -1.0, 1.0)
    return out[0] if single else out


def resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of (H, W) or (N, H, W) maps to ``size`` (half-pixel centres, like
    ``tf.image.resize``'s bilinear mode): :func:`xaikit.base.resize.resize_bilinear` in float64."""
    return resize_bilinear(np.asarray(maps, dtype=np.float64), size)


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.5,
    cmap: str | matplotlib.colors.Colormap = "jet",
    signed: bool = False,
) -> np.ndarray:
    """Blend a heatmap over an image: RGB float (H, W, 3) in [0, 1].

    ``heatmap`` (h, w) is normalised (``"signed"`` with :data:`DIVERGING` when ``signed``, else
    ``"abs"``) and resized to the image. Grey images are expanded to RGB.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
    span = rgb.max() - rgb.min()
    rgb = (rgb - rgb.min()) / span if span > 0 else np.zeros_like(rgb)
    heat = to_2d(np.asarray(heatmap)[None])[0] if np.ndim(heatmap) == 3 else np.asarray(heatmap)
    if heat.shape != rgb.shape[:2]:
        heat = resize(heat, rgb.shape[:2])
    colormap = DIVERGING if signed and cmap == "jet" else plt.get_cmap(cmap)
    scaled = normalize(heat, "signed" if signed else "abs")
    colours = colormap((scaled + 1) / 2 if signed else scaled)[..., :3]
    return np.clip((1 - alpha) * rgb + alpha * colours, 0.0, 1.0)


def show(
    ax: plt.Axes,
    attribution: np.ndarray,
    image: np.ndarray | None = None,
    *,
    signed: bool = False,
    title: str | None = None,
    alpha: float = 0.5,
) -> None:
    """Draw one map on ``ax``: over ``image`` when given, else alone (diverging if ``signed``)."""
    heat = to_2d(np.asarray(attribution)[None])[0] if np.ndim(attribution) == 3 else attribution
    if image is not None:
        ax.imshow(overlay(image, heat, alpha=alpha, signed=signed))
    elif signed:
        ax.imshow(normalize(heat, "signed"), cmap=DIVERGING, vmin=-1, vmax=1)
    else:
        ax.imshow(normalize(heat, "abs"), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def grid(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    signed: Sequence[str] = (),
    overlay_images: bool = False,
    image_titles: Sequence[str] | None = None,
    size: float = 1.8,
) -> plt.Figure:
    """A figure with one row per image: the image, then one column per method in ``maps``.

    Parameters
    ----------
    images : (N, H, W, C)
    maps : dict name -> (N, H, W) or (N, H, W, C) maps
    signed : names of the methods to draw with the diverging colormap
    overlay_images : draw the maps over the images
    image_titles : optional N row labels
    """
    images = np.asarray(images)
    n_rows, n_cols = len(images), len(maps) + 1
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    for row, image in enumerate(images):
        picture = image[..., 0] if image.shape[-1] == 1 else image
        axes[row, 0].imshow(picture, cmap="gray" if picture.ndim == 2 else None)
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        if image_titles is not None:
            axes[row, 0].set_ylabel(image_titles[row], fontsize=9)
        for col, (name, batch) in enumerate(maps.items(), start=1):
            show(axes[row, col], batch[row], image if overlay_images else None,
                 signed=name in signed, title=name if row == 0 else None)
    if image_titles is None:
        axes[0, 0].set_title("image", fontsize=9)
    fig.tight_layout()
    return fig


def text_sizes_px(
    fig: plt.Figure, *, width_px: float = SITE_CONTENT_WIDTH_PX, dpi: float = SAVE_DPI
) -> list[tuple[str, float]]:
    """Every visible, non-empty text of ``fig`` with its font size in px as the site shows it.

    The PNG saved at ``dpi`` with ``bbox_inches="tight"`` is ``w`` px wide; the page shows it at
    ``min(w, width_px)`` px, so a text of ``s`` points renders ``s / 72 * dpi * min(1, width_px / w)``
    px high (its em height, as CSS measures font sizes).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    width_px : float
        Width (CSS px) the page gives the figure; default :data:`SITE_CONTENT_WIDTH_PX`.
    dpi : float
        Resolution the figure is saved at; default :data:`SAVE_DPI`.

    Returns
    -------
    list of (str, float)
        ``(text, size_px)`` per text artist (titles, labels, tick labels, legends, colorbars).
    """
    check_number("width_px", width_px, low=1.0)
    check_number("dpi", dpi, low=1.0)
    fig.draw_without_rendering()  # ticks, legends and layout as they will be saved
    texts = [t for t in _texts(fig) if t.get_visible() and t.get_text().strip()]
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    saved_px = (box.width + 2 * _TIGHT_PAD_INCHES) * dpi
    scale = min(1.0, width_px / saved_px)
    return [(t.get_text(), t.get_fontsize() / _PT_PER_INCH * dpi * scale) for t in texts]


def legible(
    fig: plt.Figure,
    *,
    min_px: float = MIN_TEXT_PX,
    width_px: float = SITE_CONTENT_WIDTH_PX,
    dpi: float = SAVE_DPI,
) -> float:
    """Enlarge all of ``fig``'s fonts by one factor so the smallest renders ``>= min_px`` on the site.

    Sizes are those of :func:`text_sizes_px`.  Every text keeps its size relative to the others;
    the layout is redone (the figure's layout engine, else ``tight_layout``).  A figure already
    legible is left untouched.

    Returns
    -------
    float
        The factor applied to the font sizes (1.0 when nothing changed).
    """
    check_number("min_px", min_px, low=1.0)
    total = 1.0
    for _ in range(_LEGIBLE_ROUNDS):
        sizes = [size for _, size in text_sizes_px(fig, width_px=width_px, dpi=dpi)]
        if not sizes or min(sizes) >= min_px * (1 - 1e-6):
            break
        factor = min_px / min(sizes) * 1.02  # a little headroom: the tight box grows with the text
        _scale_fonts(fig, factor)
        total *= factor
    return total


def _tick_labels(fig: plt.Figure) -> tuple[list[Text], set[int]]:
    """The tick labels drawn (of shown axes) and the ids of all tick-label artists."""
    shown, every = [], set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if ax.get_visible() and ax.axison and axis.get_visible():
                shown += axis.get_ticklabels(which="both")  # first: this makes the ticks
            for tick in axis.majorTicks + axis.minorTicks:
                every.update((id(tick.label1), id(tick.label2)))
    return shown, every


def _texts(fig: plt.Figure) -> list[Text]:
    """Every text artist of ``fig`` that can be drawn: tick labels only of shown axes."""
    ticks, every = _tick_labels(fig)
    others = [t for t in fig.findobj(Text) if id(t) not in every
              and (t.axes is None or t.axes.get_visible())]
    return others + ticks


def _scale_fonts(fig: plt.Figure, factor: float) -> None:
    """Multiply every font size of ``fig`` by ``factor`` and redo the layout."""
    _, ticks = _tick_labels(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                labels = axis.get_ticklabels(which=which)
                if labels:
                    axis.set_tick_params(which=which, labelsize=labels[0].get_fontsize() * factor)
    for text in fig.findobj(Text):
        if id(text) not in ticks:
            text.set_fontsize(text.get_fontsize() * factor)
    if fig.get_layout_engine() is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # axes tight_layout cannot place
            fig.tight_layout()
