"""Exercises of lesson 14, "Concepts, representations and surrogates".

``14.tcav_score``: the TCAV score of one concept (Kim et al., ICML 2018, Eq. 2) from the
gradients of a class logit with respect to a layer and a concept activation vector v,

.. math:: \\mathrm{TCAV} = \\frac{1}{N}\\,|\\{n : \\nabla h(x_n) \\cdot v > 0\\}| .

``14.linear_cka``: linear centred kernel alignment (Kornblith et al., ICML 2019, Eq. 5) of two
representations of the same n examples, with column-centred X and Y,

.. math:: \\mathrm{CKA}(X, Y) = \\frac{\\lVert Y^T X \\rVert_F^2}
          {\\lVert X^T X \\rVert_F\\, \\lVert Y^T Y \\rVert_F} .
"""

from __future__ import annotations

import functools

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _tcav_expected(gradients: np.ndarray, cav: np.ndarray) -> float:
    flat = np.asarray(gradients, np.float64).reshape(len(gradients), -1)
    return float(np.mean(flat @ np.asarray(cav, np.float64).ravel() > 0))


def _signed(rng: np.random.Generator, shape: tuple, cav: np.ndarray, n_positive: int,
            dtype: type) -> np.ndarray:
    """Random gradients whose derivative along ``cav`` is positive for exactly ``n_positive``."""
    gradients = rng.normal(size=shape)
    flat = gradients.reshape(shape[0], -1)
    dots = flat @ cav.ravel()
    want = np.r_[np.ones(n_positive), -np.ones(shape[0] - n_positive)][rng.permutation(shape[0])]
    flat *= np.where(np.sign(dots) == want, 1.0, -1.0)[:, None]
    return flat.reshape(shape).astype(dtype)


def _tcav_public() -> list[Case]:
    rng = np.random.default_rng(14)
    cav = rng.normal(size=(2, 2, 3))
    return [
        Case("worked example: derivatives 1, 1, -1, -1",
             (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
              np.array([1.0, 1.0, -1.0])), expected=0.5),
        Case("5 images, gradients (N, h, w, k)", (_signed(rng, (5, 2, 2, 3), cav, 3, np.float64),
                                                  cav)),
        Case("a zero derivative is not positive",
             (np.array([[1.0, -1.0, 0.0], [2.0, 0.0, 1.0], [0.0, 0.0, 3.0]]),
              np.array([1.0, 1.0, 0.0])), expected=1 / 3),
    ]


TCAV_KINDS = (
    ("several images, flat gradients (N, d), float64", "flat", np.float64),
    ("several images, gradients (N, h, w, k), float32", "spatial", np.float32),
    ("some derivatives exactly zero (integer-valued, orthogonal to the CAV)", "zeros", np.float64),
    ("one positive image among many", "one", np.float64),
    ("a CAV scaled by 1000 (only its direction matters)", "scaled", np.float64),
)


def _tcav_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, kind, dtype in TCAV_KINDS:
        n = int(rng.integers(6, 15))
        if kind == "zeros":
            d = int(rng.integers(3, 8))
            cav = np.r_[1.0, 1.0, np.zeros(d - 2)]
            gradients = rng.integers(-3, 4, size=(n, d)).astype(dtype)
            gradients[: n // 2, 1] = -gradients[: n // 2, 0]  # derivative exactly 0
            gradients[n // 2:, :2] = np.abs(gradients[n // 2:, :2]) + 1  # exactly positive
            gradients[-1, :2] = -gradients[-1, :2]  # one negative
            cases.append(Case(f"{name} ({n} images)", (gradients, cav)))
            continue
        shape = (n, int(rng.integers(2, 5)), int(rng.integers(2, 5)), int(rng.integers(2, 6))) \
            if kind == "spatial" else (n, int(rng.integers(3, 20)))
        cav = rng.normal(size=shape[1:])
        positive = 1 if kind == "one" else int(rng.integers(1, n))
        gradients = _signed(rng, shape, cav, positive, dtype)
        cases.append(Case(f"{name} ({n} images, {positive} positive)",
                          (gradients, (cav * (1000.0 if kind == "scaled" else 1.0)).astype(dtype))))
    return cases


def _cka_expected(x: np.ndarray, y: np.ndarray) -> float:
    from xaikit.interpretation.representations import cka

    return cka(x, y)


def _cka_public() -> list[Case]:
    rng = np.random.default_rng(41)
    x = rng.normal(size=(30, 6))
    return [
        Case("worked example: 4 examples, 2 and 1 features",
             (np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]]),
              np.array([[1.0], [0.0], [1.0], [3.0]]))),
        Case("30 examples, a noisy linear map to 4 features",
             (x, x @ rng.normal(size=(6, 4)) + 0.5 * rng.normal(size=(30, 4)))),
        Case("uncentred features (offsets of 100)",
             (x + 100.0, np.tanh(x[:, :3]) + 100.0)),
    ]


CKA_KINDS = (
    ("different widths, float64", "linear", np.float64),
    ("uncentred columns (large offsets)", "offset", np.float64),
    ("float32 inputs", "linear", np.float32),
    ("more features than examples", "wide", np.float64),
    ("a nonlinear function of x", "nonlinear", np.float64),
)


def _cka_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, kind, dtype in CKA_KINDS:
        n = int(rng.integers(8, 16)) if kind == "wide" else int(rng.integers(20, 60))
        p = n + int(rng.integers(2, 10)) if kind == "wide" else int(rng.integers(2, 10))
        x = rng.normal(size=(n, p))
        if kind == "nonlinear":
            y = np.maximum(x @ rng.normal(size=(p, p)), 0.0) ** 2
        else:
            y = x @ rng.normal(size=(p, int(rng.integers(1, 8)))) + rng.normal(size=(n, 1)) * \
                rng.uniform(0.3, 1.0)
        if kind == "offset":
            x, y = x + rng.uniform(50, 150, size=p), y + rng.uniform(50, 150)
        cases.append(Case(f"{name} (n={n}, p={p})", (x.astype(dtype), y.astype(dtype))))
    return cases


register(
    Exercise(
        id="14.tcav_score",
        title="The TCAV score from directional derivatives (Kim et al. 2018, Eq. 2)",
        function="tcav_score",
        points=1,
        public_cases=_tcav_public,
        hidden_cases=_tcav_hidden,
        oracle=_tcav_expected,
        compare=functools.partial(compare_outputs, rtol=1e-9, atol=1e-9),
        reference="solutions/14_concepts.py:tcav_score",
        forbidden=("xaikit.interpretation.concepts.tcav",
                   "xaikit.interpretation.concepts.tcav_from_activations"),
        hint="each image's directional derivative is the dot product of its whole gradient "
             "(all axes after the first) with the CAV; count the strictly positive ones and "
             "divide by the number of images",
    ),
    Exercise(
        id="14.linear_cka",
        title="Linear CKA (Kornblith et al. 2019)",
        function="linear_cka",
        points=1,
        public_cases=_cka_public,
        hidden_cases=_cka_hidden,
        oracle=_cka_expected,
        compare=functools.partial(compare_outputs, rtol=1e-5, atol=1e-7),
        reference="solutions/14_concepts.py:linear_cka",
        forbidden=("xaikit.interpretation.representations.cka",
                   "xaikit.interpretation.representations.layer_similarity"),
        hint="subtract each column's mean first (CKA compares centred representations); the "
             "Frobenius norms are np.linalg.norm(..., 'fro'); compute in float64",
    ),
)
