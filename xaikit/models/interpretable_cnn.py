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

import functools
from typing import Any

import numpy as np

from xaikit.base.checks import check_array
from xaikit.base.messages import message

__all__ = ["BETA", "LOSS_WEIGHT", "filter_assignment", "filter_loss", "fit_interpretable_cnn",
           "interpretable_cnn", "masked", "templates", "train_interpretable_cnn"]

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


def filter_loss(maps: Any, labels: Any = None, filter_classes: Any = None, *,
                alpha: float | None = None, tau: float | None = None,
                beta: float = BETA) -> Any:
    """Minus the mutual information between each filter's maps and the templates, (F,).

    With ``labels`` and ``filter_classes`` each filter belongs to one category (Zhang et al.,
    Sec. 3.1, multi-category case): on images of its category it should fit a positive template
    (one part, one position), on images of the other categories the negative template (silent).
    The mutual-information sum then keeps only the (image, template) pairs that agree with the
    label — the positive templates for the filter's own category, T^- for the others — while
    p(x | T) and p(x) are the unlabelled ones; an image of another category lowers the loss by
    fitting T^- (being silent), and no longer by fitting a positive template.

    Parameters
    ----------
    maps : tensor (N, n, n, F)
        The (rectified) feature maps of F filters on a batch of N images; a TensorFlow tensor
        inside a ``GradientTape`` gives the loss's gradient.
    labels : tensor (N,) of int, optional
        The images' categories (with ``filter_classes``).
    filter_classes : array (F,) of int, optional
        The category of each filter (see :func:`filter_assignment`).
    alpha : float, optional
        Prior mass of the positive templates (default ``n^2 / (1 + n^2)``).
    tau, beta : float
        Template constants (see :func:`templates`).

    Returns
    -------
    tf.Tensor
        (F,) losses; without labels each in [-H(T), 0] (H(T) the templates' prior entropy).
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
    terms = prior[None, :, None] * tf.exp(log_p_x_t) * (log_p_x_t - log_p_x[:, None, :])
    if labels is not None:
        classes = tf.constant(np.asarray(filter_classes, np.int64))
        own = tf.cast(tf.equal(classes[:, None], tf.cast(labels, tf.int64)[None, :]),
                      maps.dtype)[:, None, :]  # (F, 1, N): the image is of the filter's category
        positive = tf.constant(np.r_[np.ones(n * n), 0.0], dtype=maps.dtype)[None, :, None]
        terms = terms * (own * positive + (1.0 - own) * (1.0 - positive))
    return -tf.reduce_sum(terms, axis=(1, 2))


def filter_assignment(n_filters: int, n_classes: int) -> np.ndarray:
    """Each filter's category, (F,) int: filter f belongs to category ``f mod n_classes``.

    The paper assigns filters to categories during learning (the authors' code: to the category
    with the largest running mean of the filter's peak activation over that category's images,
    updated after every batch); a fixed round-robin assignment gives every category the same
    number of filters (up to one) from the start, independent of the initialisation.

    Examples
    --------
    >>> filter_assignment(5, 2).tolist()
    [0, 1, 0, 1, 0]
    """
    return np.arange(n_filters) % n_classes


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


@functools.cache
def _layer_class() -> Any:
    """The mask layer's class, defined and registered with Keras once (loading needs it)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="xaikit")
    class TemplateMask(keras.layers.Layer):
        """Masks each map by the positive template at its peak (tau = 1), ``relu(x * T)``."""

        def call(self, x: Any) -> Any:
            return tf.nn.relu(x * tf.stop_gradient(_peak_mask(x)))

    return TemplateMask


def _peak_mask(x: Any) -> Any:
    """The positive template (tau = 1, values in [-1, 1]) at each map's peak, (N, n, n, F)."""
    import tensorflow as tf

    n = int(x.shape[1])
    t = tf.constant(templates(n, tau=1.0)[:-1], dtype=x.dtype)  # (n^2, n, n)
    peak = tf.argmax(tf.reshape(x, (-1, n * n, int(x.shape[-1]))), axis=1)  # (N, F)
    return tf.transpose(tf.gather(t, peak), (0, 2, 3, 1))


def interpretable_cnn(input_shape: tuple[int, int, int], n_classes: int, *,
                      name: str = "interpretable_cnn") -> Any:
    """The zoo's an8flower ``vgg_mini`` with the template mask on ``"last_conv"``.

    ``last_conv`` feeds the mask (layer ``"masked_conv"``), then global average pooling
    (``"masked_gap"``) and the softmax head; the filter loss is added by
    :func:`fit_interpretable_cnn`, which needs the labels.
    """
    import keras

    from xaikit.models import architectures
    from xaikit.models.zoo import ZOO

    base = architectures.vgg_mini(input_shape, n_classes, name=f"{name}_base",
                                  **ZOO["an8flower-single-6c"].arch_kwargs)
    x = _layer_class()(name="masked_conv")(base.get_layer("last_conv").output)
    x = keras.layers.GlobalAveragePooling2D(name="masked_gap")(x)
    head = architectures.classifier_head(x, n_classes)
    return keras.Model(base.input, head, name=name)


