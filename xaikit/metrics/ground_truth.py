"""Ground-truth evaluation: does an explanation cover the evidence the data were built with?

Introduced in lesson 09 (the weakly supervised boxes in lesson 02). Every metric here is
model-free: ``metric(maps, masks, *, ...)`` with maps (N, H, W) (larger = more important) and
boolean masks (N, H, W) of the ground-truth evidence (the discriminative parts of an8flower, an
object's pixels), or ``metric(maps, parts, ...)`` with integer part labels (N, H, W).

- Feature coverage (Oramas, Wang & Tuytelaars, ICLR 2019, arXiv:1712.06302): IoU of the
  binarised map with the mask, per image and threshold; :func:`binarise` offers the quantile,
  mean and Otsu binarisers; :func:`ranking_agreement` measures how the binariser changes the
  ranking of methods (Kendall's tau), the question of Behzadi-Khormuji & Oramas (WACV 2023),
  whose weighted-average IoU over semantic parts is :func:`waiou`.
- Mass and rank in the mask (Arras, Osman & Samek, Information Fusion 2022, arXiv:2003.07258):
  :func:`relevance_mass_accuracy`, :func:`relevance_rank_accuracy`; the inside/total ratio of
  positive relevance (Kohlbrenner et al., IJCNN 2020, arXiv:1910.09840):
  :func:`attribution_localisation`; the top-k pixels in the mask (Theiner, Müller-Budack &
  Ewerth, WACV 2022, arXiv:2104.14995): :func:`top_k_intersection`.
- The pointing game with a tolerance and its "difficult" subset (Zhang et al., ECCV 2016,
  arXiv:1608.00507): :func:`pointing_game`.
- Baselines every localisation table shows: :func:`centre_map`, :func:`random_map`.
- Boxes (Simonyan, Vedaldi & Zisserman 2014, Sec. 3.1; lesson 02): :func:`box_from_map`,
  :func:`box_iou`, :func:`localisation_scores`. Boxes are ``(y0, x0, y1, x1)`` in pixels, end
  exclusive: the box of pixel ``(i, j)`` is ``(i, j, i + 1, j + 1)``.

Ties: where a metric ranks pixels (rank accuracy, top-k, pointing game), tied pixels count
fractionally, as the expectation over a random tie-break, so a constant map scores chance
rather than whatever order the sort happens to give.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, stats

from xaikit.base.checks import check_int, check_maps, check_masks, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.metrics.registry import register

__all__ = [
    "BINARISERS", "COMPONENTS", "Coverage", "PointingGame", "RankingStudy",
    "attribution_localisation", "binarise", "box_from_map", "box_iou", "centre_map",
    "feature_coverage", "label_image", "localisation_scores", "pointing_game", "random_map",
    "ranking_agreement", "relevance_mass_accuracy", "relevance_rank_accuracy",
    "top_k_intersection", "waiou",
]

BINARISERS = ("quantile", "mean", "otsu")
DEFAULT_THRESHOLDS = {"quantile": (0.5, 0.7, 0.8, 0.9, 0.95), "mean": (1.0,), "otsu": (1.0,)}
DEFAULT_SETTINGS = (("quantile", 0.8), ("mean", 1.0), ("otsu", 1.0))
OTSU_BINS = 64  # histogram bins of Otsu's threshold on the [0, 1]-rescaled map
POINTING_TOLERANCE = 15.0  # pixels, Zhang et al. (2016), Sec. 5.1
DIFFICULT_AREA = 0.25  # Zhang et al.: "difficult" = target area < 1/4 of the image (+ distractor)
CENTRE_SIGMA = 0.25  # the centre baseline's Gaussian std as a fraction of the image side
COMPONENTS = ("largest", "all")


# ------------------------------------------------------------------------------ shared checks
def _maps_and_masks(maps: Any, masks: Any) -> tuple[np.ndarray, np.ndarray]:
    masks = check_masks(masks)
    return check_maps(maps, len(masks), masks.shape[1:]), masks


def _rescaled(maps: np.ndarray) -> np.ndarray:
    """Each map min-max rescaled to [0, 1]; a constant map becomes all zeros."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)


def _otsu(rescaled: np.ndarray) -> np.ndarray:
    """Otsu's threshold (IEEE TSMC 1979) of each [0, 1] map, from an ``OTSU_BINS`` histogram."""
    n = len(rescaled)
    bins = np.minimum((rescaled * OTSU_BINS).astype(np.int64), OTSU_BINS - 1).reshape(n, -1)
    offsets = (np.arange(n) * OTSU_BINS)[:, None]
    counts = np.bincount((bins + offsets).ravel(), minlength=n * OTSU_BINS).reshape(n, OTSU_BINS)
    p = counts / counts.sum(axis=1, keepdims=True)
    centres = (np.arange(OTSU_BINS) + 0.5) / OTSU_BINS
    omega, mu = np.cumsum(p, axis=1), np.cumsum(p * centres, axis=1)
    total = mu[:, -1:]
    denominator = omega * (1.0 - omega)
    between = np.divide((total * omega - mu) ** 2, denominator, out=np.zeros_like(omega),
                        where=denominator > 1e-12)
    return (between.argmax(axis=1) + 1.0) / OTSU_BINS


