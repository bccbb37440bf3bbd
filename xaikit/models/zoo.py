"""The model zoo: named (dataset, architecture, recipe) entries, trained on first use and cached.

``zoo(name)`` returns a trained Keras model (softmax, or sigmoid for the multi-label entry) for one
of the kit's embedded datasets, training it on the CPU the first time (each entry takes about a
minute or two on 2 cores) and loading it from :func:`xaikit.models.cache_dir` afterwards.

Fast mode (``fast=True``, or env ``XAIKIT_FAST=1`` when ``fast=None``) trains a reduced recipe
(the data set's fast split and fewer epochs) under a separate cache key; it is used by
``make test`` and the lessons' fast mode, and still clearly above chance (see ``fast_accuracy``).

``shapes-two-objects`` is a multi-label model: every image holds two objects of different classes;
the head is a per-class sigmoid trained with binary cross-entropy against ``meta["multi_hot"]``,
and an image counts as correct when its two highest-scoring classes are exactly the two objects'
classes. Grad-CAM for either object then targets that class's logit.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import keras

from xaikit.base.checks import check_option
from xaikit.base.env import fast_mode
from xaikit.models import architectures, cache
from xaikit.models.training import accuracy, seed_everything, train

__all__ = ["Recipe", "ZOO", "fast_default", "retrain", "zoo", "zoo_info", "zoo_names"]


@dataclass(frozen=True)
class Recipe:
    """How a zoo entry is built and trained.

    Attributes
    ----------
    dataset : str
        Name understood by ``xaikit.data.load``.
    arch : str
        A function of :mod:`xaikit.models.architectures`.
    arch_kwargs : dict
        Extra keyword arguments for the architecture (``multi_label``, ``widths``, ...).
    epochs, batch_size, learning_rate, patience, seed
        Passed to :func:`xaikit.models.train`.
    fast_epochs, fast_batch_size, fast_learning_rate, fast_patience
        Epochs, batch size, step size and patience (None: the full recipe's) of the reduced
        (fast) recipe, which also uses the smaller ``load(..., fast=True)`` data.
    accuracy : float
        Stated test accuracy of the full recipe (a lower bound; ``zoo_info`` has the measured one).
    fast_accuracy : float
        Stated test accuracy of the fast recipe.
    """

    dataset: str
    arch: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    patience: int = 4
    seed: int = 0
    fast_epochs: int = 4
    fast_batch_size: int = 16
    fast_learning_rate: float | None = None
    fast_patience: int | None = None
    accuracy: float = 0.95
    fast_accuracy: float = 0.5

    def as_dict(self, fast: bool) -> dict[str, Any]:
        """The JSON-serialisable recipe actually used (hashed into the cache key).

        Only the values that shape the trained model appear, so editing a fast-only field leaves
        the full recipe's cache key (and cached model) alone, and vice versa.
        """
        return {
            "dataset": self.dataset,
            "arch": self.arch,
            "arch_kwargs": dict(self.arch_kwargs),
            "fast": bool(fast),
            "epochs": self.fast_epochs if fast else self.epochs,
            "batch_size": self.fast_batch_size if fast else self.batch_size,
            "learning_rate": (self.fast_learning_rate or self.learning_rate) if fast else self.learning_rate,
            "patience": (self.fast_patience or self.patience) if fast else self.patience,
            "seed": self.seed,
        }


_GAP_SHAPES = {"widths": (16, 32, 64), "convs_per_block": 2, "stem_stride": 2}
_GAP_FLOWERS = {"widths": (16, 32, 64), "convs_per_block": 1, "stem_stride": 2}

ZOO: dict[str, Recipe] = {
    "digits": Recipe(
        dataset="digits", arch="simple_cnn", epochs=10, batch_size=32, patience=3,
        fast_epochs=2, accuracy=0.97, fast_accuracy=0.9,
    ),
    "shapes": Recipe(
        dataset="shapes", arch="vgg_mini", arch_kwargs=_GAP_SHAPES,
        epochs=12, batch_size=32, patience=3, fast_epochs=8, fast_learning_rate=3e-3,
        accuracy=0.95, fast_accuracy=0.5,
    ),
    "shapes-two-objects": Recipe(
        dataset="shapes-two-objects", arch="vgg_mini", arch_kwargs={**_GAP_SHAPES, "multi_label": True},
        epochs=15, batch_size=32, patience=3, fast_epochs=14, fast_learning_rate=3e-3,
        fast_patience=14, accuracy=0.9, fast_accuracy=0.5,
    ),
    "an8flower-single-6c": Recipe(
        dataset="an8flower-single-6c", arch="vgg_mini", arch_kwargs=_GAP_FLOWERS,
        epochs=6, batch_size=32, learning_rate=3e-3, patience=3, fast_epochs=4,
        accuracy=0.95, fast_accuracy=0.8,
    ),
    "an8flower-double-12c": Recipe(
        dataset="an8flower-double-12c", arch="vgg_mini", arch_kwargs=_GAP_FLOWERS,
        epochs=10, batch_size=32, learning_rate=3e-3, patience=3, fast_epochs=8,
        accuracy=0.9, fast_accuracy=0.6,
    ),
}  # fmt: skip


def zoo_names() -> list[str]:
    """Names of the zoo entries (those of :data:`xaikit.base.names.ZOO_NAMES`, sorted)."""
    return sorted(ZOO)


fast_default = fast_mode  # the one reader of XAIKIT_FAST (xaikit.base.env), under its old name


def _recipe(name: str) -> Recipe:
    return ZOO[check_option("name", name, zoo_names())]


def _key(name: str, recipe: Recipe, fast: bool) -> str:
    from xaikit.data import recipe as data_recipe

    spec = {"model": recipe.as_dict(fast), "data": data_recipe(recipe.dataset, fast)}
    return cache.entry_key(f"{name}-fast" if fast else name, spec)


def _build_and_train(name: str, recipe: Recipe, fast: bool, checkpoint: Any, progress: bool,
                     sets: tuple[Any, Any, Any] | None = None, seed: int | None = None,
                     strategy: Any = None):
    from xaikit.data import load

    train_set, val_set, test_set = sets or (load(recipe.dataset, split=split, fast=fast)
                                            for split in ("train", "val", "test"))
    seed = recipe.seed if seed is None else seed
    seed_everything(seed)
    build = getattr(architectures, recipe.arch)
    start, start_cpu = time.perf_counter(), time.process_time()
    used = recipe.as_dict(fast)
    with strategy.scope() if strategy is not None else _no_scope():
        model = build(train_set.input_shape, len(train_set.class_names),
                      name=name.replace("-", "_"), **recipe.arch_kwargs)
        result = train(
            model, train_set, epochs=used["epochs"], batch_size=used["batch_size"], seed=seed,
            val=val_set, patience=used["patience"], learning_rate=used["learning_rate"],
            progress=progress, checkpoint=checkpoint,
        )  # fmt: skip
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    test_accuracy = accuracy(model, test_set)
    stated = recipe.fast_accuracy if fast else recipe.accuracy
    if sets is None and test_accuracy < stated:
        warnings.warn(
            f"xaikit: zoo model {name!r}{' (fast)' if fast else ''} reached test accuracy "
            f"{test_accuracy:.3f}, below the stated {stated:.2f}.",
            RuntimeWarning,
            stacklevel=3,
        )
    info = {
        "name": name,
        "fast": fast,
        "recipe": recipe.as_dict(fast),
        "test_accuracy": test_accuracy,
        "val_accuracy": (result["history"]["val_accuracy"] or [None])[result["best_epoch"] - 1],
        "train_seconds": round(seconds, 2),
        "train_cpu_seconds": round(cpu_seconds, 2),
        "epochs_run": result["epochs_run"],
        "best_epoch": result["best_epoch"],
        "n_train": len(train_set),
        "n_test": len(test_set),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return model, info


class _no_scope:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _digest(*arrays: Any) -> str:
    import numpy as np

    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def retrain(
    name: str,
    train_set: Any,
    *,
    tag: str,
    val_set: Any = None,
    test_set: Any = None,
    seed: int | None = None,
    fast: bool | None = None,
    progress: bool = True,
    strategy: Any = None,
    keep: bool = True,
) -> keras.Model:
    """The zoo recipe of ``name`` trained from scratch on other data, cached like the zoo.

    Used wherever an experiment retrains "the same architecture with the same recipe": data
    randomisation (Adebayo et al. 2018: permuted labels), ROAR / KAR (Hooker et al. 2019:
    pixels removed), retraining with another seed.

    Parameters
    ----------
    name : str
        A zoo entry; its architecture, epochs, batch size, learning rate and patience are used.
    train_set : ImageSet
        The training data (same image size and classes as the zoo entry's data).
    tag : str
        A short label of the variant (``"permuted-labels"``, ``"roar-grad_cam-0.5"``): part of the
        cache key together with a hash of the training data and the seed, so the same variant is
        trained once and a different one never reuses it.
    val_set, test_set : ImageSet, optional
        Early-stopping and reported test data; default: the zoo entry's own splits.
    seed : int, optional
        Training seed (default: the recipe's).
    fast : bool, optional
        The reduced recipe (``None``: :func:`xaikit.base.env.fast_mode`).
    progress : bool
        Show the training progress bar.
    strategy : tf.distribute.Strategy, optional
        Build and train inside ``strategy.scope()`` (several GPUs, for example).
    keep : bool
        Cache the trained model (default). ``False``: train and return it, writing nothing —
        for callers that keep only a score and save it themselves (ROAR / KAR save each
        accuracy as it completes), where a cached model per retraining would cost tens of MB
        and a save and a verified load for nothing.

    Returns
    -------
    keras.Model
        A fresh copy; ``zoo_info``-like facts of the run are in the cache's sidecar (with
        ``keep=False``: the trained model itself, uncached).
    """
    from xaikit.data import load

    recipe = _recipe(name)
    fast = fast_mode(fast)
    val_set = val_set if val_set is not None else load(recipe.dataset, split="val", fast=fast)
    test_set = test_set if test_set is not None else load(recipe.dataset, split="test", fast=fast)
    if not keep:
        return _build_and_train(name, recipe, fast, None, progress,
                                sets=(train_set, val_set, test_set), seed=seed,
                                strategy=strategy)[0]
    spec = {"model": recipe.as_dict(fast), "tag": str(tag), "seed": seed,
            "train": _digest(train_set.images, train_set.labels),
            "val": _digest(val_set.images, val_set.labels)}
    key = cache.entry_key(f"{name}{'-fast' if fast else ''}-{tag}", spec)

    def build(paths: dict[str, Any]) -> tuple[keras.Model, dict[str, Any]]:
        model, info = _build_and_train(name, recipe, fast, paths["checkpoint"], progress,
                                       sets=(train_set, val_set, test_set), seed=seed,
                                       strategy=strategy)
        return model, {**info, "tag": str(tag)}

    return cache.load_or_build(key, build)


def zoo(
    name: str, *, fast: bool | None = None, retrain: bool = False, progress: bool = True
) -> keras.Model:
    """A trained model of the zoo, loaded from the cache or trained (and cached) now.

    Parameters
    ----------
    name : str
        One of :data:`ZOO`: ``"an8flower-single-6c"``, ``"an8flower-double-12c"``, ``"shapes"``,
        ``"shapes-two-objects"`` (multi-label, sigmoid head), ``"digits"``.
    fast : bool, optional
        Reduced recipe under its own cache key; ``None``: :func:`xaikit.base.env.fast_mode`.
    retrain : bool
        Train again even if a valid cached model exists (and replace it).
    progress : bool
        Show the training progress bar.

    Returns
    -------
    keras.Model
        A fresh (uncompiled) copy each call, so changing its weights never alters the cache.
        Its test data: ``xaikit.data.load(name, split="test", fast=fast)``.

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the valid names).
    """
    recipe = _recipe(name)
    fast = fast_mode(fast)
    return cache.load_or_build(
        _key(name, recipe, fast),
        lambda paths: _build_and_train(name, recipe, fast, paths["checkpoint"], progress),
        rebuild=retrain)


def zoo_info(name: str, *, fast: bool | None = None) -> dict[str, Any]:
    """What a zoo entry is, and what it measured when it was trained (without training it).

    Returns
    -------
    dict
        ``name``, ``dataset``, ``arch``, ``recipe``, ``stated_accuracy``, ``fast``, ``key``,
        ``path`` and ``cached``; when cached also the sidecar's ``test_accuracy``,
        ``train_seconds`` (wall), ``train_cpu_seconds`` (process CPU), ``epochs_run``,
        ``best_epoch``, ``n_train``, ``n_test``, ``trained_at``.
    """
    recipe = _recipe(name)
    fast = fast_mode(fast)
    key = _key(name, recipe, fast)
    paths = cache.entry_paths(key)
    info: dict[str, Any] = {
        "name": name,
        "dataset": recipe.dataset,
        "arch": recipe.arch,
        "recipe": recipe.as_dict(fast),
        "stated_accuracy": recipe.fast_accuracy if fast else recipe.accuracy,
        "fast": fast,
        "key": key,
        "path": str(paths["model"]),
        "cached": False,
    }
    if paths["model"].exists() and paths["sidecar"].exists():
        import json

        try:
            sidecar = json.loads(paths["sidecar"].read_text())
        except (OSError, ValueError):
            return info
        info["cached"] = True
        for field_name in ("test_accuracy", "train_seconds", "train_cpu_seconds", "epochs_run", "best_epoch",
                           "n_train", "n_test", "trained_at"):  # fmt: skip
            info[field_name] = sidecar.get(field_name)
    return info
