"""The ``xaikit`` command line: one subcommand per module in :mod:`xaikit.commands`.

A command module ``xaikit/commands/<name>.py`` exposes ``HELP: str`` (one line),
``configure(parser)`` (adds its arguments) and ``run(args) -> int`` (the exit status).  Command
modules import nothing heavy at module level, so ``xaikit --help`` starts instantly; TensorFlow
is imported inside ``run()`` when a command needs it.  A missing command file is simply not listed.

Errors are one line on stderr, ``xaikit <command>: error: ...``, with exit status 2 for bad usage
and 1 for a failure; ``XAIKIT_DEBUG=1`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

import xaikit

__all__ = ["main", "discover_commands", "build_parser"]

_DESCRIPTION = """\
xaikit: a Keras 3 course and reproduction kit for explainable AI on CNNs.

Lessons live in lessons/NN_topic.py; `xaikit reproduce` runs them and writes the executed
notebooks, their figures and summary.md.  Run `xaikit COMMAND --help` for a command's options."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def discover_commands() -> dict[str, ModuleType | str]:
    """Command name -> module (or the import error text of a broken command module)."""
    package = importlib.import_module("xaikit.commands")
    commands: dict[str, ModuleType | str] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"xaikit.commands.{info.name}")
        except Exception as error:  # one broken command must not break the others
            commands[info.name] = f"{type(error).__name__}: {error}"
            continue
        if all(hasattr(module, attr) for attr in ("HELP", "configure", "run")):
            commands[info.name] = module
    return commands


def build_parser(commands: dict[str, ModuleType | str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="xaikit", description=_DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"xaikit {xaikit.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                parser_class=_Parser)
    for name, module in commands.items():
        if isinstance(module, str):
            sub.add_parser(name, help=f"(unavailable: {module})")
            continue
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP,
                                        formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = discover_commands()
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        names = ", ".join(commands) or "none"
        print(f"xaikit: error: unknown command '{argv[0]}' (available: {names}; see "
              "'xaikit --help')", file=sys.stderr)
        return 2
    parser = build_parser(commands)
    args, extra = parser.parse_known_args(argv)
    if extra:
        prog = f"xaikit {args.command}" if args.command else "xaikit"
        print(f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see '{prog} --help')",
              file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 0
    module = commands[args.command]
    if isinstance(module, str):
        print(f"xaikit {args.command}: error: this command failed to load ({module})",
              file=sys.stderr)
        return 1
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"xaikit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("XAIKIT_DEBUG"):
            raise
        status = 2 if isinstance(error, (ValueError, TypeError, LookupError)) else 1
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"xaikit {args.command}: error: {first or type(error).__name__} "
              "(XAIKIT_DEBUG=1 shows the traceback)", file=sys.stderr)
        return status


if __name__ == "__main__":
    raise SystemExit(main())
