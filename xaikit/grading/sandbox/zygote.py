"""The grader's handle on the zygote (see :mod:`.forkserver` for what runs inside it).

TensorFlow's import costs 5-15 s; the zygote pays it once per batch and forks a sandbox per
submission in milliseconds.  Requests and replies travel over a ``SOCK_SEQPACKET`` socket; each
request carries the sandbox's three pipes (results, log, job) as ``SCM_RIGHTS``, so nothing of one
sandbox is ever reachable from another.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xaikit.base.messages import message
from xaikit.grading.sandbox.backends import Backend
from xaikit.grading.sandbox.limits import Limits, sandbox_environment

LOG_TAIL_BYTES = 16 * 1024


class LogTail(threading.Thread):
    """Drain a stream, keeping only its last bytes (never parsed)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.tail = b""

    def run(self) -> None:
        try:
            while chunk := self.stream.read1(65536):
                self.tail = (self.tail + chunk)[-LOG_TAIL_BYTES:]
        except (OSError, ValueError):
            pass

    def text(self) -> str:
        return self.tail.decode("utf-8", errors="replace")


_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE: list[Path | None] = []


def home_template() -> Path | None:
    """A home folder with matplotlib's font cache, copied into every sandbox (made once).

    Built from scratch the cache takes seconds, in every sandbox.
    """
    with _TEMPLATE_LOCK:
        if not _TEMPLATE:
            import atexit
            import sys

            folder = Path(tempfile.mkdtemp(prefix="xaikit-grade-home-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            try:
                subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"],
                               env=sandbox_environment(str(folder)), cwd=folder, timeout=300,
                               capture_output=True, check=True)
                for path in [folder, *folder.rglob("*")]:
                    path.chmod(0o755 if path.is_dir() else 0o644)
                _TEMPLATE.append(folder)
            except (OSError, subprocess.SubprocessError):
                _TEMPLATE.append(None)
        return _TEMPLATE[0]


@dataclass
class Launched:
    """A started sandbox: its request number, pids, and the grader's ends of its pipes."""

    zygote: Zygote
    request: int
    pid: int
    results: int
    job: int
    log: LogTail

    def kill(self) -> None:
        """Kill the sandbox and everything in it."""
        self.zygote.kill(self.request)

    def reap(self, timeout: float = 10.0) -> int | None:
        """How the sandbox ended (as ``Popen.returncode``), None if unknown."""
        return self.zygote.wait_exit(self.pid, timeout)


class Zygote:
    """A warm, trusted process forking one sandbox per submission.

    Parameters
    ----------
    preload : sequence of str
        Modules to import once (``tensorflow``, ``keras``, ``xaikit.attribution``, ...).
    backend : Backend
        How to confine the zygote and its sandboxes.
    kit : Path
        The kit's copy (:func:`.kit.kit_copy`).
    limits : Limits
        ``startup`` (seconds to wait for the imports) and ``threads``.
    hidden : sequence of Path
        Secret paths to cover should they lie in a folder the sandbox sees (solutions, seed,
        output folder).
    label : str
        How the sandboxes are confined, in words (recorded with each grade).

    Raises
    ------
    OSError
        If the zygote cannot start (with the end of its output).
    """

    def __init__(self, preload: Sequence[str], backend: Backend, kit: Path, limits: Limits,
                 hidden: Sequence[Path] = (), label: str = "") -> None:
        self.backend = backend
        self.label = label or backend.label
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self._exits: dict[int, int] = {}
        self._closed = False
        self._counter = 0
        self.home = Path(tempfile.mkdtemp(prefix="xaikit-grade-zygote-"))
        self.home.chmod(0o755)
        template = home_template()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._socket = ours
        argv = [*backend.argv(kit, template, list(hidden)),
                json.dumps(backend.python_path(kit)), str(theirs.fileno())]
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                pass_fds=(theirs.fileno(),), cwd=self.home, start_new_session=True,
                env=sandbox_environment(backend.home(self.home), limits.threads))
        except OSError:
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        finally:
            theirs.close()
        self.log = LogTail(self.process.stdout)
        self.log.start()
        config = {"preload": list(preload), "backend": backend.name,
                  "privileged": backend.privileged,
                  "template": None if template is None else
                  ("bwrap" if backend.name == "bubblewrap" else str(template)),
                  "landlock": backend.landlock_paths(kit, self.home)
                  if backend.name == "landlock" else None}
        try:
            ours.settimeout(max(limits.startup, 30.0))
            ours.send(json.dumps(config).encode())
            hello = json.loads(ours.recv(1 << 16) or b"{}")
            if hello.get("ready") is not True:
                raise OSError(message("sandbox_start", reason="it ended during start-up"))
            self.pid = int(hello["pid"])
        except (OSError, ValueError, KeyError) as error:
            self.close()
            self.log.join(timeout=2)
            raise OSError(message("sandbox_start", reason=f"{error}; its output: "
                                                          f"{self.log.text()[-1500:]!r}")) from None
        ours.settimeout(None)
        threading.Thread(target=self._read_replies, daemon=True).start()

    def _read_replies(self) -> None:
        while True:
            try:
                data = self._socket.recv(1 << 16)
                message_ = json.loads(data) if data else None
            except (OSError, ValueError):
                message_ = None
            with self._changed:
                if not isinstance(message_, dict):
                    self._closed = True
                    self._changed.notify_all()
                    return
                if "exited" in message_:
                    self._exits[int(message_["exited"])] = int(message_["status"])
                else:
                    self._replies[int(message_["request"])] = message_
                self._changed.notify_all()

    def alive(self) -> bool:
        """Whether the zygote still takes requests."""
        return not self._closed and self.process.poll() is None

    def launch(self, limits: Limits, n_exercises: int) -> Launched:
        """Fork a sandbox; raises OSError when the zygote cannot."""
        results_read, results_write = os.pipe()
        log_read, log_write = os.pipe()
        job_read, job_write = os.pipe()
        try:
            with self._lock:
                self._counter += 1
                request = self._counter
                text = json.dumps({"request": request, "limits": limits.to_json(),
                                   "n_exercises": n_exercises})
                socket.send_fds(self._socket, [text.encode()],
                                [results_write, log_write, job_read])
        except OSError:
            for fd in (results_read, log_read, job_write):
                os.close(fd)
            raise
        finally:
            for fd in (results_write, log_write, job_read):
                os.close(fd)
        with self._changed:
            self._changed.wait_for(lambda: request in self._replies or self._closed, timeout=60)
            reply = self._replies.pop(request, None)
        if not isinstance(reply, dict) or "pid" not in reply:
            for fd in (results_read, log_read, job_write):
                os.close(fd)
            raise OSError(message("sandbox_fork", reply=reply))
        log = LogTail(os.fdopen(log_read, "rb"))
        log.start()
        return Launched(self, request, int(reply["pid"]), results_read, job_write, log)

    def kill(self, request: int) -> None:
        """Kill sandbox ``request`` (SIGKILL to its PID namespace or process)."""
        try:
            with self._lock:
                self._socket.send(json.dumps({"kill": request}).encode())
        except OSError:
            pass

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        """The exit status of sandbox ``pid`` once the zygote reaped it."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or self._closed, timeout=timeout)
            return self._exits.pop(pid, None)

    def close(self) -> None:
        """Stop the zygote; the kernel ends every sandbox still running with it (bubblewrap)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        self._socket.close()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
