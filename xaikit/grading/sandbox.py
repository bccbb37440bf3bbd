"""Running one submission in an isolated child process, and reading back its raw outputs.

Threat model
------------
The student's code runs in the child with the harness (this module's :func:`child_main`), in
the same interpreter, so it can read and patch anything the harness holds.  Therefore the child
holds nothing worth stealing: it receives the submission's code and the *inputs* of the cases,
never the seed, the reference solutions or the expected outputs, and it sends back only the
*raw outputs* of the student's functions.  Scores are computed in the parent with the exercise's
``compare``.  Whatever the student patches (NumPy, TensorFlow, xaikit, the harness) can only change
its own outputs.

Isolation of the child
----------------------
- a fresh interpreter (``python -I``: no user site, no ``PYTHON*`` variables, no current
  directory on ``sys.path``) in its own session (process group), killed as a group;
- its own temporary working directory (also ``HOME`` and ``TMPDIR``), a scrubbed environment
  (only a fixed list of variables; never ``XAIKIT_GRADER_SEED``, never a path to ``solutions/``);
- limits set by ``setrlimit`` in the child before any student code: address space
  (``RLIMIT_AS``, default 4096 MiB — TensorFlow itself maps about 1.7 GiB of virtual memory and
  keeps ~0.7 GiB resident; ``MALLOC_ARENA_MAX=2`` keeps glibc from reserving 64 MiB per thread),
  file size (``RLIMIT_FSIZE``), no core dumps; the parent enforces the wall-clock timeouts;
- Linux Landlock (when the kernel has it, 5.13+): the child may *read* only the Python
  installation, the site-packages, the ``xaikit`` package folder and system libraries, may
  *write* only in its working directory, may execute no program at all, may not open TCP
  connections, may not signal or ptrace processes outside its sandbox (ABI 6+);
- a Python audit hook (PEP 578) that refuses the same things with a clear message (opening files
  outside the allowed folders, subprocesses, ``fork``/``exec``, sockets, ``ctypes``, signals to
  other processes, ``setrlimit``); on kernels without Landlock it is the only file barrier, and
  it is not a security boundary against determined code (document it to instructors);
- as root, the child drops all capabilities (so it cannot raise its hard limits).

The result channel
------------------
A pipe whose write end is inherited only by this child (``pass_fds``); frames are
``[json length, payload length, HMAC-SHA256(key, seq | json | payload)]`` followed by a JSON header
and an optional ``.npz`` payload (read with ``allow_pickle=False``).  The HMAC key is a fresh random
key per child, written to its stdin: it binds the frames to this child (another submission's
child cannot inject into this stream), and the sequence number to their order.  Inside the child
the student can of course forge frames, but a forged frame can only claim outputs for the inputs
it was given — exactly what returning them would do.  Stdout and stderr are never parsed; the
parent keeps their last few kilobytes for the instructor's log.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import io
import json
import os
import pickle
import secrets
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HEADER = struct.Struct(">QII32s")  # seq, json length, payload length, HMAC
MAX_JSON_BYTES = 1 << 20
LOG_TAIL_BYTES = 16 * 1024
PASSED_ENV = ("XAIKIT_FAST", "KERAS_BACKEND", "CUDA_VISIBLE_DEVICES")


class ProtocolError(RuntimeError):
    """A frame that is malformed, too large, out of order or not authenticated."""


# ================================================================================================
# parent side


@dataclass
class Limits:
    """Resource limits of one child.

    Attributes
    ----------
    timeout : float
        Seconds for loading the submission, and again for each exercise's cases.
    startup : float
        Seconds for the harness to start (TensorFlow import and the models of the cases).
    memory_mb : int
        Address-space limit (``RLIMIT_AS``) in MiB; 0 disables it.
    output_mb : int
        Largest output of one case, and largest file the child may write, in MiB.
    threads : int
        Threads of NumPy's BLAS and TensorFlow in each child (0: the library defaults); the
        batch sets ``cores // jobs`` so that ``--jobs`` children share the cores instead of
        fighting over them.
    """

    timeout: float = 60.0
    startup: float = 120.0
    memory_mb: int = 4096
    output_mb: int = 64
    threads: int = 0


@dataclass
class Frame:
    """One authenticated message from the child."""

    header: dict[str, Any]
    payload: bytes = b""


@dataclass
class ChildRun:
    """What the parent saw of one child: frames in order and how it ended."""

    frames: list[Frame] = field(default_factory=list)
    ended: str = "done"  # done | timeout | crashed | protocol
    detail: str = ""
    returncode: int | None = None
    log_tail: str = ""
    seconds: float = 0.0
    current: dict[str, Any] = field(default_factory=dict)  # last exercise/case started


def child_environment(workdir: Path, threads: int = 0) -> dict[str, str]:
    """The whole environment of the child: a fixed list, nothing inherited but ``PASSED_ENV``."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(workdir / ".matplotlib"),
        "KERAS_HOME": str(workdir / ".keras"),
        "XAIKIT_CACHE": str(workdir / ".cache"),
        "MALLOC_ARENA_MAX": "2",
        "XAIKIT_GRADING": "1",
    }
    env.update({name: os.environ[name] for name in PASSED_ENV if name in os.environ})
    if threads > 0:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "TF_NUM_INTRAOP_THREADS", "XAIKIT_GRADER_THREADS"):
            env[name] = str(threads)
        env["TF_NUM_INTEROP_THREADS"] = str(min(threads, 2))
    return env


