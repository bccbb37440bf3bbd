"""Axioms an explanation can be checked against on numbers: input invariance and completeness.

Introduced in lesson 08. Each metric returns one score per image, 0 when the axiom holds exactly:

- :func:`input_invariance` (Kindermans et al. 2019): a constant shift of the input that the
  model's first layer compensates changes neither the predictions nor the gradients; does it
  change the explanation?
- :func:`completeness` (Sundararajan et al. 2017; Bach et al. 2015; Shrikumar et al. 2017): do
  the attributions add up to the explained score's change, :math:`f(x) - f(x')`?
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from xaikit.base.checks import check_images
from xaikit.core import cached, predict, resolve
from xaikit.core.baselines import baseline_images
from xaikit.core.shift import shift_compensated_model
from xaikit.core.weights import copy_model
from xaikit.metrics.common import attribution_maps, explainer
from xaikit.metrics.registry import register

__all__ = ["INVARIANCE_TOLERANCE", "completeness", "input_invariance"]

INVARIANCE_TOLERANCE = 1e-3  # relative change below which a method counts as input invariant


@register(family="axioms", needs={"model", "method"}, higher_is_better=False)
def input_invariance(model: Any, images: Any, method: Any, targets: Any = None, *,
                     shift: Any = -1.0, options: Mapping[str, Any] | None = None,
                     shifted_options: Mapping[str, Any] | None = None, batch_size: int = 32,
                     seed: int = 0) -> np.ndarray:
    """Input invariance (Kindermans et al., "The (Un)reliability of Saliency Methods", 2019).

    Kindermans, Hooker, Adebayo, Alber, Schütt, Dähne, Erhan & Kim, in *Explainable AI*,
    LNCS 11700 (arXiv:1711.00867): with :math:`f_2` the copy of :math:`f_1` whose first
    layer's bias compensates the shift :math:`m` (:func:`xaikit.core.shift.shift_compensated_model`,
    so :math:`f_2(x + m) = f_1(x)`), the score is the largest change of the map, relative to the
    largest magnitude of either map (so it lies in [0, 2]):

    .. math:: d(x) = \\frac{\\max_{ij} |E(f_2, x + m)_{ij} - E(f_1, x)_{ij}|}
              {\\max\\big(\\max_{ij} |E(f_1, x)_{ij}|,\\; \\max_{ij} |E(f_2, x + m)_{ij}|\\big)}

    :math:`d = 0` (to float tolerance, :data:`INVARIANCE_TOLERANCE`) means input invariant.
    The paper's pattern: gradient, SmoothGrad (same noise), guided backprop and Grad-CAM are
    invariant; gradient × input, integrated gradients with a zero baseline and LRP are not;
    integrated gradients whose baseline moves with the shift is invariant again.

    Parameters
    ----------
    model : keras.Model
        Its first layer with weights must be Dense or a ``padding="valid"`` convolution with a
        bias (see :func:`~xaikit.core.shift.shift_compensated_model`); never changed.
    images : array (N, H, W, C)
    method : str or callable
        The attribution method (a name of :data:`xaikit.attribution.METHODS` or a callable).
    targets : None, int, N ints or tuple (A, B)
        Resolved once on ``model`` (None: its predicted class); both models explain it.
    shift : float or array
        m, added to every input: a number (default -1.0: [0, 1] images become [-1, 0], as in the
        paper's MNIST experiment), one value per channel, or an (H, W, C) array (Dense first layer).
    options : mapping, optional
        Keyword arguments of the method on both inputs.
    shifted_options : mapping, optional
        Keyword arguments on the shifted input instead of ``options`` (e.g. IG's
        ``{"baseline": m}``: the baseline shifted along with the input).
    batch_size, seed
        Passed to the method.

    Returns
    -------
    np.ndarray
        float64 (N,), 0 for an input-invariant method.

    Raises
    ------
    ValueError
        A first layer that cannot compensate the shift; bad images or targets.
    """
    resolved = resolve(model, images, targets, batch_size=batch_size)
    copy = cached(model, ("shift_compensated_copy",), lambda: copy_model(model))
    shifted_model = shift_compensated_model(model, shift, into=copy)  # traced once per model
    shifted_images = check_images(resolved.images + np.asarray(shift, np.float32))
    original = explainer(method, batch_size=batch_size, seed=seed, options=options)
    moved = explainer(method, batch_size=batch_size, seed=seed,
                      options=options if shifted_options is None else shifted_options)
    before = original(model, resolved.images, resolved.targets)
    after = moved(shifted_model, shifted_images, resolved.targets)
    change = np.abs(after - before).reshape(len(before), -1).max(axis=1)
    scale = np.maximum(np.abs(before), np.abs(after)).reshape(len(before), -1).max(axis=1)
    return np.divide(change, scale, out=np.zeros_like(change), where=scale > 0)


@register(family="axioms", needs={"model", "maps"}, higher_is_better=None)
def completeness(model: Any, images: Any, maps_or_method: Any, targets: Any = None, *,
                 baseline: Any = "black", options: Mapping[str, Any] | None = None,
                 batch_size: int = 32, seed: int = 0) -> np.ndarray:
    """Completeness gap: the attributions' sum minus the explained score's change.

    .. math:: \\Delta(x) = \\sum_{ij} E(x)_{ij} - \\big(S(x) - S(x')\\big)

    Completeness (Sundararajan, Taly & Yan, ICML 2017, arXiv:1703.01365, Prop. 1), summation to
    delta (Shrikumar, Greenside & Kundaje, ICML 2017, arXiv:1704.02685, Eq. 1) and relevance
    conservation (Bach et al., PLoS ONE 2015, Eq. 2, with :math:`S(x') = 0`) all say
    :math:`\\Delta = 0`: integrated gradients up to its quadrature error, DeepLIFT exactly, LRP-0
    on a bias-free network exactly. :math:`S` is the explained logit of the target class.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    maps_or_method : array (N, H, W), str or callable
        Precomputed maps (channels summed) or a method computing them.
    targets : None, int, N ints or tuple (A, B)
    baseline : {"black", "mean", "blurred", "random"}, number, array, or None
        x' (as :func:`xaikit.attribution.integrated_gradients`; default "black", zeros); None
        compares with :math:`S(x)` alone (:math:`S(x') = 0`, LRP's conservation).
    options : mapping, optional
        Keyword arguments of the method (pass the same baseline to IG or DeepLIFT).
    batch_size, seed
        Passed to the method and to the forward passes (``seed`` also for a random baseline).

    Returns
    -------
    np.ndarray
        float64 (N,) signed gaps, in units of the explained score.
    """
    resolved = resolve(model, images, targets, batch_size=batch_size)
    maps = attribution_maps(model, resolved.images, maps_or_method, resolved.targets,
                            batch_size=batch_size, seed=seed, options=options)
    weights = resolved.weights.astype(np.float64)
    score = (predict(resolved.model, resolved.images, batch_size=batch_size) * weights).sum(-1)
    if baseline is not None:
        reference = baseline_images(resolved.images, baseline, seed=seed)
        score = score - (predict(resolved.model, reference, batch_size=batch_size)
                         * weights).sum(-1)
    return maps.reshape(len(maps), -1).sum(axis=1) - score
