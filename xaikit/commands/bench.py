"""``xaikit bench``: run the benchmark scripts in ``benchmarks/`` and show what they print."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HELP = "run the benchmarks in benchmarks/ (ratios against the floor and against peers)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="benchmark script names (e.g. gradients for "
                             "benchmarks/bench_gradients.py or gradients.py); default: all")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--dir", default="benchmarks", metavar="DIR",
                        help="folder of benchmark scripts (default: %(default)s)")


def _scripts(folder: Path) -> dict[str, Path]:
    scripts = {}
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            scripts[path.stem.removeprefix("bench_")] = path
    return scripts


def run(args: argparse.Namespace) -> int:
    folder = Path(args.dir)
    if not folder.is_dir():
        print(f"xaikit bench: error: no benchmarks folder {folder} (run from the kit's root)",
              file=sys.stderr)
        return 2
    scripts = _scripts(folder)
    if args.list:
        print("\n".join(f"{name}  ({path})" for name, path in scripts.items()) or "no benchmarks")
        return 0
    unknown = [name for name in args.names if name.removesuffix(".py").removeprefix("bench_")
               not in scripts]
    if unknown:
        print(f"xaikit bench: error: unknown benchmark {', '.join(unknown)} (available: "
              f"{', '.join(scripts) or 'none'})", file=sys.stderr)
        return 2
    chosen = [n.removesuffix(".py").removeprefix("bench_") for n in args.names] or list(scripts)
    failed = []
    for name in chosen:
        print(f"== benchmark {name} ({scripts[name]})", flush=True)
        if subprocess.run([sys.executable, str(scripts[name])], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"xaikit bench: error: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
