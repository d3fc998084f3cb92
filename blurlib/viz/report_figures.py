"""The report's figures: the blur process, the patch grid, the labelled image, kernel galleries.

Every function returns a fixed-size matplotlib ``Figure`` and saves nothing; save it with
:func:`blurlib.viz.style.save_fig`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from blurlib import PATCH
from blurlib.data.patches import grid_shape
from blurlib.viz.drawing import (
    boundary_segments,
    cell_image,
    check_grid,
    check_image,
    draw_grid,
    halo,
    hex_rgba,
    shade_remainder,
    show_photo,
)
from blurlib.viz.style import (
    BLURRED_COLOR,
    CYCLE,
    FIGSIZE_PAIR,
    FIGSIZE_SQUARE,
    FIGSIZE_TRIPLE,
    KERNEL_CELL,
    MAX_ANNOTATED_GRID,
    SHARP_CELL_COLOR,
    new_figure,
    styled,
)

__all__ = ["plot_blur_process", "plot_kernels", "plot_labelled_image", "plot_patch_grid"]


@styled
def plot_blur_process(
    image: np.ndarray,
    kernel: np.ndarray,
    blurred: np.ndarray,
    title: str | None = "The original-to-blur process",
) -> Figure:
    """Return a figure: original photo | the motion kernel (magnified) | the blurred copy."""
    image = check_image(image)
    blurred = check_image(blurred, "blurred")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D array, got shape {kernel.shape}")
    aspect = image.shape[1] / image.shape[0]
    fig = new_figure(FIGSIZE_TRIPLE)
    axes = fig.subplots(1, 3, width_ratios=[aspect, 0.9, aspect])
    show_photo(axes[0], image, f"Original ({image.shape[1]}×{image.shape[0]} px)")
    _show_kernel(axes[1], kernel, f"Motion kernel {kernel.shape[0]}×{kernel.shape[1]} (magnified)")
    fig.colorbar(axes[1].images[0], ax=axes[1], shrink=0.7, label="weight")
    show_photo(axes[2], blurred, "Blurred copy (kernel applied)")
    if title:
        fig.suptitle(title)
    return fig


def _show_kernel(ax: Any, kernel: np.ndarray, title: str | None, grid_max: int = 31) -> None:
    """Draw a kernel cell by cell (nearest), white on black, with pixel borders when small."""
    kh, kw = kernel.shape
    vmax = float(kernel.max()) if kernel.max() > 0 else 1.0
    ax.imshow(kernel, cmap="gray", vmin=0.0, vmax=vmax, interpolation="nearest")
    if max(kh, kw) <= grid_max:
        ax.set_xticks(np.arange(-0.5, kw, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, kh, 1), minor=True)
        ax.grid(which="minor", color="#555555", linewidth=0.4)
        ax.tick_params(which="minor", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#888888")
    if title:
        ax.set_title(title)


@styled
def plot_patch_grid(
    image: np.ndarray,
    patch: int = PATCH,
    show_patches: int = 4,
    seed: int = 0,
    title: str | None = "The splitting process",
) -> Figure:
    """Return a figure: the photo with its patch×patch grid drawn over it, plus a few patches.

    ``show_patches`` patches (0–9), chosen with ``seed``, are outlined on the photo and shown
    enlarged beside it. The strip beyond the last whole patch (cropped away) is greyed out.
    """
    image = check_image(image)
    rows, cols = grid_shape(image.shape[0], image.shape[1], patch)
    if rows == 0 or cols == 0:
        raise ValueError(f"image of shape {image.shape} is smaller than one {patch}×{patch} patch")
    if not 0 <= show_patches <= 9:
        raise ValueError(f"show_patches must be between 0 and 9, got {show_patches}")
    n_show = min(show_patches, rows * cols)
    if n_show:
        fig = new_figure(FIGSIZE_PAIR)
        left, right = fig.subfigures(1, 2, width_ratios=[1.9, 1.0], wspace=0.02)
        ax = left.subplots()
    else:
        fig = new_figure(FIGSIZE_SQUARE)
        ax = fig.subplots()
    show_photo(ax, image)
    draw_grid(ax, rows, cols, patch)
    cropped = shade_remainder(ax, image, rows, cols, patch)
    caption = f"{rows}×{cols} patches of {patch}×{patch} px"
    ax.set_title(caption + (" (grey: cropped remainder)" if cropped else ""))
    if n_show:
        rng = np.random.default_rng(seed)
        picks = np.sort(rng.choice(rows * cols, size=n_show, replace=False))
        side = math.ceil(math.sqrt(n_show))
        pax = np.atleast_1d(right.subplots(math.ceil(n_show / side), side)).ravel()
        for k, flat in enumerate(picks):
            i, j = divmod(int(flat), cols)
            color = CYCLE[k % len(CYCLE)]
            ax.add_patch(
                Rectangle((j * patch, i * patch), patch, patch, fill=False, edgecolor=color, lw=2.2)
            )
            tile = image[i * patch : (i + 1) * patch, j * patch : (j + 1) * patch]
            pax[k].imshow(tile, cmap="gray" if tile.ndim == 2 else None, interpolation="nearest")
            pax[k].set_xticks([])
            pax[k].set_yticks([])
            for spine in pax[k].spines.values():
                spine.set_visible(True)
                spine.set_color(color)
                spine.set_linewidth(3)
            pax[k].set_title(f"patch ({i}, {j})", fontsize=9)
        for extra in pax[n_show:]:
            extra.set_visible(False)
        right.suptitle("Patches, enlarged", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_labelled_image(
    composite: np.ndarray,
    labels: np.ndarray,
    patch: int = PATCH,
    title: str | None = "The final image with its label matrix",
) -> Figure:
    """Return a figure: the partially blurred image (blurred patches tinted) | its 0/1 matrix."""
    composite = check_image(composite, "composite")
    labels = check_grid(labels, composite, patch, "labels").astype(np.uint8)
    if labels.size and labels.max() > 1:
        raise ValueError(f"labels must be 0 (sharp) or 1 (blurred), found {labels.max()}")
    rows, cols = labels.shape
    fig = new_figure(FIGSIZE_PAIR)
    aspect = composite.shape[1] / composite.shape[0]
    ax_img, ax_mat = fig.subplots(1, 2, width_ratios=[aspect, cols / rows])
    n_blur = int(labels.sum())
    show_photo(ax_img, composite, f"Partially blurred image: {n_blur} of {labels.size} patches")
    tint = np.zeros((rows, cols, 4), dtype=np.float32)
    tint[labels == 1] = hex_rgba(BLURRED_COLOR, 0.2)
    cell_image(ax_img, tint, patch)
    width = 1.6 if max(rows, cols) <= MAX_ANNOTATED_GRID else 0.9
    border = LineCollection(
        boundary_segments(labels == 1, patch), colors=BLURRED_COLOR, linewidths=width, zorder=3
    )
    border.set_path_effects([halo(width)])
    ax_img.add_collection(border)
    shade_remainder(ax_img, composite, rows, cols, patch)
    ax_img.set_xlim(0, composite.shape[1])
    ax_img.set_ylim(composite.shape[0], 0)

    cmap = mcolors.ListedColormap([SHARP_CELL_COLOR, BLURRED_COLOR])
    ax_mat.imshow(labels, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    if max(rows, cols) <= MAX_ANNOTATED_GRID:
        size = 9 if max(rows, cols) <= 12 else 7
        for (i, j), value in np.ndenumerate(labels):
            ax_mat.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                fontsize=size,
                color="white" if value else "#444444",
            )
        ax_mat.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax_mat.set_yticks(np.arange(-0.5, rows, 1), minor=True)
        ax_mat.grid(which="minor", color="white", linewidth=1.0)
        ax_mat.tick_params(which="minor", length=0)
    step = 5 if max(rows, cols) <= 40 else 10 ** int(math.log10(max(rows, cols)) - 1) * 5
    ax_mat.set_xticks(np.arange(0, cols, step))
    ax_mat.set_yticks(np.arange(0, rows, step))
    ax_mat.tick_params(labelsize=8, length=2)
    ax_mat.set_xlabel("column j")
    ax_mat.set_ylabel("row i")
    for spine in ax_mat.spines.values():
        spine.set_visible(False)
    ax_mat.set_title(f"Label matrix ({rows}×{cols})")
    ax_mat.legend(
        handles=[
            Patch(facecolor=SHARP_CELL_COLOR, edgecolor="#999999", label="0 = sharp"),
            Patch(facecolor=BLURRED_COLOR, label="1 = blurred"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        frameon=False,
    )
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_kernels(
    kernels: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    same_scale: bool = True,
    ncols: int = 5,
    title: str | None = "Motion kernels",
) -> Figure:
    """Return a gallery figure of motion kernels (PSFs), each drawn cell by cell.

    With ``same_scale`` every kernel is zero-padded (centred) to the largest size, so their
    lengths compare at a glance; each is scaled to its own peak weight.
    """
    if len(kernels) == 0:
        raise ValueError("kernels is empty: give at least one 2-D kernel")
    arrays = [np.asarray(k, dtype=np.float64) for k in kernels]
    for k, arr in enumerate(arrays):
        if arr.ndim != 2:
            raise ValueError(f"kernel {k} must be a 2-D array, got shape {arr.shape}")
    if titles is not None and len(titles) != len(arrays):
        raise ValueError(f"{len(titles)} titles for {len(arrays)} kernels")
    n = len(arrays)
    nrows = math.ceil(n / max(1, ncols))
    ncols = math.ceil(n / nrows)  # balance the rows: 6 kernels -> 2 × 3, not 5 + 1
    size = (
        max(max(a.shape) for a in arrays),
        max(max(a.shape) for a in arrays),
    )
    fig = new_figure((KERNEL_CELL[0] * ncols, KERNEL_CELL[1] * nrows + (0.4 if title else 0)))
    axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for k, arr in enumerate(arrays):
        shown = arr
        if same_scale:
            pad_h, pad_w = size[0] - arr.shape[0], size[1] - arr.shape[1]
            shown = np.pad(
                arr, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))
            )
        name = titles[k] if titles is not None else f"kernel {k}"
        _show_kernel(axes[k], shown, None, grid_max=21)
        axes[k].set_title(f"{name}\n{arr.shape[0]}×{arr.shape[1]}", fontsize=9)
    for extra in axes[n:]:
        extra.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_photo_row(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    title: str | None = None,
) -> Figure:
    """Return a figure of photos side by side, each with its title (e.g. one photo's
    degradations, or dead-leaves scenes)."""
    if not images or len(images) != len(titles):
        raise ValueError(f"need as many titles as images, got {len(images)} and {len(titles)}")
    images = [check_image(im) for im in images]
    ratios = [im.shape[1] / im.shape[0] for im in images]
    fig = new_figure((FIGSIZE_TRIPLE[0], FIGSIZE_TRIPLE[0] / sum(ratios) + 0.9))
    axes = np.atleast_1d(fig.subplots(1, len(images), width_ratios=ratios))
    for ax, im, t in zip(axes, images, titles, strict=True):
        show_photo(ax, im, t)
    if title:
        fig.suptitle(title)
    return fig
