"""Gradient family: saliency, gradient x input, SmoothGrad, interior and integrated gradients.

Introduced in lessons 02 (saliency) and 04 (why gradients are noisy, and the fixes). Every method
differentiates one score per image, S(x) (the target logit by default, see
:mod:`xaikit.core.targets`), through one compiled, batched forward+backward per internal batch.
Maps come back (N, H, W); ``per_channel=True`` keeps the channel axis (``gradient`` always does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from xaikit.attribution.registry import ANY_MODEL, get_method, register
from xaikit.base.checks import check_images, check_int, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core import batching
from xaikit.core.baselines import baseline_images
from xaikit.core.gradients import (
    gaussian_noise,
    input_gradients,
    noisy_gradient_sums,
    path_gradient_sums,
    resolve_gradients,
)
from xaikit.core.maps import accumulate, reduce_channels
from xaikit.core.resolution import resolve

__all__ = [
    "QUADRATURE_RULES",
    "completeness_gap",
    "gradient",
    "gradient_x_input",
    "integrated_gradients",
    "interior_gradients",
    "quadrature",
    "saliency",
    "smoothgrad",
]

QUADRATURE_RULES = ("riemann_left", "riemann_right", "riemann_mid", "trapezoid")


@register(supports=ANY_MODEL, per_channel=True)
def gradient(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """The raw signed input gradient dS/dx (Simonyan, Vedaldi & Zisserman, ICLR-W 2014, Eq. 2).

    .. math:: w = \\partial S_c / \\partial x \\big|_{x_0}

    Parameters
    ----------
    model : keras.Model
        Any single-input classifier (Sequential, functional, nested; softmax or logits head).
    images : array (N, H, W, C)
    targets : None, int, N ints or tuple (A, B)
        The class(es) to explain; None is the predicted class; (A, B) explains S_A - S_B.
    output : int or str, optional
        Which output of a multi-output model.
    on : {"logits", "probabilities"}
        Differentiate the pre-softmax score (default) or the probability.
    batch_size : int
        Images per compiled forward+backward call.

    Returns
    -------
    np.ndarray
        float32 (N, H, W, C).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> gradient(model, np.ones((1, 4, 4, 1)), 0).shape
    (1, 4, 4, 1)
    """
    grads, _, _ = input_gradients(model, images, targets, on=on, output=output,
                                  batch_size=batch_size)
    return grads


@register(supports=ANY_MODEL)
def saliency(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    signed: bool = False,
    per_channel: bool = False,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Image-specific class saliency (Simonyan, Vedaldi & Zisserman, ICLR-W 2014, Sec. 3.1).

    .. math:: M_{ij} = \\max_c \\left| \\frac{\\partial S}{\\partial x_{ijc}} \\right|

    Parameters
    ----------
    signed : bool
        Keep the sign (of the strongest channel) instead of the magnitude.
    per_channel : bool
        Return (N, H, W, C) instead of reducing over channels.
    model, images, targets, output, on, batch_size
        As :func:`gradient`.

    Returns
    -------
    np.ndarray
        (N, H, W), or (N, H, W, C) with ``per_channel=True``.

    Notes
    -----
    tf-keras-vis ``Saliency`` returns the same map after its min-max normalisation
    (``normalize_map=True``); xaikit returns raw values (normalise with :mod:`xaikit.viz`).
    """
    grads = gradient(model, images, targets, output=output, on=on, batch_size=batch_size)
    return reduce_channels(grads, signed=signed, per_channel=per_channel)


