"""``python -m blurlib predict PHOTO...``: blur maps of photos (overlay PNG + .npy map)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from blurlib.commands import say_skipped
from blurlib.data.patches import EVIDENCE_THRESHOLD
from blurlib.errors import BlurlibError
from blurlib.inference.windows import DEFAULT_STRIDE, DEFAULT_TILE


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``predict`` subcommand."""
    p = subparsers.add_parser(
        "predict",
        help="blur maps of photos: <stem>_blurmap.png overlay and <stem>_blurmap.npy",
        description=(
            "Run the patch classifier over every 30×30 window of each photo (fully "
            "convolutional, tiled) and write a heat-map overlay and the H×W P(blurred) map. "
            "Prints the blurred fraction of the textured area per photo."
        ),
    )
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="image files or folders of images")
    p.add_argument(
        "--model", help="a .keras/.h5 model (default: the shipped blurlib/nets/default.keras)"
    )
    p.add_argument("--out", default=".", help="folder for the outputs (default: current folder)")
    p.add_argument(
        "--stride",
        type=int,
        default=DEFAULT_STRIDE,
        help="window stride in pixels (default %(default)s)",
    )
    p.add_argument(
        "--tile", type=int, default=DEFAULT_TILE, help="tile side in pixels (default %(default)s)"
    )
    p.add_argument(
        "--evidence",
        "--texture",
        dest="evidence",
        type=float,
        default=EVIDENCE_THRESHOLD,
        help="RMS detail (gray levels) from which a window carries evidence; windows below it "
        "are 'no evidence', never counted as blurred (default %(default)s)",
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=1280,
        help="analyse photos shrunk so their longer side is at most this many pixels, the "
        "scale the default model was trained at (default 1280; 0 = full resolution). Motion "
        "blur is measured in pixels: at full resolution a camera's own softness looks like blur",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object per photo")
    p.set_defaults(func=run)


def _expand(items: list[str]) -> list[tuple[str, Path | None, str | None]]:
    """(label, path or None, error or None) per photo; folders become their images."""
    from blurlib.data.photos import folder_images

    out: list[tuple[str, Path | None, str | None]] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            try:
                out.extend((str(p), p, None) for p in folder_images(path, on_skip=say_skipped))
            except BlurlibError as exc:
                out.append((item, None, str(exc)))
        else:
            out.append((item, path, None))
    return out


def _stems(paths: list[Path | None]) -> list[str]:
    """Output stems: the file stem, made unique with a counter when two photos share one."""
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        stem = p.stem if p is not None else "photo"
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        stems.append(stem if n == 0 else f"{stem}-{n}")
    return stems


def _shown(result: Any) -> Any:
    """The blur map with NaN where the photo has no content (the overlay shows the photo)."""
    import numpy as np

    from blurlib.inference.maps import windows_to_map

    h, w = result.blur_map.shape
    content = windows_to_map(result.textured.astype(np.float32), h, w, result.stride)
    return np.where(content >= 0.5, result.blur_map, np.nan)


def run(args: argparse.Namespace) -> int:
    """Predict every photo; one line (or JSON object) each; non-zero exit if any failed."""

    if args.stride < 1:
        print(f"error: --stride must be a positive integer, got {args.stride}", file=sys.stderr)
        return 2
    if args.tile < 30:
        print(f"error: --tile must be at least 30 pixels, got {args.tile}", file=sys.stderr)
        return 2
    from blurlib.fileio import exclusive
    from blurlib.nets.files import load_model  # raises ModelFileError -> one line, exit 2

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BlurlibError(f"--out {out} is a file; give a folder for the blur maps")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".blurlib-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BlurlibError(
            f"--out {out}: cannot write there ({exc.strerror or exc}); choose another folder"
        ) from None
    with exclusive(out / ".blurlib-predict.lock", f"--out {out}"):
        return _predict_all(args, load_model(args.model))


def _predict_all(args: argparse.Namespace, model: Any) -> int:
    """Analyse every photo into ``args.out``; one line per photo; 1 if any failed."""
    from blurlib.data.images import load_image
    from blurlib.data.photos import shrink_to
    from blurlib.inference.photos import analyse, save_outputs
    from blurlib.viz.maps import overlay_blur_map

    photos = _expand(args.photos)
    failed = 0
    for (label, path, error), stem in zip(photos, _stems([p for _, p, _ in photos])):
        try:
            if error is not None:
                raise BlurlibError(error)
            image = load_image(path)
            if args.max_side:
                image = shrink_to(image, args.max_side)
            result = analyse(model, image, args.stride, tile=args.tile, threshold=args.evidence)
            picture = overlay_blur_map(image, _shown(result), alpha=0.6)
            png, npy = save_outputs(picture, result, args.out, stem)
        except (BlurlibError, OSError) as exc:
            failed += 1
            msg = str(exc) if isinstance(exc, BlurlibError) else f"{exc.strerror or exc}"
            if args.json:
                print(json.dumps({"photo": label, "error": msg}))
            print(
                f"error: {label}: {msg}" if label not in msg else f"error: {msg}", file=sys.stderr
            )
            continue
        frac = result.blurred_fraction
        if args.json:
            record = {
                "photo": label,
                "height": result.height,
                "width": result.width,
                "stride": result.stride,
                "blurred_fraction": None if math.isnan(frac) else round(frac, 6),
                "blurred_windows": result.blurred_windows,
                "textured_windows": result.textured_windows,
                "windows": int(result.probs.size),
                "seconds": round(result.seconds, 4),
                "overlay": str(png),
                "map": str(npy),
            }
            print(json.dumps(record), flush=True)
        else:
            share = "no textured area" if math.isnan(frac) else f"{100 * frac:5.1f}% blurred"
            print(
                f"{label}: {share} ({result.blurred_windows}/{result.textured_windows} textured "
                f"windows), {result.seconds:.2f} s -> {png}",
                flush=True,
            )
    return 1 if failed else 0
