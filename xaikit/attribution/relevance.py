"""Relevance propagation: LRP (Bach et al. 2015; Montavon et al. 2017), deep Taylor, DeepLIFT.

Introduced in lesson 07.  All three walk the model backwards layer by layer
(:func:`xaikit.core.surgery.layer_chain`), each layer one batched *gradient-trick* operation

.. math::  R_{in} = a \\odot \\frac{\\partial}{\\partial a}
           \\Big[\\rho(z(a)) \\cdot \\operatorname{stop\\_gradient}\\big(R_{out} / \\rho(z(a))\\big)\\Big],

inside one compiled (concrete) function per model, rule set and image shape, traced once for every
batch size.  :func:`lrp` and :func:`deeplift` return the maps; :func:`lrp_details` and
:func:`deeplift_details` the per-channel relevance with the conservation check
(:class:`RelevanceDetails`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.attribution.registry import register
from xaikit.base.checks import check_number, check_option
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core.baselines import baseline_images
from xaikit.core.batching import batch_spec, cached, compile_function, run_batched, tensors
from xaikit.core.resolution import resolve
from xaikit.core.surgery import Step, layer_chain, select_output

__all__ = ["RULES", "RelevanceDetails", "deep_taylor", "deeplift", "deeplift_details", "lrp",
           "lrp_details"]

RULES = ("epsilon", "gamma", "alpha_beta", "zplus", "zb")
DENOMINATOR_EPSILON = 1e-9  # keeps z + eps * sign(z) away from 0 in the z+, alpha-beta, zB rules
RESCALE_THRESHOLD = 1e-6  # DeepLIFT: |Δx| below this uses the gradient instead of Δy / Δx
SLOPE_EPSILON = 1e-12  # DeepLIFT max pooling: a directional slope below this counts as 0


def stabilize(z: tf.Tensor, epsilon: float) -> tf.Tensor:
    """``z + epsilon * sign(z)`` with sign(0) = +1 (the LRP-ε denominator, Bach et al. 2015 eq. 58)."""
    return z + epsilon * tf.where(z >= 0, 1.0, -1.0)


def transpose(fn: Callable[[tf.Tensor], tf.Tensor], a: tf.Tensor, upstream: tf.Tensor) -> tf.Tensor:
    """``J_fn(a)^T upstream``: the gradient trick ``∂/∂a [fn(a) · stop_gradient(upstream)]``."""
    with tf.GradientTape() as tape:
        tape.watch(a)
        out = tf.reduce_sum(fn(a) * tf.stop_gradient(upstream))
    return tape.gradient(out, a)


@dataclass
class RelevanceDetails:
    """What :func:`lrp_details` / :func:`deeplift_details` return.

    Attributes
    ----------
    maps : (N, H, W) relevance (contributions) summed over channels.
    relevance : (N, H, W, C) per-channel input relevance.
    total : (N,) the sum of ``relevance`` per image.
    score : (N,) the explained quantity: the target logit (LRP) or logit(x) - logit(x0) (DeepLIFT).
    absorbed : (N,) ``score - total``: what biases and stabilisers absorbed (0 = conservation).
    """

    maps: np.ndarray
    relevance: np.ndarray
    total: np.ndarray
    score: np.ndarray
    absorbed: np.ndarray


def _rule_table(steps: list[Step], rule: str, rules: dict | None) -> list[str]:
    """The rule of each step; ``rules`` keys are layer names or positions among Conv2D/Dense."""
    names = {name for step in steps for name in step.name.split("+")}
    weighted = [i for i, step in enumerate(steps) if step.kind == "linear"]
    table = [rule] * len(steps)
    if rule == "zb" and len(weighted) > 1:
        raise ValueError(message("lrp_zb_everywhere"))
    for key, value in (rules or {}).items():
        check_option(f"rules[{key!r}]", value, RULES)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if not -len(weighted) <= key < len(weighted):
                raise ValueError(message("lrp_rules_index", entry=key, count=len(weighted),
                                         last=len(weighted) - 1))
            table[weighted[key]] = value
        elif isinstance(key, str) and key in names:
            table[next(i for i, s in enumerate(steps) if key in s.name.split("+"))] = value
        else:
            raise ValueError(message("lrp_rules_key", entry=key, names=sorted(names)))
    first = weighted[0] if weighted else None
    bad = [steps[i].name for i, r in enumerate(table) if r == "zb" and i != first]
    if bad:
        raise ValueError(message("lrp_zb_layers", layers=bad))
    return table


def _lrp_linear(step: Step, a, z, relevance, rule: str, p: dict[str, float], nonnegative: bool):
    """One Conv2D/Dense/affine layer under ``rule`` (Montavon et al. 2019, Table 3.1).

    ``z`` is the layer's pre-activation from the forward pass (reused by the epsilon rule);
    ``nonnegative`` says the input comes out of a ReLU, so the negative-input terms vanish.
    """
    if rule in ("epsilon", "gamma"):
        kernel, eps = step.kernel, p["epsilon"]
        if rule == "gamma":
            kernel = kernel + p["gamma"] * tf.nn.relu(kernel)
            z = step.linear(a, kernel, bias=False) + step.bias + p["gamma"] * tf.nn.relu(step.bias)
            eps = max(eps, DENOMINATOR_EPSILON)
        s = tf.math.divide_no_nan(relevance, stabilize(z, eps))
        return a * transpose(lambda x: step.linear(x, kernel, bias=False), a, s)
    if rule == "zb":
        terms = [(a, step.kernel, 1.0)]  # (input, weights, sign); a zero bound adds nothing
        for bound, weights in ((p["low"], tf.nn.relu(step.kernel)),
                               (p["high"], -tf.nn.relu(-step.kernel))):
            if bound:
                terms.append((tf.ones_like(a) * bound, weights, -1.0))
        z = sum(sign * step.linear(x, w, bias=False) for x, w, sign in terms)
        s = tf.math.divide_no_nan(relevance, stabilize(z, DENOMINATOR_EPSILON))
        return sum(sign * x * transpose(lambda v, w=w: step.linear(v, w, bias=False), x, s)
                   for x, w, sign in terms)
    alpha, beta = (1.0, 0.0) if rule == "zplus" else (p["alpha"], p["beta"])
    w_pos, w_neg = tf.nn.relu(step.kernel), -tf.nn.relu(-step.kernel)
    if nonnegative:
        positive, negative = [(a, w_pos)], [(a, w_neg)]
    else:
        a_pos, a_neg = tf.nn.relu(a), -tf.nn.relu(-a)
        positive, negative = [(a_pos, w_pos), (a_neg, w_neg)], [(a_pos, w_neg), (a_neg, w_pos)]

    def share(pairs):
        z = sum(step.linear(x, w, bias=False) for x, w in pairs)
        s = tf.math.divide_no_nan(relevance, stabilize(z, DENOMINATOR_EPSILON))
        return sum(x * transpose(lambda v, w=w: step.linear(v, w, bias=False), x, s)
                   for x, w in pairs)

    result = alpha * share(positive)
    if beta:
        result -= beta * share(negative)
    return result


def _nonnegative_inputs(steps: list[Step]) -> list[bool]:
    """Whether each step's input is known to be >= 0 (it comes out of a ReLU)."""
    flags, current = [], False
    for step in steps:
        flags.append(current)
        if step.kind in ("linear", "affine"):
            current = step.act == "relu"
        elif step.kind == "relu":
            current = True
    return flags


