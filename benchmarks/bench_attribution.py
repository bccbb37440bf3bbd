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
- IG and SmoothGrad on VGG16 at 224 px run in memory bounded by the internal batch size, not by
  the number of images: the peak RSS of each job alone (measured after building the model, in a
  fresh process) is printed for two image counts (``--rss-images 1 4``), next to one
  forward+backward of the same images at their batch (which grows with the count).

Peers, as they run: tf-keras-vis 0.8.7 ``Saliency`` is eager (a ``GradientTape`` around the
model's eager call, no ``tf.function``), the whole input batch at once; with ``smooth_samples=n``
it loops in Python over the n samples, one eager forward+backward of all N noisy images each.

Times are the best of ``--repeats`` rounds after a warm-up call (tracing excluded), as wall and
process CPU seconds (CPU time is the steadier one on a shared machine; ratios use it). Within a
round the floor, the method and tf-keras-vis run in turn, so that a change of load hits all
three alike. On VGG16 the single-pass rows take ``--vgg16-repeats`` rounds; the rows costing
many floors (SmoothGrad) run one round without a warm-up, since the single-pass rows already
traced the graph they use.

The fixed cost of a call is measured at batch 1 (saliency and gradient of one 64-px image against
the floor at batch 1, interleaved).

Run: ``.venv/bin/python benchmarks/bench_attribution.py [--repeats 3] [--skip-an8flower]
[--skip-batch-one] [--threads 1]
[--skip-vgg16] [--vgg16-repeats 2] [--vgg16-max-units 20] [--skip-rss] [--rss-images 1 4]
[--rss-steps 16] [--rss-batch 16]``.
"""

from __future__ import annotations

import argparse
import os
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


def interleaved_best(jobs: dict[str, Callable[[], object]], repeats: int, *,
                     warm_up: bool = True) -> dict[str, tuple[float, float]]:
    """(CPU seconds, wall seconds) of each job, each the minimum over ``repeats`` rounds.

    The jobs run in turn within every round (floor, method, peer, floor, method, peer, ...), so a
    change of machine load during the run hits all of them alike; ``warm_up`` runs each job once
    first (tracing excluded from the times)."""
    if warm_up:
        for job in jobs.values():
            job()
    times = {name: ([], []) for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            job()
            times[name][1].append(time.perf_counter() - start_wall)
            times[name][0].append(time.process_time() - start_cpu)
    return {name: (min(cpu), min(wall)) for name, (cpu, wall) in times.items()}


class Floor:
    """One compiled, batched forward+backward of the target logits, dS/dx, on fixed inputs,
    written here independently of the kit and traced once."""

    def __init__(self, model, images: np.ndarray, targets: np.ndarray) -> None:
        import tensorflow as tf

        from xaikit.models import logits_model

        head = logits_model(model)
        self.n = len(images)
        self.x = tf.constant(images)
        self.weights = tf.one_hot(targets, head.outputs[0].shape[-1])

        @tf.function
        def step(x, weights):
            with tf.GradientTape() as tape:
                tape.watch(x)
                score = tf.reduce_sum(head(x, training=False) * weights)
            return tape.gradient(score, x)

        self.step = step

    def __call__(self) -> None:
        self.step(self.x, self.weights).numpy()


def best_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one job, each the minimum over ``repeats`` calls after one
    warm-up."""
    return interleaved_best({"job": fn}, repeats)["job"]


def floor_per_sample(model, images, targets, repeats: int) -> tuple[float, float]:
    """Per-sample (CPU, wall) seconds of one compiled batched forward+backward of the logits."""
    floor = Floor(model, images, targets)
    cpu, wall = best_time(floor, repeats)
    return cpu / floor.n, wall / floor.n


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


def set_threads(threads: int) -> None:
    """Pin TensorFlow's thread pools (before any operation runs); 0 keeps its defaults."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


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


def bench(label: str, model, images, targets, repeats: int, max_units: float,
          heavy_units: float = float("inf")) -> None:
    """Print one table; rows costing more than ``heavy_units`` floors per image run a single
    round without warm-up (their compiled graph is the one the single-pass rows traced, and both
    floors are traced up front)."""
    n = len(images)
    floors = {False: Floor(model, images, targets),
              True: Floor(model, np.resize(images, (INTERNAL_BATCH, *images.shape[1:])),
                          np.resize(targets, INTERNAL_BATCH))}
    for floor in floors.values():
        floor()  # trace both floors here: heavy rows time their floor without a warm-up
    first = best_time(floors[False], repeats)
    print(f"\n## {label}: batch {n}, floor per sample {first[0] / n * 1e3:.2f} ms CPU "
          f"({first[1] / n * 1e3:.2f} ms wall); floor, method and tf-keras-vis timed in turn, "
          f"best of {repeats} rounds")
    print("| method | ms/image CPU | ms/image wall | floor ms/sample CPU | x floor (units) | target "
          "| tf-keras-vis ms/image CPU | speed-up vs tf-keras-vis |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows():
        if row.units > max_units:
            continue
        floor = floors[row.internal_batch]
        jobs = {"floor": floor, "method": lambda row=row: row.run(model, images, targets)}
        if row.peer is not None:
            peer = row.peer(model)
            jobs["peer"] = lambda peer=peer: peer(images, targets)
        heavy = row.units > heavy_units
        times = interleaved_best(jobs, 1 if heavy else repeats, warm_up=not heavy)
        row_floor = times["floor"][0] / floor.n
        cpu, wall = times["method"]
        ratio = cpu / n / (row_floor * row.units)
        peer_text, speedup = "-", "-"
        if "peer" in times:
            peer_cpu = times["peer"][0]
            peer_text, speedup = f"{peer_cpu / n * 1e3:.1f}", f"{peer_cpu / cpu:.1f}x"
        verdict = "ok" if ratio <= row.target else "SLOW"
        print(f"| {row.name} | {cpu / n * 1e3:.1f} | {wall / n * 1e3:.1f} | {row_floor * 1e3:.2f} "
              f"(batch {floor.n}) | {ratio:.2f} ({row.units}) | <= {row.target} {verdict} | "
              f"{peer_text} | {speedup} |", flush=True)


def batch_one(repeats: int) -> None:
    """The fixed cost of one call: saliency of one 64-px image against the floor at batch 1."""
    from xaikit import attribution as xa
    from xaikit.models import architectures

    model = architectures.vgg_mini((64, 64, 3), 6)
    image = np.random.default_rng(0).random((1, 64, 64, 3), dtype=np.float32)
    target = np.array([1])
    floor = Floor(model, image, target)
    times = interleaved_best({"floor": floor, "saliency": lambda: xa.saliency(model, image, target),
                              "gradient": lambda: xa.gradient(model, image, target)},
                             repeats * 20)
    print(f"\n## Batch 1: vgg_mini at 64 px, one image, best of {repeats * 20} interleaved calls")
    print("| job | ms CPU | ms wall | x floor | ms over the floor |")
    print("| --- | --- | --- | --- | --- |")
    for name, (cpu, wall) in times.items():
        print(f"| {name} | {cpu * 1e3:.2f} | {wall * 1e3:.2f} | {cpu / times['floor'][0]:.2f} | "
              f"{(cpu - times['floor'][0]) * 1e3:.2f} |", flush=True)


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


def _memory_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MiB, from /proc/self/status."""
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_child(method: str, n_images: int, steps: int, batch: int) -> None:
    """Run one VGG16 job in this (fresh) process; print the RSS once the model is built, the peak
    RSS during the job alone and its seconds.

    Building VGG16 (initialising 138 M weights) peaks higher than a forward+backward at batch 4,
    so the peak is reset (``clear_refs``, Linux) after building: what is printed is the job's own
    peak, the quantity an internal batch size bounds."""
    import xaikit  # noqa: F401
    from xaikit import attribution as xa

    model, images, targets = vgg16_setting()
    images, targets = images[:n_images], targets[:n_images]
    jobs = {
        "baseline": lambda: floor_per_sample(model, images, targets, 1),
        "integrated_gradients": lambda: xa.integrated_gradients(model, images, targets, steps=steps,
                                                                batch_size=batch),
        "smoothgrad": lambda: xa.smoothgrad(model, images, targets, n_samples=steps,
                                            batch_size=batch),
    }
    built = _memory_mib("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")
    start = time.perf_counter()
    jobs[method]()
    print(f"{built:.0f} {_memory_mib('VmHWM'):.0f} {time.perf_counter() - start:.1f}")


def rss_table(counts: list[int], steps: int, batch: int) -> None:
    print(f"\n## Memory on VGG16 at 224 px: integrated_gradients(steps={steps}) and "
          f"smoothgrad(n_samples={steps}) with internal batch {batch}, for {counts} image(s) "
          "(fresh process each; the baseline is one forward+backward of the images at their batch)")
    print("| job | images | forward+backward passes | RSS with the model built MiB "
          "| peak RSS during the job MiB | seconds |")
    print("| --- | --- | --- | --- | --- | --- |")
    passes = {"baseline": 1, "integrated_gradients": steps + 1, "smoothgrad": steps}
    for job in ("baseline", "integrated_gradients", "smoothgrad"):
        for n_images in counts:
            out = subprocess.run([sys.executable, __file__, "--rss-child", job, "--rss-images",
                                  str(n_images), "--rss-steps", str(steps), "--rss-batch",
                                  str(batch)], capture_output=True, text=True,
                                 check=True).stdout.split()
            print(f"| {job} | {n_images} | {passes[job] * n_images} | {out[-3]} | {out[-2]} | "
                  f"{out[-1]} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-an8flower", action="store_true")
    parser.add_argument("--skip-batch-one", action="store_true")
    parser.add_argument("--skip-vgg16", action="store_true")
    parser.add_argument("--vgg16-repeats", type=int, default=2,
                        help="rounds of the single-pass VGG16 rows (default 2)")
    parser.add_argument("--vgg16-max-units", type=float, default=20,
                        help="skip VGG16 rows costing more floors per image (default 20)")
    parser.add_argument("--rss-images", type=int, nargs="+", default=[1, 4],
                        help="image counts of the VGG16 memory runs (default 1 4: the peak is "
                             "set by the internal batch, not by the number of images)")
    parser.add_argument("--rss-steps", type=int, default=16,
                        help="IG steps and SmoothGrad samples of the memory runs (default 16)")
    parser.add_argument("--rss-batch", type=int, default=16,
                        help="internal batch of the memory runs (default 16)")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra- and inter-op threads (default 0: TensorFlow's "
                             "choice); 1 makes CPU times steadier on a loaded, shared machine")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.rss_images[0], args.rss_steps, args.rss_batch)
        return
    import xaikit  # noqa: F401

    set_threads(args.threads)
    print("# bench_attribution: ratios to the compiled forward+backward floor, and to tf-keras-vis; "
          f"load average {tuple(round(v, 1) for v in os.getloadavg())} on {os.cpu_count()} cores; "
          f"TensorFlow threads: {args.threads or 'default'}")
    if not args.skip_batch_one:
        batch_one(args.repeats)
    if not args.skip_an8flower:
        bench("an8flower vgg_mini, 112 px", *an8flower_setting(), args.repeats, max_units=100)
    if not args.skip_vgg16:
        bench("VGG16(weights=None), 224 px", *vgg16_setting(), args.vgg16_repeats,
              max_units=args.vgg16_max_units, heavy_units=1)
    if not args.skip_rss:
        rss_table(args.rss_images, args.rss_steps, args.rss_batch)


if __name__ == "__main__":
    main()
