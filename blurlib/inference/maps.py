"""Blur maps: window probabilities interpolated to every pixel of a photo.

:func:`blur_map` places each window's probability at the window centre
``(i*s + 14.5, j*s + 14.5)`` (pixel centres at integer coordinates) and interpolates
bilinearly to every pixel. Pixels outside the hull of the centres (the 15-pixel border and
the uncovered bottom/right remainder) take the value of the nearest centre row/column
(coordinates are clamped), so the map is defined everywhere and stays in [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.inference.windows import (
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    as_image,
    fully_convolutional,
    window_probabilities,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras


def _interp_axis(n_out: int, n_in: int, stride: int, patch: int) -> tuple[np.ndarray, ...]:
    """Indices and weights placing ``n_in`` centres at ``i*stride + (patch-1)/2`` onto
    ``n_out`` pixels, clamped outside the centres' hull."""
    pos = (np.arange(n_out, dtype=np.float64) - (patch - 1) / 2.0) / stride
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.minimum(np.floor(pos).astype(np.intp), max(n_in - 2, 0))
    wgt = (pos - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, wgt


def windows_to_map(
    probs: np.ndarray, height: int, width: int, stride: int, patch: int = PATCH
) -> np.ndarray:
    """Return the ``height×width`` float32 map interpolating window probabilities from their
    centres (bilinear inside the centres' hull, nearest centre outside it)."""
    probs = np.asarray(probs, np.float32)
    r0, r1, wr = _interp_axis(height, probs.shape[0], stride, patch)
    c0, c1, wc = _interp_axis(width, probs.shape[1], stride, patch)
    cols = probs[:, c0] * (1 - wc) + probs[:, c1] * wc  # (rows, W)
    out = np.empty((height, width), np.float32)
    step = max(1, (1 << 22) // max(width, 1))  # bounded temporaries for huge photos
    for y in range(0, height, step):
        sl = slice(y, min(y + step, height))
        a = wr[sl, None]
        out[sl] = cols[r0[sl]] * (1 - a) + cols[r1[sl]] * a
    np.clip(out, 0.0, 1.0, out=out)
    return out


def blur_map(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
) -> np.ndarray:
    """Return an ``H×W`` float32 map in [0, 1]: window probabilities at ``stride``
    interpolated from window centres to every pixel (see :mod:`blurlib.inference.maps`)."""
    _, _, patch = fully_convolutional(model)
    image = as_image(image, patch)
    probs = window_probabilities(model, image, stride, tile=tile)
    return windows_to_map(probs, image.shape[0], image.shape[1], stride, patch)


def predict_many(
    model: keras.Model,
    images: Iterable[Any],
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
    progress: bool = False,
) -> list[np.ndarray]:
    """Return one :func:`blur_map` per image (arrays or paths, read with
    ``blurlib.data.images.load_image``), converting the network once."""
    items = list(images)
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="blur maps", unit="photo")
    return [blur_map(model, as_image(item), stride, tile=tile) for item in items]
