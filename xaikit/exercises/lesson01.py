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


def _hidden_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(4):
        n, d = int(rng.integers(1, 9)), int(rng.integers(1, 17))
        dtype = np.float32 if i % 2 else np.float64
        weights = rng.normal(size=d).astype(dtype)
        inputs = rng.uniform(-1.0, 1.0, size=(n, d)).astype(dtype)
        baseline = float(rng.normal()) if i == 2 else rng.normal(size=d).astype(dtype)
        kwargs = {} if i == 0 else {"baseline": baseline}
        cases.append(Case(f"hidden case {i + 1}: {n} inputs of {d} features", (weights, inputs),
                          kwargs))
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
        hint="multiply each weight by (input - baseline); broadcasting does the batch for you, "
             "no loop needed; the result has one row per input",
    )
)
