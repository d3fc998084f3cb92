"""Blur analysis vs. blur detection on a 12-megapixel photo: ``patch_analysis`` against
``patch_probabilities``, side by side in one run.

The issue-10 target: ``patch_analysis(load_model("analysis"), image)`` is no slower than 1.5×
``patch_probabilities(load_model(), image)`` on a 12-MP photo at the model's scale. Here
"at the model's scale" means the photo is analysed as it is, on the 30-px patch grid at full
resolution (no shrinking): a bundled photo (the largest, ``motorcycle``) upscaled to
``--width``×``--height`` (default 4000×3000: 133×100 = 13,300 patches).

Both calls run with the shipped models, in this process, in float32. Conversion and tracing
are excluded (one warm-up call of each on the full photo). Then ``--repeats`` rounds, each
timing both calls, the order alternating from round to round so that drift and other
processes' load fall on both alike; it prints each path's best and median, the ratio of the
medians, the median of the per-round ratios (the figure compared with the target), the
float32 GEMM ceiling (``_common.gemm_ceiling``) for context, the CPU and the load average
before and after. Run:

    python benchmarks/bench_analysis.py [--repeats 7] [--json benchmarks/results/FILE.json]
        [--analysis-model runs/analysis_ctx/model.keras] [--views 4]

``--views 4`` times ``patch_analysis(..., views=4)`` (test-time views: four network passes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from _common import gemm_ceiling  # noqa: E402

TARGET = 1.5  # issue 10: patch_analysis no slower than 1.5× patch_probabilities


def photo(height: int, width: int) -> tuple[str, np.ndarray]:
    """The largest bundled photo resized to height×width (its name, the RGB uint8 array)."""
    import cv2

    from blurlib.data.samples import sample_images

    name, img = max(sample_images(), key=lambda item: item[1].shape[0] * item[1].shape[1])
    return name, cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(fn) -> float:
    """Wall time of one call of ``fn``."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and optionally write the results as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument(
        "--analysis-model",
        default="analysis",
        help="the blur-analysis model to time (default: the shipped one; e.g. a context net "
        "from `--context`, whose windows are cropped with their surroundings)",
    )
    ap.add_argument(
        "--views", type=int, choices=(1, 4, 8), default=1, help="patch_analysis's views"
    )
    args = ap.parse_args(argv)

    from blurlib.runtime import start_keras

    start_keras()
    import keras

    from blurlib.inference.analysis import patch_analysis
    from blurlib.inference.windows import patch_probabilities
    from blurlib.nets.files import load_model

    load0 = os.getloadavg()
    name, img = photo(args.height, args.width)
    detector, analyser = load_model(), load_model(args.analysis_model)
    paths = {
        "patch_probabilities": lambda: patch_probabilities(detector, img),
        "patch_analysis": lambda: patch_analysis(analyser, img, views=args.views),
    }
    grid = (args.height // 30, args.width // 30)
    probs, found = paths["patch_probabilities"](), paths["patch_analysis"]()  # warm-up
    assert probs.shape == grid and found.p_motion.shape == grid
    ceiling = gemm_ceiling(repeats=3)
    times: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(max(1, args.repeats)):
        order = list(paths) if r % 2 == 0 else list(paths)[::-1]
        for key in order:
            times[key].append(timed(paths[key]))
    load1 = os.getloadavg()

    det, ana = times["patch_probabilities"], times["patch_analysis"]
    per_round = [a / d for a, d in zip(ana, det, strict=True)]
    result = {
        "command": "python benchmarks/bench_analysis.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "photo": f"{name} upscaled to {args.width}×{args.height}",
        "analysis_model": args.analysis_model,
        "views": args.views,
        "patches": grid[0] * grid[1],
        "repeats": len(det),
        "seconds": times,
        "best_s": {k: min(v) for k, v in times.items()},
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "ratio_of_medians": statistics.median(ana) / statistics.median(det),
        "ratio_of_bests": min(ana) / min(det),
        "median_round_ratio": statistics.median(per_round),
        "target_ratio": TARGET,
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "load_before": load0[0],
            "load_after": load1[0],
            "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "gemm": ceiling.describe(),
        },
    }
    result["meets_target"] = result["median_round_ratio"] <= TARGET

    m = result["machine"]
    print(f"{m['cpu']}, {m['cores']} cores; keras {m['keras']} backend={m['backend']}")
    print(f"float32 GEMM {m['gemm']}")
    print(f"load average before {m['load_before']:.2f}, after {m['load_after']:.2f}")
    print(f"\n{result['photo']}: {result['patches']} patches, {len(det)} interleaved rounds")
    print(f"{'path':<22}{'best s':>9}{'median s':>10}{'patches/s':>11}")
    for key in paths:
        best, med = result["best_s"][key], result["median_s"][key]
        print(f"{key:<22}{best:>9.3f}{med:>10.3f}{result['patches'] / med:>11.0f}")
    verdict = "meets" if result["meets_target"] else "misses"
    print(
        f"\npatch_analysis / patch_probabilities: median per-round ratio "
        f"{result['median_round_ratio']:.2f}× (ratio of medians {result['ratio_of_medians']:.2f}×, "
        f"of bests {result['ratio_of_bests']:.2f}×); target ≤ {TARGET}×: {verdict} it"
    )
    if args.json:
        from blurlib.fileio import atomic_path

        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
