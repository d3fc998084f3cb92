"""Windows of a blur-analysis net that reads context around each patch
(``build_analysis(context=k)``): raw heads ``(rows, cols, 6)`` of the 30×30 windows at a stride,
by whichever of two exact routes costs fewer FLOPs.

* **Crops** (:func:`context_crops`): the same pieces on each window cut out — cheap for
  sparse windows such as the 30-px patch grid.
* **Dense** (:func:`context_dense`): the net is two trunks and a head
  (:func:`blurlib.nets.analysis.context_parts`). The patch trunk runs fully convolutionally on
  the photo, as the plain net does; the context trunk reads each (30 + 2k)-px window
  average-pooled by 2, so it runs fully convolutionally on the photo pooled by 2 — one pooled
  copy per pooling phase (the parity of the window's corner), shifted passes where the corners
  fall between its native grid. The head (a ReLU layer and the three heads, 1×1 per window)
  runs on the two feature maps side by side. Photos are taken in bands of window rows, so the
  feature maps of a 12-MP photo never sit in memory whole.

Both mirror the photo at its borders (reflect-101), where a training window had real pixels,
so they give the same numbers (float32 round-off apart).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.inference.windows import (
    cached_by_weights,
    crop_batches,
    native_windows,
    window_costs,
    window_grid_shape,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BAND_VALUES = 1 << 24  # feature values per band, both trunks (64 MB of float32)


def mirror_pad(image: np.ndarray, k: int) -> np.ndarray:
    """Return ``image`` with ``k`` px mirrored around it (reflect-101, the border of context
    windows)."""
    import cv2

    return cv2.copyMakeBorder(np.ascontiguousarray(image), k, k, k, k, cv2.BORDER_REFLECT_101)


def crop_features(
    fcn: Any, image: np.ndarray, ys: np.ndarray, xs: np.ndarray, batch_size: int
) -> np.ndarray:
    """``(len(ys), F)``: the dense network ``fcn`` on the 30-px windows of ``image`` at the
    corners ``(ys[n], xs[n])``, cropped and batched (on one window it is its trunk)."""
    out = None
    for start, stop, buf in crop_batches(image, PATCH, 1, 0, 0, batch_size, corners=(ys, xs)):
        res = np.asarray(fcn.predict_on_batch(buf), np.float32).reshape(len(buf), -1)
        if out is None:
            out = np.empty((len(ys), res.shape[1]), np.float32)
        out[start:stop] = res[: stop - start]
    return out


def _head(parts: dict[str, Any], near: np.ndarray, far: np.ndarray) -> np.ndarray:
    """Raw heads (..., 6) from the two trunks' features (..., F) side by side."""
    w1, b1, w2, b2 = parts["head"]
    return np.maximum(np.concatenate([near, far], axis=-1) @ w1 + b1, 0.0) @ w2 + b2


def context_crops(
    model: keras.Model, image: np.ndarray, stride: int, batch_size: int = 256
) -> np.ndarray:
    """Raw heads ``(rows, cols, 6)`` of the windows at ``stride``, each cropped with its
    surroundings: the patch trunk on the 30-px patch, the context trunk on its window of the
    mirrored photo pooled by 2 (one pooled copy per pooling phase that occurs)."""
    parts = context_network(model)
    k, cc = parts["context"], parts["crop"]
    rows, cols = window_grid_shape(image.shape[0], image.shape[1], stride, PATCH)
    yy, xx = (
        a.ravel()
        for a in np.meshgrid(np.arange(rows) * stride, np.arange(cols) * stride, indexing="ij")
    )
    near = crop_features(parts["near"], image, yy, xx, batch_size)
    padded = mirror_pad(image, k)
    far = None
    for py in (0, 1):
        for px in (0, 1):
            sel = np.nonzero((yy % 2 == py) & (xx % 2 == px))[0]
            if not len(sel):
                continue
            pooled = _pool2(padded[py:, px:])
            got = crop_features(
                parts["far"], pooled, (yy[sel] - py) // 2 + cc, (xx[sel] - px) // 2 + cc, batch_size
            )
            if far is None:
                far = np.empty((len(yy), got.shape[1]), np.float32)
            far[sel] = got
    return _head(parts, near, far).reshape(rows, cols, 6)


def context_network(model: keras.Model) -> dict[str, Any]:
    """Return :func:`blurlib.nets.analysis.context_parts` of ``model``, converted once and
    cached (reconverted when its weights change)."""
    from blurlib.nets.analysis import context_parts

    return cached_by_weights(_PARTS, model, context_parts)


