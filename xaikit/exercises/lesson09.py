"""Exercises of lesson 09, "Ground truth: do explanations cover the evidence?".

``09.coverage_iou``: feature coverage at a quantile threshold (Oramas et al., ICLR 2019),

.. math:: \\mathrm{IoU}_q = \\frac{|\\{S > Q_q(S)\\} \\cap M|}{|\\{S > Q_q(S)\\} \\cup M|},

with :math:`Q_q(S)` the q-quantile of each map's values (``np.quantile``, linear interpolation).

``09.mass_accuracy``: relevance mass accuracy (Arras et al., Information Fusion 2022): the share
of a map's positive relevance inside the mask (0 for a map with no positive relevance).

``09.lasso_units``: Oramas et al.'s per-class selection of relevant units,
:math:`\\min_w \\|Xw + b - l_j\\|^2` s.t. :math:`\\|w\\|_1 \\le \\mu`, as a (C, U) weight matrix.

Every case mixes images whose answers differ (a map equal to its mask, one on the complement, a
constant map, random maps), so no constant answer passes a case.
"""

from __future__ import annotations

import functools

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _coverage_expected(maps: np.ndarray, masks: np.ndarray, q: float) -> np.ndarray:
    from xaikit.metrics.ground_truth import feature_coverage

    return feature_coverage(maps, masks, thresholds=[q], binarise="quantile").iou[:, 0]


