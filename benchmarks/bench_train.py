"""Training throughput: patches/s and achieved GFLOP/s beside this machine's float32 GEMM
ceiling, and the tf.data pipeline against the same batches fed from memory.

Measured side by side in one run:

* the float32 GEMM ceiling (n×n @ n×n, best of several; ``_common.gemm_ceiling``): the best
  of numpy in a subprocess without OPENBLAS_CORETYPE/L2_SIZE, TensorFlow's matmul and numpy
  in-process — the best dense math this machine runs;
* for each network: training patches/s through ``blurlib.training.pipeline.make_dataset`` (seeded
  shuffle, flips/rotations, cast, prefetch) with ``model.fit``, and achieved GFLOP/s =
  patches/s × 3 × forward FLOPs per patch (backward ≈ 2× forward);
* the same batches taken out of the pipeline beforehand and fed from memory, once through
  ``model.fit`` over the pre-made tensors and once by a ``train_on_batch`` loop over a
  Python list — the pipeline overhead is ``1 - pipeline / (faster memory feed)``; the
  feeds alternate in rounds and the best round of each counts;
* unless ``--quick``, the same with XLA (``jit_compile=True``), which is how
  ``blurlib.training.devices.choose_jit`` was decided for the CPU;
* with ``--precision``, each network trained through the same pipeline under float32 and
  under each mixed policy named (``bf16`` = ``train --mixed-precision bf16``), the policies
  taking turns round by round, best round each, and their speed-up over float32.

The patches are random uint8 (throughput does not depend on content). Run:

    python benchmarks/bench_train.py [--quick] [--model report compact] [--steps N]
        [--precision bf16 [on]]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from _common import gemm_ceiling


class _StepTimer:
    """Time from the end of a fit call's first batch to the end of its last (a Keras
    callback made lazily), so tracing and pipeline start-up are not counted."""

    @staticmethod
    def make() -> object:
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.stamps: list[float] = []

            def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
                self.stamps.append(time.perf_counter())

        return Timer()


def _pipeline(X: np.ndarray, y: np.ndarray, batch: int, seed: int) -> object:
    """One epoch of the training pipeline, as ``blurlib.training.fit.fit`` builds it."""
    from blurlib.training.pipeline import make_dataset

    return make_dataset(
        X, y, batch, shuffle=True, augment=True, seed=seed, drop_remainder=True, epochs=1
    )


def _fit_rate(net: object, data: object, steps: int, batch: int) -> float:
    """Patches/s of one ``fit`` epoch of ``steps`` batches, after its first batch."""
    timer = _StepTimer.make()
    net.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0, shuffle=False)
    return (steps - 1) * batch / (timer.stamps[-1] - timer.stamps[0])


def bench_model(
    name: str, batch: int, steps: int, jit: bool, rounds: int, seed: int = 0
) -> dict[str, float]:
    """Return patches/s for pipeline, fit-from-memory and train_on_batch-from-memory.

    The three feeds train one model in turn, ``rounds`` times each, interleaved, and the
    best round of each counts: machine noise hits all three alike.
    """
    import keras
    import tensorflow as tf

    from blurlib.nets.builders import build_model, compile_model
    from blurlib.nets.flops import count_flops
    from blurlib.training.pipeline import make_dataset

    rng = np.random.default_rng(seed)
    n = batch * steps
    X = rng.integers(0, 256, (n, 30, 30, 3), dtype=np.uint8)
    y = rng.integers(0, 2, n, dtype=np.uint8)
    keras.utils.set_random_seed(seed)
    net = build_model(name, seed=seed)
    compile_model(net, lr=1e-4, jit_compile=jit)
    flops = count_flops(net)

    def pipeline() -> tf.data.Dataset:
        return _pipeline(X, y, batch, seed)

    # the very same batches, made beforehand and held in memory as tensors
    batches = list(pipeline())
    xb = tf.stack([b[0] for b in batches])
    yb = tf.stack([b[1] for b in batches])

    def memory() -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices((xb, yb))

    def timed_fit(make: object) -> float:
        return _fit_rate(net, make(), steps, batch)

    def timed_loop() -> float:
        net.train_on_batch(*batches[0])
        t = time.perf_counter()
        for xt, yt in batches[1:]:
            net.train_on_batch(xt, yt)
        return (steps - 1) * batch / (time.perf_counter() - t)

    def timed_pipeline_alone() -> float:
        ds = make_dataset(
            X, y, batch, shuffle=True, augment=True, seed=seed, drop_remainder=True, epochs=4
        )
        it = iter(ds)
        next(it)
        t = time.perf_counter()
        for _ in it:
            pass
        return (4 * steps - 1) * batch / (time.perf_counter() - t)

    timed_fit(pipeline)  # tracing / warm-up
    timed_loop()
    best = {"pipeline": 0.0, "memory_fit": 0.0, "memory_loop": 0.0, "pipeline_alone": 0.0}
    for r in range(rounds):
        best["pipeline_alone"] = max(best["pipeline_alone"], timed_pipeline_alone())
        # alternate the order, so that a drift of the machine's speed favours neither feed
        feeds = [("pipeline", pipeline), ("memory_fit", memory)]
        for key, make in feeds if r % 2 == 0 else feeds[::-1]:
            best[key] = max(best[key], timed_fit(make))
        best["memory_loop"] = max(best["memory_loop"], timed_loop())
    return {"flops": float(flops), **best}


def bench_precisions(
    name: str, batch: int, steps: int, modes: list[str], rounds: int, seed: int = 0
) -> dict[str, float]:
    """Return training patches/s through the pipeline under float32 and each of ``modes``
    (``train --mixed-precision`` values), one net per policy built alike, the policies
    taking turns in each round (the order reversed every other round), best round each."""
    import keras

    from blurlib.nets.builders import build_model, compile_model
    from blurlib.training.devices import choose_precision

    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (batch * steps, 30, 30, 3), dtype=np.uint8)
    y = rng.integers(0, 2, batch * steps, dtype=np.uint8)
    policies = {"float32": "float32", **{m: choose_precision(m) for m in modes}}
    nets = {}
    previous = keras.config.dtype_policy()
    try:
        for label, policy in policies.items():
            keras.config.set_dtype_policy(policy)
            keras.utils.set_random_seed(seed)
            nets[label] = build_model(name, seed=seed)
            compile_model(nets[label], lr=1e-4, jit_compile=False)
    finally:
        keras.config.set_dtype_policy(previous)

    def timed_fit(net: object) -> float:
        return _fit_rate(net, _pipeline(X, y, batch, seed), steps, batch)

    for net in nets.values():
        timed_fit(net)  # tracing / warm-up
    best = dict.fromkeys(nets, 0.0)
    order = list(nets)
    for r in range(rounds):
        for label in order if r % 2 == 0 else order[::-1]:
            best[label] = max(best[label], timed_fit(nets[label]))
    return best


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, no XLA comparison")
    p.add_argument("--model", nargs="+", default=["report", "compact"])
    p.add_argument("--steps", type=int, help="batches per timed epoch")
    p.add_argument("--batch", type=int, help="batch size (default: 126 report, 128 compact)")
    p.add_argument("--jit", choices=("auto", "both", "on", "off"), default=None)
    p.add_argument(
        "--precision",
        nargs="+",
        choices=("on", "bf16"),
        help="only compare float32 with these --mixed-precision modes (on = float16)",
    )
    args = p.parse_args(argv)
    if args.precision:
        return _main_precision(args)

    import keras
    import tensorflow as tf

    from blurlib.training.devices import choose_jit, choose_strategy, gpu_info

    steps = args.steps or (6 if args.quick else 16)
    rounds = 2 if args.quick else 4
    jit_mode = args.jit or ("auto" if args.quick else "both")
    strategy = choose_strategy("auto")
    auto_jit = choose_jit("auto", strategy)
    jits = {"auto": [auto_jit], "on": [True], "off": [False], "both": [False, True]}[jit_mode]
    devices = [
        d.name for d in tf.config.list_logical_devices() if "CPU" in d.name or "GPU" in d.name
    ]
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, numpy {np.__version__}; "
        f"{os.cpu_count()} CPU cores; devices {devices}; GPUs {gpu_info() or 'none'}"
    )

    n, repeats = 2048, (4 if args.quick else 10)
    print(f"ceil = best float32 GEMM {n}×{n} @ {n}×{n}, best of {repeats}, before each row;")
    print("every row is divided by the best reading of the whole run (one noisy reading on a")
    print("shared machine must not push a row over 100 %)")
    ceilings = []  # one gemm_ceiling() before each row
    rows = []
    for name in args.model:
        batch = args.batch or (126 if name == "report" else 128)
        for jit in jits:
            ceilings.append((f"{name} XLA {'on' if jit else 'off'}", gemm_ceiling(n, repeats)))
            rows.append((name, jit, batch, bench_model(name, batch, steps, jit, rounds)))
    mm = max(c.gflops for _, c in ceilings)
    print()
    header = (
        f"{'model':8} {'XLA':4} {'batch':>5} {'MFLOP/patch':>11} {'pipeline p/s':>12} "
        f"{'GFLOP/s':>8} {'% ceil':>8} {'memory fit p/s':>14} "
        f"{'memory loop p/s':>15} {'pipe/mem':>8} {'data only p/s':>13}"
    )
    print(header)
    print("-" * len(header))
    for name, jit, batch, r in rows:
        gflops = r["pipeline"] * 3 * r["flops"] / 1e9
        print(
            f"{name:8} {'on' if jit else 'off':4} {batch:5d} {r['flops'] / 1e6:11.1f} "
            f"{r['pipeline']:12.0f} {gflops:8.1f} {100 * gflops / mm:7.1f}% "
            f"{r['memory_fit']:14.0f} {r['memory_loop']:15.0f} "
            f"{r['pipeline'] / max(r['memory_fit'], r['memory_loop']):8.3f} "
            f"{r['pipeline_alone']:13.0f}",
            flush=True,
        )
    print()
    print("GFLOP/s = pipeline patches/s × 3 × forward FLOPs (forward + backward ≈ 3× forward);")
    print("pipe/mem = tf.data pipeline throughput ÷ the faster of the two in-memory feeds of the")
    print("           same batches (1 - pipe/mem = pipeline overhead; > 1 = noise of the machine);")
    print("data only = the pipeline iterated without training (its own cost).")
    print(f"ceil = {mm:.1f} GFLOP/s, the best of these float32 GEMM readings (one per row):")
    print("\n".join(f"  before {label}: {c.describe()}" for label, c in ceilings))
    return 0


def _main_precision(args: argparse.Namespace) -> int:
    """``--precision``: training speed of each mixed policy against float32, side by side."""
    import keras
    import tensorflow as tf

    steps = args.steps or (8 if args.quick else 24)
    rounds = 2 if args.quick else 4
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; {os.cpu_count()} CPU cores; "
        f"{steps} batches per timed epoch, best of {rounds} interleaved rounds"
    )
    header = f"{'model':8} {'batch':>5} {'policy':>15} {'patches/s':>10} {'× float32':>10}"
    print(header)
    print("-" * len(header))
    for name in args.model:
        batch = args.batch or (126 if name == "report" else 128)
        best = bench_precisions(name, batch, steps, args.precision, rounds)
        for label, value in best.items():
            print(
                f"{name:8} {batch:5d} {label:>15} {value:10.0f} {value / best['float32']:10.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
