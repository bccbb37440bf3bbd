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
    a = np.array([[1.0, 3.0]])
    weights = np.array([[1.0], [1.0]])
    return [
        Case("one output, z = 4: relevance 2 splits 1 : 3", (a, weights, np.zeros(1),
                                                             np.array([[2.0]])),
             expected=np.array([[0.5, 1.5]])),
        Case("epsilon = 1 absorbs a fifth: z = 4 + 1", (a, weights, np.zeros(1),
                                                        np.array([[10.0]])),
             {"epsilon": 1.0}, expected=np.array([[2.0, 6.0]])),
        Case("a batch of 3, 5 inputs, 4 outputs, with bias and epsilon = 0.1",
             (rng.uniform(size=(3, 5)), rng.normal(size=(5, 4)), rng.normal(size=4),
              rng.normal(size=(3, 4))), {"epsilon": 0.1}),
    ]


def _hidden(seed: int) -> list[Case]:
    """One sample and a batch; epsilon 0 and not; a pre-activation exactly 0 (sign(0) = +1);
    float32 and float64."""
    rng = np.random.default_rng(seed)
    cases = []
    d_in, d_out = (int(v) for v in rng.integers(2, 9, size=2))
    a = rng.uniform(size=(1, d_in))
    cases.append(Case(f"one sample, ({d_in} -> {d_out}), epsilon 0",
                      (a, rng.normal(size=(d_in, d_out)), rng.normal(size=d_out),
                       rng.normal(size=(1, d_out))), {"epsilon": 0.0}))
    n = int(rng.integers(3, 9))
    cases.append(Case(f"a batch of {n}, float32, epsilon 0.01",
                      (rng.uniform(size=(n, d_in)).astype(np.float32),
                       rng.normal(size=(d_in, d_out)).astype(np.float32),
                       rng.normal(size=d_out).astype(np.float32),
                       rng.normal(size=(n, d_out)).astype(np.float32)), {"epsilon": 0.01}))
    weights, bias = rng.normal(size=(d_in, d_out)), rng.normal(size=d_out)
    a = rng.uniform(size=(1, d_in))
    bias[0] = -float(a[0] @ weights[:, 0])  # z_0 = 0 exactly: the stabiliser's sign is +1
    cases.append(Case("one sample with a pre-activation exactly 0, epsilon 0.5",
                      (a, weights, bias, rng.normal(size=(1, d_out))), {"epsilon": 0.5}))
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
        compare=functools.partial(compare_outputs, rtol=1e-5, atol=1e-7),  # float32 cases
        reference="solutions/07_relevance.py:lrp_epsilon_dense",
        forbidden=("xaikit.attribution.lrp", "xaikit.attribution.relevance.lrp",
                   "xaikit.attribution.lrp_details"),
        hint="the rule has four steps (Montavon et al. 2019, Sec. 10.2.2): the forward "
             "pre-activations, the stabiliser (mind sign(0) = +1), a division of the "
             "relevance, the way back through the weights; then the activations",
    )
)
