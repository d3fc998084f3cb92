"""Pictures: the report's three figures, patch predictions, blur-map overlays, training
curves, a confusion matrix, ROC / precision-recall curves and kernel galleries.

Every ``plot_*`` function returns a matplotlib ``Figure`` of a fixed size (one of the
``FIGSIZE_*`` constants, or a size computed from the number of panels) and saves nothing.
``save_fig(fig, name)`` writes ``<FIGURES_DIR>/<name>.png`` at ``FIG_DPI``, so a saved
figure is exactly ``figsize × FIG_DPI`` pixels. ``FIGURES_DIR`` is the repository's
``figures/`` folder unless the environment variable ``BLURLIB_FIGURES_DIR`` says otherwise.

Photos are drawn in pixel coordinates (``extent = (0, W, H, 0)``), so patch ``(i, j)``
always sits at rows ``i*P:(i+1)*P`` and columns ``j*P:(j+1)*P`` whatever the display size;
photos larger than ``MAX_DISPLAY_SIDE`` are shrunk (area-averaged) for drawing only.

Figures are made with ``pyplot`` so that notebooks show them inline; ``save_fig`` closes
the figure unless told ``close=False``. Without a display and without a backend chosen
(``MPLBACKEND``, ``matplotlibrc``, or an earlier ``import matplotlib.pyplot``), the
non-interactive Agg backend is used. TensorFlow is never imported here.
"""

from __future__ import annotations

import csv
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib
import numpy as np

from blurlib import PATCH
from blurlib.errors import BlurlibError
from blurlib.fileio import atomic_path
from blurlib.patches import grid_shape


def _backend_unset() -> bool:
    """Return True when nobody chose a matplotlib backend (env var, rc file or pyplot)."""
    if os.environ.get("MPLBACKEND") or "matplotlib.pyplot" in sys.modules:
        return False
    getter = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    return getter() is None if getter is not None else True


def _headless() -> bool:
    """Return True on a Linux/BSD machine without an X11 or Wayland display."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


if _backend_unset() and _headless():
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.collections import LineCollection, PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

__all__ = [
    "BLURRED_COLOR",
    "FIGSIZE_CURVES",
    "FIGSIZE_PAIR",
    "FIGSIZE_SQUARE",
    "FIGSIZE_TRIPLE",
    "FIGURES_DIR",
    "FIG_DPI",
    "MAX_DISPLAY_SIDE",
    "OUTCOME_COLORS",
    "figures_dir",
    "overlay_blur_map",
    "plot_blur_map",
    "plot_blur_process",
    "plot_confusion_matrix",
    "plot_kernels",
    "plot_labelled_image",
    "plot_patch_grid",
    "plot_patch_predictions",
    "plot_roc_pr",
    "plot_training_curves",
    "save_fig",
]

FIGURES_DIR = Path(
    os.environ.get("BLURLIB_FIGURES_DIR") or Path(__file__).resolve().parent.parent / "figures"
)
FIG_DPI = 100

# Fixed figure sizes in inches; at FIG_DPI each gives a whole number of pixels.
FIGSIZE_TRIPLE = (13.0, 4.5)  # three panels side by side: 1300 × 450 px
FIGSIZE_PAIR = (11.0, 5.0)  # two panels side by side: 1100 × 500 px
FIGSIZE_SQUARE = (5.5, 5.0)  # one panel: 550 × 500 px
FIGSIZE_CURVES = (11.0, 4.2)  # two line plots side by side: 1100 × 420 px
KERNEL_CELL = (2.4, 2.6)  # one kernel of the gallery: 240 × 260 px

MAX_DISPLAY_SIDE = 2048  # photos larger than this are shrunk for drawing only
MAX_ANNOTATED_GRID = 20  # label matrices up to this many rows and columns get 0/1 numbers

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
BLURRED_COLOR = "#D55E00"  # vermillion: label 1, motion-blurred
SHARP_CELL_COLOR = "#EEEEEE"  # light grey: label 0 in a label matrix
OUTCOME_COLORS = {
    "TP": "#009E73",  # blurred, called blurred: green tint
    "TN": "#FFFFFF",  # sharp, called sharp: left untinted
    "FP": "#F0E442",  # sharp, called blurred: yellow, outlined
    "FN": "#D55E00",  # blurred, called sharp: vermillion, outlined
}
_OUTCOME_ALPHA = {"TP": 0.35, "TN": 0.0, "FP": 0.45, "FN": 0.45}
_OUTCOME_TEXT = {
    "TP": "TP: blurred, found",
    "TN": "TN: sharp, kept (no tint)",
    "FP": "FP: sharp, called blurred",
    "FN": "FN: blurred, missed",
}
_CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

_RC: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 13,
    "figure.titleweight": "bold",
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=_CYCLE),
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a plotting function inside the module's rc style, so every figure looks alike."""

    @wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------- saving


