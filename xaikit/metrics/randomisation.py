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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_images, check_int, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.core import cached, resolve
from xaikit.core.weights import copy_model, layer_seed, reinitialise, weighted_layers
from xaikit.metrics.common import explainer
from xaikit.metrics.registry import register
from xaikit.metrics.similarity import (
    hog_similarity,
    spearman,
    spearman_abs,
    ssim,
    top_k_intersection,
)

__all__ = ["MEASURES", "ORDERS", "SIMILARITIES", "Randomisation", "cascading_randomisation",
           "data_randomisation", "efficient_mprt", "independent_randomisation",
           "permuted_label_model", "random_logit", "smooth_mprt"]

MEASURES: dict[str, Callable[..., np.ndarray]] = {
    "spearman_abs": spearman_abs, "spearman": spearman, "ssim": ssim, "hog": hog_similarity,
    "top_k": top_k_intersection}
SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog")  # Adebayo et al., Sec. 3
ORDERS = ("top-down", "bottom-up")
FAST = {"similarities": ("spearman_abs", "ssim")}  # the contract's 12-pixel images are too small
ENTROPY_BINS = 100  # eMPRT: equal-width histogram bins of a map (Quantus' discrete_entropy)


@dataclass(frozen=True)
class Randomisation:
    """Maps and similarities of a randomisation test.

    Attributes
    ----------
    test : str
        "cascading top-down", "cascading bottom-up", "independent" or "data".
    steps : tuple of str
        The randomised state of each step (S): the layer re-initialised at that step
        (cascading: with all before it), or "permuted labels".
    methods : tuple of str
        The method labels (M).
    maps : dict
        method -> float32 (S + 1, N, H, W): the trained model's maps first, then each step's.
    similarity : dict
        measure -> float64 (M, S, N): similarity of each step's map to the trained model's.
    """

    test: str
    steps: tuple[str, ...]
    methods: tuple[str, ...]
    maps: dict[str, np.ndarray]
    similarity: dict[str, np.ndarray]

    def mean(self, measure: str = "spearman_abs") -> np.ndarray:
        """(M, S) similarity averaged over the images."""
        return self.similarity[measure].mean(axis=2)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per (method, step, measure, image): a tidy table."""
        return [{"test": self.test, "method": method, "step": s + 1, "layer": step,
                 "measure": measure, "image": i, "similarity": float(value)}
                for measure, values in self.similarity.items()
                for m, method in enumerate(self.methods)
                for s, step in enumerate(self.steps)
                for i, value in enumerate(values[m, s])]


def _name(function: Any, default: str) -> str:
    """A label for a function or a functools.partial of one."""
    return getattr(function, "__name__", getattr(getattr(function, "func", None), "__name__",
                                                 default))


def _labelled(methods: Any) -> dict[str, Any]:
    if isinstance(methods, Mapping):
        return dict(methods)
    if isinstance(methods, str) or callable(methods):
        methods = [methods]
    labelled = {}
    for method in methods:
        label = method if isinstance(method, str) else _name(method, "method")
        labelled[label if label not in labelled else f"{label}_{len(labelled)}"] = method
    return labelled


def _measures(similarities: Any) -> dict[str, Callable[..., np.ndarray]]:
    if isinstance(similarities, str) or callable(similarities):
        similarities = [similarities]
    measures = {}
    for measure in similarities:
        if callable(measure):
            measures[_name(measure, f"measure_{len(measures)}")] = measure
        else:
            check_option("similarities", measure, MEASURES)
            measures[measure] = MEASURES[measure]
    return measures


def _twin(model: Any) -> Any:
    """The cached copy of ``model`` (compiled functions traced once), reset to its weights."""
    twin = cached(model, ("randomisation_copy",), lambda: copy_model(model))
    twin.set_weights(model.get_weights())
    return twin


def _chosen(twin: Any, layers: Sequence[str] | None) -> list[tuple[int, Any]]:
    """(position among the weighted layers, layer) of the layers to randomise, forward order."""
    candidates = weighted_layers(twin)
    names = [layer.name for layer in candidates]
    if layers is None:
        return list(enumerate(candidates))
    if isinstance(layers, str) or not layers or any(name not in names for name in layers):
        unknown = [name for name in ([layers] if isinstance(layers, str) else layers)
                   if name not in names]
        problem = f"unknown {unknown}" if unknown else "give at least one layer name"
        raise ValueError(message("randomise_layers", got=layers, problem=problem, allowed=names))
    return [(i, layer) for i, layer in enumerate(candidates) if layer.name in layers]


class _Explainers:
    """Maps of every method for one model state, all images at once, one target per image."""

    def __init__(self, methods: Any, images: np.ndarray, targets: Any, batch_size: int,
                 seed: int) -> None:
        self.functions = {label: explainer(method, batch_size=batch_size, seed=seed)
                          for label, method in _labelled(methods).items()}
        self.images, self.targets = images, targets

    def __call__(self, model: Any) -> dict[str, np.ndarray]:
        return {label: explain(model, self.images, self.targets).astype(np.float32)
                for label, explain in self.functions.items()}


def _compare(test: str, steps: list[str], states: list[dict[str, np.ndarray]],
             similarities: Any) -> Randomisation:
    methods = tuple(states[0])
    maps = {m: np.stack([state[m] for state in states]) for m in methods}
    similarity = {name: np.stack([np.stack([measure(maps[m][0], maps[m][s + 1])
                                            for s in range(len(steps))]) for m in methods])
                  for name, measure in _measures(similarities).items()}
    return Randomisation(test, tuple(steps), methods, maps, similarity)


def _run(test: str, model: Any, images: Any, methods: Any, targets: Any, layers: Any,
         similarities: Any, seed: int, batch_size: int, *, cumulative: bool,
         reverse: bool) -> Randomisation:
    _measures(similarities)  # unknown measure names fail before any work
    twin = _twin(model)
    resolved = resolve(model, images, targets, batch_size=batch_size)
    chosen = _chosen(twin, layers)[::-1 if reverse else 1]
    explain = _Explainers(methods, resolved.images, resolved.targets, batch_size, seed)
    states = [explain(twin)]
    for position, layer in chosen:
        saved = layer.get_weights()
        reinitialise(layer, layer_seed(seed, position))
        states.append(explain(twin))
        if not cumulative:
            layer.set_weights(saved)
    twin.set_weights(model.get_weights())
    return _compare(test, [layer.name for _, layer in chosen], states, similarities)


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True, returns="table", fast_options=FAST)
def cascading_randomisation(model: Any, images: Any, methods: Any, targets: Any = None, *,
                            order: str = "top-down", layers: Sequence[str] | None = None,
                            similarities: Any = SIMILARITIES, seed: int = 0,
                            batch_size: int = 32) -> Randomisation:
    """Cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018, Sec. 3.1, Fig. 2).

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
    layers : sequence of str, optional
        Names of the layers to randomise (default: every layer holding weights).
    similarities : sequence of str or callables
        Names of :data:`MEASURES` ("spearman_abs", "spearman", "ssim", "hog", "top_k") or
        functions ``(maps_a, maps_b) -> (N,)``. Default: the paper's four.
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
    return _run(f"cascading {order}", model, images, methods, targets, layers, similarities,
                seed, batch_size, cumulative=True, reverse=order == "top-down")


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True, returns="table", fast_options=FAST)
def independent_randomisation(model: Any, images: Any, methods: Any, targets: Any = None, *,
                              layers: Sequence[str] | None = None,
                              similarities: Any = SIMILARITIES, seed: int = 0,
                              batch_size: int = 32) -> Randomisation:
    """Independent layer randomisation (Adebayo et al., NeurIPS 2018, Sec. 3.1, Fig. 5).

    One layer at a time is re-initialised while every other keeps its trained weights:

    .. math:: s_\\ell = s\\big(E(f, x),\\, E(f^{[\\ell]}, x)\\big), \\qquad
              f^{[\\ell]} = f \\text{ with layer } \\ell \\text{ alone re-initialised}.

    A layer gets the same random weights as in :func:`cascading_randomisation` with the same
    ``seed``. Parameters and return value as there (steps in forward order).
    """
    return _run("independent", model, images, methods, targets, layers, similarities, seed,
                batch_size, cumulative=False, reverse=False)


