"""blurlib: patch-level motion-blur detection with a CNN.

Importing ``blurlib`` is cheap: TensorFlow/Keras are imported only by the modules that
need them (``model``, ``train``, ``predict``).
"""

from __future__ import annotations

from blurlib.errors import BlurlibError, DatasetError, ImageError, ModelFileError

__version__ = "0.1.0"
PATCH = 30  # side of a patch in pixels, as in the report

__all__ = ["PATCH", "BlurlibError", "DatasetError", "ImageError", "ModelFileError", "__version__"]
