"""Deterministic, resumable training of the kit's classifiers, and their accuracy.

:func:`train` wraps ``model.fit`` one epoch at a time so that it can

- shuffle each epoch with its own NumPy generator ``default_rng([seed, epoch])`` (so a resumed run
  sees exactly the batches an uninterrupted run would have seen);
- stop early on the validation loss and restore the best weights;
- write a checkpoint (weights, optimizer state, best weights, counters) atomically after every
  epoch and resume from it after a crash;
- show one progress bar (tqdm) over all steps.

Single-label models (softmax or linear head) are trained with sparse categorical cross-entropy on
``data.labels``; multi-label models (sigmoid head) with binary cross-entropy on
``data.meta["multi_hot"]``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_int
from xaikit.base.io import atomic_write
from xaikit.base.messages import message
from xaikit.base.vocabulary import BATCH_SIZE
from xaikit.core.batching import predict
from xaikit.core.surgery import output_activation

__all__ = ["train", "train_stacked", "accuracy", "predict", "resume_epoch", "run_steps",
           "save_epoch", "seed_everything", "targets_for"]

PROBABILITY_FLOOR = 1e-7  # probabilities are clipped to [floor, 1 - floor] before the log (Keras')


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Keras/TensorFlow (``keras.utils.set_random_seed``).

    Weight initialisation draws from these generators, so call it right before building a model.
    On CPU, TensorFlow's kernels used by the kit's models are deterministic for a fixed seed and
    thread count (checked by ``tests/test_models.py``), so op determinism
    (``tf.config.experimental.enable_op_determinism``, a process-wide switch that also makes some
    GPU kernels raise) is left to the user.
    """
    keras.utils.set_random_seed(check_int("seed", seed, minimum=0))


def _is_multi_label(model: keras.Model) -> bool:
    return output_activation(model) == "sigmoid"


def targets_for(model: keras.Model, data: Any) -> np.ndarray:
    """Training targets of ``data`` for ``model``: class indices, or multi-hot rows for a sigmoid head."""
    if _is_multi_label(model):
        multi_hot = getattr(data, "meta", {}).get("multi_hot")
        if multi_hot is None:
            raise ValueError(message("multi_hot_missing", model=model.name,
                                     data=getattr(data, "name", "")))
        return np.asarray(multi_hot, dtype=np.float32)
    return np.asarray(data.labels, dtype=np.int64)


def _check_data(model: keras.Model, data: Any, what: str) -> None:
    images = getattr(data, "images", None)
    if images is None or getattr(data, "labels", None) is None:
        raise TypeError(message("imageset_type", name=what, got=type(data).__name__))
    expected = tuple(model.inputs[0].shape[1:])
    if tuple(images.shape[1:]) != expected:
        raise ValueError(message("data_shape", name=what, got=tuple(images.shape[1:]),
                                 model=model.name, expected=expected))
    n_out = int(model.outputs[0].shape[-1])
    if n_out != len(data.class_names):
        raise ValueError(message("data_classes", name=what, got=len(data.class_names),
                                 model=model.name, expected=n_out))


def _cross_entropy(model: keras.Model, scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean training loss (the compiled cross-entropy) computed from predicted scores."""
    eps = PROBABILITY_FLOOR
    activation = output_activation(model)
    if activation == "sigmoid":
        p = np.clip(scores, eps, 1 - eps)
        return float(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))
    if activation == "linear":
        shifted = scores - scores.max(axis=1, keepdims=True)
        scores = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    picked = scores[np.arange(len(scores)), targets]
    return float(-np.mean(np.log(np.clip(picked, eps, 1.0))))


def _accuracy_from_scores(model: keras.Model, data: Any, scores: np.ndarray) -> float:
    if _is_multi_label(model):
        truth = targets_for(model, data) > 0.5
        k = truth.sum(axis=1)
        ranks = np.argsort(np.argsort(-scores, axis=1, kind="stable"), axis=1)
        predicted = ranks < k[:, None]
        return float(np.mean(np.all(predicted == truth, axis=1)))
    return float(np.mean(np.argmax(scores, axis=1) == data.labels))


def _loss_and_accuracy(model: keras.Model, data: Any) -> tuple[float, float]:
    scores = predict(model, data.images).astype(np.float64)
    return _cross_entropy(model, scores, targets_for(model, data)), _accuracy_from_scores(model, data, scores)


def accuracy(model: keras.Model, data: Any, *, batch_size: int = BATCH_SIZE) -> float:
    """Test accuracy of ``model`` on ``data``.

    Single-label: the fraction of images whose arg-max class is the label. Multi-label (sigmoid
    head, ``data.meta["multi_hot"]``): the fraction of images whose k highest scores are exactly
    the k true classes (k = number of true classes of that image; for two-object shapes: both
    objects' classes are the top-2).

    Returns
    -------
    float
        In [0, 1].
    """
    _check_data(model, data, "data")
    return _accuracy_from_scores(model, data, predict(model, data.images, batch_size=batch_size))


def _loss(model: keras.Model) -> keras.losses.Loss:
    """The cross-entropy matching the model's head."""
    activation = output_activation(model)
    if activation == "sigmoid":
        return keras.losses.BinaryCrossentropy()
    if activation in ("softmax", "linear"):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=activation == "linear")
    raise ValueError(message("train_activation", model=model.name, activation=activation))


def _compile(model: keras.Model, learning_rate: float) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=_loss(model),
                  jit_compile=False)


