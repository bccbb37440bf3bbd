"""Exercises of lesson 10, "Faithfulness: remove what the map points at".

``10.deletion_auc``: the deletion metric of Petsiuk, Das & Saenko (BMVC 2018, Sec. 4.1) for one
image: pixels set to 0 in order of decreasing saliency, ``pixels_per_step`` at a time, the
probability of ``target`` after each step, and the trapezoidal area under that curve over the
fraction of pixels deleted (the last step may delete fewer pixels),

.. math:: \\mathrm{AUC} = \\int_0^1 p_c\\big(x^{(f)}\\big)\\, df.

``10.morf_curve``: Samek et al.'s region perturbation, most relevant first (IEEE TNNLS 2017,
Algorithm 1): ``patch`` x ``patch`` squares tiling the image from the top-left corner (the last
row and column narrower when ``patch`` does not divide the size), ordered by their summed
saliency; after step k the first k squares are 0; the target's logit after each of
``min(steps, number of squares)`` steps, starting with the unperturbed image.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _model(size: tuple[int, int, int], n_classes: int, seed: int, *, softmax: bool) -> Any:
    """A small random CNN (softmax or logits head) for the cases."""
    import keras

    def init(offset: int) -> Any:
        return keras.initializers.GlorotUniform(seed=seed + offset)

    layers = [keras.Input(size),
              keras.layers.Conv2D(4, 3, padding="same", activation="tanh",
                                  kernel_initializer=init(0)),
              keras.layers.Flatten(),
              keras.layers.Dense(n_classes, kernel_initializer=init(1),
                                 bias_initializer=keras.initializers.RandomNormal(seed=seed + 2),
                                 name="logits")]
    if softmax:
        layers.append(keras.layers.Activation("softmax", name="probs"))
    return keras.Sequential(layers)


def _images(generator: np.random.Generator, size: tuple[int, int, int]) -> np.ndarray:
    return generator.random(size, dtype=np.float32)


def _deletion_expected(model: Any, image: np.ndarray, saliency: np.ndarray, target: int,
                       pixels_per_step: int) -> float:
    from xaikit.metrics.faithfulness import deletion

    return float(deletion(model, np.asarray(image)[None], np.asarray(saliency)[None], int(target),
                          pixels_per_step=int(pixels_per_step), baseline="black",
                          on="probabilities").auc[0])


def _deletion_public() -> list[Case]:
    generator = np.random.default_rng(0)
    return [
        Case("6x6 RGB, 4 pixels per step (9 steps)",
             (_model((6, 6, 3), 3, 0, softmax=True), _images(generator, (6, 6, 3)),
              generator.normal(size=(6, 6)), 1, 4)),
        Case("8x8 grey, 10 pixels per step: the last step deletes only 4",
             (_model((8, 8, 1), 4, 1, softmax=True), _images(generator, (8, 8, 1)),
              generator.random((8, 8)), 2, 10)),
    ]


def _deletion_hidden(seed: int) -> list[Case]:
    generator = np.random.default_rng(seed)
    cases = []
    for i, (side, channels, per_step) in enumerate([(5, 3, 1), (7, 1, 50), (6, 2, 7)]):
        # one pixel per step; one step deleting everything; a step that does not divide 36
        n_classes = int(generator.integers(2, 5))
        model = _model((side, side, channels), n_classes, int(generator.integers(10**6)),
                       softmax=True)
        saliency = generator.normal(size=(side, side)) * (1 + 9 * (i == 1))
        cases.append(Case(f"hidden case {i + 1}: {side}x{side}x{channels}, k = {per_step}",
                          (model, _images(generator, (side, side, channels)), saliency,
                           int(generator.integers(n_classes)), per_step)))
    return cases


def _morf_expected(model: Any, image: np.ndarray, saliency: np.ndarray, target: int, patch: int,
                   steps: int) -> np.ndarray:
    from xaikit.metrics.faithfulness import region_perturbation

    return region_perturbation(model, np.asarray(image)[None], np.asarray(saliency)[None],
                               int(target), order="morf", patch=int(patch), steps=int(steps),
                               baseline="black", on="logits").scores[0]


def _morf_public() -> list[Case]:
    generator = np.random.default_rng(2)
    return [
        Case("8x8 RGB, 4x4 squares (4 regions), 3 steps",
             (_model((8, 8, 3), 3, 5, softmax=False), _images(generator, (8, 8, 3)),
              generator.normal(size=(8, 8)), 0, 4, 3)),
        Case("9x9 grey, 4x4 squares (the last row and column 1 px wide), all 9 regions",
             (_model((9, 9, 1), 2, 6, softmax=False), _images(generator, (9, 9, 1)),
              generator.random((9, 9)), 1, 4, 9)),
    ]


def _morf_hidden(seed: int) -> list[Case]:
    generator = np.random.default_rng(seed)
    cases = []
    for i, (side, patch, steps) in enumerate([(6, 1, 10), (7, 3, 20), (10, 4, 5)]):
        # single-pixel regions; more steps than the 9 regions (capped); a partial run
        n_classes = int(generator.integers(2, 5))
        channels = int(generator.choice([1, 3]))
        model = _model((side, side, channels), n_classes, int(generator.integers(10**6)),
                       softmax=False)
        cases.append(Case(f"hidden case {i + 1}: {side}x{side}, patch {patch}, {steps} steps",
                          (model, _images(generator, (side, side, channels)),
                           generator.normal(size=(side, side)), int(generator.integers(n_classes)),
                           patch, steps)))
    return cases


register(
    Exercise(
        id="10.deletion_auc",
        title="Deletion AUC (Petsiuk et al. 2018)",
        function="deletion_auc",
        points=2,
        public_cases=_deletion_public,
        hidden_cases=_deletion_hidden,
        oracle=_deletion_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-6),
        reference="solutions/10_faithfulness.py:deletion_auc",
        forbidden=("xaikit.metrics.faithfulness.deletion", "xaikit.metrics.faithfulness.insertion",
                   "xaikit.metrics.faithfulness.pixel_flipping",
                   "xaikit.metrics._removal.removal_curves"),
        hint="order = np.argsort(-saliency.ravel()); for step s delete order[:min(s*k, H*W)] "
             "(set to 0 in every channel), stack all the deleted images into one batch, read "
             "model(batch)[:, target]; the x axis is the deleted count divided by H*W; "
             "np.trapezoid(scores, fractions)",
    ),
    Exercise(
        id="10.morf_curve",
        title="MoRF region perturbation (Samek et al. 2017)",
        function="morf_curve",
        points=2,
        public_cases=_morf_public,
        hidden_cases=_morf_hidden,
        oracle=_morf_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-5),
        reference="solutions/10_faithfulness.py:morf_curve",
        forbidden=("xaikit.metrics.faithfulness.region_perturbation",
                   "xaikit.metrics.faithfulness.aopc", "xaikit.metrics.faithfulness.abpc",
                   "xaikit.metrics._removal.region_ranks",
                   "xaikit.metrics._removal.removal_curves"),
        hint="label each pixel with its square: (row // patch) * n_cols + col // patch with "
             "n_cols = ceil(W / patch); np.bincount(labels.ravel(), saliency.ravel()) sums the "
             "saliency per square; np.argsort(-sums) is the MoRF order; step k zeroes the "
             "squares order[:k]; return the logits[:, target] of all steps' images (k = 0 first)",
    ),
)