@register(supports=ANY_MODEL)
def gradient_x_input(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    per_channel: bool = False,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Gradient times input (Shrikumar et al., ICML 2017, arXiv:1704.02685, Sec. 2.1).

    .. math:: R_{ij} = \\sum_c x_{ijc} \\, \\partial S / \\partial x_{ijc}

    Summed over channels by default (the first-order Taylor term of S at 0); ``per_channel=True``
    returns the (N, H, W, C) products. Other parameters as :func:`gradient`.
    """
    grads, _, resolved = input_gradients(model, images, targets, on=on, output=output,
                                         batch_size=batch_size)
    products = grads * resolved.images
    return products if per_channel else products.sum(axis=-1)


@register(supports=ANY_MODEL, stochastic=True, fast_options={"n_samples": 4})
def smoothgrad(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    method: str | Callable[..., np.ndarray] = "gradient",
    n_samples: int = 50,
    sigma: float = 0.15,
    squared: bool = False,
    vargrad: bool = False,
    per_channel: bool = False,
    noise: np.ndarray | None = None,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
    **method_options: Any,
) -> np.ndarray:
    """SmoothGrad: average a method's map over noisy copies (Smilkov et al., 2017, arXiv:1706.03825, Eq. 3).

    .. math:: \\hat M(x) = \\frac{1}{n} \\sum_{i=1}^{n} M(x + \\mathcal{N}(0, \\sigma^2)),
              \\quad \\sigma = \\text{sigma} \\cdot (\\max x - \\min x)

    Parameters
    ----------
    method : str or callable
        The map M to smooth (any registered method; default the raw ``gradient``).
    n_samples : int
        n, the number of noisy copies per image.
    sigma : float
        Noise level as a fraction of each image's range (max - min); the paper uses 0.1-0.2.
    squared : bool
        SmoothGrad-squared (Hooker et al., NeurIPS 2019): average M^2.
    vargrad : bool
        VarGrad (Adebayo et al., 2018): the variance of M over the noisy copies.
    per_channel : bool
        Keep (N, H, W, C) when M is per channel; otherwise reduce with max_c |.|.
    noise : array (n_samples, N, H, W, C), optional
        Explicit standard-normal noise (scaled by sigma and the range); overrides ``seed``.
        This is tf-keras-vis's layout (``np.random.normal`` of shape (n_samples, N, H, W, C)).
    seed : int, Generator or None
        Noise seed. Copy i is the Philox stream of the seed at counter i
        (:func:`xaikit.core.gradients.gaussian_noise`), the same draw for every image (as
        Xplique's SmoothGrad): each image's map averages n independent draws, and it depends
        neither on ``batch_size`` nor on the other images explained with it.
    method_options
        Passed on to ``method``.
    model, images, targets, output, on, batch_size
        As :func:`gradient`. Targets are resolved once on the clean images.

    Returns
    -------
    np.ndarray
        (N, H, W), or (N, H, W, C) with ``per_channel=True`` and a per-channel ``method``.

    Notes
    -----
    All n_samples * N noisy images run through compiled functions in internal batches of
    ``batch_size``. For the default ``method="gradient"`` the noise is drawn, added and the
    gradients summed per image inside one compiled function. tf-keras-vis
    ``Saliency(smooth_samples=n)`` averages |gradient| (its default ``gradient_modifier``) per
    copy: that is ``smoothgrad(method="saliency", per_channel=True)`` followed by max over
    channels; with ``gradient_modifier=None`` it averages raw gradients, as here by default.
    """
    n_samples = check_int("n_samples", n_samples)
    sigma = check_number("sigma", sigma, low=0.0)
    if squared and vargrad:
        raise ValueError(message("exclusive", first="squared", second="vargrad"))
    explain_map = get_method(method)
    resolved = resolve_gradients(model, images, targets, on=on, output=output,
                                 batch_size=batch_size)
    clean = resolved.images
    n_images, shape = len(clean), clean.shape[1:]
    if noise is not None:
        noise = check_images(np.reshape(noise, (-1, *shape)), name="noise")
        if noise.shape[0] != n_samples * n_images:
            raise ValueError(message("noise_count", got=noise.shape[0], n_samples=n_samples,
                                     n_images=n_images, shape=", ".join(map(str, shape))))
    key = np.array([rng(seed).integers(2**63, dtype=np.uint64)], np.uint64)
    scale = (sigma * (clean.max(axis=(1, 2, 3)) - clean.min(axis=(1, 2, 3)))).astype(np.float32)
    second = None
    if explain_map is gradient and noise is None and not method_options:
        sums = noisy_gradient_sums(resolved, scale, key, n_samples, squares=squared or vargrad,
                                   batch_size=batch_size)
        total, second = sums[0], (sums[1] if len(sums) > 1 else None)
    else:
        total = None
        for part in batching.batch_slices(n_images * n_samples, batch_size):
            flat = np.arange(part.start, part.stop)
            which, sample = flat // n_samples, flat % n_samples  # image-major: runs of one image
            if noise is not None:
                draws = noise[sample * n_images + which]
            else:
                first = int(sample.min())
                draws = gaussian_noise(key, first, int(sample.max()) - first + 1,
                                       shape).numpy()[sample - first]
            noisy = clean[which] + scale[which, None, None, None] * draws
            maps = explain_map(model, noisy, _take(resolved.targets, which), output=output, on=on,
                               batch_size=batch_size, **method_options).astype(np.float64)
            if total is None:
                total = np.zeros((n_images, *maps.shape[1:]))
                second = np.zeros_like(total) if squared or vargrad else None
            accumulate(total, which, maps)
            if second is not None:
                accumulate(second, which, maps * maps)
    mean = total / n_samples
    if squared:
        mean = second / n_samples
    elif vargrad:
        mean = np.maximum(second / n_samples - mean**2, 0.0)
    if mean.ndim == 4 and not per_channel:
        mean = reduce_channels(mean)
    return mean.astype(np.float32)


def _take(targets: np.ndarray | tuple, which: np.ndarray) -> np.ndarray | tuple:
    if isinstance(targets, tuple):
        return tuple(t[which] for t in targets)
    return targets[which]


@register(supports=ANY_MODEL)
def interior_gradients(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    alpha: float = 0.1,
    signed: bool = False,
    per_channel: bool = False,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Interior gradients: the gradient at the scaled image alpha * x (Sundararajan et al., 2016,
    "Gradients of Counterfactuals", arXiv:1611.02639, Sec. 3; Kim's slides, "Interior Gradient").

    .. math:: \\text{IntGrad}(x) = \\frac{\\partial S(x^*)}{\\partial x^*}, \\quad x^* = \\alpha x,
              \\quad 0 < \\alpha \\le 1

    A small alpha leaves the saturated regime where the gradient at x vanishes. Targets are
    resolved on x. Returns the :func:`saliency` reduction (``signed``, ``per_channel`` as there).
    """
    alpha = check_number("alpha", alpha, low=0.0, high=1.0, low_open=True)
    resolved = resolve_gradients(model, images, targets, on=on, output=output,
                                 batch_size=batch_size)
    _, grads = batching.gradients(resolved.model, alpha * resolved.images, resolved.weights,
                                  batch_size=batch_size)
    return reduce_channels(grads, signed=signed, per_channel=per_channel)


def quadrature(rule: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes alpha_k in [0, 1] and weights w_k with sum_k w_k g(alpha_k) ~ integral_0^1 g.

    ``riemann_left`` (k/m, k = 0..m-1), ``riemann_right`` (k = 1..m, Sundararajan et al. Eq. 3),
    ``riemann_mid`` ((k + 1/2)/m), each with weight 1/m; ``trapezoid`` (k/m, k = 0..m, weights
    1/m with the two end points halved: m + 1 nodes).

    Examples
    --------
    >>> alphas, weights = quadrature("trapezoid", 4)
    >>> float((weights * alphas**2).sum())
    0.34375
    """
    check_option("rule", rule, QUADRATURE_RULES)
    steps = check_int("steps", steps)
    k = np.arange(steps, dtype=np.float64)
    if rule == "trapezoid":
        alphas = np.arange(steps + 1, dtype=np.float64) / steps
        weights = np.full(steps + 1, 1.0 / steps)
        weights[[0, -1]] /= 2
        return alphas, weights
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_mid": 0.5}[rule]
    return (k + offset) / steps, np.full(steps, 1.0 / steps)


@register(supports=ANY_MODEL, fast_options={"steps": 8})
def integrated_gradients(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    baseline: Any = "black",
    steps: int = 64,
    rule: str = "trapezoid",
    per_channel: bool = False,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017, arXiv:1703.01365, Eq. 1 and 3).

    .. math:: \\text{IG}_i(x) = (x_i - x'_i) \\int_0^1
              \\frac{\\partial S(x' + \\alpha (x - x'))}{\\partial x_i} \\, d\\alpha
              \\approx (x_i - x'_i) \\sum_k w_k \\, \\partial_i S(x' + \\alpha_k (x - x'))

    Completeness (Prop. 1): :math:`\\sum_i \\text{IG}_i(x) = S(x) - S(x')`, up to the quadrature
    error that :func:`completeness_gap` measures.

    Parameters
    ----------
    baseline : {"black", "grey", "mean", "blurred", "random"}, number or array
        x', see :func:`xaikit.core.baselines.baseline_images`.
    steps : int
        m, the number of intervals on the straight path (64 by default).
    rule : {"riemann_left", "riemann_right", "riemann_mid", "trapezoid"}
        Quadrature rule, see :func:`quadrature` (``trapezoid`` evaluates m + 1 points).
    per_channel : bool
        Return (N, H, W, C); by default channels are summed (which keeps completeness).
    seed : int or None
        For ``baseline="random"``.
    model, images, targets, output, on, batch_size
        As :func:`gradient`. ``batch_size`` bounds memory: path points of all images are run
        through the compiled function ``batch_size`` at a time.

    Returns
    -------
    np.ndarray
        (N, H, W) or (N, H, W, C) attributions.

    Notes
    -----
    The path points are made, differentiated and summed per image (weights w_k) inside one
    compiled function per internal batch.
    """
    alphas, weights = quadrature(rule, steps)
    resolved = resolve_gradients(model, images, targets, on=on, output=output,
                                 batch_size=batch_size)
    base = baseline_images(resolved.images, baseline, seed=seed)
    total = path_gradient_sums(resolved, base, alphas, weights, batch_size=batch_size)
    attributions = ((resolved.images - base) * total).astype(np.float32)
    return attributions if per_channel else attributions.sum(axis=-1)


def completeness_gap(
    model: keras.Model,
    images: Any,
    maps: Any,
    targets: Any = None,
    *,
    baseline: Any = "black",
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """The completeness gap of attributions (Sundararajan et al., ICML 2017, Prop. 1):

    .. math:: \\delta(x) = \\sum_i R_i(x) - \\big(S(x) - S(x')\\big)

    0 for exact integrated gradients and for DeepLIFT's summation-to-delta; for IG by
    quadrature it shrinks with ``steps``.

    Parameters
    ----------
    maps : array (N, H, W) or (N, H, W, C)
        The attributions R (summed over everything but the image axis).
    baseline, seed : as given to the method (x').
    model, images, targets, output, on, batch_size
        As given to the method.

    Returns
    -------
    np.ndarray
        float64 (N,).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> x = np.ones((1, 2, 2, 1), np.float32)
    >>> ig = integrated_gradients(model, x, 0, steps=4)
    >>> bool(abs(completeness_gap(model, x, ig, 0)[0]) < 1e-5)
    True
    """
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    maps = np.asarray(maps, np.float64)
    if maps.ndim not in (3, 4) or len(maps) != len(resolved.images):
        raise ValueError(message("expected", name="maps",
                                 expected=f"({len(resolved.images)}, H, W) or (N, H, W, C)",
                                 got=f"shape {maps.shape}", fix=""))
    base = baseline_images(resolved.images, baseline, seed=seed)
    head = resolved.model
    end = (batching.predict(head, resolved.images, batch_size=batch_size) * resolved.weights)
    start = (batching.predict(head, base, batch_size=batch_size) * resolved.weights)
    return maps.reshape(len(maps), -1).sum(axis=1) - (end.sum(-1) - start.sum(-1))
