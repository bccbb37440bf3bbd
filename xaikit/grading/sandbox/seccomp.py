"""A seccomp filter for the sandbox: one process, no sockets, no namespaces, signals to itself only.

Installed by the sandboxed process itself right before the student's code, with
``SECCOMP_FILTER_FLAG_TSYNC`` (so it covers every thread that exists, and every thread created
later inherits it).  What it refuses, with ``EPERM`` unless noted:

- creating a *process* (``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``; ``clone3`` answers
  ``ENOSYS`` so that glibc falls back to ``clone`` for threads, which stay allowed), running a
  program (``execve``), creating namespaces;
- sockets of any family (``socket``, ``socketpair``) and ``io_uring`` (whose operations bypass
  seccomp);
- signals to any process but itself (``kill``, ``tgkill``, ... unless the target is its own pid),
  pidfds, ``ptrace`` and reading or writing other processes' memory;
- clearing its parent-death signal (``prctl(PR_SET_PDEATHSIG)``), mounting, ``chroot``, kernel modules, ``kexec``, ``bpf``, ``perf_event_open``, keyrings and the
  other administration calls a student's function never needs.

A syscall from a foreign ABI (x32 on x86-64, or another architecture) kills the process.
"""

from __future__ import annotations

import ctypes
import os
import struct

from xaikit.base.messages import message

# classic BPF
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_ERRNO, _RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
_EPERM, _ENOSYS = 1, 38
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (little-endian low word of arg 0)

CLONE_THREAD = 0x00010000
_PR_SET_PDEATHSIG = 1
CLONE_NAMESPACES = 0x7E020000  # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET

# (audit arch, x32 bit or 0, syscall numbers) per machine
_ARCHES = {
    "x86_64": (0xC000003E, 0x40000000, {
        "clone": 56, "clone3": 435, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
        "socket": 41, "socketpair": 53, "kill": 62, "tkill": 200, "tgkill": 234,
        "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "pidfd_send_signal": 424,
        "pidfd_open": 434, "pidfd_getfd": 438, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "kcmp": 312, "unshare": 272, "setns": 308, "mount": 165,
        "umount2": 166, "pivot_root": 155, "chroot": 161, "kexec_load": 246,
        "kexec_file_load": 320, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "keyctl": 250, "add_key": 248, "request_key": 249, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304,
        "name_to_handle_at": 303, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "move_mount": 429, "open_tree": 428, "fspick": 433, "mount_setattr": 442, "swapon": 167,
        "swapoff": 168, "reboot": 169, "acct": 163, "syslog": 103, "quotactl": 179, "iopl": 172,
        "ioperm": 173, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "seccomp": 317, "prctl": 157}),
    "aarch64": (0xC00000B7, 0, {
        "clone": 220, "clone3": 435, "execve": 221, "execveat": 281, "socket": 198,
        "socketpair": 199, "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240, "pidfd_send_signal": 424, "pidfd_open": 434,
        "pidfd_getfd": 438, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "kcmp": 272, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "chroot": 51, "kexec_load": 104, "kexec_file_load": 294, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
        "request_key": 218, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "move_mount": 429, "open_tree": 428, "fspick": 433,
        "mount_setattr": 442, "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89,
        "syslog": 116, "quotactl": 60, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "seccomp": 277, "prctl": 167}),
}
_SIGNALS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
_DENIED = ("fork", "vfork", "execve", "execveat", "socket", "socketpair", "pidfd_send_signal",
           "pidfd_open", "pidfd_getfd", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
           "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "kexec_load",
           "kexec_file_load", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key",
           "request_key", "init_module", "finit_module", "delete_module", "open_by_handle_at",
           "name_to_handle_at", "fsopen", "fsconfig", "fsmount", "move_mount", "open_tree",
           "fspick", "mount_setattr", "swapon", "swapoff", "reboot", "acct", "syslog", "quotactl",
           "iopl", "ioperm", "io_uring_setup", "io_uring_enter", "io_uring_register")


