"""``python -m blurlib rank DIR...``: rank photos by motion blur, group bursts, write
``ranking.csv`` and ``report.html``, and (asked for, dry run by default) copy the keepers or
move the blurred photos aside, with a journal that ``--undo`` reverses."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from blurlib.commands import say_skipped, writable_out
from blurlib.data.patches import EVIDENCE_THRESHOLD
from blurlib.errors import BlurlibError
from blurlib.inference.bursts import BURST_MODES, DEFAULT_GAP, DEFAULT_HASH_DISTANCE
from blurlib.inference.rank import DEFAULT_MAX_SIDE, DEFAULT_THRESHOLD, PRECISIONS, RANK_STRIDE


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``rank`` subcommand."""
    p = subparsers.add_parser(
        "rank",
        help="rank photos by motion blur; bursts and keepers; ranking.csv and report.html",
        description=(
            "Analyse every photo under the folders (recursively) as `predict` does, rank them "
            "from most to least motion-blurred (share of the judgeable, textured area), group "
            "bursts of near-duplicates and mark the sharpest of each; write ranking.csv and "
            "report.html into --out. Unreadable files are listed, never fatal. --copy-best and "
            "--move-blurred only say what they would do unless --apply is given; nothing is "
            "ever deleted or overwritten, and every move can be undone with --undo JOURNAL."
        ),
    )
    p.add_argument("photos", nargs="*", metavar="DIR", help="folders (or image files) to rank")
    p.add_argument("--out", default="rank-report", help="report folder (default %(default)s)")
    p.add_argument(
        "--model", help="a .keras/.h5 model (default: the shipped blurlib/nets/default.keras)"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="blurred share from which a photo's verdict is 'blurred' (default %(default)s)",
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help="analyse photos shrunk so their longer side is at most this (as predict; default "
        "%(default)s; 0 = full resolution)",
    )
    p.add_argument(
        "--stride",
        type=int,
        default=RANK_STRIDE,
        help="window stride in pixels (default %(default)s: the windows of predict --stride 8, "
        "shares within ~0.006 of predict's stride 4, which --stride 4 gives; 30 = the "
        "non-overlapping patch grid: about 1/14 of the windows, faster, coarser shares)",
    )
    p.add_argument(
        "--evidence",
        type=float,
        default=EVIDENCE_THRESHOLD,
        help="RMS detail from which a window carries evidence, as predict (default %(default)s)",
    )
    p.add_argument(
        "--bursts",
        choices=BURST_MODES,
        default="auto",
        help="group near-duplicates by EXIF capture time and/or look (default %(default)s)",
    )
    p.add_argument(
        "--burst-gap",
        type=float,
        default=DEFAULT_GAP,
        help="seconds between captures within one burst (default %(default)s)",
    )
    p.add_argument(
        "--hash-distance",
        type=int,
        default=DEFAULT_HASH_DISTANCE,
        help="differing dHash bits (of 64) for near-duplicates (default %(default)s)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bfloat16 on CPUs with Intel AMX, else 8-bit integers through ONNX "
        "Runtime on CPUs with VNNI (requirements.txt, or pip install blurlib[int8]), else "
        "bfloat16 where native, else float32; shares move by <= 0.003 from float32's; "
        "float32: predict's arithmetic; bfloat16 (float32 where not native), int8 (binary "
        "models only): that arithmetic (default auto)",
    )
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default 2)")
    p.add_argument(
        "--net-threads",
        type=int,
        default=2,
        help="photos through the network at once (default 2)",
    )
    p.add_argument(
        "--embed", action="store_true", help="put thumbnails inside report.html (data URIs)"
    )
    p.add_argument("--copy-best", metavar="DEST", help="copy each keeper that is not blurred")
    p.add_argument(
        "--move-blurred",
        metavar="DEST",
        help="move each blurred photo into DEST, a folder inside the analysed folder",
    )
    p.add_argument("--apply", action="store_true", help="act (without it: a dry run)")
    p.add_argument("--undo", metavar="JOURNAL", help="move back what a journal moved")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    """One-line errors for impossible options, before any work."""
    if args.undo and args.photos:
        raise BlurlibError("--undo JOURNAL takes no folders; run it on its own")
    if not args.undo and not args.photos:
        raise BlurlibError("give at least one folder to rank (or --undo JOURNAL)")
    if args.stride < 1:
        raise BlurlibError(f"--stride must be a positive integer, got {args.stride}")
    if args.max_side < 0 or 0 < args.max_side < 30:
        raise BlurlibError(f"--max-side must be 0 or at least 30 pixels, got {args.max_side}")
    if not (0.0 <= args.threshold <= 1.0) or math.isnan(args.threshold):
        raise BlurlibError(f"--threshold is a share in [0, 1], got {args.threshold}")
    if args.burst_gap < 0 or math.isnan(args.burst_gap):
        raise BlurlibError(f"--burst-gap must be ≥ 0 seconds, got {args.burst_gap}")
    if not 0 <= args.hash_distance <= 64:
        raise BlurlibError(f"--hash-distance is 0–64 bits, got {args.hash_distance}")
    if args.workers < 1:
        raise BlurlibError(f"--workers must be at least 1, got {args.workers}")
    if args.net_threads < 1:
        raise BlurlibError(f"--net-threads must be at least 1, got {args.net_threads}")


