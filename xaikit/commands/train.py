"""``xaikit train NAME``: train (or load from the cache) a zoo model and print its test accuracy."""

from __future__ import annotations

import argparse

from xaikit.base.names import ZOO_NAMES as _NAMES

HELP = "train a zoo model (or load it from the cache) and print its test accuracy"



def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", choices=_NAMES + ("all",),
                        help=f"zoo entry: {', '.join(_NAMES)}, or 'all'")
    parser.add_argument("--fast", action="store_true",
                        help="the reduced recipe (fewer images and epochs; own cache entry)")
    parser.add_argument("--retrain", action="store_true",
                        help="train again even if a valid cached model exists")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import time

    from xaikit.data import load
    from xaikit.models import accuracy, zoo, zoo_info

    names = _NAMES if args.name == "all" else (args.name,)
    for name in names:
        start = time.perf_counter()
        model = zoo(name, fast=args.fast, retrain=args.retrain, progress=not args.no_progress)
        seconds = time.perf_counter() - start
        info = zoo_info(name, fast=args.fast)
        test = load(name, split="test", fast=args.fast)
        measured = accuracy(model, test)
        mode = "fast" if args.fast else "full"
        print(f"{name} ({mode} recipe, {info['arch']}): test accuracy {measured:.4f} on "
              f"{len(test)} images (stated >= {info['stated_accuracy']:.2f}); "
              f"trained in {info.get('train_seconds')} s, this call {seconds:.1f} s; "
              f"cached at {info['path']}")
    return 0
