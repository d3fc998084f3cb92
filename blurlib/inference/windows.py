"""Classifying windows of a photo: patch probabilities on the grid, dense window
probabilities by a fully-convolutional pass (converted once per model and cached), tiling
for photos of any size.

Geometry. A window is a 30×30 square of the photo; window ``(i, j)`` at stride ``s`` has its
top-left corner at ``(i*s, j*s)``, so a photo of ``H×W`` has ``(H - 30)//s + 1`` rows and
``(W - 30)//s + 1`` columns of windows (the bottom/right remainder that does not fill a
window is not classified, as in the patch grid).

Exactness. :func:`window_probabilities` runs the classifier's fully-convolutional form
(:func:`blurlib.nets.fully_conv.to_fully_convolutional`) over the photo. That network
evaluates every window whose corner lies on the *native stride* ``S`` grid (the product of
the pool strides: 4 for the report and compact nets) exactly — the same arithmetic as
cropping, up to float rounding (~1e-7 measured; the tests allow 1e-4).
Every integer stride ``s`` is exact:

* ``s`` a multiple of ``S``: one pass, output subsampled by ``s // S``;
* any other ``s``: with ``g = gcd(s, S)`` the needed corners all lie on the ``g`` grid, so
  the network runs on the ``(S // g)²`` shifted copies ``image[dy:, dx:]`` for
  ``dy, dx in range(0, S, g)``; their outputs interleave into the stride-``g`` grid, which
  is subsampled by ``s // g``. Strides 1, 2, 3, 6 … therefore cost ``(S // g)²`` passes.

Sparse windows (a stride near the window size, e.g. 30, the patch grid) would waste most of
those passes: when cropping and classifying each window takes fewer FLOPs
(:func:`cropping_pays`), the windows are classified one by one (:func:`classify_crops`) —
the same windows and arithmetic, ~9× less work for the 30-px grid of a 1280-px photo.

Tiling. Large photos run in tiles of about ``tile`` pixels a side; neighbouring tiles
overlap by ``30 - S`` pixels and start on the ``S`` grid, so each window is computed by
exactly one tile, with exactly the pixels the untiled pass would use (results equal the
untiled call up to float rounding, ≤ 1e-5: a compiled convolution may sum in another order
for another tile shape). All tiles of a photo have one shape (the last ones are
zero-padded; padded windows are discarded), so a jit-compiling backend compiles once.
Memory is bounded by the tile, not the photo.

Input contract. Every public inference function reads its image through :func:`as_image`,
which accepts exactly:

* a path, the bytes of an image file, or a binary file object: decoded by
  :func:`blurlib.data.images.load_image` (RGB uint8);
* a ``uint8`` array, values 0–255;
* a float array (float16/32/64) on the same 0–255 scale: finite, every value in [0, 255].
  A float image whose values all lie in (0, 1] is refused ("looks like 0–1 floats;
  multiply by 255"): the model reads 0–255 and would call such a nearly black image
  blurred everywhere. (An all-zero image means black on either scale and is accepted.)

Shapes: H×W×3 RGB; H×W or H×W×1 gray (replicated into three channels); H×W×4 RGBA,
composited onto white exactly as an RGBA file is
(:func:`blurlib.data.images.composite_on_white`). Both sides at least one window (30 px).
Anything else raises :class:`blurlib.errors.ImageError` (a ``ValueError``) that says what to
do: NaN or infinite values, floats outside 0–255, ``bool`` masks, ``uint16`` and other
integer dtypes (convert to uint8 first, e.g. ``(a >> 8).astype(np.uint8)`` for 16 bits),
other shapes, images smaller than a window.

The window probabilities become per-pixel maps in :mod:`blurlib.inference.maps` and
per-photo summaries in :mod:`blurlib.inference.photos`.
"""

from __future__ import annotations

import logging
import math
import os
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.errors import ImageError

if TYPE_CHECKING:  # pragma: no cover
    import keras

DEFAULT_STRIDE = 4
DEFAULT_TILE = 1024  # pixels per tile side (input); ~1 GB of activations for the report net
DEFAULT_BATCH = 512  # patches per call in patch_probabilities
JIT_MIN_FLOPS_PER_WINDOW = 4e6  # XLA on TensorFlow for nets at least this heavy per window


# --------------------------------------------------------------------------------------------
# the converted network, cached per model
# --------------------------------------------------------------------------------------------


