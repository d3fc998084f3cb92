"""``python -m blurlib generate``: write a partially blurred dataset folder."""

from __future__ import annotations

import argparse
import ast

from blurlib.commands import say_skipped
from blurlib.data.dataset import FORMATS, generate
from blurlib.data.degrade import DEGRADE_MIXES, get_degrade_config
from blurlib.data.kernels import KERNEL_KINDS
from blurlib.errors import DatasetError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``generate`` subcommand."""
    p = subparsers.add_parser(
        "generate",
        help="make a dataset of partially motion-blurred photos with label matrices",
        description="Blur a random half of each photo's 30×30 patches and save n.jpg + labels.",
    )
    p.add_argument(
        "--source",
        action="append",
        help="'sample' (bundled photos, the default; 'sample:camera,coins' for some of them), "
        "'voc2010' (with --voc-root), 'deadleaves:N' (N synthetic, perfectly sharp scenes; "
        "'deadleaves-strands:N': half their leaves carry sharp strands, like fur or bristles), "
        "a folder of images or a .txt list of photo paths; repeat to combine sources",
    )
    p.add_argument("--voc-root", help="VOCdevkit folder, its VOC2010 folder, or the VOC tar")
    p.add_argument("--voc-split", default="trainval", choices=("train", "val", "trainval"))
    p.add_argument("-n", type=int, default=None, help="number of images (default: one per photo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kernel", choices=KERNEL_KINDS, default="linear")
    p.add_argument("--length-min", type=float, default=7.0, help="shortest motion, px")
    p.add_argument("--length-max", type=float, default=25.0, help="longest motion, px")
    p.add_argument("--fraction", type=float, default=0.5, help="chance a patch is blurred")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="jpg")
    p.add_argument(
        "--degrade",
        choices=DEGRADE_MIXES,
        default="none",
        help="label-0 degradations around the motion blur: 'none' (the report's recipe) or "
        "'realistic' (lens softness, resampling, defocus, haze before; noise and JPEG after)",
    )
    p.add_argument(
        "--degrade-set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change one field of the --degrade mix, e.g. --degrade-set jpeg_prob=0.9 "
        "--degrade-set gaussian_sigma='(0.2, 1.0)' (fields: blurlib.data.degrade.DegradeConfig)",
    )
    p.add_argument(
        "--grid30",
        action="store_true",
        help="resize every photo to exactly 30×30 patches (the report's 2-D list)",
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=None,
        help="shrink photos whose longer side exceeds this many px (e.g. 1280 for wallpapers)",
    )
    p.add_argument("--out", required=True, help="dataset folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def _degrade_config(mix: str, items: list[str]):
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise DatasetError(f"--degrade-set expects FIELD=VALUE, got {item!r}")
        try:
            overrides[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise DatasetError(
                f"--degrade-set {item!r}: {value!r} is not a number or tuple"
            ) from None
    try:
        return get_degrade_config(mix, **overrides) if overrides else mix
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"--degrade-set: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Generate the dataset and print where it went."""
    out = generate(
        args.out,
        source=args.source or ["sample"],
        n=args.n,
        seed=args.seed,
        kernel=args.kernel,
        fmt=args.fmt,
        fraction=args.fraction,
        grid=(30, 30) if args.grid30 else None,
        length_range=(args.length_min, args.length_max),
        max_side=args.max_side,
        degrade=_degrade_config(args.degrade, args.degrade_set),
        voc_root=args.voc_root,
        voc_split=args.voc_split,
        overwrite=args.overwrite,
        on_skip=say_skipped,
    )
    from blurlib.data.dataset import load_metadata

    meta = load_metadata(out)
    p = meta["patch"]
    patches = sum((e["height"] // p) * (e["width"] // p) for e in meta["images"])
    print(f"wrote {len(meta['images'])} images ({patches} patches) to {out}")
    return 0
