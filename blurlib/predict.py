"""Inference on whole photos: the stable import path for users.

``from blurlib import predict; predict.blur_map(model, image)`` keeps working: this facade
names the public functions and constants, and nothing else. The code lives in
:mod:`blurlib.inference`:

- :mod:`blurlib.inference.windows` — :func:`patch_probabilities`,
  :func:`window_probabilities`, :func:`windows_by_cropping`, :func:`window_grid_shape`,
  :func:`fully_convolutional`, :func:`clear_cache` (geometry, exactness and tiling are
  described there);
- :mod:`blurlib.inference.maps` — :func:`blur_map`, :func:`windows_to_map`,
  :func:`predict_many`;
- :mod:`blurlib.inference.photos` — :func:`analyse`, :class:`PhotoResult`,
  :func:`save_outputs`, :func:`window_std`, :func:`window_detail`, :func:`texture_mask`;
- :mod:`blurlib.inference.analysis` — :func:`patch_analysis`, :func:`dense_analysis`,
  :func:`kind_maps`, :class:`PatchAnalysis`, :func:`summarize_analysis` (blur kind, motion
  direction and length; they need ``blurlib.model.load_model("analysis")``);
- :mod:`blurlib.inference.rank` — :func:`rank_photos`, :class:`PhotoRecord` (a folder ranked
  by motion blur, bursts grouped: the ``rank`` command's library face).

Code inside blurlib imports from those modules, not from here.
"""

from blurlib.inference.analysis import (
    PatchAnalysis,
    dense_analysis,
    kind_maps,
    patch_analysis,
    summarize_analysis,
)
from blurlib.inference.maps import blur_map, predict_many, windows_to_map
from blurlib.inference.photos import (
    TEXTURE_STD,
    PhotoResult,
    analyse,
    save_outputs,
    texture_mask,
    window_detail,
    window_std,
)
from blurlib.inference.rank import PhotoRecord, rank_photos
from blurlib.inference.windows import (
    DEFAULT_BATCH,
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    clear_cache,
    fully_convolutional,
    patch_probabilities,
    window_grid_shape,
    window_probabilities,
    windows_by_cropping,
)

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_STRIDE",
    "DEFAULT_TILE",
    "TEXTURE_STD",
    "PatchAnalysis",
    "PhotoRecord",
    "PhotoResult",
    "analyse",
    "blur_map",
    "clear_cache",
    "dense_analysis",
    "fully_convolutional",
    "kind_maps",
    "patch_analysis",
    "patch_probabilities",
    "predict_many",
    "rank_photos",
    "save_outputs",
    "summarize_analysis",
    "texture_mask",
    "window_detail",
    "window_grid_shape",
    "window_probabilities",
    "window_std",
    "windows_by_cropping",
    "windows_to_map",
]