_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def weights_fingerprint(model: keras.Model) -> tuple:
    """A cheap signature of the model's current weights (detects training after conversion)."""
    sig = []
    for w in model.get_weights():
        a = np.asarray(w).ravel()
        sig.append((a.shape[0], float(a[:: max(1, a.size // 4096)].sum(dtype=np.float64))))
    return tuple(sig)


def cached_by_weights(cache: Any, model: keras.Model, make: Any) -> Any:
    """Return ``make(model)``, kept in ``cache`` (a WeakKeyDictionary keyed by the model) and
    made again when the model's weights change (:func:`weights_fingerprint`)."""
    sig = weights_fingerprint(model)
    hit = cache.get(model)
    if hit is not None and hit[0] == sig:
        return hit[1]
    made = make(model)
    cache[model] = (sig, made)
    return made


def fully_convolutional(model: keras.Model) -> tuple[Any, int, int]:
    """Return ``(fcn, native_stride, patch)`` for ``model``, converting once and caching
    (reconverted when the model's weights change)."""
    from blurlib.nets.fully_conv import native_stride, to_fully_convolutional

    def convert(m: keras.Model) -> tuple[Any, int, int]:
        fcn = to_fully_convolutional(m)
        patch = int(m.inputs[0].shape[1])
        stride = native_stride(m)
        fcn.compile(jit_compile=_jit_choice(fcn, stride, patch))
        return fcn, stride, patch

    return cached_by_weights(_CACHE, model, convert)


def _jit_choice(fcn: Any, stride: int, patch: int) -> bool | str:
    """XLA for the converted network? JAX always compiles; on TensorFlow, Keras' "auto"
    leaves XLA off on CPU, but for heavy nets (≥ 4 MFLOP per window, e.g. the report net's
    dense layer run as a 4×4 convolution) XLA's CPU convolutions measured 1.4–2× faster,
    which repays its compile time (~1 s per tile shape); light nets (compact) are faster
    without it."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        return True
    if backend != "tensorflow":
        return "auto"
    from blurlib.nets.flops import count_flops

    side = patch + 7 * stride
    per_window = count_flops(fcn, (side, side)) / 64
    return True if per_window >= JIT_MIN_FLOPS_PER_WINDOW else "auto"


def clear_cache() -> None:
    """Forget every converted network."""
    _CACHE.clear()


class _NoRetraceWarning(logging.Filter):
    """Drop TensorFlow's "triggered tf.function retracing" notes: photos of different sizes
    are different shapes by nature (the predict function is traced with relaxed shapes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_NoRetraceWarning())


def _forward(net: Any, x: np.ndarray) -> np.ndarray:
    """Run ``net`` on one float32 batch in inference mode through Keras' compiled predict
    step (tf.function / jax.jit); return P(blurred) along the last axis as float32."""
    from blurlib.nets.builders import blur_probability

    return blur_probability(net.predict_on_batch(x))


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def as_image(image: Any, patch: int = PATCH) -> np.ndarray:
    """Return ``image`` checked against the input contract (see the module docstring) as an
    H×W×3 array, uint8 or float on the 0–255 scale (not copied when possible); raises
    ImageError for anything else."""
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)) or (
        not isinstance(image, np.ndarray) and hasattr(image, "read")
    ):
        from blurlib.data.images import load_image

        image = load_image(image)
    arr = np.asarray(image)
    dtype = arr.dtype
    if dtype == np.bool_:
        raise ImageError(
            "got a bool array, which is a mask, not an image — pass uint8 0–255 "
            "(e.g. mask.astype(np.uint8) * 255)"
        )
    if dtype == np.uint16:
        raise ImageError(
            "got a uint16 array (16-bit samples, 0–65535); images are uint8 0–255 — "
            "convert to uint8 first, e.g. (a >> 8).astype(np.uint8)"
        )
    if dtype.kind in "iu" and dtype != np.uint8:
        raise ImageError(
            f"got a {dtype} array; images are uint8 0–255 or float 0–255 — convert to uint8 "
            "first, e.g. np.clip(a, 0, 255).astype(np.uint8) if its values are 0–255"
        )
    if dtype != np.uint8 and dtype.kind != "f":
        raise ImageError(f"got a {dtype} array; images are uint8 0–255 or float 0–255")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise ImageError(
            f"expected an H×W×3 RGB image (or H×W gray, H×W×4 RGBA), got an array of shape "
            f"{arr.shape}"
        )
    if arr.shape[0] < patch or arr.shape[1] < patch:
        raise ImageError(
            f"image of {arr.shape[0]}×{arr.shape[1]} px is smaller than one {patch}×{patch} "
            "window; use a larger image"
        )
    if dtype.kind == "f":
        if dtype.itemsize < 4:  # float16: compute in float32
            arr = arr.astype(np.float32)
        lo, hi = float(arr.min()), float(arr.max())  # NaN anywhere makes both NaN
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ImageError(
                "the image holds NaN or infinite values — fix or mask them before predicting "
                "(e.g. np.nan_to_num(a, nan=0.0))"
            )
        if lo < 0.0 or hi > 255.0:
            raise ImageError(
                f"float image values run from {lo:g} to {hi:g}; float images must lie in "
                "0–255 — rescale or clip it (np.clip(a, 0, 255))"
            )
        if 0.0 < hi <= 1.0:
            raise ImageError(
                f"float image values all lie in 0–{hi:g}: it looks like 0–1 floats, but "
                "images are read on the 0–255 scale; multiply by 255 (or pass uint8)"
            )
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        from blurlib.data.images import composite_on_white

        arr = composite_on_white(arr)  # as an RGBA file is read
    return arr


def _model_patch(model: keras.Model) -> int:
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[1] is None:
        raise ValueError(f"model {model.name!r} does not take square patches (input {shape})")
    return int(shape[1])


def window_grid_shape(height: int, width: int, stride: int, patch: int = PATCH) -> tuple[int, int]:
    """Return ``(rows, cols)``: how many windows fit at ``stride`` (0 if the photo is smaller)."""
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    rows = (height - patch) // stride + 1 if height >= patch else 0
    cols = (width - patch) // stride + 1 if width >= patch else 0
    return rows, cols


# --------------------------------------------------------------------------------------------
# patch grid
# --------------------------------------------------------------------------------------------


def patch_probabilities(
    model: keras.Model,
    image: Any,
    patch: int = PATCH,
    batch_size: int = DEFAULT_BATCH,
) -> np.ndarray:
    """Return ``(H // patch, W // patch)`` float32 P(blurred) of each patch of the grid
    (top-left aligned; the bottom/right remainder is cropped): the patches are classified
    directly, in batches, by the cached converted network (on a 30×30 input it is the
    classifier, with batch norm folded and the same compiled predict step)."""
    if _model_patch(model) != patch:
        raise ValueError(f"model takes {_model_patch(model)}-pixel patches, not {patch}")
    fcn, _, _ = fully_convolutional(model)  # on a 30×30 input it *is* the classifier
    return classify_crops(fcn, as_image(image, patch), patch, patch, batch_size)


def crop_batches(
    image: np.ndarray,
    side: int,
    stride: int,
    rows: int,
    cols: int,
    batch_size: int = DEFAULT_BATCH,
    *,
    corners: tuple[np.ndarray, np.ndarray] | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, batch)``: windows ``start:stop`` (row-major over the ``rows`` ×
    ``cols`` grid) of the ``side``-pixel windows of ``image`` with top-left corners
    ``(i*stride, j*stride)`` — or, given ``corners`` = (ys, xs), the windows at those corners,
    in their order — as one float32 batch of one shape (a power of two up to ``batch_size``,
    zero-padded after ``stop - start``; the buffer is reused)."""
    view = np.lib.stride_tricks.sliding_window_view(image, (side, side), axis=(0, 1))
    if corners is None:
        view = view[::stride, ::stride][:rows, :cols]  # (rows, cols, C, side, side), no copy
        n = rows * cols
    else:
        n = len(corners[0])
    bs = max(1, min(batch_size, 1 << max(0, (n - 1).bit_length())))
    buf = np.zeros((bs, side, side, image.shape[2]), np.float32)
    for start in range(0, n, bs):
        stop = min(start + bs, n)
        if corners is None:
            ii, jj = np.divmod(np.arange(start, stop), cols)
        else:
            ii, jj = corners[0][start:stop], corners[1][start:stop]
        buf[: stop - start] = view[ii, jj].transpose(0, 2, 3, 1)
        if stop - start < bs:
            buf[stop - start :] = 0
        yield start, stop, buf


def classify_crops(
    net: Any, image: np.ndarray, stride: int, patch: int = PATCH, batch_size: int = DEFAULT_BATCH
) -> np.ndarray:
    """Return ``(rows, cols)`` float32 P(blurred) of the windows at ``stride`` of a checked
    image (:func:`as_image`), each cropped and classified by ``net`` (a classifier, or a
    fully-convolutional network, which on one window is the classifier), in batches of one
    shape (a power of two up to ``batch_size``: few traces)."""
    h, w = image.shape[:2]
    rows, cols = window_grid_shape(h, w, stride, patch)
    out = np.empty(rows * cols, np.float32)
    for start, stop, buf in crop_batches(image, patch, stride, rows, cols, batch_size):
        out[start:stop] = _forward(net, buf)[: stop - start].reshape(-1)
    return out.reshape(rows, cols)


_COSTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def window_costs(fcn: Any, native: int, patch: int = PATCH) -> tuple[float, float]:
    """Return ``(FLOPs of one cropped window, FLOPs per native-grid window of a whole-photo
    pass)`` of the dense network ``fcn`` (cached per network)."""
    from blurlib.nets.flops import count_flops

    costs = _COSTS.get(fcn)
    if costs is None:
        side = patch + 63 * native
        costs = (count_flops(fcn, (patch, patch)), count_flops(fcn, (side, side)) / 64**2)
        _COSTS[fcn] = costs
    return costs


def cropping_pays(fcn: Any, native: int, patch: int, height: int, width: int, stride: int) -> bool:
    """Whether classifying the windows at ``stride`` one by one (:func:`classify_crops`)
    takes fewer FLOPs than the fully-convolutional passes: sparse windows (a stride near the
    window size, e.g. the 30-px grid) cost the network far less cropped than the
    ``(native // gcd(stride, native))²`` whole-photo passes they would otherwise need."""
    per_crop, per_native = window_costs(fcn, native, patch)
    passes = (native // math.gcd(stride, native)) ** 2
    rows, cols = window_grid_shape(height, width, stride, patch)
    n_rows, n_cols = window_grid_shape(height, width, native, patch)
    return rows * cols * per_crop < passes * n_rows * n_cols * per_native


# --------------------------------------------------------------------------------------------
# dense windows
# --------------------------------------------------------------------------------------------


def _bucket(n: int, step: int = 4) -> int:
    return -(-n // step) * step


def _per_tile(tile: int | None, s: int, rows: int, cols: int, patch: int = PATCH) -> int:
    """Windows per tile side at the native stride ``s`` (``tile`` px; None: the whole grid)."""
    return max(1, (tile - patch) // s + 1 if tile else max(rows, cols))


def window_probabilities(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
) -> np.ndarray:
    """Return ``(rows, cols)`` float32: entry ``(i, j)`` is P(blurred) of the 30×30 window with
    top-left corner ``(i*stride, j*stride)``, from fully-convolutional passes (exact for every
    integer stride, see the module docstring); ``tile`` = pixels per tile side (None: one tile)."""
    stride = int(stride)
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    if tile is not None and tile < PATCH:
        raise ValueError(f"tile must be at least {PATCH} pixels, got {tile}")
    fcn, s, patch = fully_convolutional(model)
    image = as_image(image, patch)
    h, w = image.shape[:2]
    if cropping_pays(fcn, s, patch, h, w, stride):  # sparse windows: cheaper one by one
        return classify_crops(fcn, image, stride, patch)
    # corners on the g grid: (s // g)² shifted passes, each on the native s grid
    g = math.gcd(stride, s)
    m = s // g
    offsets = [
        (dy, dx)
        for dy in range(0, s, g)
        for dx in range(0, s, g)
        if h - dy >= patch and w - dx >= patch
    ]
    dense = np.empty(window_grid_shape(h, w, g, patch), np.float32)

    # one input shape for every tile of every pass: full tiles, or (a photo that fits in one
    # tile) its own size padded to a multiple of 4 windows — few shapes for jit backends
    rows, cols = window_grid_shape(h, w, s, patch)
    per = _per_tile(tile, s, rows, cols, patch)
    tr = _bucket(rows) if rows <= per else per
    tc = _bucket(cols) if cols <= per else per
    in_h, in_w = s * (tr - 1) + patch, s * (tc - 1) + patch
    jobs = []
    for dy, dx in offsets:
        r_n, c_n = window_grid_shape(h - dy, w - dx, s, patch)
        jobs += [(dy, dx, r0, c0) for r0 in range(0, r_n, tr) for c0 in range(0, c_n, tc)]
    # small tiles (shifted passes over a small photo) go together in one batch, keeping the
    # batch within one full tile's memory
    batch = len(jobs) if not tile else max(1, min(len(jobs), (tile * tile) // (in_h * in_w)))
    buf = np.zeros((batch, in_h, in_w, 3), np.float32)
    for start in range(0, len(jobs), batch):
        chunk = jobs[start : start + batch]
        for b, (dy, dx, r0, c0) in enumerate(chunk):
            y0, x0 = dy + r0 * s, dx + c0 * s
            piece = image[y0 : y0 + in_h, x0 : x0 + in_w]
            ph, pw = piece.shape[:2]
            buf[b, :ph, :pw] = piece
            if ph < in_h:
                buf[b, ph:] = 0
            if pw < in_w:
                buf[b, :ph, pw:] = 0
        res = _forward(fcn, buf[: len(chunk)])
        for b, (dy, dx, r0, c0) in enumerate(chunk):
            r_n, c_n = window_grid_shape(h - dy, w - dx, s, patch)
            nr, nc = min(tr, r_n - r0), min(tc, c_n - c0)
            if res.shape[1] < nr or res.shape[2] < nc:  # pragma: no cover - a conversion bug
                raise RuntimeError(f"network gave {res.shape[1:3]} windows, expected {nr, nc}")
            i0, j0 = dy // g + m * r0, dx // g + m * c0
            dense[i0 : i0 + m * nr : m, j0 : j0 + m * nc : m] = res[b, :nr, :nc]
    k = stride // g
    return dense if k == 1 else np.ascontiguousarray(dense[::k, ::k])


def one_tile_input(
    image: np.ndarray, s: int, tile: int | None, patch: int = PATCH
) -> np.ndarray | None:
    """Return the one input :func:`window_probabilities` gives a photo that fits in one
    ``tile``: ``(1, H, W, 3)`` float32, the photo at the top left, its window grid at the
    native stride ``s`` padded to a multiple of 4 windows with zeros; None when the photo
    takes more than one tile. Twins of the network in other arithmetic (bfloat16, int8) run
    this one pass, so their windows are float32's windows."""
    rows, cols = window_grid_shape(image.shape[0], image.shape[1], s, patch)
    per = _per_tile(tile, s, rows, cols, patch)
    if rows > per or cols > per:
        return None
    in_h, in_w = s * (_bucket(rows) - 1) + patch, s * (_bucket(cols) - 1) + patch
    buf = np.zeros((1, in_h, in_w, 3), np.float32)
    piece = image[:in_h, :in_w]
    buf[0, : piece.shape[0], : piece.shape[1]] = piece
    return buf


def native_windows(fcn: Any, image: np.ndarray, s: int, tile: int | None) -> np.ndarray:
    """Return ``(rows, cols, C)`` float32: the dense network ``fcn``'s outputs for the windows
    at its native stride ``s`` (top-left corners on the s grid), tile by tile (tiles overlap by
    the window minus s px and start on the s grid: each window computed once, exactly)."""
    h, w = image.shape[:2]
    rows, cols = window_grid_shape(h, w, s, PATCH)
    per = _per_tile(tile, s, rows, cols)
    out = None
    for r0 in range(0, rows, per):
        for c0 in range(0, cols, per):
            nr, nc = min(per, rows - r0), min(per, cols - c0)
            y0, x0 = r0 * s, c0 * s
            piece = image[y0 : y0 + s * (nr - 1) + PATCH, x0 : x0 + s * (nc - 1) + PATCH]
            res = np.asarray(fcn.predict_on_batch(piece[None].astype(np.float32)))[0]
            if out is None:
                out = np.empty((rows, cols, res.shape[-1]), np.float32)
            out[r0 : r0 + nr, c0 : c0 + nc] = res[:nr, :nc]
    return out


def windows_by_cropping(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    batch_size: int = DEFAULT_BATCH,
) -> np.ndarray:
    """Return the same ``(rows, cols)`` as :func:`window_probabilities` by cropping every
    window and classifying it (slow reference for tests and benchmarks)."""
    patch = _model_patch(model)
    return classify_crops(model, as_image(image, patch), stride, patch, batch_size)
