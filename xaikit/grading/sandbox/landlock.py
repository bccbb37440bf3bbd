"""Linux Landlock (5.13+): the file-system confinement of the fallback backend.

Landlock restricts the calling thread and the threads and processes it creates *afterwards*,
never threads that already exist.  The fallback backend therefore applies it in a process forked
from the zygote (a fork has exactly one thread) before anything in it can start a thread: before
the cases are unpickled, before TensorFlow runs an op, before the student's code.

The rules: read (files and directories) only beneath ``read`` paths, list (but not read)
``list_only`` folders, write nowhere but the files in ``write``, execute nothing; with ABI 4+ no TCP
bind or connect; with ABI 6+ no signals to processes outside the domain and no abstract UNIX
sockets outside it.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Sequence

from xaikit.base.messages import message

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # same on x86-64 and aarch64
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8


def abi() -> int:
    """The kernel's Landlock ABI version (0 when Landlock is unavailable)."""
    if not sys.platform.startswith("linux") or os.uname().machine not in ("x86_64", "aarch64"):
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return 0
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_size_t(0),
                           ctypes.c_uint32(1))
    return max(int(version), 0)


def restrict(read: Sequence[str], write: Sequence[str], list_only: Sequence[str] = ()) -> int:
    """Restrict this thread (and everything it starts later); returns the ABI used.

    Raises
    ------
    OSError
        When Landlock is unavailable or refuses the ruleset.
    """
    version = abi()
    if version < 1:
        raise OSError(message("sandbox_kernel", call="landlock (unavailable)"))
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    handled = (1 << 13) - 1
    for minimum, bit in ((2, 13), (3, 14), (5, 15)):  # REFER, TRUNCATE, IOCTL_DEV
        if version >= minimum:
            handled |= 1 << bit

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64),
                    ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(handled, 3 if version >= 4 else 0, 3 if version >= 6 else 0)
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    ruleset = syscall(ctypes.c_long(_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                      ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), message("sandbox_kernel", call="landlock_create_ruleset"))
    file_write = _WRITE_FILE | (1 << 14 if version >= 3 else 0)
    try:
        for paths, directory_rights, file_rights in (
                (read, _READ_FILE | _READ_DIR, _READ_FILE), (list_only, _READ_DIR, 0),
                (write, 0, file_write)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    rights = directory_rights if os.path.isdir(path) else file_rights
                    if not rights:
                        continue
                    rule = PathBeneath(rights, fd)
                    if syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(1),
                               ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                        raise OSError(ctypes.get_errno(), message("sandbox_kernel", call=f"landlock_add_rule({path})"))
                finally:
                    os.close(fd)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), message("sandbox_kernel", call="prctl(PR_SET_NO_NEW_PRIVS)"))
        if syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), message("sandbox_kernel", call="landlock_restrict_self"))
    finally:
        os.close(ruleset)
    return version
