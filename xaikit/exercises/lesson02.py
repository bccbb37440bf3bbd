"""Exercises of lesson 02, "Saliency maps and class models" (Simonyan, Vedaldi & Zisserman 2014).

``02.saliency_map``: the image-specific class saliency map of Sec. 3.1,

.. math:: M_{ij} = \\max_k \\left| \\frac{\\partial S_c}{\\partial I_{ijk}} \\right|,

for a batch of images and one target class per image, on models whose output is the score S.

``02.box_iou``: intersection over union of N pairs of boxes ``(y0, x0, y1, x1)`` (end
exclusive), the score of the weakly supervised localisation of Sec. 3.1: ``(N, 4), (N, 4) ->
(N,)``.
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


SALIENCY_KINDS = (
    ("one grey image", 1, 1, np.float32),
    ("several colour images", 3, 3, np.float32),
    ("several grey images given as float64", 4, 1, np.float64),
)
"""Hidden saliency cases: one image and several, grey and colour, float32 and float64."""


def _saliency_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, n, channels, dtype in SALIENCY_KINDS:
        size, n_classes = int(rng.choice([6, 8, 10])), int(rng.integers(2, 6))
        model = _cnn(size, channels, n_classes, seed=int(rng.integers(1_000_000)))
        images = rng.uniform(size=(n, size, size, channels)).astype(dtype)
        targets = rng.integers(0, n_classes, size=n)
        cases.append(Case(f"{name} ({size}x{size}, {n_classes} classes)",
                          (model, images, targets)))
    return cases


def _iou_expected(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    from xaikit.metrics.ground_truth import box_iou

    return np.asarray(box_iou(np.asarray(boxes_a, float), np.asarray(boxes_b, float)),
                      dtype=np.float64)


def _iou_public() -> list[Case]:
    five_a = np.array([[0, 0, 2, 2], [0, 0, 2, 2], [0, 0, 2, 2], [2, 2, 4, 4], [3, 1, 7, 9]])
    five_b = np.array([[1, 1, 3, 3], [5, 5, 8, 9], [0, 2, 2, 4], [0, 0, 8, 8], [3, 1, 7, 9]])
    return [
        Case("one pair of overlapping 2x2 boxes: 1 / 7",
             (np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]])), expected=np.array([1 / 7])),
        Case("overlapping, disjoint, touching at an edge, nested, identical",
             (five_a, five_b), expected=np.array([1 / 7, 0.0, 0.0, 4 / 64, 1.0])),
        Case("float coordinates", (np.array([[0.5, 0.5, 2.5, 3.0], [0.0, 0.0, 1.0, 1.0]]),
                                   np.array([[1.5, 0.0, 3.5, 2.0], [0.25, 0.25, 0.75, 0.75]]))),
    ]


def _overlapping(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n pairs that overlap partly: b is a shifted by less than its size on both axes."""
    low = rng.integers(0, 20, size=(n, 2))
    size = rng.integers(2, 9, size=(n, 2))
    shift = rng.integers(1, size) * rng.choice([-1, 1], size=(n, 2))
    return (np.concatenate([low, low + size], axis=1),
            np.concatenate([low + shift, low + shift + size], axis=1))


def _apart(rng: np.random.Generator, n: int, axes: tuple[int, ...], gap: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """n pairs separated by ``gap`` >= 1 pixels (or touching, ``gap`` = 0) along ``axes``."""
    a, b = _overlapping(rng, n)
    for axis in axes:
        extra = rng.integers(0, 4, size=n) if gap else np.zeros(n, int)
        distance = a[:, axis + 2] + gap + extra - b[:, axis]
        b[:, [axis, axis + 2]] += distance[:, None]
    return a, b


def _among_overlapping(rng: np.random.Generator, pairs: list[tuple[np.ndarray, np.ndarray]],
                       n_overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """The given pairs shuffled among overlapping ones, so that no constant answer passes."""
    a, b = _overlapping(rng, n_overlap)
    all_a = np.concatenate([a, *(p[0] for p in pairs)])
    all_b = np.concatenate([b, *(p[1] for p in pairs)])
    order = rng.permutation(len(all_a))
    return all_a[order], all_b[order]


def _iou_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    nested, _ = _overlapping(rng, 3)
    inside = (nested, nested + np.array([-2, -1, 3, 2]))
    kinds = [
        ("one overlapping pair", _overlapping(rng, 1)),
        ("disjoint in both directions, among overlapping pairs",
         _among_overlapping(rng, [_apart(rng, 3, (0, 1), 1)], 3)),
        ("disjoint in one direction only, among overlapping pairs",
         _among_overlapping(rng, [_apart(rng, 2, (0,), 1), _apart(rng, 2, (1,), 1)], 3)),
        ("touching at an edge or a corner, among overlapping pairs",
         _among_overlapping(rng, [_apart(rng, 2, (int(rng.integers(2)),), 0),
                                  _apart(rng, 1, (0, 1), 0)], 3)),
        ("nested and identical boxes, among overlapping pairs",
         _among_overlapping(rng, [inside, (nested[:1], nested[:1].copy())], 2)),
    ]
    cases = [Case(name, (a.astype(np.int64), b.astype(np.int64))) for name, (a, b) in kinds]
    a, b = _overlapping(rng, 4)
    cases.append(Case("float32 coordinates, four pairs",
                      ((a + rng.uniform(0, 0.5, a.shape)).astype(np.float32),
                       (b + rng.uniform(0, 0.5, b.shape)).astype(np.float32))))
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
        hint="the tape only follows tensors it watches, and the score of each image's own "
             "target must be computed inside the tape; once you have dS/dI of shape "
             "(N, H, W, C), which two operations of Sec. 3.1 give (N, H, W)? Return NumPy",
    ),
    Exercise(
        id="02.box_iou",
        title="Intersection over union of pairs of boxes",
        function="box_iou",
        points=1,
        public_cases=_iou_public,
        hidden_cases=_iou_hidden,
        oracle=_iou_expected,
        compare=functools.partial(compare_outputs, rtol=1e-9, atol=1e-12),
        reference="solutions/02_saliency.py:box_iou",
        forbidden=("xaikit.metrics.ground_truth.box_iou",
                   "xaikit.metrics.ground_truth.localisation_scores"),
        hint="draw two boxes that overlap and two that do not: which corners of A and B "
             "bound their intersection, and what becomes of its height and width when they do "
             "not overlap in y, in x, or in both? Work on all N pairs at once with arrays",
    ),
)
