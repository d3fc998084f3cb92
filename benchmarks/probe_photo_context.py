"""Probe for issue 9's next lever: how much does the photo's own sharpness tell a detector?

Not a speed benchmark: a measurement on the validation photos only (never the test photos),
printed as Markdown. For a detector ``--model`` it runs

1. the robustness suite (``evaluate --robustness``'s pristine and quality-variant tables,
   seed 0) with two baselines beside the CNN: the Laplacian variance with a threshold fitted
   on the training photos, and :func:`blurlib.evaluation.baselines.laplacian_relative` — the
   same measure divided by the photo's own 90th percentile over its textured patches, one
   number of context per photo;
2. a late fusion: a logistic regression on three per-patch features — the CNN's logit, the
   log Laplacian variance and the log relative Laplacian — fitted on ``--fit-images``
   TRAINING composites of ``--data`` (the ``train`` photos of ``--run``'s ``split.json``,
   their textured patches; seeded choice), then scored by the same suite. The features are
   fixed, the regression has no knob tuned on the validation photos.

    python benchmarks/probe_photo_context.py --model runs/robust17/model.keras \\
        --data data/robust17 --run runs/robust17 [--fit-images 300]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

TRAIN_LIST = "models/photos_robust.txt"
VALIDATION_LIST = "models/analysis/validation_photos.txt:all"


def features(model, image: np.ndarray) -> np.ndarray:
    """(rows, cols, 3): CNN logit, log Laplacian variance, log relative Laplacian."""
    from blurlib.evaluation.baselines import LOG_EPS, laplacian_relative, laplacian_variance
    from blurlib.inference.windows import patch_probabilities

    p = np.clip(patch_probabilities(model, image), 1e-4, 1 - 1e-4).astype(np.float64)
    lap, rel = laplacian_variance(image), laplacian_relative(image)
    return np.stack([np.log(p / (1 - p)), np.log(lap + LOG_EPS), np.log(rel + LOG_EPS)], -1)


def fit_logistic(X: np.ndarray, y: np.ndarray, ridge: float = 1e-3, steps: int = 25):
    """Standardised inputs, intercept, Newton steps (IRLS) with a small ridge."""
    mu, sd = X.mean(0), X.std(0) + 1e-12
    Z = np.c_[np.ones(len(X)), (X - mu) / sd]
    w = np.zeros(Z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-Z @ w))
        grad = Z.T @ (p - y) + ridge * w
        hess = (Z * (p * (1 - p))[:, None]).T @ Z + ridge * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return mu, sd, w


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="the model's generated data set")
    ap.add_argument("--run", required=True, help="the model's run folder (split.json)")
    ap.add_argument("--fit-images", type=int, default=300)
    ap.add_argument("--max-side", type=int, default=1024)
    args = ap.parse_args(argv)

    from blurlib.runtime import start_keras

    start_keras()
    from blurlib import PATCH
    from blurlib.data.dataset import open_dataset
    from blurlib.data.patches import TEXTURE_THRESHOLD
    from blurlib.data.photos import load_photos
    from blurlib.evaluation.examples import example_textured
    from blurlib.evaluation.robustness import robustness_markdown, run_robustness
    from blurlib.nets.files import load_model
    from blurlib.training.runs import read_split

    model = load_model(args.model)
    train = load_photos([TRAIN_LIST], max_side=args.max_side)
    val = load_photos([VALIDATION_LIST], max_side=args.max_side)
    names = ("laplacian", "laplacian_relative")
    print(f"## {args.model}: CNN, Laplacian, photo-relative Laplacian (validation photos)\n")
    print(robustness_markdown(run_robustness(model, train, val, seed=0, baselines=names)))

    images = open_dataset(args.data)
    split = read_split(args.run)
    pick = np.random.default_rng(0).choice(split["train"], args.fit_images, replace=False)
    X, y = [], []
    for i in pick:
        ex = images[int(i)]
        f = features(model, ex.image)
        r, c = f.shape[:2]
        keep = example_textured(ex, PATCH, TEXTURE_THRESHOLD)[:r, :c]
        X.append(f[keep])
        y.append(np.asarray(ex.labels)[:r, :c][keep])
    mu, sd, w = fit_logistic(np.concatenate(X), np.concatenate(y).astype(np.float64))

    def fused(image: np.ndarray) -> np.ndarray:
        f = features(model, image)
        z = w[0] + ((f - mu) / sd) @ w[1:]
        return (1 / (1 + np.exp(-z))).astype(np.float32)

    n = sum(len(v) for v in y)
    print(f"## Late fusion, fitted on {n} textured patches of {args.fit_images} training "
          f"composites; standardised weights (intercept, CNN logit, log Laplacian, log "
          f"relative): {np.round(w, 3).tolist()}\n")  # fmt: skip
    print(robustness_markdown(run_robustness(fused, train, val, seed=0, baselines=())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
