"""Exercises of lesson 01, "Why interpret a CNN" — the model for every ``lessonNN.py``.

``01.linear_attribution``: for a linear score :math:`f(x) = w^\\top x + b`, the contribution of
feature :math:`i` relative to a baseline :math:`\\bar x` is

.. math:: \\phi_i = w_i \\, (x_i - \\bar x_i), \\qquad \\sum_i \\phi_i = f(x) - f(\\bar x).

It is the exact, ante-hoc explanation of a linear model, and the quantity the "locally additive"
methods of the survey's Table 1 (LIME, DeepLIFT, LRP, SHAP) approximate for a CNN.
"""

from __future__ import annotations

import numpy as np

from xaikit.exercises.registry import Case, Exercise, register


def _expected(weights: np.ndarray, inputs: np.ndarray,
              baseline: np.ndarray | float = 0.0) -> np.ndarray:
    """Oracle: ``w * (x - baseline)`` per input, as float64."""
    weights = np.asarray(weights, dtype=np.float64)
    inputs = np.asarray(inputs, dtype=np.float64)
    return weights[None, :] * (inputs - np.asarray(baseline, dtype=np.float64))


def _public_cases() -> list[Case]:
    weights = np.array([2.0, -1.0, 0.5])
    return [
        Case("one input, zero baseline (worked example of the lesson)",
             (weights, np.array([[1.0, 2.0, 3.0]])),
             expected=np.array([[2.0, -2.0, 1.5]])),
        Case("two inputs, scalar baseline 1.0",
             (weights, np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])), {"baseline": 1.0},
             expected=np.array([[0.0, -1.0, 1.0], [-2.0, 1.0, -0.5]])),
        Case("four inputs, one baseline value per feature",
             (np.linspace(-1.0, 1.0, 5), np.arange(20.0).reshape(4, 5) / 10.0),
             {"baseline": np.full(5, 0.5)}),
    ]


HIDDEN_KINDS = (
    ("one input, float64, a baseline per feature", 1, np.float64, "vector"),
    ("several inputs, float32, a scalar baseline", 5, np.float32, "scalar"),
    ("several inputs, float64, the default baseline", 6, np.float64, "default"),
    ("one feature, several inputs, float32, a baseline per feature", 4, np.float32, "vector"),
)
"""Hidden cases: the same edge cases for every seed, random values from the seed."""


def _hidden_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, n, dtype, baseline_kind in HIDDEN_KINDS:
        d = 1 if name.startswith("one feature") else int(rng.integers(3, 17))
        weights = rng.normal(size=d).astype(dtype)
        inputs = rng.uniform(-1.0, 1.0, size=(n, d)).astype(dtype)
        kwargs = {"baseline": rng.normal(size=d).astype(dtype)} if baseline_kind == "vector" \
            else {"baseline": float(rng.normal())} if baseline_kind == "scalar" else {}
        cases.append(Case(name, (weights, inputs), kwargs))
    return cases


register(
    Exercise(
        id="01.linear_attribution",
        title="Exact attributions of a linear model",
        function="linear_attribution",
        points=1,
        public_cases=_public_cases,
        hidden_cases=_hidden_cases,
        oracle=_expected,
        reference="solutions/01_why_interpret.py:linear_attribution",
        hint="the result has one row per input and one column per feature: which array needs "
             "a new axis so that NumPy broadcasting lines the weights up with every input "
             "row? Check a row's sum against f(x) - f(baseline)",
    )
)
