"""Blur analysis of whole photos: what kind of blur each patch carries (sharp / motion /
defocus), and for motion its direction and length.

* :func:`patch_analysis` — one value per 30×30 grid patch, like ``patch_probabilities``;
* :func:`dense_analysis` — the same on the windows at any stride, from fully-convolutional
  passes over tiles, exact like ``window_probabilities``; :func:`kind_maps` — its three
  probabilities interpolated to every pixel, like ``blur_map``;
* :func:`summarize_analysis` — a photo's shares of sharp / motion / defocus over its judgeable
  patches, and its dominant motion direction (circular mean of the doubled angles), spread and
  median length.

Angles follow :mod:`blurlib.data.kernels`: degrees in [0, 180), 0 = along the image x axis
(right), 90 = along the y axis, counter-clockwise as seen on screen. ``angle_deg`` and
``length_px`` are NaN where ``p_motion < 0.5``. Both need the multi-head model
(``blurlib.model.load_model("analysis")``); a binary motion-vs-not model raises
:class:`blurlib.errors.ModelFileError` naming the model to load. A net that reads context
around each patch goes through :mod:`blurlib.inference.context` (a context trunk,
``build_analysis(context=...)``: its two trunks' dense forms, or cropped windows where that
costs less) or :mod:`blurlib.inference.neighbours` (the neighbour net of
:mod:`blurlib.nets.neighbours`: its trunk once per cell, then a 3×3 head over the cells).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.data.patches import EVIDENCE_THRESHOLD, evidence_mask, to_patches
from blurlib.errors import ModelFileError
from blurlib.inference.views import check_views, crop_to_windows, viewed_heads
from blurlib.inference.windows import (
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    as_image,
    cached_by_weights,
    native_windows,
    window_grid_shape,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

MOTION_THRESHOLD = 0.5  # p_motion from which a direction and length are reported
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class PatchAnalysis:
    """Per-patch (or per-window) blur analysis; every array is ``(rows, cols)`` float32."""

    p_sharp: np.ndarray
    p_motion: np.ndarray
    p_defocus: np.ndarray
    angle_deg: np.ndarray  # [0, 180), NaN where p_motion < 0.5
    length_px: np.ndarray  # px, NaN where p_motion < 0.5
    evidence: np.ndarray  # bool: the patch is judgeable (evidence_mask rule)
    stride: int = PATCH  # PATCH for the patch grid, else the window stride

    @property
    def kind(self) -> np.ndarray:
        """``(rows, cols)`` uint8 most likely kind: 0 sharp, 1 motion, 2 defocus."""
        return np.argmax(np.stack([self.p_sharp, self.p_motion, self.p_defocus]), 0).astype("u1")

    def kind_map(self, no_evidence: int = 255) -> np.ndarray:
        """``(rows, cols)`` uint8 kind, ``no_evidence`` (255) where the patch is not judgeable."""
        return np.where(self.evidence, self.kind, no_evidence).astype(np.uint8)


def _check_model(model: Any) -> None:
    from blurlib.nets.analysis import is_analysis_model

    if not is_analysis_model(model):
        name = getattr(model, "name", type(model).__name__)
        raise ModelFileError(
            f"model {name!r} has no blur-kind heads (it looks like a binary motion-blur "
            "detector); blur analysis needs the multi-head model: "
            "blurlib.model.load_model('analysis') (CLI: --model analysis)"
        )


def analysis_network(model: keras.Model) -> tuple[Any, int]:
    """Return ``(dense network, native stride)`` of a multi-head model, converted once and
    cached (reconverted when its weights change)."""
    from blurlib.nets.analysis import analysis_fully_convolutional
    from blurlib.nets.fully_conv import native_stride

    _check_model(model)

    def convert(m: keras.Model) -> tuple[Any, int]:
        fcn = analysis_fully_convolutional(m)
        fcn.compile(jit_compile="auto")
        return fcn, native_stride(m)

    return cached_by_weights(_CACHE, model, convert)


def _to_analysis(d: dict[str, np.ndarray], evidence: np.ndarray, stride: int) -> PatchAnalysis:
    """A :class:`PatchAnalysis` from decoded heads (:func:`blurlib.nets.analysis.decode_heads`)."""
    p = d["p_kind"]
    unsure = p[..., 1] < MOTION_THRESHOLD
    angle = np.where(unsure, np.nan, d["angle_deg"]).astype(np.float32)
    length = np.where(unsure, np.nan, np.maximum(d["length_px"], 1.0)).astype(np.float32)
    return PatchAnalysis(
        np.ascontiguousarray(p[..., 0]),
        np.ascontiguousarray(p[..., 1]),
        np.ascontiguousarray(p[..., 2]),
        angle,
        length,
        evidence,
        stride,
    )


def _heads(
    raw: Callable[[np.ndarray], np.ndarray], image: np.ndarray, stride: int, views: int
) -> dict[str, np.ndarray]:
    """Decoded heads of ``raw(image)`` (raw head values per window at ``stride``), averaged
    over ``views`` (:mod:`blurlib.inference.views`; the photo cropped to its windows first)."""
    from blurlib.nets.analysis import decode_heads

    if views == 1:
        return decode_heads(raw(image))
    return viewed_heads(
        lambda x: decode_heads(raw(x)), crop_to_windows(image, stride, PATCH), views
    )


def _context_raw(
    model: keras.Model, image: np.ndarray, stride: int, tile: int | None = None
) -> np.ndarray:
    """Raw heads of a net that reads beyond its patch: the neighbour net
    (:mod:`blurlib.inference.neighbours`) or a context-trunk net (:mod:`.context`); the
    callers have checked the model (once, not once per view)."""
    from blurlib.nets.neighbours import is_neighbour_model

    if is_neighbour_model(model):
        from blurlib.inference.neighbours import neighbour_windows

        return neighbour_windows(model, image, stride, tile)
    from blurlib.inference.context import context_windows

    return context_windows(model, image, stride, tile)


def patch_analysis(
    model: keras.Model, image: Any, patch: int = PATCH, batch_size: int = 512, *, views: int = 1
) -> PatchAnalysis:
    """Return the :class:`PatchAnalysis` of every ``patch``×``patch`` grid patch
    (``(H // patch, W // patch)`` arrays; the bottom/right remainder is cropped).

    ``views`` (1, 4 or 8): the answers averaged over that many rotated and mirrored copies of
    the photo (:mod:`blurlib.inference.views`), at one network pass each — 4 lowers the
    direction error (see the analysis model's card) at 4× the time."""
    from blurlib.nets.analysis import model_context

    _check_model(model)
    views = check_views(views)
    image = as_image(image, patch)
    evidence = evidence_mask(np.asarray(image), patch, EVIDENCE_THRESHOLD)
    if model_context(model):  # a context net: windows with their surroundings

        def raw(x: np.ndarray) -> np.ndarray:
            return _context_raw(model, x, patch)

    else:
        fcn, _ = analysis_network(model)

        def raw(x: np.ndarray) -> np.ndarray:
            return _grid_raw(fcn, x, patch, batch_size)

    return _to_analysis(_heads(raw, image, patch, views), evidence, patch)


def _grid_raw(fcn: Any, image: np.ndarray, patch: int, batch_size: int) -> np.ndarray:
    """Raw heads ``(rows, cols, 6)`` of the grid patches, classified in batches."""
    grid = to_patches(image, patch)
    rows, cols = grid.shape[:2]
    flat = grid.reshape(rows * cols, patch, patch, 3)
    n = flat.shape[0]
    bs = max(1, min(batch_size, 1 << max(0, (n - 1).bit_length())))
    buf = np.zeros((bs, patch, patch, 3), np.float32)
    raw = np.empty((n, 6), np.float32)
    for start in range(0, n, bs):
        stop = min(start + bs, n)
        buf[: stop - start] = flat[start:stop]
        buf[stop - start :] = 0
        raw[start:stop] = np.asarray(fcn.predict_on_batch(buf)).reshape(bs, 6)[: stop - start]
    return raw.reshape(rows, cols, 6)


def dense_analysis(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
    views: int = 1,
) -> PatchAnalysis:
    """Return the :class:`PatchAnalysis` of the 30×30 windows with top-left corners
    ``(i*stride, j*stride)``, exact for every integer stride (as ``window_probabilities``: a
    multiple of the native stride 4 is one pass; others run shifted passes and interleave).
    ``views`` as in :func:`patch_analysis`."""
    from blurlib.inference.photos import texture_mask
    from blurlib.nets.analysis import model_context

    stride = int(stride)
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    if tile is not None and tile < PATCH:
        raise ValueError(f"tile must be at least {PATCH} pixels, got {tile}")
    _check_model(model)
    views = check_views(views)
    image = as_image(image, PATCH)
    evidence = texture_mask(image, stride, PATCH, EVIDENCE_THRESHOLD)
    if model_context(model):  # dense forms, or crops where sparse windows pay

        def raw(x: np.ndarray) -> np.ndarray:
            return _context_raw(model, x, stride, tile)

    else:
        fcn, s = analysis_network(model)

        def raw(x: np.ndarray) -> np.ndarray:
            return _dense_raw(fcn, s, x, stride, tile)

    return _to_analysis(_heads(raw, image, stride, views), evidence, stride)


def _dense_raw(fcn: Any, s: int, image: np.ndarray, stride: int, tile: int | None) -> np.ndarray:
    """Raw heads of the windows at ``stride`` from passes of the dense network (native
    stride ``s``): shifted passes interleaved where ``stride`` is not a multiple of ``s``."""
    h, w = image.shape[:2]
    g = math.gcd(stride, s)
    m = s // g
    raw = np.empty((*window_grid_shape(h, w, g, PATCH), 6), np.float32)
    for dy in range(0, s, g):
        for dx in range(0, s, g):
            if h - dy >= PATCH and w - dx >= PATCH:
                part = native_windows(fcn, image[dy:, dx:], s, tile)
                raw[dy // g :: m, dx // g :: m][: part.shape[0], : part.shape[1]] = part
    k = stride // g
    return np.ascontiguousarray(raw[::k, ::k])


def kind_maps(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
    views: int = 1,
) -> np.ndarray:
    """Return an H×W×3 float32 map of P(sharp, motion, defocus), the windows' probabilities at
    ``stride`` interpolated from their centres to every pixel, as ``blur_map`` does
    (``views`` as in :func:`patch_analysis`)."""
    from blurlib.inference.maps import windows_to_map

    image = as_image(image, PATCH)
    a = dense_analysis(model, image, stride, tile=tile, views=views)
    h, w = image.shape[:2]
    maps = [windows_to_map(p, h, w, stride, PATCH) for p in (a.p_sharp, a.p_motion, a.p_defocus)]
    return np.stack(maps, axis=-1)


def _circular_axis(angles: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted mean direction (deg, [0, 180)) and circular spread (deg) of undirected angles."""
    t = np.radians(angles) * 2.0
    c, s = float(np.sum(weights * np.cos(t))), float(np.sum(weights * np.sin(t)))
    r = math.hypot(c, s) / max(float(np.sum(weights)), 1e-12)
    mean = (math.degrees(math.atan2(s, c)) / 2.0) % 180.0
    spread = math.degrees(math.sqrt(max(-2.0 * math.log(max(r, 1e-12)), 0.0))) / 2.0
    return mean, spread


def summarize_analysis(a: PatchAnalysis) -> dict[str, Any]:
    """Return a photo's summary over its judgeable patches: counts, shares of sharp / motion /
    defocus (by most likely kind), dominant motion direction (deg), its circular spread (deg) and
    the median motion length (px); NaN when nothing applies."""
    ev = a.evidence
    kind = a.kind[ev]
    n = int(ev.sum())
    out: dict[str, Any] = {"judgeable": n, "patches": int(ev.size)}
    for k, name in enumerate(("sharp", "motion", "defocus")):
        out[f"share_{name}"] = float((kind == k).mean()) if n else math.nan
    moving = ev & np.isfinite(a.angle_deg)
    if moving.any():
        mean, spread = _circular_axis(a.angle_deg[moving], a.p_motion[moving])
        out.update(
            direction_deg=round(mean, 2),
            direction_spread_deg=round(spread, 2),
            length_px=round(float(np.median(a.length_px[moving])), 2),
        )
    else:
        out.update(direction_deg=math.nan, direction_spread_deg=math.nan, length_px=math.nan)
    return out
