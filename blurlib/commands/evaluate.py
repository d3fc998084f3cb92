"""``python -m blurlib evaluate``: the honest numbers — CNN beside classical baselines.

Two modes:

* protocols (default): partially blur held-out TEST photos under each protocol (report,
  linear, shake), score the CNN and the Laplacian/Tenengrad/FFT baselines (thresholds fitted
  on the TRAINING photos only), then check untouched sharp photos and real motion-blurred
  photos (the bundled ``clock``, plus ``--real-blur``'s such as
  ``models/photos_real_motion.txt:all``: each photo and all together);
* ``--data DIR --run RUN``: score the test split of a generated dataset, the split that
  ``blurlib train`` saved in ``RUN/split.json`` (baselines fitted on its training split).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from blurlib.inference.views import VIEW_COUNTS

PHOTO_LIST = Path("models") / "training_photos.txt"  # in the checkout: the default model's photos


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` subcommand."""
    p = subparsers.add_parser(
        "evaluate",
        help="metrics of a model and classical baselines on held-out photos",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", help="a .keras/.h5 model (default: the shipped blurlib/nets/default.keras)"
    )
    p.add_argument(
        "--train-photos",
        action="append",
        help="photos the baselines' thresholds are fitted on (repeatable; default: the "
        "training part of models/training_photos.txt, the crisp wallpapers models v1-v5 were "
        "trained on; the default model v6's numbers use models/photos_robust.txt)",
    )
    p.add_argument(
        "--test-photos",
        action="append",
        help="held-out photos (repeatable; default: models/training_photos.txt:test — the "
        "photos after its '# [test]' line; v6's ordinary test photos: "
        "models/photos_robust.txt:test)",
    )
    p.add_argument("--protocols", nargs="+", default=["report", "linear", "shake"])
    p.add_argument("--variants", type=int, default=2, help="blurred copies per test photo")
    p.add_argument("--max-side", type=int, default=1280, help="shrink photos to this size")
    p.add_argument("--no-real-blur", action="store_true", help="skip the real blurred photos")
    p.add_argument(
        "--real-blur",
        action="append",
        default=[],
        metavar="SOURCE",
        help="more real motion-blurred photos beside the bundled clock (repeatable; a photo list "
        "such as models/photos_real_motion.txt:all or a folder): their content patches called "
        "blurred, each photo and all together",
    )
    p.add_argument(
        "--robustness",
        action="store_true",
        help="also score every protocol over quality variants of the test photos (soft, "
        "resampled, JPEG, noise, partial defocus), false alarms on them and defocus-only photos; "
        "with --kinds: kind accuracy and motion errors over those variants (but defocus)",
    )
    p.add_argument(
        "--kinds",
        action="store_true",
        help="evaluate a blur-kind model instead (--model, default 'analysis'): kind confusion, "
        "angle and length errors by length bucket, Sun et al.'s 73 classes, the real clock; "
        "test photos default to models/photos_robust.txt:test",
    )
    p.add_argument("--sun-model", help="with --kinds: a sun2015 .keras model to score beside it")
    p.add_argument(
        "--views",
        type=int,
        choices=VIEW_COUNTS,
        default=1,
        help="with --kinds: read each patch in 1, 4 or 8 rotated and mirrored copies and "
        "average the answers (one network pass each; default %(default)s)",
    )
    p.add_argument("--patches", type=int, default=6000, help="with --kinds: test patches")
    p.add_argument("--data", help="dataset folder: evaluate its test split instead")
    p.add_argument("--run", help="training run folder whose split.json names the test split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for evaluation.json and evaluation.md")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.set_defaults(func=run)


