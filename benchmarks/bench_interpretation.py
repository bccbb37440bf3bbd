"""Speed of network dissection and of batched activation maximisation (issue 17).

**Dissection.** One layer of the an8flower zoo model over 2,000 generated 112-px images, concept
masks at 56 px (half the input, as NetDissect scores Broden at 112 px for 224-px images),
against the floor: one compiled batched forward pass of the whole model over the same images
(batch 64). Target: <= 1.5 x the floor. Each layer alone and all three in one pass, with the
concept masks built per batch from the data set's parts (as the lesson does); all three again
with the masks held in memory (the cost of the dissection itself).

**Activation maximisation.** 16 units of ``bn3_1`` maximised in one batched ascent of
``--steps`` steps (pixel parameterisation, Adam) against the floor: ``--steps`` compiled
forward+backward passes of a batch of 16 (``bench_attribution.Floor``); then the same 16 units
one at a time (16 ascents), and tf-keras-vis 0.8.7 ``ActivationMaximization`` on the same 16
units (same steps, Adam, a TV regulariser, no random input modifiers). Every ascent call traces
its own loop once (objectives are Python closures): the table gives the time of the call and,
separately, the per-step time without the trace (call with ``--steps`` minus call with 1 step).

Jobs run interleaved (floor, method, peer, ...) within each round, best of ``--repeats`` rounds
after a warm-up; process CPU seconds (robust to other jobs), wall seconds printed too.

Run: ``.venv/bin/python benchmarks/bench_interpretation.py [--repeats 3] [--steps 64]
[--only dissection|maximisation]``.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
from bench_attribution import Floor, interleaved_best  # noqa: E402  (the shared harness)

N_IMAGES, BATCH, LAYERS = 2000, 64, ("relu1_1", "relu2_1", "last_conv")


def dissection_rows(repeats: int) -> list[dict]:
    from xaikit.core import batching
    from xaikit.data import an8flower
    from xaikit.data.concepts import concepts
    from xaikit.interpretation.dissection import network_dissection
    from xaikit.models import zoo

    model = zoo("an8flower-single-6c", progress=False)
    data = an8flower(n_per_class=N_IMAGES // 6 + 1, size=112, seed=17).subset(np.arange(N_IMAGES))
    built = concepts(data, size=56)
    held = built.in_memory()
    forward = batching.forward_function(model)

    def floor():
        for part in batching.batch_slices(len(data), BATCH):
            forward(data.images[part]).numpy()

    jobs = {"floor: forward": floor}
    for layer in (*LAYERS, list(LAYERS)):
        label = layer if isinstance(layer, str) else "all three"
        jobs[f"{label} (masks per batch)"] = (
            lambda layer=layer: network_dissection(model, data, built, layer, batch_size=BATCH,
                                               progress=False))
    jobs["all three (masks in memory)"] = (
        lambda: network_dissection(model, data, held, list(LAYERS), batch_size=BATCH,
                                   progress=False))
    times = interleaved_best(jobs, repeats)
    base = times["floor: forward"]
    return [{"job": name, "cpu_s": cpu, "wall_s": wall, "ratio": cpu / base[0]}
            for name, (cpu, wall) in times.items()]


def maximisation_rows(repeats: int, steps: int) -> list[dict]:
    import keras
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.activation_maximization.regularizers import TotalVariation2D

    from xaikit.interpretation.maximization import activation_maximization, pixel
    from xaikit.interpretation.objectives import channel, total_variation
    from xaikit.models import zoo

    model = zoo("an8flower-single-6c", progress=False)
    units, size = list(range(16)), 112 * 112 * 3
    probe = keras.Model(model.inputs, keras.layers.GlobalAveragePooling2D()(
        model.get_layer("bn3_1").output))
    floor = Floor(probe, np.random.default_rng(0).uniform(size=(16, 112, 112, 3)).astype(
        np.float32), np.array(units))

    def ours(n_steps, chosen=units):
        return activation_maximization(
            model, channel("bn3_1", chosen) - (1.0 / size) * total_variation(1.0, isotropic=False),
            parameterization=pixel(), steps=n_steps, seed=0)

    def theirs():
        seed = pixel().init(np.random.default_rng(0), 16, (112, 112, 3))
        return ActivationMaximization(probe)(
            lambda output: [output[i, u] for i, u in enumerate(units)], seed_input=seed,
            input_range=(None, None), input_modifiers=[], regularizers=[TotalVariation2D(1.0)],
            steps=steps, optimizer=keras.optimizers.Adam(0.05))

    jobs = {"floor: steps x fwd+bwd (batch 16)": lambda: [floor() for _ in range(steps)],
            "16 units, one batched ascent": lambda: ours(steps),
            "16 units, one batched ascent, 1 step": lambda: ours(1),
            "16 units, 16 ascents of 1 unit": lambda: [ours(steps, [u]) for u in units],
            "tf-keras-vis ActivationMaximization": theirs}
    times = interleaved_best(jobs, repeats)
    base = times["floor: steps x fwd+bwd (batch 16)"][0]
    rows = [{"job": name, "cpu_s": cpu, "wall_s": wall, "ratio": cpu / base}
            for name, (cpu, wall) in times.items()]
    per_step = (times["16 units, one batched ascent"][0]
                - times["16 units, one batched ascent, 1 step"][0]) / (steps - 1)
    rows.append({"job": "batched ascent per step, trace excluded", "cpu_s": per_step,
                 "wall_s": float("nan"), "ratio": per_step / (base / steps)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--only", choices=("dissection", "maximisation"),
                        help="run one of the two tables")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    tables = {}
    if args.only != "maximisation":
        tables[f"Network dissection, {N_IMAGES} images, an8flower zoo model, masks 56 px "
               "(ratio: CPU / the forward floor)"] = dissection_rows(args.repeats)
    if args.only != "dissection":
        tables[f"Activation maximisation, 16 units, {args.steps} steps, 112 px (ratio: CPU / "
               "the forward+backward floor)"] = maximisation_rows(args.repeats, args.steps)
    print(f"load average {before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
          f"{os.cpu_count()} cores; best of {args.repeats}")
    for title, rows in tables.items():
        print(f"\n{title}\n{'job':45} {'cpu s':>9} {'wall s':>9} {'ratio':>7}")
        for row in rows:
            print(f"{row['job']:45} {row['cpu_s']:9.3f} {row['wall_s']:9.3f} {row['ratio']:7.2f}")


if __name__ == "__main__":
    main()
