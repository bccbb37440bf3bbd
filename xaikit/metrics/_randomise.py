"""The machinery the randomisation tests share (see :mod:`xaikit.metrics.randomisation`).

One cached copy of the model per user model, re-initialised in place step by step; the methods
resolved once into explainers; the maps of every state compared with the trained model's by the
similarity measures of :mod:`xaikit.metrics.similarity`; the result as :class:`Randomisation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_option, rng
from xaikit.base.messages import message
from xaikit.core import cached, resolve
from xaikit.core.weights import copy_model, layer_seed, reinitialise, weighted_layers
from xaikit.metrics.common import explainer
from xaikit.metrics.similarity import (
    hog_similarity,
    spearman,
    spearman_abs,
    ssim,
    top_k_intersection,
)

MEASURES: dict[str, Callable[..., np.ndarray]] = {
    "spearman_abs": spearman_abs, "spearman": spearman, "ssim": ssim, "hog": hog_similarity,
    "top_k": top_k_intersection}
SIMILARITIES = ("spearman_abs", "spearman", "ssim", "hog")  # Adebayo et al.'s four
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


def label_of(function: Any, default: str) -> str:
    """A label for a function or a functools.partial of one."""
    return getattr(function, "__name__", getattr(getattr(function, "func", None), "__name__",
                                                 default))


def labelled(methods: Any) -> dict[str, Any]:
    if isinstance(methods, Mapping):
        return dict(methods)
    if isinstance(methods, str) or callable(methods):
        methods = [methods]
    labelled = {}
    for method in methods:
        label = method if isinstance(method, str) else label_of(method, "method")
        labelled[label if label not in labelled else f"{label}_{len(labelled)}"] = method
    return labelled


def measures_of(similarities: Any) -> dict[str, Callable[..., np.ndarray]]:
    if isinstance(similarities, Mapping):
        return {label: measure if callable(measure) else measures_of(measure)[measure]
                for label, measure in similarities.items()}
    if isinstance(similarities, str) or callable(similarities):
        similarities = [similarities]
    measures = {}
    for measure in similarities:
        if callable(measure):
            measures[label_of(measure, f"measure_{len(measures)}")] = measure
        else:
            check_option("similarities", measure, MEASURES)
            measures[measure] = MEASURES[measure]
    return measures


def twin_of(model: Any) -> Any:
    """The cached copy of ``model`` (compiled functions traced once), reset to its weights."""
    twin = cached(model, ("randomisation_copy",), lambda: copy_model(model))
    twin.set_weights(model.get_weights())
    return twin


def traced_copy(model: Any) -> Any:
    """The cached copy of ``model`` when it can be copied (its compiled functions are already
    traced by earlier tests), else ``model`` itself: for tests that only explain the model."""
    try:
        return twin_of(model)
    except TypeError:
        return model


def chosen_layers(twin: Any, layers: Any) -> list[tuple[str, list[tuple[int, Any]]]]:
    """The steps of a test in forward order: (label, [(position among the weighted layers,
    layer), ...]) for each layer, or each group of layers randomised together."""
    candidates = weighted_layers(twin)
    position = {layer.name: i for i, layer in enumerate(candidates)}
    if layers is None:
        return [(layer.name, [(i, layer)]) for i, layer in enumerate(candidates)]
    if isinstance(layers, Mapping):
        groups = [(str(label), [names] if isinstance(names, str) else list(names))
                  for label, names in layers.items()]
    else:
        groups = [] if isinstance(layers, str) else [(name, [name]) for name in layers]
    unknown = [name for _, names in groups for name in names if name not in position]
    if not groups or unknown or not all(names for _, names in groups):
        problem = f"unknown {unknown}" if unknown else "give at least one layer name per step"
        raise ValueError(message("randomise_layers", got=layers, problem=problem,
                                 allowed=list(position)))
    steps = [(label, [(position[name], candidates[position[name]]) for name in names])
             for label, names in groups]
    return sorted(steps, key=lambda step: min(p for p, _ in step[1]))


class Explainers:
    """Maps of every method for one model state, all images at once, one target per image."""

    def __init__(self, methods: Any, images: np.ndarray, targets: Any, batch_size: int,
                 seed: int) -> None:
        self.functions = {label: explainer(method, batch_size=batch_size, seed=seed)
                          for label, method in labelled(methods).items()}
        self.images, self.targets = images, targets

    def __call__(self, model: Any) -> dict[str, np.ndarray]:
        return {label: explain(model, self.images, self.targets).astype(np.float32)
                for label, explain in self.functions.items()}


def compare_states(test: str, steps: list[str], states: list[dict[str, np.ndarray]],
                   similarities: Any) -> Randomisation:
    methods = tuple(states[0])
    maps = {m: np.stack([state[m] for state in states]) for m in methods}
    similarity = {name: np.stack([np.stack([measure(maps[m][0], maps[m][s + 1])
                                            for s in range(len(steps))]) for m in methods])
                  for name, measure in measures_of(similarities).items()}
    return Randomisation(test, tuple(steps), methods, maps, similarity)


def run_test(test: str, model: Any, images: Any, methods: Any, targets: Any, layers: Any,
             similarities: Any, seed: int, batch_size: int, *, cumulative: bool,
             reverse: bool) -> Randomisation:
    measures_of(similarities)  # unknown measure names fail before any work
    twin = twin_of(model)
    resolved = resolve(model, images, targets, batch_size=batch_size)
    chosen = chosen_layers(twin, layers)[::-1 if reverse else 1]
    explain = Explainers(methods, resolved.images, resolved.targets, batch_size, seed)
    states = [explain(twin)]
    for _, group in chosen:
        saved = [layer.get_weights() for _, layer in group]
        for position, layer in group:
            reinitialise(layer, layer_seed(seed, position))
        states.append(explain(twin))
        if not cumulative:
            for (_, layer), weights in zip(group, saved):
                layer.set_weights(weights)
    twin.set_weights(model.get_weights())
    return compare_states(test, [label for label, _ in chosen], states, similarities)


def histogram_entropy(maps: np.ndarray, bins: int) -> np.ndarray:
    """Shannon entropy (nats) of each map's histogram of ``bins`` equal bins over [min, max]."""
    flat = maps.reshape(len(maps), -1)
    low, span = flat.min(axis=1, keepdims=True), np.ptp(flat, axis=1, keepdims=True)
    index = np.clip(np.floor(np.divide(flat - low, span, out=np.zeros_like(flat),
                                       where=span > 0) * bins), 0, bins - 1).astype(np.int64)
    counts = np.zeros((len(maps), bins))
    np.add.at(counts, (np.arange(len(maps))[:, None], index), 1.0)
    share = counts / flat.shape[1]
    return -np.sum(share * np.log(np.where(share > 0, share, 1.0)), axis=1)


def denoising(method: Any, n_samples: int, sigma: float, seed: int, batch_size: int) -> Callable:
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
