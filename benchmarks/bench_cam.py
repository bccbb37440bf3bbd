"""Speed of the CAM family against the compute floor and against tf-keras-vis (issue 4).

Two settings, as the issue asks: the an8flower zoo architecture (``vgg_mini``, stem stride 2) at
112 px with a batch of 16, and ``keras.applications.VGG16(weights=None)`` at 224 px with a batch of
4. Weights do not change the cost, so the models are not trained; both end in linear logits, so
tf-keras-vis and xaikit explain the same scores with the same model object.

Floors, measured in the same run and the same process:

- gradient floor: one compiled, batched forward+backward (dS/dx of the logits) per batch, from
  the shared harness ``benchmarks/bench_attribution.py`` (``floor_per_sample``) — the
  target for ``cam`` (forward only), ``grad_cam``, ``grad_cam_pp``, ``layer_cam`` (≤ 1.2×);
  ``guided_grad_cam`` needs two backward passes (guided backprop and Grad-CAM): compared with
  2 × floor;
- forward floor: one compiled, batched forward pass per batch; Score-CAM with K channels costs
  N·K masked forward passes, compared with K compiled forward passes of the batch, timed right
  before Score-CAM so that both see the same machine load (≤ 1.2×).

Then tf-keras-vis 0.8.7 ``Gradcam`` and ``Scorecam`` on the same functional model, inputs and
targets (≥ 2× slower expected). Every time is the best of ``--repeats`` runs after a warm-up
call (tracing excluded), as process CPU seconds (robust to other processes on a shared machine;
wall seconds are printed too). Explicit targets are passed, so no extra forward pass picks the
predicted class.

Run: ``.venv/bin/python benchmarks/bench_cam.py [--repeats 3] [--skip-vgg16] [--vgg16-scorecam]``.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
from bench_attribution import best_time, floor_per_sample  # noqa: E402  (the shared harness)


def forward_floor(model, images, targets, repeats: int, times: int = 1) -> tuple[float, float]:
    """(CPU, wall) seconds of ``times`` compiled batched forward passes of the explained model."""
    from xaikit.core import batching, resolve

    resolved = resolve(model, images, targets, batch_size=len(images))
    forward = batching.forward_function(resolved.model)
    return best_time(lambda: [forward(resolved.images).numpy() for _ in range(times)], repeats)


def floors(model, images, targets, repeats: int) -> dict[str, tuple[float, float]]:
    """(CPU, wall) seconds per batch: the harness's gradient floor, and one compiled forward."""
    per_sample = floor_per_sample(model, images, np.asarray(targets), repeats)
    return {
        "gradient": (per_sample[0] * len(images), per_sample[1] * len(images)),
        "forward": forward_floor(model, images, targets, repeats),
    }


def bench(label: str, model, images, targets, *, layer: str, repeats: int,
          scorecam: bool, gap_head: bool) -> list[dict]:
    """Time the CAM family and tf-keras-vis on one model; return rows of ratios.

    ``cam`` only runs on a GAP + dense head (``gap_head``); VGG16 has a flatten + dense head.
    """
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    from xaikit.attribution import METHODS
    from xaikit.attribution.class_activation import spatial_layer

    n = len(images)
    floor = floors(model, images, targets, repeats)
    channels = int(spatial_layer(model, layer).output.shape[-1])
    rows = []

    def ours(name, **options):
        return best_time(lambda: METHODS[name](model, images, targets, layer=layer,
                                               batch_size=n, **options), repeats)

    for name, units in (("cam", 1), ("grad_cam", 1), ("grad_cam_pp", 1), ("layer_cam", 1),
                        ("guided_grad_cam", 2)):
        if name == "cam" and not gap_head:
            continue
        cpu, wall = ours(name)
        rows.append({"setting": label, "method": name, "cpu_s": cpu, "wall_s": wall,
                     "floor": f"{units} x gradient floor",
                     "ratio_to_floor": cpu / (units * floor["gradient"][0])})
    score = CategoricalScore(list(targets))
    peer_cpu, peer_wall = best_time(lambda: Gradcam(model)(score, images, penultimate_layer=layer),
                                    repeats)
    grad_cam_cpu = next(r["cpu_s"] for r in rows if r["method"] == "grad_cam")
    rows.append({"setting": label, "method": "tf-keras-vis Gradcam", "cpu_s": peer_cpu,
                 "wall_s": peer_wall, "floor": "xaikit grad_cam",
                 "ratio_to_floor": peer_cpu / grad_cam_cpu})
    if scorecam:  # its floor, K forward passes of the batch, is timed right before it
        k_forwards = forward_floor(model, images, targets, repeats, times=channels)
        cpu, wall = best_time(lambda: METHODS["score_cam"](model, images, targets, layer=layer,
                                                           batch_size=n), repeats)
        rows.append({"setting": label, "method": f"score_cam (K={channels})", "cpu_s": cpu,
                     "wall_s": wall, "floor": f"K={channels} x forward floor",
                     "ratio_to_floor": cpu / k_forwards[0]})
        peer_cpu, peer_wall = best_time(
            lambda: Scorecam(model)(score, images, penultimate_layer=layer, batch_size=n),
            max(1, repeats - 2))
        rows.append({"setting": label, "method": "tf-keras-vis Scorecam", "cpu_s": peer_cpu,
                     "wall_s": peer_wall, "floor": "xaikit score_cam",
                     "ratio_to_floor": peer_cpu / cpu})
    for name, (cpu, wall) in floor.items():
        rows.append({"setting": label, "method": f"floor: {name}", "cpu_s": cpu, "wall_s": wall,
                     "floor": "-", "ratio_to_floor": 1.0})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-vgg16", action="store_true")
    parser.add_argument("--vgg16-scorecam", action="store_true",
                        help="also Score-CAM on VGG16 (512 channels x 4 images: minutes)")
    args = parser.parse_args()
    import keras

    from xaikit.models import vgg_mini

    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    small = vgg_mini((112, 112, 3), 6, widths=(16, 32, 64), stem_stride=2, softmax=False)
    rows = bench("an8flower CNN 112px, batch 16", small,
                 rng.uniform(size=(16, 112, 112, 3)).astype(np.float32), rng.integers(0, 6, 16),
                 layer="last_conv", repeats=args.repeats, scorecam=True, gap_head=True)
    if not args.skip_vgg16:
        vgg = keras.applications.VGG16(weights=None, classes=1000, classifier_activation=None)
        rows += bench("VGG16 224px, batch 4", vgg,
                      rng.uniform(0, 255, size=(4, 224, 224, 3)).astype(np.float32),
                      rng.integers(0, 1000, 4), layer="block5_conv3", repeats=args.repeats,
                      scorecam=args.vgg16_scorecam, gap_head=False)
    print(f"load average {os.getloadavg()}; times are process CPU seconds (best of "
          f"{args.repeats}); ratio = cpu / floor (tf-keras-vis rows: their cpu / ours)")
    print(f"{'setting':32} {'method':28} {'cpu s':>9} {'wall s':>9}  {'ratio':>7}  compared with")
    for row in rows:
        print(f"{row['setting']:32} {row['method']:28} {row['cpu_s']:9.4f} {row['wall_s']:9.4f}  "
              f"{row['ratio_to_floor']:7.2f}  {row['floor']}")


if __name__ == "__main__":
    main()
