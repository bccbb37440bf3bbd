"""EfficientNet-Lite0 (issue 21): load time, compiled forward and forward+backward of 4 photos.

Times what a lesson pays for the offline ImageNet model: reading the legacy ``.pth`` file with
NumPy, building the Keras port and loading its weights; then a compiled forward pass and a
compiled forward+backward pass (the gradient of the logit of each photo's class w.r.t. the
image, the floor of every gradient method) on a batch of 4 photos, 224 × 224. Forward and
backward run in turn within each round (best of ``--repeats``), so a change of machine load hits
both; the ratio backward/forward is the number to budget with. Wall and process-CPU seconds are
printed: on a shared machine the wall time grows with the load while the CPU time stays close to
an idle run.

Run: ``.venv/bin/python benchmarks/bench_efficientnet.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

BATCH = 4


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (best is kept)")
    args = parser.parse_args()

    import numpy as np

    from xaikit.core import batching
    from xaikit.data import imagenet_photos
    from xaikit.models import efficientnet_lite0, logits_model
    from xaikit.models.efficientnet import weights_file
    from xaikit.models.torch_legacy import load_legacy_pth

    read = _timed(lambda: load_legacy_pth(weights_file()))
    built = {}
    build = _timed(lambda: built.setdefault("model", efficientnet_lite0()))
    model = logits_model(built["model"])
    photos = imagenet_photos()
    images = photos.images[np.arange(BATCH) % len(photos.images)]
    weights = np.eye(1000, dtype=np.float32)[photos.labels[np.arange(BATCH) % len(photos.labels)]]
    forward, gradient = batching.forward_function(model), batching.gradient_function(model)
    jobs = {"forward": lambda: forward(images).numpy(),
            "forward+backward": lambda: [t.numpy() for t in gradient(images, weights)]}
    for job in jobs.values():
        job()  # trace
    best = {name: (float("inf"), float("inf")) for name in jobs}
    for _ in range(args.repeats):
        for name, job in jobs.items():
            best[name] = min(best[name], _timed(job))
    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  batch: {BATCH} x 224 px"
          f"  best of {args.repeats} rounds")
    print(f"read .pth (NumPy): {read[1]:.2f} s wall   build + load weights: {build[1]:.2f} s wall "
          f"({build[0]:.2f} s CPU)")
    print("| pass | ms/batch CPU | ms/batch wall | ms/image wall | x forward (wall) |")
    print("| --- | --- | --- | --- | --- |")
    for name, (cpu, wall) in best.items():
        print(f"| {name} | {cpu * 1e3:.0f} | {wall * 1e3:.0f} | {wall / BATCH * 1e3:.0f} | "
              f"{wall / best['forward'][1]:.2f} |")


if __name__ == "__main__":
    main()
