"""Exercises of lesson 07, "Relevance propagation".

``07.lrp_epsilon_dense``: the LRP-ε rule for one dense layer :math:`z_j = \\sum_i a_i w_{ij} + b_j`
(Bach et al. 2015; Montavon et al. 2019, eq. 10.2),

.. math:: R_i = \\sum_j \\frac{a_i w_{ij}}{z_j + \\epsilon\\, \\mathrm{sign}(z_j)} R_j,
          \\qquad \\mathrm{sign}(0) = +1,

for a batch: ``a`` (N, I), ``weights`` (I, J), ``bias`` (J,), ``relevance`` (N, J) -> (N, I).
"""

from __future__ import annotations

import functools

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _expected(a, weights, bias, relevance, epsilon=0.0):
    a, weights = np.asarray(a, np.float64), np.asarray(weights, np.float64)
    z = a @ weights + np.asarray(bias, np.float64)
    z = z + epsilon * np.where(z >= 0, 1.0, -1.0)
    return a * ((np.asarray(relevance, np.float64) / z) @ weights.T)


def _public() -> list[Case]:
    rng = np.random.default_rng(0)
    a = np.array([[1.0, 2.0]])
    weights = np.array([[1.0], [1.0]])
    return [
        Case("one output, z = 3: relevance 3 splits 1 : 2", (a, weights, np.zeros(1), np.array([[3.0]])),
             expected=np.array([[1.0, 2.0]])),
        Case("epsilon = 1 absorbs a quarter: z = 3 + 1", (a, weights, np.zeros(1), np.array([[4.0]])),
             {"epsilon": 1.0}, expected=np.array([[1.0, 2.0]])),
        Case("a batch of 3, 5 inputs, 4 outputs, with bias and epsilon = 0.1",
             (rng.uniform(size=(3, 5)), rng.normal(size=(5, 4)), rng.normal(size=4),
              rng.normal(size=(3, 4))), {"epsilon": 0.1}),
    ]


def _hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(3):
        n, d_in, d_out = (int(v) for v in rng.integers(1, 9, size=3))
        cases.append(Case(f"hidden case {i + 1}: ({n}, {d_in}) -> {d_out}",
                          (rng.uniform(size=(n, d_in)), rng.normal(size=(d_in, d_out)),
                           rng.normal(size=d_out), rng.normal(size=(n, d_out))),
                          {"epsilon": float(rng.choice([0.0, 0.01, 0.5]))}))
    return cases


register(
    Exercise(
        id="07.lrp_epsilon_dense",
        title="The LRP-epsilon rule for a dense layer",
        function="lrp_epsilon_dense",
        points=2,
        public_cases=_public,
        hidden_cases=_hidden,
        oracle=_expected,
        compare=functools.partial(compare_outputs, rtol=1e-6, atol=1e-9),
        reference="solutions/07_relevance.py:lrp_epsilon_dense",
        forbidden=("xaikit.attribution.lrp", "xaikit.attribution.relevance.lrp",
                   "xaikit.attribution.lrp_details"),
        hint="compute z = a @ W + b, stabilise it, divide the relevance by it (s = R / z), send s "
             "back with s @ W.T and multiply by a: the 'gradient trick' by hand",
    )
)
