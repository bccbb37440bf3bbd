"""Train every zoo model with its recipe and print wall time, CPU time and test accuracy (issue 3).

Each entry is trained from scratch (``zoo(name, retrain=True)``) into the cache, so afterwards the
cache holds the models just measured. Data generation is timed separately (``xaikit.data.load``
of the train/val/test splits, cached in memory before training starts), so "train s" is the
training alone: build, fit with early stopping, test accuracy, atomic save.

Besides wall seconds the script prints the process CPU seconds: on a machine shared with other
jobs the wall time grows with the load while the CPU time stays close to what an idle machine
needs (on 2 cores an idle run takes about CPU / 2 to CPU / 1.6 wall seconds).

Run: ``.venv/bin/python benchmarks/bench_zoo.py [--fast] [--names digits shapes ...]``.
The issue's budget: each full recipe <= 2 minutes on 2 cores; stated accuracies in ``ZOO``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the reduced (fast) recipes")
    parser.add_argument("--names", nargs="*", default=None, help="zoo entries (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = parser.parse_args()

    from xaikit.data import load
    from xaikit.models import ZOO, accuracy, cache_dir, zoo, zoo_info

    names = args.names or list(ZOO)
    print(f"cache: {cache_dir()}  recipes: {'fast' if args.fast else 'full'}  cores: {os.cpu_count()}"
          f"  load average: {os.getloadavg()[0]:.1f}")
    header = f"{'model':22s} {'arch':10s} {'n_train':>7s} {'data s':>7s} {'train s':>8s} {'cpu s':>7s} " \
             f"{'epochs':>6s} {'test acc':>8s} {'stated':>6s}"
    print(header)
    rows = []
    for name in names:
        start = time.perf_counter()
        splits = [load(ZOO[name].dataset, split=s, fast=args.fast) for s in ("train", "val", "test")]
        data_s = time.perf_counter() - start
        wall, cpu = time.perf_counter(), time.process_time()
        model = zoo(name, fast=args.fast, retrain=True, progress=not args.no_progress)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        info = zoo_info(name, fast=args.fast)
        measured = accuracy(model, splits[2])
        rows.append((name, wall, measured, info["stated_accuracy"]))
        print(f"{name:22s} {info['arch']:10s} {len(splits[0]):7d} {data_s:7.1f} {wall:8.1f} {cpu:7.1f} "
              f"{info['epochs_run']:6d} {measured:8.4f} {info['stated_accuracy']:6.2f}  "
              f"(load avg {os.getloadavg()[0]:.1f})", flush=True)
    below = [r[0] for r in rows if r[2] < r[3]]
    print("all stated accuracies reached" if not below else f"below the stated accuracy: {below}")


if __name__ == "__main__":
    main()
