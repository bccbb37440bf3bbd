"""The filter loss of interpretable CNNs (Zhang, Wu & Zhu, CVPR 2018): one part, one position.

Zhang, Wu & Zhu, "Interpretable Convolutional Neural Networks", CVPR 2018 (arXiv:1710.00935),
Sec. 3. Each filter of the top convolution gets a loss that makes it fire on one object part at
one position. For an n x n feature map x there are n^2 positive templates, one per position mu,
and one negative template,

.. math:: T_\\mu(i, j) = \\tau \\max\\Big(1 - \\beta\\frac{\\lVert (i, j) - \\mu\\rVert_1}{n},
          -1\\Big), \\qquad T^-(i, j) = -\\tau,

with priors :math:`p(T_\\mu) = \\alpha / n^2`, :math:`p(T^-) = 1 - \\alpha`. A template's fitness
to a map is :math:`p(x \\mid T) = \\exp(\\mathrm{tr}(x \\cdot T)) / Z_T` with
:math:`Z_T = \\sum_{x \\in X} \\exp(\\mathrm{tr}(x \\cdot T))` over the batch X, and the loss is
minus the mutual information between maps and templates,

.. math:: \\mathrm{Loss}_f = -\\sum_T p(T) \\sum_{x} p(x \\mid T)
          \\log\\frac{p(x \\mid T)}{p(x)}, \\qquad p(x) = \\sum_T p(T)\\, p(x \\mid T).

In the forward pass the map is masked by the template at its peak,
:math:`x^{\\text{masked}} = \\max(x \\circ T_{\\hat\\mu}, 0)` with :math:`\\hat\\mu = \\arg\\max x`.
The paper's constants: :math:`\\tau = 0.5 / n^2`, :math:`\\beta = 4`,
:math:`\\alpha = n^2 / (1 + n^2)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message

__all__ = ["BETA", "filter_loss", "masked", "templates"]

BETA = 4.0  # the paper's template sharpness


def templates(n: int, *, tau: float | None = None, beta: float = BETA) -> np.ndarray:
    """The n^2 positive templates and the negative one, (n^2 + 1, n, n) float64; last is T^-.

    Examples
    --------
    >>> t = templates(3)
    >>> t.shape, float(t[4, 1, 1]), float(t[-1, 0, 0])  # centre template at its centre; T^-
    ((10, 3, 3), 0.05555555555555555, -0.05555555555555555)
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(message("int", name="n", value=n, minimum=1))
    tau = 0.5 / n**2 if tau is None else float(tau)
    grid = np.arange(n)
    mu_i, mu_j = np.divmod(np.arange(n * n), n)
    distance = (np.abs(grid[None, :, None] - mu_i[:, None, None])
                + np.abs(grid[None, None, :] - mu_j[:, None, None]))  # (n^2, n, n)
    positive = tau * np.maximum(1.0 - beta * distance / n, -1.0)
    return np.concatenate([positive, np.full((1, n, n), -tau)])


def filter_loss(maps: Any, *, alpha: float | None = None, tau: float | None = None,
                beta: float = BETA) -> Any:
    """Minus the mutual information between each filter's maps and the templates, (F,).

    Parameters
    ----------
    maps : tensor (N, n, n, F)
        The (rectified) feature maps of F filters on a batch of N images; a TensorFlow tensor
        inside a ``GradientTape`` gives the loss's gradient.
    alpha : float, optional
        Prior mass of the positive templates (default ``n^2 / (1 + n^2)``).
    tau, beta : float
        Template constants (see :func:`templates`).

    Returns
    -------
    tf.Tensor
        (F,) losses, each in [-H(T), 0] (H(T) the templates' prior entropy).
    """
    import tensorflow as tf

    maps = tf.convert_to_tensor(maps)
    if maps.shape.rank != 4 or maps.shape[1] != maps.shape[2]:
        raise ValueError(message("expected", name="maps", expected="square feature maps "
                                 "(N, n, n, F)", got=f"shape {tuple(maps.shape)}", fix=""))
    n = int(maps.shape[1])
    alpha = n * n / (1.0 + n * n) if alpha is None else float(alpha)
    t = tf.constant(templates(n, tau=tau, beta=beta), dtype=maps.dtype)
    prior = tf.constant(np.r_[np.full(n * n, alpha / (n * n)), 1.0 - alpha], dtype=maps.dtype)
    fit = tf.einsum("nijf,tij->ftn", maps, t)  # tr(x . T) for each filter, template, image
    log_p_x_t = fit - tf.reduce_logsumexp(fit, axis=2, keepdims=True)  # log p(x | T)
    log_p_x = tf.reduce_logsumexp(log_p_x_t + tf.math.log(prior)[None, :, None], axis=1)
    mutual = tf.reduce_sum(prior[None, :, None] * tf.exp(log_p_x_t)
                           * (log_p_x_t - log_p_x[:, None, :]), axis=(1, 2))
    return -mutual


def masked(maps: Any, *, tau: float | None = None, beta: float = BETA) -> np.ndarray:
    """``max(x * T_mu_hat, 0)``: each map masked by the template at its own peak, (N, n, n, F).

    The template is chosen by the arg-max and held fixed (no gradient flows through the choice).
    """
    maps = check_array("maps", maps, ndim=4).astype(np.float64)
    n = maps.shape[1]
    flat = maps.reshape(maps.shape[0], n * n, -1)
    peak = np.argmax(flat, axis=1)  # (N, F)
    chosen = templates(n, tau=tau, beta=beta)[:-1][peak]  # (N, F, n, n)
    return np.maximum(maps * np.moveaxis(chosen, 1, -1), 0.0)
