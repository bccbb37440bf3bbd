"""Exercises of lesson 03, "Occlusion sensitivity" (Zeiler & Fergus, ECCV 2014, Sec. 4.2).

``03.occlusion_map``: slide a ``patch`` x ``patch`` square of grey (0.5) over one image with step
``stride`` (corners 0, stride, 2 stride, ... and a last one at ``H - patch`` when the stride does
not reach the edge), record the drop of the target's score ``S(x) - S(x_p)`` for every position
p, and give each pixel the mean drop of the squares that cover it:

.. math:: D(i) = \\frac{1}{|P(i)|} \\sum_{p \\in P(i)} S(x) - S(x_p).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _model(size: int, channels: int, n_classes: int, seed: int) -> Any:
    """A small random CNN whose output is the scores S (no softmax)."""
    import keras

    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(n_classes, kernel_initializer=keras.initializers.GlorotUniform(
        seed=seed + 1))(x)
    return keras.Model(inputs, outputs)


def _linear_model() -> Any:
    """S_c(x) = sum of channel 0 of the pixels in rows 2..3, cols 2..3 (class 0), else 0."""
    import keras

    inputs = keras.Input((6, 6, 1))
    dense = keras.layers.Dense(2, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    kernel = np.zeros((36, 2), np.float32)
    kernel[[14, 15, 20, 21], 0] = 1.0
    dense.set_weights([kernel])
    return model


def _expected(model: Any, image: np.ndarray, target: int, patch: int, stride: int) -> np.ndarray:
    from xaikit.attribution import occlusion

    return occlusion(model, np.asarray(image)[None], int(target), patch=patch, stride=stride,
                     baseline="grey")[0]


def _public() -> list[Case]:
    image = np.ones((6, 6, 1), np.float32)
    by_hand = np.zeros((6, 6), np.float32)  # one 6x6 patch: the drop is 4 x (1 - 0.5) everywhere
    rng = np.random.default_rng(0)
    return [
        Case("a 6x6 image covered by one 6x6 square: the drop is 2 everywhere",
             (_linear_model(), image, 0, 6, 6), expected=by_hand + 2.0),
        Case("the same linear score, 2x2 squares with stride 2 (no overlap)",
             (_linear_model(), image, 0, 2, 2)),
        Case("a small CNN, overlapping 4x4 squares with stride 2",
             (_model(8, 3, 3, seed=0), rng.uniform(size=(8, 8, 3)).astype(np.float32), 1, 4, 2)),
        Case("a stride that does not reach the edge (10 pixels, patch 4, stride 3)",
             (_model(10, 1, 2, seed=3), rng.uniform(size=(10, 10, 1)).astype(np.float32), 0, 4, 3)),
    ]


def _hidden(seed: int) -> list[Case]:
    """Squares that tile the image, that overlap, and a stride that misses the edge; grey and
    colour; float32 and float64 images (the same three kinds for every seed)."""
    rng = np.random.default_rng(seed)
    patch = int(rng.integers(2, 5))
    tiling = ("squares that tile the image exactly, a colour float32 image", patch * 3, 3,
              patch, patch, np.float32)
    overlap = int(rng.integers(3, 6))
    overlapping = ("overlapping squares (stride < patch), a grey float64 image", 8, 1, overlap,
                   overlap - 1, np.float64)
    missing = ("a stride that does not reach the edge, a colour float32 image", 11, 3, 4, 3,
               np.float32)
    cases = []
    for name, size, channels, patch, stride, dtype in (tiling, overlapping, missing):
        n_classes = int(rng.integers(2, 5))
        model = _model(size, channels, n_classes, seed=int(rng.integers(1_000_000)))
        image = rng.uniform(size=(size, size, channels)).astype(dtype)
        cases.append(Case(f"{name} ({size}x{size}, patch {patch}, stride {stride})",
                          (model, image, int(rng.integers(n_classes)), patch, stride)))
    return cases


register(
    Exercise(
        id="03.occlusion_map",
        title="Occlusion sensitivity of one image",
        function="occlusion_map",
        points=2,
        public_cases=_public,
        hidden_cases=_hidden,
        oracle=_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-5),
        reference="solutions/03_occlusion.py:occlusion_map",
        forbidden=("xaikit.attribution.occlusion", "xaikit.attribution.perturbation.occlusion"),
        hint="list the corners first (do not forget the last one at H - patch); every occluded "
             "copy can be scored in one model call; each pixel's value is the mean drop of the "
             "squares that cover it, so keep a count of squares per pixel",
    )
)
