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
from scipy import ndimage

from xaikit.attribution.registry import ANY_MODEL, get_method, register
from xaikit.core import batching, input_gradients, resolve
from xaikit.core.checks import check_images, check_int, check_number, check_option, rng

__all__ = [
    "BASELINES",
    "QUADRATURE_RULES",
    "baseline_images",
    "gradient",
    "gradient_x_input",
    "integrated_gradients",
    "interior_gradients",
    "quadrature",
    "accumulate",
    "reduce_channels",
    "saliency",
    "smoothgrad",
]

QUADRATURE_RULES = ("riemann_left", "riemann_right", "riemann_mid", "trapezoid")
BASELINES = ("black", "mean", "blurred", "random")
BLUR_SIGMA_FRACTION = 0.1  # the blurred baseline's Gaussian sigma, as a fraction of max(H, W)


def reduce_channels(grads: np.ndarray, *, signed: bool = False, per_channel: bool = False) -> np.ndarray:
    """The channel reduction of Simonyan et al. (2014), Sec. 3.1: M_ij = max_c |g_ijc|.

    ``signed=True`` keeps the sign (of the channel with the largest magnitude);
    ``per_channel=True`` keeps (N, H, W, C) (|g|, or g when signed).
    """
    if per_channel:
        return grads if signed else np.abs(grads)
    magnitude = np.abs(grads[..., 0])
    chosen = grads[..., 0].copy()
    for channel in range(1, grads.shape[-1]):  # a loop over the few channels: fast in NumPy
        values = grads[..., channel]
        stronger = np.abs(values) > magnitude
        np.maximum(magnitude, np.abs(values), out=magnitude)
        chosen = np.where(stronger, values, chosen)
    return chosen if signed else magnitude


def accumulate(total: np.ndarray, which: np.ndarray, values: np.ndarray) -> None:
    """``total[which[j]] += values[j]`` for sorted ``which`` (runs of one image), via reduceat."""
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    total[which[starts]] += np.add.reduceat(values, starts, axis=0)


