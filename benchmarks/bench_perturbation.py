"""Perturbation, surrogate and relevance methods against their floors, as ratios in one run.

Targets (issue 5):

- occlusion, RISE, LIME and KernelSHAP cost forward passes: each <= 1.2 x the floor of the same
  number of forward passes — the compiled, batched forward of the same model run on as many
  images, in internal batches of the same size;
- LRP and DeepLIFT <= 2 x one compiled batched forward + backward (``core.gradient_function``)
  on the same images.

**One floor per pass count.**  Each distinct number of forward passes gets its own floor job,
batched as the methods batch them (per image: ``ceil(passes / batch)`` compiled forwards of
``batch`` copies, the last one partial), timed in turn with every method of that count (floor,
method, method, floor, ...).  Scaling one 64-image floor by the pass count (as this script did before) let two floors of
the same 640 passes differ by 60 % within one run, so ratios of 0.74-0.86 were noise, not speed.

Model: the kit's ``vgg_mini`` on 64 x 64 x 3 inputs (untrained: speed does not depend on the
weights).  Every timing is the best CPU time (process time, all threads) of ``--repeats`` rounds
after one warm-up call (tracing); CPU time keeps the ratios stable on a loaded, shared machine.

Run: ``.venv/bin/python benchmarks/bench_perturbation.py [--images 2] [--repeats 5]``.
LRP and DeepLIFT run on ``--relevance-images`` (16) images, like their floor.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
from bench_attribution import interleaved_best, set_threads  # noqa: E402  (shared harness)


def cpu_times(jobs: dict, repeats: int) -> dict[str, float]:
    """Best CPU seconds (all threads of this process) of each job, the jobs timed in turn.

    CPU time rather than wall time: on a shared machine other processes stretch the wall time
    of whichever call they overlap, while the work this process does stays the same.
    """
    return {name: cpu for name, (cpu, _) in interleaved_best(jobs, repeats).items()}


def forward_floor(forward, image: np.ndarray, passes: int, batch: int, n_images: int):
    """A job running, for each of ``n_images`` images, ``passes`` compiled forwards of copies of
    ``image``, ``batch`` at a time (the methods' own batching)."""
    import tensorflow as tf

    full, last = divmod(passes, batch)
    blocks = [tf.constant(np.repeat(image[None], size, axis=0)) for size in (batch, last) if size]

    def job() -> None:
        for _ in range(n_images):
            for _ in range(full):
                forward(blocks[0]).numpy()
            if last:
                forward(blocks[-1]).numpy()

    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--relevance-images", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads (default 0: TensorFlow's choice; 1: steadier CPU "
                             "times on a loaded machine)")
    args = parser.parse_args()
    set_threads(args.threads)

    import keras

    from xaikit.attribution import deeplift, kernel_shap, lime, lrp, occlusion, rise
    from xaikit.attribution.perturbation import occlusion_boxes
    from xaikit.core import explained_model, forward_function, gradient_function
    from xaikit.models import vgg_mini

    keras.utils.set_random_seed(0)
    model = vgg_mini((64, 64, 3), 6)
    images = np.random.default_rng(0).random((args.images, 64, 64, 3), dtype=np.float32)
    batch, n = args.batch_size, args.images
    logits = explained_model(model)
    forward = forward_function(logits)

    gradient = gradient_function(logits)
    many = np.random.default_rng(1).random((args.relevance_images, 64, 64, 3), dtype=np.float32)
    weights = np.eye(6, dtype=np.float32)[np.zeros(len(many), int)]

    def backward_floor() -> None:
        for value in gradient(many, weights):
            value.numpy()

    backward_floor()  # traced here; each relevance row times it again in turn with the method

    patches = len(occlusion_boxes(64, 64, 8, 4)) + 1
    shap_segments = dict(segmentation="grid", n_segments=64, baseline="grey")
    rows = [  # (name, forward passes per image, run)
        ("occlusion (patch 8, stride 4)", patches,
         lambda: occlusion(model, images, 0, patch=8, stride=4, batch_size=batch)),
        ("rise (512 masks)", 512,
         lambda: rise(model, images, 0, n_masks=512, batch_size=batch)),
        ("lime (320 samples, 64 grid cells)", 320,
         lambda: lime(model, images, 0, n_samples=320, batch_size=batch, **shap_segments)),
        ("kernel_shap (318 + 2 coalitions)", 320,
         lambda: kernel_shap(model, images, 0, n_samples=318, batch_size=batch, **shap_segments)),
    ]
    print(f"vgg_mini 64x64x3, {n} images, internal batch {batch}; load average "
          f"{tuple(round(v, 1) for v in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"{'method':40s} {'passes':>7s} {'time s':>8s} {'floor s':>8s} {'ratio':>6s}  target")
    by_passes: dict[int, list] = {}
    for name, passes, run in rows:
        by_passes.setdefault(passes, []).append((name, run))
    for passes, methods in by_passes.items():
        jobs = {"floor": forward_floor(forward, images[0], passes, batch, n)}
        jobs |= {name: run for name, run in methods}
        times = cpu_times(jobs, args.repeats)
        for name, _ in methods:
            took, floor = times[name], times["floor"]
            print(f"{name:40s} {n * passes:7d} {took:8.3f} {floor:8.3f} {took / floor:6.2f}  "
                  "<= 1.2")
        print(f"{'  its floor: ' + str(n * passes) + ' compiled forwards':40s} {n * passes:7d} "
              f"{times['floor']:8.3f}", flush=True)
    for name, run in [("lrp (epsilon)", lambda: lrp(model, many, 0)),
                      ("lrp (zplus + zb first)", lambda: lrp(model, many, 0, rule="zplus",
                                                             rules={0: "zb"})),
                      ("deeplift (rescale)", lambda: deeplift(model, many, 0))]:
        times = cpu_times({"floor": backward_floor, "method": run}, args.repeats)
        took, floor = times["method"], times["floor"]
        print(f"{name:40s} {'':7s} {took:8.3f} {floor:8.3f} {took / floor:6.2f}  <= 2", flush=True)


if __name__ == "__main__":
    main()
