"""Training the blur-kind net: patches drawn in turn with fitting (``workers=0``) against drawn
on worker processes while the previous epoch fits (the default), side by side in one run.

Both arms run :func:`blurlib.training.analysis.train_analysis` on the ten bundled photos with
the same small plan (``--epochs`` × ``--per-epoch`` fresh patches, the ``analysis`` net at
width 32, 2,000 validation patches), alternating arm by arm for ``--rounds`` rounds so that
drift and other processes' load fall on both alike. It prints each arm's median wall time per
epoch (the ``seconds`` column of ``log.csv``: drawing, fitting, validation and backup, photo
loading excluded), the ratio of the medians, and checks the point of the design: both arms end
with the same weights. Run:

    python benchmarks/bench_kind_train.py [--rounds 2] [--epochs 3] [--per-epoch 8000]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

PHOTOS = "sample:astronaut,brick,camera,chelsea,coffee,coins,grass,gravel,motorcycle,rocket\n"


def epoch_seconds(run: Path) -> float:
    """Mean wall seconds per epoch of a finished run, from its ``log.csv``."""
    with open(run / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return float(rows[-1]["seconds"]) / len(rows)


def main(argv: list[str] | None = None) -> int:
    """Run both arms, print the table, fail if their weights differ."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--per-epoch", type=int, default=8000)
    args = ap.parse_args(argv)

    from blurlib.data.kind_stream import default_workers
    from blurlib.nets.files import load_model
    from blurlib.runtime import start_keras
    from blurlib.training.analysis import AnalysisTrainConfig, train_analysis

    start_keras()
    cfg = AnalysisTrainConfig(
        epochs=args.epochs, per_epoch=args.per_epoch, val_patches=2000, deadleaves=4
    )
    auto = default_workers()
    arms = {"in turn (workers=0)": 0, f"ahead ({auto} worker process(es))": auto}
    times: dict[str, list[float]] = {name: [] for name in arms}
    weights: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        photo_list = Path(tmp) / "photos.txt"
        photo_list.write_text(PHOTOS)
        for r in range(args.rounds):
            for name, workers in arms.items():
                run = Path(tmp) / f"r{r}-{workers}"
                train_analysis(photo_list, run, cfg, verbose=0, workers=workers)
                times[name].append(epoch_seconds(run))
                weights[name] = load_model(run / "model.keras").get_weights()
    print(f"cores: {os.cpu_count()}; plan: {args.epochs} epochs x {args.per_epoch} patches")
    print("| arm | s per epoch (median) | each round |")
    print("|---|---:|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.1f} | {', '.join(f'{t:.1f}' for t in ts)} |")
    base, fast = (statistics.median(ts) for ts in times.values())
    print(f"speed-up: {base / fast:.2f}x")
    a, b = weights.values()
    same = all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    print("same weights in both arms:", same)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