def supported() -> bool:
    """Whether this machine can install the filter (Linux on x86-64 or aarch64 with seccomp)."""
    if os.uname().machine not in _ARCHES:
        return False
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return any(line.startswith("Seccomp:") for line in status)
    except OSError:
        return False


def program(own_pid: int, machine: str | None = None) -> list[tuple[int, int, int, int]]:
    """The filter as classic BPF instructions ``(code, jt, jf, k)``.

    Parameters
    ----------
    own_pid : int
        The only process the sandbox may signal (its own pid, as it sees it).
    machine : str, optional
        ``os.uname().machine`` (default: this machine's).
    """
    audit_arch, x32_bit, numbers = _ARCHES[machine or os.uname().machine]
    code: list[tuple[int, str | int, str | int, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH), (_JEQ, 0, "kill", audit_arch), (_LD_W_ABS, 0, 0, _NR)]
    if x32_bit:
        code.append((_JGE, "kill", 0, x32_bit))
    code += [(_JEQ, "clone", 0, numbers["clone"]), (_JEQ, "enosys", 0, numbers["clone3"]),
             (_JEQ, "prctl", 0, numbers["prctl"])]
    code += [(_JEQ, "signal", 0, numbers[name]) for name in _SIGNALS]
    code += [(_JEQ, "eperm", 0, numbers[name]) for name in _DENIED if name in numbers]
    code.append((_RET, 0, 0, _RET_ALLOW))
    labels = {"clone": len(code)}
    code += [(_LD_W_ABS, 0, 0, _ARG0), (_JSET, "eperm", 0, CLONE_NAMESPACES),
             (_JSET, "allow", "eperm", CLONE_THREAD)]
    labels["prctl"] = len(code)
    code += [(_LD_W_ABS, 0, 0, _ARG0), (_JEQ, "eperm", "allow", _PR_SET_PDEATHSIG)]
    labels["signal"] = len(code)
    code += [(_LD_W_ABS, 0, 0, _ARG0), (_JEQ, "allow", "eperm", own_pid & 0xFFFFFFFF)]
    for name, value in (("allow", _RET_ALLOW), ("eperm", _RET_ERRNO | _EPERM),
                        ("enosys", _RET_ERRNO | _ENOSYS), ("kill", _RET_KILL_PROCESS)):
        labels[name] = len(code)
        code.append((_RET, 0, 0, value))

    def offset(target: str | int, index: int) -> int:
        if isinstance(target, int):
            return target
        jump = labels[target] - index - 1
        if not 0 <= jump < 256:
            raise AssertionError(f"seccomp jump to {target} out of range ({jump})")
        return jump

    return [(op, offset(jt, i), offset(jf, i), k) for i, (op, jt, jf, k) in enumerate(code)]


def install(own_pid: int | None = None) -> None:
    """Install the filter on this process (all threads); raises OSError when the kernel refuses.

    Sets ``PR_SET_NO_NEW_PRIVS`` first (required without ``CAP_SYS_ADMIN``, and wanted anyway).
    """
    instructions = program(os.getpid() if own_pid is None else own_pid)
    raw = b"".join(struct.pack("=HBBI", *instruction) for instruction in instructions)
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), message("sandbox_kernel", call="prctl(PR_SET_NO_NEW_PRIVS)"))
    fprog = Program(len(instructions), ctypes.addressof(buffer))
    number = _ARCHES[os.uname().machine][2]["seccomp"]
    libc.syscall.restype = ctypes.c_long
    # SECCOMP_SET_MODE_FILTER = 1, SECCOMP_FILTER_FLAG_TSYNC = 1
    if libc.syscall(ctypes.c_long(number), ctypes.c_uint(1), ctypes.c_uint(1),
                    ctypes.byref(fprog)) != 0:
        raise OSError(ctypes.get_errno(), message("sandbox_kernel", call="seccomp(SECCOMP_SET_MODE_FILTER)"))
