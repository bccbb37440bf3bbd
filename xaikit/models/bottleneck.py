"""Concept bottleneck models (Koh et al., ICML 2020) on an8flower, where the concepts are known.

A concept bottleneck model predicts the label only through human-named concepts:
``x -> c_hat = f(x) -> y_hat = g(c_hat)``. Here ``f`` is the zoo's an8flower network
(``vgg_mini``, same widths and recipe) with a sigmoid head of K concepts, and ``g`` is one dense
layer with a softmax. The model is one Keras model with two outputs, ``[concepts, label]``
(layers ``"concepts"`` and ``"label"``); :func:`label_head` is ``g`` alone, sharing its weights.

The an8flower concepts (:func:`an8flower_concepts`) are exact: each petal palette colour
(``xaikit.data.an8flower.PETAL_COLOURS_6C``) is described by six binary attributes, "the petals'
red / green / blue channel exceeds 0.4" and "... exceeds 0.7". The six classes have six different
codes, so a perfect ``f`` and a linear ``g`` classify perfectly; like the class-level attributes
Koh et al. use on CUB (majority-voted per class), every image of a class has the same code.

Three ways to train (Koh et al., Sec. 3), with L_C the binary cross-entropy of the concepts and
L_Y the cross-entropy of the label:

- ``"independent"``: ``f = argmin L_C(f(x), c)``, ``g = argmin L_Y(g(c), y)`` on the *true* c;
- ``"sequential"``: the same ``f``, then ``g = argmin L_Y(g(f(x)), y)`` on the predicted c;
- ``"joint"``: ``f, g = argmin L_Y(g(f(x)), y) + lambda * L_C(f(x), c)``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xaikit.base.messages import message
from xaikit.core.batching import predict
from xaikit.models import architectures, cache
from xaikit.models.training import _Progress, resume_epoch, save_epoch, seed_everything
from xaikit.models.zoo import ZOO, fast_default

__all__ = [
    "CONCEPT_NAMES",
    "MODES",
    "JOINT_LAMBDA",
    "an8flower_concepts",
    "bottleneck_model",
    "concept_codes",
    "label_head",
    "train_bottleneck",
]

ZOO_ENTRY = "an8flower-single-6c"
MODES = ("independent", "sequential", "joint")
CHANNELS = ("red", "green", "blue")
THRESHOLDS = (0.4, 0.7)  # "some" and "much" of a channel in the petals' palette colour
CONCEPT_NAMES = tuple(f"petals {c} > {t}" for t in THRESHOLDS for c in CHANNELS)
JOINT_LAMBDA = 10.0  # weight of the concept loss in joint training (Koh et al. sweep 0.001-1)
HEAD_EPOCHS, HEAD_LEARNING_RATE = 300, 0.05  # full-batch training of g (a tiny problem)
HEAD_GAIN = 10.0  # g(c) = softmax(W (gain c) + b): the same linear g, with steps `gain` times larger


def concept_codes() -> np.ndarray:
    """The (6, K) 0/1 concept code of each single-6c class, from the petal palette.

    Examples
    --------
    >>> concept_codes()[0].tolist()  # red: R > 0.4 and R > 0.7 only
    [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    """
    from xaikit.data.an8flower import PETAL_COLOURS_6C

    rgb = np.asarray(list(PETAL_COLOURS_6C.values()), np.float64)
    return np.concatenate([rgb > t for t in THRESHOLDS], axis=1).astype(np.float32)


def an8flower_concepts(data: Any) -> np.ndarray:
    """The true concepts (N, K) of an an8flower single-6c set (``CONCEPT_NAMES`` order), 0 or 1.

    Raises
    ------
    ValueError
        ``data`` is not an an8flower single-6c ``ImageSet``.
    """
    if getattr(data, "name", None) != "an8flower-single-6c":
        raise ValueError(message("expected", name="data", expected="an an8flower single-6c "
                                 "ImageSet", got=repr(getattr(data, "name", type(data).__name__)),
                                 fix="; load it with xaikit.data.load('an8flower-single-6c')"))
    return concept_codes()[np.asarray(data.labels)]


def bottleneck_model(input_shape: tuple[int, int, int], n_concepts: int, n_classes: int, *,
                     name: str = "bottleneck") -> keras.Model:
    """An untrained bottleneck model: the zoo's an8flower ``vgg_mini`` -> K sigmoid concepts -> g.

    ``g`` is linear in the concepts, ``softmax(W (HEAD_GAIN c) + b)``; the fixed gain only speeds
    up its training (in a few epochs of joint training an unscaled g on inputs in [0, 1] stays
    nearly uniform, and the label loss then pushes f to leak label information into the concepts).

    Returns
    -------
    keras.Model
        Outputs ``[concepts (N, K) in [0, 1], label (N, n_classes) softmax]``.
    """
    recipe = ZOO[ZOO_ENTRY]
    f = architectures.vgg_mini(input_shape, n_concepts, multi_label=True, name=f"{name}_f",
                               **recipe.arch_kwargs)
    concepts = keras.layers.Identity(name="concepts")(f.output)
    scaled = keras.layers.Rescaling(HEAD_GAIN, name="concept_scale")(concepts)
    logits = keras.layers.Dense(n_classes, name="label_logits")(scaled)
    label = keras.layers.Activation("softmax", name="label")(logits)
    return keras.Model(f.input, [concepts, label], name=name)


def label_head(model: keras.Model) -> keras.Model:
    """``g``: the bottleneck model's label head as a model of the concepts (shared weights).

    Raises
    ------
    ValueError
        ``model`` has no ``"concepts"`` / ``"label_logits"`` / ``"label"`` layers.
    """
    try:
        scale, dense = model.get_layer("concept_scale"), model.get_layer("label_logits")
        softmax = model.get_layer("label")
        n_concepts = int(model.get_layer("concepts").output.shape[-1])
    except (ValueError, AttributeError) as exc:
        raise ValueError(message("bottleneck_model", model=getattr(model, "name", model))) from exc
    inputs = keras.Input((n_concepts,), name="concept_values")
    return keras.Model(inputs, softmax(dense(scale(inputs))), name=f"{model.name}_g")


def _fit(model: keras.Model, x: np.ndarray, y: Any, *, epochs: int, batch_size: int, seed: int,
         bar: Any, checkpoint: Any = None) -> None:
    """``epochs`` passes of ``model.fit``, each shuffled by ``default_rng([seed, epoch])``; with
    a ``checkpoint`` path, weights and optimizer state are saved after every epoch and a rerun
    resumes after the last saved one (the file is deleted at the end)."""
    callbacks = [_Progress(bar)] if bar is not None else []
    model.optimizer.build(model.trainable_variables)
    variables = [*model.weights, *model.optimizer.variables]
    start = resume_epoch(checkpoint, variables)
    if bar is not None:
        bar.update(start * -(-len(x) // batch_size))
    for epoch in range(start, epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        targets = [t[order] for t in y] if isinstance(y, list) else y[order]
        model.fit(x[order], targets, batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                  callbacks=callbacks)
        save_epoch(checkpoint, variables, epoch + 1)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)


def _train_head(model: keras.Model, concepts: np.ndarray, labels: np.ndarray, seed: int) -> None:
    """Fit ``g`` alone on (concepts, labels) and write its weights into ``model``."""
    head = label_head(model)
    head.compile(optimizer=keras.optimizers.Adam(HEAD_LEARNING_RATE),
                 loss=keras.losses.SparseCategoricalCrossentropy(), jit_compile=False)
    seed_everything(seed)
    head.fit(concepts.astype(np.float32), labels, batch_size=len(labels), epochs=HEAD_EPOCHS,
             shuffle=False, verbose=0)


def _spec(mode: str, fast: bool, seed: int) -> dict[str, Any]:
    from xaikit.data import recipe as data_recipe

    recipe = ZOO[ZOO_ENTRY]
    return {"model": recipe.as_dict(fast), "data": data_recipe(recipe.dataset, fast), "mode": mode,
            "concepts": list(CONCEPT_NAMES), "lambda": JOINT_LAMBDA, "seed": seed,
            "head": [HEAD_EPOCHS, HEAD_LEARNING_RATE, HEAD_GAIN]}


def train_bottleneck(mode: str, *, fast: bool | None = None, seed: int = 0,
                     progress: bool = True) -> keras.Model:
    """A concept bottleneck model of an8flower single-6c, trained with the zoo recipe and cached.

    ``f`` is trained with the zoo entry's epochs, batch size and learning rate (no early stopping:
    the recipe's epoch count); ``g`` is then fitted full-batch for ``HEAD_EPOCHS`` on the true
    (independent) or predicted (sequential) concepts of the training set. Joint training fits
    both at once with loss ``L_Y + JOINT_LAMBDA * L_C`` (Koh et al., ICML 2020, Sec. 3,
    arXiv:2007.04451).

    Parameters
    ----------
    mode : {"independent", "sequential", "joint"}
        The training scheme.
    fast : bool, optional
        The zoo's fast recipe and data (``None``: ``XAIKIT_FAST``).
    seed : int
        Seeds the weights and the shuffles; part of the cache key.
    progress : bool
        Show a progress bar while training.

    Returns
    -------
    keras.Model
        Outputs ``[concepts, label]``; a fresh copy from the cache (``xaikit.models.cache_dir``).

    Raises
    ------
    ValueError
        Unknown ``mode``.
    """
    from xaikit.data import load

    if mode not in MODES:
        raise ValueError(message("option", name="mode", value=mode, allowed=", ".join(MODES)))
    fast = fast_default(fast)
    key = cache.entry_key(f"bottleneck-{mode}{'-fast' if fast else ''}", _spec(mode, fast, seed))

    def build(paths: dict[str, Any]) -> tuple[keras.Model, dict[str, Any]]:
        train_set = load(ZOO_ENTRY, split="train", fast=fast)
        used = ZOO[ZOO_ENTRY].as_dict(fast)
        concepts, labels = an8flower_concepts(train_set), np.asarray(train_set.labels)
        seed_everything(seed)
        model = bottleneck_model(train_set.input_shape, len(CONCEPT_NAMES),
                                 len(train_set.class_names), name=f"bottleneck_{mode}")
        weights = [JOINT_LAMBDA, 1.0] if mode == "joint" else [1.0, 0.0]
        model.compile(optimizer=keras.optimizers.Adam(used["learning_rate"]),
                      loss=[keras.losses.BinaryCrossentropy(),
                            keras.losses.SparseCategoricalCrossentropy()],
                      loss_weights=weights, jit_compile=False)
        start = time.perf_counter()
        steps = -(-len(labels) // used["batch_size"]) * used["epochs"]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"train bottleneck ({mode})", unit="step", leave=False)
        try:
            _fit(model, train_set.images, [concepts, labels], epochs=used["epochs"],
                 batch_size=used["batch_size"], seed=seed, bar=bar,
                 checkpoint=paths["checkpoint"])
        finally:
            if bar is not None:
                bar.close()
        if mode == "independent":
            _train_head(model, concepts, labels, seed)
        elif mode == "sequential":
            predicted = np.asarray(predict(model, train_set.images, batch_size=256)[0])
            _train_head(model, predicted, labels, seed)
        info = {"name": f"bottleneck-{mode}", "fast": fast, "spec": _spec(mode, fast, seed),
                "train_seconds": round(time.perf_counter() - start, 2), "n_train": len(labels)}
        return model, info

    return cache.load_or_build(key, build)