def permuted_label_model(name: str, *, seed: int = 0, fast: bool | None = None,
                         progress: bool = False) -> Any:
    """The zoo recipe ``name`` trained on its training split with the labels permuted.

    Adebayo et al. (NeurIPS 2018, Sec. 3.2): "we randomly permute the training labels and train
    the model to ... fit the random labels". Trained once with :func:`xaikit.models.retrain`
    (the zoo's recipe, lock, atomic cache and checkpoints) under the tag ``"permuted-labels"``;
    the permutation and the training are seeded by ``seed``.
    """
    from xaikit.data import load
    from xaikit.models import retrain, zoo_info

    train = load(zoo_info(name, fast=fast)["dataset"], split="train", fast=fast)
    permuted = train.subset(np.arange(len(train)))
    permuted.labels = rng(seed).permutation(permuted.labels)
    return retrain(name, permuted, tag="permuted-labels", seed=seed, fast=fast,
                   progress=progress)


@register(family="randomisation", needs={"model", "method", "retraining"},
          higher_is_better=False, stochastic=True, returns="table", fast_options=FAST)
def data_randomisation(model: Any, images: Any, methods: Any, targets: Any = None, *,
                       randomised: Any, similarities: Any = SIMILARITIES, seed: int = 0,
                       batch_size: int = 32) -> Randomisation:
    """Data randomisation test (Adebayo et al., NeurIPS 2018, Sec. 3.2, Fig. 6).

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
    _measures(similarities)
    if isinstance(randomised, str):
        randomised = permuted_label_model(randomised, seed=seed)
    resolved = resolve(model, images, targets, batch_size=batch_size)
    explain = _Explainers(methods, resolved.images, resolved.targets, batch_size, seed)
    return _compare("data", ["permuted labels"], [explain(model), explain(randomised)],
                    similarities)


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True)
def random_logit(model: Any, images: Any, method: Any, targets: Any = None, *,
                 similarity: Any = "ssim", seed: int = 0, batch_size: int = 32) -> np.ndarray:
    """Random-logit test (Sixt, Granz & Landgraf, ICML 2020, arXiv:1912.09818, Sec. 5).

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
    (measure,) = _measures(similarity).values()
    resolved = resolve(model, images, targets, batch_size=batch_size)
    classes, n_classes = resolved.classes, resolved.weights.shape[1]
    if n_classes < 2:
        raise ValueError(message("expected", name="model", expected="at least 2 classes",
                                 got=f"{n_classes} output", fix=""))
    draws = [rng([seed, zlib.crc32(image.tobytes())]).integers(1, n_classes)
             for image in resolved.images]  # per image: the same class in any batch
    other = (classes + np.asarray(draws, np.int64)) % n_classes
    explain = explainer(method, batch_size=batch_size, seed=seed)
    return measure(explain(model, resolved.images, resolved.targets),
                   explain(model, resolved.images, other))