def fit_interpretable_cnn(model: Any, images: np.ndarray, labels: np.ndarray, *, epochs: int,
                          batch_size: int, learning_rate: float, weight: float = LOSS_WEIGHT,
                          seed: int = 0, progress: bool = True, checkpoint: Any = None
                          ) -> np.ndarray:
    """Train an :func:`interpretable_cnn` in place with the per-category filter loss.

    Each filter of ``last_conv`` belongs to one category (:func:`filter_assignment`). A step
    minimises the cross-entropy plus ``weight`` times the mean :func:`filter_loss` with the
    labels; in the forward pass of training a filter's map is masked by the template at its peak
    on images of its category and by T^- (silenced) on the others, as in the paper; at test
    time (the saved model) every map gets the peak mask. Adam, mini-batches shuffled by
    ``default_rng([seed, epoch])``, ``epochs`` epochs (no early stopping); with a ``checkpoint``
    path the weights and optimizer state are saved after every epoch and a rerun resumes there.

    Returns
    -------
    np.ndarray
        (F,) the category of each filter.
    """
    import keras
    import tensorflow as tf

    from xaikit.models.training import run_steps

    conv = model.get_layer("last_conv")
    features = keras.Model(model.input, conv.output)
    maps_in = keras.Input(conv.output.shape[1:])
    x = model.get_layer("masked_gap")(maps_in)
    head = keras.Model(maps_in, model.get_layer("probs")(model.get_layer("logits")(x)))
    n_classes = int(model.output.shape[-1])
    classes = filter_assignment(int(conv.output.shape[-1]), n_classes)
    filter_classes = tf.constant(classes)
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(model.trainable_variables)

    @tf.function(reduce_retracing=True)
    def step(x: Any, y: Any) -> None:
        with tf.GradientTape() as tape:
            maps = features(x, training=True)
            own = tf.cast(tf.equal(filter_classes[None, :], tf.cast(y, filter_classes.dtype)[:, None]),
                          maps.dtype)[:, None, None, :]  # T^- (zero after the ReLU) elsewhere
            probs = head(tf.nn.relu(maps * tf.stop_gradient(_peak_mask(maps))) * own,
                         training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, probs)) \
                + weight * tf.reduce_mean(filter_loss(maps, y, classes))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))

    run_steps(lambda epoch: (step, (images, labels)), len(images), epochs=epochs,
              batch_size=batch_size, seed=seed, desc="train interpretable cnn", progress=progress,
              variables=[*model.weights, *optimizer.variables], checkpoint=checkpoint)
    return classes


def train_interpretable_cnn(*, fast: bool | None = None, seed: int = 0, progress: bool = True,
                            weight: float = LOSS_WEIGHT) -> Any:
    """An interpretable CNN of an8flower single-6c, trained with the zoo recipe and cached.

    The zoo entry's epochs, batch size and learning rate, through :func:`fit_interpretable_cnn`.
    """
    from xaikit.data import load
    from xaikit.data import recipe as data_recipe
    from xaikit.models import cache
    from xaikit.models.training import seed_everything
    from xaikit.models.zoo import ZOO, fast_default

    fast = fast_default(fast)
    recipe = ZOO["an8flower-single-6c"]
    used = recipe.as_dict(fast)
    spec = {"model": used, "data": data_recipe(recipe.dataset, fast), "weight": weight,
            "seed": seed, "beta": BETA, "mask": "peak template, tau=1; T^- off-category",
            "assignment": "round-robin"}
    key = cache.entry_key(f"interpretable-cnn{'-fast' if fast else ''}", spec)
    _layer_class()  # registered before the cache loads a model holding the layer

    def build(paths: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        train_set = load(recipe.dataset, split="train", fast=fast)
        seed_everything(seed)
        model = interpretable_cnn(train_set.input_shape, len(train_set.class_names))
        classes = fit_interpretable_cnn(model, train_set.images, np.asarray(train_set.labels),
                                        epochs=used["epochs"], batch_size=used["batch_size"],
                                        learning_rate=used["learning_rate"], weight=weight,
                                        seed=seed, progress=progress,
                                        checkpoint=paths["checkpoint"])
        return model, {"name": "interpretable-cnn", "spec": spec,
                       "filter_classes": classes.tolist()}

    return cache.load_or_build(key, build)
