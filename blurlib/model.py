"""The patch classifiers: the stable import path for users.

``from blurlib import model; model.load_model()`` keeps working: this facade names the
public functions and constants, and nothing else. The code lives in :mod:`blurlib.nets`:

- :mod:`blurlib.nets.builders` — :func:`build_model`, :func:`compile_model`,
  :func:`blur_probability`, :data:`MODEL_NAMES`;
- :mod:`blurlib.nets.flops` — :func:`count_params`, :func:`count_flops`, :func:`summary_line`;
- :mod:`blurlib.nets.files` — :func:`save_model`, :func:`check_model`, :func:`load_model`,
  :data:`DEFAULT_MODEL_PATH` (the shipped ``blurlib/nets/default.keras``);
- :mod:`blurlib.nets.fully_conv` — :func:`native_stride`, :func:`to_fully_convolutional`.

Code inside blurlib imports from those modules, not from here.
"""

from blurlib.nets.builders import MODEL_NAMES, blur_probability, build_model, compile_model
from blurlib.nets.files import (
    DEFAULT_MODEL_PATH,
    MODEL_SUFFIXES,
    check_model,
    default_model_path,
    load_model,
    save_model,
)
from blurlib.nets.flops import count_flops, count_params, summary_line
from blurlib.nets.fully_conv import native_stride, to_fully_convolutional

__all__ = [
    "DEFAULT_MODEL_PATH",
    "MODEL_NAMES",
    "MODEL_SUFFIXES",
    "blur_probability",
    "build_model",
    "check_model",
    "compile_model",
    "count_flops",
    "count_params",
    "default_model_path",
    "load_model",
    "native_stride",
    "save_model",
    "summary_line",
    "to_fully_convolutional",
]
