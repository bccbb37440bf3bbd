"""Interpretation is fragile: random and adversarial perturbations of the map (lesson 11).

Ghorbani, Abid & Zou (AAAI 2019, arXiv:1710.10547) show that two inputs that look the same and
get the same label can get very different maps. They perturb the image within an
L-infinity budget :math:`\\epsilon` either with a random sign, :math:`x + \\epsilon\\,
\\mathrm{sign}(u)`, or with an iterative attack that pushes a dissimilarity :math:`D` up while
keeping the label (their Algorithm 1):

.. math:: x^{(p+1)} = \\Pi_{\\lVert x' - x \\rVert_\\infty \\le \\epsilon,\\ [0, 1]}
          \\Big(x^{(p)} + \\alpha\\,\\mathrm{sign}\\,\\nabla_x D\\big(I(x^{(p)}), I(x)\\big)\\Big),

a step being kept only if the predicted label is unchanged. Two objectives: **top-k**,
:math:`D = -\\sum_{i \\in B} \\tilde I_i(x')` with :math:`B` the top-k pixels of the original map
and :math:`\\tilde I` the map's magnitudes normalised to sum 1; **centre of mass**,
:math:`D = \\lVert C(x') - C(x) \\rVert_2`. Since the gradient of a ReLU network's gradient map
is zero almost everywhere, :math:`\\nabla_x D` is taken on the softplus twin of the network
(:func:`xaikit.core.softplus.softplus_model`); the maps that are *measured* come from the method
itself on the original model. Measures, on map magnitudes: top-k intersection, Spearman's rank
correlation and the shift of the centre of mass in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.attribution.gradients import quadrature
from xaikit.base.checks import check_int, check_number, check_option, rng
from xaikit.base.messages import message
from xaikit.core import cached, predict
from xaikit.core.softplus import SOFTPLUS_BETA, softplus_model
from xaikit.metrics._removal import prepare
from xaikit.metrics.common import explainer
from xaikit.metrics.registry import register
from xaikit.metrics.similarity import spearman, top_k_intersection

__all__ = ["ATTACKABLE", "PERTURBATIONS", "Fragility", "centre_of_mass", "fragility"]

PERTURBATIONS = ("random", "top_k", "centre_of_mass")
ATTACKABLE = ("saliency", "gradient", "gradient_x_input", "integrated_gradients")
EPSILON = 8 / 255  # L-infinity budget (the paper's largest, 8 on the 0-255 scale)
ALPHA = 1 / 255  # step size of the attack
ITERATIONS = 40
TOP_K = 0.05  # the share of pixels in B (the paper's k = 1000 of 224 x 224 is 2 %)
IG_STEPS = 16  # path points of integrated gradients inside the attack
TINY = 1e-12


@dataclass(frozen=True)
class Fragility:
    """Map changes under each perturbation; arrays are (P, N) for ``perturbations`` (P,).

    ``top_k_intersection`` and ``spearman`` compare the perturbed image's map with the original
    (1 = unchanged), ``centre_shift`` is the move of the map's centre of mass in pixels,
    ``label_changed`` whether the predicted class changed, ``linf`` the perturbation's size;
    ``images`` (P, N, H, W, C) and ``maps`` (P, N, H, W) are the perturbed images and the
    method's maps of them (for figures).
    """

    perturbations: tuple[str, ...]
    top_k_intersection: np.ndarray
    spearman: np.ndarray
    centre_shift: np.ndarray
    label_changed: np.ndarray
    linf: np.ndarray
    images: np.ndarray
    maps: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows, one per (perturbation, image)."""
        return [{"perturbation": name, "image": i,
                 "top_k_intersection": float(self.top_k_intersection[p, i]),
                 "spearman": float(self.spearman[p, i]),
                 "centre_shift": float(self.centre_shift[p, i]),
                 "label_changed": bool(self.label_changed[p, i]), "linf": float(self.linf[p, i])}
                for p, name in enumerate(self.perturbations)
                for i in range(self.top_k_intersection.shape[1])]


def centre_of_mass(maps: np.ndarray) -> np.ndarray:
    """(N, 2) centre (row, column) of each map's magnitude; the image centre for a zero map.

    Examples
    --------
    >>> centre_of_mass(np.array([[[0.0, 0.0], [1.0, -1.0]]]))
    array([[1. , 0.5]])
    """
    weights = np.abs(maps)
    total = weights.sum(axis=(1, 2))
    rows, cols = np.arange(maps.shape[1]), np.arange(maps.shape[2])
    centre = np.stack([weights.sum(axis=2) @ rows, weights.sum(axis=1) @ cols], axis=1)
    middle = np.array([(maps.shape[1] - 1) / 2, (maps.shape[2] - 1) / 2])
    return np.where(total[:, None] > 0, centre / np.maximum(total, TINY)[:, None], middle)


