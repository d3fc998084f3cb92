"""The patch grid: an image as a (rows, cols, P, P, C) stack of P×P patches, and back.

Patch ``(i, j)`` covers rows ``i*P:(i+1)*P`` and columns ``j*P:(j+1)*P``. An image whose
sides are not multiples of ``P`` is cropped from the top-left corner: the bottom rows and
right columns that do not fill a whole patch are dropped (``crop_to_grid``). No Python
loop runs over patches: the grid is a reshape and a transpose of the cropped array.
"""

from __future__ import annotations

import cv2
import numpy as np

from blurlib import PATCH
from blurlib.errors import ImageError


def grid_shape(height: int, width: int, patch: int = PATCH) -> tuple[int, int]:
    """Return ``(rows, cols)``: how many whole patches fit down and across."""
    if patch < 1:
        raise ValueError(f"patch must be a positive integer, got {patch}")
    return int(height) // patch, int(width) // patch


def crop_to_grid(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return the top-left part of ``image`` whose sides are multiples of ``patch``."""
    rows, cols = grid_shape(image.shape[0], image.shape[1], patch)
    if rows == 0 or cols == 0:
        raise ImageError(
            f"image of {image.shape[0]}×{image.shape[1]} px is smaller than one "
            f"{patch}×{patch} patch; use a larger image"
        )
    return image[: rows * patch, : cols * patch]


def to_patches(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return the ``(rows, cols, P, P, C)`` patch grid of an ``H×W[×C]`` image (a copy).

    A 2-D image gets ``C = 1``. The remainder beyond the last whole patch is cropped.
    """
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"expected an H×W or H×W×C image, got shape {image.shape}")
    cropped = crop_to_grid(image, patch)
    rows, cols = cropped.shape[0] // patch, cropped.shape[1] // patch
    channels = cropped.shape[2]
    grid = cropped.reshape(rows, patch, cols, patch, channels).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid)


def from_patches(grid: np.ndarray) -> np.ndarray:
    """Return the ``(rows*P, cols*Q, C)`` image assembled from a ``(rows, cols, P, Q, C)`` grid."""
    if grid.ndim != 5:
        raise ValueError(f"expected a (rows, cols, P, P, C) grid, got shape {grid.shape}")
    rows, cols, ph, pw, channels = grid.shape
    image = grid.transpose(0, 2, 1, 3, 4).reshape(rows * ph, cols * pw, channels)
    return np.ascontiguousarray(image)


def upsample_labels(labels: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return a per-pixel mask ``(rows*P, cols*P)`` repeating each grid entry over its patch."""
    return np.repeat(np.repeat(np.asarray(labels), patch, axis=0), patch, axis=1)


# --------------------------------------------------------------------------------------------
# Texture: where can blur show at all? (one home: used by training, evaluation and prediction)
# --------------------------------------------------------------------------------------------


def gray_image(image: np.ndarray, patch: int) -> np.ndarray:
    """Return float32 gray (0–255, ITU-R 601 weights, no rounding) of an RGB or gray image."""
    return _gray(_image_array(image, patch))


def _gray(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32, copy=False)
    return cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) if a.ndim == 3 else a


def _image_array(image: np.ndarray, patch: int) -> np.ndarray:
    """``image`` as an H×W×3 or H×W array of at least one patch; ImageError otherwise."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ImageError(
            f"expected an RGB H×W×3 or gray H×W image, got an array of shape {a.shape}"
        )
    if a.shape[0] < patch or a.shape[1] < patch:
        raise ImageError(
            f"image is {a.shape[1]}×{a.shape[0]} px, smaller than one {patch}×{patch} patch; "
            "use a larger image"
        )
    return a


