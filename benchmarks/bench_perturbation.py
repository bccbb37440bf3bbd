"""Perturbation, surrogate and relevance methods against their floors, as ratios in one run.

Targets (issue 5):

- occlusion, RISE, LIME and KernelSHAP cost forward passes: each <= 1.2 x (number of forward
  passes x the per-image time of the compiled, batched forward measured here, at the same
  internal batch size);
- LRP and DeepLIFT <= 2 x one compiled batched forward + backward (``core.gradient_function``)
  on the same images.

Model: the kit's ``vgg_mini`` on 64 x 64 x 3 inputs (untrained: speed does not depend on the
weights).  Every timing is the best CPU time (process time, all threads) of ``--repeats`` runs
after one warm-up call (tracing), each method timed in turn with its floor (floor, method, floor,
method, ...) so that a change of load hits both; CPU time keeps the ratios stable on a loaded,
shared machine.

Run: ``.venv/bin/python benchmarks/bench_perturbation.py [--images 2] [--repeats 5]``.
LRP and DeepLIFT run on ``--relevance-images`` (16) images, like their floor.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
from bench_attribution import interleaved_best  # noqa: E402  (the shared harness)


def cpu_times(jobs: dict, repeats: int) -> dict[str, float]:
    """Best CPU seconds (all threads of this process) of each job, the jobs timed in turn.

    CPU time rather than wall time: on a shared machine other processes stretch the wall time
    of whichever call they overlap, while the work this process does stays the same.
    """
    return {name: cpu for name, (cpu, _) in interleaved_best(jobs, repeats).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--relevance-images", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

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
    block = np.repeat(images[:1], batch, axis=0)

    def forward_floor() -> None:
        forward(block).numpy()

    per_image = cpu_times({"floor": forward_floor}, args.repeats)["floor"] / batch

    gradient = gradient_function(logits)
    many = np.random.default_rng(1).random((args.relevance_images, 64, 64, 3), dtype=np.float32)
    weights = np.eye(6, dtype=np.float32)[np.zeros(len(many), int)]

    def backward_floor() -> None:
        for value in gradient(many, weights):
            value.numpy()

    backward = cpu_times({"floor": backward_floor}, args.repeats)["floor"]

    patches = len(occlusion_boxes(64, 64, 8, 4)) + 1
    shap_segments = dict(segmentation="grid", n_segments=64, baseline="grey")
    rows = [
        ("occlusion (patch 8, stride 4)", n * patches,
         lambda: occlusion(model, images, 0, patch=8, stride=4, batch_size=batch)),
        ("rise (512 masks)", n * 512,
         lambda: rise(model, images, 0, n_masks=512, batch_size=batch)),
        ("lime (320 samples, 64 grid cells)", n * 320,
         lambda: lime(model, images, 0, n_samples=320, batch_size=batch, **shap_segments)),
        ("kernel_shap (318 + 2 coalitions)", n * 320,
         lambda: kernel_shap(model, images, 0, n_samples=318, batch_size=batch, **shap_segments)),
    ]
    print(f"vgg_mini 64x64x3, {n} images, internal batch {batch}")
    print(f"floor: compiled batched forward {per_image * 1e3:.3f} ms/image; "
          f"forward+backward on {len(many)} images {backward * 1e3:.1f} ms")
    print(f"{'method':40s} {'passes':>7s} {'time s':>8s} {'floor s':>8s} {'ratio':>6s}  target")
    for name, passes, run in rows:
        times = cpu_times({"floor": forward_floor, "method": run}, args.repeats)
        took, floor = times["method"], passes * times["floor"] / batch
        print(f"{name:40s} {passes:7d} {took:8.3f} {floor:8.3f} {took / floor:6.2f}  <= 1.2")
    for name, run in [("lrp (epsilon)", lambda: lrp(model, many, 0)),
                      ("lrp (zplus + zb first)", lambda: lrp(model, many, 0, rule="zplus",
                                                             rules={0: "zb"})),
                      ("deeplift (rescale)", lambda: deeplift(model, many, 0))]:
        times = cpu_times({"floor": backward_floor, "method": run}, args.repeats)
        took, floor = times["method"], times["floor"]
        print(f"{name:40s} {'':7s} {took:8.3f} {floor:8.3f} {took / floor:6.2f}  <= 2")


if __name__ == "__main__":
    main()
