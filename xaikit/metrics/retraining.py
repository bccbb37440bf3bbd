"""ROAR and KAR: remove (or keep) what the map points at, retrain, and test (lesson 10).

Hooker, Erhan, Kindermans & Kim (NeurIPS 2019, arXiv:1806.10758) object to deletion-style
metrics that a model never saw images with holes, so the score may fall because the input is
out of distribution rather than because evidence was removed. ROAR replaces the top ``t`` of
each training *and* test image's pixels (ranked by the map of the trained model) with the data
set's per-channel mean, trains the same architecture **from scratch** on the modified data and
reports test accuracy; KAR replaces the bottom ``t`` instead. A ranking is informative when ROAR
accuracy falls faster (KAR accuracy slower) than with a random ranking at the same ``t``.

Each retraining builds the zoo recipe's architecture when ``recipe`` names a zoo entry, or
clones the model's own architecture, with fresh seeded weights, and trains it on all the
modified training images for a fixed schedule (the recipe's epochs, batch size and step size; no
early stopping, no validation hold-out, as Hooker et al. train). The retrainings of one call
that share a seed are cut into one part per worker process (:mod:`xaikit.models.workers`: one
thread each, on every core; the parts' results do not depend on the number of workers), and
each part is trained side by side as one stacked model (:func:`xaikit.models.train_stacked`:
each branch follows the trajectory it would follow alone); ``strategy`` trains them in this
process on several devices instead. The retrained models are not cached: only what the result
needs is kept. Every (ranking, fraction, seed) result (which test images the model gets right)
is written atomically as its part completes, and each method's pixel ranks once for ROAR and
KAR, so an interrupted run resumes where it stopped, losing at most the parts in progress; a
progress bar counts the retrainings.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_array, check_images, check_int, check_option, rng
from xaikit.base.env import fast_mode
from xaikit.base.io import atomic_write, atomic_write_json
from xaikit.base.messages import message
from xaikit.base.paths import cache_dir
from xaikit.core import predict, resolve
from xaikit.data import ImageSet
from xaikit.metrics._removal import check_fractions, pixel_ranks
from xaikit.metrics.common import explainer
from xaikit.metrics.registry import register
from xaikit.metrics.road import noisy_linear_imputation
from xaikit.models.training import train
from xaikit.models.workers import default_workers, shipped, start, train_and_score

__all__ = ["FRACTIONS", "IMPUTATIONS", "Retraining", "kar", "roar"]

FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)  # Hooker et al.'s t
IMPUTATIONS = ("mean", "linear")
TEST_SHARE = 0.2  # held out as the test set when none is given
SCHEDULE = ("epochs", "batch_size", "learning_rate")  # a fixed schedule, as Hooker et al.
TRAIN_DEFAULTS = {key: inspect.signature(train).parameters[key].default for key in SCHEDULE}
GROUP_BYTES = 2**30  # at most this much modified data per group of retrainings trained at once
_NEEDS = frozenset({"model", "method", "retraining"})
_FAST = {"fractions": (0.5,), "recipe": {"epochs": 1}, "progress": False}


@dataclass(frozen=True)
class Retraining:
    """Test accuracy after retraining, per ranking, fraction and seed.

    Attributes
    ----------
    mode : {"roar", "kar"}
    method : str
        The explanation method's name.
    fractions : np.ndarray
        (F,) the fractions ``t`` of pixels replaced.
    seeds : tuple of int
        Training seeds.
    accuracy : dict
        ranking ("method" or "random") -> (F, n_seeds) test accuracy.
    base : np.ndarray
        (n_seeds,) test accuracy of the model retrained on unmodified data (t = 0).
    correct : dict
        ranking -> (F, n_seeds, n_test) bool: which test images each retrained model gets
        right (``accuracy`` is their mean), for confidence intervals over test images.
    """

    mode: str
    method: str
    fractions: np.ndarray
    seeds: tuple[int, ...]
    accuracy: dict[str, np.ndarray]
    base: np.ndarray
    correct: dict[str, np.ndarray]

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows: mode, ranking, fraction (0 = unmodified), seed, accuracy."""
        rows = []
        for ranking, table in self.accuracy.items():
            label = self.method if ranking == "method" else ranking
            for s, seed in enumerate(self.seeds):
                rows.append({"mode": self.mode, "ranking": label, "fraction": 0.0, "seed": seed,
                             "accuracy": float(self.base[s])})
                rows += [{"mode": self.mode, "ranking": label, "fraction": float(t), "seed": seed,
                          "accuracy": float(table[f, s])} for f, t in enumerate(self.fractions)]
        return rows


