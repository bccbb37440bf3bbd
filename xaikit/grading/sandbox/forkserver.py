"""The zygote: a warm process that forks one sandbox per submission (trusted code, no student's).

It imports the heavy libraries once (TensorFlow's import costs 5-15 s), then on each request
forks.  A fork has a single thread, which is what lets every confinement below cover all the
threads the sandbox will ever have.  Per request, the fork (``outer``):

``bubblewrap``
    1. as root, switches to a uid of its own (``UID_BASE + pid``), so that the kernel counts its
       threads separately and it owns nothing of anybody else's;
    2. enters new user, PID, mount, network, IPC and UTS namespaces and forks the sandbox proper
       (``inner``, PID 1 of its namespace: when it ends, the kernel kills everything in it), then
       waits for it and mirrors how it ended;
    3. ``inner`` mounts a private, size-limited ``/tmp`` (its home) and ``/dev/shm``, its own
       ``/proc`` where the kernel allows it, makes ``/dev`` read-only, sets its resource limits,
       drops its capabilities and installs the seccomp filter (:mod:`.seccomp`).
``landlock`` (and ``none``)
    the fork itself is the sandbox: new session, limits, Landlock (:mod:`.landlock`), seccomp.

Then the harness (:mod:`.child`) reads the job from its pipe and runs the student's code.  The
zygote answers each request with the pids, kills a sandbox on request (SIGKILL to ``inner``: its
whole PID namespace dies) and reports each exit status.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import socket
import sys
import threading
import traceback
from typing import Any

from xaikit.base.messages import message
from xaikit.grading.sandbox.backends import BWRAP_HOME, UID_BASE

_NAMESPACES = 0x10000000 | 0x20000 | 0x20000000 | 0x40000000 | 0x8000000 | 0x4000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP = 1, 4, 24

_libc = ctypes.CDLL(None, use_errno=True)


def serve(control_fd: int) -> None:
    """The zygote's loop (see the module docstring); never returns."""
    control = socket.socket(fileno=control_fd)
    config = json.loads(control.recv(1 << 20))
    send_lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        with send_lock:
            control.send(json.dumps(message).encode())

    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the grader
    _copy_home(config.get("template"), os.environ.get("HOME", "/tmp"))
    import importlib

    for name in ["numpy", "xaikit.exercises", *config.get("preload", [])]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the sandbox reports a failing import itself
            pass
    live: dict[int, tuple[int, int]] = {}  # request -> (outer pid, inner pid)
    lock = threading.Lock()

    def reaper() -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                threading.Event().wait(0.05)
                continue
            if info is None:
                continue
            with lock:
                for request, (outer, _) in list(live.items()):
                    if outer == info.si_pid:
                        del live[request]
                _, status = os.waitpid(info.si_pid, 0)
            send({"exited": info.si_pid, "status": os.waitstatus_to_exitcode(status)})

    threading.Thread(target=reaper, daemon=True).start()
    send({"ready": True, "pid": os.getpid()})
    while True:
        data, fds, _, _ = socket.recv_fds(control, 1 << 16, 3)
        if not data:
            os._exit(0)
        request = json.loads(data)
        if "kill" in request:
            with lock:
                pids = live.get(request["kill"], ())
                for pid in reversed(pids):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
            continue
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            send({"request": request["request"], "error": "expected three pipes"})
            continue
        report_read, report_write = os.pipe()
        with lock:
            pid = os.fork()
            if pid == 0:
                os.close(report_read)
                _outer(config, request, fds, report_write)
            live[request["request"]] = (pid, pid)
        for fd in (*fds, report_write):
            os.close(fd)
        send({"request": request["request"], "pid": pid})
        threading.Thread(target=_learn_inner, args=(report_read, request["request"], pid, live,
                                                    lock), daemon=True).start()


def _learn_inner(fd: int, request: int, outer: int, live: dict[int, tuple[int, int]],
                 lock: threading.Lock) -> None:
    """Record the pid of the sandbox proper (PID 1 of its namespace), which ``outer`` reports."""
    data = b""
    while select.select([fd], [], [], 30)[0]:
        chunk = os.read(fd, 32)
        if not chunk:
            break
        data += chunk
    os.close(fd)
    with lock:
        if data.strip().isdigit() and live.get(request) == (outer, outer):
            live[request] = (outer, int(data))


def _copy_home(template: str | None, home: str) -> None:
    """Copy the prepared home folder (matplotlib's font cache) into ``home``."""
    source = BWRAP_HOME if template == "bwrap" else template
    if source and os.path.isdir(source):
        shutil.copytree(source, home, dirs_exist_ok=True)