def _lrp_graph(steps: list[Step], table: list[str], p: dict[str, float], x: np.ndarray,
               w: np.ndarray):
    """The LRP backward pass, traced once for images like ``x`` and score weights like ``w``
    (any batch size): a concrete function, so no call retraces."""
    nonnegative = _nonnegative_inputs(steps)

    def run(x, weights):
        inputs, pre, a = [], [], x
        for step in steps:
            inputs.append(a)
            z, a = step.forward(a)
            pre.append(z)
        relevance = weights * a
        for k in reversed(range(len(steps))):
            step, a_in = steps[k], inputs[k]
            if step.kind in ("linear", "affine"):
                relevance = _lrp_linear(step, a_in, pre[k], relevance, table[k], p, nonnegative[k])
            elif step.kind in ("maxpool", "avgpool"):
                s = tf.math.divide_no_nan(relevance, stabilize(pre[k], p["epsilon"]))
                relevance = a_in * transpose(step.pool, a_in, s)
            elif step.kind == "reshape":
                relevance = tf.reshape(relevance, tf.shape(a_in))
        return relevance, tf.reduce_sum(weights * a, axis=-1)

    return compile_function(run, [batch_spec(x), batch_spec(w)])


def _details(relevance: np.ndarray, score: np.ndarray) -> RelevanceDetails:
    total = relevance.reshape(len(relevance), -1).sum(axis=1)
    return RelevanceDetails(relevance.sum(axis=-1), relevance, total, score, score - total)


