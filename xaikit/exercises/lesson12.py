"""Exercises of lesson 12, "What do units see?" (receptive fields, activation maximisation).

``12.receptive_field``: the receptive field of a chain of layers, each ``(kernel, stride,
dilation)`` (Araujo, Norris & Sim, Distill 2019, Eqs. 1-2):

.. math:: k' = d(k - 1) + 1, \\quad r \\leftarrow r + (k' - 1) j, \\quad j \\leftarrow j s,

starting from r = j = 1; returns ``(r, j)``.

``12.ascent_step``: one step of gradient ascent on
:math:`S(x) = f(\\mathrm{roll}(x, \\delta))_0 - \\lambda\\, TV(x)` with
:math:`TV(x) = \\sum (x_{i+1,j} - x_{ij})^2 + \\sum (x_{i,j+1} - x_{ij})^2` (over channels),
returning :math:`x + \\eta \\nabla_x S` (Mordvintsev et al.'s jitter; Mahendran & Vedaldi's TV
with beta = 2).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _field_expected(layers: list) -> tuple[int, int]:
    import keras

    from xaikit.interpretation.units import receptive_field

    stack = [keras.layers.Conv2D(1, int(k), strides=int(s), dilation_rate=int(d), padding="same",
                                 name=f"layer{i}") for i, (k, s, d) in enumerate(layers)]
    model = keras.Sequential([keras.Input((64, 64, 1)), *stack])
    field = receptive_field(model, f"layer{len(layers) - 1}")
    return int(field.size[0]), int(field.stride[0])


def _field_public() -> list[Case]:
    return [
        Case("worked example: two 3x3 convolutions (VGG), r = 1 + 2 + 2",
             ([(3, 1, 1), (3, 1, 1)],), expected=(5, 1)),
        Case("a 2x2 max-pooling (stride 2) after a 3x3 convolution",
             ([(3, 1, 1), (2, 2, 1)],)),
        Case("the ResNet stem: 7x7 stride 2, then 3x3 pooling stride 2",
             ([(7, 2, 1), (3, 2, 1)],)),
    ]


FIELD_KINDS = (
    "one layer",
    "a VGG-style stack of 3x3 convolutions",
    "blocks of 3x3 convolutions and 2x2 pooling",
    "dilated 3x3 convolutions",
    "1x1 convolutions between strided layers",
    "dilated convolutions after a strided one",
)
"""Hidden receptive-field cases: every rule of the recursion, one at a time and mixed."""


def _field_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    builders = {
        "one layer": lambda: [(int(rng.integers(2, 8)), int(rng.integers(1, 4)), 1)],
        "a VGG-style stack of 3x3 convolutions": lambda: [(3, 1, 1)] * int(rng.integers(3, 7)),
        "blocks of 3x3 convolutions and 2x2 pooling": lambda: [
            layer for _ in range(int(rng.integers(2, 4)))
            for layer in [(3, 1, 1)] * int(rng.integers(1, 3)) + [(2, 2, 1)]],
        "dilated 3x3 convolutions": lambda: [(3, 1, int(rng.integers(2, 5)))
                                             for _ in range(int(rng.integers(2, 4)))],
        "1x1 convolutions between strided layers": lambda: [
            (int(rng.integers(2, 5)), 2, 1), (1, 1, 1), (3, int(rng.integers(1, 3)), 1), (1, 1, 1)],
        "dilated convolutions after a strided one": lambda: [
            (int(rng.integers(3, 6)), 2, 1), (3, 1, int(rng.integers(2, 4))), (3, 1, 2)],
    }
    return [Case(f"{kind}: {layers}", (layers,))
            for kind, layers in ((kind, builders[kind]()) for kind in FIELD_KINDS)]


def _score_cnn(size: int, channels: int, seed: int, *, silent: bool = False) -> Any:
    """A small functional CNN with one linear output S (N, 1); ``silent``: S = 0."""
    import keras

    init = "zeros" if silent else keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", kernel_initializer=init,
                            name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(1, kernel_initializer=init, name="score")(x))


def _ascent_expected(model: Any, images: np.ndarray, shift: tuple, tv_weight: float,
                     learning_rate: float) -> np.ndarray:
    from xaikit.interpretation import maximization
    from xaikit.interpretation.objectives import class_score, total_variation

    images = np.asarray(images, np.float32)
    objective = class_score(np.zeros(len(images), int)) - float(tv_weight) * total_variation(
        2.0, isotropic=False)
    return maximization.activation_maximization(
        model, objective, parameterization=maximization.pixel(images, sd=0.0),
        transforms=[maximization.shift(*shift)], steps=1, learning_rate=float(learning_rate),
        optimizer="sgd")


def _ascent_public() -> list[Case]:
    rng = np.random.default_rng(12)
    return [
        Case("a small CNN, one image, shift (1, 2), TV weight 0.1",
             (_score_cnn(8, 3, seed=0), rng.uniform(size=(1, 8, 8, 3)).astype(np.float32),
              (1, 2), 0.1, 0.5)),
        Case("TV alone (the network's score is 0): the step smooths the image",
             (_score_cnn(6, 1, seed=0, silent=True),
              rng.uniform(size=(2, 6, 6, 1)).astype(np.float32), (0, 0), 1.0, 0.1)),
        Case("three images, a negative shift, no TV",
             (_score_cnn(8, 3, seed=5), rng.uniform(size=(3, 8, 8, 3)).astype(np.float32),
              (-2, 1), 0.0, 1.0)),
    ]


ASCENT_KINDS = (
    ("one image, a shift and TV", 1, (1, -1), 0.2),
    ("several images, a large shift", 3, (3, 2), 0.05),
    ("no shift: the score and TV only", 2, (0, 0), 0.5),
    ("no TV: the jitter alone", 2, (-1, -3), 0.0),
)
"""Hidden ascent cases: with and without shift and TV, one image and several."""


def _ascent_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, n, shift, tv in ASCENT_KINDS:
        size, channels = int(rng.choice([6, 8])), int(rng.choice([1, 3]))
        model = _score_cnn(size, channels, seed=int(rng.integers(1_000_000)))
        images = rng.uniform(size=(n, size, size, channels)).astype(np.float32)
        cases.append(Case(f"{name} ({n} x {size}x{size}x{channels})",
                          (model, images, shift, tv, float(rng.uniform(0.1, 1.0)))))
    return cases


register(
    Exercise(
        id="12.receptive_field",
        title="The receptive field of a chain of layers (size and stride)",
        function="receptive_field_size",
        points=1,
        public_cases=_field_public,
        hidden_cases=_field_hidden,
        oracle=_field_expected,
        reference="solutions/12_units.py:receptive_field_size",
        forbidden=("xaikit.interpretation.units.receptive_field",
                   "xaikit.interpretation.receptive_fields.receptive_field"),
        hint="walk the layers from the input; keep two numbers, the field size r and the jump j "
             "between neighbouring units (both 1 at the input). A dilated kernel spans more "
             "input than its k taps; which of r and j does a stride change, and which does the "
             "kernel change?",
    ),
    Exercise(
        id="12.ascent_step",
        title="One step of activation maximisation with jitter and total variation",
        function="ascent_step",
        points=2,
        public_cases=_ascent_public,
        hidden_cases=_ascent_hidden,
        oracle=_ascent_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-5),
        reference="solutions/12_units.py:ascent_step",
        forbidden=("xaikit.interpretation.maximization.activation_maximization",
                   "xaikit.interpretation.maximization.class_model_visualisation"),
        hint="the shifted image is what the network sees, but the gradient is taken with "
             "respect to the image itself, inside one tape; the penalty reads the unshifted "
             "image. Differences of neighbouring pixels along each axis give TV. Ascent adds "
             "the gradient; return a NumPy array shaped like the images",
    ),
)
