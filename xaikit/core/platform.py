"""The numeric platform this process computes on: a fingerprint of TensorFlow's CPU kernels.

A model trained twice on one machine type is bit-identical; trained on another it is not. The
kernels TensorFlow runs for a convolution or a matrix product sum in an order that depends on
the machine (Eigen's block sizes follow the CPU's cache sizes, oneDNN dispatches on its
instruction set, the thread count splits the work), and training grows the last bit into a
different model — different enough that a lesson's trained numbers move by more than any useful
tolerance. The kit's recorded (tier-2) values therefore belong to a platform, and
:func:`numeric_platform` names it: it hashes the bits of one fixed computation made of the
operations training uses — a convolution, its gradients with respect to filter and input, and a
dense layer with long sums — so two processes share a name when these kernels agree.

Examples
--------
>>> platform = numeric_platform()
>>> len(platform.id), platform.id == numeric_platform().id
(12, True)
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform as _platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Platform", "numeric_platform"]


@dataclass(frozen=True)
class Platform:
    """``id``: 12 hexadecimal digits of the kernels' fingerprint; ``machine``: what it ran on."""

    id: str
    machine: str


@functools.cache
def numeric_platform() -> Platform:
    """The fingerprint of this process's TensorFlow CPU kernels (computed once per process).

    Returns
    -------
    Platform
        ``id`` is the first 12 hex digits of a SHA-256 over the float32 bits of a convolution's
        output, of its gradients with respect to filter and input (sums over 25,088 and 144
        terms) and of a dense layer's output (sums over 12,544 terms) on fixed data; ``machine``
        describes the CPU, the threads and TensorFlow, for people.
    """
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = tf.constant(rng.standard_normal((32, 28, 28, 8), dtype=np.float32))
    kernel = tf.constant(rng.standard_normal((3, 3, 8, 16), dtype=np.float32) * 0.2)
    dense = tf.constant(rng.standard_normal((28 * 28 * 16, 10), dtype=np.float32) * 0.01)
    with tf.GradientTape() as tape:
        tape.watch([images, kernel])
        hidden = tf.nn.relu(tf.nn.conv2d(images, kernel, 1, "SAME"))
        logits = tf.reshape(hidden, (32, -1)) @ dense
        loss = tf.reduce_sum(tf.nn.log_softmax(logits)[:, 0])
    grads = tape.gradient(loss, [kernel, images])
    digest = hashlib.sha256()
    for tensor in (hidden, logits, *grads):
        digest.update(np.ascontiguousarray(tensor.numpy(), dtype=np.float32).tobytes())
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")
    threads = (tf.config.threading.get_intra_op_parallelism_threads()
               or os.environ.get("TF_NUM_INTRAOP_THREADS") or "default")
    machine = (f"{_cpu_name()} ({_platform.machine()}, {os.cpu_count()} CPUs, intra-op threads "
               f"{threads}), TensorFlow {tf.__version__}, TF_ENABLE_ONEDNN_OPTS={onednn}")
    return Platform(digest.hexdigest()[:12], machine)


def _cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` says)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    return _platform.processor() or "unknown CPU"