def _chain(model: keras.Model, output: int | str | None, on: str) -> list[Step]:
    """The layer chain of the explained output (LRP and DeepLIFT explain logits only)."""
    check_option("on", on, ("logits",))
    return layer_chain(select_output(model, output))


@register("lrp", on=("logits",))
def lrp(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    rule: str = "epsilon",
    rules: dict[str | int, str] | None = None,
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    alpha: float = 1.0,
    beta: float = 0.0,
    low: float = 0.0,
    high: float = 1.0,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Layer-wise relevance propagation (Bach et al. 2015; Montavon et al. 2017, 2019).

    The target logit :math:`f_t(x)` is redistributed layer by layer; for a layer
    :math:`z_j = \\sum_i a_i w_{ij} + b_j` the rules are (Montavon et al. 2019, Sec. 10.2)

    .. math::
        \\text{epsilon:}\\; R_i = \\sum_j \\frac{a_i w_{ij}}{z_j + \\epsilon\\,\\mathrm{sign}(z_j)} R_j
        \\qquad \\text{gamma:}\\; w \\to w + \\gamma w^+ \\qquad
        \\text{alpha\\_beta:}\\; R_i = \\sum_j \\Big(\\alpha \\frac{(a_i w_{ij})^+}{z_j^+}
        - \\beta \\frac{(a_i w_{ij})^-}{z_j^-}\\Big) R_j

    ``"zplus"`` is α=1, β=0; ``"zb"`` (the pixel layer, Montavon et al. 2017 eq. for
    :math:`z^{\\mathcal{B}}`) uses :math:`z_{ij} = a_i w_{ij} - l_i w_{ij}^+ - h_i w_{ij}^-` with the
    input box ``[low, high]``.  Pooling layers use the epsilon rule; ReLU, Flatten and Dropout pass
    relevance unchanged; BatchNormalization is folded into the preceding Conv2D/Dense.

    Parameters
    ----------
    model : keras.Model
        Sequential or linear-chain functional CNN (nested linear sub-models are flattened); a final
        softmax/sigmoid is dropped so the logit is explained.
    images : array (N, H, W, C)
    targets : None (predicted class), int, (N,) ints, or a contrastive pair (A, B): the
        relevance then starts from :math:`f_A - f_B` (see :mod:`xaikit.core.targets`).
    rule : str
        Rule for every Conv2D/Dense layer: "epsilon" (``epsilon=0`` is LRP-0), "gamma",
        "alpha_beta", "zplus" or "zb".
    rules : dict, optional
        Per-layer overrides, keyed by layer name or by position among the Conv2D/Dense layers
        (0 = first, -1 = last), e.g. ``{0: "zb", "dense": "epsilon"}``.
    epsilon, gamma, alpha, beta, low, high : float
        Rule parameters (``alpha - beta`` should be 1 for conservation).
    output : int or str, optional
        Which output of a multi-output model (its own chain of layers is propagated).
    on : {"logits"}
        LRP redistributes a logit; ``on="probabilities"`` raises.
    batch_size : int
        Internal batch size.

    Returns
    -------
    np.ndarray
        float32 (N, H, W): relevance summed over channels.  :func:`lrp_details` returns the
        per-channel relevance with the conservation check.

    Raises
    ------
    ValueError
        A layer without a rule (named, with the supported list), an unknown rule or rules key.

    Notes
    -----
    Relevance is conserved exactly by LRP-0 and α1β0 on bias-free nets; biases (and ε) absorb the
    rest, reported as ``absorbed`` by :func:`lrp_details`.  Bach, Binder, Montavon, Klauschen, Müller,
    Samek, "On pixel-wise explanations ... by layer-wise relevance propagation", PLoS ONE 2015;
    Montavon, Lapuschkin, Binder, Samek, Müller, "Explaining nonlinear classification decisions with
    deep Taylor decomposition", Pattern Recognition 2017.
    """
    return lrp_details(model, images, targets, rule=rule, rules=rules, epsilon=epsilon,
                       gamma=gamma, alpha=alpha, beta=beta, low=low, high=high, output=output,
                       on=on, batch_size=batch_size).maps


def lrp_details(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    rule: str = "epsilon",
    rules: dict[str | int, str] | None = None,
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    alpha: float = 1.0,
    beta: float = 0.0,
    low: float = 0.0,
    high: float = 1.0,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> RelevanceDetails:
    """:func:`lrp` with the per-channel relevance and the conservation check (same parameters).

    Returns
    -------
    RelevanceDetails
        ``maps``, per-channel ``relevance``, its ``total`` per image, the explained ``score``
        (the target logit) and ``absorbed`` = score - total (0 = conservation).
    """
    check_option("rule", rule, RULES)
    steps = _chain(model, output, on)
    resolved = resolve(model, images, targets, output=output, batch_size=batch_size)
    table = _rule_table(steps, rule, rules)
    params = {name: check_number(name, value) for name, value in
              (("epsilon", epsilon), ("gamma", gamma), ("alpha", alpha), ("beta", beta),
               ("low", low), ("high", high))}
    x, w = resolved.images, resolved.weights
    key = ("lrp", output, tuple(table), tuple(sorted(params.items())), x.shape[1:])
    run = cached(model, key, lambda: _lrp_graph(steps, table, params, x, w))
    relevance, score = run_batched(lambda part: run(*tensors(x[part], w[part])), len(x), batch_size)
    return _details(relevance, score)


@register("deep_taylor", on=("logits",))
def deep_taylor(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    low: float = 0.0,
    high: float = 1.0,
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Deep Taylor decomposition (Montavon et al. 2017): the :math:`z^+` rule in every layer and
    the :math:`z^{\\mathcal{B}}` rule (input box ``[low, high]``) in the first.

    .. math:: R_i = \\sum_j \\frac{a_i w_{ij}^+}{\\sum_{i'} a_{i'} w_{i'j}^+} R_j

    Parameters and return value as :func:`lrp`.  Montavon, Lapuschkin, Binder, Samek, Müller,
    Pattern Recognition 65, 2017, Sec. 4 (z+ rule) and Sec. 5 (z^B rule).
    """
    return lrp(model, images, targets, rule="zplus", rules={0: "zb"}, low=low, high=high,
               output=output, on=on, batch_size=batch_size)


def _rescale(delta_out, delta_in, gradient):
    """DeepLIFT's multiplier Δy/Δx, the gradient where |Δx| is tiny (Shrikumar 2017 Sec. 3.5.1)."""
    small = tf.abs(delta_in) < RESCALE_THRESHOLD
    return tf.where(small, gradient, delta_out / tf.where(small, 1.0, delta_in))


def _maxpool_multiplier(step: Step, a, a0, m):
    """Max pooling: the gradient at x (or at x0), rescaled by Δy / (gradient · Δx).

    Whichever of the two winners has the larger |gradient · Δx| is used, so the denominator only
    vanishes when Δy does too, and summation-to-delta holds exactly.
    """
    a0 = tf.broadcast_to(a0, tf.shape(a))  # a shared reference has batch size 1
    slopes, delta = [], a - a0
    for point in (a, a0):
        with tf.autodiff.ForwardAccumulator(point, delta) as acc:
            y = step.pool(point)
        slopes.append(acc.jvp(y))
    use_x = tf.abs(slopes[0]) >= tf.abs(slopes[1])
    ratio = (step.pool(a) - step.pool(a0)) / tf.where(use_x, slopes[0], slopes[1])
    ratio = tf.where(tf.abs(tf.where(use_x, slopes[0], slopes[1])) < SLOPE_EPSILON, 1.0, ratio)
    return (transpose(step.pool, a, tf.where(use_x, m * ratio, 0.0))
            + transpose(step.pool, a0, tf.where(use_x, 0.0, m * ratio)))


def _deeplift_graph(steps: list[Step], x: np.ndarray, w: np.ndarray):
    """The DeepLIFT backward pass, traced once for images like ``x`` (the reference: one image
    or one per image) and score weights like ``w``: a concrete function, so no call retraces."""

    def run(x, reference, weights):
        ins, pre, a, a0 = [], [], x, reference
        for step in steps:
            ins.append((a, a0))
            (z, a), (z0, a0) = step.forward(a), step.forward(a0)
            pre.append((z, z0))
        score = tf.reduce_sum(weights * (a - a0), axis=-1)
        m = weights
        for step, (a_in, a0_in), (z, z0) in zip(reversed(steps), reversed(ins), reversed(pre)):
            if step.act == "relu" or step.kind == "relu":
                m = m * _rescale(tf.nn.relu(z) - tf.nn.relu(z0), z - z0, tf.cast(z > 0, z.dtype))
            if step.kind in ("linear", "affine"):
                m = transpose(lambda v, s=step: s.linear(v, bias=False), a_in, m)
            elif step.kind == "avgpool":
                m = transpose(step.pool, a_in, m)
            elif step.kind == "maxpool":
                m = _maxpool_multiplier(step, a_in, a0_in, m)
            elif step.kind == "reshape":
                m = tf.reshape(m, tf.shape(a_in))
        return m * (x - reference), score

    return compile_function(run, [batch_spec(x), batch_spec(x), batch_spec(w)])


@register("deeplift", on=("logits",))
def deeplift(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    baseline: str | float | np.ndarray = "black",
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """DeepLIFT with the rescale rule (Shrikumar, Greenside & Kundaje, ICML 2017, arXiv:1704.02685).

    Contributions :math:`C_{\\Delta x_i \\Delta t} = m_{\\Delta x_i \\Delta t}\\, \\Delta x_i` with
    multipliers chained backwards (eq. 3); linear layers use their weights, each ReLU the rescale
    multiplier :math:`m = \\Delta y / \\Delta x` (Sec. 3.5.1), so summation-to-delta (eq. 1) holds:

    .. math::  \\sum_i C_{\\Delta x_i \\Delta t} = t(x) - t(x^0).

    Max pooling uses the gradient at ``x`` rescaled by Δy / (gradient · Δx) (DeepLIFT's
    "scaled gradient" mode), which keeps summation-to-delta.

    Parameters
    ----------
    model, images, targets, output, on, batch_size : see :func:`lrp`.
    baseline : {"black", "grey", "mean", "blurred", "random"}, number or array
        The reference input :math:`x^0` (default: the black image), named as everywhere
        (:func:`xaikit.core.baselines.baseline_images`).
    seed : int or None
        For ``baseline="random"``.

    Returns
    -------
    np.ndarray
        float32 (N, H, W): contributions summed over channels.  :func:`deeplift_details` returns
        them per channel with the summation-to-delta check.
    """
    return deeplift_details(model, images, targets, baseline=baseline, output=output, on=on,
                            batch_size=batch_size, seed=seed).maps


def deeplift_details(
    model: keras.Model,
    images: Any,
    targets: Any = None,
    *,
    baseline: str | float | np.ndarray = "black",
    output: int | str | None = None,
    on: str = "logits",
    batch_size: int = BATCH_SIZE,
    seed: int | np.random.Generator | None = 0,
) -> RelevanceDetails:
    """:func:`deeplift` with per-channel contributions and the summation-to-delta check (same
    parameters).

    Returns
    -------
    RelevanceDetails
        ``maps``, per-channel ``relevance``, its ``total``, ``score`` = t(x) - t(x0) and
        ``absorbed`` = score - total (0 = summation-to-delta).
    """
    steps = _chain(model, output, on)
    resolved = resolve(model, images, targets, output=output, batch_size=batch_size)
    x, w = resolved.images, resolved.weights
    run = cached(model, ("deeplift", output, x.shape[1:]), lambda: _deeplift_graph(steps, x, w))
    if _shared(baseline):  # one forward pass of the reference serves every image
        reference = baseline_images(x[:1], baseline, seed=seed)
        contributions, score = run_batched(lambda part: run(*tensors(x[part], reference, w[part])),
                                           len(x), batch_size)
    else:
        reference = baseline_images(x, baseline, seed=seed)
        contributions, score = run_batched(
            lambda part: run(*tensors(x[part], reference[part], w[part])), len(x), batch_size)
    return _details(contributions, score)


def _shared(baseline: Any) -> bool:
    """Whether the baseline is one image for all (a constant or an array without an image axis)."""
    if isinstance(baseline, str):
        return baseline in ("black", "grey")
    return np.ndim(baseline) < 4 or np.shape(baseline)[0] == 1