@register(supports=ANY_MODEL, per_channel=True)
def gradient(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
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
    on : {"logits", "probabilities"}
        Differentiate the pre-softmax score (default) or the model's output.
    output : int or str, optional
        Which output of a multi-output model.
    batch_size : int
        Images per compiled forward+backward call.

    Returns
    -------
    np.ndarray
        float32 (N, H, W, C).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> gradient(model, np.ones((1, 4, 4, 1)), 0).shape
    (1, 4, 4, 1)
    """
    grads, _, _ = input_gradients(model, images, targets, on=on, output=output, batch_size=batch_size)
    return grads


@register(supports=ANY_MODEL)
def saliency(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    signed: bool = False,
    per_channel: bool = False,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Image-specific class saliency (Simonyan, Vedaldi & Zisserman, ICLR-W 2014, Sec. 3.1).

    .. math:: M_{ij} = \\max_c \\left| \\frac{\\partial S}{\\partial x_{ijc}} \\right|

    Parameters
    ----------
    signed : bool
        Keep the sign (of the strongest channel) instead of the magnitude.
    per_channel : bool
        Return (N, H, W, C) instead of reducing over channels.
    model, images, targets, on, output, batch_size
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
    grads = gradient(model, images, targets, on=on, output=output, batch_size=batch_size)
    return reduce_channels(grads, signed=signed, per_channel=per_channel)


@register(supports=ANY_MODEL)
def gradient_x_input(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    per_channel: bool = False,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
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
    seed: int | np.random.Generator | None = 0,
    noise: np.ndarray | None = None,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
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
    seed : int, Generator or None
        Noise seed; the standard-normal noise is drawn image by image,
        ``rng(seed).standard_normal((N, n_samples, H, W, C))`` in order, so it does not depend on
        ``batch_size``.
    noise : array (n_samples, N, H, W, C), optional
        Explicit standard-normal noise (scaled by sigma and the range); overrides ``seed``.
        This is tf-keras-vis's layout (``np.random.normal`` of shape (n_samples, N, H, W, C)).
    method_options
        Passed on to ``method``.
    model, images, targets, on, output, batch_size
        As :func:`gradient`. Targets are resolved once on the clean images.

    Returns
    -------
    np.ndarray
        (N, H, W), or (N, H, W, C) with ``per_channel=True`` and a per-channel ``method``.

    Notes
    -----
    All n_samples * N noisy images run through the compiled function in internal batches of
    ``batch_size``. tf-keras-vis ``Saliency(smooth_samples=n)`` averages |gradient| (its default
    ``gradient_modifier``) per copy: that is ``smoothgrad(method="saliency", per_channel=True)``
    followed by max over channels; with ``gradient_modifier=None`` it averages raw gradients,
    as here by default.
    """
    n_samples = check_int("n_samples", n_samples)
    sigma = check_number("sigma", sigma, low=0.0)
    if squared and vargrad:
        raise ValueError("squared=True and vargrad=True are exclusive; allowed: one of them or neither")
    explain_map = get_method(method)
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    clean = resolved.images
    n_images, shape = len(clean), clean.shape[1:]
    if noise is not None:
        noise = check_images(np.reshape(noise, (-1, *shape)), name="noise")
        if noise.shape[0] != n_samples * n_images:
            raise ValueError(
                f"noise has {noise.shape[0]} images; expected n_samples * N = {n_samples * n_images} "
                f"(shape (n_samples, N, H, W, C) = ({n_samples}, {n_images}, {', '.join(map(str, shape))}))"
            )
    generator = rng(seed)
    scale = (sigma * (clean.max(axis=(1, 2, 3)) - clean.min(axis=(1, 2, 3)))).astype(np.float32)
    dtype = np.float64 if vargrad else np.float32
    total = second = None
    for part in batching.batch_slices(n_images * n_samples, batch_size):
        flat = np.arange(part.start, part.stop)
        which, sample = flat // n_samples, flat % n_samples  # image-major: runs of one image
        noisy = noise[sample * n_images + which] if noise is not None else generator.standard_normal(
            (len(flat), *shape), dtype=np.float32)
        noisy *= scale[which, None, None, None]  # in place: the draw becomes x + sigma * draw
        noisy += clean[which]
        maps = explain_map(model, noisy, _take(resolved.targets, which), on=on, output=output,
                           batch_size=batch_size, **method_options).astype(dtype, copy=False)
        if total is None:
            total = np.zeros((n_images, *maps.shape[1:]), dtype)
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
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Interior gradients: the gradient at the scaled image alpha * x (Sundararajan et al., 2016,
    "Gradients of Counterfactuals", arXiv:1611.02639, Sec. 3; Kim's slides, "Interior Gradient").

    .. math:: \\text{IntGrad}(x) = \\frac{\\partial S(x^*)}{\\partial x^*}, \\quad x^* = \\alpha x,
              \\quad 0 < \\alpha \\le 1

    A small alpha leaves the saturated regime where the gradient at x vanishes. Targets are
    resolved on x. Returns the :func:`saliency` reduction (``signed``, ``per_channel`` as there).
    """
    alpha = check_number("alpha", alpha, low=0.0, high=1.0)
    if alpha == 0.0:
        raise ValueError("alpha=0.0 is not allowed; allowed: 0 < alpha <= 1")
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
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


def baseline_images(images: np.ndarray, baseline: Any, seed: Any = 0) -> np.ndarray:
    """The IG baseline x' for each image: "black" (zeros), "mean" (each image's per-channel mean),
    "blurred" (Gaussian blur, sigma = 0.1 max(H, W)), "random" (uniform in the image's range,
    seeded), a number (constant image) or an array (H, W, C) or (N, H, W, C)."""
    if isinstance(baseline, str):
        check_option("baseline", baseline, BASELINES)
        if baseline == "black":
            return np.zeros_like(images)
        if baseline == "mean":
            return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).copy()
        if baseline == "blurred":
            sigma = BLUR_SIGMA_FRACTION * max(images.shape[1:3])
            return ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0)).astype(np.float32)
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        return (low + (high - low) * rng(seed).random(images.shape)).astype(np.float32)
    if np.ndim(baseline) == 0:
        return np.full_like(images, check_number("baseline", baseline))
    array = check_images(baseline if np.ndim(baseline) == 4 else np.asarray(baseline)[None],
                         name="baseline")
    if array.shape[1:] != images.shape[1:] or array.shape[0] not in (1, len(images)):
        raise ValueError(
            f"baseline has shape {np.shape(baseline)}; expected {images.shape[1:]} or {images.shape}"
        )
    return np.broadcast_to(array, images.shape).copy()


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
    return_gap: bool = False,
    seed: int | np.random.Generator | None = 0,
    on: str = "logits",
    output: int | str | None = None,
    batch_size: int = 32,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017, arXiv:1703.01365, Eq. 1 and 3).

    .. math:: \\text{IG}_i(x) = (x_i - x'_i) \\int_0^1
              \\frac{\\partial S(x' + \\alpha (x - x'))}{\\partial x_i} \\, d\\alpha
              \\approx (x_i - x'_i) \\sum_k w_k \\, \\partial_i S(x' + \\alpha_k (x - x'))

    Completeness (Prop. 1): :math:`\\sum_i \\text{IG}_i(x) = S(x) - S(x')`.

    Parameters
    ----------
    baseline : {"black", "mean", "blurred", "random"}, number or array
        x', see :func:`baseline_images`.
    steps : int
        m, the number of intervals on the straight path (64 by default).
    rule : {"riemann_left", "riemann_right", "riemann_mid", "trapezoid"}
        Quadrature rule, see :func:`quadrature` (``trapezoid`` evaluates m + 1 points).
    per_channel : bool
        Return (N, H, W, C); by default channels are summed (which keeps completeness).
    return_gap : bool
        Also return the completeness gap sum_i IG_i - (S(x) - S(x')) per image, (N,).
    seed : int or None
        For ``baseline="random"``.
    model, images, targets, on, output, batch_size
        As :func:`gradient`. ``batch_size`` bounds memory: path points of all images are run
        through the compiled function ``batch_size`` at a time.

    Returns
    -------
    np.ndarray or (np.ndarray, np.ndarray)
        (N, H, W) or (N, H, W, C) attributions; with ``return_gap`` also the (N,) gaps.
    """
    alphas, weights = quadrature(rule, steps)
    resolved = resolve(model, images, targets, on=on, output=output, batch_size=batch_size)
    inputs = resolved.images
    base = baseline_images(inputs, baseline, seed)
    delta = inputs - base
    compiled = batching.gradient_function(resolved.model)
    n_nodes = len(alphas)
    total = np.zeros(inputs.shape, np.float64)
    for part in batching.batch_slices(len(inputs) * n_nodes, batch_size):
        flat = np.arange(part.start, part.stop)
        which, node = flat // n_nodes, flat % n_nodes
        path = base[which] + alphas[node, None, None, None].astype(np.float32) * delta[which]
        _, grads = compiled(path, resolved.weights[which])
        accumulate(total, which, np.asarray(grads) * weights[node, None, None, None].astype(np.float32))
    attributions = (delta * total).astype(np.float32)
    maps = attributions if per_channel else attributions.sum(axis=-1)
    if not return_gap:
        return maps
    head = resolved.model
    end = (batching.predict(head, inputs, batch_size=batch_size) * resolved.weights).sum(-1)
    start = (batching.predict(head, base, batch_size=batch_size) * resolved.weights).sum(-1)
    gap = attributions.reshape(len(inputs), -1).sum(-1, dtype=np.float64) - (end - start)
    return maps, gap.astype(np.float64)