def figures_dir() -> Path:
    """Return the folder figures go to: ``$BLURLIB_FIGURES_DIR`` if set, else ``FIGURES_DIR``."""
    env = os.environ.get("BLURLIB_FIGURES_DIR")
    return Path(env) if env else FIGURES_DIR


def save_fig(
    fig: Figure,
    name: str,
    folder: str | os.PathLike[str] | None = None,
    dpi: int = FIG_DPI,
    close: bool = True,
) -> Path:
    """Write ``fig`` to ``<folder>/<name>.png`` (figsize × dpi pixels, atomically); return the path.

    ``folder`` defaults to ``figures_dir()``. The PNG is written under a temporary name in
    the same folder and renamed into place. The figure is closed unless ``close=False``
    (pass that in a notebook to still see it inline).
    """
    stem = name[:-4] if name.lower().endswith(".png") else name
    if not stem or Path(stem).name != stem:
        raise ValueError(f"figure name must be a plain file name without folders, got {name!r}")
    out_dir = Path(folder) if folder is not None else figures_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.png"
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            fig.savefig(
                fh,
                format="png",
                dpi=dpi,
                bbox_inches=None,
                facecolor="white",
                metadata={"Software": None},
            )
    finally:
        if close:
            plt.close(fig)
    return path


# --------------------------------------------------------------------------- helpers


def _halo(linewidth: float) -> patheffects.AbstractPathEffect:
    """Return a thin dark outline to draw under a coloured line, so it shows on any photo."""
    return patheffects.withStroke(linewidth=linewidth + 1.6, foreground="black", alpha=0.45)


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """Return an empty pyplot figure of ``figsize`` inches at FIG_DPI, constrained layout."""
    return plt.figure(figsize=figsize, dpi=FIG_DPI, layout="constrained")


def _check_image(image: Any, what: str = "image") -> np.ndarray:
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


