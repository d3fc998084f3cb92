"""Bursts: near-duplicate shots of one moment, and the one to keep of each.

Two photos of the same folder belong to one burst when they are linked, and links chain
(A–B and B–C put A, B and C in one burst):

* **by time** — both have an EXIF capture time (``DateTimeOriginal``, with
  ``SubSecTimeOriginal`` when present) and the two lie within ``gap`` seconds of each other
  (:data:`DEFAULT_GAP` = 2 s: a camera's burst mode shoots 3–20 frames per second, and a
  photographer re-taking a shot "to be safe" does so within a second or two);
* **by look** — one of them has no capture time (exported, scanned, edited copies lose it),
  and their 64-bit difference hashes (:func:`dhash`) differ in at most ``hash_distance``
  bits (:data:`DEFAULT_HASH_DISTANCE` = 10). The hash sees only the coarse layout of a 9×8
  thumbnail, so motion blur, noise and recompression barely move it, while a different
  scene changes about half of its bits. Photos that both carry a capture time are linked by
  time alone: a landscape re-shot an hour later is another moment, not a burst.

``mode`` picks the links: ``"auto"`` (both rules above), ``"time"``, ``"hash"`` (look only,
capture times ignored) or ``"none"``.

The keeper of each burst (``best_in_burst``) is the photo with the least motion blur in its
**subject area** (:func:`subject_weights`): the judgeable windows, weighted towards the
centre of the frame, where photographers put what they aim at. Ties go to the lower mean
P(blurred) there, then to the path. A photo with no judgeable window is never preferred to
one that has some.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

DEFAULT_GAP = 2.0  # seconds between capture times that still make one burst
DEFAULT_HASH_DISTANCE = 10  # bits (of 64) between dHashes that still make near-duplicates
BURST_MODES = ("auto", "time", "hash", "none")
SUBJECT_SIGMA = 0.35  # centre weight: Gaussian of this many image widths / heights

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_SUBSEC_ORIGINAL = 0x9291


def dhash(image: np.ndarray, size: int = 8) -> str:
    """Return the 64-bit difference hash of an RGB/gray image as 16 hex digits: the gray image
    area-shrunk to (size+1)×size, one bit per horizontally neighbouring pair (left < right)."""
    import cv2

    a = np.asarray(image)
    gray = a if a.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray.astype(np.float32), (size + 1, size), interpolation=cv2.INTER_AREA)
    bits = (small[:, :-1] < small[:, 1:]).ravel()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:0{size * size // 4}x}"


def hash_distance(a: str, b: str) -> int:
    """Return the number of differing bits between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def capture_time(path: str | os.PathLike[str]) -> float | None:
    """Return the EXIF capture time of a photo file in seconds (``DateTimeOriginal`` plus
    ``SubSecTimeOriginal``, read as UTC: only differences matter), or None if it has none."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
            # only the capture: IFD0's DateTime is the last edit, shared by a whole batch export
            text, frac = sub.get(_DATETIME_ORIGINAL), sub.get(_SUBSEC_ORIGINAL)
    except Exception:  # unreadable header or EXIF block: no time, the photo still ranks
        return None
    return parse_exif_time(text, frac)


def parse_exif_time(text: object, subsec: object = None) -> float | None:
    """Return seconds for an EXIF ``"YYYY:MM:DD HH:MM:SS"`` (plus sub-second digits), or None."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.strptime(text.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders
        return None
    seconds = (when - datetime(1970, 1, 1)).total_seconds()
    digits = "".join(c for c in str(subsec or "") if c.isdigit())
    return seconds + (float(f"0.{digits}") if digits else 0.0)


def subject_weights(rows: int, cols: int, sigma: float = SUBJECT_SIGMA) -> np.ndarray:
    """Return ``(rows, cols)`` float32 weights of the subject area: a Gaussian centred on the
    frame, ``sigma`` image heights/widths wide (1 at the centre, ~0.36 at the edges)."""
    y = (np.arange(rows, dtype=np.float32) + 0.5) / max(rows, 1) - 0.5
    x = (np.arange(cols, dtype=np.float32) + 0.5) / max(cols, 1) - 0.5
    return np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2)).astype(np.float32)


def subject_blur(probs: np.ndarray, judgeable: np.ndarray) -> tuple[float, float]:
    """Return ``(blurred share, mean P(blurred))`` of the judgeable windows weighted by
    :func:`subject_weights`; both NaN when no window is judgeable."""
    w = subject_weights(*probs.shape) * judgeable
    total = float(w.sum(dtype=np.float64))
    if total <= 0:
        return float("nan"), float("nan")
    called = float((w * (probs > 0.5)).sum(dtype=np.float64)) / total
    return called, float((w * probs).sum(dtype=np.float64)) / total


def group_bursts(
    paths: Sequence[str],
    times: Sequence[float | None],
    hashes: Sequence[str | None],
    *,
    mode: str = "auto",
    gap: float = DEFAULT_GAP,
    max_distance: int = DEFAULT_HASH_DISTANCE,
) -> list[int]:
    """Return a burst number per photo (photos sharing a number are one burst; numbers count
    from 0 in path order of each burst's first photo); see the module docstring for links."""
    if mode not in BURST_MODES:
        raise ValueError(f"burst mode must be one of {', '.join(BURST_MODES)}, got {mode!r}")
    n = len(paths)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def link(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    folders: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        folders.setdefault(str(Path(p).parent), []).append(i)
    for members in folders.values():
        if mode in ("auto", "time"):
            timed = sorted((t, i) for i in members if (t := times[i]) is not None)
            for (t0, i0), (t1, i1) in itertools.pairwise(timed):
                if t1 - t0 <= gap:
                    link(i0, i1)
        if mode in ("auto", "hash"):
            _link_by_hash(members, times, hashes, mode, max_distance, link)
    roots: dict[int, int] = {}
    order = sorted(range(n), key=lambda i: paths[i])
    for i in order:
        roots.setdefault(find(i), len(roots))
    return [roots[find(i)] for i in range(n)]


def _link_by_hash(members, times, hashes, mode, max_distance, link) -> None:
    """Link the near-duplicate pairs of one folder (vectorised over 64-bit hashes)."""
    idx = [i for i in members if hashes[i]]
    if len(idx) < 2:
        return
    codes = np.array([int(hashes[i], 16) for i in idx], dtype=np.uint64)
    untimed = np.array([times[i] is None for i in idx])
    for a in range(len(idx) - 1):
        dist = np.bitwise_count(codes[a + 1 :] ^ codes[a])
        near = dist <= max_distance
        if mode == "auto":
            near &= untimed[a + 1 :] | untimed[a]
        for b in np.flatnonzero(near):
            link(idx[a], idx[a + 1 + int(b)])


def pick_best(
    bursts: Sequence[int],
    subject: Sequence[float],
    subject_mean: Sequence[float],
    paths: Sequence[str],
    usable: Sequence[bool],
) -> list[bool]:
    """Return whether each photo is the keeper of its burst (least subject blur; see the
    module docstring); unusable photos (unreadable) are never keepers."""

    def key(i: int) -> tuple:
        s, m = subject[i], subject_mean[i]
        return (math.isnan(s), 0.0 if math.isnan(s) else s, 0.0 if math.isnan(m) else m, paths[i])

    best: dict[int, int] = {}
    for i, b in enumerate(bursts):
        if not usable[i]:
            continue
        if b not in best or key(i) < key(best[b]):
            best[b] = i
    keepers = set(best.values())
    return [i in keepers for i in range(len(bursts))]
