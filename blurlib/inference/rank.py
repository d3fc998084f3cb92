"""Ranking a folder by motion blur: :func:`rank_photos` analyses photos the way ``predict``
does and returns one :class:`PhotoRecord` each, sorted from most to least blurred, with
bursts grouped and the keeper of each marked.

Same numbers as ``predict --stride 8``. Each photo is shrunk so its longer side is at most
``max_side`` (1280 px by default, the scale the default model was trained at), its windows
are classified at ``stride`` and only the windows that carry evidence count
(:func:`blurlib.inference.photos.texture_mask`, the no-evidence rule): ``blurred_share`` is
:attr:`blurlib.inference.photos.PhotoResult.blurred_fraction`, the share of the photo's
judgeable (textured) area called motion-blurred, NaN when nothing is judgeable. The stride
is :data:`RANK_STRIDE` = 8 px by default, every other window of ``predict``'s default 4 px
in each direction (still ~18,000 overlapping windows at 1280×960): a photo's share moves by
at most 0.006 (mean 0.001) from stride 4's on the ten bundled photos, sharp and blurred, at
their size and doubled, and the bfloat16 network runs 8–20 % faster (its head computes
only the windows used: :func:`blurlib.inference.bf16.bf16_twin`); ``stride=4`` gives
``predict``'s default numbers. The one other difference is decoding: JPEGs larger than
``max_side`` are decoded at reduced size (:func:`blurlib.data.draft.load_image_at`), which
moved a share by at most 0.011 on the ten bundled photos upscaled to camera size
(``tests/test_rank.py`` allows 0.03); PNG, TIFF and small JPEGs give ``predict``'s numbers
in float32 (rank runs a photo as one tile, ``predict`` in tiles of 1024 px: window
probabilities agree to float rounding, ≤ 1e-5), and within ~0.003 in the faster arithmetic
``precision="auto"`` picks (below).

Blur kinds: with a model that has blur-kind heads (``load_model("analysis")``, issue 10),
``blurred_share`` counts the windows with P(motion) > 0.5 and the record adds the share of
the judgeable windows whose most likely kind is sharp / motion / defocus, the dominant motion
axis and the median motion length (:func:`blurlib.inference.analysis.summarize_analysis`
with rank's evidence rule); a binary model leaves those fields NaN.

Speed: decoding (plus the evidence mask, the hash and the thumbnail) runs on a thread pool
``workers`` photos ahead of the network, which runs each photo's windows as one batch (one
fully-convolutional tile per photo), ``net_threads`` photos at a time (one photo's pass
leaves a core idle part of the time); with ``precision="auto"`` (the default,
:func:`arithmetic`) a CPU with Intel AMX computes the windows in bfloat16
(:mod:`blurlib.inference.bf16`: 4–7× faster than float32 there; a photo's share moves by
~0.001), a CPU with VNNI in 8-bit integers through ONNX Runtime when it is installed
(:mod:`blurlib.inference.int8`: shares move by ≤ 0.003 on the bundled photos; on an AMD EPYC
with AVX-512 BF16 rank runs 1.3× faster than in bfloat16), else in bfloat16 where native,
else in float32; ``tests/test_rank.py``'s 0.03 covers each with the decoding.
``"float32"``, ``"bfloat16"`` and ``"int8"`` ask for one arithmetic; ``"float32"`` keeps
predict's. ``stride=30`` (``rank --stride
30``) classifies the non-overlapping 30-px patch grid instead, cropped window by window
(:func:`blurlib.inference.windows.cropping_pays`): 1/14 of stride 8's windows (1/54 of
stride 4's) and about 2/3 of the network's CPU time of stride 4 at 1280 px, coarser shares
(on the ten bundled photos, ≤ 741 px, they moved by up to 0.07 from stride 4's). A cache
folder keeps analyses between runs (:mod:`blurlib.inference.rank_cache`). Bursts and
keepers: :mod:`blurlib.inference.bursts`.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.data.patches import EVIDENCE_THRESHOLD
from blurlib.errors import BlurlibError
from blurlib.inference import bursts as B
from blurlib.inference.photos import PhotoResult
from blurlib.inference.rank_cache import RankCache, model_digest, photo_key
from blurlib.inference.rank_prep import prefetch, prune_previews, write_previews
from blurlib.inference.windows import (
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    fully_convolutional,
    window_probabilities,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

DEFAULT_MAX_SIDE = 1280  # predict's --max-side default
DEFAULT_THRESHOLD = 0.5  # blurred_share from which a photo's verdict is "blurred"
RANK_STRIDE = 2 * DEFAULT_STRIDE  # windows every 8 px: predict --stride 8 (see the docstring)
VERDICTS = ("blurred", "sharp", "no evidence", "unreadable")
# auto: see arithmetic(); bfloat16 where native; int8: 8-bit integers through ONNX Runtime
PRECISIONS = ("auto", "float32", "bfloat16", "int8")


@dataclass
class PhotoRecord:
    """One photo's line of the ranking (shares are 0–1, NaN when nothing is judgeable)."""

    path: str
    blurred_share: float = float("nan")  # judgeable area called motion-blurred
    verdict: str = "unreadable"
    burst: str = ""  # "b0003" for photos in a burst of two or more, else ""
    best_in_burst: bool = False  # keeper of its burst (a photo in no burst keeps itself)
    largest_region: float = 0.0  # largest connected blurred region, share of the photo
    subject_blur: float = float("nan")  # blurred share of the centre-weighted judgeable area
    subject_mean: float = float("nan")  # mean P(blurred) there (tie-break)
    mean_blur: float = float("nan")  # mean P(blurred) of the judgeable windows
    judgeable_share: float = 0.0  # judgeable windows / all windows
    blurred_windows: int = 0
    judgeable_windows: int = 0
    windows: int = 0
    width: int = 0  # analysed size (after shrinking to max_side)
    height: int = 0
    capture_time: float | None = None  # EXIF seconds (UTC-naive)
    dhash: str = ""
    share_sharp: float = float("nan")  # judgeable windows by most likely kind (models with
    share_motion: float = float("nan")  # blur-kind heads only, e.g. load_model("analysis");
    share_defocus: float = float("nan")  # NaN for a binary motion-blur model)
    motion_direction: float = float("nan")  # dominant motion axis, degrees [0, 180)
    motion_length: float = float("nan")  # median motion length, px (at the analysed scale)
    thumb: str = ""  # preview file names inside the previews folder
    blur_map: str = ""
    error: str = ""
    cached: bool = False  # came from the cache (not written to the CSV)

    def as_dict(self) -> dict[str, Any]:
        """The record as a plain dict (JSON-able)."""
        return asdict(self)


