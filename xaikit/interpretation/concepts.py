"""Concept activation vectors and TCAV: does a human concept matter for a class?

Kim, Wattenberg, Gilmer, Cai, Wexler, Viégas & Sayres, "Interpretability Beyond Feature
Attribution: Quantitative Testing with Concept Activation Vectors (TCAV)", ICML 2018,
arXiv:1711.11279.

- A **CAV** :math:`v_C^l` is the normal of a linear classifier that separates the layer-``l``
  activations :math:`f_l(x)` of examples of concept C from those of random examples (Sec. 3.2).
- The **conceptual sensitivity** of class k is the directional derivative of its logit along the
  CAV (Eq. 1): :math:`S_{C,k,l}(x) = \\nabla h_{l,k}(f_l(x)) \\cdot v_C^l`.
- The **TCAV score** is the fraction of class-k images whose sensitivity is positive (Eq. 2):
  :math:`\\mathrm{TCAV}_{Q_{C,k,l}} = |\\{x \\in X_k : S_{C,k,l}(x) > 0\\}| / |X_k|`.
- **Statistical testing** (Sec. 3.5): a CAV depends on the random examples it was trained
  against, so the score is computed against many random sets, next to the scores of random
  "concepts" (random sets against random sets); a two-sided t-test compares the two
  distributions, with a Bonferroni correction for the number of concepts tested.

The classifier is an L2-regularised logistic regression (``C = 1``, unpenalised intercept:
scikit-learn's ``LogisticRegression`` objective, its oracle in the tests) on the activations
divided by their root-mean-square norm (so that scaling a layer does not change its CAVs), with
a third of each set held out to report the CAV's accuracy. Its solution lies in the span of its
training rows, so every classifier of one call is solved in the coordinates of its own rows
(from one Gram matrix of all the activations the call may see, computed once), all of them
together by a batched Newton method: 30 random splits of 4 concepts cost one batched solve of
150 small problems, not 150 fits in the layer's full dimension. Introduced in lesson 14.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from xaikit.core import find_layer, layer_gradients
from xaikit.core.checks import check_array, check_int, check_number, message, rng
from xaikit.core.taps import layer_activations

__all__ = ["Cav", "TcavResult", "cav", "concept_presence", "span_coordinates", "tcav",
           "tcav_from_activations"]

CAV_C = 1.0
"""Inverse L2 strength of the CAV's logistic regression (scikit-learn's ``C``)."""
HELD_OUT = 1 / 3
"""Fraction of each concept/random set held out to measure a CAV's accuracy."""
MAX_ITER = 100
"""Newton iterations at most (it converges in about ten)."""
DECREMENT_TOL = 1e-12
"""Newton stops when every problem's Newton decrement g^T H^-1 g (twice the predicted decrease
of the objective) is below this."""
RANK_TOL = 1e-10
"""Directions of the activations' span with a relative variance below this are dropped."""


@dataclass(frozen=True)
class Cav:
    """A concept activation vector of one layer.

    ``vector`` (d,) is the unit normal pointing towards the concept in the flattened activation
    space (d = h·w·k); ``weights`` and ``intercept`` give the classifier's decision
    ``f_l(x)·weights + intercept`` (> 0: concept); ``accuracy`` is measured on held-out examples.
    """

    layer: str
    vector: np.ndarray
    weights: np.ndarray
    intercept: float
    accuracy: float