def _mass_expected(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    from xaikit.metrics.ground_truth import relevance_mass_accuracy

    return relevance_mass_accuracy(maps, masks)


def _lasso_expected(responses: np.ndarray, labels: np.ndarray, mu: float) -> np.ndarray:
    from xaikit.interpretation.relevant_units import lasso_weights

    return lasso_weights(responses, labels, mu=mu)


def _masks(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """n non-empty rectangular or disc masks covering 5-40 % of the image."""
    masks = np.zeros((n, size, size), bool)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        if i % 2:
            cy, cx = rng.uniform(size * 0.3, size * 0.7, size=2)
            masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.uniform(0.05, 0.12) * size * size
        else:
            h, w = rng.integers(size // 4, size // 2 + 1, size=2)
            y0, x0 = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
            masks[i, y0:y0 + h, x0:x0 + w] = True
    return masks


def _maps_for(rng: np.random.Generator, masks: np.ndarray, *, signed: bool) -> np.ndarray:
    """Maps whose answers differ by construction: [mask, complement, constant, noisy, random...]."""
    size = masks.shape[1]
    noise = rng.normal(size=masks.shape) if signed else rng.random(masks.shape)
    maps = noise.copy()
    maps[0] = masks[0] * 2.0  # the mask itself: IoU / mass 1
    maps[1] = (~masks[1]) * 1.5 - (masks[1] * 0.5 if signed else 0.0)  # the complement: 0
    maps[2] = np.full((size, size), 0.7)  # constant: IoU 0 at any quantile; mass = area share
    maps[3] = masks[3] * 1.0 + 0.6 * noise[3]  # mostly right
    return maps


def _coverage_public() -> list[Case]:
    masks = np.zeros((3, 4, 4), bool)
    masks[:, :2, :] = True
    maps = np.zeros((3, 4, 4))
    maps[0, :2, :] = 1.0  # exactly the mask
    maps[1, 2:, :] = 1.0  # exactly the complement
    maps[2] = np.arange(16.0).reshape(4, 4)  # the bottom rows are hottest
    rng = np.random.default_rng(0)
    random_masks = _masks(rng, 5, 12)
    return [
        Case("worked example: the mask, its complement, a ramp (q = 0.5)",
             (maps, masks, 0.5), expected=np.array([1.0, 0.0, 0.0])),
        Case("5 maps of 12x12 at q = 0.8", (_maps_for(rng, random_masks, signed=False),
                                            random_masks, 0.8)),
        Case("the same maps at q = 0.3", (_maps_for(np.random.default_rng(0), random_masks,
                                                    signed=False), random_masks, 0.3)),
    ]


def _coverage_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i, q in enumerate((0.5, 0.75, 0.9)):
        n, size = int(rng.integers(5, 9)), int(rng.choice([10, 16, 20]))
        masks = _masks(rng, n, size)
        cases.append(Case(f"hidden case {i + 1}: {n} maps of {size}x{size} at q = {q}",
                          (_maps_for(rng, masks, signed=bool(i % 2)), masks, q)))
    return cases


def _mass_public() -> list[Case]:
    masks = np.zeros((3, 2, 2), bool)
    masks[:, 0, 0] = True
    maps = np.array([[[3.0, 1.0], [-5.0, 0.0]], [[-1.0, 2.0], [2.0, 0.0]],
                     [[2.0, 0.0], [0.0, 0.0]]])
    rng = np.random.default_rng(1)
    random_masks = _masks(rng, 5, 10)
    return [
        Case("worked example: 3/4, negative inside, all the mass inside",
             (maps, masks), expected=np.array([0.75, 0.0, 1.0])),
        Case("5 signed maps of 10x10", (_maps_for(rng, random_masks, signed=True),
                                        random_masks)),
    ]


def _mass_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(3):
        n, size = int(rng.integers(5, 9)), int(rng.choice([8, 12, 16]))
        masks = _masks(rng, n, size)
        maps = _maps_for(rng, masks, signed=True)
        maps[4] = -np.abs(maps[4])  # no positive relevance at all: 0 by definition
        cases.append(Case(f"hidden case {i + 1}: {n} signed maps of {size}x{size}",
                          (maps, masks)))
    return cases


def _responses(rng: np.random.Generator, n_per_class: int, n_classes: int,
               n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Pooled responses in [0, 1] where unit c fires for class c, plus noisy other units."""
    labels = np.repeat(np.arange(n_classes), n_per_class)
    responses = rng.uniform(0.0, 0.3, size=(len(labels), n_units))
    responses[np.arange(len(labels)), labels] += rng.uniform(0.5, 0.7, size=len(labels))
    return responses, labels


def _lasso_public() -> list[Case]:
    rng = np.random.default_rng(2)
    responses, labels = _responses(rng, 6, 3, 5)
    return [
        Case("3 classes, 5 units, a tight budget (mu = 0.2)", (responses, labels, 0.2)),
        Case("the same data, mu = 1.0", (responses, labels, 1.0)),
        Case("the same data, a budget beyond the least-squares fit (mu = 100)",
             (responses, labels, 100.0)),
    ]


def _lasso_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i, mu in enumerate((0.15, 0.8, 3.0)):
        n_classes, n_units = int(rng.integers(2, 5)), int(rng.integers(4, 9))
        responses, labels = _responses(rng, int(rng.integers(5, 9)), n_classes, n_units)
        order = rng.permutation(len(labels))
        cases.append(Case(f"hidden case {i + 1}: {n_classes} classes, {n_units} units, mu = {mu}",
                          (responses[order], labels[order], mu)))
    return cases


register(
    Exercise(
        id="09.coverage_iou",
        title="Feature coverage: IoU of the quantile-binarised map with the mask",
        function="coverage_iou",
        points=1,
        public_cases=_coverage_public,
        hidden_cases=_coverage_hidden,
        oracle=_coverage_expected,
        compare=functools.partial(compare_outputs, rtol=1e-9, atol=1e-12),
        reference="solutions/09_ground_truth.py:coverage_iou",
        forbidden=("xaikit.metrics.ground_truth.feature_coverage",
                   "xaikit.metrics.ground_truth.binarise",
                   "xaikit.metrics.ground_truth.waiou"),
        hint="which pixels does the quantile rule keep? Can you find every map's threshold in "
             "one call (the axis argument of np.quantile, with keepdims)? Intersection and union "
             "are pixel counts over each image's two spatial axes; return one float per image",
    ),
    Exercise(
        id="09.mass_accuracy",
        title="Relevance mass accuracy (Arras et al. 2022)",
        function="mass_accuracy",
        points=1,
        public_cases=_mass_public,
        hidden_cases=_mass_hidden,
        oracle=_mass_expected,
        compare=functools.partial(compare_outputs, rtol=1e-9, atol=1e-12),
        reference="solutions/09_ground_truth.py:mass_accuracy",
        forbidden=("xaikit.metrics.ground_truth.relevance_mass_accuracy",
                   "xaikit.metrics.ground_truth.attribution_localisation",
                   "xaikit.metrics.bim.region_share"),
        hint="which values of the map count as evidence for the class? Sum them inside the "
             "mask and over the whole image. What should the share be for a map with no "
             "positive value, and how do you divide there without a warning?",
    ),
    Exercise(
        id="09.lasso_units",
        title="Relevant units: the per-class constrained lasso (Oramas et al. 2019)",
        function="lasso_units",
        points=2,
        public_cases=_lasso_public,
        hidden_cases=_lasso_hidden,
        oracle=_lasso_expected,
        compare=functools.partial(compare_outputs, rtol=1e-4, atol=1e-6),
        reference="solutions/09_ground_truth.py:lasso_units",
        forbidden=("xaikit.interpretation.relevant_units.lasso_weights",
                   "xaikit.interpretation.relevant_units.relevant_units"),
        hint="treat each class on its own, with its 0/1 indicator. The intercept is not "
             "penalised: what does that ask of X and y before the fit? lars_path(method='lasso') "
             "gives the solution at every breakpoint of the path, in order of growing l1 norm, "
             "and between two breakpoints the solution moves in a straight line: where is the "
             "point whose l1 norm is mu, and what if mu lies beyond the path's end?",
    ),
)