def _close_fds(keep: set[int]) -> None:
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = list(range(3, 4096))
    for fd in open_fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, message("sandbox_kernel", call=what))


def _outer(config: dict[str, Any], request: dict[str, Any], fds: list[int], report: int) -> None:
    """The forked process: confine, run or start the sandbox; never returns."""
    code = 70
    try:
        _close_fds({*fds, report})
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(number, signal.SIG_DFL)
        os.setsid()
        if config["backend"] != "bubblewrap":
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the zygote
            os.write(report, str(os.getpid()).encode())
            os.close(report)
            _inner(config, request, fds)
        if config.get("privileged"):
            uid = UID_BASE + os.getpid()
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            _libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # to write our own uid_map below
        uid, gid = os.geteuid(), os.getegid()
        _check(_libc.unshare(_NAMESPACES), "unshare")
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"),
                           ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as stream:
                stream.write(text)
        inner = os.fork()
        if inner == 0:
            os.close(report)
            _inner(config, request, fds)
        os.write(report, str(inner).encode())
        _close_fds(set())
        _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        _, status = os.waitpid(inner, 0)
        if os.WIFSIGNALED(status):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
            code = 128 + os.WTERMSIG(status)
        else:
            code = os.WEXITSTATUS(status)
    except BaseException:  # noqa: BLE001 - report to the instructor's log, exit quietly
        _log_failure(fds)
    os._exit(code)


def _inner(config: dict[str, Any], request: dict[str, Any], fds: list[int]) -> None:
    """The sandbox proper: finish the confinement, then run the harness; never returns."""
    result_fd, log_fd, job_fd = fds
    code = 71
    try:
        if config["backend"] == "bubblewrap":
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with ``outer``
            _private_mounts(request["limits"]["tmp_mb"])
            _copy_home(config.get("template"), "/tmp")
            os.chdir("/tmp")
        else:
            os.chdir(os.environ["HOME"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        for fd in (null, log_fd):
            os.close(fd)
        from xaikit.grading.sandbox.limits import apply_rlimits

        apply_rlimits(request["limits"], int(request["n_exercises"]))
        _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
        _drop_capabilities()
        if config["backend"] == "landlock":
            from xaikit.grading.sandbox import landlock

            rules = config["landlock"]
            landlock.restrict(rules["read"], rules["write"], rules["list"])
        if config["backend"] != "none":
            from xaikit.grading.sandbox import seccomp

            seccomp.install()
        from xaikit.grading.sandbox.child import run

        run(job_fd, result_fd)
        code = 0
    except BaseException:  # noqa: BLE001 - report to the instructor's log
        traceback.print_exc()
    os._exit(code)


def _private_mounts(tmp_mb: int) -> None:
    """Private ``/tmp`` and ``/dev/shm``, read-only ``/dev``, own ``/proc`` (bubblewrap)."""
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make mounts private")
    _check(_libc.mount(None, b"/dev", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY
                       | _mount_flags("/dev"), None), "remount /dev read-only")
    for target, size in ((b"/tmp", tmp_mb), (b"/dev/shm", 1)):
        options = f"size={max(int(size), 1)}m,mode=1777,nr_inodes=4096".encode()
        _check(_libc.mount(b"tmpfs", target, b"tmpfs", _MS_NOSUID | _MS_NODEV, options),
               f"mount a private {target.decode()}")
    _libc.mount(b"proc", b"/proc", b"proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    _libc.sethostname(b"sandbox", 7)


def _mount_flags(path: str) -> int:
    """The flags of the mount at ``path`` that a remount must keep (the kernel locks them)."""
    flags = os.statvfs(path).f_flag
    kept = flags & (_MS_NOSUID | _MS_NODEV | _MS_NOEXEC | 1024 | 2048)  # + NOATIME, NODIRATIME
    if flags & 4096:  # ST_RELATIME
        kept |= 1 << 21
    elif not flags & 1024:
        kept |= 1 << 24  # MS_STRICTATIME
    return kept


def _drop_capabilities() -> None:
    """Give up every capability (those of the sandbox's own user namespace included)."""
    for capability in range(64):
        _libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _check(_libc.capset(ctypes.byref(Header(0x20080522, 0)), ctypes.byref((Data * 2)())),
           "capset")


def _log_failure(fds: list[int]) -> None:
    try:
        os.write(fds[1], traceback.format_exc().encode()[-4000:])
    except (OSError, IndexError):
        pass


if __name__ == "__main__":  # pragma: no cover - started through backends.BOOT
    sys.exit("start the zygote through xaikit.grading.sandbox.zygote.Zygote")
