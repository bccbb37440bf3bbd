"""Surrogate and optimised-mask explanations: LIME, KernelSHAP, meaningful perturbation.

Introduced in lesson 06.  LIME (Ribeiro, Singh & Guestrin, KDD 2016) and KernelSHAP (Lundberg &
Lee, NeurIPS 2017) switch superpixels on and off, run the model on every coalition (one compiled,
batched forward per internal batch, :func:`xaikit.core.masking.masked_outputs`) and fit a
weighted linear model; :func:`lime` and :func:`kernel_shap` return the map, :func:`lime_details`
and :func:`kernel_shap_details` the fitted surrogate (:class:`SurrogateDetails`).  Meaningful perturbation (Fong & Vedaldi, ICCV 2017) learns a smooth
deletion mask by gradient descent, all iterations inside one ``tf.function`` call per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from skimage.segmentation import quickshift, slic
from sklearn.linear_model import Ridge

from xaikit.attribution.registry import ANY_MODEL, register
from xaikit.base.checks import check_int, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.base.vocabulary import BASELINES, BATCH_SIZE
from xaikit.core.baselines import baseline_images
from xaikit.core.batching import batch_spec, cached, compile_function, run_batched, tensors
from xaikit.core.masking import masked_outputs
from xaikit.core.resolution import resolve
from xaikit.core.targets import score

__all__ = ["SEGMENTATIONS", "SurrogateDetails", "kernel_shap", "kernel_shap_details", "lime",
           "lime_details", "meaningful_perturbation", "superpixels"]

SEGMENTATIONS = ("slic", "quickshift", "grid")
SURROGATE_BASELINES = (*BASELINES, "segment_mean")  # + LIME's default: each superpixel's mean
QUICKSHIFT = {"kernel_size": 4, "max_dist": 200, "ratio": 0.2}  # LIME's image segmenter settings
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8  # Kingma & Ba (ICLR 2015), Algorithm 1
PAPER_BLUR_SIGMA, PAPER_IMAGE_SIZE = 10.0, 224  # Fong & Vedaldi blur with sigma 10 at 224 px
MASK_DOWNSAMPLING, MIN_MASK_SIDE = 8, 16  # mask side H / 8 (the paper's 28 at 224), >= 16 cells
MAX_ENUMERATED_FEATURES = 20  # KernelSHAP enumerates all 2^M - 2 coalitions up to this M


@dataclass
class SurrogateDetails:
    """What :func:`lime_details` / :func:`kernel_shap_details` return.

    Attributes
    ----------
    maps : (N, H, W) each pixel holds its segment's weight.
    segments : (N, H, W) int superpixel labels 0..M_n − 1.
    weights : list of (M_n,) per-segment weights (LIME coefficients / Shapley values).
    intercept : (N,) LIME's intercept; KernelSHAP's base value f(baseline).
    r2 : (N,) weighted R² of the surrogate on its samples (LIME's local fidelity).
    full_score : (N,) f(x), the unperturbed score.
    """

    maps: np.ndarray
    segments: np.ndarray
    weights: list[np.ndarray]
    intercept: np.ndarray
    r2: np.ndarray
    full_score: np.ndarray


def superpixels(
    images: np.ndarray, method: str | np.ndarray = "slic", *, n_segments: int = 50,
    compactness: float = 10.0,
) -> np.ndarray:
    """(N, H, W) int superpixel labels, renumbered 0..M − 1 per image.

    ``method``: "slic" (Achanta et al. 2012; ``n_segments``, ``compactness``), "quickshift"
    (Vedaldi & Soatto 2008; LIME's default, kernel_size=4, max_dist=200, ratio=0.2), "grid"
    (``round(sqrt(n_segments))``² equal squares), or an (N, H, W) / (H, W) int array of labels.
    """
    n, height, width, channels = images.shape
    if not isinstance(method, str):
        labels = np.broadcast_to(np.asarray(method), (n, height, width))
        if labels.dtype.kind not in "iu":
            raise ValueError(message("expected", name="segments", expected="integer labels",
                                     got=f"dtype {labels.dtype}", fix=""))
    elif method == "grid":
        side = max(1, round(np.sqrt(check_int("n_segments", n_segments))))
        rows = np.arange(height) * side // height
        cols = np.arange(width) * side // width
        labels = np.broadcast_to(rows[:, None] * side + cols[None, :], (n, height, width))
    elif method == "slic":
        labels = np.stack([slic(img, n_segments=check_int("n_segments", n_segments),
                                compactness=compactness, start_label=0, channel_axis=-1)
                           for img in images.astype(np.float64)])
    elif method == "quickshift":
        rgb = images if channels == 3 else np.repeat(images[..., :1], 3, axis=-1)
        labels = np.stack([quickshift(img, **QUICKSHIFT) for img in rgb.astype(np.float64)])
    else:
        raise ValueError(message("option", name="segmentation", value=method,
                                 allowed=", ".join(map(repr, SEGMENTATIONS))
                                 + " or an (N, H, W) int array of labels"))
    return np.stack([np.unique(lab, return_inverse=True)[1].reshape(height, width)
                     for lab in labels])


def _baselines(x: np.ndarray, baseline: Any, segments: np.ndarray, seed: Any) -> np.ndarray:
    """:func:`~xaikit.core.baselines.baseline_images`, plus "segment_mean": each superpixel's mean
    colour (LIME's default)."""
    if not (isinstance(baseline, str) and baseline == "segment_mean"):
        if isinstance(baseline, str):
            check_option("baseline", baseline, SURROGATE_BASELINES)
        return baseline_images(x, baseline, seed=seed)
    out = np.empty_like(x)
    for i, (img, seg) in enumerate(zip(x, segments)):
        counts = np.bincount(seg.ravel())[:, None]
        sums = np.stack([np.bincount(seg.ravel(), img[..., c].ravel()) for c in range(x.shape[-1])], 1)
        out[i] = (sums / counts)[seg]
    return out


def _coalition_scores(resolved, i, baseline, seg, coalitions, batch_size) -> np.ndarray:
    """f(x with the segments of each coalition kept, the rest ``baseline``), one score per row."""
    def keep(part):
        return coalitions[part][:, seg].astype(np.float32)

    out = masked_outputs(resolved.model, resolved.images[i], baseline, keep, len(coalitions),
                         batch_size=batch_size)
    return out @ resolved.weights[i]


def _prepare(method, model, images, targets, output, on, segmentation, n_segments, baseline,
             batch_size, seed):
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    segments = superpixels(resolved.images, segmentation, n_segments=n_segments)
    for i, seg in enumerate(segments):
        if seg.max() < 1:
            how = "the segments array" if isinstance(segmentation, np.ndarray) else (
                f"segmentation={segmentation!r}"
                + (" (SLIC merges noise-like images into one region)" if segmentation == "slic" else ""))
            raise ValueError(message("single_superpixel", index=i, how=how, method=method))
    return resolved, segments, _baselines(resolved.images, baseline, segments, seed)


@register("lime", supports=ANY_MODEL, stochastic=True,
          fast_options={"n_samples": 32, "segmentation": "grid", "n_segments": 9})
def lime(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    n_samples: int = 1000,
    segmentation: str | np.ndarray = "slic",
    n_segments: int = 50,
    baseline: str | float | np.ndarray = "segment_mean",
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    output: int | str | None = None,
    on: str = "probabilities",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """LIME on superpixels (Ribeiro, Singh & Guestrin, KDD 2016, eqs. 1–2, Sec. 3.3–3.4).

    Draw ``n_samples`` binary coalitions :math:`z' \\in \\{0, 1\\}^M` (the first is all ones), score
    the image with the absent superpixels replaced by ``baseline``, and fit the ridge surrogate
    :math:`g(z') = w \\cdot z' + b` minimising

    .. math:: \\sum_{z} \\pi_x(z)\\,\\big(f(z) - g(z')\\big)^2 + \\alpha \\lVert w \\rVert^2,
              \\qquad \\pi_x(z) = \\exp\\!\\big(-D(x, z)^2 / \\sigma^2\\big),

    with :math:`D` the cosine distance between :math:`z'` and the all-ones vector and
    :math:`\\sigma` = ``kernel_width``.

    Parameters
    ----------
    model, images, targets : as every method.
    n_samples : int
        Perturbed samples per image (forward passes).
    segmentation : {"slic", "quickshift", "grid"} or int array (N, H, W)
        Superpixels, see :func:`superpixels`.
    n_segments : int
        Target number of superpixels for "slic" / "grid".
    baseline : "segment_mean" (LIME's default: each superpixel's mean colour), or a baseline
        of :func:`xaikit.core.baselines.baseline_images` ("black", "grey", "mean", "blurred",
        "random"), a number or an array.
    kernel_width : float
        σ of the exponential kernel (the lime package's 0.25 for images).
    alpha : float
        Ridge penalty (the lime package's ``Ridge(alpha=1)``).
    output : int or str, optional
        Which output of a multi-output model.
    on : {"probabilities", "logits"}
        f: the class probability (as in the paper) or the logit.
    batch_size : int
        Coalitions per compiled forward call.
    seed : int or None
        Seed of the coalitions (and of a "random" baseline).

    Returns
    -------
    np.ndarray
        float32 (N, H, W): each pixel holds its superpixel's weight.  :func:`lime_details`
        returns the fitted surrogates (weights, intercepts, R² fidelity).

    Notes
    -----
    All superpixels enter the surrogate (the lime package's default for images; the paper's
    K-LASSO selection is not applied).  The lime package weights samples by the square root of
    this kernel; here :math:`\\pi_x` is used as written in the paper.
    """
    return lime_details(model, images, targets, n_samples=n_samples, segmentation=segmentation,
                 n_segments=n_segments, baseline=baseline, kernel_width=kernel_width, alpha=alpha,
                 output=output, on=on, batch_size=batch_size, seed=seed).maps


def lime_details(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    n_samples: int = 1000,
    segmentation: str | np.ndarray = "slic",
    n_segments: int = 50,
    baseline: str | float | np.ndarray = "segment_mean",
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    output: int | str | None = None,
    on: str = "probabilities",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> SurrogateDetails:
    """:func:`lime`'s fitted surrogates, one per image, with its map (same parameters).

    Returns
    -------
    SurrogateDetails
        ``maps``, ``segments``, per-segment ``weights``, ``intercept``, the weighted ``r2``
        (LIME's local fidelity) and ``full_score`` f(x).
    """
    n_samples = check_int("n_samples", n_samples, minimum=2)
    kernel_width = check_number("kernel_width", kernel_width, low=0.0, low_open=True)
    alpha = check_number("alpha", alpha, low=0.0)
    resolved, segments, fills = _prepare("LIME", model, images, targets, output, on,
                                         segmentation, n_segments, baseline, batch_size, seed)
    generator = rng(seed)
    maps, weights, intercepts, r2s, full = [], [], [], [], []
    for i, seg in enumerate(segments):
        n_features = int(seg.max()) + 1
        coalitions = generator.integers(0, 2, (n_samples, n_features))
        coalitions[0] = 1
        scores = _coalition_scores(resolved, i, fills[i], seg, coalitions, batch_size)
        kept = coalitions.sum(axis=1)
        cosine = 1.0 - np.sqrt(kept / n_features)
        kernel = np.exp(-cosine**2 / kernel_width**2)
        surrogate = Ridge(alpha=alpha).fit(coalitions, scores, sample_weight=kernel)
        weights.append(surrogate.coef_.astype(np.float32))
        intercepts.append(surrogate.intercept_)
        r2s.append(surrogate.score(coalitions, scores, sample_weight=kernel))
        full.append(scores[0])
        maps.append(weights[-1][seg])
    return SurrogateDetails(np.stack(maps).astype(np.float32), segments, weights,
                            np.array(intercepts, np.float32), np.array(r2s, np.float32),
                            np.array(full, np.float32))


def shapley_kernel(n_features: int, sizes: np.ndarray) -> np.ndarray:
    """The Shapley kernel π(z') = (M − 1) / (C(M, |z'|) |z'| (M − |z'|)) (Lundberg & Lee, Thm. 2)."""
    binom = np.array([comb(n_features, int(s)) for s in sizes], np.float64)
    return (n_features - 1) / (binom * sizes * (n_features - sizes))


def _shap_coalitions(n_features: int, n_samples: int, generator: np.random.Generator):
    """All proper coalitions with their kernel weights when they fit in ``n_samples``, else paired
    samples drawn with sizes ∝ the kernel's total mass per size (weights then equal)."""
    if n_features <= MAX_ENUMERATED_FEATURES and 2**n_features - 2 <= n_samples:
        codes = np.arange(1, 2**n_features - 1)
        coalitions = (codes[:, None] >> np.arange(n_features)) & 1
        return coalitions, shapley_kernel(n_features, coalitions.sum(axis=1))
    sizes = np.arange(1, n_features)
    mass = (n_features - 1) / (sizes * (n_features - sizes))
    drawn = generator.choice(sizes, size=(n_samples + 1) // 2, p=mass / mass.sum())
    order = np.argsort(generator.random((len(drawn), n_features)), axis=1)
    half = (np.argsort(order, axis=1) < drawn[:, None]).astype(np.int64)
    coalitions = np.concatenate([half, 1 - half])[:n_samples]
    return coalitions, np.ones(len(coalitions))


def _constrained_fit(coalitions, scores, kernel, base, full):
    """Weighted least squares with Σφ = f(x) − f(baseline) (the last φ eliminated)."""
    delta = full - base
    target = scores - base - coalitions[:, -1] * delta
    design = coalitions[:, :-1] - coalitions[:, -1:]
    root = np.sqrt(kernel)[:, None]
    head, *_ = np.linalg.lstsq(design * root, target * root[:, 0], rcond=None)
    phi = np.append(head, delta - head.sum())
    fitted = base + coalitions @ phi
    residual = np.sum(kernel * (scores - fitted) ** 2)
    total = np.sum(kernel * (scores - np.average(scores, weights=kernel)) ** 2)
    return phi, 1.0 - residual / total if total > 0 else 1.0


@register("kernel_shap", supports=ANY_MODEL, stochastic=True,
          fast_options={"n_samples": 32, "segmentation": "grid", "n_segments": 9})
def kernel_shap(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    n_samples: int = 1024,
    segmentation: str | np.ndarray = "slic",
    n_segments: int = 50,
    baseline: str | float | np.ndarray = "segment_mean",
    output: int | str | None = None,
    on: str = "probabilities",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """KernelSHAP over superpixels (Lundberg & Lee, NeurIPS 2017, Thm. 2).

    The Shapley values φ of the M superpixels solve the weighted linear regression

    .. math:: \\min_\\phi \\sum_{z'} \\pi(z') \\big(f(h_x(z')) - \\phi_0 - \\phi \\cdot z'\\big)^2,
              \\quad \\pi(z') = \\frac{M - 1}{\\binom{M}{|z'|}\\,|z'|\\,(M - |z'|)},

    with the infinite-weight coalitions imposed as constraints: :math:`\\phi_0 = f(\\text{baseline})`
    and efficiency :math:`\\sum_i \\phi_i = f(x) - f(\\text{baseline})`.  :math:`h_x(z')` keeps the
    superpixels with :math:`z'_i = 1` and replaces the others by ``baseline``.

    Parameters
    ----------
    model, images, targets, segmentation, n_segments, baseline, output, on, batch_size, seed
        As :func:`lime`.
    n_samples : int
        Coalitions evaluated per image besides the empty and the full one.  When
        ``n_samples >= 2**M - 2`` every coalition is enumerated and φ are the exact Shapley values;
        otherwise coalitions are sampled in complementary pairs with sizes drawn in proportion to
        the kernel's mass per size (then weighted equally), as in the shap package.

    Returns
    -------
    np.ndarray
        float32 (N, H, W): each pixel holds its superpixel's φ.  :func:`kernel_shap_details`
        returns φ per segment, the base value f(baseline) and the fit's R².

    Notes
    -----
    Cost: N × (min(n_samples, 2^M − 2) + 2) forward passes.
    """
    return kernel_shap_details(model, images, targets, n_samples=n_samples,
                               segmentation=segmentation, n_segments=n_segments, baseline=baseline,
                               output=output, on=on, batch_size=batch_size, seed=seed).maps


def kernel_shap_details(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    n_samples: int = 1024,
    segmentation: str | np.ndarray = "slic",
    n_segments: int = 50,
    baseline: str | float | np.ndarray = "segment_mean",
    output: int | str | None = None,
    on: str = "probabilities",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> SurrogateDetails:
    """:func:`kernel_shap`'s Shapley values per superpixel, with its map (same parameters).

    Returns
    -------
    SurrogateDetails
        ``maps``, ``segments``, φ per segment in ``weights``, the base value f(baseline) in
        ``intercept``, the weighted ``r2`` of the fit and ``full_score`` f(x).
    """
    n_samples = check_int("n_samples", n_samples, minimum=2)
    resolved, segments, fills = _prepare("KernelSHAP", model, images, targets, output, on,
                                         segmentation, n_segments, baseline, batch_size, seed)
    generator = rng(seed)
    maps, values, bases, r2s, full = [], [], [], [], []
    for i, seg in enumerate(segments):
        n_features = int(seg.max()) + 1
        coalitions, kernel = _shap_coalitions(n_features, n_samples, generator)
        ends = np.stack([np.zeros(n_features, np.int64), np.ones(n_features, np.int64)])
        scores = _coalition_scores(resolved, i, fills[i], seg, np.concatenate([ends, coalitions]),
                                   batch_size)
        phi, r2 = _constrained_fit(coalitions, scores[2:], kernel, scores[0], scores[1])
        values.append(phi.astype(np.float32))
        bases.append(scores[0])
        r2s.append(r2)
        full.append(scores[1])
        maps.append(values[-1][seg])
    return SurrogateDetails(np.stack(maps).astype(np.float32), segments, values,
                            np.array(bases, np.float32), np.array(r2s, np.float32),
                            np.array(full, np.float32))


def _optimiser(model: keras.Model, iterations: int, shape: tuple, params: tuple, x: np.ndarray,
               w: np.ndarray):
    """All iterations for a batch of images like ``x``, traced once (a concrete function for any
    batch size: no call retraces)."""
    l1, tv, tv_beta, learning_rate, jitter_std = params

    def optimise(x, perturbed, weights, seed):
        mask = tf.ones([tf.shape(x)[0], *shape, 1])
        first, second = tf.zeros_like(mask), tf.zeros_like(mask)
        size = tf.shape(x)[1:3]
        for step in tf.range(1, iterations + 1):
            with tf.GradientTape() as tape:
                tape.watch(mask)
                up = tf.image.resize(mask, size, "bilinear")
                jitter = jitter_std * tf.random.stateless_normal(  # shared by the batch: the
                    tf.concat([[1], tf.shape(up)[1:]], 0),         # result does not depend on
                    seed + tf.cast(step, tf.int64))                # batch_size
                kept = tf.clip_by_value(up + jitter, 0.0, 1.0)
                scores = score(model(x * kept + perturbed * (1.0 - kept), training=False), weights)
                dy = tf.abs(mask[:, 1:] - mask[:, :-1]) ** tv_beta
                dx = tf.abs(mask[:, :, 1:] - mask[:, :, :-1]) ** tv_beta
                loss = tf.reduce_sum(
                    l1 * tf.reduce_mean(1.0 - mask, axis=(1, 2, 3))
                    + tv * (tf.reduce_mean(dy, axis=(1, 2, 3)) + tf.reduce_mean(dx, axis=(1, 2, 3)))
                    + scores)
            grad = tape.gradient(loss, mask)
            first = ADAM_BETA1 * first + (1.0 - ADAM_BETA1) * grad
            second = ADAM_BETA2 * second + (1.0 - ADAM_BETA2) * grad**2
            t = tf.cast(step, tf.float32)
            update = (first / (1 - ADAM_BETA1**t)) / (tf.sqrt(second / (1 - ADAM_BETA2**t))
                                                      + ADAM_EPSILON)
            mask = tf.clip_by_value(mask - learning_rate * update, 0.0, 1.0)
        return 1.0 - tf.image.resize(mask, size, "bilinear")[..., 0]

    return compile_function(optimise, [batch_spec(x), batch_spec(x), batch_spec(w),
                                       tf.TensorSpec([2], tf.int64)])


@register("meaningful_perturbation", supports=ANY_MODEL, stochastic=True,
          fast_options={"iterations": 5})
def meaningful_perturbation(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    mask_size: int | None = None,
    iterations: int = 300,
    learning_rate: float = 0.1,
    l1: float = 0.08,
    tv: float = 0.2,
    tv_beta: float = 3.0,
    baseline: str | float | np.ndarray = "blurred",
    sigma: float | None = None,
    jitter: float = 0.05,
    output: int | str | None = None,
    on: str = "probabilities",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Meaningful perturbation: the smallest smooth deletion mask (Fong & Vedaldi, ICCV 2017, eq. 4).

    A low-resolution mask :math:`m \\in [0, 1]^{h \\times w}` (1 = keep) is upsampled bilinearly to
    the image and blends it with a perturbed copy, by default its blur,
    :math:`\\Phi(x; m) = m \\odot x + (1 - m) \\odot \\text{blur}_\\sigma(x)`.  Adam minimises

    .. math:: \\lambda_1 \\overline{\\lvert 1 - m \\rvert} + \\lambda_2\\, \\overline{\\lVert \\nabla m
              \\rVert_\\beta^\\beta} + f_c(\\Phi(x; m)),

    projecting m on [0, 1] after each step; the saliency is the deleted part, :math:`1 - m`.

    Parameters
    ----------
    model, images, targets : as every method.
    mask_size : int, optional
        Side of the mask (default H / 8, the paper's 28 for 224-pixel images, but at least 16
        cells, so that small images keep cells of a few pixels).
    iterations : int
        Adam steps (the paper uses 500).
    learning_rate : float
        Adam step size (paper: 0.1); Adam's betas and epsilon are Kingma & Ba's
        (``ADAM_BETA1``, ``ADAM_BETA2``, ``ADAM_EPSILON``).
    l1, tv, tv_beta : float
        λ1 (sparsity, a mean over the mask; the default 0.08 is the paper's λ1 = 1e-4 summed
        over its 28 × 28 mask), λ2 (total variation, a mean) and β (paper: 3).  A much larger λ1
        keeps the mask at 1 on confidently classified images, where the softmax is saturated and
        its gradient is smaller than the sparsity term's.
    baseline : {"blurred", "black", "grey", "mean", "random"}, number or array
        The perturbation of Sec. 3.2: "blurred" (the paper's choice), a constant ("black",
        "grey", "mean") or noise ("random").
    sigma : float, optional
        Blur σ in pixels for ``baseline="blurred"`` (default 10 · H / 224, the paper's σ = 10
        at 224 pixels).
    jitter : float
        Std of Gaussian noise added to the upsampled mask at each step (the paper's remedy against
        adversarial masks); drawn from ``seed``, the same for every image of a step, so results
        do not depend on ``batch_size``.
    output : int or str, optional
        Which output of a multi-output model.
    on : {"probabilities", "logits"}
        f_c: the class probability (the paper) or the logit.
    batch_size : int
        Images optimised together (one compiled call runs all iterations for a batch).
    seed : int or None

    Returns
    -------
    np.ndarray (N, H, W) float32 in [0, 1]: how much of each pixel was deleted.

    Notes
    -----
    Cost: ``iterations`` forward + backward passes per image.  λ's are means over the mask (not
    sums as in the paper), so they do not depend on the mask size.
    """
    iterations = check_int("iterations", iterations)
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    x = resolved.images
    default_side = min(x.shape[1], max(MIN_MASK_SIDE, x.shape[1] // MASK_DOWNSAMPLING))
    side = check_int("mask_size", mask_size if mask_size is not None else default_side)
    default_sigma = PAPER_BLUR_SIGMA * x.shape[1] / PAPER_IMAGE_SIZE
    sigma = check_number("sigma", sigma if sigma is not None else default_sigma, low=0.0)
    params = tuple(check_number(name, value, low=0.0) for name, value in
                   (("l1", l1), ("tv", tv), ("tv_beta", tv_beta),
                    ("learning_rate", learning_rate), ("jitter", jitter)))
    shape = (side, max(2, round(side * x.shape[2] / x.shape[1])))
    w = resolved.weights
    optimise = cached(resolved.model, ("meaningful_perturbation", iterations, shape, params,
                                       x.shape[1:], w.shape[1:]),
                      lambda: _optimiser(resolved.model, iterations, shape, params, x, w))
    perturbed = baseline_images(x, baseline, seed=seed, blur_sigma=sigma)
    base_seed = tf.constant(rng(seed).integers(0, 2**31 - 1, size=2), tf.int64)
    maps = run_batched(lambda part: optimise(*tensors(x[part], perturbed[part], w[part]), base_seed),
                       len(x), batch_size)
    return maps.astype(np.float32)
