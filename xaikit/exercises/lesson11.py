"""Exercises of lesson 11, "Robustness, and can we trust the metrics?".

``11.max_sensitivity``: the Monte-Carlo max-sensitivity of Yeh et al. (NeurIPS 2019, Def. 3.1),
relative to the explanation's norm, for one image and given perturbations,

.. math:: \\max_j \\frac{\\lVert \\Phi(x + \\delta_j) - \\Phi(x) \\rVert_2}{\\lVert \\Phi(x) \\rVert_2},

where the explanation :math:`\\Phi` is a Keras model mapping images (N, H, W, C) to maps (N, H, W).

``11.gini``: the sparseness of Chalasani et al. (ICML 2020): the Gini index of each map's absolute
values (Hurley & Rickard 2009), with :math:`|a|` sorted increasingly,

.. math:: G(a) = \\frac{\\sum_{i=1}^{n} (2i - n - 1)\\, a_{(i)}}{n \\sum_{i} a_{(i)}}.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _explainer(size: tuple[int, int, int], seed: int, activation: str) -> Any:
    """A Keras 'explanation': images (N, H, W, C) -> maps (N, H, W), smooth and non-constant."""
    import keras

    return keras.Sequential([
        keras.Input(size),
        keras.layers.Conv2D(1, 3, padding="same", activation=activation,
                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                            bias_initializer=keras.initializers.Constant(0.3)),
        keras.layers.Reshape(size[:2]),
    ])


def _sensitivity_expected(explain: Any, image: np.ndarray, deltas: np.ndarray) -> float:
    clean = np.asarray(explain(np.asarray(image, np.float32)[None]), np.float64)
    moved = np.asarray(explain((np.asarray(image)[None] + np.asarray(deltas)).astype(np.float32)),
                       np.float64)
    change = np.sqrt(((moved - clean) ** 2).sum(axis=(1, 2)))
    return float(change.max() / np.sqrt((clean**2).sum()))


def _sensitivity_public() -> list[Case]:
    generator = np.random.default_rng(0)
    return [
        Case("8x8 RGB, tanh explanation, 5 perturbations in [-0.05, 0.05]",
             (_explainer((8, 8, 3), 0, "tanh"), generator.random((8, 8, 3), dtype=np.float32),
              generator.uniform(-0.05, 0.05, (5, 8, 8, 3)).astype(np.float32))),
        Case("6x6 grey, squared explanation, 3 perturbations",
             (_explainer((6, 6, 1), 1, "softplus"), generator.random((6, 6, 1), dtype=np.float32),
              generator.uniform(-0.1, 0.1, (3, 6, 6, 1)).astype(np.float32))),
    ]


def _sensitivity_hidden(seed: int) -> list[Case]:
    generator = np.random.default_rng(seed)
    cases = []
    for i, (samples, first_zero) in enumerate([(1, False), (6, True), (4, False)]):
        # one perturbation; the zero perturbation among others (its ratio is 0); several
        side, channels = int(generator.integers(4, 9)), int(generator.choice([1, 3]))
        deltas = generator.uniform(-0.1, 0.1, (samples, side, side, channels)).astype(np.float32)
        if first_zero:
            deltas[0] = 0.0
        cases.append(Case(f"hidden case {i + 1}: {samples} perturbation(s), {side}x{side}",
                          (_explainer((side, side, channels), int(generator.integers(10**6)),
                                      str(generator.choice(["tanh", "softplus", "sigmoid"]))),
                           generator.random((side, side, channels), dtype=np.float32), deltas)))
    return cases


def _gini_expected(maps: np.ndarray) -> np.ndarray:
    from xaikit.metrics.complexity import sparseness

    return sparseness(np.asarray(maps, np.float64))


def _gini_public() -> list[Case]:
    one_hot = np.zeros((1, 2, 2))
    one_hot[0, 1, 0] = 4.0
    rng = np.random.default_rng(1)
    return [
        Case("one non-zero pixel of 4: G = 1 - 1/4", (one_hot,), expected=np.array([0.75])),
        Case("three signed 5x7 maps (magnitudes count)", (rng.normal(size=(3, 5, 7)),)),
    ]


def _gini_hidden(seed: int) -> list[Case]:
    generator = np.random.default_rng(seed)
    sparse = generator.normal(size=(2, 6, 6)) * (generator.random((2, 6, 6)) < 0.2)
    sparse[:, 0, 0] = 1.5  # never all zero
    one_hot = np.zeros((1, 3, 5))
    one_hot[0, int(generator.integers(3)), int(generator.integers(5))] = -float(
        generator.uniform(0.5, 3))
    return [Case("hidden case 1: mostly zeros, signed", (sparse,)),
            Case("hidden case 2: a negative one-hot map", (one_hot,)),
            Case("hidden case 3: positive ramps of several widths",
                 (np.stack([np.linspace(0.1, 1.0, 16).reshape(4, 4) ** p
                            for p in generator.uniform(0.5, 4.0, 3)]),))]


register(
    Exercise(
        id="11.max_sensitivity",
        title="Max-sensitivity (Yeh et al. 2019)",
        function="max_sensitivity",
        points=1,
        public_cases=_sensitivity_public,
        hidden_cases=_sensitivity_hidden,
        oracle=_sensitivity_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-7),
        reference="solutions/11_robustness.py:max_sensitivity",
        forbidden=("xaikit.metrics.robustness.max_sensitivity",
                   "xaikit.metrics.robustness.avg_sensitivity"),
        hint="maps = explain(image[None]) and moved = explain(image[None] + deltas) (one batch); "
             "the Frobenius norm of each (moved - maps) over axes (1, 2), divided by the norm of "
             "maps; return the largest ratio as a float",
    ),
    Exercise(
        id="11.gini",
        title="Sparseness: the Gini index of a map",
        function="gini",
        points=1,
        public_cases=_gini_public,
        hidden_cases=_gini_hidden,
        oracle=_gini_expected,
        compare=functools.partial(compare_outputs, rtol=1e-9, atol=1e-12),
        reference="solutions/11_robustness.py:gini",
        forbidden=("xaikit.metrics.complexity.sparseness",),
        hint="a = np.sort(np.abs(maps).reshape(len(maps), -1), axis=1); i = np.arange(1, n + 1); "
             "G = ((2 * i - n - 1) * a).sum(axis=1) / (n * a.sum(axis=1))",
    ),
)
