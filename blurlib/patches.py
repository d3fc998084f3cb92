"""The patch grid: an image as a (rows, cols, P, P, C) stack of P×P patches, and back.

Patch ``(i, j)`` covers rows ``i*P:(i+1)*P`` and columns ``j*P:(j+1)*P``. An image whose
sides are not multiples of ``P`` is cropped from the top-left corner: the bottom rows and
right columns that do not fill a whole patch are dropped (``crop_to_grid``). No Python
loop runs over patches: the grid is a reshape and a transpose of the cropped array.
"""

from __future__ import annotations

import numpy as np

from blurlib.errors import ImageError

PATCH = 30


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
