"""Deletion, insertion and pixel flipping against the batched forward floor, ratios in one run.

Target (issue 16): for N images at S steps each metric costs <= 1.2 x the floor, one compiled,
batched forward of N x (S + 1) images (every step plus the unperturbed image) at the same
internal batch size — perturbed images of all images and steps are batched together, never one
forward per step per image. Quantus users report pixel flipping taking 45 minutes where 2 would
do (Quantus #96) because of per-sample loops.

The floor is written here independently of the kit: the perturbed images are made in NumPy
*outside* the timed region and pushed through a ``tf.function`` of the logits model (plus the
softmax and the target's column, as the metric reads). The metrics run on precomputed maps with
explicit targets, so no method and no extra forward pass for the predicted class is timed.
Timings are the best CPU time (all threads of this process) of ``--repeats`` rounds after a
warm-up, floor and metric timed in turn so that a change of load hits both.

Models: the kit's ``vgg_mini`` on 64 x 64 x 3 (the shapes architecture) and ``simple_cnn`` on
32 x 32 x 1 (the digits architecture), untrained (the cost does not depend on the weights).

Run: ``.venv/bin/python benchmarks/bench_faithfulness.py [--images 16] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
from bench_attribution import interleaved_best  # noqa: E402  (the shared harness)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from xaikit.metrics.faithfulness import deletion, insertion, pixel_flipping
    from xaikit.models import logits_model, simple_cnn, vgg_mini

    print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  images: "
          f"{args.images}  internal batch: {args.batch_size}  best of {args.repeats} rounds (CPU)")
    print("| model | metric | steps S | images N x (S + 1) | metric s | floor s | ratio | target |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, build, shape, classes in (("vgg_mini 64x64x3", vgg_mini, (64, 64, 3), 6),
                                         ("simple_cnn 32x32x1", simple_cnn, (32, 32, 1), 10)):
        keras.utils.set_random_seed(0)
        model = build(shape, classes)
        head = logits_model(model)
        generator = np.random.default_rng(0)
        images = generator.random((args.images, *shape), dtype=np.float32)
        maps = generator.normal(size=(args.images, *shape[:2]))
        targets = np.zeros(args.images, int)
        weights = tf.one_hot(targets, classes)

        @tf.function(input_signature=[tf.TensorSpec([None, *shape], tf.float32),
                                      tf.TensorSpec([None, classes], tf.float32)])
        def floor_step(x, w, head=head):
            return tf.reduce_sum(tf.nn.softmax(head(x, training=False)) * w, axis=-1)

        width = shape[1]
        rows = (("deletion", width, deletion, {}), ("insertion", width, insertion, {}),
                ("pixel_flipping (8 px/step)", 8, pixel_flipping, {"pixels_per_step": 8}))
        for name, per_step, metric, options in rows:
            run = functools.partial(metric, model, images, maps, targets,
                                    batch_size=args.batch_size, **options)
            steps = -(-shape[0] * shape[1] // per_step)
            total = args.images * (steps + 1)
            perturbed = np.repeat(images, steps + 1, axis=0)  # what the floor pushes through
            tiled = np.repeat(np.asarray(weights), steps + 1, axis=0)

            def floor(perturbed=perturbed, tiled=tiled, total=total) -> None:
                for start in range(0, total, args.batch_size):
                    end = start + args.batch_size
                    floor_step(perturbed[start:end], tiled[start:end]).numpy()

            times = interleaved_best({"floor": floor, "metric": run}, args.repeats)
            took, base = times["metric"][0], times["floor"][0]
            print(f"| {label} | {name} | {steps} | {total} | {took:.2f} | {base:.2f} | "
                  f"{took / base:.2f} | <= 1.2 {'ok' if took <= 1.2 * base else 'SLOW'} |")


if __name__ == "__main__":
    main()