_ANALYSIS_FIELDS = (
    "blurred_share largest_region subject_blur subject_mean mean_blur judgeable_share "
    "blurred_windows judgeable_windows windows width height capture_time dhash thumb blur_map "
    "share_sharp share_motion share_defocus motion_direction motion_length"
).split()
_KIND_FIELDS = {
    "share_sharp": "share_sharp",
    "share_motion": "share_motion",
    "share_defocus": "share_defocus",
    "motion_direction": "direction_deg",
    "motion_length": "length_px",
}


def summarise(path: str, probs: np.ndarray, judgeable: np.ndarray) -> PhotoRecord:
    """Return the record's analysis fields for window probabilities and the evidence mask of
    one photo (shares as in :class:`blurlib.inference.photos.PhotoResult`)."""
    from scipy import ndimage

    result = PhotoResult(0, 0, 0, probs, judgeable, np.empty((0, 0), np.float32), 0.0)
    called = judgeable & (probs > 0.5)
    labels, n = ndimage.label(called, structure=np.ones((3, 3), bool))
    largest = int(np.bincount(labels.ravel())[1:].max()) if n else 0
    subject, subject_mean = B.subject_blur(probs, judgeable)
    n_judge = result.textured_windows
    return PhotoRecord(
        path,
        blurred_share=result.blurred_fraction,
        largest_region=largest / probs.size,
        subject_blur=subject,
        subject_mean=subject_mean,
        mean_blur=float(probs[judgeable].mean()) if n_judge else float("nan"),
        judgeable_share=n_judge / probs.size,
        blurred_windows=result.blurred_windows,
        judgeable_windows=n_judge,
        windows=int(probs.size),
    )