def _weights(model: keras.Model) -> list[np.ndarray]:
    return [np.array(v) for v in model.weights]


def _write_checkpoint(path: Path, groups: dict[str, list[Any]], state: dict) -> None:
    """Write arrays (``{prefix: [arrays]}``, stored as ``prefix0, prefix1, ...``) and a JSON
    ``state`` to ``path`` atomically: an interrupted write leaves the previous checkpoint."""
    arrays = {f"{prefix}{i}": np.array(v) for prefix, values in groups.items()
              for i, v in enumerate(values)}
    arrays["state"] = np.array(json.dumps(state | {"counts": {k: len(v) for k, v in groups.items()}}))
    atomic_write(path, lambda handle: np.savez(handle, **arrays))


def _read_checkpoint(path: Path) -> tuple[dict[str, list[np.ndarray]], dict]:
    """The groups and state :func:`_write_checkpoint` wrote (raises if the file is broken)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    state = json.loads(str(arrays["state"]))
    return {prefix: [arrays[f"{prefix}{i}"] for i in range(count)]
            for prefix, count in state["counts"].items()}, state


def _ignored(path: Path, exc: Exception) -> None:
    import warnings

    warnings.warn(f"xaikit: ignoring training checkpoint {path} ({type(exc).__name__}: {exc}); "
                  "training from the start.", RuntimeWarning, stacklevel=4)


def _save_checkpoint(path: Path, model: keras.Model, best: list[np.ndarray], state: dict) -> None:
    _write_checkpoint(path, {"w": _weights(model), "b": best, "o": model.optimizer.variables},
                      state)


def _load_checkpoint(path: Path, model: keras.Model) -> tuple[list[np.ndarray], dict] | None:
    try:
        groups, state = _read_checkpoint(path)
        model.set_weights(groups["w"])
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        if len(model.optimizer.variables) != len(groups["o"]):
            raise ValueError(message("checkpoint_mismatch", path=path))
        for variable, value in zip(model.optimizer.variables, groups["o"]):
            variable.assign(value)
    except Exception as exc:  # a stale or broken checkpoint is never fatal: start afresh
        _ignored(path, exc)
        return None
    return groups["b"], state


def save_epoch(path: str | os.PathLike | None, variables: Sequence[Any], epoch: int) -> None:
    """Checkpoint ``variables`` (the weights and optimizer state a custom loop changes) after
    ``epoch`` epochs, atomically; nothing when ``path`` is None."""
    if path is not None:
        _write_checkpoint(Path(path), {"v": list(variables)}, {"epoch": epoch})


def resume_epoch(path: str | os.PathLike | None, variables: Sequence[Any]) -> int:
    """Restore ``variables`` from the checkpoint :func:`save_epoch` wrote; the epochs already
    run (0 without a checkpoint, or with one that does not fit the variables — then a warning).

    Examples
    --------
    >>> import tempfile
    >>> v = keras.Variable(np.zeros(2))
    >>> path = Path(tempfile.mkdtemp()) / "ckpt.npz"
    >>> resume_epoch(path, [v])  # none yet
    0
    >>> _ = v.assign([1.0, 2.0])
    >>> save_epoch(path, [v], 3)
    >>> _ = v.assign([0.0, 0.0])
    >>> resume_epoch(path, [v]), np.asarray(v).tolist()
    (3, [1.0, 2.0])
    """
    if path is None or not Path(path).exists():
        return 0
    try:
        groups, state = _read_checkpoint(Path(path))
        if [np.shape(a) for a in groups["v"]] != [tuple(v.shape) for v in variables]:
            raise ValueError(message("checkpoint_mismatch", path=path))
        for variable, value in zip(variables, groups["v"]):
            variable.assign(value)
    except Exception as exc:  # a stale or broken checkpoint is never fatal: start afresh
        _ignored(Path(path), exc)
        return 0
    return int(state["epoch"])


class _Progress(keras.callbacks.Callback):
    def __init__(self, bar: Any):
        super().__init__()
        self.bar = bar

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)
        if logs and batch % 10 == 0:
            self.bar.set_postfix(loss=f"{float(logs.get('loss', np.nan)):.3f}", refresh=False)


def train(
    model: keras.Model,
    data: Any,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    seed: int = 0,
    val: Any = None,
    patience: int = 5,
    learning_rate: float = 1e-3,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    targets: np.ndarray | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``data`` in place: shuffled mini-batches, early stopping, resumable.

    Parameters
    ----------
    model : keras.Model
        A functional/Sequential classifier (softmax, sigmoid or linear head). Compiled here with
        Adam(``learning_rate``) and the matching cross-entropy unless it is already compiled.
    data : ImageSet
        Training images and labels (``meta["multi_hot"]`` for a sigmoid head).
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Mini-batch size.
    seed : int
        Seeds Keras (``keras.utils.set_random_seed``) and the per-epoch shuffles. Same seed, same
        initial weights and data => same trained weights.
    val : ImageSet, optional
        Validation set for early stopping; without it the training loss is monitored.
    patience : int
        Stop after this many epochs without a lower monitored loss, then restore the weights of
        the best epoch.
    learning_rate : float
        Adam's step size (only used when the model is compiled here).
    progress : bool
        Show a tqdm progress bar over all training steps.
    checkpoint : path, optional
        ``.npz`` file written atomically after each epoch (weights, optimizer state, best weights,
        counters). If it exists when ``train`` starts, training resumes after its last epoch.
        Deleted when training ends.
    targets : array (N, ...), optional
        Training targets used instead of ``data``'s labels (e.g. a teacher's logits for
        distillation); compile the model with a matching loss first (mean squared error).

    Returns
    -------
    dict
        ``history`` (per-epoch ``loss``, ``val_loss``, ``val_accuracy``), ``best_epoch``,
        ``epochs_run`` and ``stopped_early``.
    """
    for label, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        check_int(label, value)
    _check_data(model, data, "data")
    if val is not None:
        _check_data(model, val, "val")
    seed_everything(seed)
    if not model.compiled:
        _compile(model, learning_rate)
    x, y = data.images, targets_for(model, data) if targets is None else np.asarray(targets)
    if len(y) != len(x):
        raise ValueError(message("expected", name="targets", expected=f"{len(x)} rows (one per image)",
                                 got=f"{len(y)} rows", fix=""))
    steps_per_epoch = -(-len(x) // batch_size)

    best = _weights(model)
    state: dict[str, Any] = {
        "epoch": 0, "best_loss": None, "best_epoch": 0, "wait": 0,
        "history": {"loss": [], "val_loss": [], "val_accuracy": []},
    }  # fmt: skip
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        restored = _load_checkpoint(ckpt, model)
        if restored is not None:
            best, state = restored

    bar = None
    callbacks: list[keras.callbacks.Callback] = []
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=epochs * steps_per_epoch, initial=state["epoch"] * steps_per_epoch,
            desc=f"train {model.name}", unit="step", leave=False,
        )  # fmt: skip
        callbacks.append(_Progress(bar))
    try:
        while state["epoch"] < epochs and state["wait"] < patience:
            epoch = state["epoch"]
            order = np.random.default_rng([seed, epoch]).permutation(len(x))
            fit = model.fit(
                x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False,
                verbose=0, callbacks=callbacks,
            )  # fmt: skip
            loss = float(fit.history["loss"][-1])
            state["history"]["loss"].append(loss)
            monitored = loss
            if val is not None:
                val_loss, val_acc = _loss_and_accuracy(model, val)
                state["history"]["val_loss"].append(val_loss)
                state["history"]["val_accuracy"].append(val_acc)
                monitored = val_loss
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{val_acc:.3f}")
            if state["best_loss"] is None or monitored < state["best_loss"]:
                state.update(best_loss=monitored, best_epoch=epoch + 1, wait=0)
                best = _weights(model)
            else:
                state["wait"] += 1
            state["epoch"] = epoch + 1
            if ckpt is not None:
                _save_checkpoint(ckpt, model, best, state)
    finally:
        if bar is not None:
            bar.close()
    model.set_weights(best)
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    return {
        "history": state["history"],
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "stopped_early": state["epoch"] < epochs,
    }


