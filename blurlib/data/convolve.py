"""Applying a blur kernel to an image: a true convolution with reflected borders.

:func:`apply_kernel` computes a true convolution (not OpenCV's correlation) with reflected
borders (``cv2.BORDER_REFLECT_101``: ``gfedcb|abcdefgh|gfedcba``), the kernel's centre being
``kernel[h // 2, w // 2]``. Sparse kernels (thin lines) are summed directly, dense ones go
through a full-image DFT; the kernels themselves are made in :mod:`blurlib.data.kernels`.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["BORDER", "apply_kernel"]

#: Border handling of :func:`apply_kernel` (reflection without repeating the edge pixel).
BORDER = cv2.BORDER_REFLECT_101

_DFT_MIN_AREA = 130  # cv2.filter2D uses its (slow, tiled) DFT for kernels this large or larger
_DIRECT_MAX_TAPS = 80  # kernels with more non-zero taps are applied through a full-image DFT


def _bands(flipped: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Split a kernel's non-zero rows into row bands ``(r0, r1, c0, c1)`` of < 130 entries each."""
    bands: list[tuple[int, int, int, int]] = []
    current: list[int] | None = None  # [r0, last row, c0, c1]
    for i, row in enumerate(flipped):
        nz = np.flatnonzero(row)
        if nz.size == 0:
            continue
        if current is not None:
            c0, c1 = min(current[2], nz[0]), max(current[3], nz[-1])
            if (i - current[0] + 1) * (c1 - c0 + 1) < _DFT_MIN_AREA:
                current[1:] = [i, c0, c1]
                continue
            bands.append((current[0], current[1] + 1, current[2], current[3] + 1))
        current = [i, i, int(nz[0]), int(nz[-1])]
    if current is not None:
        bands.append((current[0], current[1] + 1, current[2], current[3] + 1))
    return bands