class _LogTail(threading.Thread):
    """Drain the child's stdout+stderr, keeping only the last bytes (never parsed)."""

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


def _read_exact(fd: int, n: int, deadline_of: Any) -> bytes:
    chunks, got = [], 0
    while got < n:
        remaining = deadline_of()
        if remaining <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


_TEMPLATE_LOCK = threading.Lock()
_TEMPLATE: list[Path] = []


def home_template() -> Path | None:
    """A home folder copied into every child's working directory, made once per process.

    It holds matplotlib's font cache: built from scratch it takes seconds, in every child.
    """
    with _TEMPLATE_LOCK:
        if not _TEMPLATE:
            import shutil
            import tempfile

            folder = Path(tempfile.mkdtemp(prefix="xaikit-grade-home-"))
            env = child_environment(folder)
            try:
                subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"],
                               env=env, cwd=folder, timeout=300, capture_output=True)
            except (OSError, subprocess.SubprocessError):
                shutil.rmtree(folder, ignore_errors=True)
                return None
            import atexit

            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _TEMPLATE.append(folder)
        return _TEMPLATE[0]


@dataclass
class _Launched:
    """A started child: its pid (also its process group), result pipe and log stream."""

    pid: int
    read_fd: int
    log: _LogTail
    reap: Any  # () -> returncode | None, after the group was killed


def _spawn_fresh(job_dir: Path, workdir: Path, key: bytes, python: str | None,
                 threads: int) -> _Launched:
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            [python or sys.executable, "-I", "-m", "xaikit.grading.sandbox", str(job_dir),
             str(write_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), cwd=workdir, env=child_environment(workdir, threads),
            start_new_session=True,
        )
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    log = _LogTail(process.stdout)
    log.start()
    try:
        process.stdin.write(key.hex().encode() + b"\n")
        process.stdin.close()
    except OSError:
        pass

    def reap() -> int | None:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return process.returncode

    return _Launched(process.pid, read_fd, log, reap)


