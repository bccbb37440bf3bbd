"""Reading a concept bottleneck model: concept accuracy and test-time intervention.

Koh, Nguyen, Tang, Mussmann, Pierson, Kim & Liang, "Concept Bottleneck Models", ICML 2020
(arXiv:2007.04451), Sec. 6: a human who knows the true value of a concept can *intervene* —
replace the model's predicted concept by the true one — and the label head ``g`` then predicts
from the corrected bottleneck,

.. math:: \\tilde c_j = \\begin{cases} c_j & j \\in S_k \\\\ \\hat c_j & \\text{otherwise}
          \\end{cases}, \\qquad \\hat y = g(\\tilde c),

with :math:`S_k` the first k concepts of an order (random in the paper's Fig. 4). The
corrected values are the true 0/1 concepts; the paper's joint models with logit bottlenecks use
the 5th / 95th percentiles of the training logits instead, our bottleneck holds probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xaikit.base.checks import check_array, check_option, rng
from xaikit.base.messages import message
from xaikit.core.batching import predict
from xaikit.models.bottleneck import label_head

__all__ = ["ORDERS", "InterventionCurve", "concept_accuracy", "intervene", "intervention_curve",
           "intervention_order"]

ORDERS = ("random", "uncertainty")


def _concepts(name: str, value: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = check_array(name, value, ndim=2).astype(np.float64)
    if shape is not None and array.shape != shape:
        raise ValueError(message("expected", name=name, expected=f"shape {shape}",
                                 got=f"shape {array.shape}", fix="; one row of concepts per image"))
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError(message("concept_values", name=name, low=array.min(), high=array.max()))
    return array


def concept_accuracy(predicted: Any, true: Any, *, threshold: float = 0.5) -> np.ndarray:
    """Per-image fraction of concepts predicted right: :math:`\\frac1K\\sum_j
    [\\hat c_j > t] = c_j` (Koh et al. 2020, Table 1's concept error is one minus its mean).

    Parameters
    ----------
    predicted : array (N, K)
        Predicted concept probabilities in [0, 1].
    true : array (N, K)
        True concepts, 0 or 1.
    threshold : float
        A predicted concept counts as present above it.

    Returns
    -------
    np.ndarray
        (N,) float64 in [0, 1].

    Examples
    --------
    >>> concept_accuracy([[0.9, 0.2], [0.4, 0.6]], [[1, 1], [0, 1]]).tolist()
    [0.5, 1.0]
    """
    predicted = _concepts("predicted", predicted)
    true = _concepts("true", true, predicted.shape)
    return np.mean((predicted > threshold) == (true > 0.5), axis=1)


def intervention_order(predicted: Any, *, order: str = "random", seed: int = 0) -> np.ndarray:
    """Per image, the concepts in the order an expert corrects them, (N, K) int.

    ``"random"``: a random permutation per image (Koh et al., Fig. 4). ``"uncertainty"``: the
    concepts whose predicted probability is closest to 0.5 first (ties by index).
    """
    predicted = _concepts("predicted", predicted)
    check_option("order", order, ORDERS)
    if order == "uncertainty":
        return np.argsort(np.abs(predicted - 0.5), axis=1, kind="stable")
    return np.argsort(rng(seed).random(predicted.shape), axis=1)


def intervene(predicted: Any, true: Any, order: Any, k: int) -> np.ndarray:
    """The bottleneck after correcting the first ``k`` concepts of ``order`` (Koh et al., Sec. 6).

    Parameters
    ----------
    predicted, true : array (N, K)
        Predicted concept probabilities and true 0/1 concepts.
    order : array (N, K) of int
        Each row a permutation of 0..K-1 (see :func:`intervention_order`).
    k : int
        How many concepts to correct, 0..K.

    Returns
    -------
    np.ndarray
        (N, K) float64: true values at the first ``k`` concepts of each row's order, the
        predictions elsewhere.

    Examples
    --------
    >>> intervene([[0.9, 0.2, 0.6]], [[0, 1, 1]], [[2, 0, 1]], 2).tolist()
    [[0.0, 0.2, 1.0]]
    """
    predicted = _concepts("predicted", predicted)
    true = _concepts("true", true, predicted.shape)
    order = check_array("order", order, ndim=2, dtype_kind="iu")
    n_concepts = predicted.shape[1]
    if order.shape != predicted.shape or np.any(np.sort(order, axis=1) != np.arange(n_concepts)):
        raise ValueError(message("expected", name="order", expected=f"{predicted.shape} rows, "
                                 "each a permutation of the concept indices", got=f"shape "
                                 f"{order.shape}", fix="; use intervention_order(predicted)"))
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k <= n_concepts:
        raise ValueError(message("intervene_k", k=k, n_concepts=n_concepts))
    return np.where(np.argsort(order, axis=1) < k, true, predicted)


@dataclass(frozen=True)
class InterventionCurve:
    """Label correctness after correcting k = 0..K concepts.

    Attributes
    ----------
    ks : np.ndarray
        (K + 1,) numbers of corrected concepts.
    correct : np.ndarray
        (K + 1, N) bool: image n classified right after correcting ``ks[i]`` concepts.
    concepts_wrong : np.ndarray
        (N,) bool: at least one predicted concept is on the wrong side of 0.5.
    """

    ks: np.ndarray
    correct: np.ndarray
    concepts_wrong: np.ndarray

    def accuracy(self, subset: Any = None) -> np.ndarray:
        """(K + 1,) accuracy per k, over all images or the boolean ``subset``."""
        chosen = self.correct if subset is None else self.correct[:, np.asarray(subset, bool)]
        return chosen.mean(axis=1)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per k: accuracy on all images and on those with a wrong concept."""
        wrong = self.accuracy(self.concepts_wrong) if self.concepts_wrong.any() else \
            np.full(len(self.ks), np.nan)
        return [{"k": int(k), "accuracy": float(a), "accuracy_concepts_wrong": float(w)}
                for k, a, w in zip(self.ks, self.accuracy(), wrong)]


def intervention_curve(model: Any, images: Any, true: Any, labels: Any, *, order: str = "random",
                       seed: int = 0, batch_size: int = 256) -> InterventionCurve:
    """Test-time intervention on a bottleneck model for every k at once (Koh et al., Fig. 4).

    The model runs once on ``images``; the K + 1 corrected bottlenecks are stacked and the label
    head ``g`` runs once on all of them.

    Parameters
    ----------
    model : keras.Model
        A concept bottleneck model (outputs ``[concepts, label]``, see
        :func:`xaikit.models.bottleneck_model`).
    images : array (N, H, W, C)
    true : array (N, K)
        True 0/1 concepts.
    labels : array (N,)
        True classes.
    order, seed
        See :func:`intervention_order`.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    InterventionCurve
    """
    from xaikit.base.checks import check_images

    head = label_head(model)
    images = check_images(images, model)
    predicted = np.asarray(predict(model, images, batch_size=batch_size)[0], np.float64)
    true = _concepts("true", true, predicted.shape)
    labels = check_array("labels", labels, ndim=1, dtype_kind="iu")
    position = np.argsort(intervention_order(predicted, order=order, seed=seed), axis=1)
    ks = np.arange(predicted.shape[1] + 1)
    chosen = position[None] < ks[:, None, None]  # (K + 1, N, K): corrected at each k
    stacked = np.where(chosen, true[None], predicted[None]).reshape(-1, predicted.shape[1])
    scores = np.asarray(predict(head, stacked.astype(np.float32), batch_size=4096))
    correct = scores.argmax(axis=1).reshape(len(ks), len(images)) == labels[None]
    wrong = np.any((predicted > 0.5) != (true > 0.5), axis=1)
    return InterventionCurve(ks=ks, correct=correct, concepts_wrong=wrong)
