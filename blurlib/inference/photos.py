"""Whole photos: which windows carry evidence, what one photo holds (:class:`PhotoResult`
from :func:`analyse`: window probabilities, evidence mask, blur map, time) and its files on
disk (:func:`save_outputs`).

A window whose own detail is below :data:`blurlib.data.patches.EVIDENCE_THRESHOLD` (the rule
of :func:`blurlib.data.patches.evidence_mask`: smooth shading, flat sky, a featureless
out-of-focus background) carries no evidence either way: it is left out of every share, never
counted as blurred. It is measured on the photo itself, since user photos have no sharp copy —
the same rule that picks training patches for the ``robust`` preset.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.data.patches import CONTENT_THRESHOLD, EVIDENCE_THRESHOLD, detail_rows, gray_image
from blurlib.errors import ImageError
from blurlib.fileio import atomic_path, write_bytes
from blurlib.inference.maps import windows_to_map
from blurlib.inference.windows import (
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    as_image,
    fully_convolutional,
    window_grid_shape,
    window_probabilities,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

TEXTURE_STD = CONTENT_THRESHOLD  # gray std (0–255) from which a window has content (patches)


def _window_sums(planes: Any, shape: tuple[int, int], stride: int, patch: int) -> list[np.ndarray]:
    """Per-window sums of each H×W plane that ``planes(y0, y1)`` returns for rows y0:y1, over
    the ``(rows, cols)`` window grid at ``stride``: integral images, in strips (bounded memory)."""
    import cv2

    rows, cols = window_grid_shape(shape[0], shape[1], stride, patch)
    outs: list[np.ndarray] | None = None
    xs = np.arange(cols) * stride
    per = max(1, 256 // stride)
    for i0 in range(0, rows, per):
        i1 = min(i0 + per, rows)
        strip = planes(i0 * stride, (i1 - 1) * stride + patch)
        if outs is None:
            outs = [np.empty((rows, cols), np.float64) for _ in strip]
        ys = np.arange(i1 - i0) * stride
        for out, v in zip(outs, strip, strict=True):
            integ = cv2.integral(v, sdepth=cv2.CV_64F)  # float64 sums, ~15× numpy's cumsums
            a = integ[np.ix_(ys + patch, xs + patch)] - integ[np.ix_(ys, xs + patch)]
            b = integ[np.ix_(ys + patch, xs)] - integ[np.ix_(ys, xs)]
            out[i0:i1] = a - b
    return outs or []


def window_std(image: Any, stride: int = DEFAULT_STRIDE, patch: int = PATCH) -> np.ndarray:
    """Return ``(rows, cols)`` float32: the gray-level standard deviation (0–255) of each
    window at ``stride``, computed in strips with integral images (bounded memory)."""
    image = as_image(image, patch)

    def planes(y0: int, y1: int) -> list[np.ndarray]:
        g = gray_image(image[y0:y1], patch).astype(np.float64)
        return [g, g * g]

    n = float(patch * patch)
    total, squares = _window_sums(planes, image.shape[:2], stride, patch)
    return np.sqrt(np.maximum(squares / n - (total / n) ** 2, 0.0)).astype(np.float32)


def window_detail(image: Any, stride: int = DEFAULT_STRIDE, patch: int = PATCH) -> np.ndarray:
    """Return ``(rows, cols)`` float32: the RMS detail (gray levels) of each window at ``stride``
    — :func:`blurlib.data.patches.patch_texture`'s measure, windowed, in strips (bounded memory)."""
    image = as_image(image, patch)

    def planes(y0: int, y1: int) -> list[np.ndarray]:  # the strip's detail, as the whole's
        return [np.square(detail_rows(image, y0, y1), dtype=np.float32)]

    (sums,) = _window_sums(planes, image.shape[:2], stride, patch)
    return np.sqrt(np.maximum(sums, 0.0) / (patch * patch)).astype(np.float32)


def texture_mask(
    image: Any,
    stride: int = DEFAULT_STRIDE,
    patch: int = PATCH,
    threshold: float = EVIDENCE_THRESHOLD,
) -> np.ndarray:
    """Return ``(rows, cols)`` bool: the windows that carry evidence (detail ≥ ``threshold``).

    The windowed form of :func:`blurlib.data.patches.evidence_mask` (same measure, same
    2-level threshold): measured on the photo itself, since user photos have no sharp copy.
    """
    return window_detail(image, stride, patch) >= threshold


@dataclass
class PhotoResult:
    """What :func:`analyse` found in one photo."""

    height: int
    width: int
    stride: int
    probs: np.ndarray  # (rows, cols) window probabilities
    textured: np.ndarray  # (rows, cols) bool: the window carries evidence (texture_mask)
    blur_map: np.ndarray  # H×W float32
    seconds: float

    @property
    def textured_windows(self) -> int:
        """Number of textured windows."""
        return int(self.textured.sum())

    @property
    def blurred_windows(self) -> int:
        """Number of textured windows with P(blurred) > 0.5."""
        return int((self.probs[self.textured] > 0.5).sum())

    @property
    def blurred_fraction(self) -> float:
        """Fraction of the textured windows called blurred (nan if none is textured)."""
        n = self.textured_windows
        return self.blurred_windows / n if n else float("nan")


def analyse(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
    threshold: float = EVIDENCE_THRESHOLD,
) -> PhotoResult:
    """Return a :class:`PhotoResult` (window probabilities, evidence mask, blur map, time)."""
    t0 = time.perf_counter()
    _, _, patch = fully_convolutional(model)
    image = as_image(image, patch)
    probs = window_probabilities(model, image, stride, tile=tile)
    textured = texture_mask(image, stride, patch, threshold)
    bmap = windows_to_map(probs, image.shape[0], image.shape[1], stride, patch)
    return PhotoResult(
        image.shape[0], image.shape[1], stride, probs, textured, bmap, time.perf_counter() - t0
    )


def save_outputs(
    picture: np.ndarray, result: PhotoResult, out_dir: str | os.PathLike, stem: str
) -> tuple[Path, Path]:
    """Write ``<stem>_blurmap.png`` (``picture``, e.g. ``blurlib.viz.maps.overlay_blur_map``) and
    ``<stem>_blurmap.npy`` (the H×W map) atomically into ``out_dir``; return both paths."""
    import cv2

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png, npy = out_dir / f"{stem}_blurmap.png", out_dir / f"{stem}_blurmap.npy"
    ok, data = cv2.imencode(
        ".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1]
    )
    if not ok:  # pragma: no cover
        raise ImageError(f"{png}: could not encode the overlay")
    write_bytes(png, data.tobytes())
    with atomic_path(npy) as tmp, open(tmp, "wb") as fh:
        np.save(fh, result.blur_map)
    return png, npy
