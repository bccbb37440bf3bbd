"""Net2Vec: concepts as learned combinations of units (Fong & Vedaldi, CVPR 2018).

Introduced in lesson 13. Network Dissection asks whether *one* unit detects a concept; Fong &
Vedaldi ("Net2Vec: Quantifying and Explaining how Concepts are Encoded by Filters in Deep
Neural Networks", CVPR 2018, arXiv:1801.03454, Sec. 3) learn a weight vector w over the K
units of a layer per concept c:

- **segmentation**: :math:`M(x; w) = \\sigma(\\sum_k w_k \\mathrm{up}(A_k(x)) + b)`, trained
  per pixel with the class-balanced cross-entropy
  :math:`-\\alpha\\, L_c \\log M - (1 - \\alpha)(1 - L_c) \\log(1 - M)`, :math:`\\alpha` one
  minus the fraction of concept pixels, and scored like a unit by the set IoU of
  :math:`M > 0.5` on held-out images;
- **classification**: :math:`\\sigma(w^\\top \\bar A(x) + b)` on the spatially averaged
  activations predicts whether the concept is present, scored by average precision.

Each is compared with the best *single* unit, chosen on the training images (its dissection
threshold for segmentation, its average activation for classification). Here the segmentation
probe is trained on ``pixels`` random pixels per training image (bilinear upsampling commutes
with the linear map, so the held-out masks are computed at the layer's resolution first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from xaikit.base.messages import message
from xaikit.base.resize import bilinear_matrix
from xaikit.core import batching, check_images, check_int, check_number, rng
from xaikit.interpretation.dissection import (
    DEFAULT_QUANTILE,
    stream_activations,
    tally,
)
from xaikit.interpretation.dissection import thresholds as unit_thresholds
from xaikit.interpretation.maximization import ADAM_BETAS, ADAM_EPSILON
from xaikit.interpretation.units import spatial_layer

__all__ = ["Net2Vec", "average_precision", "fit_logistic", "net2vec"]

STD_EPSILON = 1e-6  # keeps the standardisation finite for dead units


@dataclass(frozen=True)
class Net2Vec:
    """Per concept: the probe against the best single unit, on held-out images.

    ``weights`` (K, C) and ``bias`` (C,) of the segmentation probes; ``probe_iou``,
    ``unit_iou`` (C,) set IoUs and ``best_unit`` (C,); ``probe_ap``, ``unit_ap`` (C,) average
    precision of presence (NaN where a concept is in every or no held-out image).
    """

    layer: str
    concepts: tuple[str, ...]
    categories: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    probe_iou: np.ndarray
    unit_iou: np.ndarray
    best_unit: np.ndarray
    probe_ap: np.ndarray
    unit_ap: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows, one per concept."""
        return [{"layer": self.layer, "concept": c, "category": g, "probe_iou": float(pi),
                 "unit_iou": float(ui), "best_unit": int(u), "probe_ap": float(pa),
                 "unit_ap": float(ua)}
                for c, g, pi, ui, u, pa, ua in zip(self.concepts, self.categories, self.probe_iou,
                                                   self.unit_iou, self.best_unit, self.probe_ap,
                                                   self.unit_ap)]