def _to_unit_float(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as float32 in [0, 1] (uint8/uint16 scaled, floats clipped)."""
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def _display_copy(array: np.ndarray) -> np.ndarray:
    """Return ``array`` shrunk by area-averaging so its longer side is ≤ MAX_DISPLAY_SIDE."""
    h, w = array.shape[:2]
    scale = MAX_DISPLAY_SIDE / max(h, w)
    if scale >= 1.0:
        return array
    import cv2  # only needed for very large photos

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    src = array.astype(np.float32) if array.dtype == np.float64 else array
    return cv2.resize(src, size, interpolation=cv2.INTER_AREA)


def _show_photo(ax: Any, image: np.ndarray, title: str | None = None) -> None:
    """Draw a photo in pixel coordinates on ``ax`` with the axis hidden."""
    h, w = image.shape[:2]
    shown = _display_copy(image)
    if shown.dtype != np.uint8:
        shown = _to_unit_float(shown)
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


def _check_grid(array: Any, image: np.ndarray, patch: int, what: str) -> np.ndarray:
    """Return ``array`` as a 2-D array whose shape is the image's patch grid, or raise."""
    arr = np.asarray(array)
    expected = grid_shape(image.shape[0], image.shape[1], patch)
    if arr.shape != expected:
        raise ValueError(
            f"{what} has shape {arr.shape}, but an image of {image.shape[0]}×{image.shape[1]} px "
            f"has a {expected[0]}×{expected[1]} grid of {patch}×{patch} patches"
        )
    return arr


def _grid_lines(rows: int, cols: int, patch: int) -> list[list[tuple[int, int]]]:
    """Return line segments drawing every patch border of a rows×cols grid in pixels."""
    height, width = rows * patch, cols * patch
    vertical = [[(j * patch, 0), (j * patch, height)] for j in range(cols + 1)]
    horizontal = [[(0, i * patch), (width, i * patch)] for i in range(rows + 1)]
    return vertical + horizontal


def _draw_grid(ax: Any, rows: int, cols: int, patch: int, linewidth: float = 0.6) -> None:
    """Draw the patch grid as thin white lines with a dark halo (visible on any photo)."""
    lines = LineCollection(
        _grid_lines(rows, cols, patch), colors="white", linewidths=linewidth, alpha=0.9
    )
    lines.set_path_effects(
        [patheffects.withStroke(linewidth=linewidth + 1.0, foreground="black", alpha=0.35)]
    )
    ax.add_collection(lines)


def _shade_remainder(ax: Any, image: np.ndarray, rows: int, cols: int, patch: int) -> bool:
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


def _boundary_segments(mask: np.ndarray, patch: int) -> list[list[tuple[int, int]]]:
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


def _cell_image(ax: Any, rgba: np.ndarray, patch: int, zorder: float = 2) -> None:
    """Draw a (rows, cols, 4) RGBA array so that cell (i, j) covers patch (i, j) of the photo."""
    rows, cols = rgba.shape[:2]
    ax.imshow(
        rgba,
        extent=(0, cols * patch, rows * patch, 0),
        interpolation="nearest",
        zorder=zorder,
    )


def _hex_rgba(color: str, alpha: float) -> np.ndarray:
    """Return a colour as an RGBA float array with the given alpha."""
    rgba = np.array(mcolors.to_rgba(color), dtype=np.float32)
    rgba[3] = alpha
    return rgba


# --------------------------------------------------------------------------- report figures


@_styled
def plot_blur_process(
    image: np.ndarray,
    kernel: np.ndarray,
    blurred: np.ndarray,
    title: str | None = "The original-to-blur process",
) -> Figure:
    """Return a figure: original photo | the motion kernel (magnified) | the blurred copy."""
    image = _check_image(image)
    blurred = _check_image(blurred, "blurred")
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D array, got shape {kernel.shape}")
    aspect = image.shape[1] / image.shape[0]
    fig = _new_figure(FIGSIZE_TRIPLE)
    axes = fig.subplots(1, 3, width_ratios=[aspect, 0.9, aspect])
    _show_photo(axes[0], image, f"Original ({image.shape[1]}×{image.shape[0]} px)")
    _show_kernel(axes[1], kernel, f"Motion kernel {kernel.shape[0]}×{kernel.shape[1]} (magnified)")
    fig.colorbar(axes[1].images[0], ax=axes[1], shrink=0.7, label="weight")
    _show_photo(axes[2], blurred, "Blurred copy (kernel applied)")
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


@_styled
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
    image = _check_image(image)
    rows, cols = grid_shape(image.shape[0], image.shape[1], patch)
    if rows == 0 or cols == 0:
        raise ValueError(f"image of shape {image.shape} is smaller than one {patch}×{patch} patch")
    if not 0 <= show_patches <= 9:
        raise ValueError(f"show_patches must be between 0 and 9, got {show_patches}")
    n_show = min(show_patches, rows * cols)
    if n_show:
        fig = _new_figure(FIGSIZE_PAIR)
        left, right = fig.subfigures(1, 2, width_ratios=[1.9, 1.0], wspace=0.02)
        ax = left.subplots()
    else:
        fig = _new_figure(FIGSIZE_SQUARE)
        ax = fig.subplots()
    _show_photo(ax, image)
    _draw_grid(ax, rows, cols, patch)
    cropped = _shade_remainder(ax, image, rows, cols, patch)
    caption = f"{rows}×{cols} patches of {patch}×{patch} px"
    ax.set_title(caption + (" (grey: cropped remainder)" if cropped else ""))
    if n_show:
        rng = np.random.default_rng(seed)
        picks = np.sort(rng.choice(rows * cols, size=n_show, replace=False))
        side = math.ceil(math.sqrt(n_show))
        pax = np.atleast_1d(right.subplots(math.ceil(n_show / side), side)).ravel()
        for k, flat in enumerate(picks):
            i, j = divmod(int(flat), cols)
            color = _CYCLE[k % len(_CYCLE)]
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


@_styled
def plot_labelled_image(
    composite: np.ndarray,
    labels: np.ndarray,
    patch: int = PATCH,
    title: str | None = "The final image with its label matrix",
) -> Figure:
    """Return a figure: the partially blurred image (blurred patches tinted) | its 0/1 matrix."""
    composite = _check_image(composite, "composite")
    labels = _check_grid(labels, composite, patch, "labels").astype(np.uint8)
    if labels.size and labels.max() > 1:
        raise ValueError(f"labels must be 0 (sharp) or 1 (blurred), found {labels.max()}")
    rows, cols = labels.shape
    fig = _new_figure(FIGSIZE_PAIR)
    aspect = composite.shape[1] / composite.shape[0]
    ax_img, ax_mat = fig.subplots(1, 2, width_ratios=[aspect, cols / rows])
    n_blur = int(labels.sum())
    _show_photo(ax_img, composite, f"Partially blurred image: {n_blur} of {labels.size} patches")
    tint = np.zeros((rows, cols, 4), dtype=np.float32)
    tint[labels == 1] = _hex_rgba(BLURRED_COLOR, 0.2)
    _cell_image(ax_img, tint, patch)
    width = 1.6 if max(rows, cols) <= MAX_ANNOTATED_GRID else 0.9
    border = LineCollection(
        _boundary_segments(labels == 1, patch), colors=BLURRED_COLOR, linewidths=width, zorder=3
    )
    border.set_path_effects([_halo(width)])
    ax_img.add_collection(border)
    _shade_remainder(ax_img, composite, rows, cols, patch)
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


# --------------------------------------------------------------------------- predictions


@_styled
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
    image = _check_image(image)
    probs = _check_grid(probs, image, patch, "probs").astype(np.float32)
    if labels is not None:
        labels = _check_grid(labels, image, patch, "labels").astype(np.uint8)
    rows, cols = probs.shape
    if labels is None:
        fig = _new_figure(FIGSIZE_SQUARE)
        ax_p = fig.subplots()
        ax_o = None
    else:
        fig = _new_figure(FIGSIZE_PAIR)
        ax_p, ax_o = fig.subplots(1, 2)

    _show_photo(ax_p, image)
    colormap = matplotlib.colormaps[cmap]
    probs_rgba = colormap(np.clip(np.nan_to_num(probs, nan=0.0), 0.0, 1.0))
    probs_rgba[..., 3] = np.where(np.isnan(probs), 0.0, 0.5)
    _cell_image(ax_p, probs_rgba, patch)
    _draw_grid(ax_p, rows, cols, patch, linewidth=0.3)
    _shade_remainder(ax_p, image, rows, cols, patch)
    called = int((probs >= threshold).sum())
    ax_p.set_title(f"P(blurred) per patch: {called} of {probs.size} ≥ {threshold:g}")
    sm = ScalarMappable(norm=mcolors.Normalize(0, 1), cmap=colormap)
    cbar = fig.colorbar(sm, ax=ax_p, shrink=0.75, label="P(blurred)")
    cbar.ax.axhline(threshold, color="black", linewidth=1.2)

    if ax_o is not None and labels is not None:
        _show_photo(ax_o, image)
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
            rgba[mask] = _hex_rgba(OUTCOME_COLORS[key], _OUTCOME_ALPHA[key])
        _cell_image(ax_o, rgba, patch)
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
                outlines.set_path_effects([_halo(2)])
                ax_o.add_collection(outlines)
        _shade_remainder(ax_o, image, rows, cols, patch)
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
    photo = _check_image(image)
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
            part = _to_unit_float(part) * np.float32(255.0)
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


@_styled
def plot_blur_map(
    image: np.ndarray,
    blur_map: np.ndarray,
    alpha: float = 0.5,
    cmap: str = "inferno",
    title: str | None = None,
) -> Figure:
    """Return a figure: the photo | the blur map as a heat-map overlay, with a colour bar."""
    photo = _check_image(image)
    bmap = np.asarray(blur_map, dtype=np.float32)
    if bmap.shape != photo.shape[:2]:
        raise ValueError(f"blur_map has shape {bmap.shape}, expected the image's {photo.shape[:2]}")
    h, w = photo.shape[:2]
    shown = _display_copy(photo)
    overlay = overlay_blur_map(shown, _display_copy(bmap), alpha=alpha, cmap=cmap)
    fig = _new_figure(FIGSIZE_PAIR)
    ax_photo, ax_map = fig.subplots(1, 2)
    _show_photo(ax_photo, photo, f"Photo ({w}×{h} px)")
    ax_map.imshow(overlay, extent=(0, w, h, 0), interpolation="antialiased")
    ax_map.set_axis_off()
    mean = float(np.nanmean(bmap)) if np.isfinite(bmap).any() else float("nan")
    ax_map.set_title(f"Blur map (mean P(blurred) = {mean:.2f})")
    sm = ScalarMappable(norm=mcolors.Normalize(0, 1), cmap=matplotlib.colormaps[cmap])
    fig.colorbar(sm, ax=ax_map, shrink=0.75, label="P(blurred)")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- training & metrics


def _read_log_csv(path: Path) -> dict[str, np.ndarray]:
    """Return the columns of a Keras CSVLogger file as float arrays (non-numbers → NaN)."""
    if not path.is_file():
        raise BlurlibError(f"{path}: training log not found; pass the CSV written by training")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = [f for f in (reader.fieldnames or []) if f]
        rows = list(reader)
    if not fields or not rows:
        raise BlurlibError(f"{path}: training log has no rows; train for at least one epoch")

    def number(text: str | None) -> float:
        try:
            return float(text) if text not in (None, "") else math.nan
        except ValueError:
            return math.nan

    return {f: np.array([number(r.get(f)) for r in rows], dtype=np.float64) for f in fields}


def _log_columns(source: Any) -> tuple[dict[str, np.ndarray], str]:
    """Return the columns of a training log given as a path, a mapping/DataFrame or a History."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return _read_log_csv(path), path.name
    data = getattr(source, "history", source)  # a keras History object carries .history
    if not isinstance(data, Mapping) and not hasattr(data, "columns"):
        raise TypeError(
            "training log must be a CSV path, a mapping of column -> values, a DataFrame "
            f"or a keras History, got {type(source).__name__}"
        )
    cols = {str(k): np.asarray(data[k], dtype=np.float64).ravel() for k in data}
    return cols, "training log"


@_styled
def plot_training_curves(
    log: str | os.PathLike[str] | Mapping[str, Iterable[float]] | Any,
    title: str | None = "Training curves",
) -> Figure:
    """Return a figure of loss and accuracy per epoch, train vs validation, from a training log.

    ``log`` is a Keras ``CSVLogger`` file (read with ``csv``), a mapping or DataFrame of
    columns, or a Keras ``History``. Epochs are drawn 1-based, as Keras prints them; the
    epoch with the lowest ``val_loss`` is marked. A third panel shows the learning rate when
    the log has a ``learning_rate`` (or ``lr``) column that changes.
    """
    cols, name = _log_columns(log)
    n = max((len(v) for v in cols.values()), default=0)
    if n == 0 or "loss" not in cols:
        raise BlurlibError(f"{name}: no 'loss' column with values; is this a Keras training log?")
    if "epoch" in cols and np.isfinite(cols["epoch"]).all():
        # A resumed run may repeat epochs: keep the last row of each, in epoch order.
        epoch = cols["epoch"]
        last = {int(e): k for k, e in enumerate(epoch)}
        order = np.array([last[e] for e in sorted(last)], dtype=np.intp)
        cols = {k: v[order] for k, v in cols.items()}
        x = cols["epoch"] + 1
    else:
        x = np.arange(1, n + 1, dtype=np.float64)
    acc_key = next(
        (k for k in ("accuracy", "acc", "binary_accuracy", "categorical_accuracy") if k in cols),
        None,
    )
    lr_key = next((k for k in ("learning_rate", "lr") if k in cols), None)
    show_lr = lr_key is not None and np.unique(cols[lr_key][np.isfinite(cols[lr_key])]).size > 1
    panels = [("loss", "Loss", "loss")]
    if acc_key is not None:
        panels.append((acc_key, "Accuracy", "accuracy"))
    if show_lr and lr_key is not None:
        panels.append((lr_key, "Learning rate", "learning rate"))
    width = FIGSIZE_CURVES[0] if len(panels) <= 2 else 15.0
    fig = _new_figure((width, FIGSIZE_CURVES[1]))
    axes = np.atleast_1d(fig.subplots(1, len(panels))).ravel()
    marker = "o" if len(x) <= 30 else None
    best = None
    if "val_loss" in cols and np.isfinite(cols["val_loss"]).any():
        best = int(np.nanargmin(cols["val_loss"]))
    for ax, (key, panel_title, ylabel) in zip(axes, panels):
        ax.plot(x, cols[key], marker=marker, markersize=3, label="train", color=_CYCLE[0])
        if key == lr_key:
            ax.set_yscale("log")
            ax.get_lines()[0].set_label("learning rate")
        elif f"val_{key}" in cols:
            ax.plot(
                x,
                cols[f"val_{key}"],
                marker=marker,
                markersize=3,
                label="validation",
                color=_CYCLE[1],
            )
        if best is not None:
            ax.axvline(x[best], color="#777777", linestyle="--", linewidth=1, zorder=0)
        if best is not None and key != lr_key and f"val_{key}" in cols:
            ax.plot(
                x[best],
                cols[f"val_{key}"][best],
                marker="*",
                markersize=11,
                color=_CYCLE[1],
                linestyle="none",
                label=f"best val_loss (epoch {x[best]:g})",
            )
        ax.set_title(panel_title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


@_styled
def plot_confusion_matrix(
    cm: np.ndarray,
    labels: Sequence[str] = ("sharp", "blurred"),
    normalize: bool = False,
    title: str | None = "Confusion matrix",
) -> Figure:
    """Return a figure of a confusion matrix (rows = true class, columns = predicted class).

    Each cell shows its count and its share of the true class; with ``normalize=True`` the
    colours and the large number are that share (each row sums to 1).
    """
    counts = np.asarray(cm, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {counts.shape}")
    if len(labels) != counts.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {counts.shape[0]}-class confusion matrix")
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    shown = shares if normalize else counts
    fig = _new_figure(FIGSIZE_SQUARE)
    ax = fig.subplots()
    vmax = 1.0 if normalize else max(float(counts.max()), 1.0)
    img = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax)
    k = counts.shape[0]
    for i in range(k):
        for j in range(k):
            is_int = float(counts[i, j]).is_integer()
            count = f"{int(counts[i, j]):,}" if is_int else f"{counts[i, j]:.3g}"
            text = (
                f"{shares[i, j]:.1%}\n(n = {count})"
                if normalize
                else f"{count}\n({shares[i, j]:.1%} of true)"
            )
            dark = shown[i, j] / vmax > 0.55
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=11 if k <= 3 else 8,
                color="white" if dark else "#222222",
            )
    ax.set_xticks(range(k), labels=list(labels))
    ax.set_yticks(range(k), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for spine in ax.spines.values():
        spine.set_visible(False)
    total = counts.sum()
    correct = np.trace(counts)
    acc = f" — accuracy {correct / total:.1%}" if total > 0 else ""
    ax.set_title(f"{'Row-normalised' if normalize else 'Counts'}{acc}")
    fig.colorbar(img, ax=ax, shrink=0.8, label="share of true class" if normalize else "count")
    if title:
        fig.suptitle(title)
    return fig


def _roc_pr(
    y_true: np.ndarray, y_score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, float]:
    """Return ``(fpr, tpr, roc_auc, recall, precision, average_precision)`` for one method."""
    from blurlib.evaluate import average_precision, precision_recall_curve, roc_auc, roc_curve

    fpr, tpr, _ = roc_curve(y_true, y_score)
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    return fpr, tpr, roc_auc(y_true, y_score), recall, precision, average_precision(y_true, y_score)


def _fmt_score(value: float) -> str:
    """Return a metric as 0.xxx, or n/a when undefined (nan)."""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


@_styled
def plot_roc_pr(
    curves: Mapping[str, tuple[Any, Any]],
    title: str | None = "ROC and precision-recall curves",
) -> Figure:
    """Return a figure: ROC curves | precision-recall curves of several methods, AUC/AP in legends.

    ``curves`` maps a method name (the CNN, a classical baseline, ...) to
    ``(y_true, y_score)``: 0/1 labels (1 = blurred) and a score that grows with blur.
    """
    if not curves:
        raise ValueError("curves is empty: give at least one method as name -> (y_true, y_score)")
    fig = _new_figure(FIGSIZE_PAIR)
    ax_roc, ax_pr = fig.subplots(1, 2)
    prevalence = None
    for k, (name, (y_true, y_score)) in enumerate(curves.items()):
        y_true = np.asarray(y_true).ravel()
        try:
            fpr, tpr, auc, recall, precision, ap = _roc_pr(y_true, y_score)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
        color = _CYCLE[k % len(_CYCLE)]
        ax_roc.plot(fpr, tpr, color=color, linewidth=1.8, label=f"{name} (AUC {_fmt_score(auc)})")
        ax_pr.step(
            recall,
            precision,
            where="pre",  # precision[k] holds on (recall[k-1], recall[k]]: area = AP
            color=color,
            linewidth=1.8,
            label=f"{name} (AP {_fmt_score(ap)})",
        )
        if prevalence is None and y_true.size:
            prevalence = float(np.mean(y_true == 1))
    ax_roc.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="chance")
    if prevalence is not None:
        ax_pr.axhline(
            prevalence,
            color="#999999",
            linestyle="--",
            linewidth=1,
            label=f"chance ({prevalence:.2f})",
        )
    ax_roc.set(
        xlabel="false positive rate (sharp called blurred)",
        ylabel="true positive rate (blurred found)",
        title="ROC",
    )
    ax_pr.set(xlabel="recall (blurred found)", ylabel="precision", title="Precision-recall")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    ax_roc.legend(loc="lower right")
    ax_pr.legend(loc="lower left")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- kernels


@_styled
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
    fig = _new_figure((KERNEL_CELL[0] * ncols, KERNEL_CELL[1] * nrows + (0.4 if title else 0)))
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