def train_stacked(build: Callable[[], keras.Model], datasets: Sequence[Any], *, epochs: int,
                  batch_size: int = 64, seed: int = 0, learning_rate: float = 1e-3,
                  progress: bool = True, strategy: Any = None) -> list[keras.Model]:
    """Train K fresh models, one per data set, side by side as one stacked model.

    Each branch ``k`` is ``build()`` called right after ``seed_everything(seed)`` (so every
    branch starts from the weights it would have alone), takes its own images and predicts its
    own labels; the stacked model minimises the sum of the K cross-entropies with one Adam over
    all weights, for a fixed schedule of ``epochs`` (no early stopping, no validation), each
    epoch in the order ``default_rng([seed, epoch]).permutation(n)`` shared by all branches.
    The branches share no parameter and Adam's update is per parameter, so each branch's
    trajectory is the one it would follow if trained alone on its data (up to float
    round-off): K trainings at the cost of one traced step function and one call per step,
    e.g. the retrainings of ROAR / KAR.

    Parameters
    ----------
    build : callable
        ``() -> keras.Model``: a fresh, untrained functional or Sequential classifier
        (softmax, sigmoid or linear head).
    datasets : sequence of ImageSet
        K training sets of the same length and labels (only the images differ).
    epochs, batch_size, seed, learning_rate, progress
        As :func:`train` (the labels of the first data set are used for every branch).
    strategy : tf.distribute.Strategy, optional
        Build and train inside ``strategy.scope()``.

    Returns
    -------
    list of keras.Model
        The K trained branches.

    Examples
    --------
    >>> from xaikit.data import ImageSet
    >>> x = np.random.default_rng(0).random((8, 4, 4, 1), dtype=np.float32)
    >>> sets = [ImageSet(x * k, np.arange(8) % 2, ["a", "b"], name="toy") for k in (0.5, 1)]
    >>> def tiny():
    ...     return keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
    ...                              keras.layers.Dense(2, activation="softmax")])
    >>> models = train_stacked(tiny, sets, epochs=1, batch_size=4, progress=False)
    >>> len(models)
    2
    """
    check_int("epochs", epochs)
    check_int("batch_size", batch_size)
    datasets = list(datasets)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        branches, inputs, outputs, losses = [], [], [], []
        for k, data in enumerate(datasets):
            seed_everything(seed)
            branch = build()
            _check_data(branch, data, f"datasets[{k}]")
            if len(data.images) != len(datasets[0].images) or not np.array_equal(
                    data.labels, datasets[0].labels):
                raise ValueError(message("expected", name=f"datasets[{k}]", expected="the "
                                         "labels of datasets[0] (only the images may differ)",
                                         got=f"{len(data.images)} images, other labels",
                                         fix=""))
            image = keras.Input(tuple(branch.inputs[0].shape[1:]))
            wrapped = keras.Model(image, branch(image), name=f"branch_{k}")  # unique names
            branches.append(branch)
            inputs.append(image)
            outputs.append(wrapped(image))
            losses.append(_loss(branch))
        stacked = keras.Model(inputs, outputs, name="stacked")
        stacked.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=losses,
                        jit_compile=False)
        y = targets_for(branches[0], datasets[0])
        n = len(y)
        bar = None
        callbacks: list[keras.callbacks.Callback] = []
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs * -(-n // batch_size), desc=f"train {len(branches)} side by "
                       "side", unit="step", leave=False)
            callbacks.append(_Progress(bar))
        try:
            for epoch in range(epochs):
                order = np.random.default_rng([seed, epoch]).permutation(n)
                stacked.fit([data.images[order] for data in datasets], [y[order]] * len(datasets),
                            batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                            callbacks=callbacks)
        finally:
            if bar is not None:
                bar.close()
    return branches