def fit_logistic(features: np.ndarray, targets: np.ndarray, *, steps: int, learning_rate: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced logistic regressions (K -> C) by full-batch Adam; returns (W, b).

    Features are standardised for the optimisation and the weights mapped back, so W acts on
    the raw activations.
    """
    mean, std = features.mean(axis=0), features.std(axis=0) + STD_EPSILON
    x = tf.constant((features - mean) / std, tf.float32)
    y = tf.constant(targets, tf.float32)
    alpha = tf.constant(1.0 - targets.mean(axis=0), tf.float32)
    beta1, beta2 = ADAM_BETAS

    def loss(params):
        logits = x @ params[:-1] + params[-1]
        return -tf.reduce_mean(alpha * y * tf.math.log_sigmoid(logits)
                               + (1 - alpha) * (1 - y) * tf.math.log_sigmoid(-logits))

    def train(params):
        def body(t, p, m, v):
            with tf.GradientTape() as tape:
                tape.watch(p)
                value = loss(p)
            g = tape.gradient(value, p)
            m, v = m + (g - m) * (1 - beta1), v + (g * g - v) * (1 - beta2)
            step = tf.cast(t + 1, tf.float32)
            rate = learning_rate * tf.sqrt(1 - beta2**step) / (1 - beta1**step)
            return t + 1, p - rate * m / (tf.sqrt(v) + ADAM_EPSILON), m, v

        zeros = tf.zeros_like(params)
        return tf.while_loop(lambda t, *_: t < steps, body, (0, params, zeros, zeros))[1]

    start = tf.zeros((features.shape[1] + 1, targets.shape[1]))
    # traced once per call as a concrete function: repeated calls never warn of retracing
    params = batching.compile_function(train, [tf.TensorSpec(start.shape, tf.float32)])(start).numpy()
    w = params[:-1] / std[:, None]
    return w.astype(np.float32), (params[-1] - mean @ w).astype(np.float32)


def _pixel_samples(activations: np.ndarray, concepts: Any, index: np.ndarray, pixels: int,
                   generator: np.random.Generator, batch_size: int):
    """Upsampled features (n * pixels, K) and concept labels (n * pixels, C) at random pixels."""
    height, width = concepts.size
    rows = tf.constant(bilinear_matrix(activations.shape[1], height), tf.float32)
    cols = tf.constant(bilinear_matrix(activations.shape[2], width), tf.float32)
    features, labels = [], []
    for part in batching.batch_slices(len(index), batch_size):
        up = np.asarray(tf.einsum("Hh,bhwk,Ww->bHWk", rows, tf.constant(activations[part]), cols))
        where = generator.integers(0, height * width, size=(len(up), pixels))
        flat = up.reshape(len(up), height * width, -1)
        features.append(np.take_along_axis(flat, where[..., None], axis=1).reshape(-1, flat.shape[-1]))
        masks = concepts.masks(index[part]).reshape(len(up), height * width, -1)
        labels.append(np.take_along_axis(masks, where[..., None], axis=1).reshape(-1, masks.shape[-1]))
    return np.concatenate(features), np.concatenate(labels).astype(np.float32)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """(K, C) average precision of each score column (n, K) for each label column (n, C).

    :math:`\\mathrm{AP} = \\sum_i (R_i - R_{i-1}) P_i` over the distinct score thresholds (ties
    form one step, as ``sklearn.metrics.average_precision_score``); NaN for a label column
    that is all 0 or all 1.
    """
    labels = np.asarray(labels, np.float64)
    n = len(labels)
    order = np.argsort(-scores, axis=0, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=0)
    ends = np.append(ranked[1:] != ranked[:-1], np.ones((1, ranked.shape[1]), bool), axis=0)
    group_end = np.where(ends, np.arange(n)[:, None], n)
    group_end = np.minimum.accumulate(group_end[::-1], axis=0)[::-1]  # (n, K)
    hits = labels[order]  # (n, K, C)
    true_positives = np.cumsum(hits, axis=0)
    precision = true_positives / np.arange(1, n + 1)[:, None, None]
    at_end = np.take_along_axis(precision, group_end[..., None].repeat(labels.shape[1], 2), 0)
    positives = labels.sum(axis=0)
    ap = (hits * at_end).sum(axis=0) / np.maximum(positives, 1)
    return np.where((positives > 0) & (positives < n), ap, np.nan)


def net2vec(
    model: keras.Model,
    data: Any,
    concepts: Any,
    layer: str | int | keras.layers.Layer,
    *,
    train_fraction: float = 0.5,
    pixels: int = 64,
    steps: int = 300,
    learning_rate: float = 0.05,
    quantile: float = DEFAULT_QUANTILE,
    batch_size: int = 64,
    seed: int = 0,
) -> Net2Vec:
    """Net2Vec segmentation and classification probes vs the best single unit, per concept.

    Parameters
    ----------
    model : keras.Model
    data : ImageSet or array (N, H, W, C)
    concepts : ConceptSet
        For the same N images.
    layer : name, index or Layer
    train_fraction : float
        Share of the images (drawn with ``seed``) the probes and the single units are chosen
        on; the rest are held out for the scores.
    pixels : int
        Random pixels per training image for the segmentation probes.
    steps, learning_rate : int, float
        Full-batch Adam steps of each logistic regression.
    quantile : float
        The single units' dissection threshold (0.005).
    batch_size, seed : int

    Returns
    -------
    Net2Vec

    Raises
    ------
    ValueError
        Bad options, or concepts of another number of images.
    """
    images = check_images(getattr(data, "images", data), model)
    if len(concepts) != len(images):
        raise ValueError(message("concept_count", got=len(concepts), expected=len(images)))
    train_fraction = check_number("train_fraction", train_fraction, low=0.01, high=0.99)
    pixels, steps = check_int("pixels", pixels), check_int("steps", steps)
    generator = rng(check_int("seed", seed, minimum=0))
    target = spatial_layer(model, layer, "net2vec")
    held, _ = stream_activations(model, images, [target], quantile=quantile, batch_size=batch_size)
    acts = held[0]
    order = generator.permutation(len(images))
    cut = max(1, min(len(images) - 1, int(round(train_fraction * len(images)))))
    train, test = np.sort(order[:cut]), np.sort(order[cut:])
    thresholds = unit_thresholds(acts[train], quantile)
    best_unit = tally([acts[train]], [thresholds], concepts, train, batch_size=batch_size)[0]\
        .argmax(axis=0)
    held_out = tally([acts[test]], [thresholds], concepts, test, batch_size=batch_size)[0]
    unit_iou = held_out[best_unit, np.arange(len(best_unit))]
    features, labels = _pixel_samples(acts[train], concepts, train, pixels, generator, batch_size)
    weights, bias = fit_logistic(features, labels, steps=steps, learning_rate=learning_rate)
    probe_maps = np.einsum("nhwk,kc->nhwc", acts[test], weights) + bias
    probe_iou = np.diag(tally([probe_maps], [np.zeros(len(bias), np.float32)], concepts, test,
                              batch_size=batch_size)[0])
    present = np.concatenate([concepts.masks(part).any(axis=(1, 2))
                              for part in batching.batch_slices(len(images), batch_size)])
    pooled = acts.mean(axis=(1, 2))
    class_w, class_b = fit_logistic(pooled[train], present[train].astype(np.float32), steps=steps,
                                    learning_rate=learning_rate)
    chosen = np.nan_to_num(average_precision(present[train], pooled[train]), nan=-1.0)\
        .argmax(axis=0)
    columns = np.arange(len(concepts.names))
    unit_ap = average_precision(present[test], pooled[test])[chosen, columns]
    probe_ap = np.diag(average_precision(present[test], pooled[test] @ class_w + class_b))
    return Net2Vec(target.name, tuple(concepts.names), tuple(concepts.categories), weights, bias,
                   probe_iou, unit_iou, best_unit, probe_ap, unit_ap)
