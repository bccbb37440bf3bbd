"""Exercises of lesson 05, "Grad-CAM" (Zhou et al. 2016; Selvaraju et al. 2017).

``05.cam_from_weights``: the class activation map of a GAP + dense net (Zhou et al., Eq. 2),

.. math:: M_c(i, j) = \\sum_k w_k^c A^k_{ij},

from the activations (N, h, w, K), the dense kernel (K, n_classes) and one class per image.

``05.grad_cam``: Grad-CAM on the grid of a named layer (Selvaraju et al., Eqs. 1-2),

.. math:: \\alpha_k^c = \\frac{1}{Z}\\sum_{ij}\\frac{\\partial S_c}{\\partial A^k_{ij}}, \\qquad
          L^c = \\mathrm{ReLU}\\Big(\\sum_k \\alpha_k^c A^k\\Big),

on functional models whose output is the scores S.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _cam_expected(activations: np.ndarray, kernel: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.einsum("nhwk,kn->nhw", np.asarray(activations, np.float64),
                     np.asarray(kernel, np.float64)[:, np.asarray(targets)])


def _cam_public() -> list[Case]:
    activations = np.zeros((1, 2, 2, 2))
    activations[0, :, :, 0] = [[1.0, 0.0], [0.0, 2.0]]
    activations[0, :, :, 1] = [[0.0, 3.0], [1.0, 1.0]]
    kernel = np.array([[1.0, -1.0], [0.5, 2.0]])
    rng = np.random.default_rng(0)
    return [
        Case("worked example: 2 channels, class 1 (w = (-1, 2))",
             (activations, kernel, np.array([1])),
             expected=np.array([[[-1.0, 6.0], [2.0, 0.0]]])),
        Case("3 images, 5 channels, 4 classes",
             (rng.uniform(size=(3, 4, 4, 5)), rng.normal(size=(5, 4)), np.array([3, 0, 2]))),
        Case("float32 activations, one class for all",
             (rng.uniform(size=(2, 7, 7, 8)).astype(np.float32),
              rng.normal(size=(8, 3)).astype(np.float32), np.array([1, 1]))),
    ]


CAM_KINDS = (
    ("one image, one channel, float64", 1, 1, np.float64, "random"),
    ("several images, one class for all, float32", 4, None, np.float32, "same"),
    ("several images of a 1x1 grid, float64", 3, None, np.float64, "grid1"),
    ("several images, a class each, float32", 5, None, np.float32, "random"),
)
"""Hidden CAM cases: one image and several, one channel and many, float32 and float64."""


def _cam_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, n, channels, dtype, kind in CAM_KINDS:
        h = 1 if kind == "grid1" else int(rng.integers(2, 9))
        k = channels or int(rng.integers(2, 17))
        c = int(rng.integers(2, 7))
        targets = np.full(n, int(rng.integers(c))) if kind == "same" else \
            rng.integers(0, c, size=n)
        cases.append(Case(f"{name} ({h}x{h}x{k}, {c} classes)",
                          (rng.uniform(size=(n, h, h, k)).astype(dtype),
                           rng.normal(size=(k, c)).astype(dtype), targets)))
    return cases


def _cnn(size: int, channels: int, n_classes: int, seed: int, *, gap: bool) -> Any:
    """A small random functional CNN with a "features" layer and a linear output."""
    import keras

    def init(offset: int) -> Any:
        return keras.initializers.GlorotUniform(seed=seed + offset)

    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", kernel_initializer=init(0),
                            name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", kernel_initializer=init(1),
                            name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x) if gap else keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(n_classes, name="logits", kernel_initializer=init(2),
                                 bias_initializer="zeros")(x)
    return keras.Model(inputs, outputs)


def _grad_cam_expected(model: Any, images: np.ndarray, targets: np.ndarray,
                       layer_name: str) -> np.ndarray:
    from xaikit.attribution import grad_cam

    return grad_cam(model, images, np.asarray(targets), layer=layer_name, upsample=False)


def _grad_cam_public() -> list[Case]:
    rng = np.random.default_rng(2)
    return [
        Case("a GAP net (Grad-CAM = ReLU(CAM) / Z), 2 images",
             (_cnn(8, 3, 3, seed=0, gap=True), rng.uniform(size=(2, 8, 8, 3)).astype(np.float32),
              np.array([0, 2]), "features")),
        Case("a flatten + dense head, 3 images",
             (_cnn(10, 3, 4, seed=3, gap=False),
              rng.uniform(size=(3, 10, 10, 3)).astype(np.float32), np.array([1, 3, 0]),
              "features")),
        Case("an earlier layer (conv1, full resolution)",
             (_cnn(8, 1, 2, seed=7, gap=False), rng.uniform(size=(2, 8, 8, 1)).astype(np.float32),
              np.array([1, 0]), "conv1")),
    ]


GRAD_CAM_KINDS = (
    ("one image, a GAP net, the last convolution", 1, True, "features", np.float32),
    ("several images, a flatten + dense head, the last convolution", 3, False, "features",
     np.float32),
    ("several images given as float64, an earlier layer", 2, False, "conv1", np.float64),
)


def _visible_targets(model: Any, images: np.ndarray, layer: str, n_classes: int,
                     rng: np.random.Generator) -> np.ndarray:
    """One target per image whose Grad-CAM map is not all zero (ReLU can empty a map, and an
    all-zero expected map would be "passed" by an answer of zeros)."""
    from xaikit.attribution import grad_cam

    stacked = np.repeat(images.astype(np.float32), n_classes, axis=0)
    classes = np.tile(np.arange(n_classes), len(images))
    maps = grad_cam(model, stacked, classes, layer=layer, upsample=False)
    peak = maps.reshape(len(images), n_classes, -1).max(axis=-1)
    targets = []
    for row in peak:
        visible = np.flatnonzero(row > 1e-3 * max(float(row.max()), 1e-12))
        targets.append(int(rng.choice(visible)) if len(visible) else int(np.argmax(row)))
    return np.asarray(targets)


def _grad_cam_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, n, gap, layer, dtype in GRAD_CAM_KINDS:
        size, channels = int(rng.choice([8, 12])), int(rng.choice([1, 3]))
        n_classes = int(rng.integers(2, 6))
        model = _cnn(size, channels, n_classes, seed=int(rng.integers(1_000_000)), gap=gap)
        images = rng.uniform(size=(n, size, size, channels)).astype(dtype)
        targets = _visible_targets(model, images, layer, n_classes, rng)
        cases.append(Case(f"{name} ({size}x{size}x{channels}, {n_classes} classes)",
                          (model, images, targets, layer)))
    return cases


register(
    Exercise(
        id="05.cam_from_weights",
        title="Class activation maps from the dense weights (Zhou et al. 2016, Eq. 2)",
        function="cam_from_weights",
        points=1,
        public_cases=_cam_public,
        hidden_cases=_cam_hidden,
        oracle=_cam_expected,
        compare=functools.partial(compare_outputs, rtol=1e-5, atol=1e-6),
        reference="solutions/05_grad_cam.py:cam_from_weights",
        forbidden=("xaikit.attribution.cam",),
        hint="Eq. 2 sums over the channels k; image n needs the K weights of its own class "
             "targets[n]. Which slice of the (K, n_classes) kernel holds them, and how do you "
             "take it for every image at once? Work the worked example out by hand first",
    ),
    Exercise(
        id="05.grad_cam",
        title="Grad-CAM with one GradientTape (Selvaraju et al. 2017, Eqs. 1-2)",
        function="grad_cam_map",
        points=2,
        public_cases=_grad_cam_public,
        hidden_cases=_grad_cam_hidden,
        oracle=_grad_cam_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-6),
        reference="solutions/05_grad_cam.py:grad_cam_map",
        forbidden=("xaikit.attribution.grad_cam", "xaikit.attribution.grad_cam_pp",
                   "xaikit.attribution.layer_cam", "xaikit.attribution.guided_grad_cam",
                   "xaikit.attribution.cam", "xaikit.core.layer_gradients",
                   "xaikit.core.batching.layer_gradients"),
        hint="you need the layer's activations A and the scores from the same forward pass "
             "inside the tape; Eq. 1's channel weights are gradients averaged over the spatial "
             "positions; Eq. 2 weights the channels of A and applies a ReLU. Return NumPy "
             "(N, h, w)",
    ),
)