def verdict_of(record: PhotoRecord, threshold: float = DEFAULT_THRESHOLD) -> str:
    """Return the verdict for a record (see the module docstring)."""
    if record.error:
        return "unreadable"
    if math.isnan(record.blurred_share):
        return "no evidence"
    return "blurred" if record.blurred_share >= threshold else "sharp"


def _sort_key(r: PhotoRecord) -> tuple:
    share = r.blurred_share
    mean = 0.0 if math.isnan(r.mean_blur) else r.mean_blur
    return (bool(r.error), math.isnan(share), -(0.0 if math.isnan(share) else share), -mean, r.path)


def rank_photos(
    paths: Iterable[str | os.PathLike[str]],
    model: keras.Model,
    *,
    max_side: int | None = DEFAULT_MAX_SIDE,
    stride: int = RANK_STRIDE,
    evidence: float = EVIDENCE_THRESHOLD,
    threshold: float = DEFAULT_THRESHOLD,
    bursts: str = "auto",
    gap: float = B.DEFAULT_GAP,
    hash_distance: int = B.DEFAULT_HASH_DISTANCE,
    cache_dir: str | os.PathLike[str] | None = None,
    previews_dir: str | os.PathLike[str] | None = None,
    workers: int = 2,
    net_threads: int = 2,
    progress: bool = False,
    on_error: Callable[[str], None] | None = None,
    stats: dict[str, int] | None = None,
    precision: str = "auto",
) -> list[PhotoRecord]:
    """Return one :class:`PhotoRecord` per photo file, most blurred first (unreadable files
    last, with their error), bursts numbered and keepers marked (see the module docstring)."""
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    if net_threads < 1:
        raise ValueError(f"net_threads must be a positive integer, got {net_threads}")
    from blurlib.data.photos import warn_skip
    from blurlib.inference.bf16 import bf16_prepare, bf16_window_probabilities

    tell = on_error or warn_skip
    items = [os.fspath(p) for p in paths]
    kinds = has_kinds(model)
    how = arithmetic(precision, kinds)
    fast, int8 = how == "bfloat16", how == "int8"
    windows = bf16_window_probabilities if fast else window_probabilities
    settings = f"max_side={max_side or 0};stride={stride};evidence={evidence:g};bf16={fast:d}"
    if int8:
        from blurlib.inference.int8 import int8_prepare, int8_window_probabilities, recipe

        threads = 1 if net_threads > 1 else 0  # photos run side by side, one core each
        windows = partial(int8_window_probabilities, threads=threads)
        settings += f";int8={recipe()}"
    digest = model_digest(model)
    cache = RankCache(cache_dir) if cache_dir is not None else None
    previews = Path(previews_dir) if previews_dir is not None else None
    if previews is not None:
        previews.mkdir(parents=True, exist_ok=True)
    records: list[PhotoRecord | None] = [None] * len(items)
    todo: list[tuple[int, str, str]] = []  # (index, key, id)
    keys: set[str] = set()
    for i, path in enumerate(items):
        try:
            key, ident = photo_key(path, digest, settings)
        except OSError as exc:
            records[i] = PhotoRecord(path, error=f"cannot read {path}: {exc.strerror or exc}")
            tell(records[i].error)
            continue
        keys.add(key)
        hit = cache.get(key) if cache is not None else None
        if hit is not None and _previews_ok(previews, hit):
            records[i] = _from_cache(path, hit)
            if records[i].error:
                tell(records[i].error)
        else:
            todo.append((i, key, ident))
    if stats is not None:
        stats.update(analysed=len(todo), cached=len(items) - len(todo))
    tile = max(DEFAULT_TILE, max_side + PATCH) if max_side else DEFAULT_TILE
    stream = prefetch(
        [items[i] for i, _, _ in todo],
        max_side or 0,
        stride,
        evidence,
        previews is not None,
        workers,
        progress,
    )

    def analyse(i: int, ident: str, prep: Any) -> PhotoRecord:  # on a network thread
        if kinds:
            probs, summary = _kinds(model, prep, stride, tile)
        else:
            probs, summary = windows(model, prep.image, stride, tile=tile), {}
        rec = summarise(items[i], probs, prep.judgeable)
        for field, name in _KIND_FIELDS.items():
            setattr(rec, field, float(summary.get(name, float("nan"))))
        rec.height, rec.width = prep.image.shape[:2]
        rec.capture_time, rec.dhash = prep.time, prep.dhash
        if previews is not None:
            rec.thumb, rec.blur_map = write_previews(previews, ident, prep, probs)
        return rec

    def collect(i: int, key: str, future: Future) -> None:  # on this thread, in order
        records[i] = rec = future.result()
        if cache is not None:
            cache.put(key, {f: getattr(rec, f) for f in _ANALYSIS_FIELDS})

    # ``net_threads`` photos through the network at once: one photo's pass leaves a core idle
    # part of the time. The binary net is converted here, once (cached: a second call, e.g.
    # the next shard of a collection, finds it ready), so every photo can run concurrently;
    # a blur-kind model's first photo goes alone (it converts its nets on the way).
    warm = not kinds and bool(todo)
    if warm:  # the net(s) ``windows`` will run: the bfloat16 twin(s) or the float32 one
        if int8:
            int8_prepare(model, stride, threads)
        else:
            bf16_prepare(model, stride) if fast else fully_convolutional(model)
    pending: deque[tuple[int, str, Future]] = deque()
    pool = ThreadPoolExecutor(max_workers=net_threads, thread_name_prefix="blurlib-net")
    try:
        for (i, key, ident), prep in zip(todo, stream, strict=True):
            if prep.error:
                records[i] = PhotoRecord(items[i], error=prep.error)
                tell(prep.error)
                if cache is not None:  # unchanged, it stays unreadable: not tried again
                    cache.put(key, {"error": prep.error})
                continue
            pending.append((i, key, pool.submit(analyse, i, ident, prep)))
            while len(pending) >= (net_threads if warm else 1):
                collect(*pending.popleft())
                warm = True
        while pending:
            collect(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if cache is not None:
        cache.compact(keys)
        if previews is not None:  # previews of photos gone or changed since go too
            used = {str(r.get("thumb", "")).split(".", 1)[0] for r in cache.entries.values()}
            prune_previews(previews, used)
    done = [r for r in records if r is not None]
    return finish(done, threshold, bursts=bursts, gap=gap, hash_distance=hash_distance)


def arithmetic(precision: str, kinds: bool = False) -> str:
    """What rank computes a binary model's windows in — ``"float32"``, ``"bfloat16"`` or
    ``"int8"`` — for ``precision`` (one of :data:`PRECISIONS`). ``"auto"``: bfloat16 on CPUs
    with Intel AMX (4–7× float32 there), else 8-bit integers on CPUs with integer dot products
    (AVX-512 VNNI / AVX-VNNI) where ONNX Runtime is installed (:mod:`blurlib.inference.int8`:
    1.3× the bfloat16 rank on an AMD EPYC with AVX-512 BF16; plain AVX2's 8-bit products can
    saturate, so it is not chosen there unasked), else bfloat16 where native (``"bfloat16"``
    too: float32 where not), else float32. A blur-kind model (``kinds``) ranks in float32;
    asking it for int8, or int8 without ONNX Runtime, is a :class:`BlurlibError`."""
    from blurlib.inference.bf16 import bf16_native
    from blurlib.inference.int8 import int8_available
    from blurlib.runtime import cpu_flags

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        if kinds:
            raise BlurlibError(
                "precision int8 runs binary models only; a blur-kind model ranks in float32 "
                "(use --precision auto)"
            )
        if not int8_available():
            raise BlurlibError(
                "precision int8 needs ONNX Runtime: python -m pip install onnxruntime onnx "
                "(or use --precision auto)"
            )
        return "int8"
    if kinds or precision == "float32":
        return "float32"
    if precision == "bfloat16":
        return "bfloat16" if bf16_native() else "float32"
    flags = cpu_flags()
    if bf16_native() and "amx_bf16" in flags:
        return "bfloat16"
    if flags & {"avx512_vnni", "avx_vnni"} and int8_available():
        return "int8"
    return "bfloat16" if bf16_native() else "float32"


def has_kinds(model: keras.Model) -> bool:
    """Whether ``model`` has blur-kind heads (sharp / motion / defocus, direction, length)."""
    from blurlib.nets.analysis import is_analysis_model

    return bool(is_analysis_model(model))


def _kinds(model: Any, prep: Any, stride: int, tile: int) -> tuple[np.ndarray, dict[str, Any]]:
    """P(motion) per window and the kind summary over the judgeable windows, for a model with
    blur-kind heads (:func:`blurlib.inference.analysis.dense_analysis`)."""
    from dataclasses import replace

    from blurlib.inference.analysis import dense_analysis, summarize_analysis

    a = dense_analysis(model, prep.image, stride, tile=tile)
    a = replace(a, evidence=prep.judgeable)  # rank's --evidence rule
    return a.p_motion, summarize_analysis(a)


def finish(
    records: Sequence[PhotoRecord],
    threshold: float = DEFAULT_THRESHOLD,
    *,
    bursts: str = "auto",
    gap: float = B.DEFAULT_GAP,
    hash_distance: int = B.DEFAULT_HASH_DISTANCE,
) -> list[PhotoRecord]:
    """Set every record's verdict, burst and keeper flag in place and return the records
    sorted most blurred first: records of several shards of a collection (each from
    :func:`rank_photos`) are finished together this way."""
    paths = [r.path for r in records]
    ok = [not r.error for r in records]
    numbers = B.group_bursts(
        paths,
        [r.capture_time if o else None for r, o in zip(records, ok)],
        [r.dhash if o else None for r, o in zip(records, ok)],
        mode=bursts,
        gap=gap,
        max_distance=hash_distance,
    )
    sizes: dict[int, int] = {}
    for n, o in zip(numbers, ok):
        sizes[n] = sizes.get(n, 0) + int(o)
    best = B.pick_best(
        numbers, [r.subject_blur for r in records], [r.subject_mean for r in records], paths, ok
    )
    names: dict[int, str] = {}
    for r, n, b, o in zip(records, numbers, best, ok):
        r.verdict = verdict_of(r, threshold)
        r.best_in_burst = b
        r.burst = names.setdefault(n, f"b{len(names) + 1:04d}") if o and sizes[n] > 1 else ""
    return sorted(records, key=_sort_key)


def _previews_ok(previews: Path | None, hit: dict[str, Any]) -> bool:
    """Whether a cached record's preview files are there (when previews are wanted)."""
    if previews is None or hit.get("error"):
        return True
    return all(hit.get(k) and (previews / hit[k]).is_file() for k in ("thumb", "blur_map"))


def _from_cache(path: str, hit: dict[str, Any]) -> PhotoRecord:
    rec = PhotoRecord(path, cached=True)
    for f in (*_ANALYSIS_FIELDS, "error"):
        if f in hit:
            value = hit[f]
            setattr(rec, f, float("nan") if value is None and f in _NAN_FIELDS else value)
    return rec


_NAN_FIELDS = {"blurred_share", "subject_blur", "subject_mean", "mean_blur", *_KIND_FIELDS}


CSV_COLUMNS = (
    "rank path blurred_share verdict burst best_in_burst largest_region subject_blur mean_blur "
    "judgeable_share blurred_windows judgeable_windows width height capture_time dhash "
    "share_sharp share_motion share_defocus motion_direction motion_length error"
).split()


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return "" if value is None else str(value)


def ranking_rows(records: Sequence[PhotoRecord]) -> list[list[str]]:
    """Return the CSV rows (header first) of records in their order: :data:`CSV_COLUMNS`,
    shares with 4 decimals, NaN and None as empty cells, capture time as ISO text."""
    from datetime import UTC, datetime

    rows = [list(CSV_COLUMNS)]
    names = {f.name for f in fields(PhotoRecord)}
    for n, r in enumerate(records, 1):
        row = []
        for col in CSV_COLUMNS:
            if col == "rank":
                row.append(str(n))
            elif col == "capture_time":
                t = r.capture_time
                when = None if t is None else datetime.fromtimestamp(t, UTC)
                row.append("" if when is None else when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
            elif col in names:
                row.append(_cell(getattr(r, col)))
        rows.append(row)
    return rows


def write_ranking_csv(records: Sequence[PhotoRecord], path: str | os.PathLike[str]) -> Path:
    """Write ``ranking.csv`` (see :func:`ranking_rows`) atomically; return its path."""
    import csv
    import io

    from blurlib.fileio import write_text

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(ranking_rows(records))
    return write_text(path, buf.getvalue())
