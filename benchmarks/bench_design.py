"""Training time of the interpretable-by-design models against the ordinary zoo model (issue 19).

The issue's target: each of the four models of lesson 15 (concept bottleneck — independent,
sequential and joint are three trainings —, prototype network, interpretable CNN) trains on
an8flower single-6c within 3x the ordinary zoo model's training time, with a progress bar and
the zoo's cache. Every model is trained from scratch into a fresh, temporary cache (so nothing
is loaded) on the same data, with the zoo recipe's epochs, batch size and learning rate; the
data are generated before the clocks start. The ordinary model is trained first: the prototype
network starts from its trained backbone (as ProtoPNet starts from a pretrained one), so its
row is the prototype training alone (warm-up, joint epochs, push, last layer).

Printed per model: wall seconds, process CPU seconds (user + system of all threads: on a shared
machine the CPU time stays close to the work done while the wall time grows with the load), and
the ratio of CPU seconds to the ordinary model's.

Run: ``nice .venv/bin/python benchmarks/bench_design.py [--fast] [--names ordinary joint ...]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

TARGET_RATIO = 3.0  # the issue: within 3x the ordinary model's training time
NAMES = ("ordinary", "independent", "sequential", "joint", "prototypes", "interpretable")


def _trainers(fast: bool, progress: bool) -> dict:
    from xaikit.models import train_bottleneck, zoo
    from xaikit.models.interpretable_cnn import train_interpretable_cnn

    def protopnet():
        from xaikit.models.protopnet import train_protopnet

        return train_protopnet(fast=fast, progress=progress)

    def bottleneck(mode: str):
        return lambda: train_bottleneck(mode, fast=fast, progress=progress)

    return {"ordinary": lambda: zoo("an8flower-single-6c", fast=fast, retrain=True,
                                    progress=progress),
            **{mode: bottleneck(mode) for mode in ("independent", "sequential", "joint")},
            "prototypes": protopnet,
            "interpretable": lambda: train_interpretable_cnn(fast=fast, progress=progress)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the zoo's fast recipe and data")
    parser.add_argument("--names", nargs="*", default=list(NAMES), choices=NAMES)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args()
    os.environ["XAIKIT_CACHE"] = tempfile.mkdtemp(prefix="xaikit-bench-design-")

    from xaikit.data import load
    from xaikit.models import accuracy

    names = ["ordinary"] + [n for n in args.names if n != "ordinary"]
    splits = {s: load("an8flower-single-6c", split=s, fast=args.fast) for s in ("train", "test")}
    trainers = _trainers(args.fast, not args.no_progress)
    print(f"recipe: {'fast' if args.fast else 'full'}  n_train: {len(splits['train'])}  cores: "
          f"{os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  cache: "
          f"{os.environ['XAIKIT_CACHE']}")
    print(f"{'model':14s} {'wall s':>7s} {'cpu s':>7s} {'cpu ratio':>9s} {'test acc':>8s}")
    floor = None
    for name in names:
        wall, cpu = time.perf_counter(), time.process_time()
        model = trainers[name]()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        floor = cpu if floor is None else floor
        outputs = model.predict(splits["test"].images, verbose=0)
        scores = outputs[1] if isinstance(outputs, list) else outputs
        measured = float((scores.argmax(axis=1) == splits["test"].labels).mean()) \
            if name != "ordinary" else accuracy(model, splits["test"])
        verdict = "" if name == "ordinary" else (
            "  within 3x" if cpu <= TARGET_RATIO * floor else "  OVER 3x")
        print(f"{name:14s} {wall:7.1f} {cpu:7.1f} {cpu / floor:9.2f} {measured:8.3f}{verdict}"
              f"  (load avg {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