def run_steps(plan: Callable[[int], tuple[Callable[..., Any], Sequence[np.ndarray]]], n: int, *,
              epochs: int, batch_size: int, seed: int, desc: str, progress: bool = True,
              variables: Sequence[Any] = (), checkpoint: str | os.PathLike | None = None) -> None:
    """The mini-batch loop of the kit's custom training loops (ProtoPNet, interpretable CNN).

    For each epoch, ``plan(epoch)`` gives ``(step, arrays)``; ``step`` is called on every
    mini-batch of the rows ``default_rng([seed, epoch]).permutation(n)`` of each array, as
    tensors, under one progress bar over all steps. With a ``checkpoint`` path, ``variables``
    (everything the steps change: weights, optimizer state) are saved atomically after every
    epoch (:func:`save_epoch`); a run that finds the file resumes after its last epoch, and the
    file is deleted at the end — an interrupted run, rerun, ends with the same variables.

    Examples
    --------
    >>> seen = []
    >>> run_steps(lambda epoch: (lambda x: seen.append(len(x)), [np.zeros(5)]), 5, epochs=2,
    ...           batch_size=2, seed=0, desc="demo", progress=False)
    >>> seen
    [2, 2, 1, 2, 2, 1]
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    steps = -(-n // batch_size)
    start = resume_epoch(checkpoint, variables)
    with tqdm(total=epochs * steps, initial=start * steps, desc=desc, unit="step", leave=False,
              disable=not progress) as bar:
        for epoch in range(start, epochs):
            step, arrays = plan(epoch)
            order = np.random.default_rng([seed, epoch]).permutation(n)
            for begin in range(0, n, batch_size):
                chosen = order[begin:begin + batch_size]
                step(*(tf.constant(array[chosen]) for array in arrays))
                bar.update(1)
            save_epoch(checkpoint, variables, epoch + 1)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
