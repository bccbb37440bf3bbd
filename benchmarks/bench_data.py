"""Generation speed of the procedural datasets (issue 3: 6 × 500 an8flower images at 112 px take
seconds, not minutes).

For each generator, one run prints wall and CPU seconds, images per CPU second, and the ratio of
its CPU time to a floor measured in the same run: drawing the Gaussian pixel noise for the same
number of images and clipping it, the least any generator of noisy float32 images of that size
must do.  Generation is single-threaded NumPy, so on an idle machine wall ≈ CPU time; the load
average is printed because the 2-core machines are often shared (then wall ≫ CPU).

Run: ``.venv/bin/python benchmarks/bench_data.py [--n-per-class 500]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def timed(fn):
    """(value, wall seconds, CPU seconds of this process) of calling ``fn``."""
    start, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - start, time.process_time() - cpu


def floor_seconds(n: int, size: int) -> float:
    """Seconds to draw and clip float32 Gaussian noise of ``n`` images (the memory-bound floor)."""
    rng = np.random.default_rng(0)

    def noise() -> None:
        for start in range(0, n, 16):
            m = min(16, n - start)
            image = rng.standard_normal((m, size, size, 3), np.float32)
            np.clip(image, 0.0, 1.0, out=image)

    return timed(noise)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, default=500)
    args = parser.parse_args()
    import xaikit.data as xd

    n = args.n_per_class
    cases = [
        ("an8flower single-6c 112px", lambda: xd.an8flower("single-6c", n_per_class=n), 112),
        (
            "an8flower double-12c 112px",
            lambda: xd.an8flower("double-12c", n_per_class=max(1, n // 2)),
            112,
        ),
        ("shapes 64px", lambda: xd.shapes(n_per_class=n), 64),
        ("shapes two objects 64px", lambda: xd.shapes(n_per_class=n, two_objects=True), 64),
        ("digits 32px (all 1797)", xd.digits, 32),
    ]
    xd.an8flower(n_per_class=1)  # warm caches and imports
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'generator':32s} {'images':>7s} {'wall s':>7s} {'CPU s':>6s} {'images/CPU s':>12s} "
        f"{'CPU x floor':>11s}"
    )
    for label, make, size in cases:
        data, wall, cpu = timed(make)
        floor = floor_seconds(len(data), size)
        print(
            f"{label:32s} {len(data):7d} {wall:7.2f} {cpu:6.2f} {len(data) / cpu:12.0f} "
            f"{cpu / floor:11.1f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
