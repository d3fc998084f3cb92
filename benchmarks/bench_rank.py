"""Culling throughput: ``rank`` against a naive loop over camera-sized JPEGs, side by side.

Synthesises ``--n`` 12-megapixel (4000×3000) JPEGs from the bundled photos (upscaled, each
cropped and flipped differently, quality 90) in a temporary folder, then times, with the
shipped default model (or ``--model PATH``, a candidate, for every path), in one process:

* **naive** — for each photo: full decode (``load_image``), shrink to 1280 px
  (``shrink_to``), ``patch_probabilities`` on the 30-px patch grid — the loop the issue names;
* **rank** — :func:`blurlib.inference.rank.rank_photos` as the command runs it (JPEG draft
  decoding on ``--workers`` threads overlapped with the network, windows at rank's default
  stride 8 (``RANK_STRIDE``: every other window of predict's stride 4) with the evidence
  rule — in bfloat16 where the CPU computes it natively, ``precision="auto"`` —,
  ``--net-threads`` photos through the network at once, thumbnails and preview maps written,
  no cache: a first run);
* **rank, one photo at a time** — the same with ``net_threads=1``: what the concurrent
  network passes buy;
* **rank --stride 30** — the same on the non-overlapping 30-px patch grid: the naive loop's
  patches (and the naive loop's work for the network), with rank's pipeline;
* **rank float32** — the same with ``precision="float32"`` (predict's arithmetic), on
  ``--n-predict`` of the photos;
* **rank, the other fast arithmetic** — the same with ``precision="bfloat16"`` where
  ``"auto"`` chose 8-bit integers (:func:`blurlib.inference.rank.arithmetic`), or
  ``precision="int8"`` (ONNX Runtime, :mod:`blurlib.inference.int8`) where it chose bfloat16,
  on every photo;
* **predict loop** — for each photo: full decode, shrink, ``analyse`` at rank's stride
  (``predict --stride 8``): the same numbers as rank, one photo after another (on
  ``--n-predict`` of the photos: it is slow).

The paths take turns, ``--chunk`` photos at a time (rank restarts its thread pool for each
chunk, which only costs it), so that load from other processes falls on all of them alike.

It prints photos/s of each and the ratios, and the load average (other processes on a
shared machine slow every path alike only roughly: run it on a quiet machine for claims).
Note what each path computes: the naive loop classifies ~1,300 patches per photo, rank
~18,000 overlapping windows at stride 8 (14× as many, each a full 30×30 classification;
predict's default stride 4: ~73,000) — rank's work is predict's, and the fair speed-up is the
one against the predict loop. Run:

    python benchmarks/bench_rank.py [--n 100] [--n-predict 10] [--chunk 10] [--workers 2]
        [--net-threads 2] [--model M]

``--skip-estimate`` only estimates one more lever, skipping the tiles of a photo with no
window that carries evidence (:func:`tile_skipping`), and stops.

``--breakdown`` adds where rank's time goes, in CPU seconds per photo (all threads of this
process, ``time.process_time``): the decoding stage alone (:func:`prepare`: draft decode,
evidence mask, hash, thumbnail), the network alone (the windows of prepared photos at rank's
stride, and for comparison at stride 4 and 30) and the naive loop, and from them the ceiling
of rank / naive on this machine: with the cores fully busy rank cannot take less than
(network + decoding CPU) / cores per photo.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def make_jpegs(folder: Path, n: int, size: tuple[int, int] = (4000, 3000)) -> list[Path]:
    """Write ``n`` size[0]×size[1] JPEGs made from the bundled photos; return their paths."""
    import cv2
    from PIL import Image

    from blurlib.data.samples import sample_images

    photos = [img for _, img in sample_images()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        ch, cw = int(h * rng.uniform(0.8, 1.0)), int(w * rng.uniform(0.8, 1.0))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[y : y + ch, x : x + cw]
        if i % 2:
            crop = crop[:, ::-1]
        big = cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_CUBIC)
        path = folder / f"IMG_{i:04d}.jpg"
        Image.fromarray(big).save(path, quality=90)
        out.append(path)
    return out


def naive(model, paths: list[Path], max_side: int) -> float:
    """Seconds for the naive loop over ``paths``."""
    from blurlib.data.images import load_image
    from blurlib.data.photos import shrink_to
    from blurlib.inference.windows import patch_probabilities

    t = time.perf_counter()
    for p in paths:
        patch_probabilities(model, shrink_to(load_image(p), max_side))
    return time.perf_counter() - t


def predict_loop(model, paths: list[Path], max_side: int) -> float:
    """Seconds for predict's per-photo analysis over ``paths``."""
    from blurlib.data.images import load_image
    from blurlib.data.photos import shrink_to
    from blurlib.inference.photos import analyse
    from blurlib.inference.rank import RANK_STRIDE

    t = time.perf_counter()
    for p in paths:
        analyse(model, shrink_to(load_image(p), max_side), RANK_STRIDE)
    return time.perf_counter() - t


