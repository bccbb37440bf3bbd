"""Train fresh models in worker processes, one thread each, on every core (ROAR / KAR).

On a CPU, TensorFlow's default kernels keep about 1.4 of two cores busy while training the kit's
small CNNs, and the kit runs them without oneDNN (``TF_ENABLE_ONEDNN_OPTS=0``: the lessons'
recorded values were made so, and its start-up lines would print into every notebook). ROAR and
KAR train dozens of models that do not depend on one another, so they are trained in
persistent child processes (``python -m xaikit.models.workers``), each with **one** thread and
oneDNN's kernels (the digits CNN: 3.7 s per retraining in one thread, against 4.8 s in two with
the default kernels, ``benchmarks/bench_retraining.py``).

What a job computes does not depend on the number of workers or on which worker runs it: each
worker is single-threaded (no thread-count-dependent reductions), a part of K retrainings is
trained side by side by :func:`xaikit.models.train_stacked` (each branch follows the trajectory it
would follow alone), and the parts are cut by position. Results may differ in the last bits from
training in this process (other kernels), and with another CPU's instruction set (oneDNN picks
its kernels at run time).

The workers start on first use (their import of TensorFlow, a few seconds, overlaps with what
the caller does next), live as long as this process and leave when it does (end of their input
pipe). A worker that fails sends its traceback back, raised here.
"""

from __future__ import annotations

import atexit
import copy
import functools
import os
import pickle
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from xaikit.base.checks import check_int
from xaikit.base.messages import message

__all__ = ["default_workers", "rebuild", "shipped", "start", "train_and_score"]

WORKER_ENV = {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1",
              "CUDA_VISIBLE_DEVICES": ""}  # one thread, oneDNN kernels, never a GPU
_POOL: list[_Worker] = []


