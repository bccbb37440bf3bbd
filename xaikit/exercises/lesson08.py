"""Exercises of lesson 08, "Sanity checks" (Adebayo et al. 2018; Kindermans et al. 2019).

``08.cascade_maps``: the cascading randomisation loop for one method (Adebayo et al. 2018):
on a copy of the model, re-initialise the named layers one after another (each step keeping the
earlier ones random) and explain the images after every step,

.. math:: M_0 = E(f, x), \\qquad M_k = E(f^{(k)}, x), \\quad f^{(k)} = f
          \\text{ with layers } \\ell_1, \\dots, \\ell_k \\text{ re-initialised},

returning the stack (K + 1, N, H, W). The ``reinitialise`` given refuses the layers of the
original model: the user's model must stay as it was.

``08.spearman_abs``: the rank correlation of the absolute values of two batches of maps, pair by
pair (Adebayo et al. 2018), 0 where a map's magnitude is constant.

``08.compensated_bias``: Kindermans et al.'s input-shift compensation,
:math:`b_2 = b_1 - W m`, for a Dense kernel (D, K) or a ``padding="valid"`` Conv2D kernel
(kh, kw, C, K), with the shift a number or one value per input channel (C,) (for Dense: a number
or one value per input (D,)).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.fixtures import Reinitialiser, explain_gradient
from xaikit.exercises.registry import Case, Exercise, register

SIZE = 8


# --- 08.cascade_maps ------------------------------------------------------------------------
def _cnn(seed: int, *, channels: int = 1, n_classes: int = 3, softmax: bool = False) -> Any:
    import keras

    def init(offset: int) -> Any:
        return keras.initializers.GlorotUniform(seed=seed + offset)

    inputs = keras.Input((SIZE, SIZE, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1",
                            kernel_initializer=init(0))(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv2",
                            kernel_initializer=init(1))(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(n_classes, name="logits", kernel_initializer=init(2))(x)
    outputs = keras.layers.Activation("softmax")(x) if softmax else x
    return keras.Model(inputs, outputs)


def _cascade_expected(model: Any, images: np.ndarray, targets: np.ndarray,
                      layer_names: list[str], explain: Any, reinitialise: Any) -> np.ndarray:
    from xaikit.core.weights import copy_model

    twin = copy_model(model)
    maps = [explain(twin, images, targets)]
    for name in layer_names:
        reinitialise(twin.get_layer(name))
        maps.append(explain(twin, images, targets))
    return np.stack(maps).astype(np.float64)


def _cascade_case(name: str, seed: int, layer_names: list[str], n: int, **model_options: Any
                  ) -> Case:
    rng = np.random.default_rng(seed)
    model = _cnn(seed, **model_options)
    channels = model_options.get("channels", 1)
    images = rng.uniform(size=(n, SIZE, SIZE, channels)).astype(np.float32)
    targets = rng.integers(0, model_options.get("n_classes", 3), size=n)
    return Case(name, (model, images, targets, list(layer_names), explain_gradient,
                       Reinitialiser(model, seed)))


def _cascade_public() -> list[Case]:
    return [
        _cascade_case("top-down over all three layers, 2 images", 1,
                      ["logits", "conv2", "conv1"], 2),
        _cascade_case("only the logits layer, a softmax head, 3 images", 2, ["logits"], 3,
                      softmax=True),
    ]


def _cascade_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    draw = [int(v) for v in rng.integers(1_000, 1_000_000, size=2)]
    return [
        _cascade_case("hidden: bottom-up order (the order given), one image", draw[0],
                      ["conv1", "conv2", "logits"], 1),
        _cascade_case("hidden: one inner layer skipped, colour images, 5 classes", draw[1],
                      ["logits", "conv1"], int(rng.integers(2, 4)), channels=3, n_classes=5),
    ]


# --- 08.spearman_abs ------------------------------------------------------------------------
def _spearman_expected(maps_a: np.ndarray, maps_b: np.ndarray) -> np.ndarray:
    from xaikit.metrics.similarity import spearman_abs

    return spearman_abs(maps_a, maps_b)


def _spearman_public() -> list[Case]:
    ramp = np.arange(16.0).reshape(1, 4, 4) - 7.5
    rng = np.random.default_rng(3)
    noisy = rng.normal(size=(3, 6, 6))
    return [
        Case("a map and its negation (rho = 1), then magnitudes in reverse order (rho = -1)",
             (np.concatenate([ramp, ramp]), np.concatenate([-ramp, 1.0 / (np.abs(ramp) + 1.0)])),
             expected=np.array([1.0, -1.0])),
        Case("three related pairs (6 x 6)", (noisy, noisy + 0.5 * rng.normal(size=(3, 6, 6)))),
    ]


def _spearman_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    n, h, w = int(rng.integers(2, 5)), int(rng.integers(3, 9)), int(rng.integers(3, 9))
    base = rng.normal(size=(n, h, w))
    ties = np.round(2 * base) / 2  # many tied magnitudes, and zeros
    constant = base.copy()
    constant[0] = 0.7  # a constant map: defined as 0
    negated = -np.abs(base[:1]) * rng.uniform(0.5, 2.0)
    related = base + 0.4 * rng.normal(size=base.shape)
    return [
        Case("hidden: related maps with tied magnitudes",
             (ties, base + 0.3 * rng.normal(size=base.shape))),
        Case("hidden: a constant map among related ones", (constant, related)),
        Case("hidden: a pair scaled and negated (rho = 1) next to a related pair",
             (np.concatenate([base[:1], base[1:2]]), np.concatenate([negated, related[1:2]]))),
    ]


# --- 08.compensated_bias --------------------------------------------------------------------
def _bias_expected(kernel: np.ndarray, bias: np.ndarray, shift: Any) -> np.ndarray:
    """The kit's construction: the first layer of shift_compensated_model(model, shift)."""
    import keras

    from xaikit.core.shift import shift_compensated_model

    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim == 2:
        inputs = keras.Input((kernel.shape[0],))
        layer = keras.layers.Dense(kernel.shape[1])
    else:
        kh, kw, channels, _ = kernel.shape
        inputs = keras.Input((kh + 2, kw + 1, channels))
        layer = keras.layers.Conv2D(kernel.shape[3], (kh, kw), padding="valid")
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([kernel, np.asarray(bias, np.float32)])
    return np.asarray(shift_compensated_model(model, shift).layers[-1].bias, np.float64)


