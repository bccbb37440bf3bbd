"""Exercises of lesson 04, "Why gradients are noisy, and the fixes".

``04.smooth_grad``: SmoothGrad (Smilkov et al. 2017, Eq. 3) with the noise given,

.. math:: \\hat M(x) = \\frac{1}{n} \\sum_{s=1}^{n} \\nabla_x S(x + \\sigma (\\max x - \\min x)\\,
          \\varepsilon_s), \\qquad \\varepsilon_s \\sim \\mathcal N(0, I),

returning the averaged raw gradient (N, H, W, C); ``noise`` has shape (n, N, H, W, C).

``04.integrated_gradients_trapezoid``: Integrated Gradients (Sundararajan et al. 2017, Eq. 1)
with the trapezoid rule on m intervals (m + 1 points alpha_k = k/m, end points weighted 1/2),

.. math:: \\text{IG}(x) = (x - x') \\odot \\frac{1}{m} \\sum_{k=0}^{m} c_k\\,
          \\nabla S(x' + \\tfrac{k}{m}(x - x')), \\quad c_0 = c_m = \\tfrac12,\\ c_k = 1,

returning (N, H, W, C). Models output the scores S (no softmax).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register

_GRADIENT_FUNCTIONS = (
    "xaikit.attribution.gradient", "xaikit.attribution.saliency",
    "xaikit.attribution.gradient_x_input", "xaikit.core.input_gradients",
    "xaikit.core.batching.gradients",
)


def _cnn(size: int, channels: int, n_classes: int, seed: int) -> Any:
    """A small random ReLU CNN with linear scores, weights drawn from ``seed``."""
    import keras

    def init(offset: int) -> Any:
        return keras.initializers.GlorotUniform(seed=seed + offset)

    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(0))(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init(1))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(n_classes, name="logits", kernel_initializer=init(2))(x)
    return keras.Model(inputs, outputs)


def _sum_of_squares(size: int = 3) -> Any:
    """S(x) = sum_i x_i^2 (one output): IG_i = x_i^2 - x'_i^2 exactly for the trapezoid rule."""
    import keras

    inputs = keras.Input((size, size, 1))
    squares = keras.layers.Flatten()(keras.layers.Multiply()([inputs, inputs]))
    return keras.Model(inputs, keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")(squares))


# --- 04.smooth_grad ----------------------------------------------------------------------------
def _smooth_grad_expected(model: Any, images: np.ndarray, targets: np.ndarray, noise: np.ndarray,
                          sigma: float) -> np.ndarray:
    from xaikit.attribution import smoothgrad

    return smoothgrad(model, images, np.asarray(targets), method="gradient", n_samples=len(noise),
                      sigma=sigma, noise=noise, per_channel=True)


def _smooth_grad_public() -> list[Case]:
    rng = np.random.default_rng(0)
    square = _sum_of_squares()
    image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1) / 8.0
    noise = rng.standard_normal((4, 1, 3, 3, 1)).astype(np.float32)
    by_hand = 2 * (image + 0.1 * noise).mean(axis=0)  # the gradient of sum x^2 is 2x; range is 1
    return [
        Case("S = sum x^2: the average of 2 (x + 0.1 noise) over 4 copies",
             (square, image, np.array([0]), noise, 0.1), expected=by_hand),
        Case("a small CNN, 2 colour images, 3 noisy copies",
             (_cnn(8, 3, 3, seed=0), rng.uniform(size=(2, 8, 8, 3)).astype(np.float32),
              np.array([2, 0]), rng.standard_normal((3, 2, 8, 8, 3)).astype(np.float32), 0.15)),
        Case("sigma = 0: plain gradient",
             (_cnn(6, 1, 2, seed=3), rng.uniform(size=(1, 6, 6, 1)).astype(np.float32),
              np.array([1]), rng.standard_normal((2, 1, 6, 6, 1)).astype(np.float32), 0.0)),
    ]


SMOOTH_GRAD_KINDS = (
    ("one grey image, float32", 1, 1, np.float32),
    ("several colour images, float32", 3, 3, np.float32),
    ("several grey images given as float64", 2, 1, np.float64),
)


