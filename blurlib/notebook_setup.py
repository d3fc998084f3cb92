"""The notebooks' setup cell: versions, the device, and where the repository is.

Every course notebook opens with::

    from blurlib import notebook_setup
    env = notebook_setup.setup()

which prints one line of versions (Python, numpy, TensorFlow, Keras, blurlib) and one line
about the device — the GPU TensorFlow sees, or a clear note that the notebook runs on the
CPU — the habit of ageron/handson-ml3. It also quiets TensorFlow's start-up chatter (the
C++ "oneDNN"/"cuInit" lines and absl's legacy-HDF5 notice), which would otherwise fill the
first cell's output; real errors still raise.

:func:`repo_path` turns the folders named in a notebook's ``parameters`` cell into absolute
paths: a relative folder is taken from the repository root, so the same notebook writes to
the same place whether JupyterLab runs it (working folder ``notebooks/``), papermill runs it
from the repository root, or the test suite runs it from a temporary folder.
"""

from __future__ import annotations

import logging
import os
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import blurlib
from blurlib.paths import work_root
from blurlib.runtime import filtered_stderr, start_keras

INLINE_DPI = 72  # inline display only; viz.style.save_fig writes figures/ at its FIG_DPI
INLINE_JPEG_QUALITY = 85  # inline display of figures with photos
PHOTO_PIXELS = 100 * 100  # a shown image at least this large makes a figure a 'photo figure'

__all__ = [
    "REPO_ROOT",
    "display_path",
    "environment",
    "find_repo_root",
    "repo_path",
    "setup",
    "summary",
]


def find_repo_root() -> Path:
    """Return the checkout to work in (:func:`blurlib.paths.work_root`): the working folder's."""
    return work_root()


REPO_ROOT = find_repo_root()


def repo_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as an absolute Path; a relative path is taken from the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def display_path(path: str | os.PathLike[str]) -> str:
    """Return ``path`` relative to the repository root when it lies inside it, else absolute."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(p)


def environment(tensorflow: bool = True) -> dict[str, Any]:
    """Return versions (python, numpy, blurlib; tensorflow, keras) and the GPUs TensorFlow sees."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blurlib": blurlib.__version__,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
    if not tensorflow:
        return env
    keras = start_keras()
    with filtered_stderr():
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        details = []
        for gpu in gpus:
            try:
                name = tf.config.experimental.get_device_details(gpu).get("device_name", "")
            except (ValueError, RuntimeError):  # pragma: no cover - driver without details
                name = ""
            details.append(name or gpu.name)
    logging.getLogger("absl").setLevel(logging.ERROR)  # the legacy-.h5 notice on every save
    env.update({"tensorflow": tf.__version__, "keras": keras.__version__, "gpus": details})
    return env


def summary(env: dict[str, Any]) -> str:
    """Return two lines: the versions, and the device (a GPU, or a note that it runs on CPU)."""
    versions = [f"Python {env['python']}", f"numpy {env['numpy']}"]
    if "tensorflow" in env:
        versions += [f"TensorFlow {env['tensorflow']}", f"Keras {env['keras']}"]
    versions.append(f"blurlib {env['blurlib']}")
    lines = [", ".join(versions)]
    if "tensorflow" in env:
        gpus = env.get("gpus") or []
        if gpus:
            lines.append(f"GPU: {len(gpus)} found ({', '.join(gpus)}); training uses it.")
        else:
            lines.append(
                f"No GPU found: this notebook runs on the CPU ({env['cpu_count']} cores). That "
                "is fine for the default run on the bundled photos; use a GPU for VOC2010 "
                "and the full 100-epoch schedule."
            )
    return "\n".join(lines)


def _has_photo(fig: Any) -> bool:
    """True when a figure shows a picture of at least PHOTO_PIXELS pixels (a photo, a map)."""
    return any(
        im.get_array() is not None and np.prod(im.get_array().shape[:2]) >= PHOTO_PIXELS
        for ax in fig.axes
        for im in ax.get_images()
    )


def _inline_figures() -> None:
    """Inside IPython/Jupyter: show figures with photos as JPEG, the others (plots) as PNG."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - plain Python: nothing is shown inline
        return
    shell = get_ipython()
    if shell is None:
        return
    import matplotlib.pyplot as plt

    plt.close(plt.figure())  # the inline backend sets its formatters on the first figure

    formatters = shell.display_formatter.formatters
    png = {"base64": True, "dpi": INLINE_DPI}
    jpeg = {**png, "pil_kwargs": {"quality": INLINE_JPEG_QUALITY}}
    formatters["image/png"].for_type(
        Figure, lambda fig: None if _has_photo(fig) else print_figure(fig, "png", **png)
    )
    formatters["image/jpeg"].for_type(
        Figure, lambda fig: print_figure(fig, "jpeg", **jpeg) if _has_photo(fig) else None
    )


def setup(tensorflow: bool = True) -> dict[str, Any]:
    """Print the versions and the device, and return :func:`environment`'s dict.

    Also: inline figures are shown at ``INLINE_DPI``, those with photos as JPEG and plots as
    PNG (a notebook with a dozen photo figures stays well under a megabyte; the PNGs that
    ``viz.style.save_fig`` writes are not affected), and tqdm's "IProgress not found" notice is
    silenced (the notebooks turn progress bars off; without ipywidgets tqdm falls back to
    text bars anyway).
    """
    warnings.filterwarnings("ignore", message="IProgress not found")
    env = environment(tensorflow)
    _inline_figures()
    print(summary(env))
    return env
