"""Would a lighter network lift ``rank`` / naive? ``bench_rank`` with untrained lighter trunks.

Speed does not depend on the weights, so this builds two lighter patch classifiers with
random weights — shapes only, never trained, never shipped — and runs
``benchmarks/bench_rank.py --model M`` with each, after the shipped default model:

* **pool-early** (4.3 MFLOP per 30×30 patch, the default's 33): one 3×3 convolution of
  ``--width`` channels at full resolution, a pool, two 3×3 of twice as many, a pool, one 3×3
  of four times, a 3×3 head of eight times (30 → 28 → 14 → 12 → 10 → 5 → 3 → 1);
* **5×5 stem** (6.5 MFLOP): a 5×5 and a 3×3 convolution of ``--width`` at full resolution, a
  pool, two 3×3 of twice as many, a pool, a 4×4 head of eight times (30 → 26 → 24 → 12 → 10
  → 8 → 4 → 1).

Both keep what the dense form needs (valid convolutions, every downsampling a 2×2 pool on
an even size, the receptive field exactly 30×30), so ``rank``'s fully-convolutional form and
strided head apply as to the default. The question it answers: the naive loop runs the same
network on the 30-px grid, so a cheaper network speeds it up too — does the ratio move?
Run (on a quiet machine: each model's bench takes about a minute at ``--n 50``):

    python benchmarks/bench_rank_lighter.py [--n 50] [--width 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

# (name, stages): each stage is a list of (kernel, channel multiple) convolutions, a 2×2
# pool between stages; the last convolution is the full-extent head
TRUNKS = {
    "pool-early": [[(3, 1)], [(3, 2), (3, 2)], [(3, 4), (3, 8)]],
    "5x5-stem": [[(5, 1), (3, 1)], [(3, 2), (3, 2)], [(4, 8)]],
}


def build(stages: list[list[tuple[int, int]]], width: int, seed: int = 0):
    """An untrained 30×30 → 2 classifier of conv + batch norm + ReLU stages."""
    import keras
    from keras import layers

    from blurlib.nets.builders import seeded_init

    inp = keras.Input(shape=(30, 30, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inp)
    k = 0
    for s, stage in enumerate(stages, start=1):
        if s > 1:
            x = layers.MaxPooling2D(2, name=f"pool{s - 1}")(x)
        for c, (kernel, mult) in enumerate(stage, start=1):
            k += 1
            init = seeded_init(seed, k)
            x = layers.Conv2D(width * mult, kernel, use_bias=False, kernel_initializer=init,
                              name=f"b{s}c{c}_conv")(x)  # fmt: skip
            x = layers.BatchNormalization(name=f"b{s}c{c}_bn")(x)
            x = layers.ReLU(name=f"b{s}c{c}_relu")(x)
    if x.shape[1] != 1:
        raise ValueError(f"trunk leaves {x.shape[1]}×{x.shape[2]}, not 1×1")
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(2, activation="softmax", dtype="float32", name="output")(x)
    return keras.Model(inp, out, name="compact")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50, help="photos per bench_rank run")
    ap.add_argument("--width", type=int, default=16, help="full-resolution channels")
    args = ap.parse_args(argv)

    from blurlib.runtime import start_keras

    start_keras()
    import bench_rank

    from blurlib.nets.files import save_model
    from blurlib.nets.flops import count_flops

    common = ["--n", str(args.n), "--n-predict", "5", "--chunk", "10"]
    print("== the shipped default model")
    bench_rank.main(common)
    with tempfile.TemporaryDirectory(prefix="bench_lighter_") as tmp:
        for name, stages in TRUNKS.items():
            net = build(stages, args.width)
            path = save_model(net, Path(tmp) / f"{name}.keras")
            print(f"\n== {name} (untrained, width {args.width}): "
                  f"{count_flops(net) / 1e6:.1f} MFLOP per patch")  # fmt: skip
            bench_rank.main([*common, "--model", str(path)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
