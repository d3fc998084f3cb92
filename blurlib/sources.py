"""Stable import path for users: where photos come from, as before the split.

The code lives in :mod:`blurlib.data`: decoding and ``PhotoRef`` in
:mod:`blurlib.data.images`, the bundled photos in :mod:`blurlib.data.samples`, Pascal VOC2010
in :mod:`blurlib.data.voc` and :mod:`blurlib.data.download`, photo sources, lists and
folders in :mod:`blurlib.data.photos`. This module only gathers their public names; code
inside blurlib imports each name from the module that defines it.

``MAX_PIXELS`` here is a copy for reading: to change the limit, set
``blurlib.data.images.MAX_PIXELS``.
"""

from blurlib.data.download import fetch_voc2010
from blurlib.data.images import IMAGE_EXTENSIONS, MAX_PIXELS, PhotoRef, load_image
from blurlib.data.photos import (
    LIST_TEST_MARKER,
    folder_images,
    iter_photos,
    list_file_refs,
    load_photos,
    photo_refs,
    read_photo_list,
    shrink_to,
)
from blurlib.data.samples import (
    REAL_BLUR_PHOTOS,
    SAMPLE_PHOTOS,
    SamplePhoto,
    real_blur_samples,
    sample_images,
    sample_photos_markdown,
)
from blurlib.data.voc import (
    VOC2010_TAR_APPROX_BYTES,
    VOC2010_TAR_MD5,
    VOC2010_TAR_NAME,
    VOC2010_TAR_URL,
    voc2010_images,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "LIST_TEST_MARKER",
    "MAX_PIXELS",
    "REAL_BLUR_PHOTOS",
    "SAMPLE_PHOTOS",
    "VOC2010_TAR_APPROX_BYTES",
    "VOC2010_TAR_MD5",
    "VOC2010_TAR_NAME",
    "VOC2010_TAR_URL",
    "PhotoRef",
    "SamplePhoto",
    "fetch_voc2010",
    "folder_images",
    "iter_photos",
    "list_file_refs",
    "load_image",
    "load_photos",
    "photo_refs",
    "read_photo_list",
    "real_blur_samples",
    "sample_images",
    "sample_photos_markdown",
    "shrink_to",
    "voc2010_images",
]
