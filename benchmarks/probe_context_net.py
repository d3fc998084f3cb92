"""Probe for issue 9's next lever: a detector that sees its photo's sharpness distribution.

Not a speed benchmark: an ablation pair at equal budget, scored on the validation photos only
(never the test photos), printed as Markdown. Both arms start from the same model (``--model``,
default the shipped one): its trunk (every layer up to ``head_relu``) under a new head, trained
alike (same seeded subsample of the TRAINING composites of ``--data`` — the ``train`` photos
of ``--run``'s ``split.json``, with the run's patch filters —, same order, same steps):

* **context** — the head reads the trunk's 128 features and the patch's
  :func:`blurlib.evaluation.baselines.photo_context` (the photo's log Laplacian quantiles and
  the patch's log Laplacian relative to them; ``--features anisotropy``: the photo's and the
  patch's gradient anisotropy, :func:`~blurlib.evaluation.baselines.photo_anisotropy`;
  ``both``), standardised on the training patches;
* **plain** — the same head with the context input held at zero: what the fine-tuning alone
  buys.

Then for each arm the validation command's tables (``evaluate --robustness`` on the validation
list at ``--max-side``, seed 0, no baselines) and, on the real motion-blurred ``clock``, the
share of its judgeable patches (``evidence_mask``, predict's rule) called blurred: a photo
blurred all over is where a photo-level reference can mislead. ``--whole DATA`` replaces
``--whole-share`` of the patches (both arms alike) with patches of composites blurred all over
(``generate --fraction 1.0``, the run's training photos), so that a net cannot count on a
sharp reference being there.

    python benchmarks/probe_context_net.py --data data/robust18 --run runs/robust18 \\
        [--patches 300000] [--epochs 2] [--whole data/whole18 --whole-share 0.15]
        [--out runs/probe_context] [--reuse --thresholds 0.6,0.7,0.8]

``--reuse --thresholds`` scores the saved arms at other cuts (accuracy at matched false alarms:
is a gain a better detector or another operating point?).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

VALIDATION_LIST = "models/analysis/validation_photos.txt:all"


def training_data(
    data: str, run: str, n: int, seed: int, whole: str = "", share: float = 0.0,
    features: str = "laplacian",
):  # fmt: skip
    """(patches, context, labels) of a seeded subsample of the run's training patches; with
    ``whole`` a ``share`` of them replaced by patches of that data set's composites (made with
    ``generate --fraction 1.0``: blurred all over), its photos split as the run's."""
    from blurlib.training.runs import read_split, read_train_config
    from blurlib.training.split import split_by_source

    cfg = read_train_config(run)["config"]
    X, C, y = _patches(data, read_split(run)["train"], cfg, features)
    pick = np.sort(np.random.default_rng(seed).permutation(len(X))[:n])
    X, C, y = X[pick], C[pick], y[pick]
    if whole and share > 0:
        from blurlib.data.dataset import open_dataset

        sources = open_dataset(whole, with_sharp=False).sources
        train = split_by_source(
            sources, test_sources=cfg["test_sources"], val_sources=cfg["val_sources"]
        )["train"]
        Xw, Cw, yw = _patches(whole, train, cfg, features)
        rng = np.random.default_rng(seed + 2)
        k = min(len(Xw), round(share * len(X)))
        out, take = rng.permutation(len(X))[:k], rng.permutation(len(Xw))[:k]
        X[out], C[out], y[out] = Xw[take], Cw[take], yw[take]
    return X, C, y


def context_features(image: np.ndarray, features: str) -> np.ndarray:
    """(rows, cols, k) context of each grid patch: ``laplacian`` (:func:`photo_context`),
    ``anisotropy`` (:func:`photo_anisotropy`) or ``both``."""
    from blurlib.evaluation.baselines import photo_anisotropy, photo_context

    parts = {
        "laplacian": (photo_context,),
        "anisotropy": (photo_anisotropy,),
        "both": (photo_context, photo_anisotropy),
    }
    made = [f(image) for f in parts[features]]
    rows, cols = min(m.shape[0] for m in made), min(m.shape[1] for m in made)
    return np.concatenate([m[:rows, :cols] for m in made], axis=-1)


def _patches(data: str, indices, cfg, features: str = "laplacian"):
    """(patches, context, labels) of the given composites, with the run's patch filters."""
    from blurlib.data.dataset import open_dataset
    from blurlib.training.split import patch_arrays

    images = open_dataset(data, with_sharp=True)
    xs, cs, ys = [], [], []
    for i in indices:
        ex = images[int(i)]
        x, y, cells = patch_arrays(
            [ex], [0], cfg["min_texture"], min_evidence=cfg["min_evidence"],
            min_blur_texture=cfg["min_blur_texture"], cells=True,
        )  # fmt: skip
        ctx = context_features(ex.image, features)
        xs.append(x), ys.append(y), cs.append(ctx.reshape(-1, ctx.shape[-1])[cells[:, 1]])
    return np.concatenate(xs), np.concatenate(cs), np.concatenate(ys)