def span_coordinates(activations: Any, gradients: Any) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of activations and gradients in an orthonormal basis V of the activations' span.

    An exact change of coordinates for TCAV: a CAV trained on any of these activations lies in
    their span, so :math:`x \\cdot v = (xV) \\cdot (V^T v)` and
    :math:`\\nabla h \\cdot v = (\\nabla h\\, V) \\cdot (V^T v)`. Computed once, it lets many
    :func:`tcav_from_activations` calls on subsets of the same activations work in r <= N
    dimensions instead of the layer's h·w·k (lesson 14's reruns).

    Parameters
    ----------
    activations : array (N, ...)
        Layer activations.
    gradients : array (M, ...)
        Gradients with respect to the same layer (same trailing shape).

    Returns
    -------
    coords, projected : np.ndarray
        (N, r) and (M, r), r the rank of the activations.

    Examples
    --------
    >>> acts = np.random.default_rng(0).normal(size=(5, 3, 4))
    >>> coords, projected = span_coordinates(acts, acts[:2])
    >>> coords.shape, bool(np.allclose(coords @ coords.T, acts.reshape(5, -1) @ acts.reshape(5, -1).T))
    ((5, 5), True)
    """
    rows = _flat("activations", activations)
    grads = _flat("gradients", gradients)
    if grads.shape[1] != rows.shape[1]:
        raise ValueError(message("concept_sizes", name="gradients", what=f"expected "
                                 f"{rows.shape[1]} values per example (the activations')",
                                 got=grads.shape[1], fix=""))
    values, vectors = np.linalg.eigh(rows @ rows.T)
    keep = values > RANK_TOL * max(float(values.max()), 1e-300)
    basis = rows.T @ (vectors[:, keep] / np.sqrt(values[keep]))  # V, orthonormal columns
    return vectors[:, keep] * np.sqrt(values[keep]), grads @ basis


def _split(n: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random held-out third of ``range(n)`` (at least one), and the rest."""
    order = generator.permutation(n)
    n_test = max(1, int(round(n * HELD_OUT)))
    return order[n_test:], order[:n_test]


