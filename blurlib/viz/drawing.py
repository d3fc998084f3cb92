"""Drawing helpers shared by the figures: photos in pixel coordinates, patch grids, cell tints.

Photos are drawn in pixel coordinates (``extent = (0, W, H, 0)``), so patch ``(i, j)``
always sits at rows ``i*P:(i+1)*P`` and columns ``j*P:(j+1)*P`` whatever the display size;
photos larger than ``MAX_DISPLAY_SIDE`` are shrunk (area-averaged) for drawing only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib import patheffects
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.patches import Rectangle

from blurlib.data.patches import grid_shape
from blurlib.viz.style import MAX_DISPLAY_SIDE

__all__ = [
    "boundary_segments",
    "cell_image",
    "check_grid",
    "check_image",
    "display_copy",
    "draw_grid",
    "grid_lines",
    "halo",
    "hex_rgba",
    "shade_remainder",
    "show_photo",
    "to_unit_float",
]


def halo(linewidth: float) -> patheffects.AbstractPathEffect:
    """Return a thin dark outline to draw under a coloured line, so it shows on any photo."""
    return patheffects.withStroke(linewidth=linewidth + 1.6, foreground="black", alpha=0.45)


def check_image(image: Any, what: str = "image") -> np.ndarray:
    """Return ``image`` as an H×W×3 (or H×W) array; raise ValueError for other shapes."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"{what} must be an H×W×3 RGB array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {arr.shape})")
    return arr


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as float32 in [0, 1] (uint8/uint16 scaled, floats clipped)."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def display_copy(array: np.ndarray) -> np.ndarray:
    """Return ``array`` shrunk by area-averaging so its longer side is ≤ MAX_DISPLAY_SIDE."""
    h, w = array.shape[:2]
    scale = MAX_DISPLAY_SIDE / max(h, w)
    if scale >= 1.0:
        return array
    import cv2  # only needed for very large photos

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    src = array.astype(np.float32) if array.dtype == np.float64 else array
    return cv2.resize(src, size, interpolation=cv2.INTER_AREA)


def show_photo(ax: Any, image: np.ndarray, title: str | None = None) -> None:
    """Draw a photo in pixel coordinates on ``ax`` with the axis hidden."""
    h, w = image.shape[:2]
    shown = display_copy(image)
    if shown.dtype != np.uint8:
        shown = to_unit_float(shown)
    ax.imshow(
        shown,
        cmap="gray" if shown.ndim == 2 else None,
        vmin=0 if shown.ndim == 2 else None,
        vmax=(255 if shown.dtype == np.uint8 else 1) if shown.ndim == 2 else None,
        extent=(0, w, h, 0),
        interpolation="antialiased",
    )
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def check_grid(array: Any, image: np.ndarray, patch: int, what: str) -> np.ndarray:
    """Return ``array`` as a 2-D array whose shape is the image's patch grid, or raise."""
    arr = np.asarray(array)
    expected = grid_shape(image.shape[0], image.shape[1], patch)
    if arr.shape != expected:
        raise ValueError(
            f"{what} has shape {arr.shape}, but an image of {image.shape[0]}×{image.shape[1]} px "
            f"has a {expected[0]}×{expected[1]} grid of {patch}×{patch} patches"
        )
    return arr


def grid_lines(rows: int, cols: int, patch: int) -> list[list[tuple[int, int]]]:
    """Return line segments drawing every patch border of a rows×cols grid in pixels."""
    height, width = rows * patch, cols * patch
    vertical = [[(j * patch, 0), (j * patch, height)] for j in range(cols + 1)]
    horizontal = [[(0, i * patch), (width, i * patch)] for i in range(rows + 1)]
    return vertical + horizontal


def draw_grid(ax: Any, rows: int, cols: int, patch: int, linewidth: float = 0.6) -> None:
    """Draw the patch grid as thin white lines with a dark halo (visible on any photo)."""
    lines = LineCollection(
        grid_lines(rows, cols, patch), colors="white", linewidths=linewidth, alpha=0.9
    )
    lines.set_path_effects(
        [patheffects.withStroke(linewidth=linewidth + 1.0, foreground="black", alpha=0.35)]
    )
    ax.add_collection(lines)


def shade_remainder(ax: Any, image: np.ndarray, rows: int, cols: int, patch: int) -> bool:
    """Grey out the bottom/right strip that no whole patch covers; return whether any exists."""
    h, w = image.shape[:2]
    boxes = []
    if h > rows * patch:
        boxes.append(Rectangle((0, rows * patch), w, h - rows * patch))
    if w > cols * patch:
        boxes.append(Rectangle((cols * patch, 0), w - cols * patch, rows * patch))
    if boxes:
        ax.add_collection(
            PatchCollection(boxes, facecolor="black", edgecolor="none", alpha=0.5, zorder=3)
        )
    return bool(boxes)


def boundary_segments(mask: np.ndarray, patch: int) -> list[list[tuple[int, int]]]:
    """Return the pixel segments outlining the union of the True cells of ``mask``."""
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    segments: list[list[tuple[int, int]]] = []
    # Horizontal borders: between cell rows r-1 and r (padded indices), for each column.
    rr, cc = np.nonzero(m[1:, 1:-1] != m[:-1, 1:-1])
    segments += [[(c * patch, r * patch), ((c + 1) * patch, r * patch)] for r, c in zip(rr, cc)]
    # Vertical borders: between cell columns c-1 and c, for each row.
    rr, cc = np.nonzero(m[1:-1, 1:] != m[1:-1, :-1])
    segments += [[(c * patch, r * patch), (c * patch, (r + 1) * patch)] for r, c in zip(rr, cc)]
    return segments


def cell_image(ax: Any, rgba: np.ndarray, patch: int, zorder: float = 2) -> None:
    """Draw a (rows, cols, 4) RGBA array so that cell (i, j) covers patch (i, j) of the photo."""
    rows, cols = rgba.shape[:2]
    ax.imshow(
        rgba,
        extent=(0, cols * patch, rows * patch, 0),
        interpolation="nearest",
        zorder=zorder,
    )


def hex_rgba(color: str, alpha: float) -> np.ndarray:
    """Return a colour as an RGBA float array with the given alpha."""
    rgba = np.array(mcolors.to_rgba(color), dtype=np.float32)
    rgba[3] = alpha
    return rgba
