"""How the zygote is started for each backend, and what its sandboxes can see.

``bubblewrap``
    The zygote runs under ``bwrap`` in new PID, network, IPC and UTS namespaces (and a user
    namespace when the grader is not root).  Its file system holds only what is bound read-only:
    ``/usr`` and the system library folders, a few files of ``/etc``, the Python installation,
    the site-packages entries of the kit's runtime dependencies (bound one by one into
    ``/grader/site``: test-only peers such as tf-keras-vis are absent) and the kit's copy
    (:mod:`.kit`) at ``/grader/kit``.  ``solutions/``, the seed, the grades folder and the real
    package do not exist in there.  Each sandbox is then forked from the zygote and enters its
    own user, PID, mount, network, IPC and UTS namespaces (:mod:`.forkserver`).
``landlock``
    The zygote runs unconfined (it runs no student code); each sandbox, forked from it (one
    thread), applies Landlock and seccomp before anything can start a thread.
``none``
    Only resource limits: used with ``--unsafe-no-sandbox`` when nothing else is available.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from xaikit.base.messages import message

BWRAP_KIT = "/grader/kit"
BWRAP_SITE = "/grader/site"
BWRAP_HOME = "/grader/home"
UID_BASE = 2_000_000_000
"""Sandboxes of a root grader run as uid ``UID_BASE + pid`` (one uid per live sandbox)."""

_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives")
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Layout:
    """Where this process's Python lives.

    Attributes
    ----------
    python : str
        The base interpreter (the sandbox runs it with ``-I -S``: no site-packages of its own).
    stdlib : tuple of str
        The standard library folders of ``sys.path``.
    site : tuple of (name, path)
        The site-packages entries the sandbox may import: the files of the distributions the
        kit depends on at run time (not its test or docs extras).
    site_dirs : tuple of str
        Every site-packages folder of ``sys.path`` (hidden under bubblewrap, list-only under
        Landlock).
    closure : bool
        Whether ``site`` is the dependency closure (False: the kit is not an installed
        distribution, so every entry but the kit itself is allowed).
    """

    python: str
    stdlib: tuple[str, ...]
    site: tuple[tuple[str, str], ...]
    site_dirs: tuple[str, ...]
    closure: bool


def _site_dirs() -> list[str]:
    found = []
    for path in [*site.getsitepackages(), site.getusersitepackages(), *sys.path]:
        if path and ("site-packages" in path or "dist-packages" in path) and os.path.isdir(path):
            real = os.path.realpath(path)
            if real not in found:
                found.append(real)
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def layout() -> Layout:
    """This process's :class:`Layout` (computed once)."""
    from importlib import metadata

    base = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix)}
    dirs = _site_dirs()
    stdlib = tuple(os.path.realpath(p) for p in sys.path if p and os.path.exists(p)
                   and any(os.path.realpath(p).startswith(b) for b in base)
                   and os.path.realpath(p) not in dirs)
    python = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    installed: dict[str, metadata.Distribution] = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            installed.setdefault(_normalise(name), distribution)
    names: set[str] = set()
    closure = "xaikit" in installed
    if closure:
        todo = ["xaikit"]
        seen = {"xaikit"}
        while todo:
            for requirement in installed[todo.pop()].requires or []:
                head, _, marker = requirement.partition(";")
                if "extra" in marker:
                    continue
                match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", head)
                name = _normalise(match.group(1)) if match else ""
                if name in installed and name not in seen:
                    seen.add(name)
                    todo.append(name)
        for name in seen - {"xaikit"}:
            names |= _top_level(installed[name])
    entries: dict[str, str] = {}
    for directory in dirs:
        for entry in sorted(os.listdir(directory)):
            if entry in entries or entry.startswith(("xaikit", "__editable__", "_xaikit")) or \
                    entry.endswith(".pth") or entry == "__pycache__":
                continue
            if entry in names or not closure:
                entries[entry] = os.path.join(directory, entry)
    return Layout(python, stdlib, tuple(sorted(entries.items())), tuple(dirs), closure)


def _top_level(distribution: object) -> set[str]:
    """The site-packages entries (packages, modules, ``.libs``, ``.dist-info``) of a distribution."""
    files = getattr(distribution, "files", None) or []
    names = {Path(str(f)).parts[0] for f in files if Path(str(f)).parts
             and Path(str(f)).parts[0] not in ("..", "/")}
    text = distribution.read_text("top_level.txt") or ""  # type: ignore[attr-defined]
    names |= {line.strip() for line in text.splitlines() if line.strip()}
    names |= {name + ".py" for name in list(names)}
    return names


def bwrap() -> str | None:
    """The ``bwrap`` program, or None."""
    return shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None)