class _Problems:
    """Concept-vs-random splits as row indices into one Gram matrix: labels 1 then 0."""

    def __init__(self, generator: np.random.Generator):
        self.generator, self.train, self.test, self.n_positive = generator, [], [], []

    def add(self, positive: np.ndarray, negative: np.ndarray) -> None:
        (train_p, test_p), (train_n, test_n) = (_split(len(positive), self.generator),
                                                _split(len(negative), self.generator))
        self.train.append(np.r_[positive[train_p], negative[train_n]])
        self.test.append(np.r_[positive[test_p], negative[test_n]])
        self.n_positive.append((len(train_p), len(test_p)))

    def solve(self, gram: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Coefficients a (B, n) on the training rows, intercepts (B,), held-out accuracies (B,).

        The classifier of problem b is :math:`f(x) = \\sum_j a_{bj}\\, k(x, x_j) + c_b` over
        its training rows x_j, k the Gram matrix's inner product.
        """
        train, test = np.asarray(self.train), np.asarray(self.test)
        (n_train, n_test), = set(self.n_positive)
        labels = np.arange(train.shape[1]) < n_train
        a, intercept = _logistic_regressions(gram[train[:, :, None], train[:, None, :]], labels)
        decision = np.einsum("bhn,bn->bh", gram[test[:, :, None], train[:, None, :]], a)
        correct = (decision + intercept[:, None] > 0) == (np.arange(test.shape[1]) < n_test)
        return a, intercept, correct.mean(axis=1)


def _logistic_regressions(gram: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """B L2-regularised logistic regressions at once, in the span of each one's training rows.

    Minimises :math:`C \\sum_i \\log(1 + e^{-s_i f(x_i)}) + \\tfrac12 \\lVert w \\rVert^2`,
    :math:`f(x) = w \\cdot x + c`, s = ±1 (scikit-learn's objective). With the Gram matrix
    K = U Λ U^T of the rows, Z = U Λ^{1/2} are their coordinates in an orthonormal basis of
    their span, where w = Z^T-coordinates γ; Newton's method with backtracking solves all B
    problems together. Returns a (B, n) with w = Σ_j a_j x_j, and c (B,).
    """
    values, vectors = np.linalg.eigh(gram)
    keep = values > RANK_TOL * np.maximum(values[:, -1:], 1e-300)
    root = np.sqrt(np.where(keep, values, 0.0))
    z = np.concatenate([vectors * root[:, None, :], np.ones((*gram.shape[:2], 1))], axis=2)
    y = labels.astype(np.float64)
    penalty = np.r_[np.ones(gram.shape[1]) / CAV_C, 0.0]  # the intercept is not penalised

    def objective(theta: np.ndarray) -> np.ndarray:
        f = np.einsum("bnk,bk->bn", z, theta)
        return (np.logaddexp(0.0, f) - y * f).sum(axis=1) + 0.5 * (penalty * theta**2).sum(axis=1)

    theta = np.zeros((len(gram), z.shape[2]))
    for _ in range(MAX_ITER):
        p = 1.0 / (1.0 + np.exp(-np.einsum("bnk,bk->bn", z, theta)))
        gradient = np.einsum("bnk,bn->bk", z, p - y) + penalty * theta
        hessian = np.swapaxes(z * (p * (1 - p))[..., None], 1, 2) @ z
        hessian[:, np.arange(z.shape[2]), np.arange(z.shape[2])] += penalty + 1e-12
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        if (gradient * step).sum(axis=1).max() < DECREMENT_TOL:
            break
        theta = _backtrack(objective, theta, step, gradient)
    gamma = np.where(keep, theta[:, :-1] / np.where(keep, root, 1.0), 0.0)
    return np.einsum("bnk,bk->bn", vectors, gamma), theta[:, -1]


def _backtrack(objective: Any, theta: np.ndarray, step: np.ndarray, gradient: np.ndarray
               ) -> np.ndarray:
    """theta - t·step with t halved per problem until the objective decreases (Armijo)."""
    start, slope = objective(theta), (gradient * step).sum(axis=1)
    t = np.ones(len(theta))
    for _ in range(30):
        done = objective(theta - t[:, None] * step) <= start - 1e-4 * t * slope
        if done.all():
            break
        t = np.where(done, t, t / 2)
    return theta - t[:, None] * step


def _flat(name: str, value: Any, minimum: int = 1) -> np.ndarray:
    array = check_array(name, value)
    if array.ndim < 2 or len(array) < minimum:
        raise ValueError(message("concept_sizes", name=name, what=f"expected an array (N, ...) "
                                 f"with N >= {minimum}", got=f"shape {array.shape}", fix=""))
    return array.reshape(len(array), -1).astype(np.float64)


def cav(model: Any, layer: Any, concept_images: Any, random_images: Any, *, seed: Any = 0,
        batch_size: int = 32) -> Cav:
    """The concept activation vector of ``layer`` for one concept (Kim et al. 2018, Sec. 3.2).

    .. math:: v_C^l = \\frac{w}{\\lVert w \\rVert}, \\quad w = \\arg\\min_w \\sum_i
       \\log(1 + e^{-y_i (w \\cdot f_l(x_i) + b)}) + \\frac{1}{2C}\\lVert w \\rVert^2,

    y = +1 for concept examples, -1 for random ones.

    Parameters
    ----------
    model : keras.Model
    layer : str, int or Layer
        As :func:`xaikit.core.find_layer`.
    concept_images, random_images : arrays (M, H, W, C), (P, H, W, C)
        At least 3 of each (a third is held out for the accuracy).
    seed : int or Generator
        The held-out split.
    batch_size : int

    Returns
    -------
    Cav

    Examples
    --------
    >>> import keras
    >>> net = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(name="f"),
    ...                         keras.layers.Dense(2, name="logits")])
    >>> bright = np.full((6, 2, 2, 1), 0.9, np.float32); dark = bright / 9
    >>> v = cav(net, "f", bright, dark)
    >>> bool(v.vector.sum() > 0), v.accuracy
    (True, 1.0)
    """
    name = find_layer(model, layer).name
    n = len(_flat("concept_images", concept_images, 3))
    _flat("random_images", random_images, 3)
    acts = layer_activations(model, np.concatenate([concept_images, random_images]), [name],
                             batch_size=batch_size)[name]
    rows = acts.reshape(len(acts), -1).astype(np.float64)
    scale = _rms(rows)
    rows /= scale
    problems = _Problems(rng(seed))
    problems.add(np.arange(n), np.arange(n, len(rows)))
    a, intercept, accuracy = problems.solve(rows @ rows.T)
    weights = rows[problems.train[0]].T @ a[0] / scale
    return Cav(name, weights / np.linalg.norm(weights), weights, float(intercept[0]),
               float(accuracy[0]))


def _rms(rows: np.ndarray) -> float:
    """Root-mean-square norm of the rows (1 for all-zero rows)."""
    return float(np.sqrt(np.mean(np.sum(np.square(rows, dtype=np.float64), axis=1)))) or 1.0


def concept_presence(model: Any, images: Any, cavs: Mapping[str, Cav], *,
                     batch_size: int = 32) -> np.ndarray:
    """How strongly each concept is present: the CAV classifiers' probabilities, (N, n_cavs).

    .. math:: p_C(x) = \\sigma(f_l(x) \\cdot w_C + b_C)

    Interpretable features for a surrogate model (:func:`xaikit.interpretation.surrogates.surrogate_tree`).

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C)
    cavs : mapping name -> Cav
        CAVs of one or several layers (each layer's activations are computed once).
    batch_size : int

    Returns
    -------
    np.ndarray
        (N, len(cavs)) probabilities in (0, 1), columns in the order of ``cavs``.

    Examples
    --------
    >>> import keras
    >>> net = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(name="f"),
    ...                         keras.layers.Dense(2, name="logits")])
    >>> bright = np.full((6, 2, 2, 1), 0.9, np.float32); dark = bright / 9
    >>> cavs = {"bright": cav(net, "f", bright, dark)}
    >>> presence = concept_presence(net, np.r_[bright[:1], dark[:1]], cavs)
    >>> presence.shape, bool(presence[0, 0] > 0.5 > presence[1, 0])
    ((2, 1), True)
    """
    layers = sorted({c.layer for c in cavs.values()})
    acts = layer_activations(model, images, layers, batch_size=batch_size)
    decision = np.stack([acts[c.layer].reshape(len(images), -1) @ c.weights + c.intercept
                         for c in cavs.values()], axis=1)
    return 1.0 / (1.0 + np.exp(-decision))


@dataclass(frozen=True)
class TcavResult:
    """TCAV scores of several concepts for one class and layer, against ``n_random`` random sets.

    ``scores`` (C, R) and ``accuracies`` (C, R): the TCAV score and held-out CAV accuracy of each
    concept against each random set; ``random_scores`` / ``random_accuracies`` (R,): the same
    for random sets against random sets (the null distribution); ``p_values`` (C,): two-sided
    t-test of each concept's scores against the random ones; ``significant``: p < alpha / n_tests
    (Bonferroni).
    """

    layer: str
    target: int
    concepts: tuple[str, ...]
    scores: np.ndarray
    accuracies: np.ndarray
    random_scores: np.ndarray
    random_accuracies: np.ndarray
    p_values: np.ndarray
    alpha: float
    n_tests: int

    @property
    def significant(self) -> np.ndarray:
        """(C,) bool: p < alpha / n_tests."""
        return self.p_values < self.alpha / self.n_tests

    def summary(self) -> list[dict[str, Any]]:
        """One row per concept, and one for the random null (without p-value and decision)."""
        rows = [{"layer": self.layer, "target": self.target, "concept": name,
                 "mean_score": float(s.mean()), "std_score": float(s.std(ddof=1)),
                 "cav_accuracy": float(a.mean()), "p_value": float(p), "significant": bool(sig)}
                for name, s, a, p, sig in zip(self.concepts, self.scores, self.accuracies,
                                               self.p_values, self.significant)]
        return rows + [{"layer": self.layer, "target": self.target, "concept": "random (null)",
                        "mean_score": float(self.random_scores.mean()),
                        "std_score": float(self.random_scores.std(ddof=1)),
                        "cav_accuracy": float(self.random_accuracies.mean()),
                        "p_value": None, "significant": None}]

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows, one per (concept, random run), the null as concept ``"random (null)"``."""
        named = [*zip(self.concepts, self.scores, self.accuracies),
                 ("random (null)", self.random_scores, self.random_accuracies)]
        return [{"layer": self.layer, "target": self.target, "concept": name, "run": run,
                 "score": float(score), "cav_accuracy": float(accuracy)}
                for name, scores, accuracies in named
                for run, (score, accuracy) in enumerate(zip(scores, accuracies))]


