"""Which confinement this machine offers, found by trying it, and the fail-closed rule.

Each candidate backend is *probed*: a small submission is graded in it exactly like a student's,
and tries what a hostile one would (read a file outside, from the main thread and from a thread
started at import time; write outside; start a process; open TCP, UDP and UNIX sockets; signal the
grader; write past the ``/tmp`` limit).  A backend is complete when every attempt fails.  The
grader uses the first complete backend (bubblewrap, then Landlock + seccomp); when there is
none it refuses to grade, unless ``--unsafe-no-sandbox`` accepts the risk.  A second probe that
never ends checks that the sandbox is gone (SIGKILL) once its time is up.
"""

from __future__ import annotations

import os
import pickle
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from xaikit.base.messages import message
from xaikit.grading.sandbox import landlock, seccomp
from xaikit.grading.sandbox.backends import Backend, bwrap
from xaikit.grading.sandbox.kit import kit_copy
from xaikit.grading.sandbox.limits import SANDBOX_CHOICES, Limits
from xaikit.grading.sandbox.protocol import ProtocolError
from xaikit.grading.sandbox.runner import run_child
from xaikit.grading.sandbox.values import decode_value
from xaikit.grading.sandbox.zygote import Zygote

INSTALL_HINT = ("Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`, Fedora: "
                "`sudo dnf install bubblewrap`, or `bash scripts/install_sandbox.sh` from the kit) "
                "and allow user namespaces, or use a Linux kernel with Landlock (5.13+).")

ASPECTS = ("threads", "processes", "files", "network", "signals", "disk", "time")
SPIN = "def spin():\n    while True:\n        pass\n"
"""A submission that never ends: its sandbox must be gone once its time is up."""

PROBE = '''
import os, socket, threading

_go = threading.Event()
_seen = {}

def _early(canary):
    _go.wait(30)
    try:
        open(canary).read()
        _seen["read"] = True
    except OSError:
        _seen["read"] = False

_thread = None

def probe(canary, folder, grader_pid, tmp_bytes, tcp_port, udp_port, unix_path, abstract):
    global _thread
    def refused(action):
        try:
            action()
        except OSError:
            return True
        return False
    def fork():
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    def connect(family, kind, address):
        with socket.socket(family, kind) as s:
            s.settimeout(2)
            s.connect(address)
            s.send(b"x")
    def tmp():
        path = "/tmp/probe"
        with open(path, "wb") as stream:
            stream.write(b"x" * 4096)
        os.remove(path)
        stat = os.statvfs("/tmp")
        if stat.f_blocks * stat.f_frsize > tmp_bytes * 1.1:
            return
        raise OSError("limited")
    _thread = threading.Thread(target=_early, args=(canary,), daemon=True)
    _thread.start()
    box = {}
    late = threading.Thread(target=lambda: box.update(ok=refused(lambda: open(canary).read())))
    late.start(); late.join()
    _go.set(); _thread.join(30)
    return {
        "files": refused(lambda: open(canary).read()) and refused(lambda: os.listdir(folder))
                 and refused(lambda: open(os.path.join(folder, "new"), "w").write("x")),
        "threads": box.get("ok", False) and _seen.get("read") is False,
        "processes": refused(fork),
        "network": refused(lambda: connect(socket.AF_INET, socket.SOCK_STREAM,
                                           ("127.0.0.1", tcp_port)))
                   and refused(lambda: connect(socket.AF_INET, socket.SOCK_DGRAM,
                                               ("127.0.0.1", udp_port)))
                   and refused(lambda: connect(socket.AF_UNIX, socket.SOCK_STREAM, unix_path))
                   and refused(lambda: connect(socket.AF_UNIX, socket.SOCK_STREAM, abstract)),
        "signals": refused(lambda: os.kill(grader_pid, 0)) and refused(lambda: os.kill(-1, 0)),
        "disk": refused(tmp),
    }
'''


class SandboxRefused(ValueError):
    """The grader refuses to run students' code without complete confinement."""


@dataclass(frozen=True)
class Confinement:
    """What one backend confined when probed.

    Attributes
    ----------
    backend : Backend
        The backend.
    checks : tuple of (aspect, confined)
        The probe's findings for each of :data:`ASPECTS`.
    error : str
        Why the backend could not run at all ('' when it ran).
    """

    backend: Backend
    checks: tuple[tuple[str, bool], ...] = ()
    error: str = ""

    @property
    def complete(self) -> bool:
        """Every aspect confined (never true for ``none``)."""
        return (not self.error and self.backend.name != "none"
                and {aspect for aspect, ok in self.checks if ok} >= set(ASPECTS))

    @property
    def missing(self) -> list[str]:
        """The aspects it does not confine (all of them when it could not run)."""
        if self.error or self.backend.name == "none":
            return list(ASPECTS)
        confined = {aspect for aspect, ok in self.checks if ok}
        return [aspect for aspect in ASPECTS if aspect not in confined]

    def summary(self, unsafe: bool = False) -> str:
        """One line for ``grades.csv`` and the feedback (``UNSAFE`` first when unsafe)."""
        text = self.backend.label
        if self.complete:
            return text + ": threads, processes, files, network, signals, disk and time confined"
        text = f"UNSAFE (--unsafe-no-sandbox): {text}; not confined: {', '.join(self.missing)}"
        return text if unsafe else text.replace("UNSAFE (--unsafe-no-sandbox): ", "")


