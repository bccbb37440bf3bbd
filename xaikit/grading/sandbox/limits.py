"""Per-submission limits: time, CPU, memory, threads, open files, output and ``/tmp`` size."""

from __future__ import annotations

import math
import os
import signal
from dataclasses import asdict, dataclass
from typing import Any

SANDBOX_CHOICES = ("auto", "bubblewrap", "landlock")

PASSED_ENV = ("XAIKIT_FAST", "KERAS_BACKEND")
"""The only variables of the grader's environment a sandbox inherits."""


@dataclass
class Limits:
    """Resource limits of one submission's sandbox.

    Attributes
    ----------
    timeout : float
        Wall-clock seconds for loading the submission, and again for each exercise's cases.
    startup : float
        Seconds for a sandbox to start (and for the warm zygote to import TensorFlow).
    memory_mb : int
        Address-space limit (``RLIMIT_AS``) in MiB of the submission's one process; 0: none.
    output_mb : int
        Largest output of one case in MiB (and four times that for all cases together).
    threads : int
        Threads of NumPy's BLAS and TensorFlow per sandbox (0: the library defaults).
    processes : int
        Threads the sandbox may run (``RLIMIT_NPROC``, counted per sandbox); a sandbox is
        one process: starting another one is refused.
    cpu_seconds : int
        CPU time (all threads together, ``RLIMIT_CPU``); 0: derived from the wall-clock
        limits and the threads.
    tmp_mb : int
        Size of the sandbox's private ``/tmp`` (bubblewrap; the fallback gives no writable
        folder at all).
    open_files : int
        Open file descriptors (``RLIMIT_NOFILE``).
    sandbox : str
        ``auto`` (the best confinement the machine offers), ``bubblewrap`` or ``landlock``.
    unsafe_no_sandbox : bool
        Grade even when no complete confinement is available (``--unsafe-no-sandbox``).
    """

    timeout: float = 60.0
    startup: float = 120.0
    memory_mb: int = 4096
    output_mb: int = 64
    threads: int = 0
    processes: int = 256
    cpu_seconds: int = 0
    tmp_mb: int = 64
    open_files: int = 1024
    sandbox: str = "auto"
    unsafe_no_sandbox: bool = False

    def cpu_budget(self, n_exercises: int) -> int:
        """``RLIMIT_CPU`` in seconds: the wall-clock budget times the threads, or ``cpu_seconds``."""
        if self.cpu_seconds > 0:
            return int(self.cpu_seconds)
        wall = self.startup + self.timeout * (n_exercises + 1)
        return int(math.ceil(wall * max(1, self.threads or os.cpu_count() or 1))) + 5

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def apply_rlimits(limits: dict[str, Any], n_exercises: int) -> None:
    """Set the hard and soft limits of the calling process (inherited by its threads).

    ``limits`` is :meth:`Limits.to_json`; called inside the sandbox before the student's code.
    """
    import resource

    def limit(which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(which)
            if hard == resource.RLIM_INFINITY or value < hard:
                resource.setrlimit(which, (min(value, hard), hard))

    box = Limits(**limits)
    if box.memory_mb > 0:
        limit(resource.RLIMIT_AS, box.memory_mb * 2**20)
    limit(resource.RLIMIT_FSIZE, max(box.output_mb, box.tmp_mb) * 2**20)
    limit(resource.RLIMIT_CORE, 0)
    limit(resource.RLIMIT_NPROC, box.processes)
    limit(resource.RLIMIT_NOFILE, box.open_files)
    limit(resource.RLIMIT_CPU, box.cpu_budget(n_exercises))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing


def sandbox_environment(home: str, threads: int = 0) -> dict[str, str]:
    """The whole environment of the zygote and the sandboxes: a fixed list.

    Nothing of the grader's environment is inherited but ``PASSED_ENV`` (never the seed, never a
    path to ``solutions/``).
    """
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "USER": "student",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
        "KERAS_HOME": os.path.join(home, ".keras"),
        "XAIKIT_CACHE": os.path.join(home, ".cache"),
        "MALLOC_ARENA_MAX": "2",
        "XAIKIT_GRADING": "1",
    }
    env.update({name: os.environ[name] for name in PASSED_ENV if name in os.environ})
    if threads > 0:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "TF_NUM_INTRAOP_THREADS"):
            env[name] = str(threads)
        env["TF_NUM_INTEROP_THREADS"] = str(min(threads, 2))
    return env
