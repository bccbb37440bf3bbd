"""Speed and memory of the gradient and backprop-rule families (issue 4), as ratios from one run.

Settings, as the issue asks: the an8flower zoo architecture (``vgg_mini``, widths 16/32/64, stem
stride 2, 6 classes) at 112 px with a batch of 16, and ``keras.applications.VGG16(weights=None)``
at 224 px with a batch of 4. Weights do not change the cost, so the models are not trained.

**Floor** (measured in the same run, same process): one compiled (``tf.function``), batched
forward+backward, dS/dx of the target logits, written here independently of the kit, timed per
sample at the benchmark's batch (for single-pass methods) and at the methods' internal batch of
32 (for methods that run n x N inputs: SmoothGrad, IG). Targets are passed explicitly so that no
method spends a forward pass on the predicted class. Targets of the issue:

- saliency, gradient x input: <= 1.2 x floor; SmoothGrad(n) <= 1.2 x n floor; IG(m) <= 1.2 x m floor
  (the trapezoid rule evaluates m + 1 points, counted as such);
- >= 2 x faster than tf-keras-vis 0.8.7 ``Saliency`` and ``Saliency(smooth_samples=20)`` on the
  same functional model, inputs and targets;
- IG(64) and SmoothGrad(50) on VGG16 at 224 px, batch 4, run in bounded memory through the
  internal batch size: the peak RSS of a fresh process running each is printed, next to a
  process that only loads the model and runs one batch.

Times are the best of ``--repeats`` calls after a warm-up call (tracing excluded), as wall and
process CPU seconds (CPU time is the steadier one on a shared machine; ratios use it). The floor
is re-measured right before each row so that both see the same load. On VGG16 every row runs
once after its warm-up.

Run: ``.venv/bin/python benchmarks/bench_attribution.py [--repeats 3] [--skip-an8flower]
[--skip-vgg16] [--vgg16-max-units 20] [--skip-rss] [--rss-images 4]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

INTERNAL_BATCH = 32


@dataclass
class Row:
    """One timed method: ``run(model, images, targets)``; it costs ``units`` floors per image
    (``per_sample_floor`` chooses the floor measured at the internal batch); ``peer`` is the
    tf-keras-vis equivalent (a factory ``peer(model) -> callable(images, targets)``) or None."""

    name: str
    run: Callable
    units: float
    target: float = 1.2
    internal_batch: bool = False
    peer: Callable | None = None


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds), each the minimum over ``repeats`` calls after one warm-up."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return min(cpu), min(wall)


def floor_per_sample(model, images, targets, repeats: int) -> tuple[float, float]:
    """Per-sample (CPU, wall) seconds of one compiled batched forward+backward of the logits."""
    import tensorflow as tf

    from xaikit.models import logits_model

    head = logits_model(model)
    weights = tf.one_hot(targets, head.outputs[0].shape[-1])
    x = tf.constant(images)

    @tf.function
    def step(x, weights):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.reduce_sum(head(x, training=False) * weights)
        return tape.gradient(score, x)

    cpu, wall = best_time(lambda: step(x, weights).numpy(), repeats)
    return cpu / len(images), wall / len(images)


def _tfkv_saliency(model):
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

    return Saliency(model, model_modifier=ReplaceToLinear(), clone=True)


def _tfkv(smooth_samples: int) -> Callable:
    def factory(model):
        from tf_keras_vis.utils.scores import CategoricalScore

        saliency = _tfkv_saliency(model)
        return lambda images, targets: saliency(CategoricalScore(list(targets)), images,
                                                smooth_samples=smooth_samples, smooth_noise=0.15)

    return factory


def rows() -> list[Row]:
    from xaikit import attribution as xa

    return [
        Row("saliency", lambda m, x, t: xa.saliency(m, x, t), 1, peer=_tfkv(0)),
        Row("gradient_x_input", lambda m, x, t: xa.gradient_x_input(m, x, t), 1),
        Row("guided_backprop", lambda m, x, t: xa.guided_backprop(m, x, t), 1),
        Row("smoothgrad(20)", lambda m, x, t: xa.smoothgrad(m, x, t, n_samples=20, sigma=0.15), 20,
            internal_batch=True, peer=_tfkv(20)),
        Row("smoothgrad(50)", lambda m, x, t: xa.smoothgrad(m, x, t, n_samples=50), 50,
            internal_batch=True),
        Row("integrated_gradients(64)", lambda m, x, t: xa.integrated_gradients(m, x, t, steps=64),
            65, internal_batch=True),
    ]


def bench(label: str, model, images, targets, repeats: int, max_units: float) -> None:
    n = len(images)
    internal = np.resize(images, (INTERNAL_BATCH, *images.shape[1:]))
    internal_targets = np.resize(targets, INTERNAL_BATCH)

    def floor(internal_batch: bool) -> tuple[float, float]:
        if internal_batch:
            return floor_per_sample(model, internal, internal_targets, repeats)
        return floor_per_sample(model, images, targets, repeats)

    first = floor(False)
    print(f"\n## {label}: batch {n}, floor per sample {first[0] * 1e3:.2f} ms CPU "
          f"({first[1] * 1e3:.2f} ms wall)")
    print("| method | ms/image CPU | ms/image wall | floor ms/sample CPU | x floor (units) | target "
          "| tf-keras-vis ms/image CPU | speed-up vs tf-keras-vis |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows():
        if row.units > max_units:
            continue
        # the floor is re-measured next to each row, so both see the same machine load
        row_floor = floor(row.internal_batch)[0]
        cpu, wall = best_time(lambda row=row: row.run(model, images, targets), repeats)
        ratio = cpu / n / (row_floor * row.units)
        peer_text, speedup = "-", "-"
        if row.peer is not None:
            peer = row.peer(model)
            peer_cpu, _ = best_time(lambda peer=peer: peer(images, targets), repeats)
            peer_text, speedup = f"{peer_cpu / n * 1e3:.1f}", f"{peer_cpu / cpu:.1f}x"
        verdict = "ok" if ratio <= row.target else "SLOW"
        batch = INTERNAL_BATCH if row.internal_batch else n
        print(f"| {row.name} | {cpu / n * 1e3:.1f} | {wall / n * 1e3:.1f} | {row_floor * 1e3:.2f} "
              f"(batch {batch}) | {ratio:.2f} ({row.units}) | <= {row.target} {verdict} | {peer_text} "
              f"| {speedup} |", flush=True)


def an8flower_setting():
    from xaikit.models import architectures

    model = architectures.vgg_mini((112, 112, 3), 6, widths=(16, 32, 64), stem_stride=2)
    images = np.random.default_rng(0).random((16, 112, 112, 3), dtype=np.float32)
    return model, images, np.arange(16) % 6


def vgg16_setting():
    import keras

    model = keras.applications.VGG16(weights=None, input_shape=(224, 224, 3), classes=1000)
    images = np.random.default_rng(0).random((4, 224, 224, 3), dtype=np.float32) * 255 - 120
    return model, images, np.array([1, 10, 100, 999])


def rss_child(method: str, n_images: int) -> None:
    """Run one VGG16 job in this (fresh) process and print its peak RSS in MiB."""
    import xaikit  # noqa: F401
    from xaikit import attribution as xa

    model, images, targets = vgg16_setting()
    images, targets = images[:n_images], targets[:n_images]
    jobs = {
        "baseline": lambda: floor_per_sample(model, images, targets, 1),
        "integrated_gradients(64)": lambda: xa.integrated_gradients(model, images, targets, steps=64),
        "smoothgrad(50)": lambda: xa.smoothgrad(model, images, targets, n_samples=50),
    }
    start = time.perf_counter()
    jobs[method]()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak:.0f} {time.perf_counter() - start:.1f}")


def rss_table(n_images: int) -> None:
    print(f"\n## Peak RSS on VGG16 at 224 px, {n_images} image(s), internal batch {INTERNAL_BATCH} "
          "(fresh process each)")
    print("| job | peak RSS MiB | seconds |")
    print("| --- | --- | --- |")
    for job in ("baseline", "integrated_gradients(64)", "smoothgrad(50)"):
        out = subprocess.run([sys.executable, __file__, "--rss-child", job, "--rss-images",
                              str(n_images)], capture_output=True, text=True, check=True).stdout.split()
        print(f"| {job} | {out[-2]} | {out[-1]} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-an8flower", action="store_true")
    parser.add_argument("--skip-vgg16", action="store_true")
    parser.add_argument("--vgg16-max-units", type=float, default=20,
                        help="skip VGG16 rows costing more floors per image (default 20)")
    parser.add_argument("--rss-images", type=int, default=4,
                        help="images in the VGG16 memory runs (default 4; the peak is set by "
                             "the internal batch, not by the number of images)")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.rss_images)
        return
    import xaikit  # noqa: F401

    print("# bench_attribution: ratios to the compiled forward+backward floor, and to tf-keras-vis")
    if not args.skip_an8flower:
        bench("an8flower vgg_mini, 112 px", *an8flower_setting(), args.repeats, max_units=100)
    if not args.skip_vgg16:
        bench("VGG16(weights=None), 224 px", *vgg16_setting(), 1, max_units=args.vgg16_max_units)
    if not args.skip_rss:
        rss_table(args.rss_images)


if __name__ == "__main__":
    main()
