"""Probe (stop 34): the binary default model and the blur-analysis model, averaged.

Not a speed benchmark: issue 9's suite (``evaluate --robustness``'s tables, ``--seed``,
default 0) with one detector, the per-patch mean of the default model's P(blurred)
(:func:`blurlib.inference.windows.patch_probabilities`) and the analysis model's P(motion)
(:func:`blurlib.inference.analysis.patch_analysis`). The two were trained apart — v6 with every
label-0 degradation, the analysis net with defocus as a class of its own — and err apart: v6
calls defocus motion, the analysis net misses soft-looking motion. Two networks per photo.
Judged on the five validation photos (``models/README.md``, "The default and analysis models
averaged, tried").

    python benchmarks/probe_ensemble.py --test-photos models/analysis/validation_photos.txt:all \\
        --real-blur models/photos_real_motion.txt --out runs/ensemble_val
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    """Run the suite with the averaged detector; print (and with --out save) the tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="binary model (default: the shipped one)")
    ap.add_argument("--analysis-model", default="analysis")
    ap.add_argument("--weight", type=float, default=0.5, help="the analysis model's weight")
    ap.add_argument("--train-photos", default=str(ROOT / "models" / "photos_robust.txt"))
    ap.add_argument("--test-photos", required=True)
    ap.add_argument("--real-blur", default=None, help="a photo list of real motion blur")
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        ap.error(f"--weight must lie in [0, 1], got {args.weight}")

    from blurlib.data.photos import load_photos, shrink_to
    from blurlib.data.samples import real_blur_samples
    from blurlib.evaluation.robustness import robustness_markdown, run_robustness
    from blurlib.evaluation.suite import run_suite, suite_markdown
    from blurlib.inference.analysis import patch_analysis
    from blurlib.inference.windows import patch_probabilities
    from blurlib.nets.files import load_model

    binary, analysis, w = load_model(args.model), load_model(args.analysis_model), args.weight

    def averaged(image):
        p = patch_probabilities(binary, image)
        return ((1.0 - w) * p + w * patch_analysis(analysis, image).p_motion).astype("f4")

    train = load_photos([args.train_photos], max_side=args.max_side)
    test = load_photos([args.test_photos], max_side=args.max_side)
    real = [(n, shrink_to(img, args.max_side)) for n, img in real_blur_samples()]
    if args.real_blur:
        real += load_photos([args.real_blur], max_side=args.max_side)
    result = run_suite(
        averaged, train, test, seed=args.seed, variants=args.variants, real_blur_photos=real
    )
    result["robustness"] = run_robustness(averaged, train, test, seed=args.seed)
    result["detector"] = (
        f"{1 - w:g} x P(blurred) of {args.model or 'the default model'} + "
        f"{w:g} x P(motion) of {args.analysis_model}"
    )
    text = suite_markdown(result) + "\n**Robustness** (textured accuracy by photo quality)\n\n"
    text += robustness_markdown(result["robustness"])
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "evaluation.json").write_text(
            json.dumps(result, indent=1, sort_keys=True, default=float) + "\n"
        )
        (args.out / "evaluation.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