def _smooth_grad_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, n, channels, dtype in SMOOTH_GRAD_KINDS:
        size, n_classes, n_samples = int(rng.choice([6, 8])), int(rng.integers(2, 5)), \
            int(rng.integers(2, 6))
        model = _cnn(size, channels, n_classes, seed=int(rng.integers(1_000_000)))
        images = rng.uniform(-1, 2, size=(n, size, size, channels)).astype(dtype)
        noise = rng.standard_normal((n_samples, n, size, size, channels)).astype(dtype)
        cases.append(Case(f"{name}, {n_samples} noisy copies",
                          (model, images, rng.integers(0, n_classes, size=n), noise,
                           float(rng.uniform(0.05, 0.3)))))
    return cases


# --- 04.integrated_gradients_trapezoid -----------------------------------------------------------
def _ig_expected(model: Any, images: np.ndarray, targets: np.ndarray, baseline: np.ndarray,
                 steps: int) -> np.ndarray:
    from xaikit.attribution import integrated_gradients

    return integrated_gradients(model, images, np.asarray(targets), baseline=baseline, steps=steps,
                                rule="trapezoid", per_channel=True)


def _ig_public() -> list[Case]:
    rng = np.random.default_rng(1)
    image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1) / 8.0
    return [
        Case("S = sum x^2, black baseline: IG = x^2 exactly (completeness)",
             (_sum_of_squares(), image, np.array([0]), np.zeros_like(image), 4), expected=image**2),
        Case("a small CNN, 2 images, a grey baseline, 8 steps",
             (_cnn(8, 3, 3, seed=1), rng.uniform(size=(2, 8, 8, 3)).astype(np.float32),
              np.array([1, 2]), np.full((2, 8, 8, 3), 0.5, np.float32), 8)),
    ]


IG_KINDS = (
    ("one image, a black baseline", 1, np.float32, "black", None),
    ("several images, a random baseline", 3, np.float32, "random", None),
    ("several images given as float64, one interval (steps = 1)", 2, np.float64, "random", 1),
)


def _ig_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, n, dtype, baseline_kind, fixed_steps in IG_KINDS:
        size, channels = int(rng.choice([6, 8])), int(rng.choice([1, 3]))
        n_classes = int(rng.integers(2, 5))
        steps = fixed_steps or int(rng.integers(3, 17))
        model = _cnn(size, channels, n_classes, seed=int(rng.integers(1_000_000)))
        images = rng.uniform(size=(n, size, size, channels)).astype(dtype)
        baseline = np.zeros_like(images) if baseline_kind == "black" else \
            rng.uniform(size=images.shape).astype(dtype)
        cases.append(Case(f"{name}, {steps} step(s)",
                          (model, images, rng.integers(0, n_classes, size=n), baseline, steps)))
    return cases


register(
    Exercise(
        id="04.smooth_grad",
        title="SmoothGrad with given noise (Smilkov et al. 2017, Eq. 3)",
        function="smooth_grad",
        points=2,
        public_cases=_smooth_grad_public,
        hidden_cases=_smooth_grad_hidden,
        oracle=_smooth_grad_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-5),
        reference="solutions/04_noisy_gradients.py:smooth_grad",
        forbidden=("xaikit.attribution.smoothgrad", *_GRADIENT_FUNCTIONS),
        hint="the noise is given: Eq. 3 scales it by sigma times each image's own value range; "
             "all noisy copies of all images can go through the model as one batch, with each "
             "copy keeping its image's target; then average the gradients over the copies",
    ),
    Exercise(
        id="04.integrated_gradients_trapezoid",
        title="Integrated Gradients with the trapezoid rule (Sundararajan et al. 2017)",
        function="integrated_gradients_trapezoid",
        points=2,
        public_cases=_ig_public,
        hidden_cases=_ig_hidden,
        oracle=_ig_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-5),
        reference="solutions/04_noisy_gradients.py:integrated_gradients_trapezoid",
        forbidden=("xaikit.attribution.integrated_gradients", *_GRADIENT_FUNCTIONS),
        hint="m intervals have m + 1 path points from the baseline to the image; the trapezoid "
             "rule gives the two end points half the weight of the others; all path points can "
             "go through the model as one batch. Check completeness on a toy model",
    ),
)
