"""Model files: saving (.keras native or legacy .h5, atomically), checking that a model is
a blurlib patch classifier, loading with clear errors, and the shipped default model.

The default model ships inside the package as ``blurlib/nets/default.keras`` (package
data), so an installed blurlib — editable or not, a wheel included — finds it from any
folder: :data:`DEFAULT_MODEL_PATH` is resolved with :mod:`importlib.resources`.
"""

from __future__ import annotations

import os
import zipfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from blurlib import PATCH
from blurlib.errors import ModelFileError
from blurlib.fileio import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from importlib.resources.abc import Traversable

    import keras

# The shipped default model, package data of blurlib.nets: a pathlib.Path for a package on
# disk (editable or installed), another Traversable (read through importlib.resources.as_file)
# if blurlib is imported from a zip.
DEFAULT_MODEL_PATH: Path | Traversable = resources.files("blurlib.nets") / "default.keras"
#: The shipped blur-analysis model (sharp / motion / defocus, direction, length): package data
#: too, loaded by ``load_model("analysis")``; see ``models/analysis/README.md``.
ANALYSIS_MODEL_PATH: Path | Traversable = resources.files("blurlib.nets") / "analysis.keras"
NAMED_MODELS = ("analysis",)  # names load_model accepts instead of a path
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_FIX = "retrain with `python -m blurlib train` or pass --model PATH to a .keras/.h5 blurlib model"


def default_model_path() -> Path | Traversable:
    """Return the shipped default model's location (``blurlib/nets/default.keras``)."""
    return DEFAULT_MODEL_PATH


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` (.keras native or legacy .h5) atomically; return the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: model files must end in .keras or .h5 (got {suffix!r})")
    with atomic_path(path) as tmp:
        if suffix == ".keras":
            model.save(tmp)
        else:
            import warnings

            import keras

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                keras.saving.save_model(model, tmp)  # legacy HDF5 ("motionblur.h5")
    return path


def _looks_like(path: Path) -> str:
    """'keras', 'h5' or '' from the file's first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "keras"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5"
    return ""


def check_model(model: keras.Model, path: str | os.PathLike | None = None) -> keras.Model:
    """Return ``model`` if it maps (batch, 30, 30, 3) to (batch, 2) (or (batch, 1)
    sigmoid); raise ModelFileError otherwise."""
    where = f"{path}: " if path is not None else ""
    try:
        in_shape = tuple(model.inputs[0].shape)
        out_shape = tuple(model.outputs[0].shape)
        n_in, n_out = len(model.inputs), len(model.outputs)
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}not a blurlib patch classifier ({exc}); {_FIX}") from exc
    if (
        n_in != 1
        or n_out != 1
        or in_shape[1:] != (PATCH, PATCH, 3)
        or out_shape[1:]
        not in (
            (2,),
            (1,),
        )
    ):
        raise ModelFileError(
            f"{where}not a blurlib patch classifier: it maps {in_shape} to {out_shape}, "
            f"expected (None, {PATCH}, {PATCH}, 3) to (None, 2); {_FIX}"
        )
    return model


def load_model(path: str | os.PathLike | None = None, *, compile: bool = False) -> keras.Model:
    """Return the model stored at ``path`` (.keras or .h5); ``None`` loads the shipped
    default ``blurlib/nets/default.keras``; ``"analysis"`` the shipped blur-analysis model
    (kind / direction / length heads). Raises ModelFileError for missing/corrupt/foreign
    files."""
    if isinstance(path, str) and path in NAMED_MODELS:
        if not ANALYSIS_MODEL_PATH.is_file():
            raise ModelFileError(
                f"{ANALYSIS_MODEL_PATH}: the shipped analysis model is missing; train one with "
                "`python -m blurlib.training.analysis --out runs/analysis` and copy its "
                "model.keras there"
            )
        with resources.as_file(ANALYSIS_MODEL_PATH) as real:
            return _load_file(Path(real), compile)
    if path is None:
        default = DEFAULT_MODEL_PATH
        if not default.is_file():
            raise ModelFileError(
                f"{default}: the shipped default model does not exist yet; train one with "
                "`python -m blurlib train` and copy its model.keras there, or pass --model PATH"
            )
        with resources.as_file(default) as real:  # a real file even from a zipped package
            return _load_file(Path(real), compile)
    return _load_file(Path(path), compile)


def _load_file(path: Path, compile: bool) -> keras.Model:
    """Load and check the model file at ``path`` (see :func:`load_model`)."""
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found; {_FIX}")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file; {_FIX}")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: model files end in .keras or .h5; {_FIX}")
    kind = _looks_like(path)
    want = "keras" if suffix == ".keras" else "h5"
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: the file is empty; {_FIX}")
    if kind != want:
        raise ModelFileError(
            f"{path}: not a {suffix} model file (its contents are not a Keras "
            f"{'zip archive' if want == 'keras' else 'HDF5 file'}); {_FIX}"
        )
    if want == "keras" and not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: the .keras archive is truncated or corrupt; {_FIX}")
    import warnings

    import keras

    from blurlib.nets.neighbours import register

    register()  # the neighbour net's own layers
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # keras raises many kinds for broken files
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load the model ({msg}); {_FIX}") from exc
    from blurlib.nets.analysis import is_analysis_model, is_sun2015_model

    if is_analysis_model(model) or is_sun2015_model(model):  # the blur-analysis nets
        return model
    return check_model(model, path)