@dataclass(frozen=True)
class Backend:
    """One way of running the zygote.

    Attributes
    ----------
    name : str
        ``bubblewrap``, ``landlock`` or ``none``.
    privileged : bool
        bubblewrap only: started by root without a user namespace, each sandbox then runs as a
        uid of its own (so the thread limit is counted per sandbox).
    """

    name: str
    privileged: bool = False

    @property
    def label(self) -> str:
        if self.name == "bubblewrap":
            return "bubblewrap (" + ("root; one uid per sandbox" if self.privileged
                                     else "user namespaces") + ")"
        return {"landlock": "Landlock + seccomp", "none": "no sandbox"}[self.name]

    def python_path(self, kit: Path) -> list[str]:
        """``sys.path`` entries put before the standard library in the zygote."""
        if self.name == "bubblewrap":
            return [BWRAP_KIT, BWRAP_SITE]
        return [str(kit), *layout().site_dirs]

    def home(self, scratch: Path) -> str:
        """``HOME`` of the zygote (each bubblewrap sandbox gets a private ``/tmp`` of its own)."""
        return "/tmp" if self.name == "bubblewrap" else str(scratch)

    def argv(self, kit: Path, template: Path | None, hidden: list[Path]) -> list[str]:
        """The command line of the zygote (without its own arguments)."""
        boot = [layout().python, "-I", "-S", "-c", BOOT]
        if self.name != "bubblewrap":
            return boot
        return [*self._bwrap(kit, template, hidden), "--", *boot]

    def _bwrap(self, kit: Path, template: Path | None, hidden: list[Path]) -> list[str]:
        program = bwrap()
        if program is None:
            raise OSError(message("sandbox_bwrap"))
        info = layout()
        args = [program, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if self.privileged:
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                     "--cap-add", "CAP_KILL"]  # switch each sandbox's uid; kill it on time-out
        else:
            args += ["--unshare-user"]
        bound = ["/usr"]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in _ROOT_LINKS:
            path = Path("/") / name
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
                bound.append(str(path))
        for name in _ETC:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        for path in sorted({os.path.realpath(p) for p in (sys.base_prefix, *info.stdlib)}):
            if not any(_under(path, b) for b in bound):
                args += ["--ro-bind", path, path]
                bound.append(path)
        python_dir = os.path.dirname(info.python)
        if not any(_under(python_dir, b) for b in bound):
            args += ["--ro-bind", python_dir, python_dir]
            bound.append(python_dir)
        for folder in sorted({str(parent) for path in bound for parent in Path(path).parents
                              if str(parent) != "/" and not any(_under(str(parent), b)
                                                                 for b in bound)}):
            args += ["--chmod", "0755", folder]  # bwrap copies the host's modes (/root: 0700)
        for path in [*info.site_dirs, sysconfig.get_paths()["purelib"],
                     sysconfig.get_paths(vars={"base": sys.base_prefix})["purelib"], *hidden]:
            args += _hide(path, bound)
        args += ["--dir", "/grader", "--dir", BWRAP_SITE]
        for name, path in info.site:
            args += ["--ro-bind", path, f"{BWRAP_SITE}/{name}"]
        args += ["--ro-bind", str(kit), BWRAP_KIT]
        if template is not None:
            args += ["--ro-bind", str(template), BWRAP_HOME]
        args += ["--dev", "/dev", "--proc", "/proc", "--size", str(16 * 2**20), "--tmpfs", "/tmp",
                 "--remount-ro", "/", "--chdir", "/tmp"]
        return args

    def landlock_paths(self, kit: Path, home: Path) -> dict[str, list[str]]:
        """The Landlock rules of a fallback sandbox (read, list-only, write)."""
        info = layout()
        read = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix,
                                              *info.stdlib, os.path.dirname(info.python))}
        read |= {os.path.realpath(path) for _, path in info.site}
        read |= {str(kit), str(home), "/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache",
                 "/etc/localtime", "/etc/fonts", "/dev/null", "/dev/urandom", "/dev/random",
                 "/dev/zero", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/self",
                 "/sys/devices/system/cpu"}
        return {"read": sorted(p for p in read if os.path.exists(p)),
                "list": sorted(info.site_dirs), "write": ["/dev/null"]}


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _hide(path: str | Path, bound: list[str]) -> list[str]:
    """bwrap arguments covering ``path`` (a secret under a bound folder) with an empty one."""
    path = os.path.realpath(path)
    if not os.path.exists(path) or not any(_under(path, b) for b in bound):
        return []
    if os.path.isdir(path):
        return ["--tmpfs", path, "--remount-ro", path]
    return ["--ro-bind", "/dev/null", path]


BOOT = ("import json, sys; sys.path[:0] = json.loads(sys.argv[1]); "
        "from xaikit.grading.sandbox.forkserver import serve; serve(int(sys.argv[2]))")
"""The zygote's program: put the kit's copy and the allowed packages on ``sys.path``, serve."""