def _tf_map(head: keras.Model, x: tf.Tensor, weights: tf.Tensor, method: str, steps: int):
    """The method's map as a differentiable function of x (first derivatives taken inside)."""
    if method == "integrated_gradients":
        alphas, quad = (tf.constant(v, tf.float32) for v in quadrature("trapezoid", steps))
        path = tf.reshape(alphas[:, None, None, None, None] * x[None], (-1, *x.shape[1:]))
        tiled = tf.tile(weights, (len(alphas), 1))
    else:
        path, tiled = x, weights
    with tf.GradientTape() as tape:
        tape.watch(path)
        score = tf.reduce_sum(head(path, training=False) * tiled, axis=-1)
    grads = tape.gradient(score, path)
    if method == "integrated_gradients":
        grads = tf.tensordot(quad, tf.reshape(grads, (len(alphas), -1, *x.shape[1:])), axes=1)
        return tf.reduce_sum(grads * x, axis=-1)
    if method == "saliency":
        return tf.reduce_max(tf.abs(grads), axis=-1)
    return tf.reduce_sum(grads * x if method == "gradient_x_input" else grads, axis=-1)


def _objective_gradient(smooth: keras.Model, method: str, objective: str, steps: int,
                        shape: tuple[int, ...]):
    """Compiled ``(x, w, top_k_mask, centre) -> (D, dD/dx)`` on the softplus twin, cached."""

    def build():
        height, width = shape[:2]
        grid_rows = tf.range(height, dtype=tf.float32)[None, :, None]
        grid_cols = tf.range(width, dtype=tf.float32)[None, None, :]

        @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32),
                                      tf.TensorSpec([None, None], tf.float32),
                                      tf.TensorSpec([None, height, width], tf.float32),
                                      tf.TensorSpec([None, 2], tf.float32)])
        def step(x, weights, mask, centre):
            with tf.GradientTape() as tape:
                tape.watch(x)
                mass = tf.abs(_tf_map(smooth, x, weights, method, steps))
                mass = mass / (tf.reduce_sum(mass, axis=(1, 2), keepdims=True) + TINY)
                if objective == "top_k":
                    value = -tf.reduce_sum(mass * mask, axis=(1, 2))
                else:
                    now = tf.stack([tf.reduce_sum(mass * grid_rows, axis=(1, 2)),
                                    tf.reduce_sum(mass * grid_cols, axis=(1, 2))], axis=1)
                    value = tf.sqrt(tf.reduce_sum((now - centre) ** 2, axis=1) + TINY)
            return value, tape.gradient(value, x)

        return step.get_concrete_function()  # one trace per model: never counted as retracing

    return cached(smooth, ("fragility", method, objective, steps, shape), build)


def _dissimilarity(maps: np.ndarray, objective: str, top: np.ndarray, centre: np.ndarray
                   ) -> np.ndarray:
    """D of the method's own maps (N,): the top-k objective or the centre-of-mass distance."""
    mass = np.abs(maps)
    if objective == "top_k":
        total = mass.sum(axis=(1, 2))
        return -np.divide((mass * top).sum(axis=(1, 2)), total, out=np.zeros_like(total),
                          where=total > 0)
    return np.linalg.norm(centre_of_mass(mass) - centre, axis=1)


def _attack(run: dict, objective: str, *, epsilon: float, alpha: float, iterations: int,
            top_k: float, steps: int, beta: float, seed: Any) -> np.ndarray:
    """Ghorbani et al.'s Algorithm 1 for all images at once: sign steps on the softplus twin's
    gradient of D, a step kept only if the label holds; returns, per image, the iterate whose
    *own* map (the method on the original model) is the most dissimilar."""
    method, x, head = run["method"], run["x"], run["head"]
    smooth = cached(head, ("softplus", beta), lambda: softplus_model(head, beta=beta))
    step = _objective_gradient(smooth, method, objective, steps, x.shape[1:])
    weights = tf.constant(run["weights"], tf.float32)
    magnitude = np.abs(run["maps"]).reshape(len(x), -1)
    count = max(1, round(top_k * magnitude.shape[1]))
    top = np.zeros_like(magnitude, np.float32)
    np.put_along_axis(top, np.argsort(-magnitude, axis=1, kind="stable")[:, :count], 1.0, axis=1)
    top = top.reshape(run["maps"].shape)
    centre = centre_of_mass(run["maps"])
    mask, centre_tensor = tf.constant(top), tf.constant(centre, tf.float32)
    low, high = np.maximum(x - epsilon, 0.0), np.minimum(x + epsilon, 1.0)
    current = x.copy()
    if objective == "centre_of_mass":  # D's gradient vanishes at x itself: start one step away
        start = np.clip(x + alpha * np.sign(rng(seed).standard_normal(x.shape[1:])), low, high)
        keep = predict(head, start).argmax(axis=1) == run["classes"]
        current = np.where(keep[:, None, None, None], start, x).astype(np.float32)
    best, best_value = x.copy(), _dissimilarity(run["maps"], objective, top, centre)
    for _ in range(iterations):  # the attack is sequential: each step needs the previous one
        _, grad = step(current, weights, mask, centre_tensor)
        candidate = np.clip(current + alpha * np.sign(np.asarray(grad)), low, high)
        keep = predict(head, candidate.astype(np.float32)).argmax(axis=1) == run["classes"]
        current = np.where(keep[:, None, None, None], candidate, current).astype(np.float32)
        value = _dissimilarity(run["explain"](run["model"], current, run["targets"]), objective,
                               top, centre)
        better = value > best_value
        best[better], best_value[better] = current[better], value[better]
    return best