def _two_sided_p(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # the t statistic is undefined: equal or not
        return 1.0 if a[0] == b[0] else 0.0
    with warnings.catch_warnings():  # one constant sample (scores all 1) is exact, not a loss
        warnings.filterwarnings("ignore", "Precision loss", RuntimeWarning)
        return float(stats.ttest_ind(a, b).pvalue)


def tcav_from_activations(gradients: Any, concepts: Mapping[str, Any], random: Any, *,
                          n_random: int = 30, set_size: int | None = None, alpha: float = 0.05,
                          n_tests: int | None = None, seed: Any = 0, layer: str = "",
                          target: int = -1) -> TcavResult:
    """TCAV with its significance test, from activations and gradients (Kim et al. 2018).

    For each run r = 1..R a random set N_r and a disjoint random set R_r are drawn from
    ``random`` and ``set_size`` examples of each concept; each concept's CAV (concept vs N_r)
    and a null CAV (R_r vs N_r) give
    :math:`\\mathrm{TCAV} = \\frac{1}{|X_k|}\\sum_{x \\in X_k} [\\nabla h_k(f_l(x)) \\cdot v > 0]`;
    the concept's R scores are compared with the R null scores by a two-sided t-test.

    Parameters
    ----------
    gradients : array (N, ...)
        :math:`\\nabla h_{l,k}(f_l(x))` for the class images X_k.
    concepts : mapping name -> array (M, ...)
        Layer activations of each concept's examples (same trailing shape as ``gradients``).
    random : array (P, ...)
        Activations of the random pool, P >= 2 · set_size.
    n_random : int
        R, the number of random sets (>= 2; the paper and tensorflow/tcav use tens to hundreds).
    set_size : int, optional
        Examples per set and run (default: half the smallest concept set, at most P // 2).
        Kim et al. and tensorflow/tcav train every CAV on the whole, fixed concept set; a fixed
        set has a direction of its own (its sample's quirks) that every one of its CAVs
        inherits, so the t-test against fresh random sets then flags even a fixed set of
        random images (lesson 14 measures how often). Drawing the concept examples afresh in
        each run too makes the concept, not the sample, the unit of the test; pass the concept
        set's size for the paper's procedure.
    alpha : float
        Significance level before the Bonferroni correction.
    n_tests : int, optional
        Number of hypotheses for the Bonferroni correction (default: the number of concepts).
    seed : int or Generator
        Draws the random sets and the held-out splits.
    layer, target
        Labels stored in the result.

    Returns
    -------
    TcavResult
    """
    n_random = check_int("n_random", n_random, minimum=2)
    alpha = check_number("alpha", alpha, low=0.0, high=1.0)
    grads = _flat("gradients", gradients)
    named = {str(k): _flat(f"concepts[{k!r}]", v, 3) for k, v in concepts.items()}
    pool = _flat("random", random, 6)
    for name, acts in named.items():
        if acts.shape[1] != grads.shape[1] or pool.shape[1] != grads.shape[1]:
            raise ValueError(message("concept_sizes", name=f"concepts[{name!r}]", what="expected "
                                     f"{grads.shape[1]} values per example (the gradients')",
                                     got=f"{acts.shape[1]} and {pool.shape[1]} (random)", fix=""))
    size = set_size or min(min(len(a) for a in named.values()) // 2, len(pool) // 2)
    size = check_int("set_size", size, minimum=3)
    if 2 * size > len(pool):
        raise ValueError(message("concept_sizes", name="random", what=f"expected at least "
                                 f"2 * set_size = {2 * size} examples", got=len(pool),
                                 fix="; give a larger random pool or a smaller set_size"))
    with threadpool_limits(limits=1, user_api="blas"):  # moderate sizes: threads only contend
        return _tcav_runs(grads, named, pool, n_random, size, alpha, n_tests, seed, layer, target)


def _tcav_runs(grads: np.ndarray, named: dict[str, np.ndarray], pool: np.ndarray, n_random: int,
               size: int, alpha: float, n_tests: int | None, seed: Any, layer: str,
               target: int) -> TcavResult:
    rows = np.concatenate([*named.values(), pool])
    rows /= _rms(rows)
    starts = np.cumsum([0, *(len(a) for a in named.values()), len(pool)])
    generator = rng(seed)
    problems = _Problems(generator)
    for _ in range(n_random):
        order = starts[-2] + generator.permutation(len(pool))
        negative, null = order[:size], order[size:2 * size]
        drawn = [a + generator.permutation(b - a)[:size] for a, b in zip(starts[:-2], starts[1:-1])]
        for positive in (*drawn, null):
            problems.add(positive, negative)
    coefficients, _, accuracy = problems.solve(rows @ rows.T)
    derivatives = np.einsum("nbj,bj->bn", (grads @ rows.T)[:, np.asarray(problems.train)],
                            coefficients)
    scores = (derivatives > 0).mean(axis=1).reshape(n_random, -1).T  # (C + 1, R)
    accuracy = accuracy.reshape(n_random, -1).T
    p_values = np.array([_two_sided_p(s, scores[-1]) for s in scores[:-1]])
    return TcavResult(layer, int(target), tuple(named), scores[:-1], accuracy[:-1], scores[-1],
                      accuracy[-1], p_values, alpha,
                      check_int("n_tests", n_tests or len(named), minimum=1))


def tcav(model: Any, images: Any, target: int, layer: Any, concept: Any, *, random_images: Any,
         n_random: int = 30, set_size: int | None = None, alpha: float = 0.05,
         n_tests: int | None = None, seed: Any = 0, batch_size: int = 32) -> TcavResult:
    """TCAV scores of concepts for class ``target`` at ``layer``, with the t-test (Kim et al. 2018).

    The activations of the concept and random images and the gradients of the target logit are
    computed once; every random split reuses them (see :func:`tcav_from_activations`).

    Parameters
    ----------
    model : keras.Model
        A classifier; the logit (pre-softmax score) of ``target`` is differentiated.
    images : array (N, H, W, C)
        Images of class ``target`` (X_k).
    target : int
        The class k.
    layer : str, int or Layer
        The layer l (its activations must vary with the input: at the last convolution of a
        global-average-pooling network the gradient is the same for every image, so every
        score is 0 or 1).
    concept : array (M, H, W, C) or mapping name -> array
        Examples of one concept, or of several (tested together, Bonferroni over them).
    random_images : array (P, H, W, C)
        The random pool the negative sets are drawn from.
    n_random, set_size, alpha, n_tests, seed
        As :func:`tcav_from_activations`.
    batch_size : int

    Returns
    -------
    TcavResult
        Scores per concept and random run, the null scores, p-values and decisions; its
        ``to_rows()`` is the score distribution a single run hides.

    Examples
    --------
    >>> import keras
    >>> net = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(3, name="f"), keras.layers.Dense(2, name="logits")])
    >>> pool = np.random.default_rng(0).uniform(size=(40, 2, 2, 1)).astype(np.float32)
    >>> result = tcav(net, pool[:5], 0, "f", pool[:10], random_images=pool, n_random=3)
    >>> result.scores.shape, result.random_scores.shape
    ((1, 3), (3,))
    """
    check_int("target", target, minimum=0)
    concepts = dict(concept) if isinstance(concept, Mapping) else {"concept": concept}
    name = find_layer(model, layer).name
    gradients = layer_gradients(model, images, int(target), layer=name,
                                batch_size=batch_size).gradients
    stacked = np.concatenate([*concepts.values(), random_images])
    acts = layer_activations(model, stacked, [name], batch_size=batch_size)[name]
    starts = np.cumsum([0, *(len(v) for v in concepts.values())])
    named = {k: acts[a:b] for k, a, b in zip(concepts, starts[:-1], starts[1:])}
    return tcav_from_activations(gradients, named, acts[starts[-1]:], n_random=n_random,
                                 set_size=set_size, alpha=alpha, n_tests=n_tests, seed=seed,
                                 layer=name, target=int(target))
