"""Pictures of blur analysis: the kind of blur per patch as a colour overlay with a legend,
motion directions and lengths as arrows on the patch grid, a polar histogram of directions.

Colours are Okabe-Ito (colour-blind safe, :mod:`blurlib.viz.style`): sharp blue, motion
vermillion, defocus bluish green; patches without evidence are left untinted. Directions are
undirected (a straight motion has no sign), so arrows are drawn as segments centred on their
patch, ``length_px`` long on the photo (the streak the motion leaves), and the polar histogram
repeats each direction at θ + 180°. Angles: 0 = along x to the right, 90 = along y, counter-
clockwise as seen on screen — on the picture's y-down axes a segment at θ runs through
(cos θ, -sin θ).

:func:`kind_picture` returns an image (what ``predict`` writes); the ``plot_*`` functions
return fixed-size figures and save nothing. Each takes an analysis object with the fields of
:class:`blurlib.inference.analysis.PatchAnalysis` (``p_*``, ``angle_deg``, ``length_px``,
``evidence``, ``stride``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from blurlib import PATCH
from blurlib.viz.drawing import check_image, display_copy, halo, show_photo
from blurlib.viz.style import FIGSIZE_PAIR, FIGSIZE_SQUARE, new_figure, styled

__all__ = [
    "KIND_COLORS",
    "kind_picture",
    "plot_direction_histogram",
    "plot_kind_overlay",
    "plot_motion_arrows",
]

KIND_COLORS = {"sharp": "#0072B2", "motion": "#D55E00", "defocus": "#009E73"}
_RGB = np.array([mcolors.to_rgb(c) for c in KIND_COLORS.values()], np.float32) * 255.0


def _pixel_index(n_pixels: int, n_cells: int, stride: int) -> np.ndarray:
    """Index of the cell whose window centre is nearest to each pixel along one axis."""
    pos = (np.arange(n_pixels) - (PATCH - 1) / 2.0) / stride
    return np.clip(np.rint(pos), 0, n_cells - 1).astype(np.intp)


def kind_picture(image: np.ndarray, analysis: Any, alpha: float = 0.45) -> np.ndarray:
    """Return an H×W×3 uint8 image: the photo tinted by the most likely kind of each patch
    (or window, at the analysis' stride: each pixel takes its nearest window centre)."""
    photo = check_image(image)
    if photo.ndim == 2:
        photo = np.repeat(photo[:, :, None], 3, axis=2)
    h, w = photo.shape[:2]
    kind = analysis.kind
    rows, cols = kind.shape
    if analysis.stride == PATCH:  # the patch grid: cell (i, j) covers its patch exactly
        ri = np.minimum(np.arange(h) // PATCH, rows - 1)
        ci = np.minimum(np.arange(w) // PATCH, cols - 1)
        inside = (np.arange(h)[:, None] < rows * PATCH) & (np.arange(w)[None, :] < cols * PATCH)
    else:
        ri, ci = _pixel_index(h, rows, analysis.stride), _pixel_index(w, cols, analysis.stride)
        inside = np.ones((h, w), bool)
    k = kind[np.ix_(ri, ci)]
    tint = analysis.evidence[np.ix_(ri, ci)] & inside
    base = photo.astype(np.float32)
    out = np.where(tint[:, :, None], base * (1 - alpha) + _RGB[k] * alpha, base)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _legend(ax: Any) -> None:
    handles = [Patch(facecolor=c, alpha=0.7, label=n) for n, c in KIND_COLORS.items()]
    handles.append(Patch(facecolor="white", edgecolor="grey", label="no evidence (untinted)"))
    ax.legend(handles=handles, loc="lower right", fontsize=8)


@styled
def plot_kind_overlay(image: np.ndarray, analysis: Any, title: str | None = None) -> Figure:
    """Return a figure: the photo | the photo tinted by blur kind, with a legend and shares."""
    photo = check_image(image)
    h, w = photo.shape[:2]
    fig = new_figure(FIGSIZE_PAIR)
    ax_photo, ax_kind = fig.subplots(1, 2)
    show_photo(ax_photo, photo, f"Photo ({w}×{h} px)")
    ax_kind.imshow(display_copy(kind_picture(photo, analysis)), extent=(0, w, h, 0))
    ax_kind.set_axis_off()
    ev = analysis.evidence
    shares = [float((analysis.kind[ev] == k).mean()) if ev.any() else np.nan for k in range(3)]
    ax_kind.set_title(
        "Kind: " + ", ".join(f"{n} {100 * s:.0f}%" for n, s in zip(KIND_COLORS, shares))
    )
    _legend(ax_kind)
    if title:
        fig.suptitle(title)
    return fig


def _centres(analysis: Any) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = analysis.kind.shape
    s = analysis.stride
    off = PATCH / 2.0 if s == PATCH else (PATCH - 1) / 2.0
    return np.arange(rows) * s + off, np.arange(cols) * s + off


@styled
def plot_motion_arrows(
    image: np.ndarray, analysis: Any, title: str | None = None, every: int = 1
) -> Figure:
    """Return a figure: the photo with a segment per judgeable patch where p_motion ≥ 0.5,
    along the motion direction and ``length_px`` long (``every``: draw every n-th cell)."""
    photo = check_image(image)
    h, w = photo.shape[:2]
    fig = new_figure(FIGSIZE_SQUARE)
    ax = fig.subplots()
    show_photo(ax, photo)
    ys, xs = _centres(analysis)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    sel = analysis.evidence & np.isfinite(analysis.angle_deg) & (analysis.p_motion >= 0.5)
    thin = np.zeros_like(sel)
    thin[::every, ::every] = True
    sel &= thin
    t = np.radians(analysis.angle_deg[sel])
    ln = analysis.length_px[sel]
    if sel.any():
        q = ax.quiver(
            xx[sel], yy[sel], ln * np.cos(t), -ln * np.sin(t),
            angles="xy", scale_units="xy", scale=1.0, pivot="middle",
            headwidth=1, headlength=0, headaxislength=0, width=0.006,
            color=KIND_COLORS["motion"], zorder=3,
        )  # fmt: skip
        q.set_path_effects([halo(1.0)])
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    n = int(sel.sum())
    ax.set_title(title or f"Motion direction and length ({n} patches with p_motion ≥ 0.5)")
    return fig


@styled
def plot_direction_histogram(analysis: Any, bins: int = 12, title: str | None = None) -> Figure:
    """Return a polar histogram of the motion directions of judgeable patches with
    p_motion ≥ 0.5 (each undirected direction drawn at θ and θ + 180°)."""
    if not 2 <= bins <= 180:
        raise ValueError(f"bins must be in 2..180, got {bins}")
    sel = analysis.evidence & np.isfinite(analysis.angle_deg) & (analysis.p_motion >= 0.5)
    counts, edges = np.histogram(analysis.angle_deg[sel], bins=bins, range=(0.0, 180.0))
    fig = new_figure(FIGSIZE_SQUARE)
    ax = fig.add_subplot(projection="polar")
    width = np.radians(180.0 / bins)
    for shift in (0.0, np.pi):
        ax.bar(
            np.radians(edges[:-1]) + shift + width / 2,
            counts,
            width=width,
            color=KIND_COLORS["motion"],
            alpha=0.8,
            edgecolor="white",
        )
    ax.set_thetagrids(range(0, 360, 30))
    ax.set_title(title or f"Motion directions ({int(sel.sum())} patches; 0° = along x)")
    return fig
