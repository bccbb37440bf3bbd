"""Speed of the CAM family against the compute floor and against tf-keras-vis (issue 4).

Two settings, as the issue asks: the an8flower zoo architecture (``vgg_mini``, stem stride 2) at
112 px with a batch of 16, and ``keras.applications.VGG16(weights=None)`` at 224 px with a batch of
4. Weights do not change the cost, so the models are not trained; both end in linear logits, so
tf-keras-vis and xaikit explain the same scores with the same model object.

Floors, measured in the same run and the same process:

- gradient floor: one compiled, batched forward+backward (dS/dx of the logits) per batch, the
  shared harness's ``Floor`` (``benchmarks/bench_attribution.py``) — the target for ``cam``
  (forward only), ``grad_cam``, ``grad_cam_pp``, ``layer_cam`` (≤ 1.2×); ``guided_grad_cam``
  needs two backward passes (guided backprop and Grad-CAM): compared with 2 × floor;
- forward floor: K compiled, batched forward passes of the batch: Score-CAM with K channels
  costs N·K masked forward passes (≤ 1.2×).

Then tf-keras-vis 0.8.7 ``Gradcam`` and ``Scorecam`` on the same functional model, inputs and
targets (>= 2x slower expected). As in the other benchmarks (``bench_attribution.interleaved_best``),
each row times its floor, the method and the peer *in turn* within every round (floor, method,
peer, floor, method, peer, ...), after one warm-up call each (tracing excluded), so that a change
of machine load hits all three alike; every time is the best of ``--repeats`` rounds, as process
CPU seconds (the ratio's basis) and wall seconds. Explicit targets are passed, so no extra forward
pass picks the predicted class.

Run: ``.venv/bin/python benchmarks/bench_cam.py [--repeats 3] [--skip-vgg16] [--vgg16-scorecam]``.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
from bench_attribution import Floor, interleaved_best, set_threads  # noqa: E402  (shared harness)


class ForwardFloor:
    """``times`` compiled batched forward passes of the explained model, written here."""

    def __init__(self, model, images, times: int = 1) -> None:
        import tensorflow as tf

        from xaikit.models import logits_model

        head = logits_model(model)
        self.x, self.times = tf.constant(images), times
        self.forward = tf.function(lambda x: head(x, training=False))

    def __call__(self) -> None:
        for _ in range(self.times):
            self.forward(self.x).numpy()


def bench(label: str, model, images, targets, *, layer: str, repeats: int,
          scorecam: bool, gap_head: bool) -> list[dict]:
    """Time the CAM family (and tf-keras-vis) against their floors, interleaved; rows of ratios.

    ``cam`` only runs on a GAP + dense head (``gap_head``); VGG16 has a flatten + dense head.
    """
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    from xaikit.attribution import METHODS
    from xaikit.core.surgery import spatial_layer

    n = len(images)
    channels = int(spatial_layer(model, layer).output.shape[-1])
    gradient_floor = Floor(model, images, np.asarray(targets))
    score = CategoricalScore(list(targets))
    gradcam = Gradcam(model)
    rows = []

    def ours(name):
        return lambda: METHODS[name](model, images, targets, layer=layer, batch_size=n)

    for name, units in (("cam", 1), ("grad_cam", 1), ("grad_cam_pp", 1), ("layer_cam", 1),
                        ("guided_grad_cam", 2)):
        if name == "cam" and not gap_head:
            continue
        jobs = {"floor": gradient_floor, "method": ours(name)}
        if name == "grad_cam":
            jobs["peer"] = lambda: gradcam(score, images, penultimate_layer=layer)
        times = interleaved_best(jobs, repeats)
        cpu, wall = times["method"]
        rows.append({"setting": label, "method": name, "cpu_s": cpu, "wall_s": wall,
                     "floor": f"{units} x gradient floor",
                     "ratio_to_floor": cpu / (units * times["floor"][0])})
        if "peer" in times:
            rows.append({"setting": label, "method": "tf-keras-vis Gradcam",
                         "cpu_s": times["peer"][0], "wall_s": times["peer"][1],
                         "floor": "xaikit grad_cam", "ratio_to_floor": times["peer"][0] / cpu})
        rows.append({"setting": label, "method": f"  its floor: {units} x gradient",
                     "cpu_s": units * times["floor"][0], "wall_s": units * times["floor"][1],
                     "floor": "-", "ratio_to_floor": 1.0})
    if scorecam:
        scorecam_peer = Scorecam(model)
        times = interleaved_best({
            "floor": ForwardFloor(model, images, times=channels),
            "method": ours("score_cam"),
            "peer": lambda: scorecam_peer(score, images, penultimate_layer=layer, batch_size=n),
        }, max(1, repeats - 1))
        cpu, wall = times["method"]
        rows.append({"setting": label, "method": f"score_cam (K={channels})", "cpu_s": cpu,
                     "wall_s": wall, "floor": f"K={channels} x forward floor",
                     "ratio_to_floor": cpu / times["floor"][0]})
        rows.append({"setting": label, "method": "tf-keras-vis Scorecam", "cpu_s": times["peer"][0],
                     "wall_s": times["peer"][1], "floor": "xaikit score_cam",
                     "ratio_to_floor": times["peer"][0] / cpu})
        rows.append({"setting": label, "method": f"  its floor: {channels} x forward",
                     "cpu_s": times["floor"][0], "wall_s": times["floor"][1], "floor": "-",
                     "ratio_to_floor": 1.0})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-vgg16", action="store_true")
    parser.add_argument("--vgg16-scorecam", action="store_true",
                        help="also Score-CAM on VGG16 (512 channels x 4 images: minutes)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow threads (default 0: TensorFlow's choice; 1: steadier CPU "
                             "times on a loaded machine)")
    args = parser.parse_args()
    set_threads(args.threads)
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
    print(f"load average {tuple(round(v, 1) for v in os.getloadavg())} on {os.cpu_count()} cores; "
          f"times are process CPU seconds (best of {args.repeats} interleaved rounds); ratio = "
          "cpu / floor of the same row (tf-keras-vis rows: their cpu / ours)")
    print(f"{'setting':32} {'method':28} {'cpu s':>9} {'wall s':>9}  {'ratio':>7}  compared with")
    for row in rows:
        print(f"{row['setting']:32} {row['method']:28} {row['cpu_s']:9.4f} {row['wall_s']:9.4f}  "
              f"{row['ratio_to_floor']:7.2f}  {row['floor']}")


if __name__ == "__main__":
    main()