def rank(
    model,
    paths: list[Path],
    max_side: int,
    workers: int,
    previews: Path,
    precision: str = "auto",
    stride: int | None = None,
    net_threads: int = 2,
) -> float:
    """Seconds for rank_photos over ``paths`` (previews written, no cache)."""
    from blurlib.inference.rank import RANK_STRIDE, rank_photos

    stride = stride or RANK_STRIDE
    t = time.perf_counter()
    rank_photos(
        paths, model, max_side=max_side, previews_dir=previews, workers=workers,
        precision=precision, stride=stride, net_threads=net_threads,
    )  # fmt: skip
    return time.perf_counter() - t


def breakdown(model, paths: list[Path], max_side: int) -> None:
    """Print CPU seconds per photo of rank's stages and of the naive loop, and the ceiling."""
    from blurlib.data.patches import EVIDENCE_THRESHOLD
    from blurlib.inference.bf16 import bf16_window_probabilities
    from blurlib.inference.int8 import int8_available, int8_window_probabilities
    from blurlib.inference.rank import RANK_STRIDE
    from blurlib.inference.rank_prep import prepare
    from blurlib.inference.windows import DEFAULT_TILE

    n = len(paths)
    tile = max(DEFAULT_TILE, max_side + 30)

    def clock(fn: Any) -> tuple[float, float, Any]:
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        return (time.perf_counter() - w) / n, (time.process_time() - c) / n, out

    _, c_prep, preps = clock(
        lambda: [prepare(str(p), max_side, RANK_STRIDE, EVIDENCE_THRESHOLD, True) for p in paths]
    )
    _, c_net, _ = clock(
        lambda: [bf16_window_probabilities(model, q.image, RANK_STRIDE, tile=tile) for q in preps]
    )
    _, c_net4, _ = clock(
        lambda: [bf16_window_probabilities(model, q.image, 4, tile=tile) for q in preps]
    )
    _, c_grid, _ = clock(
        lambda: [bf16_window_probabilities(model, q.image, 30, tile=tile) for q in preps]
    )
    c_int8 = float("nan")
    if int8_available():
        # one thread, as rank runs it beside a second photo (ONNX Runtime's pool would spin)
        int8_window_probabilities(model, preps[0].image, RANK_STRIDE, tile=tile, threads=1)
        _, c_int8, _ = clock(
            lambda: [
                int8_window_probabilities(model, q.image, RANK_STRIDE, tile=tile, threads=1)
                for q in preps
            ]
        )
    w_naive, c_naive, _ = clock(lambda: naive(model, paths, max_side))
    cores = os.cpu_count() or 1
    print(
        f"CPU s per photo ({n} photos, {cores} cores): decoding stage {c_prep:.3f}, "
        f"network {c_net:.3f} at stride {RANK_STRIDE} (stride 4: {c_net4:.3f}, "
        f"stride 30: {c_grid:.3f}; int8 at stride {RANK_STRIDE}: {c_int8:.3f}); "
        f"naive loop {c_naive:.3f} CPU, {w_naive:.3f} wall"
    )
    print(
        f"ceiling of rank / naive (a quiet machine, cores fully busy): "
        f"{w_naive / ((c_prep + c_net) / cores):.2f}× "
        f"(decoding free: {w_naive / (c_net / cores):.2f}×); "
        f"CPU work naive / rank: {c_naive / (c_prep + c_net):.2f}×; "
        f"rank --stride 30: {w_naive / ((c_prep + c_grid) / cores):.2f}×; "
        f"rank --precision int8: {w_naive / ((c_prep + c_int8) / cores):.2f}×"
    )