def candidates(choice: str = "auto") -> list[Backend]:
    """The backends to try for ``--sandbox choice``, best first.

    Raises
    ------
    ValueError
        For an unknown choice.
    """
    if choice not in SANDBOX_CHOICES:
        raise ValueError(message("sandbox_option", value=choice, allowed=", ".join(
            SANDBOX_CHOICES)))
    found = []
    if choice in ("auto", "bubblewrap"):
        if os.geteuid() == 0:
            found.append(Backend("bubblewrap", privileged=True))
        found.append(Backend("bubblewrap"))
    if choice in ("auto", "landlock"):
        found.append(Backend("landlock"))
    return found


def probe(backend: Backend, limits: Limits | None = None) -> Confinement:
    """Grade the probe submission in ``backend`` and report what it could not do."""
    if backend.name == "bubblewrap" and bwrap() is None:
        return Confinement(backend, error="bwrap is not installed")
    if backend.name == "landlock" and not (landlock.abi() >= 1 and seccomp.supported()):
        return Confinement(backend, error="this kernel has no Landlock or no seccomp")
    limits = limits or Limits(timeout=30, startup=60, memory_mb=1024)
    folder = Path(tempfile.mkdtemp(prefix="xaikit-grade-probe-"))
    listeners: list[tuple[socket.socket, object]] = []
    try:
        canary = folder / "canary.txt"
        canary.write_text(secrets.token_hex(8))
        listeners += _listeners(folder)
        case = pickle.dumps(((str(canary), str(folder), os.getpid(), limits.tmp_mb * 2**20,
                              *[address for _, address in listeners]), {}))
        with Zygote([], backend, kit_copy(), limits) as zygote:
            run = run_child({"code": PROBE, "exercises": [{"function": "probe",
                                                           "cases": [case]}]}, limits, zygote)
            spun = run_child({"code": SPIN, "exercises": [{"function": "spin", "cases": [
                pickle.dumps(((), {}))]}]}, replace(limits, timeout=1.0), zygote)
        results = [f for f in run.frames if f.header["event"] == "case_result"]
        if run.ended != "done" or not results or results[0].header["status"] != "returned":
            detail = run.detail or (results[0].header if results else run.ended)
            return Confinement(backend, error=f"the probe failed ({detail}; "
                                              f"{run.log_tail[-300:]!r})")
        found = decode_value(results[0].header["output"], results[0].payload)
        found["time"] = spun.ended == "timeout" and spun.returncode == -signal.SIGKILL
        checks = tuple((aspect, found.get(aspect) is True) for aspect in ASPECTS)
        return Confinement(backend, checks)
    except (OSError, ProtocolError, AttributeError) as error:
        return Confinement(backend, error=str(error)[:500])
    finally:
        for listener, _ in listeners:
            listener.close()
        shutil.rmtree(folder, ignore_errors=True)


def _listeners(folder: Path) -> list[tuple[socket.socket, object]]:
    """Sockets of the grader a probe must not reach: TCP, UDP, UNIX path, abstract UNIX."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(4)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(folder / "socket"))
    unix.listen(4)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = "\0xaikit-probe-" + secrets.token_hex(8)
    abstract.bind(name)
    abstract.listen(4)
    return [(tcp, tcp.getsockname()[1]), (udp, udp.getsockname()[1]),
            (unix, str(folder / "socket")), (abstract, name)]


_LOCK = threading.Lock()
_FOUND: dict[str, list[Confinement]] = {}


def survey(choice: str = "auto", every: bool = False) -> list[Confinement]:
    """Probe the candidates of ``choice`` until one is complete, or ``every`` one (cached)."""
    with _LOCK:
        found = _FOUND.setdefault(choice, [])
        tried = {c.backend for c in found}
        for backend in candidates(choice):
            if any(c.complete for c in found) and not every:
                break
            if backend not in tried:
                found.append(probe(backend))
        return list(found)


def select_confinement(limits: Limits) -> Confinement:
    """The confinement to grade with, or a refusal (fail closed).

    Returns the first complete backend of ``limits.sandbox``; without one, and with
    ``limits.unsafe_no_sandbox``, the best backend that ran (else ``none``).

    Raises
    ------
    SandboxRefused
        When nothing complete is available and the risk was not accepted.
    """
    found = survey(limits.sandbox)
    complete = [c for c in found if c.complete]
    if complete:
        return complete[0]
    if limits.unsafe_no_sandbox:
        ran = [c for c in found if not c.error]
        return ran[0] if ran else Confinement(Backend("none"))
    reasons = "; ".join(f"{c.backend.label}: " + (c.error or "does not confine "
                                                   + ", ".join(c.missing)) for c in found)
    raise SandboxRefused(message("sandbox_refused", reason=reasons or "no backend to try",
                                 install=INSTALL_HINT))


def describe_confinement(choice: str = "auto") -> str:
    """A report of what this machine offers, for ``xaikit grade --check-sandbox`` and Gradescope.

    The first line says which confinement grading uses (or that it refuses); one line per
    backend tried follows, with each aspect.
    """
    found = survey(choice, every=True)
    complete = [c for c in found if c.complete]
    lines = [f"sandbox: {complete[0].summary()}" if complete else
             "sandbox: NONE complete: the grader refuses to grade here unless "
             "--unsafe-no-sandbox is given. " + INSTALL_HINT]
    for confinement in found:
        if confinement.error:
            lines.append(f"  {confinement.backend.label}: unavailable ({confinement.error})")
            continue
        aspects = ", ".join(f"{aspect} {'yes' if ok else 'NO'}"
                            for aspect, ok in confinement.checks)
        lines.append(f"  {confinement.backend.label}: {aspects}")
    return "\n".join(lines)