def _split_mode(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    from blurlib.data.dataset import load_dataset
    from blurlib.errors import DatasetError
    from blurlib.evaluation.baselines import fit_baselines
    from blurlib.evaluation.runner import evaluate, results_table
    from blurlib.training.runs import SPLIT_FILE, read_split

    if not args.run:
        raise DatasetError("--data needs --run RUN: the training run whose split.json to use")
    split_path = Path(args.run) / SPLIT_FILE
    split = read_split(args.run)
    train_idx, test_idx = split["train"], split["test"]
    examples = load_dataset(args.data)
    if isinstance(test_idx, int) or isinstance(train_idx, int):
        sources = split["sources"]
        test_idx = [e.index for e in examples if e.source in set(sources["test"])]
        train_idx = [e.index for e in examples if e.source in set(sources["train"])]
    if not test_idx:
        raise DatasetError(f"{split_path}: the test split is empty")
    baselines = fit_baselines([examples[i] for i in train_idx])
    result = evaluate(model, [examples[i] for i in test_idx], baselines, progress=True)
    return {
        "mode": "dataset-split",
        "data": str(args.data),
        "test_sources": sorted({examples[i].source for i in test_idx}),
        "metrics": result.metrics,
        "table": results_table(result),
    }


def run(args: argparse.Namespace) -> int:
    """Evaluate and print (and optionally save) the results."""
    from blurlib.data.photos import load_photos
    from blurlib.evaluation.suite import run_suite, suite_markdown
    from blurlib.nets.files import load_model
    from blurlib.paths import work_root

    if args.views != 1 and not args.kinds:
        from blurlib.errors import BlurlibError

        raise BlurlibError(
            "--views applies only to --kinds (the blur-kind evaluation); add --kinds, "
            "or drop --views"
        )
    if args.kinds:
        result, text = _kinds_mode(args)
        _write(args, result, text)
        return 0
    model = load_model(args.model)
    if args.data:
        result = _split_mode(args, model)
        text = f"Test split of {args.data}: photos {', '.join(result['test_sources'])}\n\n"
        text += result["table"]
    else:
        photo_list = work_root() / PHOTO_LIST
        train = load_photos(args.train_photos or [str(photo_list)], max_side=args.max_side)
        test = load_photos(args.test_photos or [f"{photo_list}:test"], max_side=args.max_side)
        real = _real_blur_photos(args)
        result = run_suite(
            model,
            train,
            test,
            protocols=args.protocols,
            seed=args.seed,
            variants=args.variants,
            real_blur_photos=real,
            progress=True,
        )
        result["mode"] = "protocols"
        if args.robustness:
            from blurlib.evaluation.robustness import robustness_markdown, run_robustness

            result["robustness"] = run_robustness(
                model, train, test, protocols=args.protocols, seed=args.seed, progress=True
            )
        result["model"] = str(args.model or "blurlib/nets/default.keras")
        text = suite_markdown(result)
        if args.robustness:
            text += "\n**Robustness** (textured accuracy by photo quality)\n\n"
            text += robustness_markdown(result["robustness"])
    _write(args, result, text)
    return 0


def _real_blur_photos(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """The bundled real motion-blurred photos (unless --no-real-blur) and --real-blur's, shrunk
    to --max-side."""
    from blurlib.data.photos import load_photos, shrink_to
    from blurlib.data.samples import real_blur_samples
    from blurlib.errors import BlurlibError

    if args.no_real_blur and args.real_blur:
        raise BlurlibError("--no-real-blur and --real-blur contradict each other: drop one")
    real = [] if args.no_real_blur else real_blur_samples()
    real = [(n, shrink_to(img, args.max_side)) for n, img in real]
    if args.real_blur:
        real += load_photos(args.real_blur, max_side=args.max_side)
    names = [n for n, _ in real]
    if len(set(names)) != len(names):
        raise BlurlibError(f"--real-blur names a photo twice ({', '.join(names)})")
    return real


def _write(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    """Print the result (Markdown or JSON) and save both into ``--out`` when given."""
    from blurlib.fileio import write_text

    payload = json.dumps(result, indent=1, sort_keys=True, default=float)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "evaluation.json", payload + "\n")
        write_text(out / "evaluation.md", text)
    print(payload if args.json else text)


def _kinds_mode(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """Blur-kind evaluation on held-out photos (see blurlib.evaluation.kinds)."""
    from blurlib.data.photos import load_photos
    from blurlib.evaluation.kinds import analysis_markdown, evaluate_analysis
    from blurlib.nets.files import load_model
    from blurlib.paths import work_root

    model = load_model(args.model or "analysis")
    sun = load_model(args.sun_model) if args.sun_model else None
    test_list = work_root() / "models" / "photos_robust.txt"
    test = load_photos(args.test_photos or [f"{test_list}:test"], max_side=args.max_side)
    real = _real_blur_photos(args)
    result = evaluate_analysis(
        model,
        [img for _, img in test],
        sun_model=sun,
        patches=args.patches,
        seed=args.seed,
        real_photos=real,
        robustness=args.robustness,
        views=args.views,
    )
    result.update(
        mode="kinds", model=str(args.model or "analysis"), test_photos=[n for n, _ in test]
    )
    return result, analysis_markdown(result)
