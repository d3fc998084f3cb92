"""The look and the saving of every figure: backend choice, fixed sizes, palette, ``save_fig``.

Every ``plot_*`` function of :mod:`blurlib.viz` returns a matplotlib ``Figure`` of a fixed
size (one of the ``FIGSIZE_*`` constants, or a size computed from the number of panels) and
saves nothing. ``save_fig(fig, name)`` writes ``<figures_dir()>/<name>.png`` at ``FIG_DPI``,
so a saved figure is exactly ``figsize × FIG_DPI`` pixels. ``figures_dir()`` is
``$BLURLIB_FIGURES_DIR`` when set, else the ``figures/`` folder of the checkout the working
folder is in (the first folder at or above it holding both ``blurlib/`` and ``notebooks/``),
else ``./figures`` — never a folder found from where the package is installed, so two
checkouts sharing one environment each write into their own.

Figures are made with ``pyplot`` so that notebooks show them inline; ``save_fig`` closes
the figure unless told ``close=False``. Without a display and without a backend chosen
(``MPLBACKEND``, ``matplotlibrc``, or an earlier ``import matplotlib.pyplot``), the
non-interactive Agg backend is used: this module makes that choice when it is imported, and
it is the only module of :mod:`blurlib.viz` that imports ``pyplot``. TensorFlow is never
imported here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib

from blurlib.fileio import atomic_path
from blurlib.paths import find_checkout


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
from matplotlib.figure import Figure  # noqa: E402

__all__ = [
    "BLURRED_COLOR",
    "CYCLE",
    "FIGSIZE_CURVES",
    "FIGSIZE_PAIR",
    "FIGSIZE_SQUARE",
    "FIGSIZE_TRIPLE",
    "FIGURES_ENV",
    "FIG_DPI",
    "KERNEL_CELL",
    "MAX_ANNOTATED_GRID",
    "MAX_DISPLAY_SIDE",
    "OUTCOME_COLORS",
    "SHARP_CELL_COLOR",
    "figures_dir",
    "new_figure",
    "save_fig",
    "styled",
]

FIGURES_ENV = "BLURLIB_FIGURES_DIR"  # when set, the folder figures go to
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
CYCLE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

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
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Return ``func`` run inside the blurlib rc style, so every figure looks alike."""

    @wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def new_figure(figsize: tuple[float, float]) -> Figure:
    """Return an empty pyplot figure of ``figsize`` inches at FIG_DPI, constrained layout."""
    return plt.figure(figsize=figsize, dpi=FIG_DPI, layout="constrained")


# --------------------------------------------------------------------------- saving


def figures_dir() -> Path:
    """Return the folder figures go to: ``$BLURLIB_FIGURES_DIR``, else ``<checkout>/figures``.

    The checkout is the one holding the working folder (:func:`blurlib.paths.find_checkout`);
    outside any checkout it is ``<cwd>/figures``. Resolved at each call, from the working
    folder, not from where blurlib is installed.
    """
    env = os.environ.get(FIGURES_ENV)
    if env:
        return Path(env)
    root = find_checkout()
    return (root if root is not None else Path.cwd().resolve()) / "figures"


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