def _binary(maps: np.ndarray, method: str, thresholds: np.ndarray) -> np.ndarray:
    """Binary maps (N, T, H, W) of checked float maps, one per threshold."""
    if method == "quantile":
        cut = np.quantile(maps.reshape(len(maps), -1), thresholds, axis=1).T  # (N, T)
        return maps[:, None] > cut[:, :, None, None]
    rescaled = _rescaled(maps)
    level = rescaled.mean(axis=(1, 2)) if method == "mean" else _otsu(rescaled)
    return rescaled[:, None] > (level[:, None] * thresholds[None, :])[:, :, None, None]


def _thresholds(method: str, thresholds: Any) -> np.ndarray:
    check_option("binarise", method, BINARISERS)
    values = np.atleast_1d(np.asarray(DEFAULT_THRESHOLDS[method] if thresholds is None
                                      else thresholds, np.float64))
    low, high = (0.0, 1.0) if method == "quantile" else (0.0, np.inf)
    if values.ndim != 1 or not values.size or not np.all((values >= low) & (values < high)):
        raise ValueError(message(
            "expected", name="thresholds", got=np.asarray(thresholds).tolist(), fix="",
            expected=f"numbers in [{low}, {high}) for binarise={method!r} "
                     + ("(quantile levels)" if method == "quantile"
                        else "(multiples of the adaptive threshold)")))
    return values


def binarise(maps: Any, *, method: str = "quantile", threshold: float = 0.8) -> np.ndarray:
    """Binarise maps (N, H, W) into the pixels an explanation points at.

    - ``"quantile"``: pixels strictly above the map's ``threshold``-quantile (``0.8`` keeps the
      hottest 20 %), a scale-free rule that keeps the same area for every method;
    - ``"mean"``: pixels of the [0, 1]-rescaled map above ``threshold`` × its mean;
    - ``"otsu"``: pixels of the [0, 1]-rescaled map above ``threshold`` × its Otsu threshold
      (the cut maximising the between-class variance of a 64-bin histogram; Otsu, IEEE TSMC 1979).

    A constant map keeps no pixel under every rule.

    Parameters
    ----------
    maps : array (N, H, W)
        Larger = more important (take ``np.abs`` of signed maps first if both signs count).
    method : {"quantile", "mean", "otsu"}
    threshold : float
        The quantile level in [0, 1), or the multiple (>= 0) of the mean or Otsu threshold.

    Returns
    -------
    np.ndarray
        bool (N, H, W).

    Examples
    --------
    >>> m = np.array([[[0.0, 1.0], [2.0, 9.0]]])
    >>> binarise(m, method="quantile", threshold=0.5).astype(int).tolist()
    [[[0, 0], [1, 1]]]
    >>> binarise(m, method="otsu", threshold=1.0).astype(int).tolist()
    [[[0, 0], [0, 1]]]
    """
    maps = check_maps(maps)
    return _binary(maps, method, _thresholds(method, threshold))[:, 0]