def patch_stack(gray: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """(H, W) -> (rows, cols, P, P) view of the full patches (bottom/right remainder cropped)."""
    rows, cols = gray.shape[0] // patch, gray.shape[1] // patch
    cropped = gray[: rows * patch, : cols * patch]
    return cropped.reshape(rows, patch, cols, patch).swapaxes(1, 2)


TEXTURE_SIGMA = 2.0  # px: the Gaussian whose residual is the "detail" of patch_texture
TEXTURE_THRESHOLD = 5.0  # gray levels of RMS detail; see textured_mask for the calibration
CONTENT_THRESHOLD = 5.0  # gray levels of plain gray std; see content_mask
EVIDENCE_THRESHOLD = 2.0  # gray levels of RMS detail in the OBSERVED patch; see evidence_mask
#: rows around a band of :func:`detail_rows`: twice the radius of OpenCV's float Gaussian
#: kernel for TEXTURE_SIGMA (its size is 2·round(4σ) + 1, so the radius is round(4σ) = 8)
TEXTURE_MARGIN = 2 * round(4 * TEXTURE_SIGMA)
_BAND_PIXELS = 1 << 20  # pixels per band of patch_texture (~12 MB of float copies)


def patch_texture(sharp_image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return (rows, cols) float32 RMS detail (gray levels) of each patch of the SHARP image.

    Detail = ``gray - GaussianBlur(gray, sigma=2)`` over the whole image (gray in 0–255), then
    the root-mean-square of that residual inside each patch. It is, in gray levels, how much a
    small isotropic blur (sigma 2 px — about the spread of the shortest, 7 px, motion blur of the
    protocols) changes the patch: the very thing a blur detector can see. It ignores flat
    colour and smooth shading (sky, walls, an out-of-focus background: a blur leaves a linear
    ramp unchanged), unlike the patch's plain gray standard deviation. The filter runs on the
    whole image, so an edge within ~4 px outside a patch adds a little detail to it — on
    purpose: a motion blur smears that edge into the patch.

    Measures tried and dropped: the standard deviation of the plain 3×3 Laplacian reacts to
    pixel noise (the astronaut's plain grey wall scores 5.5–7, above the cat's out-of-focus
    background at 2–4 and some of its fur), and the mean Sobel gradient magnitude (per pixel)
    reacts to gentle shading (parts of that background score 4–4.5, like fur). This residual
    puts the wall and that background at 0.6–2.4.
    """
    a = _image_array(sharp_image, patch)
    h, w = a.shape[:2]
    rows, cols = h // patch, w // patch
    out = np.empty((rows, cols), np.float32)
    band = max(1, _BAND_PIXELS // max(1, w * patch))  # patch rows per band
    for r0 in range(0, rows, band):
        r1 = min(rows, r0 + band)
        stack = patch_stack(detail_rows(a, r0 * patch, r1 * patch), patch)
        out[r0:r1] = np.sqrt(np.mean(np.square(stack, dtype=np.float64), axis=(-2, -1)))
    return out


def detail_rows(image: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """Return rows ``y0:y1`` of :func:`patch_texture`'s detail (float32 ``gray −
    GaussianBlur(gray, σ = 2)`` of the whole photo), computed from those rows and
    :data:`TEXTURE_MARGIN` rows around them: equal bit for bit to filtering the whole photo
    (tested), with float copies of the band only — a camera photo filtered whole costs 12
    bytes per pixel, and on fresh memory pages that is most of its time."""
    a = _image_array(image, 1)
    if not 0 <= y0 < y1 <= a.shape[0]:
        raise ValueError(f"rows {y0}:{y1} are not a non-empty range of a {a.shape[0]}-row image")
    t0, t1 = max(0, y0 - TEXTURE_MARGIN), min(a.shape[0], y1 + TEXTURE_MARGIN)
    gray = _gray(a[t0:t1])
    blur = cv2.GaussianBlur(gray, (0, 0), TEXTURE_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    return (gray - blur)[y0 - t0 : y1 - t0]


def textured_mask(
    sharp_image: np.ndarray, patch: int = PATCH, threshold: float = TEXTURE_THRESHOLD
) -> np.ndarray:
    """Return a (rows, cols) bool mask: True where the sharp patch has detail >= threshold.

    :data:`TEXTURE_THRESHOLD` = 5 gray levels of :func:`patch_texture`, calibrated on
    skimage.data's astronaut, chelsea, coffee and rocket only (training-safe bundled photos):
    it marks flat 26 %, 43 %, 30 % and 60 % of their 30×30 patches (39.5 % pooled, in line with
    the ~40 % of nearly flat patches in ordinary photos) — the astronaut's grey wall and black
    helmet, the cat's out-of-focus background, the cup's white inside, the rocket's sky. On
    those photos a 7 px straight blur, in the least visible of 4 directions, changes patches
    with detail 5–6 by a median 3.6 gray levels RMS, but patches below 2 by 0.6 (the size of
    JPEG and sensor noise): above the threshold, blur is visible whatever its direction.
    Thresholds 4 and 6 would mark 34.5 % and 44 % flat.
    """
    return patch_texture(sharp_image, patch) >= threshold


def patch_contrast(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return (rows, cols) float32 standard deviation of gray (0–255) inside each patch."""
    stack = patch_stack(gray_image(image, patch), patch)
    return stack.std(axis=(-2, -1), dtype=np.float64).astype(np.float32)


def content_mask(
    image: np.ndarray, patch: int = PATCH, threshold: float = CONTENT_THRESHOLD
) -> np.ndarray:
    """Return a (rows, cols) bool mask of patches with content: gray std >= threshold (5 levels).

    For photos without a sharp source (real motion-blurred photos), where :func:`textured_mask`
    cannot be used: blur removes the detail that measure looks for, but keeps most of a patch's
    contrast. 5 gray levels sits above a plain background's sensor noise and vignetting
    (skimage's ``clock``: its wall is 1–4.3, the clock 5.7–42) and above the sky of ``rocket``
    (1.1–2), so "content" means an object, not noise.
    """
    return patch_contrast(image, patch) >= threshold


def evidence_mask(
    image: np.ndarray, patch: int = PATCH, threshold: float = EVIDENCE_THRESHOLD
) -> np.ndarray:
    """Return a (rows, cols) bool mask of JUDGEABLE patches, measured on the photo as observed.

    The one definition of "evidence" that training, evaluation and ``predict`` share, because
    at inference the sharp source is unknown: the :func:`patch_texture` detail of the patch
    itself is at least ``threshold`` (:data:`EVIDENCE_THRESHOLD`, 2 gray levels RMS). Below
    that a patch is smooth shading, flat sky or a featureless out-of-focus background: it
    looks the same with or without motion blur, so it is "no evidence", never "blurred".
    Motion blur keeps detail across the motion (streaks): on the bundled photos a 9 px
    straight blur leaves 84–100 % of the textured patches above 2, a 25 px blur 48–100 %.
    """
    return patch_texture(image, patch) >= threshold


def patch_orientation(image: np.ndarray, patch: int = PATCH) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(angle, coherence)``, each (rows, cols) float32: the direction each grid patch's
    lines run, in degrees in [0, 180) (the kernels' convention: 0 = along the image x axis,
    counter-clockwise as seen on screen), and how one-directional it is (0 = no dominant
    direction … 1 = parallel lines only), from the patch's structure tensor (sums of Sobel
    gradient products over the patch).

    A motion blur along a patch's lines leaves it nearly unchanged, and one across them looks
    like softness (for parallel lines every blur acts only across them), so the blur kind of a
    strongly one-directional patch is ambiguous: :mod:`blurlib.evaluation.kinds` reports the
    kinds called by this angle and coherence.
    """
    gray = gray_image(image, patch)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101)

    def total(a: np.ndarray) -> np.ndarray:
        return patch_stack(a, patch).sum(axis=(-2, -1), dtype=np.float64)

    jxx, jyy, jxy = total(gx * gx), total(gy * gy), total(gx * gy)
    # gradient direction in image coordinates (rows down); on screen (y up) it is mirrored,
    # and the lines run at right angles to it
    gradient = 0.5 * np.degrees(np.arctan2(2.0 * jxy, jxx - jyy))
    angle = np.mod(90.0 - gradient, 180.0)
    trace = jxx + jyy
    spread = np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy**2)
    coherence = np.divide(spread, trace, out=np.zeros_like(trace), where=trace > 0)
    return angle.astype(np.float32), np.clip(coherence, 0.0, 1.0).astype(np.float32)
