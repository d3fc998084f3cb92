"""``python -m blurlib predict PHOTO...``: blur maps of photos (overlay PNG + .npy map)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from blurlib.commands import say_skipped
from blurlib.data.patches import EVIDENCE_THRESHOLD
from blurlib.errors import BlurlibError
from blurlib.inference.views import VIEW_COUNTS
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
        "--model",
        help="a .keras/.h5 model (default: the shipped blurlib/nets/default.keras), or "
        "'analysis': the shipped blur-kind model (sharp / motion / defocus, direction, length), "
        "which writes <stem>_kinds.png and <stem>_kinds.npy (uint8 per window at --stride: "
        "0 sharp, 1 motion, 2 defocus, 255 no evidence) instead of a blur map",
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
    p.add_argument(
        "--fields",
        action="store_true",
        help="with an analysis model: also write <stem>_angle.npy (degrees in [0, 180), "
        "0 = along x, counter-clockwise on screen; NaN where p_motion < 0.5), "
        "<stem>_length.npy (px, NaN likewise) and <stem>_pkind.npy ((rows, cols, 3) "
        "P(sharp, motion, defocus)), one value per window at --stride",
    )
    p.add_argument(
        "--views",
        type=int,
        choices=VIEW_COUNTS,
        default=1,
        help="with an analysis model: read each photo in 1, 4 or 8 rotated and mirrored "
        "copies and average the answers: 4 lowers the motion direction error, at 4× the "
        "time (default %(default)s)",
    )
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
    from blurlib.commands import writable_out
    from blurlib.fileio import exclusive
    from blurlib.nets.files import load_model  # raises ModelFileError -> one line, exit 2

    out = Path(args.out)
    writable_out(out, "the blur maps")
    with exclusive(out / ".blurlib-predict.lock", f"--out {out}"):
        from blurlib.nets.analysis import is_analysis_model

        model = load_model(args.model)
        if is_analysis_model(model):
            return _predict_kinds(args, model)
        flags = [f for f, on in (("--fields", args.fields), ("--views", args.views != 1)) if on]
        if flags:
            verb = "needs" if len(flags) == 1 else "need"
            raise BlurlibError(
                f"{' and '.join(flags)} {verb} the blur-kind model: add --model analysis"
            )
        return _predict_all(args, model)


def _each_photo(args: argparse.Namespace, one: Any) -> int:
    """Load every photo (shrunk to ``--max-side``) and run ``one(label, stem, image)``, which
    returns ``(json record, text line)``; print one of them per photo, or an error line for a
    photo that failed; return 1 if any failed."""
    from blurlib.data.images import load_image
    from blurlib.data.photos import shrink_to

    photos = _expand(args.photos)
    failed = 0
    for (label, path, error), stem in zip(photos, _stems([p for _, p, _ in photos])):
        try:
            if error is not None:
                raise BlurlibError(error)
            image = load_image(path)
            if args.max_side:
                image = shrink_to(image, args.max_side)
            record, line = one(label, stem, image)
        except (BlurlibError, OSError) as exc:
            failed += 1
            msg = str(exc) if isinstance(exc, BlurlibError) else f"{exc.strerror or exc}"
            if args.json:
                print(json.dumps({"photo": label, "error": msg}))
            print(
                f"error: {label}: {msg}" if label not in msg else f"error: {msg}", file=sys.stderr
            )
            continue
        print(json.dumps(record) if args.json else line, flush=True)
    return 1 if failed else 0


def _predict_all(args: argparse.Namespace, model: Any) -> int:
    """Analyse every photo into ``args.out``; one line per photo; 1 if any failed."""
    from blurlib.inference.photos import analyse, save_outputs
    from blurlib.viz.maps import overlay_blur_map

    def one(label: str, stem: str, image: Any) -> tuple[dict, str]:
        result = analyse(model, image, args.stride, tile=args.tile, threshold=args.evidence)
        picture = overlay_blur_map(image, _shown(result), alpha=0.6)
        png, npy = save_outputs(picture, result, args.out, stem)
        frac = result.blurred_fraction
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
        share = "no textured area" if math.isnan(frac) else f"{100 * frac:5.1f}% blurred"
        line = (
            f"{label}: {share} ({result.blurred_windows}/{result.textured_windows} textured "
            f"windows), {result.seconds:.2f} s -> {png}"
        )
        return record, line

    return _each_photo(args, one)


def _kinds_record(
    label: str, image: Any, a: Any, seconds: float, files: dict, views: int = 1
) -> dict:
    """The per-photo JSON summary of a blur analysis (``views``: how many turned and mirrored
    copies were averaged)."""
    from blurlib.inference.analysis import summarize_analysis

    summary = summarize_analysis(a)
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
    rec = {"photo": label, "height": image.shape[0], "width": image.shape[1], "stride": a.stride}
    rec["views"] = views
    return {**rec, **clean, "seconds": round(seconds, 4), **{k: str(v) for k, v in files.items()}}


def _predict_kinds(args: argparse.Namespace, model: Any) -> int:
    """Blur analysis of every photo: kind overlay + kind map (+ fields); 1 if any failed."""
    import time

    import numpy as np

    from blurlib.fileio import atomic_path, write_bytes
    from blurlib.inference.analysis import dense_analysis
    from blurlib.viz.kinds import kind_picture

    out = Path(args.out)

    def save_npy(path: Path, array: Any) -> Path:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, array)
        return path

    def one(label: str, stem: str, image: Any) -> tuple[dict, str]:
        t0 = time.perf_counter()
        a = dense_analysis(model, image, args.stride, tile=args.tile, views=args.views)
        seconds = time.perf_counter() - t0
        a.evidence = _evidence(image, args)  # at --evidence (the default: the same rule)
        png = _png_bytes(kind_picture(image, a))
        files = {"overlay": out / f"{stem}_kinds.png", "kinds": out / f"{stem}_kinds.npy"}
        write_bytes(files["overlay"], png)
        save_npy(files["kinds"], a.kind_map())
        if args.fields:
            files["angle"] = save_npy(out / f"{stem}_angle.npy", a.angle_deg)
            files["length"] = save_npy(out / f"{stem}_length.npy", a.length_px)
            pk = np.stack([a.p_sharp, a.p_motion, a.p_defocus], axis=-1)
            files["pkind"] = save_npy(out / f"{stem}_pkind.npy", pk)
        rec = _kinds_record(label, image, a, seconds, files, args.views)
        shares = ", ".join(
            "no evidence" if rec[f"share_{k}"] is None else f"{k} {100 * rec[f'share_{k}']:.1f}%"
            for k in ("sharp", "motion", "defocus")
        )
        way = rec["direction_deg"]
        motion = (
            ""
            if way is None
            else f"; motion {way:.0f}° ±{rec['direction_spread_deg']:.0f}°, "
            f"~{rec['length_px']:.0f} px"
        )
        return rec, f"{label}: {shares}{motion}, {seconds:.2f} s -> {files['overlay']}"

    return _each_photo(args, one)


def _evidence(image: Any, args: argparse.Namespace) -> Any:
    """Windows carrying evidence at ``--evidence`` (the rule every predict summary uses)."""
    from blurlib.inference.photos import texture_mask

    return texture_mask(image, args.stride, threshold=args.evidence)


def _png_bytes(picture: Any) -> bytes:
    """PNG file bytes of an RGB uint8 picture."""
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover
        raise BlurlibError("could not encode the kind overlay as PNG")
    return data.tobytes()
