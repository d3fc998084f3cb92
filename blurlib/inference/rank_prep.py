"""The decoding stage of :func:`blurlib.inference.rank.rank_photos`: photos decoded at the
working size on a thread pool, a few ahead of the network, with everything that needs no
network measured there too (the evidence mask, the difference hash, the capture time, the
thumbnail); and the small preview files the HTML report shows.

Pillow's JPEG decoder, OpenCV's resizes and numpy release the GIL, so the pool's threads
decode while the network runs on the main thread. At most ``2 × workers`` decoded photos
wait in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blurlib import PATCH
from blurlib.errors import ImageError
from blurlib.inference.bursts import capture_time, dhash
from blurlib.inference.photos import texture_mask

THUMB_SIDE = 320  # preview thumbnails' longer side, pixels
MAP_SIDE = 160  # preview blur maps' longer side, cells
NO_EVIDENCE = 255  # preview map value of a cell without evidence (others: round(254 * p))


@dataclass
class Prepared:
    """One photo ready for the network (or the error that stopped it)."""

    path: str
    image: np.ndarray | None = None
    judgeable: np.ndarray | None = None
    dhash: str = ""
    time: float | None = None
    thumb: bytes = b""
    error: str = ""


def prepare(path: str, max_side: int, stride: int, evidence: float, thumbs: bool) -> Prepared:
    """Return a :class:`Prepared` photo: decoded at ``max_side`` (0: full size), its evidence
    mask at ``stride``, hash, capture time and (``thumbs``) JPEG thumbnail bytes."""
    import cv2

    from blurlib.data.draft import load_image_at

    try:
        image = load_image_at(path, max_side)
        judgeable = texture_mask(image, stride, PATCH, evidence)
    except ImageError as exc:
        return Prepared(path, error=str(exc))
    except OSError as exc:
        return Prepared(path, error=f"cannot read {path}: {exc.strerror or exc}")
    thumb = b""
    if thumbs:
        small = fit(image, THUMB_SIDE, cv2.INTER_AREA)
        ok, data = cv2.imencode(
            ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 82]
        )
        thumb = data.tobytes() if ok else b""
    return Prepared(path, image, judgeable, dhash(image), capture_time(path), thumb)


def prefetch(
    paths: Sequence[str],
    max_side: int,
    stride: int,
    evidence: float,
    thumbs: bool,
    workers: int = 2,
    progress: bool = False,
) -> Iterator[Prepared]:
    """Yield :func:`prepare` of each path in order, ``workers`` threads decoding ahead; a
    tqdm progress bar (with ETA) counts the photos handed on when ``progress``."""
    bar = None
    if progress and paths:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), unit="photo", desc="rank", dynamic_ncols=True)
    workers = max(1, workers)
    ahead = 2 * workers
    futures: list[Future | None] = []
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blurlib-decode") as pool:
            for k in range(len(paths)):
                while len(futures) < min(len(paths), k + ahead + 1):
                    args = (paths[len(futures)], max_side, stride, evidence, thumbs)
                    futures.append(pool.submit(prepare, *args))
                prep = futures[k].result()
                futures[k] = None  # free the decoded photo as soon as it is handed on
                yield prep
                if bar is not None:
                    bar.update(1)
    finally:
        for f in futures:  # a consumer that stops early: nothing more is decoded
            if f is not None:
                f.cancel()
        if bar is not None:
            bar.close()


def prune_previews(folder: Path, keep: set[str]) -> int:
    """Remove the preview files in ``folder`` (``<16 hex digits>.jpg``, ``.map.png``,
    ``.overlay.jpg``: only files of these names) whose id is not in ``keep``; return how many."""
    import re

    pattern = re.compile(r"^([0-9a-f]{16})\.(?:jpg|map\.png|overlay\.jpg)$")
    removed = 0
    for f in folder.iterdir() if folder.is_dir() else []:
        m = pattern.match(f.name)
        if m and m.group(1) not in keep and f.is_file():
            f.unlink(missing_ok=True)
            removed += 1
    return removed


def fit(a: np.ndarray, side: int, interpolation: int) -> np.ndarray:
    """Return ``a`` resized so its longer side is at most ``side`` (never enlarged)."""
    import cv2

    h, w = a.shape[:2]
    if max(h, w) <= side:
        return a
    s = side / max(h, w)
    return cv2.resize(a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interpolation)


def preview_map(probs: np.ndarray, judgeable: np.ndarray) -> np.ndarray:
    """Return a small uint8 map of a photo's windows (longer side ≤ :data:`MAP_SIDE`):
    ``round(254 * P(blurred))`` where most of the cell is judgeable, else ``NO_EVIDENCE``."""
    import cv2

    p = fit(probs.astype(np.float32), MAP_SIDE, cv2.INTER_AREA)
    j = fit(judgeable.astype(np.float32), MAP_SIDE, cv2.INTER_AREA)
    out = np.round(np.clip(p, 0, 1) * 254).astype(np.uint8)
    out[j < 0.5] = NO_EVIDENCE
    return out


def write_previews(folder: Path, ident: str, prep: Prepared, probs: np.ndarray) -> tuple[str, str]:
    """Write ``<ident>.jpg`` (the thumbnail) and ``<ident>.map.png`` (:func:`preview_map`)
    atomically into ``folder``; return their names."""
    import cv2

    from blurlib.fileio import write_bytes

    thumb, bmap = f"{ident}.jpg", f"{ident}.map.png"
    write_bytes(folder / thumb, prep.thumb)
    ok, data = cv2.imencode(".png", preview_map(probs, prep.judgeable))
    if not ok:  # pragma: no cover
        raise ImageError(f"{folder / bmap}: could not encode the preview map")
    write_bytes(folder / bmap, data.tobytes())
    return thumb, bmap
