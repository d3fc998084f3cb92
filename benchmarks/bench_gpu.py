"""Accelerator check and throughput for the backend-neutral parts of blurlib.

Written for a GPU machine without TensorFlow (``KERAS_BACKEND=jax``); it runs on any Keras
backend and on CPU too (``--quick`` for a small smoke run, without float16, which CPUs
emulate very slowly). Everything in one process, side
by side:

1. **environment**: backend, devices, and the accelerator's own dense matmul rate (8192³
   float32 and bfloat16 through the backend: the ceiling the nets are compared with; on a
   CPU also ``_common.gemm_ceiling``, the best float32 GEMM it runs, numpy included);
2. **agreement with the CPU** (``--reference FILE``): the shipped default model's patch
   probabilities of the real motion-blurred ``clock`` photo and of ``coffee``, against a
   reference written on a CPU with TensorFlow (``--write-reference FILE``): the largest
   difference and how many patches change side of 0.5;
3. **fully-convolutional = cropping on the device**: ``predict.window_probabilities`` vs.
   ``predict.windows_by_cropping`` for both nets (seeded random weights), stride 4;
4. **mixed precision trains**: the compact net, fitted with Keras' ``fit`` on real patches of
   a small dataset made by ``blurlib.dataset.generate`` (sample photos, random straight
   blur; split by photo), under float32, mixed_bfloat16 and mixed_float16 (loss scaling):
   held-out accuracy, float32 outputs, finite losses;
5. **throughput**: training patches/s (fit from memory, batch 512) of both nets under each
   policy, with achieved TFLOP/s (3 × forward FLOPs per patch) and its % of the ceiling
   (the best matmul rate measured: bfloat16's too under mixed precision);
   inference: ``patch_probabilities`` patches/s and the default model's blur map of a 12 MP
   and a 40 MP photo (seconds, after one warm-up).

``blurlib.training.fit.fit`` is not timed here: ``python -m blurlib train`` runs on JAX as it is
(its H200 run is in ``models/v5/h200_jax_rerun/``). Run:

    python benchmarks/bench_gpu.py --write-reference ref.npz          # on a CPU, TensorFlow
    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --reference ref.npz --json out.json
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
#: --quick (a CPU smoke run) leaves out float16: CPUs emulate it, TensorFlow's at ~5 patches/s
QUICK_POLICIES = ("float32", "mixed_bfloat16")
REFERENCE_PHOTOS = ("clock", "coffee")


def log(*args: object) -> None:
    print(*args, flush=True)


@functools.cache
def reference_photos() -> dict[str, np.ndarray]:
    """The reference photos, read once per run (every section uses them)."""
    from blurlib.data.samples import real_blur_samples, sample_images

    photos = dict(real_blur_samples()) | dict(sample_images())
    return {name: photos[name] for name in REFERENCE_PHOTOS}


def write_reference(path: Path) -> None:
    """Patch probabilities of the default model on the reference photos (run on a CPU)."""
    import keras

    from blurlib.inference.windows import patch_probabilities
    from blurlib.nets.files import load_model

    net = load_model()
    probs = {n: patch_probabilities(net, im) for n, im in reference_photos().items()}
    np.savez(path, backend=keras.backend.backend(), **probs)
    log(f"wrote {path}: {', '.join(f'{n} {p.shape}' for n, p in probs.items())}")


def environment() -> dict:
    import keras

    info: dict = {"backend": keras.backend.backend(), "keras": keras.__version__}
    if info["backend"] == "jax":
        import jax

        info["jax"] = jax.__version__
        info["devices"] = [str(d) for d in jax.devices()]
        info["device_kind"] = jax.devices()[0].device_kind
    elif info["backend"] == "torch":
        import torch

        info["torch"] = torch.__version__
        info["devices"] = [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else ["cpu"]
    else:
        import tensorflow as tf

        info["devices"] = [d.name for d in tf.config.list_logical_devices()]
    return info


def matmul_tflops(dtype: str, n: int, repeats: int = 5) -> float:
    """The backend's n×n @ n×n rate on its default device, TFLOP/s (best of ``repeats``)."""
    from keras import ops

    a = ops.cast(ops.convert_to_tensor(np.random.default_rng(0).random((n, n))), dtype)
    b = ops.cast(ops.convert_to_tensor(np.random.default_rng(1).random((n, n))), dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        t = time.perf_counter()
        ops.convert_to_numpy(ops.cast(ops.sum(ops.matmul(a, b)), "float32"))  # one number back
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e12


def check_reference(path: Path) -> dict:
    from blurlib.inference.windows import patch_probabilities
    from blurlib.nets.files import load_model

    ref = np.load(path)
    net = load_model()
    out = {"reference_backend": str(ref["backend"])}
    for name, image in reference_photos().items():
        p = patch_probabilities(net, image)
        r = ref[name]
        out[name] = {
            "patches": int(p.size),
            "max_abs_diff": float(np.abs(p - r).max()),
            "flipped_at_0.5": int(((p > 0.5) != (r > 0.5)).sum()),
            "called_blurred": float((p > 0.5).mean()),
        }
    return out


def check_fcn(quick: bool) -> dict:
    from blurlib.inference.windows import window_probabilities, windows_by_cropping
    from blurlib.nets.builders import build_model

    image = reference_photos()["coffee"][: 120 if quick else 400, : 160 if quick else 600]
    out = {}
    for name in ("compact", "report"):
        net = build_model(name, seed=3)
        fcn = window_probabilities(net, image, stride=4)
        crop = windows_by_cropping(net, image, stride=4)
        out[name] = {"windows": int(fcn.size), "max_abs_diff": float(np.abs(fcn - crop).max())}
    return out


def small_dataset(quick: bool, tmp: Path) -> tuple[np.ndarray, ...]:
    """Textured patches of a seeded dataset of the sample photos, split by photo."""
    from blurlib.data import dataset
    from blurlib.training.split import patch_arrays, split_by_source

    folder = dataset.generate(
        tmp / "data",
        source="sample",
        n=10 if quick else 60,
        seed=5,
        kernel="linear",
        overwrite=True,
        progress=False,
    )
    examples = dataset.load_dataset(folder, with_sharp=True)
    split = split_by_source([e.source for e in examples], (0.8, 0.0, 0.2), seed=0)
    xtr, ytr = patch_arrays(examples, split["train"], min_texture=5.0)
    xte, yte = patch_arrays(examples, split["test"], min_texture=5.0)
    return xtr, ytr, xte, yte


def check_mixed_precision(
    data: tuple[np.ndarray, ...], epochs: int, policies: tuple[str, ...] = POLICIES
) -> dict:
    import keras

    from blurlib.nets.builders import build_model, compile_model

    xtr, ytr, xte, yte = data
    out = {}
    for policy in policies:
        keras.config.set_dtype_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            net = compile_model(build_model("compact", seed=0), lr=1e-3)
            hist = net.fit(xtr, ytr, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
            pred = net.predict(xte, batch_size=1024, verbose=0)
            losses = hist.history["loss"]
            out[policy] = {
                "loss_first_last": [float(losses[0]), float(losses[-1])],
                "finite": bool(np.all(np.isfinite(losses))),
                "output_dtype": str(pred.dtype),
                "test_accuracy": float((pred.argmax(1) == yte).mean()),
            }
        finally:
            keras.config.set_dtype_policy("float32")
    return out


def train_throughput(name: str, policy: str, steps: int, batch: int = 512) -> dict:
    import keras

    from blurlib.nets.builders import build_model, compile_model
    from blurlib.nets.flops import count_flops

    keras.config.set_dtype_policy(policy)
    try:
        rng = np.random.default_rng(0)
        n = batch * steps
        x = rng.integers(0, 256, (n, 30, 30, 3), dtype=np.uint8).astype(np.float32)
        y = rng.integers(0, 2, n).astype(np.int32)
        net = compile_model(build_model(name, seed=0), lr=1e-4)
        net.fit(x[: batch * 2], y[: batch * 2], batch_size=batch, epochs=1, verbose=0)  # compile
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            net.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
            best = min(best, time.perf_counter() - t)
        rate = n / best
        return {
            "patches_per_s": rate,
            "tflops": 3 * count_flops(net) * rate / 1e12,
        }
    finally:
        keras.config.set_dtype_policy("float32")


def inference(quick: bool) -> dict:
    import cv2

    from blurlib.inference.maps import blur_map
    from blurlib.inference.windows import patch_probabilities
    from blurlib.nets.builders import build_model
    from blurlib.nets.files import load_model

    coffee = reference_photos()["coffee"]
    out: dict = {}
    big = cv2.resize(coffee, (2048, 1536), interpolation=cv2.INTER_CUBIC)
    for name in ("compact", "report"):
        net = build_model(name, seed=0)
        patch_probabilities(net, big)
        t = time.perf_counter()
        patch_probabilities(net, big)
        out[f"patch_probabilities_{name}_patches_per_s"] = (
            (2048 // 30) * (1536 // 30) / (time.perf_counter() - t)
        )
    net = load_model()
    sizes = {"0.8MP": (1024, 768)} if quick else {"12MP": (4000, 3000), "40MP": (7296, 5472)}
    for label, (w, h) in sizes.items():
        photo = cv2.resize(coffee, (w, h), interpolation=cv2.INTER_CUBIC)
        blur_map(net, photo)  # warm-up: compiles this shape's tiles
        t = time.perf_counter()
        blur_map(net, photo)
        out[f"blur_map_default_{label}_s"] = time.perf_counter() - t
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", type=Path, help="CPU reference from --write-reference")
    ap.add_argument("--write-reference", type=Path, help="write the CPU reference and stop")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run on a CPU")
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/blurlib-bench-gpu"))
    args = ap.parse_args(argv)
    if args.write_reference:
        write_reference(args.write_reference)
        return 0
    results: dict = {}
    failed: list[str] = []

    def section(key: str, fn, *a) -> object:
        """Run one section; a failure is logged and recorded, and the next section runs
        (one run on a lent machine should return everything it can)."""
        t = time.perf_counter()
        try:
            results[key] = fn(*a)
        except Exception as e:
            results[key] = {"error": f"{type(e).__name__}: {e}"}
            failed.append(key)
        log(f"[{time.perf_counter() - t:.0f} s] {key}: {results[key]}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
        return results[key]

    n = 1024 if args.quick else 8192
    policies = QUICK_POLICIES if args.quick else POLICIES
    section("environment", environment)
    section("matmul_tflops", lambda: {d: matmul_tflops(d, n) for d in ("float32", "bfloat16")})
    devices = " ".join(map(str, results["environment"].get("devices", []))).lower()
    if "gpu" not in devices and "cuda" not in devices:  # a CPU: the best float32 GEMM it runs
        from _common import gemm_ceiling

        section("cpu_gemm_ceiling", lambda: gemm_ceiling().as_dict())

    def with_ceiling(name: str, policy: str, steps: int) -> dict:
        """train_throughput plus its % of the best matmul rate measured above."""
        out = train_throughput(name, policy, steps)
        mm = results.get("matmul_tflops", {})
        kinds = ("float32",) if policy == "float32" else ("float32", "bfloat16")
        rates = [mm.get(k) for k in kinds]
        rates.append(results.get("cpu_gemm_ceiling", {}).get("ceiling_gflops", 0) / 1e3)
        best = max((r for r in rates if isinstance(r, float)), default=0.0)
        if best > 0:
            out["pct_of_ceiling"] = 100 * out["tflops"] / best
        return out

    if args.reference:
        section("reference", check_reference, args.reference)
    section("fcn_vs_cropping", check_fcn, args.quick)
    data: list = []

    def make_data() -> dict:
        data.extend(small_dataset(args.quick, args.tmp))
        return {"train_patches": len(data[0]), "test_patches": len(data[2])}

    section("data", make_data)
    if data:
        epochs = 1 if args.quick else 6
        section("mixed_precision", check_mixed_precision, tuple(data), epochs, policies)
    for name in ("compact", "report"):
        for policy in policies:
            steps = 4 if args.quick else 200
            section(f"train/{name}/{policy}", with_ceiling, name, policy, steps)
    section("inference", inference, args.quick)
    if failed:
        log(f"FAILED sections: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