def windows_at(
    fcn: Any, s: int, image: np.ndarray, ys: np.ndarray, xs: np.ndarray, tile: int | None
) -> np.ndarray:
    """Return ``(len(ys), len(xs), C)``: the dense network ``fcn`` (native stride ``s``) on the
    30-px windows of ``image`` with top-left corners ``(y, x)``, y in ``ys``, x in ``xs``; one
    pass per pair of corner residues mod ``s`` that occurs."""
    out = None
    for ry in np.unique(ys % s):
        iy = np.nonzero(ys % s == ry)[0]
        for rx in np.unique(xs % s):
            ix = np.nonzero(xs % s == rx)[0]
            top, left = int(ys[iy].max()) + PATCH, int(xs[ix].max()) + PATCH
            grid = native_windows(fcn, image[ry:top, rx:left], s, tile)
            if out is None:
                out = np.empty((len(ys), len(xs), grid.shape[-1]), np.float32)
            out[np.ix_(iy, ix)] = grid[np.ix_((ys[iy] - ry) // s, (xs[ix] - rx) // s)]
    return out


def _pool2(a: np.ndarray) -> np.ndarray:
    """2×2 average pooling (valid) of an H×W×3 array, float32 (OpenCV's area resize at 1/2:
    the same sums, 5× faster than numpy's)."""
    import cv2

    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    src = np.ascontiguousarray(a[:h, :w], np.float32)
    return cv2.resize(src, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def context_dense(
    model: keras.Model, image: np.ndarray, stride: int, tile: int | None = None
) -> np.ndarray:
    """Raw heads ``(rows, cols, 6)`` of the windows at ``stride`` from the dense forms of the
    net's two trunks (module docstring)."""
    parts = context_network(model)
    k, s, cc = parts["context"], parts["stride"], parts["crop"]
    w1 = parts["head"][0]
    h, w = image.shape[:2]
    rows, cols = window_grid_shape(h, w, stride, PATCH)
    padded = mirror_pad(image, k)
    xs = np.arange(cols) * stride
    raw = np.empty((rows, cols, 6), np.float32)
    band = max(1, _BAND_VALUES // (cols * w1.shape[0]))
    for r0 in range(0, rows, band):
        ys = np.arange(r0, min(rows, r0 + band)) * stride
        y0 = int(ys[0])
        near = windows_at(parts["near"], s, image[y0:], ys - y0, xs, tile)
        far = np.empty((*near.shape[:2], w1.shape[0] - near.shape[2]), np.float32)
        base = y0 - y0 % 2  # the band's padded rows start on an even row: one pooling phase each
        for py in (0, 1):
            iy = np.nonzero(ys % 2 == py)[0]
            for px in (0, 1):
                ix = np.nonzero(xs % 2 == px)[0]
                if not len(iy) or not len(ix):
                    continue
                bottom = int(ys[iy].max()) + PATCH + 2 * k
                pooled = _pool2(padded[base + py : bottom, px:])
                yy = (ys[iy] - base - py) // 2 + cc
                xx = (xs[ix] - px) // 2 + cc
                far[np.ix_(iy, ix)] = windows_at(parts["far"], s, pooled, yy, xx, tile)
        raw[r0 : r0 + len(ys)] = _head(parts, near, far)
    return raw


def dense_pays(model: keras.Model, height: int, width: int, stride: int) -> bool:
    """Whether :func:`context_dense` takes fewer FLOPs than :func:`context_crops` for the
    windows at ``stride`` (dense: small strides; crops: sparse windows like the patch grid)."""
    parts = context_network(model)
    s, k = parts["stride"], parts["context"]
    near, far = (window_costs(parts[name], s) for name in ("near", "far"))
    rows, cols = window_grid_shape(height, width, stride, PATCH)
    crops = rows * cols * (near[0] + far[0])
    ys, xs = np.arange(rows) * stride, np.arange(cols) * stride
    near_passes = len(np.unique(ys % s)) * len(np.unique(xs % s))
    far_passes = len(np.unique(ys % (2 * s))) * len(np.unique(xs % (2 * s)))  # phase × residue
    n_near = np.prod(window_grid_shape(height, width, s, PATCH))
    n_far = np.prod(window_grid_shape((height + 2 * k) // 2, (width + 2 * k) // 2, s, PATCH))
    dense = near_passes * n_near * near[1] + far_passes * n_far * far[1]
    return bool(dense < crops)


def context_windows(
    model: keras.Model, image: np.ndarray, stride: int, tile: int | None = None
) -> np.ndarray:
    """Raw heads ``(rows, cols, 6)`` of the windows at ``stride`` of a context net, by the
    cheaper exact route (:func:`dense_pays`)."""
    if dense_pays(model, image.shape[0], image.shape[1], stride):
        return context_dense(model, image, stride, tile)
    return context_crops(model, image, stride)