def run_child(job_dir: Path, job: dict[str, Any], limits: Limits,
              python: str | None = None, zygote: Zygote | None = None) -> ChildRun:
    """Run the harness on ``job`` in a fresh child process and collect its frames.

    Parameters
    ----------
    job_dir : Path
        A private folder; ``job.pkl`` is written there and ``work/`` becomes the child's
        working directory.
    job : dict
        ``code`` (str), ``preload`` (module names) and ``exercises`` (list of dicts with
        ``id``, ``function``, ``forbidden`` and ``cases``: pickled ``(args, kwargs)`` per case).
    limits : Limits
        Time, memory and output limits.
    zygote : Zygote, optional
        Fork the child from this warm process (TensorFlow already imported) instead of
        starting a new interpreter.

    Returns
    -------
    ChildRun
        Never raises for anything the child does.
    """
    workdir = job_dir / "work"
    template = home_template()
    if template is not None and not workdir.exists():
        import shutil

        shutil.copytree(template, workdir, symlinks=False)
    workdir.mkdir(parents=True, exist_ok=True)
    job = dict(job, memory_mb=limits.memory_mb, output_mb=limits.output_mb, workdir=str(workdir))
    (job_dir / "job.pkl").write_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
    key = secrets.token_bytes(32)
    start = time.monotonic()
    run = ChildRun()
    child = None
    try:
        if zygote is not None and zygote.alive():
            try:
                child = zygote.launch(job_dir, key)
            except OSError:
                child = None
        if child is None:
            child = _spawn_fresh(job_dir, workdir, key, python, limits.threads)
    except OSError as error:
        return ChildRun(ended="crashed", detail=f"the grader could not start Python ({error})")
    n_exercises = len(job["exercises"])
    deadline = start + limits.startup
    hard_deadline = start + limits.startup + limits.timeout * (n_exercises + 1) + 5
    expected_exercise = 0
    seq = 0
    max_payload = limits.output_mb * 2**20 + 2**20

    def remaining() -> float:
        return min(deadline, hard_deadline) - time.monotonic()

    try:
        while True:
            raw = _read_exact(child.read_fd, HEADER.size, remaining)
            frame_seq, json_len, payload_len, mac = HEADER.unpack(raw)
            if frame_seq != seq or json_len > MAX_JSON_BYTES or payload_len > max_payload:
                raise ProtocolError(f"bad frame header (seq {frame_seq}, sizes {json_len}, "
                                    f"{payload_len})")
            body = _read_exact(child.read_fd, json_len + payload_len, remaining)
            good = hmac.new(key, struct.pack(">Q", seq) + body, hashlib.sha256).digest()
            if not hmac.compare_digest(good, mac):
                raise ProtocolError("a message from the child failed authentication")
            seq += 1
            try:
                header = json.loads(body[:json_len].decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
                raise ProtocolError(f"unreadable message ({error})") from None
            if not isinstance(header, dict) or not isinstance(header.get("event"), str):
                raise ProtocolError("a message without an event")
            event = header["event"]
            # deadlines move only on events the parent expects, in the order it expects them
            if event == "ready":
                deadline = time.monotonic() + limits.timeout
            elif event == "exercise_start":
                if header.get("index") != expected_exercise:
                    raise ProtocolError("exercises reported out of order")
                expected_exercise += 1
                deadline = time.monotonic() + limits.timeout
                run.current = {"exercise": header["index"]}
            elif event == "case_start":
                run.current = dict(run.current, case=header.get("index"))
            run.frames.append(Frame(header, body[json_len:]))
            if event in ("done", "load_error"):
                break
    except TimeoutError:
        run.ended = "timeout"
    except EOFError:
        run.ended = "crashed"
    except ProtocolError as error:
        run.ended, run.detail = "protocol", str(error)
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        run.returncode = child.reap()
        os.close(child.read_fd)
        child.log.join(timeout=5)
        run.log_tail = child.log.tail.decode("utf-8", errors="replace")
        run.seconds = time.monotonic() - start
    if run.ended == "crashed":
        run.detail = describe_exit(run.returncode)
    return run


class Zygote:
    """A warm, trusted process with the heavy libraries imported, forking one child per run.

    TensorFlow's import costs 5-10 s (much more on a loaded machine); paying it once per batch
    instead of once per submission is most of the grader's speed.  The zygote runs no student
    code: it imports the libraries, then on each request forks; the fork applies limits and the
    lock-down and runs the harness exactly like a fresh child.  Requests and the child's pipes
    travel over a Unix socket (``SCM_RIGHTS``); the zygote reaps its children and reports their
    exit status.  Requests carry no secret but the child's own HMAC key.
    """

    def __init__(self, preload: list[str], startup: float = 300.0, threads: int = 0) -> None:
        import socket
        import tempfile

        self._lock = threading.Lock()
        self._exits: dict[int, int] = {}
        self._replies: dict[int, Any] = {}
        self._changed = threading.Condition()
        self._counter = 0
        self.home = Path(tempfile.mkdtemp(prefix="xaikit-grade-zygote-"))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket = ours
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "xaikit.grading.sandbox", "--zygote",
             str(theirs.fileno())],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),), cwd=self.home,
            env=child_environment(self.home, threads),
            start_new_session=True,
        )
        theirs.close()
        self._buffer = b""
        ours.settimeout(startup)
        try:
            ours.sendall(json.dumps({"preload": preload}).encode() + b"\n")
            hello = self._read_line()
            if not hello or json.loads(hello).get("ready") is not True:
                raise OSError("the zygote did not start")
        except (OSError, ValueError):
            self.close()
            raise
        ours.settimeout(None)
        self._reader = threading.Thread(target=self._read_replies, daemon=True)
        self._reader.start()

    def _read_line(self) -> bytes:
        while b"\n" not in self._buffer:
            chunk = self._socket.recv(65536)
            if not chunk:
                return b""
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _read_replies(self) -> None:
        while True:
            try:
                line = self._read_line()
            except OSError:
                line = b""
            with self._changed:
                if not line:
                    self._replies[-1] = "closed"
                    self._changed.notify_all()
                    return
                message = json.loads(line)
                if "exited" in message:
                    self._exits[int(message["exited"])] = int(message["status"])
                else:
                    self._replies[int(message["request"])] = message
                self._changed.notify_all()

    def alive(self) -> bool:
        """Whether the zygote still takes requests."""
        return self.process.poll() is None and -1 not in self._replies

    def launch(self, job_dir: Path, key: bytes) -> _Launched:
        """Fork a child for ``job_dir``; raises OSError when the zygote cannot."""
        import socket

        read_fd, write_fd = os.pipe()
        log_read, log_write = os.pipe()
        try:
            with self._lock:
                self._counter += 1
                request = self._counter
                message = json.dumps({"request": request, "job": str(job_dir), "key": key.hex()})
                socket.send_fds(self._socket, [message.encode() + b"\n"], [write_fd, log_write])
        except OSError:
            os.close(read_fd)
            os.close(log_read)
            raise
        finally:
            os.close(write_fd)
            os.close(log_write)
        with self._changed:
            answered = self._changed.wait_for(
                lambda: request in self._replies or -1 in self._replies, timeout=60)
            reply = self._replies.pop(request, None) if answered else None
        if not isinstance(reply, dict) or "pid" not in reply:
            os.close(read_fd)
            os.close(log_read)
            raise OSError("the zygote failed to fork")
        pid = int(reply["pid"])
        log = _LogTail(os.fdopen(log_read, "rb"))
        log.start()

        def reap() -> int | None:
            with self._changed:
                self._changed.wait_for(lambda: pid in self._exits or -1 in self._replies,
                                       timeout=10)
                return self._exits.pop(pid, None)

        return _Launched(pid, read_fd, log, reap)

    def close(self) -> None:
        """Stop the zygote (children already running are not affected)."""
        import shutil

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