def tile_skipping(images: list[tuple[str, np.ndarray]], tiles: tuple[int, ...] = (16, 32, 64)):
    """Print, per photo, the network's input area if only the tiles of t×t windows (rank's
    stride) that hold a window with evidence were computed, each with its 22-px border of
    receptive field, relative to one pass over the whole photo: the lever "skip the parts
    with no judgeable window" at equal numbers, estimated without running the network."""
    from blurlib.data.patches import EVIDENCE_THRESHOLD
    from blurlib.inference.photos import texture_mask
    from blurlib.inference.rank import RANK_STRIDE as S

    def side(n: int) -> int:  # input pixels of n windows in a row
        return S * (n - 1) + 30

    print(f"tile skipping at stride {S}: input area / whole photo (< 1 saves work)")
    for name, image in images:
        mask = texture_mask(image, S, 30, EVIDENCE_THRESHOLD)
        r, c = mask.shape
        costs = []
        for t in tiles:
            area = sum(
                side(min(t, r - y)) * side(min(t, c - x))
                for y in range(0, r, t)
                for x in range(0, c, t)
                if mask[y : y + t, x : x + t].any()
            )
            costs.append(f"{t}: {area / (side(r) * side(c)):.2f}")
        print(f"  {name[:30]:<30} judgeable {mask.mean():.2f}; tiles of " + ", ".join(costs))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100, help="photos (default 100)")
    ap.add_argument("--n-predict", type=int, default=10, help="photos for the slow paths")
    ap.add_argument("--chunk", type=int, default=10, help="photos per interleaved round")
    ap.add_argument("--workers", type=int, default=2, help="rank's decoding threads")
    ap.add_argument("--net-threads", type=int, default=2, help="rank's network threads")
    ap.add_argument("--max-side", type=int, default=1280)
    ap.add_argument("--breakdown", action="store_true", help="CPU seconds per stage, ceiling")
    ap.add_argument(
        "--skip-estimate",
        action="store_true",
        help="only estimate what skipping tiles without evidence would save (bundled photos "
        "and the validation photos at --max-side), then stop",
    )
    ap.add_argument(
        "--model", help="a candidate model file for every path (default: the shipped default)"
    )
    args = ap.parse_args(argv)
    if args.skip_estimate:
        from blurlib.data.photos import load_photos, shrink_to
        from blurlib.data.samples import sample_images

        images = [(n, shrink_to(i, args.max_side)) for n, i in sample_images()]
        tile_skipping(
            images + load_photos(["models/analysis/validation_photos.txt:all"], args.max_side)
        )
        return 0

    from blurlib.runtime import start_keras

    start_keras()
    from blurlib.nets.files import load_model

    model = load_model(args.model)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_rank_") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        paths = make_jpegs(tmp, args.n)
        print(f"{args.n} JPEGs of 4000×3000 written in {time.perf_counter() - t:.1f} s")
        warm = paths[:2]  # tracing and conversion, excluded from every timing

        def ranked(few: list[Path], previews: str, **kw: Any) -> float:
            kw.setdefault("net_threads", args.net_threads)
            return rank(model, few, args.max_side, args.workers, tmp / previews, **kw)

        naive(model, warm, args.max_side)
        predict_loop(model, warm[:1], args.max_side)
        ranked(warm, "warm")
        ranked(warm, "warm1", net_threads=1)
        ranked(warm, "warm32", precision="float32")
        ranked(warm, "warm30", stride=30)
        from blurlib.inference.int8 import int8_available
        from blurlib.inference.rank import arithmetic

        how = arithmetic("auto")  # and the other fast arithmetic, for comparison
        other = "bfloat16" if how == "int8" else ("int8" if int8_available() else "")
        if other:
            ranked(warm, "warm_other", precision=other)
        if args.breakdown:
            breakdown(model, paths[: max(4, args.n_predict)], args.max_side)
        # interleaved in chunks, so that other processes' load hits every path alike
        t_naive = t_rank = t_rank1 = t_grid = t_r32 = t_pred = t_other = 0.0
        some: list[Path] = []
        step = max(1, args.chunk)
        for start in range(0, args.n, step):
            chunk = paths[start : start + step]
            t_naive += naive(model, chunk, args.max_side)
            t_rank += ranked(chunk, "previews")
            t_rank1 += ranked(chunk, "previews1", net_threads=1)
            t_grid += ranked(chunk, "grid", stride=30)
            if other:
                t_other += ranked(chunk, "other", precision=other)
            if len(some) < args.n_predict:  # the slow paths: the first photo of each chunk
                few = chunk[:1]
                some += few
                t_r32 += ranked(few, "p32", precision="float32")
                t_pred += predict_loop(model, few, args.max_side)
    load1 = os.getloadavg()
    from blurlib.inference.bf16 import bf16_native

    r_naive, r_rank, r_pred = args.n / t_naive, args.n / t_rank, len(some) / t_pred
    r_grid, r_rank1 = args.n / t_grid, args.n / t_rank1
    r_r32 = len(some) / t_r32
    print(f"cores: {os.cpu_count()}, load average before {load0[0]:.2f}, after {load1[0]:.2f}")
    print(f"{'path':<44}{'photos/s':>10}")
    print(f"{'naive: full decode, shrink, patch grid':<44}{r_naive:>10.2f}")
    bf = how + ("" if bf16_native() else "; no native bfloat16")
    print(f"{'rank: draft decode ‖ stride-8 windows':<44}{r_rank:>10.2f}  ({bf}; --net-threads "
          f"{args.net_threads})")  # fmt: skip
    one = "rank, one photo at a time in the network"
    print(f"{one:<44}{r_rank1:>10.2f}  ({bf}; --net-threads 1)")
    print(f"{'rank --stride 30: the 30-px patch grid':<44}{r_grid:>10.2f}  ({bf})")
    print(f"{'rank --precision float32':<44}{r_r32:>10.2f}  ({len(some)} photos)")
    r_other = args.n / t_other if other else float("nan")
    if other:  # where bfloat16 is not native, its row measures float32 (arithmetic() says so)
        print(f"{'rank --precision ' + other:<44}{r_other:>10.2f}  ({arithmetic(other)})")
    else:
        print(f"{'rank --precision int8':<44}{'-':>10}  (no onnxruntime)")
    print(
        f"{'predict loop: full decode, stride-8 windows':<44}{r_pred:>10.2f}  ({len(some)} photos)"
    )
    print(f"rank / naive: {r_rank / r_naive:.2f}×   rank / predict loop: {r_rank / r_pred:.2f}×")
    print(f"rank / rank one photo at a time: {r_rank / r_rank1:.2f}×   (that one / naive: "
          f"{r_rank1 / r_naive:.2f}×)")  # fmt: skip
    print(f"rank --stride 30 / naive (the same patches): {r_grid / r_naive:.2f}×")
    if other:
        print(
            f"rank {other} / naive: {r_other / r_naive:.2f}×   rank / it: {r_rank / r_other:.2f}×"
        )
    print(f"rank float32 / naive: {r_r32 / r_naive:.2f}×   / predict loop: {r_r32 / r_pred:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
