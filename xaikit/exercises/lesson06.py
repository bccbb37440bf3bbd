"""Exercises of lesson 06, "Perturbation and surrogates".

``06.rise_saliency``: the Monte-Carlo estimate of RISE (Petsiuk, Das & Saenko, BMVC 2018, eq. 6)
from the scores of the masked images and the masks,

.. math:: S(\\lambda) = \\frac{1}{N p} \\sum_{i=1}^{N} f(x \\odot M_i)\\, M_i(\\lambda).

``06.shapley_kernel``: the weight that KernelSHAP gives a coalition of ``size`` features out of
``n_features`` (Lundberg & Lee, NeurIPS 2017, Theorem 2),

.. math:: \\pi(z') = \\frac{M - 1}{\\binom{M}{|z'|}\\, |z'|\\, (M - |z'|)}.
"""

from __future__ import annotations

import functools

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _rise_expected(scores: np.ndarray, masks: np.ndarray, p: float) -> np.ndarray:
    scores, masks = np.asarray(scores, np.float64), np.asarray(masks, np.float64)
    return np.tensordot(scores, masks, axes=1) / (len(scores) * p)


def _rise_public() -> list[Case]:
    masks = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]])
    rng = np.random.default_rng(0)
    return [
        Case("two 2x2 masks by hand: (0.8 M1 + 0.2 M2) / (2 x 0.5)",
             (np.array([0.8, 0.2]), masks, 0.5), expected=np.array([[1.0, 0.2], [0.0, 0.8]])),
        Case("100 random soft masks of 5x7, p = 0.3",
             (rng.uniform(size=100), rng.uniform(size=(100, 5, 7)), 0.3)),
    ]


def _rise_hidden(seed: int) -> list[Case]:
    """One mask and many; binary and soft masks; float32 and float64 scores."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(3, 12, size=2))
    many = int(rng.integers(20, 60))
    return [
        Case(f"one soft mask of {h}x{w}", (rng.normal(size=1) + 2.0, rng.uniform(size=(1, h, w)),
                                             float(rng.uniform(0.1, 0.9)))),
        Case(f"{many} binary masks of {h}x{w}, float32 scores",
             (rng.normal(size=many).astype(np.float32),
              (rng.uniform(size=(many, h, w)) < 0.5).astype(np.float32),
              float(rng.uniform(0.1, 0.9)))),
        Case(f"{many} soft masks of {w}x{h}, float64 scores",
             (rng.normal(size=many), rng.uniform(size=(many, w, h)), float(rng.uniform(0.1, 0.9)))),
    ]


def _kernel_expected(n_features: int, sizes: np.ndarray) -> np.ndarray:
    from xaikit.attribution.surrogate import shapley_kernel

    return shapley_kernel(int(n_features), np.asarray(sizes))


def _kernel_public() -> list[Case]:
    return [
        Case("M = 4: sizes 1, 2, 3 weigh 1/4, 1/8, 1/4", (4, np.array([1, 2, 3])),
             expected=np.array([0.25, 0.125, 0.25])),
        Case("M = 10: symmetric in |z'| and M - |z'|", (10, np.arange(1, 10))),
    ]


def _kernel_hidden(seed: int) -> list[Case]:
    """The smallest M (2), both ends of the sizes (1 and M - 1), and a large M."""
    rng = np.random.default_rng(seed)
    m = int(rng.integers(5, 15))
    big = int(rng.integers(30, 60))
    return [
        Case("M = 2: the only size is 1", (2, np.array([1, 1]))),
        Case(f"M = {m}: sizes 1 and M - 1 among others",
             (m, np.concatenate([[1, m - 1], rng.integers(2, m - 1, size=3)]))),
        Case(f"M = {big}: large binomial coefficients", (big, rng.integers(1, big, size=6))),
    ]


register(
    Exercise(
        id="06.rise_saliency",
        title="RISE: aggregate the masks",
        function="rise_saliency",
        points=1,
        public_cases=_rise_public,
        hidden_cases=_rise_hidden,
        oracle=_rise_expected,
        compare=functools.partial(compare_outputs, rtol=1e-5, atol=1e-7),  # float32 cases
        reference="solutions/06_perturbation.py:rise_saliency",
        hint="read Eq. 6 as a weighted combination of the masks: what weighs each mask, and "
             "which axis disappears? Work out by hand what a pixel kept in every mask gets when "
             "every score is 1, and make your function agree",
    )
)

register(
    Exercise(
        id="06.shapley_kernel",
        title="KernelSHAP: the Shapley kernel",
        function="shapley_kernel",
        points=1,
        public_cases=_kernel_public,
        hidden_cases=_kernel_hidden,
        oracle=_kernel_expected,
        compare=functools.partial(compare_outputs, rtol=1e-9, atol=0.0),
        reference="solutions/06_perturbation.py:shapley_kernel",
        forbidden=("xaikit.attribution.surrogate.shapley_kernel",),
        hint="math.comb(M, s) gives the binomial coefficient; the result has one weight per "
             "size, as floats",
    )
)