@register(family="robustness", needs=frozenset({"model", "method"}), higher_is_better=True,
          stochastic=True, returns="table",
          fast_options={"iterations": 2, "steps": 4})
def fragility(model: keras.Model, images: Any, maps_or_method: Any = "saliency",
              targets: Any = None, *, perturbations: tuple[str, ...] = PERTURBATIONS,
              epsilon: float = EPSILON, alpha: float = ALPHA, iterations: int = ITERATIONS,
              top_k: float = TOP_K, steps: int = IG_STEPS, beta: float = SOFTPLUS_BETA,
              batch_size: int = 32, seed: Any = 0) -> Fragility:
    """Fragility of a map (Ghorbani, Abid & Zou, AAAI 2019, arXiv:1710.10547, Alg. 1, Sec. 4).

    See the module docstring for the perturbations and the attack.

    Parameters
    ----------
    model : keras.Model
    images : array (N, H, W, C) in [0, 1]
    maps_or_method : str or callable
        The method; the attacks need one of :data:`ATTACKABLE` (a map written here as a
        differentiable function), the random perturbation works with any method.
    targets : None, int or N ints
        The explained class (None: the predicted one); attacks keep the *predicted* label.
    perturbations : tuple of {"random", "top_k", "centre_of_mass"}
    epsilon : float
        L-infinity budget (default 8/255).
    alpha : float
        Attack step (default 1/255).
    iterations : int
        Attack steps P (default 40).
    top_k : float
        Share of pixels in the top-k set B and in the top-k intersection (default 0.05).
    steps : int
        Path points of integrated gradients inside the attack.
    beta : float
        Softplus sharpness of the twin network used for the attack's gradients.
    batch_size, seed
        Passed to the method; ``seed`` draws the random sign (one sign field for all images).

    Returns
    -------
    Fragility
    """
    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown or not perturbations:
        check_option("perturbations", unknown[0] if unknown else None, PERTURBATIONS)
    attacks = [p for p in perturbations if p != "random"]
    name = maps_or_method if isinstance(maps_or_method, str) else None
    if attacks and name not in ATTACKABLE:
        raise ValueError(message("option", name="maps_or_method (for the attacks "
                                 f"{attacks})", value=name or maps_or_method,
                                 allowed=", ".join(ATTACKABLE)))
    explain = explainer(maps_or_method, batch_size=batch_size, seed=seed)
    prepared = prepare(model, images, maps_or_method, targets, on="logits", batch_size=batch_size,
                       seed=seed)
    x = prepared.images
    predicted = predict(prepared.model, x, batch_size=batch_size).argmax(axis=1)
    run = {"method": name, "x": x, "head": prepared.model, "weights": prepared.weights,
           "maps": prepared.maps, "classes": predicted, "explain": explain, "model": model,
           "targets": prepared.classes}
    epsilon = check_number("epsilon", epsilon, low=0.0)
    options = {"epsilon": epsilon, "alpha": check_number("alpha", alpha, low=0.0),
               "iterations": check_int("iterations", iterations), "steps": check_int("steps", steps),
               "top_k": check_number("top_k", top_k, low=0.0, high=1.0),
               "beta": check_number("beta", beta, low=0.0), "seed": seed}
    moved = []
    for perturbation in perturbations:  # at most three perturbations, each batched over images
        if perturbation == "random":
            sign = np.sign(rng(seed).standard_normal(x.shape[1:])).astype(np.float32)
            moved.append(np.clip(x + epsilon * sign, 0.0, 1.0))
        else:
            moved.append(_attack(run, perturbation, **options))
    stacked = np.concatenate(moved)
    maps = explain(model, stacked, np.tile(prepared.classes, len(moved)))
    reference = np.abs(np.tile(prepared.maps, (len(moved), 1, 1)))
    magnitude = np.abs(maps)
    shape = (len(moved), len(x))
    labels = predict(prepared.model, stacked, batch_size=batch_size).argmax(axis=1)
    return Fragility(
        tuple(perturbations),
        top_k_intersection(reference, magnitude, k=top_k).reshape(shape),
        spearman(reference, magnitude).reshape(shape),
        np.linalg.norm(centre_of_mass(magnitude) - centre_of_mass(reference), axis=1)
        .reshape(shape),
        (labels != np.tile(predicted, len(moved))).reshape(shape),
        np.abs(stacked - np.tile(x, (len(moved), 1, 1, 1))).reshape(*shape, -1).max(axis=2),
        stacked.reshape(*shape, *x.shape[1:]), maps.reshape(*shape, *x.shape[1:3]))
