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

__all__ = ["BETA", "LOSS_WEIGHT", "filter_loss", "interpretable_cnn", "masked", "templates",
           "train_interpretable_cnn"]

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


LOSS_WEIGHT = 1.0  # weight of the mean filter loss added to the cross-entropy


def _layer_class() -> Any:
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="xaikit")
    class FilterLossMask(keras.layers.Layer):
        """Masks each map by the template at its peak; while training, adds the filter loss."""

        def __init__(self, weight: float = LOSS_WEIGHT, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.weight = float(weight)

        def call(self, x: Any, training: bool = False) -> Any:
            if training:
                self.add_loss(self.weight * tf.reduce_mean(filter_loss(x)))
            n = int(x.shape[1])
            t = tf.constant(templates(n, tau=1.0)[:-1], dtype=x.dtype)  # (n^2, n, n) in [-1, 1]
            flat = tf.reshape(x, (-1, n * n, int(x.shape[-1])))
            peak = tf.argmax(flat, axis=1)  # (N, F)
            mask = tf.transpose(tf.gather(t, peak), (0, 2, 3, 1))  # (N, n, n, F)
            return tf.nn.relu(x * tf.stop_gradient(mask))

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "weight": self.weight}

    return FilterLossMask


def interpretable_cnn(input_shape: tuple[int, int, int], n_classes: int, *,
                      weight: float = LOSS_WEIGHT, name: str = "interpretable_cnn") -> Any:
    """The zoo's an8flower ``vgg_mini`` with the filter loss and mask on ``"last_conv"``.

    ``last_conv`` feeds ``FilterLossMask`` (layer ``"masked_conv"``: the template mask, and the
    filter loss while training), then global average pooling and the softmax head.
    """
    import keras

    from xaikit.models import architectures
    from xaikit.models.zoo import ZOO

    base = architectures.vgg_mini(input_shape, n_classes, name=f"{name}_base",
                                  **ZOO["an8flower-single-6c"].arch_kwargs)
    x = _layer_class()(weight, name="masked_conv")(base.get_layer("last_conv").output)
    x = keras.layers.GlobalAveragePooling2D(name="masked_gap")(x)
    head = architectures.classifier_head(x, n_classes)
    return keras.Model(base.input, head, name=name)


def train_interpretable_cnn(*, fast: bool | None = None, seed: int = 0, progress: bool = True,
                            weight: float = LOSS_WEIGHT) -> Any:
    """An interpretable CNN of an8flower single-6c, trained with the zoo recipe and cached."""
    from xaikit.data import load
    from xaikit.data import recipe as data_recipe
    from xaikit.models import cache
    from xaikit.models.training import seed_everything, train
    from xaikit.models.zoo import ZOO, fast_default

    fast = fast_default(fast)
    recipe = ZOO["an8flower-single-6c"]
    used = recipe.as_dict(fast)
    spec = {"model": used, "data": data_recipe(recipe.dataset, fast), "weight": weight,
            "seed": seed, "beta": BETA, "mask": "peak template, tau=1"}
    key = cache.entry_key(f"interpretable-cnn{'-fast' if fast else ''}", spec)

    def build(paths: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        train_set, val_set = (load(recipe.dataset, split=s, fast=fast) for s in ("train", "val"))
        seed_everything(seed)
        model = interpretable_cnn(train_set.input_shape, len(train_set.class_names),
                                  weight=weight)
        result = train(model, train_set, epochs=used["epochs"], batch_size=used["batch_size"],
                       seed=seed, val=val_set, patience=used["patience"],
                       learning_rate=used["learning_rate"], progress=progress,
                       checkpoint=paths["checkpoint"])
        return model, {"name": "interpretable-cnn", "spec": spec,
                       "epochs_run": result["epochs_run"]}

    return cache.load_or_build(key, build)
