"""Exercises of lesson 02, "Saliency maps and class models" (Simonyan, Vedaldi & Zisserman 2014).

``02.saliency_map``: the image-specific class saliency map of Sec. 3.1,

.. math:: M_{ij} = \\max_k \\left| \\frac{\\partial S_c}{\\partial I_{ijk}} \\right|,

for a batch of images and one target class per image, on models whose output is the score S.

``02.box_iou``: intersection over union of two boxes ``(y0, x0, y1, x1)`` (end exclusive), the
score of the weakly supervised localisation of Sec. 3.1.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _cnn(size: int, channels: int, n_classes: int, seed: int, width: int = 4) -> Any:
    """A small random CNN with a linear output (the scores S), weights drawn from ``seed``."""
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                            kernel_initializer=init)(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1))(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(n_classes, name="logits",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2),
                                 bias_initializer="zeros")(x)
    return keras.Model(inputs, outputs)


def _linear_model() -> tuple[Any, np.ndarray]:
    """Flatten -> Dense(3) without bias on 4x4x2 images: dS_c/dI is the kernel's column c."""
    import keras

    kernel = np.linspace(-1.0, 1.0, 32 * 3, dtype=np.float32).reshape(32, 3)
    inputs = keras.Input((4, 4, 2))
    dense = keras.layers.Dense(3, use_bias=False, name="logits")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([kernel])
    return model, kernel


def _saliency_expected(model: Any, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    from xaikit.attribution import saliency

    return saliency(model, images, np.asarray(targets))


def _saliency_public() -> list[Case]:
    model, kernel = _linear_model()
    images = np.random.default_rng(0).uniform(size=(2, 4, 4, 2)).astype(np.float32)
    targets = np.array([0, 2])
    by_hand = np.abs(kernel[:, targets].T.reshape(2, 4, 4, 2)).max(axis=-1)
    rng = np.random.default_rng(1)
    return [
        Case("a linear score: the map is |w| of the target's column, max over channels",
             (model, images, targets), expected=by_hand),
        Case("a small CNN, 3 colour images, one target each",
             (_cnn(8, 3, 4, seed=0), rng.uniform(size=(3, 8, 8, 3)).astype(np.float32),
              np.array([0, 3, 1]))),
        Case("one grey image",
             (_cnn(12, 1, 2, seed=5), rng.uniform(size=(1, 12, 12, 1)).astype(np.float32),
              np.array([1]))),
    ]


def _saliency_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(3):
        size, channels = int(rng.choice([6, 8, 10])), int(rng.choice([1, 3]))
        n, n_classes = int(rng.integers(1, 5)), int(rng.integers(2, 6))
        model = _cnn(size, channels, n_classes, seed=int(rng.integers(1_000_000)))
        images = rng.uniform(size=(n, size, size, channels)).astype(np.float32)
        targets = rng.integers(0, n_classes, size=n)
        cases.append(Case(f"hidden case {i + 1}: {n} image(s) {size}x{size}x{channels}, "
                          f"{n_classes} classes", (model, images, targets)))
    return cases


def _iou_expected(box_a: Any, box_b: Any) -> float:
    from xaikit.metrics.ground_truth import box_iou

    return float(box_iou(np.asarray(box_a, float)[None], np.asarray(box_b, float)[None])[0])


def _iou_public() -> list[Case]:
    return [
        Case("overlapping 2x2 boxes: 1 / 7", ((0, 0, 2, 2), (1, 1, 3, 3)), expected=1.0 / 7.0),
        Case("disjoint boxes", ((0, 0, 2, 2), (5, 5, 8, 9)), expected=0.0),
        Case("boxes touching at an edge", ((0, 0, 2, 2), (0, 2, 2, 4)), expected=0.0),
        Case("a box inside another", ((2, 2, 4, 4), (0, 0, 8, 8)), expected=4.0 / 64.0),
        Case("the same box", ((3, 1, 7, 9), (3, 1, 7, 9)), expected=1.0),
    ]


def _iou_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(6):
        corners = rng.integers(0, 32, size=(2, 2, 2))
        low, high = corners.min(axis=0), corners.max(axis=0) + 1
        box_a = tuple(int(v) for v in (*low[0], *high[0]))
        box_b = tuple(int(v) for v in (*low[1], *high[1]))
        cases.append(Case(f"hidden case {i + 1}", (box_a, box_b)))
    return cases


register(
    Exercise(
        id="02.saliency_map",
        title="Image-specific class saliency (Simonyan et al. 2014, Sec. 3.1)",
        function="saliency_map",
        points=2,
        public_cases=_saliency_public,
        hidden_cases=_saliency_hidden,
        oracle=_saliency_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-6),
        reference="solutions/02_saliency.py:saliency_map",
        forbidden=("xaikit.attribution.saliency", "xaikit.attribution.gradient",
                   "xaikit.core.input_gradients", "xaikit.core.batching.gradients"),
        hint="inside `with tf.GradientTape() as tape:` call tape.watch(x) on the image tensor, "
             "compute the model's outputs and the score tf.gather(outputs, targets, "
             "batch_dims=1); then tape.gradient(score, x), take the absolute value and the "
             "maximum over the last (channel) axis; return a NumPy array of shape (N, H, W)",
    ),
    Exercise(
        id="02.box_iou",
        title="Intersection over union of two boxes",
        function="box_iou",
        points=1,
        public_cases=_iou_public,
        hidden_cases=_iou_hidden,
        oracle=_iou_expected,
        compare=functools.partial(compare_outputs, rtol=1e-9, atol=1e-12),
        reference="solutions/02_saliency.py:box_iou",
        forbidden=("xaikit.metrics.ground_truth.box_iou",
                   "xaikit.metrics.ground_truth.localisation_scores"),
        hint="the intersection is the box (max of the y0s, max of the x0s, min of the y1s, min "
             "of the x1s); its height and width are clipped at 0 when the boxes do not overlap; "
             "union = area A + area B - intersection",
    ),
)