def _filter_direct(src: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    """Return the correlation of ``src`` (H×W×C) with ``flipped`` (float) by direct summation.

    ``cv2.filter2D`` sums only the non-zero taps, but switches to a slow tiled DFT for kernels
    of 130 entries or more; a large sparse kernel (a thin line) is therefore cropped to its
    non-zero rows and columns, or cut into row bands below that size, each applied to a
    window of the border-padded image.
    """
    work = flipped.dtype
    depth = cv2.CV_64F if work == np.float64 else cv2.CV_32F
    if flipped.size < _DFT_MIN_AREA:
        return cv2.filter2D(src.astype(work), depth, flipped, borderType=BORDER)
    h, w = src.shape[:2]
    kh, kw = flipped.shape
    bands = _bands(flipped)
    r0, r1, c0, c1 = bands[0]
    if len(bands) == 1 and r0 <= kh // 2 < r1 and c0 <= kw // 2 < c1:  # e.g. the report kernel
        band = np.ascontiguousarray(flipped[r0:r1, c0:c1])
        anchor = (kw // 2 - c0, kh // 2 - r0)
        return cv2.filter2D(src.astype(work), depth, band, anchor=anchor, borderType=BORDER)
    padded = cv2.copyMakeBorder(src, kh // 2, kh // 2, kw // 2, kw // 2, BORDER).astype(work)
    out = None
    for r0, r1, c0, c1 in bands:
        window = padded[r0 : r0 + h + r1 - r0 - 1, c0 : c0 + w + c1 - c0 - 1]
        band = np.ascontiguousarray(flipped[r0:r1, c0:c1])
        part = cv2.filter2D(window, depth, band, anchor=(0, 0), borderType=BORDER)[:h, :w]
        if out is None:
            out = part  # a view into a fresh array of ours: accumulate in place
        else:
            out += part
    assert out is not None  # the kernel has a non-zero entry (checked by the caller)
    return out


def _filter_dft(src: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Return the convolution of ``src`` (H×W×C) with ``kernel`` (float): one DFT per channel."""
    h, w, channels = src.shape
    kh, kw = kernel.shape
    rh, rw = kh // 2, kw // 2
    rows = cv2.getOptimalDFTSize(h + kh - 1)
    cols = cv2.getOptimalDFTSize(w + kw - 1)
    # Reflected borders, then any padding up to a fast DFT size; the kernel sits unflipped at
    # the top-left, so the circular product is the convolution, shifted by (rh, rw) once more.
    padded = cv2.copyMakeBorder(src, rh, rows - h - rh, rw, cols - w - rw, BORDER)
    padded = padded.reshape(rows, cols, channels)
    spread = np.zeros((rows, cols), kernel.dtype)
    spread[:kh, :kw] = kernel
    spectrum = cv2.dft(spread, nonzeroRows=kh)
    out = np.empty((h, w, channels), kernel.dtype)
    for c in range(channels):
        plane = np.ascontiguousarray(padded[:, :, c], dtype=kernel.dtype)
        product = cv2.mulSpectrums(cv2.dft(plane), spectrum, 0)
        full = cv2.idft(product, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        out[:, :, c] = full[kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w]
    return out


def apply_kernel(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Return ``image`` convolved with ``kernel``: same shape and dtype as ``image``.

    Works on H×W and H×W×C arrays (every channel alike), uint8, uint16, float32 and float64.
    This is a true convolution: ``cv2.filter2D`` correlates, so the kernel is flipped for it,
    and an asymmetric kernel applied to a single bright pixel reproduces the kernel itself, not
    its mirror image. The kernel's centre is ``kernel[h // 2, w // 2]``. Borders are reflected
    without repeating the edge pixel (``cv2.BORDER_REFLECT_101``: ``gfedcb|abcdefgh|gfedcba``).
    Sums are computed in float32 (float64 for float64 images); integer images are then rounded
    to nearest and clipped to their range, so there is no truncation bias.

    Speed: ``cv2.filter2D`` sums only non-zero taps, so kernels with at most 80 non-zero taps
    (every linear kernel up to ~27 px) are summed directly, cut into row bands of < 130 entries
    when larger (beyond that ``cv2.filter2D`` switches to a tiled DFT that is several times
    slower); denser kernels go through one full-image ``cv2.dft`` per channel. The two routes
    agree to ~1e-5 of the value range.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must be a non-empty H×W or H×W×C array, got shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ValueError(
            f"image dtype must be uint8, uint16, float32 or float64, got {image.dtype}"
        )
    kernel = np.asarray(kernel)
    if kernel.ndim != 2 or kernel.size == 0 or not np.isfinite(kernel).all():
        raise ValueError(f"kernel must be a non-empty finite 2-D array, got shape {kernel.shape}")
    work = np.float64 if image.dtype == np.float64 else np.float32
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:  # keep the centre at index (h // 2, w // 2)
        kernel = np.pad(kernel, ((0, 1 - kh % 2), (0, 1 - kw % 2)))
    kernel = np.ascontiguousarray(kernel, dtype=work)
    src = np.ascontiguousarray(image).reshape(image.shape[0], image.shape[1], -1)

    taps = np.count_nonzero(kernel)
    if taps == 0:
        out = np.zeros(src.shape, work)
    elif taps <= _DIRECT_MAX_TAPS:
        out = _filter_direct(src, np.ascontiguousarray(kernel[::-1, ::-1]))
    else:
        out = _filter_dft(src, kernel)
    if image.dtype == np.uint8 and kernel.min() >= 0:  # out ≥ -1e-6: |out| rounds the same
        out = cv2.convertScaleAbs(out)  # round half to even and saturate, in one pass
    elif image.dtype in (np.uint8, np.uint16):
        info = np.iinfo(image.dtype)
        np.rint(out, out=out)
        np.clip(out, info.min, info.max, out=out)
        out = out.astype(image.dtype)
    return np.ascontiguousarray(out).reshape(image.shape)