def build(base, dim: int, seed: int):
    """The base model's trunk under a new head that also reads ``dim`` context features."""
    import keras

    keras.utils.set_random_seed(seed)
    trunk = keras.Model(base.inputs, base.get_layer("head_relu").output)
    image = keras.Input(base.input_shape[1:], name="image")
    ctx = keras.Input((dim,), name="context")
    f = keras.layers.Flatten()(trunk(image))
    g = keras.layers.Dense(32, activation="relu", name="ctx_dense")(ctx)
    h = keras.layers.Dense(64, activation="relu", name="mix")(keras.layers.Concatenate()([f, g]))
    out = keras.layers.Dense(2, activation="softmax", name="output")(h)
    model = keras.Model([image, ctx], out)
    model.compile(
        keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def scorer(model, mu: np.ndarray, sd: np.ndarray, use_context: bool, features: str):
    """image -> (rows, cols) P(blurred) on the patch grid, context from the image itself."""
    from blurlib.data.patches import to_patches

    def predict(image: np.ndarray) -> np.ndarray:
        grid = to_patches(image)
        rows, cols = grid.shape[:2]
        ctx = (context_features(image, features)[:rows, :cols].reshape(rows * cols, -1) - mu) / sd
        ctx = ctx if use_context else np.zeros_like(ctx)
        x = grid.reshape(rows * cols, *grid.shape[2:]).astype(np.float32)
        p = model.predict([x, ctx.astype(np.float32)], batch_size=1024, verbose=0)[:, 1]
        return p.reshape(rows, cols).astype(np.float32)

    return predict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="the starting model (default: the shipped one)")
    ap.add_argument("--data", required=True, help="the run's generated data set")
    ap.add_argument("--run", required=True, help="the run folder (split.json, train_config)")
    ap.add_argument("--patches", type=int, default=200_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--arms", default="context,plain")
    ap.add_argument("--whole", default="", help="a data set of composites blurred all over")
    ap.add_argument("--whole-share", type=float, default=0.15, help="their share of patches")
    ap.add_argument("--out", default="runs/probe_context")
    ap.add_argument(
        "--features",
        choices=("laplacian", "anisotropy", "both"),
        default="laplacian",
        help="the context: the photo's sharpness distribution (photo_context), its gradient "
        "anisotropy (photo_anisotropy) or both",
    )
    ap.add_argument(
        "--thresholds",
        default="0.5",
        help="comma-separated thresholds on P(blurred) to score each arm at (a diagnostic: "
        "accuracy at matched false alarms; the rule reads 0.5)",
    )
    ap.add_argument(
        "--reuse", action="store_true", help="score the arms saved in --out instead of training"
    )
    ap.add_argument(
        "--real",
        default="",
        help="comma-separated paths of real motion-blurred photos: each arm's share of their "
        "judgeable patches called blurred, beside the clock's",
    )
    ap.add_argument(
        "--only-real", action="store_true", help="skip the validation tables (with --reuse)"
    )
    args = ap.parse_args(argv)

    from blurlib.runtime import start_keras

    start_keras()
    from blurlib.data.patches import evidence_mask
    from blurlib.data.photos import load_photos, shrink_to
    from blurlib.data.samples import real_blur_samples
    from blurlib.evaluation.robustness import robustness_markdown, run_robustness
    from blurlib.nets.files import load_model
    from blurlib.sources import load_image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X, C, y = training_data(
        args.data, args.run, args.patches, args.seed, args.whole, args.whole_share, args.features
    )
    mu, sd = C.mean(0), C.std(0) + 1e-6
    Cn = ((C - mu) / sd).astype(np.float32)
    print(f"{len(X)} training patches, {y.mean():.3f} blurred; context mean {np.round(mu, 2)}")
    val = load_photos([VALIDATION_LIST], max_side=args.max_side)
    clock = real_blur_samples()[0][1]
    real = [
        (Path(f).stem, shrink_to(load_image(f), args.max_side)) for f in args.real.split(",") if f
    ]
    for arm in args.arms.split(","):
        use = arm == "context"
        if args.reuse:
            import keras

            model = keras.models.load_model(out / f"{arm}.keras")
        else:
            model = build(load_model(args.model), C.shape[1], args.seed)
            order = np.random.default_rng(args.seed + 1).permutation(len(X))  # same for both
            ctx = Cn if use else np.zeros_like(Cn)
            for epoch in range(args.epochs):
                h = model.fit(
                    [X[order], ctx[order]], y[order], batch_size=128, epochs=1, shuffle=False,
                    verbose=2,
                )  # fmt: skip
                print(f"{arm} epoch {epoch + 1}: {h.history}", flush=True)
            model.save(out / f"{arm}.keras")
        scores = remembered(scorer(model, mu, sd, use, args.features))  # once per image
        for t in (float(v) for v in args.thresholds.split(",")):
            predict = at_threshold(scores, t)
            if not args.only_real:
                result = run_robustness(predict, [], val, seed=0, baselines=())
                name = arm if t == 0.5 else f"{arm}_t{t:g}"
                (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
                print(f"\n## {arm}, P > {t:g} (validation photos)\n")
                print(robustness_markdown(result))
            for label, photo in [("clock", clock), *real]:
                p = predict(photo)
                m = evidence_mask(photo)[: p.shape[0], : p.shape[1]]
                print(
                    f"{arm}, P > {t:g}, {label}: {float((p[m] > 0.5).mean()):.3f} of its "
                    f"{int(m.sum())} judgeable patches called blurred",
                    flush=True,
                )
    return 0


def remembered(predict):
    """``predict`` that runs once per distinct image (the thresholds rescore the same images)."""
    import hashlib

    seen: dict[tuple, np.ndarray] = {}

    def once(image: np.ndarray) -> np.ndarray:
        key = (image.shape, hashlib.sha1(np.ascontiguousarray(image)).digest())
        if key not in seen:
            seen[key] = predict(image)
        return seen[key]

    return once


def at_threshold(predict, t: float):
    """``predict`` with its probabilities mapped monotonically so that ``t`` lands on 0.5
    (the evaluation's cut): the same ranking, another operating point."""

    def moved(image: np.ndarray) -> np.ndarray:
        p = predict(image)
        return np.where(p < t, 0.5 * p / t, 0.5 + 0.5 * (p - t) / (1 - t)).astype(np.float32)

    return moved


if __name__ == "__main__":
    raise SystemExit(main())
