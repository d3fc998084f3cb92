"""Dead-leaves scenes and the degradation pipeline: images per second on this machine's CPUs.

Measures, in one run, 512×512 dead-leaves scenes (disks and polygons, with and without
textured leaves) made in one process and in one process per core (``--workers``, default 2:
the issue's target is ≥ 20 scenes/s on 2 cores), and a 640×480 photo through the REALISTIC
degradation mix (base stage, then finish stage). Times are the median over the images of
each row, after a warm-up; the load average is printed because shared machines vary.

    python benchmarks/bench_deadleaves.py [--images 40] [--workers 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from blurlib.data import degrade
from blurlib.data.deadleaves import dead_leaves

SIZE = (512, 512)


def scenes(seeds: list[int], texture_prob: float) -> float:
    """Make one 512×512 scene per seed; return the seconds taken."""
    t0 = time.perf_counter()
    for seed in seeds:
        dead_leaves(np.random.default_rng(seed), SIZE, texture_prob=texture_prob)
    return time.perf_counter() - t0


def one_process(n: int, texture_prob: float) -> float:
    """Scenes per second in this process: 1 / the median time of one scene."""
    scenes([10_000], texture_prob)  # warm-up
    times = [scenes([seed], texture_prob) for seed in range(n)]
    return 1.0 / float(np.median(times))


def many_processes(n: int, texture_prob: float, workers: int) -> float:
    """Scenes per second with ``workers`` processes sharing ``n`` scenes (wall clock)."""
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(scenes, [[10_000 + w] for w in range(workers)], [texture_prob] * workers))
        t0 = time.perf_counter()
        batches = [list(range(w, n, workers)) for w in range(workers)]
        list(pool.map(scenes, batches, [texture_prob] * workers))
        return n / (time.perf_counter() - t0)


def degrade_rate(n: int) -> tuple[float, float]:
    """Photos per second (median) through REALISTIC base + finish, and with every op on."""
    photo = dead_leaves(np.random.default_rng(1), (480, 640))
    every = degrade.get_degrade_config(
        "realistic",
        haze_prob=1,
        defocus_prob=1,
        gaussian_prob=1,
        resample_prob=1,
        noise_prob=1,
        jpeg_prob=1,
    )
    rates = []
    for config in (degrade.REALISTIC, every):
        times = []
        for seed in range(n + 1):
            rng = np.random.default_rng(seed)
            t0 = time.perf_counter()
            base, _ = degrade.degrade_base(photo, rng, config)
            degrade.finish(base, rng, config)
            times.append(time.perf_counter() - t0)
        rates.append(1.0 / float(np.median(times[1:])))
    return rates[0], rates[1]


def main() -> None:
    """Print scenes/s and photos/s as a small table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40, help="scenes per row")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel rows")
    parser.add_argument("--quick", action="store_true", help="8 scenes per row")
    args = parser.parse_args()
    n = 8 if args.quick else args.images
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load}; median of {n} images per row")
    print(f"{'what':<44} {'images/s':>9} {'ms/image':>9}")

    def row(what: str, rate: float) -> None:
        print(f"{what:<44} {rate:>9.1f} {1e3 / rate:>9.1f}")

    for tp in (0.0, 0.3):
        row(f"dead leaves 512×512, texture {tp}, 1 process", one_process(n, tp))
        rate = many_processes(max(n, 2 * args.workers), tp, args.workers)
        row(f"dead leaves 512×512, texture {tp}, {args.workers} processes", rate)
    realistic, every = degrade_rate(n)
    row("degrade 640×480, REALISTIC base + finish", realistic)
    row("degrade 640×480, every op on", every)


if __name__ == "__main__":
    main()