def _entropy(maps: np.ndarray, bins: int) -> np.ndarray:
    """Shannon entropy (nats) of each map's histogram of ``bins`` equal bins over [min, max]."""
    flat = maps.reshape(len(maps), -1)
    low, span = flat.min(axis=1, keepdims=True), np.ptp(flat, axis=1, keepdims=True)
    index = np.clip(np.floor(np.divide(flat - low, span, out=np.zeros_like(flat),
                                       where=span > 0) * bins), 0, bins - 1).astype(np.int64)
    counts = np.zeros((len(maps), bins))
    np.add.at(counts, (np.arange(len(maps))[:, None], index), 1.0)
    share = counts / flat.shape[1]
    return -np.sum(share * np.log(np.where(share > 0, share, 1.0)), axis=1)


@register(family="randomisation", needs={"model", "method"}, higher_is_better=True,
          stochastic=True)
def efficient_mprt(model: Any, images: Any, method: Any, targets: Any = None, *,
                   bins: int = ENTROPY_BINS, layers: Sequence[str] | None = None, seed: int = 0,
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
    twin = _twin(model)
    resolved = resolve(model, images, targets, batch_size=batch_size)
    explain = explainer(method, batch_size=batch_size, seed=seed)
    trained = _entropy(explain(twin, resolved.images, resolved.targets), bins)
    for position, layer in _chosen(twin, layers):
        reinitialise(layer, layer_seed(seed, position))
    random = _entropy(explain(twin, resolved.images, resolved.targets), bins)
    twin.set_weights(model.get_weights())
    pixels = resolved.images.shape[1] * resolved.images.shape[2]
    smallest = -((pixels - 1) / pixels * np.log((pixels - 1) / pixels) + np.log(1 / pixels) / pixels)
    return (random - trained) / np.maximum(trained, smallest)


def _denoised(method: Any, n_samples: int, sigma: float, seed: int, batch_size: int) -> Callable:
    explain = explainer(method, batch_size=batch_size, seed=seed)

    def denoised(model: Any, images: np.ndarray, targets: Any = None, **_: Any) -> np.ndarray:
        scale = sigma * np.ptp(images, axis=(1, 2, 3)).astype(np.float32)
        noise = rng(seed).standard_normal((n_samples, *images.shape), dtype=np.float32)
        noisy = (images[None] + scale[None, :, None, None, None] * noise).reshape(
            -1, *images.shape[1:])
        repeated = (tuple(np.tile(t, n_samples) for t in targets) if isinstance(targets, tuple)
                    else np.tile(targets, n_samples))
        maps = explain(model, noisy, repeated)
        return maps.reshape(n_samples, len(images), *maps.shape[1:]).mean(axis=0)

    denoised.__name__ = getattr(method, "__name__", str(method))
    return denoised


@register(family="randomisation", needs={"model", "method"}, higher_is_better=False,
          stochastic=True, returns="table", fast_options={**FAST, "n_samples": 2})
def smooth_mprt(model: Any, images: Any, methods: Any, targets: Any = None, *,
                n_samples: int = 50, sigma: float = 0.1, order: str = "bottom-up",
                layers: Sequence[str] | None = None, similarities: Any = ("spearman_abs",),
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
    smoothed = {label: _denoised(method, n_samples, sigma, seed, batch_size)
                for label, method in _labelled(methods).items()}
    return _run(f"smooth {order}", model, images, smoothed, targets, layers, similarities,
                seed, batch_size, cumulative=True, reverse=order == "top-down")