def _iou(binary: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """IoU over the last two axes; the masks broadcast against the binary maps."""
    inter = np.count_nonzero(binary & masks, axis=(-2, -1))
    union = np.count_nonzero(binary, axis=(-2, -1)) + np.count_nonzero(masks, axis=(-2, -1)) - inter
    return inter / np.maximum(union, 1)



# ------------------------------------------------------------------------------ feature coverage
@dataclass(frozen=True)
class Coverage:
    """Feature coverage per image and threshold: ``iou`` (N, T) for ``thresholds`` (T,)."""

    iou: np.ndarray
    thresholds: tuple[float, ...]
    binarise: str

    def at(self, threshold: float) -> np.ndarray:
        """The (N,) IoU at one of the ``thresholds``."""
        index = int(np.argmin(np.abs(np.asarray(self.thresholds) - threshold)))
        if not np.isclose(self.thresholds[index], threshold):
            raise ValueError(message("option", name="threshold", value=threshold,
                                     allowed=", ".join(map(str, self.thresholds))))
        return self.iou[:, index]

    def mean(self) -> np.ndarray:
        """Mean IoU over images, per threshold (T,)."""
        return self.iou.mean(axis=0)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per image and threshold: image, binarise, threshold, iou."""
        return [{"image": i, "binarise": self.binarise, "threshold": float(t),
                 "iou": float(self.iou[i, j])}
                for i in range(len(self.iou)) for j, t in enumerate(self.thresholds)]


@register(family="ground_truth", needs={"maps", "masks"}, higher_is_better=True, returns="table")
def feature_coverage(maps: Any, masks: Any, *, thresholds: Any = None,
                     binarise: str = "quantile") -> Coverage:
    """Discriminative-feature coverage: IoU of the binarised map with the ground-truth mask.

    The an8flower protocol of Oramas, Wang & Tuytelaars, "Visual Explanation by Interpretation:
    Improving Visual Feedback Capabilities of Deep Neural Networks", ICLR 2019
    (arXiv:1712.06302), Sec. 5: the data are built so that the class is decided by known parts,
    and an explanation is scored by its overlap with their mask, at several thresholds,

    .. math:: \\mathrm{IoU}_t(x) = \\frac{|B_t(S(x)) \\cap M(x)|}{|B_t(S(x)) \\cup M(x)|},

    with :math:`B_t` the binariser of :func:`binarise` at threshold :math:`t`.

    Parameters
    ----------
    maps : array (N, H, W)
        Larger = more important (the lesson uses ``np.abs`` of every method's map).
    masks : bool array (N, H, W)
        The discriminative part(s) of each image; none may be empty.
    thresholds : sequence of float, optional
        Quantile levels for ``"quantile"`` (default 0.5, 0.7, 0.8, 0.9, 0.95), multiples of the
        adaptive threshold for ``"mean"`` and ``"otsu"`` (default 1.0).
    binarise : {"quantile", "mean", "otsu"}

    Returns
    -------
    Coverage
        ``iou`` (N, T), ``.at(t)`` (N,), ``.mean()`` (T,), ``.to_rows()``.

    Raises
    ------
    ValueError
        Maps of the wrong rank, count or size, NaN maps, empty masks, thresholds out of range.

    Examples
    --------
    >>> masks = np.zeros((1, 4, 4), bool); masks[0, :2] = True
    >>> feature_coverage(masks * 1.0, masks, thresholds=[0.5]).iou.tolist()
    [[1.0]]
    """
    maps, masks = _maps_and_masks(maps, masks)
    values = _thresholds(binarise, thresholds)
    iou = _iou(_binary(maps, binarise, values), masks[:, None])
    return Coverage(iou.astype(np.float64), tuple(float(t) for t in values), binarise)


# ------------------------------------------------------------------------------ semantic parts
def label_image(parts: Mapping[str, Any], names: Sequence[str]) -> np.ndarray:
    """Integer labels (N, H, W) from boolean part masks: ``names[k]`` gets label ``k + 1``, 0 = rest.

    Examples
    --------
    >>> parts = {"a": np.array([[[1, 0]]], bool), "b": np.array([[[0, 1]]], bool)}
    >>> label_image(parts, ["b", "a"]).tolist()
    [[[2, 1]]]
    """
    missing = [name for name in names if name not in parts]
    if missing:
        raise ValueError(message("option", name="names", value=missing,
                                 allowed=", ".join(map(repr, parts))))
    labels = None
    for k, name in enumerate(names):
        mask = check_masks(parts[name], name=f"parts[{name!r}]", allow_empty=True)
        labels = np.zeros(mask.shape, np.int64) if labels is None else labels
        labels[mask] = k + 1
    return labels


@register(family="ground_truth", needs={"maps", "parts"}, higher_is_better=True)
def waiou(maps: Any, parts: Any, *, binarise: str = "quantile", threshold: float = 0.8,
          background: int = 0) -> np.ndarray:
    """Weighted-average IoU of the binarised map with each annotated part (WAIoU).

    Behzadi-Khormuji & Oramas, "A Protocol for Evaluating Model Interpretation Methods from
    Visual Explanations", WACV 2023: the IoU of the binarised explanation with each semantic part
    :math:`P_p` present in the image, averaged with the parts' areas as weights,

    .. math:: \\mathrm{WAIoU}(x) = \\sum_p \\frac{|P_p|}{\\sum_q |P_q|}
              \\frac{|B(S(x)) \\cap P_p|}{|B(S(x)) \\cup P_p|}.

    The area weights are our reading of the paper (a frequency-weighted IoU, as in
    segmentation benchmarks); the paper's own text was not retrievable here.

    Parameters
    ----------
    maps : array (N, H, W)
    parts : int array (N, H, W)
        Part labels; ``background`` is not a part (see :func:`label_image`).
    binarise, threshold
        The binariser, as in :func:`binarise`.
    background : int
        The label that is not scored.

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, 1].

    Raises
    ------
    ValueError
        As :func:`feature_coverage`; an image without any annotated part.

    Examples
    --------
    >>> parts = np.array([[[1, 1, 2, 0]]])
    >>> waiou(np.array([[[5.0, 4.0, 0.0, 0.0]]]), parts, threshold=0.5).round(4).tolist()
    [0.6667]
    """
    labels = np.asarray(parts)
    if labels.dtype.kind not in "iub":
        raise TypeError(message("expected", name="parts", expected="integer part labels (N, H, W)",
                                got=f"dtype {labels.dtype}", fix="; see label_image()"))
    if labels.ndim != 3:
        raise ValueError(message("map_rank", name="parts", shape=labels.shape, fix=""))
    maps = check_maps(maps, len(labels), labels.shape[1:])
    binary = _binary(maps, binarise, _thresholds(binarise, threshold))[:, 0]
    if labels.size and labels.min() < 0:
        raise ValueError(message("expected", name="parts", expected="non-negative part labels",
                                 got=f"labels down to {labels.min()}", fix=""))
    ids = np.flatnonzero(np.bincount(labels.ravel().astype(np.int64)))  # the labels present
    ids = ids[ids != background]
    onehot = labels[:, None] == ids[None, :, None, None]  # (N, P, H, W), P small
    area = np.count_nonzero(onehot, axis=(2, 3)).astype(np.float64)
    empty = np.flatnonzero(area.sum(axis=1) == 0)
    if empty.size or not ids.size:
        raise ValueError(message("parts_empty", name="parts", background=background,
                                 indices=(empty if ids.size else np.arange(len(labels))).tolist()))
    iou = _iou(binary[:, None], onehot)
    return (area * iou).sum(axis=1) / area.sum(axis=1)


# ------------------------------------------------------------------------------ ranking study
@dataclass(frozen=True)
class RankingStudy:
    """Mean coverage per method and binariser setting, and Kendall's tau between the rankings.

    ``scores`` (M, S) for ``methods`` × ``settings``; ``tau`` (S, S) and ``p_value`` (S, S)
    between the method rankings under two settings (1 on the diagonal).
    """

    methods: tuple[str, ...]
    settings: tuple[tuple[str, float], ...]
    scores: np.ndarray
    tau: np.ndarray
    p_value: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per pair of settings: tau and its p-value."""
        names = [f"{b}@{t:g}" for b, t in self.settings]
        return [{"setting_a": names[a], "setting_b": names[b], "kendall_tau": float(self.tau[a, b]),
                 "p_value": float(self.p_value[a, b])}
                for a in range(len(names)) for b in range(a + 1, len(names))]


def ranking_agreement(maps_by_method: Mapping[str, Any], masks: Any, *,
                      settings: Sequence[tuple[str, float]] = DEFAULT_SETTINGS) -> RankingStudy:
    """How the binariser changes the ranking of methods by feature coverage (Kendall's tau).

    Behzadi-Khormuji & Oramas (WACV 2023) show that measuring coverage needs a binarisation
    and that the choice matters. Here every method is scored by its mean IoU under each
    (binariser, threshold) setting, and the rankings of the methods under two settings are
    compared with Kendall's :math:`\\tau_b` (1: same order, -1: reversed; Kendall 1938).

    Parameters
    ----------
    maps_by_method : mapping name -> array (N, H, W)
        At least two methods, maps for the same images.
    masks : bool array (N, H, W)
    settings : sequence of (binariser, threshold)
        Default: quantile 0.8, mean 1.0, Otsu 1.0.

    Returns
    -------
    RankingStudy
    """
    if len(maps_by_method) < 2:
        raise ValueError(message("expected", name="maps_by_method", expected="at least 2 methods",
                                 got=len(maps_by_method), fix=""))
    methods, settings = tuple(maps_by_method), tuple((str(b), float(t)) for b, t in settings)
    scores = np.array([[feature_coverage(maps, masks, thresholds=[t], binarise=b).iou.mean()
                        for b, t in settings] for maps in maps_by_method.values()])
    tau, p_value = np.ones((len(settings),) * 2), np.zeros((len(settings),) * 2)
    for a in range(len(settings)):
        for b in range(a + 1, len(settings)):
            result = stats.kendalltau(scores[:, a], scores[:, b])
            tau[a, b] = tau[b, a] = np.nan_to_num(result.statistic)
            p_value[a, b] = p_value[b, a] = np.nan_to_num(result.pvalue, nan=1.0)
    return RankingStudy(methods, settings, scores, tau, p_value)


# ------------------------------------------------------------------------------ mass and rank
def _positive(maps: np.ndarray) -> np.ndarray:
    return np.maximum(maps, 0.0)


def _mass_inside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    positive = _positive(maps)
    inside = (positive * masks).sum(axis=(1, 2))
    total = positive.sum(axis=(1, 2))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


@register(family="ground_truth", needs={"maps", "masks"}, higher_is_better=True)
def relevance_mass_accuracy(maps: Any, masks: Any) -> np.ndarray:
    """Share of the map's positive relevance that lies in the ground-truth mask.

    Arras, Osman & Samek, "CLEVR-XAI: A benchmark dataset for the ground truth evaluation of
    neural network explanations", Information Fusion 81, 2022 (arXiv:2003.07258), Sec. 4.2:

    .. math:: \\text{mass accuracy} = \\frac{R_\\text{within}}{R_\\text{total}}
              = \\frac{\\sum_{k \\in GT} R_k}{\\sum_k R_k},

    on the positive part :math:`R = \\max(S, 0)` (their evaluation scores positive evidence);
    a map without positive relevance scores 0.

    Parameters
    ----------
    maps : array (N, H, W)
    masks : bool array (N, H, W), none empty

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, 1].

    Examples
    --------
    >>> masks = np.array([[[True, False], [False, False]]])
    >>> relevance_mass_accuracy(np.array([[[3.0, 1.0], [-5.0, 0.0]]]), masks).tolist()
    [0.75]
    """
    maps, masks = _maps_and_masks(maps, masks)
    return _mass_inside(maps, masks)


def _top_fraction_inside(maps: np.ndarray, masks: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Expected number of the ``k`` (N,) highest pixels inside the masks, ties split evenly."""
    flat, inside = maps.reshape(len(maps), -1), masks.reshape(len(masks), -1)
    ordered = -np.sort(-flat, axis=1)
    kth = ordered[np.arange(len(flat)), k - 1][:, None]
    above, tied = flat > kth, flat == kth
    n_above, n_tied = above.sum(axis=1), tied.sum(axis=1)
    share = (k - n_above) / n_tied
    return (above & inside).sum(axis=1) + share * (tied & inside).sum(axis=1)


@register(family="ground_truth", needs={"maps", "masks"}, higher_is_better=True)
def relevance_rank_accuracy(maps: Any, masks: Any) -> np.ndarray:
    """Share of the |GT| highest-relevance pixels that lie in the ground-truth mask.

    Arras, Osman & Samek (Information Fusion 2022, arXiv:2003.07258), Sec. 4.2: with
    :math:`K = |GT|` and :math:`P_{\\text{top-}K}` the :math:`K` pixels of highest relevance,

    .. math:: \\text{rank accuracy} = \\frac{|P_{\\text{top-}K} \\cap GT|}{|GT|}.

    Ties at the K-th value share the remaining places evenly (a constant map scores the mask's
    share of the image).

    Parameters
    ----------
    maps : array (N, H, W)
    masks : bool array (N, H, W), none empty

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, 1].

    Examples
    --------
    >>> masks = np.array([[[True, True], [False, False]]])
    >>> relevance_rank_accuracy(np.array([[[4.0, 1.0], [3.0, 0.0]]]), masks).tolist()
    [0.5]
    """
    maps, masks = _maps_and_masks(maps, masks)
    k = masks.reshape(len(masks), -1).sum(axis=1)
    return _top_fraction_inside(maps, masks, k) / k


@register(family="ground_truth", needs={"maps", "masks"}, higher_is_better=True,
          fast_options={"k": 10})
def top_k_intersection(maps: Any, masks: Any, *, k: float = 0.1) -> np.ndarray:
    """Share of the map's k highest pixels that lie in the ground-truth mask.

    Theiner, Müller-Budack & Ewerth, "Interpretable Semantic Photo Geolocation", WACV 2022
    (arXiv:2104.14995), the top-k intersection of the binarised explanation with the mask:

    .. math:: \\text{TKI}(x) = \\frac{1}{k} \\big|\\,\\text{top}_k(S(x)) \\cap M(x)\\big|.

    ``k`` is read as in :func:`xaikit.metrics.similarity.top_k_intersection` (a count, or a
    fraction of the pixels), but the reference is the mask itself: that pairwise helper would
    rank the mask's pixels too, and a binary mask has no order within it. Ties at the k-th
    value of the map share the remaining places evenly.

    Parameters
    ----------
    maps : array (N, H, W)
    masks : bool array (N, H, W), none empty
    k : int or float
        An int >= 1: the number of pixels (Quantus' default is 1000); a float in (0, 1]: that
        fraction of the pixels, rounded (at least 1). Default 0.1, the hottest 10 %.

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, 1].

    Examples
    --------
    >>> masks = np.array([[[True, False], [False, False]]])
    >>> top_k_intersection(np.array([[[4.0, 1.0], [3.0, 0.0]]]), masks, k=2).tolist()
    [0.5]
    """
    maps, masks = _maps_and_masks(maps, masks)
    n_pixels = maps.shape[1] * maps.shape[2]
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        count = check_int("k", k)
        if count > n_pixels:
            raise ValueError(message("top_k", k=k, n_pixels=n_pixels))
    else:
        fraction = check_number("k", k, low=0.0, high=1.0)
        if fraction == 0.0:
            raise ValueError(message("number", name="k", value=k, range=" in (0, 1]"))
        count = max(1, int(round(fraction * n_pixels)))
    return _top_fraction_inside(maps, masks, np.full(len(maps), count)) / count


@register(family="ground_truth", needs={"maps", "masks"}, higher_is_better=True)
def attribution_localisation(maps: Any, masks: Any, *, weighted: bool = False) -> np.ndarray:
    """Inside/total ratio of positive attribution, optionally weighted by the object's size.

    Kohlbrenner, Bauer, Nakajima, Binder, Samek & Lapuschkin, "Towards Best Practice in
    Explaining Neural Network Decisions with LRP", IJCNN 2020 (arXiv:1910.09840), Eq. (5)-(6):

    .. math:: \\mu = \\frac{R^+_\\text{in}}{R^+_\\text{tot}}, \\qquad
              \\mu_w = \\mu \\, \\frac{S_\\text{tot}}{S_\\text{in}},

    with :math:`R^+` the positive attribution and :math:`S` areas in pixels. :math:`\\mu_w` is 1
    for a uniform map and rewards concentrating on small objects. (Quantus 0.6 multiplies by
    :math:`S_\\text{in} / S_\\text{tot}` instead.)

    Parameters
    ----------
    maps : array (N, H, W)
    masks : bool array (N, H, W), none empty
    weighted : bool
        Return :math:`\\mu_w` instead of :math:`\\mu`.

    Returns
    -------
    np.ndarray
        float64 (N,).

    Examples
    --------
    >>> masks = np.array([[[True, False], [False, False]]])
    >>> attribution_localisation(np.ones((1, 2, 2)), masks, weighted=True).tolist()
    [1.0]
    """
    maps, masks = _maps_and_masks(maps, masks)
    ratio = _mass_inside(maps, masks)
    if not weighted:
        return ratio
    area = masks.reshape(len(masks), -1)
    return ratio * area.shape[1] / area.sum(axis=1)


# ------------------------------------------------------------------------------ pointing game
@dataclass(frozen=True)
class PointingGame:
    """Per-image hits (N,) (the share of the tied maxima that hit) and the difficult flags."""

    hits: np.ndarray
    difficult: np.ndarray
    tolerance: float

    def accuracy(self, subset: str = "all") -> float:
        """Hits / (hits + misses) on ``"all"`` images or on the ``"difficult"`` ones (NaN if none)."""
        check_option("subset", subset, ("all", "difficult"))
        hits = self.hits if subset == "all" else self.hits[self.difficult]
        return float(hits.mean()) if hits.size else float("nan")

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per image: image, hit, difficult."""
        return [{"image": i, "hit": float(h), "difficult": bool(d)}
                for i, (h, d) in enumerate(zip(self.hits, self.difficult))]


@register(family="ground_truth", needs={"maps", "masks"}, higher_is_better=True, returns="table")
def pointing_game(maps: Any, masks: Any, *, tolerance: float = POINTING_TOLERANCE,
                  distractors: Any = None) -> PointingGame:
    """The pointing game: does the map's maximum fall on (or near) the object?

    Zhang, Bargal, Lin, Brandt, Shen & Sclaroff, "Top-down Neural Attention by Excitation
    Backprop", ECCV 2016 (arXiv:1608.00507), Sec. 5.1: a hit when the maximum point lies within
    ``tolerance`` pixels of the ground-truth mask,

    .. math:: \\text{hit}(x) = \\big[\\, d(\\arg\\max S(x),\\, M(x)) \\le \\text{tolerance} \\,\\big],
              \\qquad \\text{accuracy} = \\frac{\\#\\text{hits}}{\\#\\text{hits} + \\#\\text{misses}}.

    Several tied maxima count as the share of them that hit (the expected hit of a random
    choice). The *difficult* subset of the paper: images whose target covers less than a
    quarter of the image and that contain a distractor (another category).

    Parameters
    ----------
    maps : array (N, H, W)
    masks : bool array (N, H, W), none empty
    tolerance : float
        Pixels (default 15, the paper's, for ~224-pixel images; scale it with the image size).
    distractors : bool array (N,), optional
        Whether each image holds another category; without it only the area criterion is used.

    Returns
    -------
    PointingGame
        ``hits`` (N,), ``difficult`` (N,), ``.accuracy("all" | "difficult")``, ``.to_rows()``.

    Examples
    --------
    >>> masks = np.zeros((1, 8, 8), bool); masks[0, :2, :2] = True
    >>> m = np.zeros((1, 8, 8)); m[0, 3, 3] = 1.0
    >>> pointing_game(m, masks, tolerance=0).hits.tolist(), pointing_game(m, masks, tolerance=3).hits.tolist()
    ([0.0], [1.0])
    """
    maps, masks = _maps_and_masks(maps, masks)
    tolerance = check_number("tolerance", tolerance, low=0.0)
    peaks = maps == maps.max(axis=(1, 2), keepdims=True)
    hits = np.empty(len(maps))
    single = peaks.reshape(len(maps), -1).sum(axis=1) == 1
    if single.any():  # one maximum: its squared distance to the nearest mask pixel
        peak_y, peak_x = np.unravel_index(maps[single].reshape(single.sum(), -1).argmax(axis=1),
                                          maps.shape[1:])
        ys, xs = np.arange(maps.shape[1])[None, :, None], np.arange(maps.shape[2])[None, None, :]
        d2 = (ys - peak_y[:, None, None]) ** 2 + (xs - peak_x[:, None, None]) ** 2
        hits[single] = np.where(masks[single], d2, np.inf).min(axis=(1, 2)) <= tolerance ** 2
    if not single.all():  # ties: every maximum's distance, from one distance transform
        far = masks.shape[1] + masks.shape[2]  # farther than any distance within an image
        distance = ndimage.distance_transform_edt(~masks[~single], sampling=(far, 1.0, 1.0))
        tied = peaks[~single]
        hits[~single] = (tied & (distance <= tolerance)).sum(axis=(1, 2)) / tied.sum(axis=(1, 2))
    difficult = masks.mean(axis=(1, 2)) < DIFFICULT_AREA
    if distractors is not None:
        present = np.asarray(distractors)
        if present.shape != (len(maps),) or present.dtype != bool:
            raise ValueError(message("expected", name="distractors", got=f"{present.dtype} "
                                     f"{present.shape}", fix="", expected=f"bool ({len(maps)},)"))
        difficult = difficult & present
    return PointingGame(hits.astype(np.float64), difficult, tolerance)


# ------------------------------------------------------------------------------ baselines
def centre_map(n: int, size: tuple[int, int], *, sigma: float = CENTRE_SIGMA) -> np.ndarray:
    """The centre baseline: a Gaussian bump at the image centre, the same for every image.

    Objects are often near the centre of a photograph (the "centre bias"), so a map that knows
    nothing about the image but points at its centre is the floor every localisation table
    must beat.

    Parameters
    ----------
    n : int
        Number of maps.
    size : (H, W)
    sigma : float
        Standard deviation as a fraction of each side (default 0.25).

    Returns
    -------
    np.ndarray
        float64 (n, H, W), maximum 1 at the centre.

    Examples
    --------
    >>> centre_map(1, (3, 3))[0].argmax()
    np.int64(4)
    """
    n, height, width = check_int("n", n), check_int("height", size[0]), check_int("width", size[1])
    sigma = check_number("sigma", sigma, low=1e-6)
    y = (np.arange(height) + 0.5 - height / 2) / (sigma * height)
    x = (np.arange(width) + 0.5 - width / 2) / (sigma * width)
    bump = np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    return np.broadcast_to(bump, (n, height, width)).copy()


def random_map(n: int, size: tuple[int, int], *, seed: int | None = 0) -> np.ndarray:
    """The random baseline: independent uniform noise per pixel, (n, H, W) float64.

    Examples
    --------
    >>> random_map(2, (4, 4), seed=0).shape
    (2, 4, 4)
    """
    n, height, width = check_int("n", n), check_int("height", size[0]), check_int("width", size[1])
    return rng(seed).random((n, height, width))


# ------------------------------------------------------------------------------ boxes (lesson 02)
def _check_boxes(boxes: Any, n: int) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.shape != (n, 4):
        raise ValueError(message(
            "expected", name="boxes", expected=f"({n}, 4) as (y0, x0, y1, x1), one box per map",
            got=f"shape {boxes.shape}",
            fix="; for a data set with several boxes per image pick one, e.g. boxes[:, 0]"))
    return boxes


def _largest_component(keep: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of each (H, W) mask of the batch, all maps at once."""
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # connect within a map, never across the batch axis
    labels, count = ndimage.label(keep, structure=structure)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    owner = ndimage.minimum(
        np.arange(len(keep))[:, None, None] * np.ones_like(labels), labels, np.arange(1, count + 1)
    ).astype(int)
    order = np.lexsort((sizes, owner))  # by map, then by size: the last of each map is largest
    last = np.r_[owner[order][1:] != owner[order][:-1], True]
    largest = np.zeros(len(keep), int)
    largest[owner[order][last]] = order[last] + 1
    return labels == largest[:, None, None]


def box_from_map(maps: Any, *, quantile: float = 0.95, component: str = "largest") -> np.ndarray:
    """Box around the pixels above a per-map quantile (their largest connected part by default).

    Introduced in lesson 02. A pixel is kept when its value is strictly above the map's
    ``quantile`` or equals the map's maximum (so the box is never empty, and a flat background
    does not count as hot). As in Simonyan et al. (2014, Sec. 3.1), the box is then fitted to
    the largest 8-connected component of the kept pixels (``component="largest"``), or to all
    of them (``"all"``).

    Parameters
    ----------
    maps : array (N, H, W)
        Raw values; take ``np.abs`` first for signed maps.
    quantile : float
        Keep the pixels above this quantile of each map, in (0, 1). ``0.95`` keeps the
        hottest 5 % of the pixels.
    component : {"largest", "all"}

    Returns
    -------
    np.ndarray
        (N, 4) float boxes ``(y0, x0, y1, x1)``, end exclusive.

    Examples
    --------
    >>> m = np.zeros((1, 8, 8)); m[0, 2:4, 5:7] = 1.0
    >>> m[0, 7, 0] = 1.0  # an isolated hot pixel: left out of the largest component
    >>> box_from_map(m, quantile=0.9).tolist(), box_from_map(m, quantile=0.9, component="all").tolist()
    ([[2.0, 5.0, 4.0, 7.0]], [[2.0, 0.0, 8.0, 7.0]])
    """
    if not 0.0 < check_number("quantile", quantile, low=0.0, high=1.0) < 1.0:
        raise ValueError(message("number", name="quantile", value=quantile, range=" in (0, 1)"))
    check_option("component", component, COMPONENTS)
    maps = check_maps(maps)
    threshold = np.quantile(maps.reshape(len(maps), -1), quantile, axis=1)
    keep = (maps > threshold[:, None, None]) | (maps == maps.max(axis=(1, 2), keepdims=True))
    if component == "largest":
        keep = _largest_component(keep)
    rows, cols = keep.any(axis=2), keep.any(axis=1)
    height, width = maps.shape[1:]
    y0, y1 = rows.argmax(axis=1), height - rows[:, ::-1].argmax(axis=1)
    x0, x1 = cols.argmax(axis=1), width - cols[:, ::-1].argmax(axis=1)
    return np.stack([y0, x0, y1, x1], axis=1).astype(np.float64)


def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """Intersection over union of matching pairs of boxes (introduced in lesson 02).

    .. math:: \\mathrm{IoU}(A, B) = \\frac{|A \\cap B|}{|A \\cup B|}

    Parameters
    ----------
    boxes_a, boxes_b : array (N, 4)
        Boxes ``(y0, x0, y1, x1)``, end exclusive.

    Returns
    -------
    np.ndarray
        (N,) IoU in [0, 1].

    Examples
    --------
    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]])).round(4).tolist()
    [0.1429]
    """
    boxes_a = np.asarray(boxes_a, dtype=np.float64)
    boxes_b = _check_boxes(boxes_b, len(boxes_a))
    boxes_a = _check_boxes(boxes_a, len(boxes_b))
    top_left = np.maximum(boxes_a[:, :2], boxes_b[:, :2])
    bottom_right = np.minimum(boxes_a[:, 2:], boxes_b[:, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=1)
    area_a = np.prod(boxes_a[:, 2:] - boxes_a[:, :2], axis=1)
    area_b = np.prod(boxes_b[:, 2:] - boxes_b[:, :2], axis=1)
    union = area_a + area_b - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


def localisation_scores(maps: Any, boxes: Any, *, quantile: float = 0.95,
                        component: str = "largest",
                        iou_threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Score maps against ground-truth boxes: box IoU, box hit and pointing game (lesson 02).

    The predicted box is :func:`box_from_map` at ``quantile`` and ``component``; a *hit* is
    IoU ≥ ``iou_threshold`` (the ILSVRC localisation criterion Simonyan et al. report against,
    with 0.5); the *pointing game* (Zhang et al. 2016) counts a hit when the map's maximum lies
    inside the box (:func:`pointing_game` scores it against masks, with a tolerance).

    Parameters
    ----------
    maps : array (N, H, W)
        Larger = more important.
    boxes : array (N, 4)
        Ground-truth boxes ``(y0, x0, y1, x1)``, end exclusive.
    quantile, component
        Make the predicted box, see :func:`box_from_map`.
    iou_threshold : float
        IoU at or above which a predicted box counts as a hit.

    Returns
    -------
    dict
        ``"box"`` (N, 4) predicted boxes, ``"iou"`` (N,), ``"hit"`` (N,) bool,
        ``"pointing"`` (N,) bool.
    """
    maps = check_maps(maps)
    boxes = _check_boxes(boxes, len(maps))
    predicted = box_from_map(maps, quantile=quantile, component=component)
    iou = box_iou(predicted, boxes)
    peak_y, peak_x = np.unravel_index(maps.reshape(len(maps), -1).argmax(axis=1), maps.shape[1:])
    pointing = ((peak_y >= boxes[:, 0]) & (peak_y < boxes[:, 2])
                & (peak_x >= boxes[:, 1]) & (peak_x < boxes[:, 3]))
    return {"box": predicted, "iou": iou, "hit": iou >= iou_threshold, "pointing": pointing}
