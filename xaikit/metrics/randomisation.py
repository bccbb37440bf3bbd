"""Randomisation tests: does the explanation depend on the model's weights, data and class at all?

Introduced in lesson 08. Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity Checks for
Saliency Maps" (NeurIPS 2018, arXiv:1810.03292): an explanation that stays the same when the
weights it explains are replaced by random ones cannot help to debug the model. Let :math:`E(f, x)`
be a method's map and :math:`f^{(\\ell)}` the network with the layers down to :math:`\\ell`
re-initialised; the *cascading* test reports :math:`s(E(f, x), E(f^{(\\ell)}, x))` for each step
:math:`\\ell` and a similarity :math:`s` (:mod:`xaikit.metrics.similarity`).

Every test re-initialises the layers **in place on one copy** of the model (cached per model,
:func:`xaikit.core.weights.copy_model`), each layer with its own initializer
(:func:`xaikit.core.weights.reinitialise`) and a seed derived from ``seed`` and the layer's
position, so the compiled functions of the copy are traced once and reused at every step. The
user's model is never changed. Targets are resolved once, on the trained model: every map of
a test explains the same class.

API
---
- ``cascading_randomisation(model, images, methods, targets=None, *, order="top-down",
  layers=None, similarities=SIMILARITIES, seed=0, batch_size=32) -> Randomisation``
- ``independent_randomisation(...)``: one layer at a time, the others trained.
- ``data_randomisation(model, images, methods, targets=None, *, randomised, ...)``: the same
  architecture trained on permuted labels (``permuted_label_model``: the zoo recipe, cached).
- ``random_logit(model, images, method, targets=None, *, similarity="ssim", seed=0)`` (N,).
- ``efficient_mprt`` (N,) and ``smooth_mprt`` (a ``Randomisation``): Hedström et al. 2024.
- :class:`Randomisation`: maps (steps + 1, N, H, W) per method, similarities (M, S, N) per
  measure, ``.to_rows()``, ``.mean(measure)``.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from xaikit.base.checks import check_images, check_int, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.core import resolve
from xaikit.core.weights import layer_seed, reinitialise
from xaikit.metrics._randomise import (
    ENTROPY_BINS,
    FAST,
    MEASURES,
    ORDERS,
    SIMILARITIES,
    Explainers,
    Randomisation,
    chosen_layers,
    compare_states,
    denoising,
    histogram_entropy,
    labelled,
    measures_of,
    run_test,
    traced_copy,
    twin_of,
)
from xaikit.metrics.common import explainer
from xaikit.metrics.registry import register

__all__ = ["MEASURES", "ORDERS", "SIMILARITIES", "Randomisation", "cascading_randomisation",
           "data_randomisation", "efficient_mprt", "independent_randomisation",
           "permuted_label_model", "permuted_training_set", "random_logit", "smooth_mprt"]


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True, returns="table", fast_options=FAST)
def cascading_randomisation(model: Any, images: Any, methods: Any, targets: Any = None, *,
                            order: str = "top-down", layers: Any = None,
                            similarities: Any = SIMILARITIES, seed: int = 0,
                            batch_size: int = 32) -> Randomisation:
    """Cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018, Fig. 2).

    Layers are re-initialised one after another, from the logits down (``"top-down"``, the
    paper's order) or from the input up (``"bottom-up"``, Hedström et al. 2024's advice), each
    step keeping the earlier ones random; after each step every method explains the same images
    and targets again and its maps are compared with the trained model's:

    .. math:: s_\\ell = s\\big(E(f, x),\\, E(f^{(\\ell)}, x)\\big), \\qquad
              f^{(\\ell)} = f \\text{ with layers } L, L-1, \\dots, \\ell \\text{ re-initialised}.

    Parameters
    ----------
    model : keras.Model
        Sequential or functional classifier (nested models followed); never changed.
    images : array (N, H, W, C)
    methods : str, callable, sequence or dict
        One method (a name of :data:`xaikit.attribution.METHODS` or a callable with the method
        signature), several, or ``{label: method}``. Precomputed maps are refused.
    targets : None, int, N ints or tuple (A, B)
        Resolved once on the trained model (None: its predicted class).
    order : {"top-down", "bottom-up"}
    layers : sequence of str, or dict, optional
        Names of the layers to randomise, one per step (default: every layer holding weights),
        or ``{label: [names]}`` to randomise groups of layers (a network's blocks) as one step
        each; steps follow the forward order of their layers, reversed for "top-down".
    similarities : sequence or dict
        Names of :data:`MEASURES` ("spearman_abs", "spearman", "ssim", "hog", "top_k") or
        functions ``(maps_a, maps_b) -> (N,)``, or ``{label: name or function}``. Default: the
        paper's four.
    seed : int
        Seeds the new weights (layer by layer) and the stochastic methods.
    batch_size : int
        Passed to the methods.

    Returns
    -------
    Randomisation
        Steps in randomisation order; ``maps[m][0]`` are the trained model's maps.

    Raises
    ------
    TypeError
        A subclassed model (it cannot be copied), or precomputed maps.
    ValueError
        Unknown order, layer, measure or method; targets out of range.
    """
    check_option("order", order, ORDERS)
    return run_test(f"cascading {order}", model, images, methods, targets, layers,
                    similarities, seed, batch_size, cumulative=True,
                    reverse=order == "top-down")


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True, returns="table", fast_options=FAST)
def independent_randomisation(model: Any, images: Any, methods: Any, targets: Any = None, *,
                              layers: Any = None, similarities: Any = SIMILARITIES,
                              seed: int = 0, batch_size: int = 32) -> Randomisation:
    """Independent layer randomisation (Adebayo et al., NeurIPS 2018).

    One layer at a time is re-initialised while every other keeps its trained weights:

    .. math:: s_\\ell = s\\big(E(f, x),\\, E(f^{[\\ell]}, x)\\big), \\qquad
              f^{[\\ell]} = f \\text{ with layer } \\ell \\text{ alone re-initialised}.

    A layer gets the same random weights as in :func:`cascading_randomisation` with the same
    ``seed``. Parameters and return value as there (steps in forward order).
    """
    return run_test("independent", model, images, methods, targets, layers, similarities,
                    seed, batch_size, cumulative=False, reverse=False)


def permuted_training_set(name: str, *, seed: int = 0, fast: bool | None = None) -> Any:
    """The training split of zoo entry ``name`` with its labels randomly permuted (seeded)."""
    from xaikit.data import load
    from xaikit.models import zoo_info

    train = load(zoo_info(name, fast=fast)["dataset"], split="train", fast=fast)
    permuted = train.subset(np.arange(len(train)))
    permuted.labels = rng(seed).permutation(permuted.labels)
    return permuted


def permuted_label_model(name: str, *, seed: int = 0, fast: bool | None = None,
                         progress: bool = False) -> Any:
    """The zoo recipe ``name`` trained to fit its training split with the labels permuted.

    Adebayo et al. (NeurIPS 2018, data randomisation test) permute the training labels and train the model
    until it fits them (memorisation). The zoo recipe (:func:`xaikit.models.retrain`: its
    epochs, lock, atomic cache and checkpoints, tag ``"permuted-labels"``) is used with the
    permuted training set as its validation set too, so that early stopping follows the fit to
    the random labels instead of stopping before the network memorises them. The permutation
    and the training are seeded by ``seed`` (:func:`permuted_training_set`).
    """
    from xaikit.models import retrain

    permuted = permuted_training_set(name, seed=seed, fast=fast)
    return retrain(name, permuted, tag="permuted-labels", val_set=permuted, seed=seed,
                   fast=fast, progress=progress)


@register(family="randomisation", needs={"model", "method", "retraining"},
          higher_is_better=False, stochastic=True, returns="table", fast_options=FAST)
def data_randomisation(model: Any, images: Any, methods: Any, targets: Any = None, *,
                       randomised: Any, similarities: Any = SIMILARITIES, seed: int = 0,
                       batch_size: int = 32) -> Randomisation:
    """Data randomisation test (Adebayo et al., NeurIPS 2018, arXiv:1810.03292).

    The maps of the trained model are compared with those of the same architecture trained on
    randomly permuted labels, which can only memorise:

    .. math:: s = s\\big(E(f, x),\\, E(f_{\\text{perm}}, x)\\big)

    Parameters
    ----------
    randomised : keras.Model or str
        The model trained on permuted labels, or a zoo name whose recipe is retrained on them
        (:func:`permuted_label_model` with ``seed``; cached like the zoo).
    model, images, methods, targets, similarities, seed, batch_size
        As :func:`cascading_randomisation`; both models explain the class the trained model
        predicts (or ``targets``).

    Returns
    -------
    Randomisation
        One step, ``"permuted labels"``.
    """
    measures_of(similarities)
    if isinstance(randomised, str):
        randomised = permuted_label_model(randomised, seed=seed)
    resolved = resolve(model, images, targets, batch_size=batch_size)
    explain = Explainers(methods, resolved.images, resolved.targets, batch_size, seed)
    states = [explain(traced_copy(model)), explain(randomised)]
    return compare_states("data", ["permuted labels"], states, similarities)


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True)
def random_logit(model: Any, images: Any, method: Any, targets: Any = None, *,
                 similarity: Any = "ssim", seed: int = 0, batch_size: int = 32) -> np.ndarray:
    """Random-logit test (Sixt, Granz & Landgraf, ICML 2020, arXiv:1912.09818).

    The map of the explained class :math:`c` is compared with the map of a class
    :math:`c' \\neq c` drawn uniformly at random for each image:

    .. math:: s = s\\big(E_c(f, x),\\, E_{c'}(f, x)\\big), \\quad c' \\sim \\mathcal U(\\{1..K\\}
              \\setminus \\{c\\})

    A class-sensitive method scores low; modified-backpropagation methods whose maps do not
    depend on the class score high.

    Parameters
    ----------
    similarity : str or callable
        A name of :data:`MEASURES` or ``(maps_a, maps_b) -> (N,)``; SSIM by default, as
        Quantus' ``RandomLogit``.
    seed : int
        Draws the other classes (and seeds stochastic methods): image by image, from ``seed``
        and the image's content, so an image gets the same class in any batch.
    model, images, method, targets, batch_size
        As :func:`cascading_randomisation`, one method.

    Returns
    -------
    np.ndarray
        float64 (N,).
    """
    (measure,) = measures_of(similarity).values()
    resolved = resolve(model, images, targets, batch_size=batch_size)
    classes, n_classes = resolved.classes, resolved.weights.shape[1]
    if n_classes < 2:
        raise ValueError(message("expected", name="model", expected="at least 2 classes",
                                 got=f"{n_classes} output", fix=""))
    draws = [rng([seed, zlib.crc32(image.tobytes())]).integers(1, n_classes)
             for image in resolved.images]  # per image: the same class in any batch
    other = (classes + np.asarray(draws, np.int64)) % n_classes
    explain, traced = explainer(method, batch_size=batch_size, seed=seed), traced_copy(model)
    return measure(explain(traced, resolved.images, resolved.targets),
                   explain(traced, resolved.images, other))


@register(family="randomisation", needs={"model", "method"}, higher_is_better=True,
          stochastic=True)
def efficient_mprt(model: Any, images: Any, method: Any, targets: Any = None, *,
                   bins: int = ENTROPY_BINS, layers: Any = None, seed: int = 0,
                   batch_size: int = 32) -> np.ndarray:
    """Efficient MPRT: the relative rise in complexity once every layer is random.

    Hedström, Weber, Lapuschkin & Höhne, "A Fresh Look at Sanity Checks for Saliency Maps",
    xAI 2024 (arXiv:2401.06465), eMPRT: with :math:`H` the discrete entropy of a map's histogram
    (``bins`` equal-width bins over its range) and :math:`\\hat f` the model with all ``layers``
    re-initialised,

    .. math:: \\mathrm{eMPRT} = \\frac{H(E(\\hat f, x)) - H(E(f, x))}{H(E(f, x))}.

    A map that depends on the learned weights turns noisier (higher entropy) when they are
    destroyed: higher is better. Only two model states are explained. A constant trained map
    (entropy 0) is divided by the smallest non-zero entropy a map of that size can have.

    Returns
    -------
    np.ndarray
        float64 (N,).
    """
    bins = check_int("bins", bins, minimum=2)
    twin = twin_of(model)
    resolved = resolve(model, images, targets, batch_size=batch_size)
    explain = explainer(method, batch_size=batch_size, seed=seed)
    trained = histogram_entropy(explain(twin, resolved.images, resolved.targets), bins)
    for _, group in chosen_layers(twin, layers):
        for position, layer in group:
            reinitialise(layer, layer_seed(seed, position))
    random = histogram_entropy(explain(twin, resolved.images, resolved.targets), bins)
    twin.set_weights(model.get_weights())
    share = 1.0 / (resolved.images.shape[1] * resolved.images.shape[2])  # one pixel of the map
    smallest = -(share * np.log(share) + (1 - share) * np.log1p(-share))
    return (random - trained) / np.maximum(trained, smallest)


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True, returns="table", fast_options={**FAST, "n_samples": 2})
def smooth_mprt(model: Any, images: Any, methods: Any, targets: Any = None, *,
                n_samples: int = 50, sigma: float = 0.1, order: str = "bottom-up",
                layers: Any = None, similarities: Any = ("spearman_abs",),
                seed: int = 0, batch_size: int = 32) -> Randomisation:
    """Smooth MPRT: cascading randomisation of denoised maps (Hedström et al., xAI 2024, sMPRT).

    Each map is averaged over ``n_samples`` noisy copies of the image before it is compared,

    .. math:: \\bar E(f, x) = \\frac{1}{n} \\sum_{i=1}^{n} E(f, x + \\varepsilon_i), \\quad
              \\varepsilon_i \\sim \\mathcal N(0, (\\sigma (\\max x - \\min x))^2),

    so that the shattered-gradient noise of the trained model's maps no longer inflates the
    dissimilarity (the paper's first shortcoming of MPRT); the layers are randomised bottom-up by
    default, as the paper recommends. The same noise is used at every step (seeded).

    Parameters
    ----------
    n_samples : int
        Noisy copies per image (50 as the paper's ImageNet setting).
    sigma : float
        Noise standard deviation as a fraction of each image's range (0.1).
    model, images, methods, targets, order, layers, similarities, seed, batch_size
        As :func:`cascading_randomisation`.

    Returns
    -------
    Randomisation
    """
    n_samples = check_int("n_samples", n_samples)
    sigma = check_number("sigma", sigma, low=0.0)
    check_images(images)
    check_option("order", order, ORDERS)
    smoothed = {label: denoising(method, n_samples, sigma, seed, batch_size)
                for label, method in labelled(methods).items()}
    return run_test(f"smooth {order}", model, images, smoothed, targets, layers,
                    similarities, seed, batch_size, cumulative=True,
                    reverse=order == "top-down")