def _expand(items: list[str]) -> tuple[list[Path], list[Path], list[str]]:
    """(photo files, analysed folders, errors): folders become their images, recursively."""
    from blurlib.data.photos import folder_images

    files: list[Path] = []
    roots: list[Path] = []
    errors: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            roots.append(path)
            try:
                files.extend(folder_images(path, on_skip=say_skipped))
            except BlurlibError as exc:
                errors.append(str(exc))
        elif path.exists():
            files.append(path)
            roots.append(path.parent)
        else:
            errors.append(f"no such file or folder: {path} — check the path")
    return files, roots, errors


def run(args: argparse.Namespace) -> int:
    """Rank, report, act; 1 if a photo was unreadable or an action failed, else 0."""
    _check(args)
    if args.undo:
        return _undo(args)
    from blurlib.fileio import exclusive
    from blurlib.nets.files import load_model  # raises ModelFileError -> one line, exit 2

    files, roots, errors = _expand(args.photos)
    report_dir = Path(os.path.realpath(args.out))  # a report inside the tree is not a photo
    files = [f for f in files if not Path(os.path.realpath(f)).is_relative_to(report_dir)]
    if not files:
        raise BlurlibError("no photos to rank: " + "; ".join(errors))
    if args.move_blurred:  # refuse a target outside the tree before any work
        target = Path(os.path.realpath(args.move_blurred))
        for root in roots:
            if not target.is_relative_to(os.path.realpath(root)):
                raise BlurlibError(
                    f"--move-blurred {args.move_blurred}: outside the analysed folder {root}; "
                    f"photos are only moved within the tree that was analysed — give a folder "
                    f"inside it, e.g. {Path(root) / '_blurred'}"
                )
    for msg in errors:
        say_skipped(msg)
    out = Path(args.out)
    writable_out(out, "the report")
    with exclusive(out / ".blurlib-rank.lock", f"--out {out}"):
        failed = _rank(args, out, load_model(args.model), files, roots)
    return 1 if failed or errors else 0


def _rank(
    args: argparse.Namespace, out: Path, model: Any, files: list[Path], roots: list[Path]
) -> int:
    """Rank ``files`` into ``out`` and act; return the number of failures."""
    from blurlib.inference.cull import apply_actions, new_journal_path, plan_actions
    from blurlib.inference.rank import rank_photos, write_ranking_csv
    from blurlib.viz.html_report import write_report

    stats: dict[str, int] = {}
    records = rank_photos(
        files,
        model,
        max_side=args.max_side,
        stride=args.stride,
        evidence=args.evidence,
        threshold=args.threshold,
        bursts=args.bursts,
        gap=args.burst_gap,
        hash_distance=args.hash_distance,
        cache_dir=out,
        previews_dir=out / "previews",
        workers=args.workers,
        net_threads=args.net_threads,
        progress=True,
        on_error=say_skipped,
        stats=stats,
        precision=args.precision,
    )
    csv_path = write_ranking_csv(records, out / "ranking.csv")
    settings = (
        f"threshold {args.threshold:g}, max side {args.max_side}, stride {args.stride}, "
        f"evidence {args.evidence:g}, bursts {args.bursts} (gap {args.burst_gap:g} s, "
        f"hash distance {args.hash_distance}), precision {args.precision}, "
        f"model {args.model or 'default'}"
    )
    report = write_report(records, out, out / "previews", embed=args.embed, settings=settings)
    bad = [r for r in records if r.error]
    counts = {v: sum(r.verdict == v for r in records) for v in ("blurred", "sharp", "no evidence")}
    print(
        f"{len(records)} photos ({stats.get('analysed', 0)} analysed, {stats.get('cached', 0)} "
        f"from the cache): {counts['blurred']} blurred, {counts['sharp']} sharp, "
        f"{counts['no evidence']} without evidence, {len(bad)} unreadable; "
        f"{len({r.burst for r in records if r.burst})} bursts -> {csv_path}, {report}",
        flush=True,
    )
    failed = len(bad)
    if args.copy_best or args.move_blurred:
        actions, conflicts = plan_actions(
            records, roots, copy_best=args.copy_best, move_blurred=args.move_blurred
        )
        for c in conflicts:
            print(f"refused: {c}", file=sys.stderr)
        journal = new_journal_path(out) if args.apply and actions else None
        done, failures = apply_actions(actions, journal, dry_run=not args.apply)
        for f in failures:
            print(f"error: {f}", file=sys.stderr)
        failed += len(failures) + len(conflicts)
        if not args.apply:
            print(f"dry run: {len(actions)} action(s) above; add --apply to carry them out")
        elif journal is not None:
            undo = f"python -m blurlib rank --undo {journal} --apply"
            print(f"{done} done; journal {journal} (to undo: {undo})")
    return failed


def _undo(args: argparse.Namespace) -> int:
    from blurlib.inference.cull import undo_journal

    done, problems = undo_journal(args.undo, dry_run=not args.apply)
    for p in problems:
        print(f"skipped: {p}", file=sys.stderr)
    if not args.apply:
        print("dry run: add --apply to move these back")
    else:
        print(f"{done} moved back")
    return 1 if problems else 0
