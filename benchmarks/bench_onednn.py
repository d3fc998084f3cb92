"""TensorFlow with and without oneDNN on this CPU: training and dense-map throughput, side by side.

TensorFlow's x86 wheels turn their oneDNN kernels on by default only on CPUs with AVX-512
VNNI/BF16 or AMX; on an AVX2-only CPU (many laptops, some cloud EPYCs) the default is off,
and ``TF_ENABLE_ONEDNN_OPTS=1`` turns them on. The variable is read when TensorFlow is
imported, so each setting runs in its own child process of this script; the settings take
turns, ``--rounds`` times, and the best round of each counts (load from other processes
falls on both alike only roughly: run it on a quiet machine for claims).

Each child measures, with the ``compact`` net (or ``--model``):

* training patches/s through ``blurlib.training.pipeline.make_dataset`` and ``model.fit``
  (``bench_train``'s timed fit: the first batch, with tracing, not counted);
* the dense map of one 1280×960 photo: ``blurlib.predict.analyse`` at the default stride,
  photos/s.

It prints both per setting and the ratio on / off. Run:

    python benchmarks/bench_onednn.py [--rounds 3] [--steps 40] [--model compact]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

SETTINGS = {"off": "0", "on": "1"}


def child(model: str, steps: int, batch: int = 128) -> dict[str, float]:
    """One child's measurements (TF_ENABLE_ONEDNN_OPTS already set by the parent)."""
    import numpy as np
    from bench_train import _fit_rate, _pipeline

    from blurlib.nets.builders import build_model, compile_model
    from blurlib.predict import analyse

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (steps * batch, 30, 30, 3), dtype=np.uint8)
    y = rng.integers(0, 2, len(X), dtype=np.uint8)
    net = build_model(model, seed=0)
    compile_model(net, lr=1e-4, jit_compile=False)
    _fit_rate(net, _pipeline(X, y, batch, 0), steps, batch)  # warm-up: tracing
    train = _fit_rate(net, _pipeline(X, y, batch, 1), steps, batch)
    photo = rng.integers(0, 256, (960, 1280, 3), dtype=np.uint8)
    analyse(net, photo)  # warm-up
    t = time.perf_counter()
    analyse(net, photo)
    return {"train_patches_per_s": train, "map_photos_per_s": 1 / (time.perf_counter() - t)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=40, help="timed training batches of 128")
    p.add_argument("--model", default="compact")
    p.add_argument("--child", choices=tuple(SETTINGS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.model, args.steps)))
        return 0
    best: dict[str, dict[str, float]] = {name: {} for name in SETTINGS}
    for r in range(args.rounds):
        for name, value in SETTINGS.items():
            env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": value}
            cmd = [sys.executable, __file__, "--child", name, "--steps", str(args.steps)]
            out = subprocess.run(
                [*cmd, "--model", args.model], env=env, capture_output=True, text=True
            )
            if out.returncode:
                print(out.stderr[-2000:], file=sys.stderr)
                return 1
            got = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"round {r + 1} oneDNN {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in got.items())
            )
            for k, v in got.items():
                best[name][k] = max(best[name].get(k, 0.0), v)
    print(f"load average {os.getloadavg()[0]:.2f} (other processes slow both settings)")
    for k in best["off"]:
        ratio = best["on"][k] / best["off"][k]
        print(f"{k}: off {best['off'][k]:.2f}, on {best['on'][k]:.2f} -> on/off {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