def zygote_main(control_fd: int) -> None:
    """The zygote's loop (``python -I -m xaikit.grading.sandbox --zygote FD``); trusted code."""
    import importlib
    import socket

    control = socket.socket(fileno=control_fd)
    buffer = b""
    send_lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        with send_lock:
            control.sendall(json.dumps(message).encode() + b"\n")

    while b"\n" not in buffer:
        chunk = control.recv(65536)
        if not chunk:
            os._exit(0)
        buffer += chunk
    line, _, buffer = buffer.partition(b"\n")
    for name in ["numpy", "xaikit.exercises", *json.loads(line).get("preload", [])]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the child reports a failing import itself
            pass

    def reaper() -> None:
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                time.sleep(0.05)
                continue
            send({"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    threading.Thread(target=reaper, daemon=True).start()
    send({"ready": True})
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, 2)
        if not message:
            os._exit(0)
        request = json.loads(message)
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            send({"request": request.get("request"), "error": "expected two pipes"})
            continue
        pid = os.fork()
        if pid == 0:
            try:
                control.close()
                os.setsid()
                os.dup2(fds[1], 1)
                os.dup2(fds[1], 2)
                os.close(fds[1])
                job_dir = Path(request["job"])
                workdir = job_dir / "work"
                threads = int(os.environ.get("XAIKIT_GRADER_THREADS", "0"))
                os.environ.update(child_environment(workdir, threads))
                os.chdir(workdir)
                _harness(job_dir, fds[0], bytes.fromhex(request["key"]))
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        send({"request": request["request"], "pid": pid})


def describe_exit(returncode: int | None) -> str:
    """Words for how the child ended without saying goodbye."""
    if returncode is None:
        return "the Python process stopped answering"
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ \
            else str(-returncode)
        if -returncode == signal.SIGKILL:
            return "the Python process was killed (SIGKILL: usually it used more memory than allowed)"
        if -returncode == signal.SIGXFSZ:
            return "the Python process was stopped for writing a file larger than allowed"
        return f"the Python process crashed (signal {name})"
    return (f"the Python process ended early with exit code {returncode} (a call to os._exit(), "
            "or a crash in compiled code)")


# ================================================================================================
# child side


class Channel:
    """Authenticated frames to the parent over an inherited pipe."""

    def __init__(self, fd: int, key: bytes) -> None:
        self.fd = fd
        self.key = key
        self.seq = 0

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        body = json.dumps(header, default=str).encode("utf-8")
        mac = hmac.new(self.key, struct.pack(">Q", self.seq) + body + payload,
                       hashlib.sha256).digest()
        data = HEADER.pack(self.seq, len(body), len(payload), mac) + body + payload
        self.seq += 1
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class Unsupported:
    """Placeholder for an output the grader cannot transport (decoded in the parent)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


def encode_value(value: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    """Describe ``value`` as JSON, moving arrays into ``arrays`` (child side)."""
    if depth > 16:
        return {"t": "unsupported", "type": "deeply nested container"}
    if value is None or isinstance(value, (bool, str)):
        return {"t": "py", "v": value if not isinstance(value, str) else value[:10000]}
    if isinstance(value, (int, float)) and type(value) in (int, float):
        if isinstance(value, int) and abs(value) > 2**63:
            return {"t": "unsupported", "type": "int too large"}
        return {"t": "py", "v": value}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype.kind not in "biufc":
            return {"t": "unsupported", "type": f"array of dtype {array.dtype}"}
        arrays.append(np.array(array, copy=True))
        return {"t": "ndarray" if isinstance(value, np.ndarray) else "generic",
                "i": len(arrays) - 1}
    if hasattr(value, "numpy") and callable(value.numpy):
        array = np.asarray(value.numpy())
        if array.dtype.kind not in "biufc":
            return {"t": "unsupported", "type": type(value).__name__}
        arrays.append(array)
        return {"t": "ndarray", "i": len(arrays) - 1, "tensor": type(value).__name__}
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        if len(value) > 10000:
            return {"t": "unsupported", "type": f"{type(value).__name__} of {len(value)} items"}
        return {"t": type(value).__name__,
                "v": [encode_value(item, arrays, depth + 1) for item in value]}
    if type(value) is dict and all(type(k) is str for k in value) and len(value) <= 10000:
        return {"t": "dict", "v": {k: encode_value(v, arrays, depth + 1) for k, v in value.items()}}
    return {"t": "unsupported", "type": type(value).__name__}


def decode_value(spec: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """Inverse of :func:`encode_value` (parent side); never executes anything from the child."""
    if depth > 17 or not isinstance(spec, dict):
        raise ProtocolError("malformed output description")
    kind = spec.get("t")
    if kind == "py":
        value = spec.get("v")
        if value is not None and type(value) not in (bool, int, float, str):
            raise ProtocolError("malformed scalar")
        return value
    if kind in ("ndarray", "generic"):
        array = arrays.get(f"a{spec.get('i')}")
        if array is None:
            raise ProtocolError("output refers to a missing array")
        return array if kind == "ndarray" else array[()]
    if kind in ("tuple", "list"):
        items = spec.get("v")
        if not isinstance(items, list):
            raise ProtocolError("malformed sequence")
        decoded = [decode_value(item, arrays, depth + 1) for item in items]
        return tuple(decoded) if kind == "tuple" else decoded
    if kind == "dict":
        items = spec.get("v")
        if not isinstance(items, dict):
            raise ProtocolError("malformed dict")
        return {str(k): decode_value(v, arrays, depth + 1) for k, v in items.items()}
    if kind == "unsupported":
        return Unsupported(str(spec.get("type"))[:100])
    raise ProtocolError(f"unknown output kind {kind!r}")


def load_payload(payload: bytes) -> dict[str, np.ndarray]:
    """Arrays of a frame's ``.npz`` payload; refuses pickled objects."""
    if not payload:
        return {}
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as error:  # any malformed archive is the child's problem, not ours
        raise ProtocolError(f"unreadable arrays ({type(error).__name__})") from None


def _set_limits(memory_mb: int, output_mb: int) -> None:
    import resource

    def limit(which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    if memory_mb > 0:
        limit(resource.RLIMIT_AS, memory_mb * 2**20)
    limit(resource.RLIMIT_FSIZE, max(output_mb, 16) * 2**20)
    limit(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails instead of killing


def _allowed_roots(workdir: Path) -> tuple[list[str], list[str]]:
    import site

    import xaikit

    read = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable)),
            os.path.dirname(os.path.realpath(xaikit.__file__))}
    read.update(site.getsitepackages())
    for path in sys.path:  # the standard library and site-packages, not a project folder
        if path and ("site-packages" in path or path.startswith(sys.base_prefix)):
            read.add(path)
    read.update(["/usr", "/lib", "/lib64", "/lib32", "/etc", "/sys", "/dev/null", "/dev/urandom",
                 "/dev/random", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat",
                 f"/proc/{os.getpid()}"])
    read_paths = sorted({os.path.realpath(p) for p in read if os.path.exists(p)})
    write_paths = [os.path.realpath(workdir), "/dev/null"]
    return read_paths, write_paths