def _digest(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _identity(value: Any) -> Any:
    """What makes a callable method compute what it computes, stable across processes: its code
    and constants (nested code objects by their own code), its defaults and closure values, and
    for a ``functools.partial`` the bound arguments."""
    if isinstance(value, np.ndarray):
        return _digest(value)
    if isinstance(value, functools.partial):
        return [_identity(value.func), _identity(list(value.args)),
                _identity(sorted(value.keywords.items()))]
    if isinstance(value, (list, tuple)):
        return [_identity(item) for item in value]
    if isinstance(value, types.CodeType):
        return [value.co_code.hex(), _identity(value.co_consts), list(value.co_names)]
    code = getattr(value, "__code__", None)
    if code is None:
        return repr(value)
    return [value.__module__, value.__qualname__, _identity(code),
            _identity(value.__defaults__ or ()), _identity(sorted((value.__kwdefaults__ or {}).items())),
            _identity([cell.cell_contents for cell in value.__closure__ or ()])]


def _method_label(method: Any) -> str:
    """The file label of a method's results: its name, and for a callable a digest of
    :func:`_identity`, so that two callables with one name but other options never share
    results or pixel ranks in one folder."""
    if isinstance(method, str):
        return method
    return f"{getattr(method, '__name__', 'method')}-{_digest(_identity(method))[:8]}"


def _as_set(images: np.ndarray, labels: np.ndarray, n_classes: int) -> ImageSet:
    return ImageSet(images, labels, [str(k) for k in range(n_classes)], name="roar")


def _split(n: int, share: float, seed: Any) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out) with ``round(share n)`` held out (at least one, if n > 1)."""
    order = rng(seed).permutation(n)
    held = min(max(1, round(share * n)), n - 1) if n > 1 else 0
    return np.sort(order[held:]), np.sort(order[:held])


def _ranks(file: Path, maps: Any, seed: Any) -> np.ndarray:
    """The pixel ranks of ``maps()`` (most relevant first), saved in ``file`` so that ROAR and
    KAR of one method, and a resumed run, explain the images once."""
    if file.exists():
        return np.load(file)
    ranks = pixel_ranks(maps(), descending=True, seed=seed).astype(np.int32)
    atomic_write(file, lambda handle: np.save(handle, ranks))
    return ranks


def _schedule(model: keras.Model, recipe: Any, fast: bool | None
              ) -> tuple[Callable[[], keras.Model] | None, dict[str, Any]]:
    """``(build, options)``: a picklable maker of fresh models of the zoo recipe's architecture
    (or of clones of ``model``; None when a worker process could not rebuild it) and the fixed
    schedule (epochs, batch size, step size) that trains them."""
    from xaikit.models import ZOO, architectures

    if isinstance(recipe, str):
        used = ZOO[check_option("recipe", recipe, sorted(ZOO))].as_dict(fast_mode(fast))
        shape, n_classes = tuple(model.inputs[0].shape[1:]), int(model.outputs[0].shape[-1])
        return (functools.partial(getattr(architectures, used["arch"]), shape, n_classes,
                                  **used["arch_kwargs"]), {key: used[key] for key in SCHEDULE})
    options = dict(recipe or {})
    if set(options) - set(SCHEDULE):
        raise ValueError(message("expected", name="recipe", expected="a zoo name or a mapping "
                                 f"with keys among {', '.join(SCHEDULE)}",
                                 got=", ".join(sorted(options)), fix="ROAR trains a fixed "
                                 "schedule: no early stopping (no patience)"))
    return shipped(model), {key: options.get(key, TRAIN_DEFAULTS[key]) for key in SCHEDULE}


def _clone(model: keras.Model) -> keras.Model:
    try:
        return keras.models.clone_model(model)
    except (TypeError, ValueError) as error:
        raise TypeError(message("expected", name="model", expected="a Sequential or "
                                "functional model to clone, or recipe= a zoo name",
                                got=type(model).__name__, fix="")) from error


def _job(everything: np.ndarray, removed: np.ndarray, mean: np.ndarray, imputation: str,
         seed: int, labels: np.ndarray, n_classes: int) -> tuple[ImageSet, np.ndarray]:
    """One retraining's data: the training set and test images with ``removed`` replaced (run
    where the model trains, so that the imputations of a group run in parallel too)."""
    if imputation == "mean":
        images = np.where(removed[..., None], mean, everything).astype(np.float32)
    else:
        images = np.clip(noisy_linear_imputation(everything, removed, seed=seed), 0, 1)
    return _as_set(images[:len(labels)], labels, n_classes), images[len(labels):]


def _retraining(mode: str, model: keras.Model, images: Any, method: Any, targets: Any, *,
                labels: Any, test: Any, recipe: Any, fractions: Sequence[float],
                seeds: Sequence[int], random_baseline: bool, imputation: str, out: Any,
                progress: bool, strategy: Any, workers: int | None, fast: bool | None,
                batch_size: int, seed: Any) -> Retraining:
    """The body of :func:`roar` and :func:`kar`."""
    explain = explainer(method, batch_size=batch_size, seed=seed)  # refuses precomputed maps
    check_option("imputation", imputation, IMPUTATIONS)
    build, schedule = _schedule(model, recipe, fast)
    if strategy is not None or build is None:
        if workers:
            raise ValueError(message("expected", name="workers", expected="0 or None with a "
                                     "strategy or a model a worker cannot rebuild",
                                     got=workers, fix="; these train in this process"))
        workers = 0
    workers = default_workers() if workers is None else check_int("workers", workers, minimum=0)
    name = method if isinstance(method, str) else getattr(method, "__name__", "method")
    key = _method_label(method)
    resolved = resolve(model, images, targets, batch_size=batch_size)
    x, n_classes = resolved.images, resolved.weights.shape[1]
    predicted = predict(resolved.model, x, batch_size=batch_size).argmax(axis=1)
    y = predicted if labels is None else check_array("labels", labels, ndim=1, dtype_kind="iu")
    if len(y) != len(x) or (y < 0).any() or (y >= n_classes).any():
        raise ValueError(message("expected", name="labels", expected=f"{len(x)} ints in "
                                 f"[0, {n_classes - 1}]", got=f"{len(y)} values", fix=""))
    if test is None:
        kept, held = _split(len(x), TEST_SHARE, seed)
        test_x, test_y, x, y = x[held], y[held], x[kept], y[kept]
        explained = resolved.classes[kept]
    else:
        test_x, test_y = (test.images, test.labels) if isinstance(test, ImageSet) else test
        test_x = check_images(test_x, model, name="test images")
        test_y = check_array("test labels", test_y, ndim=1, dtype_kind="iu")
        explained = resolved.classes
    levels = check_fractions("fractions", fractions)
    seeds = tuple(check_int("seeds", int(s), minimum=0) for s in seeds)
    folder = Path(out) if out is not None else cache_dir() / "roar" / _digest(
        recipe if isinstance(recipe, str) else dict(recipe or {}), *model.get_weights(), x, y,
        test_x, test_y, fast_mode(fast), "fixed schedule, no hold-out")
    rankings = ["method", "random"] if random_baseline else ["method"]
    tasks = [("base", 0.0, s) for s in seeds]
    tasks += [(ranking, t, s) for ranking in rankings for t in levels for s in seeds]

    def path(ranking: str, t: float, s: int) -> Path:
        """One file per result; the base and random ones are shared by ROAR, KAR and methods."""
        label = f"{mode}_{key}" if ranking == "method" else ranking
        label += "" if imputation == "mean" or ranking == "base" else f"_{imputation}"
        return folder / f"{label}_{t:.3f}_seed{s}.json"

    pending = [task for task in tasks if not path(*task).exists()]
    if pending and workers:
        start(min(workers, len(pending)))  # their start-up overlaps with the maps below
    everything = np.concatenate([x, test_x])
    if any(task[0] == "method" for task in pending):
        ranks = _ranks(folder / f"ranks_{key}_{_digest(seed)[:8]}.npy", lambda: explain(
            model, everything, np.concatenate([explained, predict(
                resolved.model, test_x, batch_size=batch_size).argmax(axis=1)])), seed)
    mean = x.mean(axis=(0, 1, 2))  # the per-channel mean of the training images
    pixels = everything[0, ..., 0].size

    def job(ranking: str, t: float, s: int) -> Callable[[], tuple[ImageSet, np.ndarray]]:
        """The data of one retraining: which pixels it replaces, and how."""
        count = round(t * pixels)
        if ranking == "random":
            order = rng([s, 7]).random((len(everything), pixels)).argsort(axis=1).argsort(axis=1)
            removed = order.reshape(everything.shape[:3]) < count
        elif ranking == "method":
            removed = ranks < count if mode == "roar" else ranks >= pixels - count
        else:
            removed = np.zeros(everything.shape[:3], bool)
        return functools.partial(_job, everything, removed, mean, imputation, s, y, n_classes)

    width = max(1, GROUP_BYTES // (4 * everything.size))
    groups = [group[start:start + width] for s in seeds
              for group in [[task for task in pending if task[2] == s]]
              for start in range(0, len(group), width)]  # one seed: one shuffle order, one init
    if build is None:
        build = functools.partial(_clone, model)
    bar = None
    if progress and pending:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(pending), desc=f"{mode} {name}", unit="model", leave=False)
    try:
        for group in groups:
            scored = train_and_score(build, [job(*task) for task in group], seed=group[0][2],
                                     workers=workers, strategy=strategy,
                                     predict_batch_size=batch_size, **schedule)
            for part, outputs in scored:
                for k, output in zip(part, outputs):
                    correct = output.argmax(axis=1) == test_y
                    atomic_write_json(path(*group[k]), {
                        "accuracy": float(np.mean(correct)), "fraction": group[k][1],
                        "correct": correct.astype(int).tolist(), "seed": group[k][2]})
                if bar is not None:
                    bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()

    def read(ranking: str, t: float, s: int) -> dict[str, Any]:
        return json.loads(path(ranking, t, s).read_text())

    results = {r: [[read(r, t, s) for s in seeds] for t in levels] for r in rankings}
    accuracy = {r: np.array([[cell["accuracy"] for cell in row] for row in table])
                for r, table in results.items()}
    correct = {r: np.array([[cell["correct"] for cell in row] for row in table], bool)
               for r, table in results.items()}
    return Retraining(mode, name, levels, seeds, accuracy,
                      np.array([read("base", 0.0, s)["accuracy"] for s in seeds]), correct)



@register(family="faithfulness", needs=_NEEDS, higher_is_better=False, stochastic=True,
          returns="table", fast_options=_FAST)
def roar(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
         labels: Any = None, test: Any = None, recipe: str | Mapping[str, Any] | None = None,
         fractions: Sequence[float] = FRACTIONS, seeds: Sequence[int] = (0,),
         random_baseline: bool = True, imputation: str = "mean", out: Any = None,
         progress: bool = True, strategy: Any = None, workers: int | None = None,
         fast: bool | None = None, batch_size: int = 32, seed: Any = 0) -> Retraining:
    """RemOve And Retrain (Hooker, Erhan, Kindermans & Kim, NeurIPS 2019, arXiv:1806.10758).

    For each fraction :math:`t`, the :math:`t` most relevant pixels of every training and test
    image are replaced by the training set's per-channel mean :math:`\\bar x`, the architecture
    is trained from scratch on the modified training set, and its accuracy on the modified test
    set is recorded,

    .. math:: \\tilde x_i = \\begin{cases} \\bar x & \\operatorname{rank}(e_i) < t\\,HW \\\\
              x_i & \\text{otherwise.} \\end{cases}

    Pixels are ranked by the raw (signed) map, as in the authors' code; a good ranking makes the
    accuracy fall faster than a random one (lower is better).

    Parameters
    ----------
    model : keras.Model
        The trained classifier whose maps rank the pixels.
    images : array (N, H, W, C)
        The training images (and, unless ``test`` is given, a held-out 20 % as test images).
    maps_or_method : str or callable
        The explanation method (it is run on the training and test images).
    targets : None, int or N ints
        The classes explained (None: the predicted class, as Hooker et al.).
    labels : N ints, optional
        The training labels (default: the model's predictions).
    test : ImageSet or (images, labels), optional
        The test set, modified like the training images (default: a seeded 20 % of ``images``).
    recipe : str, mapping or None
        A zoo name: its architecture, trained for its epochs with its batch size and step size
        (``fast``: the fast recipe's); a mapping with keys among epochs, batch_size and
        learning_rate (defaults those of :func:`xaikit.models.train`), or None: clone ``model``
        with fresh weights and train it so. A fixed schedule: no early stopping, no validation
        images held out.
    fractions : sequence of float
        The t (default 0.1, 0.3, 0.5, 0.7, 0.9).
    seeds : sequence of int
        Training seeds (Hooker et al. train 5 models per point).
    random_baseline : bool
        Also retrain with random rankings (shared with :func:`roar` / :func:`kar` and other
        methods through the result files).
    imputation : {"mean", "linear"}
        What removed pixels become: "mean", the training set's per-channel mean (Hooker et
        al.); "linear", the noisy linear imputation of Rong et al. (ICML 2022,
        :func:`xaikit.metrics.road.noisy_linear_imputation`, clipped to [0, 1]), which does not
        leak the class through the shape of the removed set.
    out : path, optional
        Where each result is written (default: a folder of the cache keyed by the model, data
        and recipe); a rerun reads what is there and retrains only what is missing.
    progress : bool
        A progress bar over the retrainings (and one over the steps of each group).
    strategy : tf.distribute.Strategy, optional
        Build and train inside ``strategy.scope()`` (the stacked model of each group), in this
        process.
    workers : int, optional
        Worker processes the retrainings (and their imputations) are spread over, one thread
        and oneDNN's kernels each (:mod:`xaikit.models.workers`); the results do not depend on
        their number. None: one per core, or 0 with a ``strategy``, a visible GPU or a model
        whose architecture a worker cannot rebuild (subclassed, or a layer class defined in
        ``__main__``); 0: train in this process (its own kernels and threads: the same
        results up to round-off, not to the bit).
    fast : bool, optional
        The zoo's fast recipe (None: :func:`xaikit.base.env.fast_mode`).
    batch_size, seed
        Passed to the method; ``seed`` also breaks ranking ties and splits the data.

    Returns
    -------
    Retraining
    """
    return _retraining("roar", model, images, maps_or_method, targets, labels=labels, test=test,
                       recipe=recipe, fractions=fractions, seeds=seeds,
                       random_baseline=random_baseline, imputation=imputation, out=out,
                       progress=progress,
                       strategy=strategy, workers=workers, fast=fast, batch_size=batch_size,
                       seed=seed)


@register(family="faithfulness", needs=_NEEDS, higher_is_better=True, stochastic=True,
          returns="table", fast_options=_FAST)
def kar(model: keras.Model, images: Any, maps_or_method: Any, targets: Any = None, *,
        labels: Any = None, test: Any = None, recipe: str | Mapping[str, Any] | None = None,
        fractions: Sequence[float] = FRACTIONS, seeds: Sequence[int] = (0,),
        random_baseline: bool = True, imputation: str = "mean", out: Any = None,
        progress: bool = True, strategy: Any = None, workers: int | None = None,
        fast: bool | None = None, batch_size: int = 32, seed: Any = 0) -> Retraining:
    """Keep And Retrain (Hooker, Erhan, Kindermans & Kim, NeurIPS 2019, arXiv:1806.10758).

    As :func:`roar`, but the :math:`t` *least* relevant pixels are replaced by the mean: a good
    ranking keeps the accuracy up longer than a random one (higher is better). The random and
    unmodified retrainings are shared with :func:`roar` through the result files.

    Parameters and returns as :func:`roar`.
    """
    return _retraining("kar", model, images, maps_or_method, targets, labels=labels, test=test,
                       recipe=recipe, fractions=fractions, seeds=seeds,
                       random_baseline=random_baseline, imputation=imputation, out=out,
                       progress=progress,
                       strategy=strategy, workers=workers, fast=fast, batch_size=batch_size,
                       seed=seed)

