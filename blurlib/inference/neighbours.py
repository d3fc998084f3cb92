"""Windows of the neighbour net (:mod:`blurlib.nets.neighbours`): raw heads ``(rows, cols, 6)``
of the 30×30 windows at a stride, exactly as the Keras model gives them on each 90×90 window of
the photo mirrored at its borders (reflect-101, as :mod:`blurlib.inference.context`).

A window at ``(y, x)`` reads the trunk features of the nine cells at ``(y + 30a, x + 30b)``,
a, b ∈ {-1, 0, 1}. The trunk runs once on every distinct cell: on the patch grid (stride 30)
the neighbours are the grid's own cells, so the photo's cells (and one ring of mirrored ones)
are cropped and run once each — about the work of ``patch_probabilities``. At small strides the
trunk's dense form runs over the photo instead, one pass per residue of the cells' corners mod
its native stride (4: two residues per axis, 0 and 2, since 30 ≡ 2 mod 4), whichever costs
fewer FLOPs. The head (a 3×3 layer over the cells' features, then the heads) is a few matrix
products per band of window rows, so a 12-MP map never holds all its features at once.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.inference.context import crop_features, mirror_pad, windows_at
from blurlib.inference.windows import cached_by_weights, window_costs, window_grid_shape

if TYPE_CHECKING:  # pragma: no cover
    import keras

_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BAND_VALUES = 1 << 24  # trunk feature values per band (64 MB of float32)


def neighbour_network(model: keras.Model) -> dict[str, Any]:
    """Return :func:`blurlib.nets.neighbours.neighbour_parts` of ``model``, converted once and
    cached (reconverted when its weights change)."""
    from blurlib.nets.neighbours import neighbour_parts

    return cached_by_weights(_PARTS, model, neighbour_parts)


def _cells(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct cell corners (mirrored-photo coordinates) that windows at ``corners`` read,
    sorted, and for each window and offset a ∈ {0, 1, 2} its cell's index: (n, 3)."""
    need = corners[:, None] + PATCH * np.arange(3)[None, :]
    cells, index = np.unique(need, return_inverse=True)
    return cells, index.reshape(need.shape)


def _head(parts: dict[str, Any], feats: np.ndarray, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Raw heads (rows, cols, 6) from the cells' features (Uy, Ux, F) and each window's cell
    indices per axis ((rows, 3), (cols, 3))."""
    k, b, w2, b2 = parts["head"]
    acc = np.zeros((iy.shape[0], ix.shape[0], k.shape[-1]), np.float32)
    for a in range(3):
        rows = feats[iy[:, a]]
        for c in range(3):
            acc += rows[:, ix[:, c]] @ k[a, c]
    return np.maximum(acc + b, 0.0) @ w2 + b2


def dense_pays(parts: dict[str, Any], ys: np.ndarray, xs: np.ndarray, shape: tuple) -> bool:
    """Whether the trunk's dense passes over the mirrored photo (``shape``) take fewer FLOPs
    than cropping each distinct cell the windows read."""
    s = parts["stride"]
    crop, per_window = window_costs(parts["trunk"], s)
    cy, cx = _cells(ys)[0], _cells(xs)[0]
    passes = len(np.unique(cy % s)) * len(np.unique(cx % s))
    dense = passes * np.prod(window_grid_shape(shape[0], shape[1], s, PATCH)) * per_window
    return bool(dense < len(cy) * len(cx) * crop)


def neighbour_windows(
    model: keras.Model,
    image: np.ndarray,
    stride: int,
    tile: int | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Raw heads ``(rows, cols, 6)`` of the neighbour net's windows at ``stride`` (module doc)."""
    parts = neighbour_network(model)
    s = parts["stride"]
    h, w = image.shape[:2]
    rows, cols = window_grid_shape(h, w, stride, PATCH)
    mirrored = mirror_pad(image, PATCH)
    xs = np.arange(cols) * stride
    cx, ix = _cells(xs)
    dense = dense_pays(parts, np.arange(rows) * stride, xs, mirrored.shape)
    n_feat = parts["head"][0].shape[2]
    band = max(1, _BAND_VALUES // (3 * len(cx) * n_feat))
    raw = np.empty((rows, cols, 6), np.float32)
    for r0 in range(0, rows, band):
        ys = np.arange(r0, min(rows, r0 + band)) * stride
        cy, iy = _cells(ys)
        if dense:
            y0 = int(cy[0]) - int(cy[0]) % s  # the band starts on the trunk's native grid
            feats = windows_at(parts["trunk"], s, mirrored[y0:], cy - y0, cx, tile)
        else:
            yy, xx = (a.ravel() for a in np.meshgrid(cy, cx, indexing="ij"))
            feats = crop_features(parts["trunk"], mirrored, yy, xx, batch_size)
            feats = feats.reshape(len(cy), len(cx), -1)
        raw[r0 : r0 + len(ys)] = _head(parts, feats, iy, ix)
    return raw