def _bias_public() -> list[Case]:
    kernel = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]])
    rng = np.random.default_rng(5)
    return [
        Case("Dense, 3 inputs, 2 units, shift -1: b - (-1) * column sums",
             (kernel, np.array([0.5, -0.5]), -1.0), expected=np.array([2.0, 0.5])),
        Case("Conv2D 3x3, 2 channels, one shift per channel",
             (rng.normal(size=(3, 3, 2, 4)), rng.normal(size=4), np.array([0.5, -1.0]))),
        Case("Dense, one shift per input",
             (rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5))),
    ]


def _bias_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 5))
    return [
        Case("hidden: a 1x1 convolution, a single output channel",
             (rng.normal(size=(1, 1, 3, 1)), rng.normal(size=1), float(rng.uniform(-2, -0.5)))),
        Case("hidden: a rectangular kernel, a scalar shift",
             (rng.normal(size=(2, 3, 1, k)), rng.normal(size=k), float(rng.uniform(0.5, 2)))),
        Case("hidden: Dense with one input",
             (rng.normal(size=(1, k + 1)), rng.normal(size=k + 1), float(rng.uniform(0.2, 1)))),
    ]


register(
    Exercise(
        id="08.cascade_maps",
        title="The cascading randomisation loop for one method (Adebayo et al. 2018)",
        function="cascade_maps",
        points=2,
        public_cases=_cascade_public,
        hidden_cases=_cascade_hidden,
        oracle=_cascade_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-6),
        reference="solutions/08_sanity_checks.py:cascade_maps",
        forbidden=("xaikit.metrics.randomisation.cascading_randomisation",
                   "xaikit.metrics.randomisation.independent_randomisation",
                   "xaikit.metrics.randomisation.smooth_mprt"),
        hint="twin = keras.models.clone_model(model); twin.set_weights(model.get_weights()); "
             "start the list with explain(twin, images, targets); then, for each name in "
             "layer_names in the order given, reinitialise(twin.get_layer(name)) and explain "
             "again; return np.stack of the list, shape (len(layer_names) + 1, N, H, W)",
    ),
    Exercise(
        id="08.spearman_abs",
        title="Spearman rank correlation of absolute values (Adebayo et al. 2018)",
        function="spearman_abs_similarity",
        points=1,
        public_cases=_spearman_public,
        hidden_cases=_spearman_hidden,
        oracle=_spearman_expected,
        compare=functools.partial(compare_outputs, rtol=1e-7, atol=1e-9),
        reference="solutions/08_sanity_checks.py:spearman_abs_similarity",
        forbidden=("xaikit.metrics.similarity.spearman_abs", "xaikit.metrics.similarity.spearman"),
        hint="flatten each map to a row of |values|; rank each row with "
             "scipy.stats.rankdata(rows, axis=1) (ties get their average rank); the answer is "
             "the Pearson correlation of the two rank rows, row by row; where a row's ranks do "
             "not vary the correlation is 0",
    ),
    Exercise(
        id="08.compensated_bias",
        title="Compensate a constant input shift in the first layer's bias (Kindermans et al.)",
        function="compensated_bias",
        points=1,
        public_cases=_bias_public,
        hidden_cases=_bias_hidden,
        oracle=_bias_expected,
        compare=functools.partial(compare_outputs, rtol=1e-5, atol=1e-5),
        reference="solutions/08_sanity_checks.py:compensated_bias",
        forbidden=("xaikit.core.shift.shift_compensated_model",),
        hint="W m is what the layer adds when its input is the constant m: for Dense, "
             "np.broadcast_to(shift, (D,)) @ kernel; for a valid convolution each output "
             "channel adds sum over kh, kw and c of kernel[..., c, k] * shift[c] (np.einsum"
             "('hwck,c->k', ...)); return bias - that",
    ),
)