def _landlock(read_paths: list[str], write_paths: list[str]) -> str:
    """Restrict this process with Landlock; return a description ('' when unavailable)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return ""
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    if not sys.platform.startswith("linux") or os.uname().machine not in ("x86_64", "aarch64"):
        return ""
    abi = syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return ""
    execute, write_file, read_file, read_dir = 1, 2, 4, 8
    handled = (1 << 13) - 1
    if abi >= 2:
        handled |= 1 << 13  # REFER
    if abi >= 3:
        handled |= 1 << 14  # TRUNCATE
    if abi >= 5:
        handled |= 1 << 15  # IOCTL_DEV

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(handled, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return ""
    file_rights = write_file | read_file | (1 << 14 if abi >= 3 else 0)
    try:
        for paths, dir_rights, only_file in ((read_paths, read_file | read_dir, read_file),
                                             (write_paths, handled & ~execute, file_rights)):
            for path in paths:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    rights = dir_rights if os.path.isdir(path) else (dir_rights & only_file)
                    rule = PathBeneath(rights, fd)
                    syscall(445, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule),
                            ctypes.c_uint32(0))
                finally:
                    os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return ""
        if syscall(446, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return ""
    finally:
        os.close(ruleset)
    return f"landlock ABI {abi}"


def _drop_capabilities() -> None:
    """As root, give up every capability (so hard limits stay and no DAC override)."""
    if os.geteuid() != 0:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in range(64):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP (fails quietly past the last)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc.capset(ctypes.byref(Header(0x20080522, 0)), ctypes.byref((Data * 2)()))


def _audit_hook(read_roots: list[str], write_roots: list[str]) -> Any:
    """An audit hook enforcing the sandbox policy with clear messages (see module docstring)."""
    realpath, join, getcwd = os.path.realpath, os.path.join, os.getcwd
    fspath, own_pid = os.fspath, os.getpid()
    read_roots = tuple(read_roots)
    write_roots = tuple(write_roots)
    denied_prefixes = ("subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork",
                       "os.forkpty", "os.system", "pty.", "socket.", "ctypes.", "resource.",
                       "os.startfile", "_posixsubprocess", "os.setuid", "os.setgid",
                       "sys.remote_exec", "os.setns", "os.unshare")
    write_events = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.symlink", "os.link",
                    "os.chmod", "os.chown", "os.truncate", "os.utime", "os.chflags",
                    "os.lchflags", "os.mkfifo", "os.mknod", "shutil.rmtree", "shutil.move",
                    "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.chown"}
    read_events = {"os.listdir", "os.scandir", "glob.glob", "os.chdir"}

    def inside(path: Any, roots: tuple[str, ...]) -> bool:
        try:
            resolved = realpath(join(getcwd(), fspath(path)) if not isinstance(path, int) else "")
        except (TypeError, ValueError, OSError):
            return False
        if isinstance(resolved, bytes):
            resolved = resolved.decode("utf-8", "replace")
        return any(resolved == root or resolved.startswith(root.rstrip("/") + "/")
                   for root in roots)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if path is None or isinstance(path, int):
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            roots = write_roots if writing else read_roots + write_roots
            if not inside(path, roots):
                raise PermissionError(f"the grader's sandbox does not let your code "
                                      f"{'write' if writing else 'open'} {path!r}: only files "
                                      f"in its working directory")
        elif event in read_events:
            if args and args[0] is not None and not isinstance(args[0], int) and \
                    not inside(args[0], read_roots + write_roots):
                raise PermissionError(f"the grader's sandbox does not let your code list or "
                                      f"enter {args[0]!r}")
        elif event in write_events:
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and not inside(path, write_roots):
                    raise PermissionError(f"the grader's sandbox does not let your code change "
                                          f"{path!r}")
        elif event in ("os.kill", "os.killpg"):
            if not args or args[0] not in (own_pid, 0):
                raise PermissionError("the grader's sandbox does not let your code signal other "
                                      "processes")
        elif event.startswith(denied_prefixes):
            raise PermissionError(f"the grader's sandbox does not allow {event} (no subprocesses, "
                                  "network, ctypes or limit changes while grading)")

    return hook


def _describe_exception(error: BaseException) -> dict[str, Any]:
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if frame.filename == "submission.py"]
    where = frames[-1] if frames else None
    return {
        "type": type(error).__name__,
        "message": str(error)[:2000] if not isinstance(error, SystemExit) else repr(error.code),
        "line": where.lineno if where else None,
        "source": (where.line or "")[:200] if where else "",
    }


def child_main(argv: list[str]) -> None:
    """Entry point of the child (``python -I -m xaikit.grading.sandbox JOB_DIR FD``)."""
    if argv and argv[0] == "--zygote":
        zygote_main(int(argv[1]))
        return
    job_dir, fd = Path(argv[0]), int(argv[1])
    key = bytes.fromhex(sys.stdin.readline().strip())
    _harness(job_dir, fd, key)


def _harness(job_dir: Path, fd: int, key: bytes) -> None:
    """Load the job, lock the process down, run the student's code, send raw outputs."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    channel = Channel(fd, key)
    del key
    job = pickle.loads((job_dir / "job.pkl").read_bytes())
    _set_limits(job["memory_mb"], job["output_mb"])
    max_output = job["output_mb"] * 2**20
    workdir = Path(job["workdir"])

    # everything the harness needs is imported and warmed up before the lock-down
    import xaikit.exercises as exercises_package
    from xaikit.exercises.checking import ForbiddenCallError, _resolve, forbid

    def no_check(*args: Any, **kwargs: Any) -> None:
        return None

    exercises_package.check = no_check
    sys.modules["xaikit.exercises.checking"].check = no_check
    import importlib

    for name in job.get("preload", ()):  # trusted libraries the submission imports
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the student's own import will report it
            pass
    for exercise in job["exercises"]:
        for dotted in exercise["forbidden"]:
            try:
                _resolve(dotted)
            except ValueError:
                pass
        if exercise["cases"]:
            pickle.loads(exercise["cases"][0])  # imports keras etc. when a case holds a model
    import inspect
    import linecache

    read_roots, write_roots = _allowed_roots(workdir)
    _drop_capabilities()
    barrier = _landlock(read_roots, write_roots)
    sys.addaudithook(_audit_hook(read_roots, write_roots))
    os.chdir(workdir)
    channel.send({"event": "ready", "sandbox": barrier or "audit hook only"})

    code = job["code"]
    linecache.cache["submission.py"] = (len(code), None, code.splitlines(True), "submission.py")
    module = type(sys)("submission")
    module.__file__ = "submission.py"
    sys.modules["submission"] = module
    namespace = module.__dict__
    namespace["__builtins__"] = builtins
    try:
        exec(compile(code, "submission.py", "exec"), namespace)  # noqa: S102 - sandboxed child
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        channel.send({"event": "load_error", **_describe_exception(error)})
        os._exit(0)
    channel.send({"event": "loaded"})

    for index, exercise in enumerate(job["exercises"]):
        channel.send({"event": "exercise_start", "index": index})
        function = namespace.get(exercise["function"])
        if not callable(function):
            found = sorted(name for name, value in list(namespace.items())
                           if callable(value) and not name.startswith("_")
                           and getattr(value, "__module__", None) == "submission")
            channel.send({"event": "missing", "index": index, "defined": found[:50],
                          "kind": type(function).__name__ if function is not None else None})
            continue
        for case_index, case in enumerate(exercise["cases"]):
            channel.send({"event": "case_start", "index": case_index})
            result: dict[str, Any] = {"event": "case_result", "index": case_index}
            payload = b""
            try:
                args, kwargs = pickle.loads(case)
                try:
                    inspect.signature(function).bind(*args, **kwargs)
                except TypeError as error:
                    result.update(status="signature", message=str(error)[:500])
                    raise _Reported from None
                except ValueError:
                    pass
                globals_ = [function.__globals__] if hasattr(function, "__globals__") else []
                started = time.perf_counter()
                with forbid(exercise["forbidden"], exercise["function"], globals_) as called:
                    try:
                        value = function(*args, **kwargs)
                    finally:
                        violations = list(called)
                result["seconds"] = time.perf_counter() - started
                if violations:
                    result.update(status="forbidden", message=(
                        f"this exercise asks you to implement {exercise['function']} yourself; "
                        f"calling {violations[0]} is not allowed"))
                    raise _Reported
                arrays: list[np.ndarray] = []
                result["output"] = encode_value(value, arrays)
                if sum(array.nbytes for array in arrays) > max_output:
                    result.pop("output")
                    result.update(status="too_large", message=f"{sum(a.nbytes for a in arrays)}")
                    raise _Reported
                buffer = io.BytesIO()
                np.savez(buffer, **{f"a{i}": array for i, array in enumerate(arrays)})
                payload = buffer.getvalue()
                result["status"] = "returned"
            except _Reported:
                payload = b""
            except ForbiddenCallError as error:
                result.update(status="forbidden", message=str(error)[:500])
            except NotImplementedError:
                result.update(status="not_implemented")
            except MemoryError:
                result.update(status="memory")
            except BaseException as error:  # noqa: BLE001 - sys.exit() and friends included
                result.update(status="error", **_describe_exception(error))
            channel.send(result, payload)
    channel.send({"event": "done"})
    os._exit(0)


class _Reported(Exception):
    """Internal: the case's result is already filled in."""


if __name__ == "__main__":
    child_main(sys.argv[1:])
