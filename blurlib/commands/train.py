"""``python -m blurlib train``: train a patch classifier on a dataset folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from blurlib.errors import BlurlibError, DatasetError
from blurlib.nets.builders import MODEL_NAMES
from blurlib.training.config import DEFAULT_PRESET, PRESETS, SCHEDULES
from blurlib.training.devices import JIT_MODES, PRECISIONS, STRATEGIES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train the patch CNN on a dataset folder (checkpoints, logs, resume)",
        description=(
            "Train a patch classifier on a folder made by `python -m blurlib generate`. "
            "The photos are split into train/validation/test by photo; an interrupted run "
            "resumes where it stopped when started again with the same --out."
        ),
    )
    p.add_argument("--data", required=True, help="dataset folder (from `blurlib generate`)")
    p.add_argument("--out", required=True, help="run folder for models, logs and checkpoints")
    p.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=DEFAULT_PRESET,
        help=f"training recipe (default: {DEFAULT_PRESET}); the options below override it",
    )
    p.add_argument("--model", choices=MODEL_NAMES, help="network architecture")
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--batch-size", type=int, help="batch size per device")
    p.add_argument("--lr", type=float, help="(peak) learning rate")
    p.add_argument("--schedule", choices=SCHEDULES, help="lr schedule")
    p.add_argument("--width", type=int, help="compact net: channels of the first block")
    p.add_argument("--dropout", type=float, help="dropout rate (default: the model's)")
    p.add_argument(
        "--early-stopping", type=int, metavar="PATIENCE", help="epochs without val gain; 0 = off"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for split, init and data order")
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="devices: auto (default) = one GPU if any, all GPUs if several, else CPU; "
        "multiworker reads TF_CONFIG (TensorFlow backend only; with KERAS_BACKEND=jax several "
        "GPUs train through keras.distribution.DataParallel)",
    )
    p.add_argument(
        "--mixed-precision",
        choices=PRECISIONS,
        help="on = float16 compute; auto = on for GPUs with compute capability >= 7.0; "
        "bf16 = bfloat16 compute (for CPUs with AVX-512 BF16 or AMX)",
    )
    p.add_argument("--jit", choices=JIT_MODES, help="XLA compilation")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, help="flips/rotations")
    p.add_argument(
        "--min-texture",
        type=float,
        help="leave out training patches whose sharp source's detail is below this (0 = keep all)",
    )
    p.add_argument(
        "--min-evidence",
        type=float,
        help="leave out patches whose observed detail is below this: no evidence (0 = keep all)",
    )
    p.add_argument(
        "--min-blur-texture",
        type=float,
        help="leave out BLURRED patches whose sharp source's detail is below this (0 = keep all)",
    )
    p.add_argument(
        "--defocus-class",
        type=float,
        metavar="RADIUS",
        help="train sharp / motion / defocus: label-0 patches mostly under a recorded defocus of "
        "disk radius >= RADIUS px (generate --degrade) are their own class; the saved model "
        "is the detector, P(blurred) = P(motion) (0 = binary, the default)",
    )
    p.add_argument(
        "--test-sources",
        help="comma-separated photo names to hold out as the test split",
    )
    p.add_argument(
        "--val-sources",
        help="comma-separated photo names for the validation split (needs --test-sources; "
        "all other photos train)",
    )
    p.add_argument(
        "--no-tensorboard", action="store_true", help="do not write TensorBoard logs (tb/)"
    )
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="start over, deleting a previous run's files in --out",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="one line per epoch instead of a progress bar"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train, then print where the model, the logs and the split went."""
    data = Path(args.data)
    if not data.is_dir():
        raise DatasetError(
            f"dataset folder {data} does not exist; make one with "
            f"`python -m blurlib generate --out {data}`"
        )
    from blurlib.data.dataset import load_metadata

    load_metadata(data)  # "not a dataset folder" before TensorFlow starts
    from blurlib.runtime import prefer_onednn_for_training

    prefer_onednn_for_training()  # AVX2-only CPUs: oneDNN trains ~1.2× faster (before TF loads)

    from blurlib.training.config import get_config
    from blurlib.training.fit import fit

    config = get_config(
        args.preset,
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        width=args.width,
        dropout=args.dropout,
        early_stopping=args.early_stopping,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        jit_compile=args.jit,
        augment=args.augment,
        min_texture=args.min_texture,
        min_evidence=args.min_evidence,
        min_blur_texture=args.min_blur_texture,
        defocus_class=args.defocus_class,
        test_sources=_names(args.test_sources),
        val_sources=_names(args.val_sources),
        tensorboard=False if args.no_tensorboard else None,
    )
    if config.val_sources and not config.test_sources:
        raise BlurlibError("--val-sources needs --test-sources: name both splits or neither")
    for name, value in (("--epochs", config.epochs), ("--batch-size", config.batch_size)):
        if value < 1:
            raise BlurlibError(f"{name} must be at least 1, got {value}")
    if config.lr <= 0:
        raise BlurlibError(f"--lr must be positive, got {config.lr}")
    result = fit(
        config,
        data,
        args.out,
        seed=args.seed,
        resume=not args.no_resume,
        verbose=2 if args.quiet else "auto",
    )
    hist = result.history
    ran = len(next(iter(hist.values()), []))
    devices = (
        f"{result.replicas} device(s) [{result.strategy}, {result.precision}, "
        f"XLA {'on' if result.jit_compile else 'off'}]"
    )
    if ran:
        print(
            f"trained {config.model} ({args.preset}) for epochs {result.initial_epoch + 1}–"
            f"{result.initial_epoch + ran} of {config.epochs} on {result.train_patches} "
            f"patches, {devices}, in {result.seconds:.0f} s"
        )
        last = {k: v[-1] for k, v in hist.items() if v}
        print("last epoch: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(last.items())))
    else:
        print(f"nothing left to train: the run in {result.out_dir} already finished")
    print(f"model:  {result.model_path}  (and {result.h5_path.name})")
    if result.best_path is not None:
        print(f"best:   {result.best_path}  (lowest validation loss)")
    print(f"log:    {result.log_path}")
    if result.info.get("tensorboard"):
        print(f"tensorboard --logdir {result.out_dir / 'tb'}")
    elif config.tensorboard:
        print("tensorboard: not written (Keras' TensorBoard callback needs TensorFlow installed)")
    print(f"split:  {result.split_path}  (test photos for `python -m blurlib evaluate`)")
    return 0


def _names(text: str | None) -> tuple[str, ...] | None:
    """``"a, b"`` → ``("a", "b")``; None or empty → None."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    return names or None