def default_workers() -> int:
    """One worker per core this process may run on, or 0 (train here) when TensorFlow sees a
    GPU: the workers train on the CPU only."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return 0
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Worker:
    """One child process and its pipes; requests and replies are pickles."""

    def __init__(self) -> None:
        env = dict(os.environ) | WORKER_ENV
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-m", "xaikit.models.workers"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, env=env)

    def send(self, request: Any) -> None:
        try:
            pickle.dump(request, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise _died(self) from error

    def receive(self) -> Any:
        try:
            status, value = pickle.load(self.process.stdout)
        except (EOFError, pickle.UnpicklingError, OSError) as error:
            raise _died(self) from error
        if status == "error":
            raise RuntimeError(message("worker_failed", traceback=value))
        return value

    def discard(self) -> str:
        """Kill the process, leave the pool; the end of its log."""
        if self.log.closed:
            return ""
        self.process.kill()
        self.process.wait()
        if self in _POOL:
            _POOL.remove(self)
        self.log.seek(0)
        tail = self.log.read().decode(errors="replace")[-2000:]
        self.log.close()
        return tail

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def _died(worker: _Worker) -> RuntimeError:
    """The error for a worker that ended: its exit code and the end of its log; it leaves
    the pool."""
    output = worker.discard()
    return RuntimeError(message("worker_died", pid=worker.process.pid,
                                code=worker.process.returncode, output=output))


def _pool(n: int) -> list[_Worker]:
    while len(_POOL) < n:
        _POOL.append(_Worker())
    return _POOL[:n]


def start(workers: int) -> None:
    """Start ``workers`` worker processes now (if fewer run), so that their start-up (importing
    TensorFlow) overlaps with what the caller computes before it trains."""
    _pool(check_int("workers", workers, minimum=0))


@atexit.register
def _close() -> None:
    while _POOL:
        _POOL.pop().close()


def rebuild(config: dict[str, Any]) -> keras.Model:
    """A fresh model from a serialized architecture (the clone a worker builds); ``config`` is
    left as it was (Keras' deserialisation edits the mapping it is given)."""
    return keras.saving.deserialize_keras_object(copy.deepcopy(config))


def shipped(model: keras.Model) -> Callable[[], keras.Model] | None:
    """A picklable ``build`` that makes fresh copies of ``model``'s architecture in a worker, or
    None when a worker could not rebuild it (a subclassed model, or a class defined in
    ``__main__`` or inside a function)."""
    classes = {type(model)} | {type(layer) for layer in model._flatten_layers()}
    if any(cls.__module__ == "__main__" or "<locals>" in cls.__qualname__ for cls in classes):
        return None
    try:
        config = keras.saving.serialize_keras_object(model)
        rebuild(config)
        pickle.dumps(config)
    except Exception:  # anything a config cannot carry: the caller trains in its own process
        return None
    return functools.partial(rebuild, config)


def _train_part(build: Callable[[], keras.Model], jobs: Sequence[Callable[[], tuple[Any, Any]]],
                schedule: dict[str, Any], batch_size: int) -> list[np.ndarray]:
    """Make the part's data, train its models side by side, and score each on its test images."""
    from xaikit.models.training import predict, train_stacked

    made = [job() for job in jobs]
    trained = train_stacked(build, [data for data, _ in made], progress=False, **schedule)
    return [np.asarray(predict(model, test, batch_size=batch_size))
            for model, (_, test) in zip(trained, made)]


def train_and_score(build: Callable[[], keras.Model],
                    jobs: Sequence[Callable[[], tuple[Any, np.ndarray]]], *, epochs: int,
                    batch_size: int, seed: int, learning_rate: float, workers: int,
                    strategy: Any = None, predict_batch_size: int = 32
                    ) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Train one fresh model per job and yield their outputs on the jobs' test images.

    Each job is a zero-argument callable returning ``(training ImageSet, test images)``; all
    training sets have the labels of the first (:func:`xaikit.models.train_stacked`). The jobs
    are cut into ``min(workers, len(jobs))`` parts by position, each part made and trained side
    by side in one worker process (jobs and ``build`` must be picklable: module-level
    functions, ``functools.partial`` of them); ``workers=0`` trains them all in this process
    (inside ``strategy.scope()`` if a ``tf.distribute`` strategy is given).

    Yields
    ------
    (indices, outputs)
        For each part, in order: the job indices and the model outputs (n_test, classes) of
        each, as the part completes.

    Examples
    --------
    >>> from xaikit.data import ImageSet
    >>> from xaikit.models.architectures import mlp
    >>> x = np.random.default_rng(0).random((8, 4, 4, 1), dtype=np.float32)
    >>> def job():
    ...     return ImageSet(x, np.arange(8) % 2, ["a", "b"], name="t"), x
    >>> [(part, outputs[0].shape) for part, outputs in train_and_score(
    ...     functools.partial(mlp, (4, 4, 1), 2), [job], epochs=1, batch_size=4, seed=0,
    ...     learning_rate=1e-3, workers=0)]
    [([0], (8, 2))]
    """
    check_int("workers", workers, minimum=0)
    schedule = {"epochs": epochs, "batch_size": batch_size, "seed": seed,
                "learning_rate": learning_rate}
    if strategy is not None and workers:
        raise ValueError(message("expected", name="workers", expected="0 with a strategy",
                                 got=workers, fix="; a strategy trains in this process"))
    if workers == 0 or not jobs:
        if jobs:
            yield list(range(len(jobs))), _train_part(build, jobs, schedule | {
                "strategy": strategy}, predict_batch_size)
        return
    try:
        pickle.dumps((build, jobs[0]))
    except Exception as error:
        raise TypeError(message("expected", name="build and jobs", expected="picklable "
                                "callables (module-level functions or partials of them)",
                                got=f"{type(error).__name__}: {error}",
                                fix="; or workers=0 to train in this process")) from error
    parts = [list(map(int, part)) for part in np.array_split(np.arange(len(jobs)),
                                                           min(workers, len(jobs)))]
    pool = _pool(len(parts))
    waiting = []
    try:
        for worker, part in zip(pool, parts):
            worker.send((build, [jobs[k] for k in part], schedule, predict_batch_size))
            waiting.append(worker)
        for worker, part in zip(pool, parts):
            waiting.remove(worker)  # its reply is read now, whatever it is
            outputs = worker.receive()
            yield part, outputs
    finally:
        for worker in waiting:  # a reply nobody will read: that worker cannot be reused
            worker.discard()


def _serve() -> None:
    """The worker's loop: read a request, train, reply, until the input pipe closes."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to the log, never into the replies
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    requests = sys.stdin.buffer
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        try:
            reply = ("ok", _train_part(*request))
        except BaseException:  # the caller raises it, with the worker's traceback
            reply = ("error", traceback.format_exc())
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    _serve()
