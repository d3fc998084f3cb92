"""Predictions on a photo: P(blurred) per patch with right/wrong outcomes, blur-map overlays.

Every ``plot_*`` function returns a fixed-size matplotlib ``Figure`` and saves nothing;
:func:`overlay_blur_map` returns an image (what ``python -m blurlib predict`` writes).
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from blurlib import PATCH
from blurlib.viz.drawing import (
    cell_image,
    check_grid,
    check_image,
    display_copy,
    draw_grid,
    halo,
    hex_rgba,
    shade_remainder,
    show_photo,
    to_unit_float,
)
from blurlib.viz.style import (
    FIGSIZE_PAIR,
    FIGSIZE_SQUARE,
    OUTCOME_COLORS,
    new_figure,
    styled,
)

__all__ = ["overlay_blur_map", "plot_blur_map", "plot_patch_predictions"]

_OUTCOME_ALPHA = {"TP": 0.35, "TN": 0.0, "FP": 0.45, "FN": 0.45}
_OUTCOME_TEXT = {
    "TP": "TP: blurred, found",
    "TN": "TN: sharp, kept (no tint)",
    "FP": "FP: sharp, called blurred",
    "FN": "FN: blurred, missed",
}


@styled
def plot_patch_predictions(
    image: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray | None = None,
    patch: int = PATCH,
    threshold: float = 0.5,
    cmap: str = "coolwarm",
    title: str | None = None,
) -> Figure:
    """Return a figure of P(blurred) per patch over the photo; with ``labels``, also right/wrong.

    The second panel (only when ``labels`` is given) tints each patch by its outcome at
    ``threshold`` — TP, TN, FP, FN — and outlines the wrong ones.
    """
    image = check_image(image)
    probs = check_grid(probs, image, patch, "probs").astype(np.float32)
    if labels is not None:
        labels = check_grid(labels, image, patch, "labels").astype(np.uint8)
    rows, cols = probs.shape
    if labels is None:
        fig = new_figure(FIGSIZE_SQUARE)
        ax_p = fig.subplots()
        ax_o = None
    else:
        fig = new_figure(FIGSIZE_PAIR)
        ax_p, ax_o = fig.subplots(1, 2)

    show_photo(ax_p, image)
    colormap = matplotlib.colormaps[cmap]
    probs_rgba = colormap(np.clip(np.nan_to_num(probs, nan=0.0), 0.0, 1.0))
    probs_rgba[..., 3] = np.where(np.isnan(probs), 0.0, 0.5)
    cell_image(ax_p, probs_rgba, patch)
    draw_grid(ax_p, rows, cols, patch, linewidth=0.3)
    shade_remainder(ax_p, image, rows, cols, patch)
    called = int((probs >= threshold).sum())
    ax_p.set_title(f"P(blurred) per patch: {called} of {probs.size} ≥ {threshold:g}")
    sm = ScalarMappable(norm=mcolors.Normalize(0, 1), cmap=colormap)
    cbar = fig.colorbar(sm, ax=ax_p, shrink=0.75, label="P(blurred)")
    cbar.ax.axhline(threshold, color="black", linewidth=1.2)

    if ax_o is not None and labels is not None:
        show_photo(ax_o, image)
        predicted = probs >= threshold
        truth = labels == 1
        outcome = {
            "TP": truth & predicted,
            "TN": ~truth & ~predicted,
            "FP": ~truth & predicted,
            "FN": truth & ~predicted,
        }
        rgba = np.zeros((rows, cols, 4), dtype=np.float32)
        for key, mask in outcome.items():
            rgba[mask] = hex_rgba(OUTCOME_COLORS[key], _OUTCOME_ALPHA[key])
        cell_image(ax_o, rgba, patch)
        for key in ("FP", "FN"):
            ii, jj = np.nonzero(outcome[key])
            boxes = [
                Rectangle((j * patch + 1.5, i * patch + 1.5), patch - 3, patch - 3)
                for i, j in zip(ii, jj)
            ]
            if boxes:
                outlines = PatchCollection(
                    boxes, facecolor="none", edgecolor=OUTCOME_COLORS[key], linewidths=2, zorder=4
                )
                outlines.set_path_effects([halo(2)])
                ax_o.add_collection(outlines)
        shade_remainder(ax_o, image, rows, cols, patch)
        n_right = int(outcome["TP"].sum() + outcome["TN"].sum())
        ax_o.set_title(
            f"Right/wrong at {threshold:g}: {n_right} of {probs.size} right "
            f"({100.0 * n_right / probs.size:.1f} %)"
        )
        ax_o.legend(
            handles=[
                Patch(
                    facecolor=mcolors.to_rgba(OUTCOME_COLORS[k], max(_OUTCOME_ALPHA[k], 0.05)),
                    edgecolor=OUTCOME_COLORS[k] if k in ("FP", "FN") else "#999999",
                    linewidth=2 if k in ("FP", "FN") else 0.5,
                    label=f"{_OUTCOME_TEXT[k]} ({int(outcome[k].sum())})",
                )
                for k in ("TP", "TN", "FP", "FN")
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.02),
            ncols=2,
            frameon=False,
        )
    if title:
        fig.suptitle(title)
    return fig


def overlay_blur_map(
    image: np.ndarray,
    blur_map: np.ndarray,
    alpha: float = 0.5,
    cmap: str = "inferno",
) -> np.ndarray:
    """Return an H×W×3 uint8 image: the photo blended with the blur map in colour ``cmap``.

    ``blur_map`` is H×W in [0, 1] (values outside are clipped); where it is NaN the photo
    shows through unchanged. Works in bands of rows, so memory stays small for huge photos.
    """
    photo = check_image(image)
    bmap = np.asarray(blur_map)
    if bmap.shape != photo.shape[:2]:
        raise ValueError(f"blur_map has shape {bmap.shape}, expected the image's {photo.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    colormap = matplotlib.colormaps[cmap]
    lut = np.round(colormap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.float32)
    out = np.empty((*photo.shape[:2], 3), dtype=np.uint8)
    band = 256
    for top in range(0, photo.shape[0], band):
        rows = slice(top, top + band)
        part = photo[rows]
        if part.dtype != np.uint8:
            part = to_unit_float(part) * np.float32(255.0)
        base = part.astype(np.float32)
        if base.ndim == 2:
            base = np.repeat(base[:, :, None], 3, axis=2)
        values = bmap[rows].astype(np.float32)
        missing = np.isnan(values)
        index = np.round(np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * 255.0)
        colour = lut[index.astype(np.intp)]
        weight = np.where(missing, np.float32(0.0), np.float32(alpha))[:, :, None]
        blended = base * (np.float32(1.0) - weight) + colour * weight
        out[rows] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out


@styled
def plot_blur_map(
    image: np.ndarray,
    blur_map: np.ndarray,
    alpha: float = 0.5,
    cmap: str = "inferno",
    title: str | None = None,
) -> Figure:
    """Return a figure: the photo | the blur map as a heat-map overlay, with a colour bar."""
    photo = check_image(image)
    bmap = np.asarray(blur_map, dtype=np.float32)
    if bmap.shape != photo.shape[:2]:
        raise ValueError(f"blur_map has shape {bmap.shape}, expected the image's {photo.shape[:2]}")
    h, w = photo.shape[:2]
    shown = display_copy(photo)
    overlay = overlay_blur_map(shown, display_copy(bmap), alpha=alpha, cmap=cmap)
    fig = new_figure(FIGSIZE_PAIR)
    ax_photo, ax_map = fig.subplots(1, 2)
    show_photo(ax_photo, photo, f"Photo ({w}×{h} px)")
    ax_map.imshow(overlay, extent=(0, w, h, 0), interpolation="antialiased")
    ax_map.set_axis_off()
    mean = float(np.nanmean(bmap)) if np.isfinite(bmap).any() else float("nan")
    ax_map.set_title(f"Blur map (mean P(blurred) = {mean:.2f})")
    sm = ScalarMappable(norm=mcolors.Normalize(0, 1), cmap=matplotlib.colormaps[cmap])
    fig.colorbar(sm, ax=ax_map, shrink=0.75, label="P(blurred)")
    if title:
        fig.suptitle(title)
    return fig
