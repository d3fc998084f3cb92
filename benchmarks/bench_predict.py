"""Inference throughput: dense window maps by cropping vs. the fully-convolutional network,
patch-grid throughput, and the memory of a 40-megapixel photo.

Measured side by side in one run (all on this machine, same process unless stated):

* the float32 GEMM ceiling (``_common.gemm_ceiling``: the best of numpy in a subprocess
  without OPENBLAS_CORETYPE/L2_SIZE, TensorFlow's matmul and numpy in-process);
* for the report net and the compact net (random weights: timing does not depend on them)
  on a 1024×768 photo at stride 4: every window cropped and classified
  (:func:`blurlib.inference.windows.windows_by_cropping`) vs.
  :func:`blurlib.inference.windows.window_probabilities` (one fully-convolutional pass) —
  both times, their ratio, the FLOP ratio, the largest difference, and the
  fully-convolutional pass's achieved GFLOP/s (FLOPs of the tensors it really ran, padding
  included) next to the GEMM ceiling;
* patches/s of :func:`blurlib.inference.windows.patch_probabilities` (2048×1536 photo,
  3 468 patches);
* peak resident memory (``ru_maxrss``) and time of a 7296×5472 (40 MP) blur map, run in a
  fresh subprocess so nothing else counts, with the shipped default model if there is one,
  else the compact net;
* the shipped default model's blur map of a 4000×3000 (12 MP) photo, if
  ``blurlib/nets/default.keras`` exists (else the compact net, labelled as a stand-in).

``--quick`` crops only a band of window rows and extrapolates the cropping time (said so
in the table). Run:

    python benchmarks/bench_predict.py [--quick] [--tile 1024] [--big-model report]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from _common import gemm_ceiling  # noqa: E402

MATMUL: list = []  # GEMM ceilings (_common.GemmCeiling) measured through the run


def photo(height: int, width: int) -> np.ndarray:
    """A real bundled photo resized to height×width (random texture if none is available)."""
    import cv2

    try:
        from blurlib.data.samples import sample_images

        _, img = max(sample_images(), key=lambda item: item[1].shape[0] * item[1].shape[1])
    except Exception:  # the bundled photos are optional for a benchmark
        img = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)


def best_time(fn, repeats: int) -> float:
    """Smallest wall time of ``repeats`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def fcn_flops_of_run(model, image, stride: int, tile: int | None) -> int:
    """FLOPs of the tensors one window_probabilities call really runs (padding included)."""
    from blurlib.inference import windows
    from blurlib.nets.flops import count_flops

    fcn, _, _ = windows.fully_convolutional(model)
    shapes: list[tuple[int, ...]] = []
    real = windows._forward

    def spy(net, x):
        shapes.append(x.shape)
        return real(net, x)

    windows._forward = spy
    try:
        windows.window_probabilities(model, image, stride, tile=tile)
    finally:
        windows._forward = real
    return sum(s[0] * count_flops(fcn, s[1:3]) for s in shapes)


def bench_windows(name: str, img: np.ndarray, stride: int, tile: int, quick: bool) -> dict:
    """Cropping vs fully-convolutional window probabilities for one net."""
    from blurlib.inference.windows import (
        window_grid_shape,
        window_probabilities,
        windows_by_cropping,
    )
    from blurlib.nets.builders import build_model
    from blurlib.nets.flops import count_flops

    model = build_model(name, seed=0)
    h, w = img.shape[:2]
    rows, cols = window_grid_shape(h, w, stride)
    window_probabilities(model, img, stride, tile=tile)  # convert + trace once
    band = rows if not quick else min(rows, 24)
    sub = img[: stride * (band - 1) + 30]
    windows_by_cropping(model, sub[:40], stride)  # warm-up
    # interleaved, best of each: load from other processes hits both alike
    t_fcn = t_crop = float("inf")
    for _ in range(2):
        MATMUL.append(gemm_ceiling(repeats=3))
        t0 = time.perf_counter()
        fcn_probs = window_probabilities(model, img, stride, tile=tile)
        t_fcn = min(t_fcn, time.perf_counter() - t0)
        t0 = time.perf_counter()
        crop_probs = windows_by_cropping(model, sub, stride)
        t_crop = min(t_crop, (time.perf_counter() - t0) * rows / band)
    t0 = time.perf_counter()
    window_probabilities(model, img, stride, tile=tile)
    t_fcn = min(t_fcn, time.perf_counter() - t0)
    flops_fcn = fcn_flops_of_run(model, img, stride, tile)
    flops_crop = rows * cols * count_flops(model)
    return {
        "name": name,
        "windows": rows * cols,
        "t_crop": t_crop,
        "crop_extrapolated": band < rows,
        "t_fcn": t_fcn,
        "flops_crop": flops_crop,
        "flops_fcn": flops_fcn,
        "max_diff": float(np.abs(crop_probs - fcn_probs[:band]).max()),
    }


def bench_patches(name: str, img: np.ndarray, quick: bool) -> float:
    """patch_probabilities throughput in patches/s."""
    from blurlib.inference.windows import patch_probabilities
    from blurlib.nets.builders import build_model

    model = build_model(name, seed=0)
    n = (img.shape[0] // 30) * (img.shape[1] // 30)
    patch_probabilities(model, img[:300, :300])
    patch_probabilities(model, img)
    return n / best_time(lambda: patch_probabilities(model, img), 1 if quick else 2)


def _model_for(spec: str):
    """'default' = the shipped model if present (else compact), or a build_model name."""
    from blurlib.nets.builders import build_model
    from blurlib.nets.files import DEFAULT_MODEL_PATH, load_model

    if spec == "default":
        if DEFAULT_MODEL_PATH.is_file():
            return load_model(), "default model"
        return build_model("compact", seed=0), "compact (random weights; no default model yet)"
    return build_model(spec, seed=0), f"{spec} (random weights)"


def child(spec: str, height: int, width: int, stride: int, tile: int) -> None:
    """Subprocess body: one blur map of a height×width photo; print JSON time + peak RSS."""
    from blurlib.inference.maps import blur_map

    model, label = _model_for(spec)
    img = photo(height, width)
    blur_map(model, img[:200, :200], stride, tile=tile)  # convert + trace
    t = time.perf_counter()
    bmap = blur_map(model, img, stride, tile=tile)
    seconds = time.perf_counter() - t
    assert bmap.shape == (height, width)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    print(json.dumps({"label": label, "seconds": seconds, "peak_mib": peak}))


def run_child(spec: str, height: int, width: int, stride: int, tile: int) -> dict:
    """Run :func:`child` in a fresh interpreter and return its JSON."""
    cmd = [sys.executable, __file__, "--child", spec, str(height), str(width), str(stride)]
    res = subprocess.run([*cmd, "--tile", str(tile)], capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"child failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="crop a band and extrapolate")
    ap.add_argument("--tile", type=int, default=1024)
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--models", nargs="+", default=["report", "compact"])
    ap.add_argument(
        "--big-model",
        default="default",
        help="model for the 40 MP memory run: 'default' (shipped, else compact) or a name",
    )
    ap.add_argument("--skip-big", action="store_true", help="skip the 40 MP and 12 MP runs")
    ap.add_argument(
        "--child", nargs=4, metavar=("MODEL", "H", "W", "STRIDE"), help=argparse.SUPPRESS
    )
    args = ap.parse_args(argv)
    if args.child:
        spec, h, w, s = args.child
        child(spec, int(h), int(w), int(s), args.tile)
        return 0

    import keras

    print(f"keras {keras.__version__} backend={keras.backend.backend()}, {os.cpu_count()} CPUs")
    MATMUL.append(gemm_ceiling())
    img = photo(768, 1024)
    rows = []
    for name in args.models:
        rows.append(bench_windows(name, img, args.stride, args.tile, args.quick))
    big = photo(1536, 2048)
    pps = {name: bench_patches(name, big, args.quick) for name in args.models}
    MATMUL.append(gemm_ceiling())
    ceiling = max(MATMUL, key=lambda c: c.gflops)
    mm = ceiling.gflops

    print(
        f"\nfloat32 GEMM {ceiling.describe()}\n(best of {len(MATMUL)} ceiling measurements "
        f"interleaved with the timings; lowest {min(c.gflops for c in MATMUL):.0f})\n"
    )
    print(f"1024×768 photo, stride {args.stride}, tile {args.tile}:")
    head = (
        f"{'net':<8} {'windows':>8} {'crop s':>8} {'FCN s':>7} {'speed-up':>9} {'FLOP ratio':>10} "
        f"{'FCN GFLOP/s':>11} {'% ceil':>8} {'max |diff|':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        gf = r["flops_fcn"] / r["t_fcn"] / 1e9
        crop = f"{r['t_crop']:.2f}{'*' if r['crop_extrapolated'] else ''}"
        print(
            f"{r['name']:<8} {r['windows']:>8} {crop:>8} {r['t_fcn']:>7.3f} "
            f"{r['t_crop'] / r['t_fcn']:>8.1f}× {r['flops_crop'] / r['flops_fcn']:>9.1f}× "
            f"{gf:>11.0f} {100 * gf / mm:>7.0f}% {r['max_diff']:>10.1e}"
        )
        print(
            f"{'':<8} cropping {r['flops_crop'] / 1e12:.2f} TFLOP, fully convolutional "
            f"{r['flops_fcn'] / 1e12:.3f} TFLOP (as run, padding included)"
        )
    if any(r["crop_extrapolated"] for r in rows):
        print("* cropping timed on the top 24 window rows and scaled to all rows (--quick)")
    print("\npatch_probabilities on a 2048×1536 photo (3468 patches):")
    for name, v in pps.items():
        print(f"  {name:<8} {v:>8.0f} patches/s")

    if not args.skip_big:
        print("\nbig photos (fresh subprocess each; time excludes conversion and tracing):")
        res = run_child(args.big_model, 5472, 7296, args.stride, args.tile)
        print(
            f"  40 MP 7296×5472 blur map, {res['label']}: {res['seconds']:.1f} s, "
            f"peak RSS {res['peak_mib']:.0f} MiB (limit 3072)"
        )
        res = run_child("default", 3000, 4000, args.stride, args.tile)
        print(f"  12 MP 4000×3000 blur map, {res['label']}: {res['seconds']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
