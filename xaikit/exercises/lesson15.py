"""Exercises of lesson 15, "Interpretable by design" (Koh et al. 2020; Chen et al. 2019).

``15.intervene``: test-time intervention on a concept bottleneck (Koh et al., ICML 2020, Sec. 6):
the first k concepts of each image's order take their true values, the others keep the
prediction.

``15.log_similarity``: ProtoPNet's similarity of every latent patch to every prototype
(Chen et al., NeurIPS 2019, Sec. 2.1),

.. math:: g_{p_j}(\\tilde z) = \\log\\frac{\\lVert\\tilde z - p_j\\rVert_2^2 + 1}
          {\\lVert\\tilde z - p_j\\rVert_2^2 + \\epsilon}.
"""

from __future__ import annotations

import functools

import numpy as np

from xaikit.exercises.compare import compare_outputs
from xaikit.exercises.registry import Case, Exercise, register


def _intervene_expected(predicted: np.ndarray, true: np.ndarray, order: np.ndarray,
                        k: int) -> np.ndarray:
    predicted = np.asarray(predicted, np.float64)
    out = predicted.copy()
    rows = np.repeat(np.arange(len(predicted)), k)
    out[rows, np.asarray(order)[:, :k].ravel()] = np.asarray(true, np.float64)[rows, np.asarray(
        order)[:, :k].ravel()]
    return out


def _intervene_case(rng: np.random.Generator, n: int, n_concepts: int, k: int,
                    dtype: type = np.float64) -> tuple:
    """Predictions strictly inside (0, 1) and 0/1 truths, so neither input alone is the answer."""
    predicted = rng.uniform(0.05, 0.95, size=(n, n_concepts)).astype(dtype)
    true = (rng.random((n, n_concepts)) < 0.5).astype(dtype)
    order = np.argsort(rng.random((n, n_concepts)), axis=1)
    return predicted, true, order, k


def _intervene_public() -> list[Case]:
    rng = np.random.default_rng(15)
    return [
        Case("worked example: correct concepts 2 and 0 of one image",
             (np.array([[0.9, 0.2, 0.6]]), np.array([[0.0, 1.0, 1.0]]), np.array([[2, 0, 1]]), 2),
             expected=np.array([[0.0, 0.2, 1.0]])),
        Case("4 images, 6 concepts, k = 3 (a different order per image)",
             _intervene_case(rng, 4, 6, 3)),
        Case("float32, k = 1", _intervene_case(rng, 3, 5, 1, np.float32)),
    ]


INTERVENE_KINDS = (
    ("one image, one concept corrected", 1, 4, 1),
    ("several images, all but one concept corrected", 5, 7, 6),
    ("many images, two concepts", 20, 2, 1),
    ("several images, half of 10 concepts", 6, 10, 5),
)
"""Hidden cases: 0 < k < K always, so returning the predictions or the truths scores 0."""


def _intervene_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [Case(name, _intervene_case(rng, n, n_concepts, k))
            for name, n, n_concepts, k in INTERVENE_KINDS]


def _similarity_expected(latents: np.ndarray, prototypes: np.ndarray,
                         epsilon: float = 1e-4) -> np.ndarray:
    diff = np.asarray(latents, np.float64)[..., None, :] - np.asarray(prototypes, np.float64)
    distances = np.sum(diff * diff, axis=-1)
    return np.log((distances + 1.0) / (distances + epsilon))


def _similarity_case(rng: np.random.Generator, n: int, h: int, depth: int, p: int,
                     on_patch: bool) -> tuple:
    latents = rng.uniform(0.0, 1.0, size=(n, h, h, depth))
    prototypes = rng.uniform(0.0, 1.0, size=(p, depth))
    if on_patch:  # the push step's situation: a prototype equal to a patch (distance 0)
        prototypes[0] = latents[-1, h - 1, 0]
    return latents, prototypes


def _similarity_public() -> list[Case]:
    rng = np.random.default_rng(19)
    return [
        Case("worked example: distance 0 gives log(1/eps), distance 1 gives log(2/(1+eps))",
             (np.array([[[[0.0, 0.0], [1.0, 0.0]]]]), np.array([[0.0, 0.0]])),
             expected=_similarity_expected(np.array([[[[0.0, 0.0], [1.0, 0.0]]]]),
                                           np.array([[0.0, 0.0]]))),
        Case("2 images, 3x3 patches of depth 4, 5 prototypes", _similarity_case(rng, 2, 3, 4, 5,
                                                                                False)),
        Case("a prototype lying on a patch", _similarity_case(rng, 1, 4, 8, 3, True)),
    ]


SIMILARITY_KINDS = (
    ("one image, one prototype", 1, 2, 3, 1, False),
    ("several images, a prototype on a patch", 3, 5, 16, 4, True),
    ("a 1x1 latent grid, many prototypes", 4, 1, 8, 12, False),
)


def _similarity_hidden(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    return [Case(f"{name} ({h}x{h}x{depth})", _similarity_case(rng, n, h, depth, p, on_patch))
            for name, n, h, depth, p, on_patch in SIMILARITY_KINDS]


register(
    Exercise(
        id="15.intervene",
        title="Test-time intervention on a concept bottleneck (Koh et al. 2020, Sec. 6)",
        function="intervene",
        points=1,
        public_cases=_intervene_public,
        hidden_cases=_intervene_hidden,
        oracle=_intervene_expected,
        compare=functools.partial(compare_outputs, rtol=0.0, atol=1e-12),
        reference="solutions/15_by_design.py:intervene",
        forbidden=("xaikit.interpretation.bottleneck.intervene",),
        hint="row n's order lists concept indices, most urgent first; only its first k entries "
             "are corrected. Build a boolean (N, K) mask of the corrected positions for all "
             "images at once (np.put_along_axis, or ranks from np.argsort(order)) and choose "
             "between the two arrays with it",
    ),
    Exercise(
        id="15.log_similarity",
        title="ProtoPNet's log-activation similarity (Chen et al. 2019, Sec. 2.1)",
        function="log_similarity",
        points=1,
        public_cases=_similarity_public,
        hidden_cases=_similarity_hidden,
        oracle=_similarity_expected,
        compare=functools.partial(compare_outputs, rtol=1e-6, atol=1e-9),
        reference="solutions/15_by_design.py:log_similarity",
        forbidden=("xaikit.models.prototypes.log_similarity",
                   "xaikit.models.prototypes.squared_distances"),
        hint="you need the squared distance from every patch (N, h, w, D) to every prototype "
             "(P, D): broadcasting with a new axis, or |z|^2 - 2 z.p + |p|^2. Then apply the log "
             "ratio; at distance 0 the answer is log(1/eps), not infinity. Return (N, h, w, P)",
    ),
)
