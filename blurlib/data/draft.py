"""Reading a photo straight at a working size: JPEGs through the decoder's DCT scaling.

A camera's 12-megapixel JPEG analysed at 1280 px does not need its 12 million pixels: the
JPEG decoder can produce 1/2, 1/4 or 1/8 of the size directly from the DCT coefficients
(Pillow's :meth:`PIL.Image.Image.draft`), several times faster than a full decode.
:func:`load_image_at` asks for the smallest such scale that still has at least the working
size, then shrinks to the working size exactly as a fully decoded photo is shrunk
(:func:`blurlib.data.photos.shrink_to`, area interpolation), so the result differs from
``shrink_to(load_image(path), max_side)`` only by the decoder's scaling (a gray level or two
per pixel; see ``tests/test_rank.py`` for the effect on the blur shares).

Everything else — PNG, TIFF, WebP, a JPEG already small enough, anything Pillow's JPEG
opener refuses — goes through :func:`blurlib.data.images.load_image` itself, and a JPEG read
here follows the same rules: the same size limits, EXIF orientation, mode conversion and
:class:`blurlib.errors.ImageError` messages.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image

from blurlib import PATCH
from blurlib.data import images
from blurlib.data.photos import shrink_to

__all__ = ["load_image_at"]

_JPEG = ("JPEG", "MPO")


def load_image_at(path: str | os.PathLike[str], max_side: int | None) -> np.ndarray:
    """Return the photo at ``path`` as RGB uint8 H×W×3 with its longer side at most
    ``max_side`` (None or 0: full size), JPEGs decoded at reduced size; raises ImageError."""
    if not max_side:
        return images.load_image(path)
    if isinstance(path, (str, os.PathLike)):
        decoded = _jpeg_at(os.fspath(path), int(max_side))
        if decoded is not None:
            return decoded
    return shrink_to(images.load_image(path), max_side)


def _target(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) that :func:`blurlib.data.photos.shrink_to` gives a width×height photo."""
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _jpeg_at(path: str, max_side: int) -> np.ndarray | None:
    """A JPEG decoded at the smallest DCT scale that keeps both sides at least as large as
    ``shrink_to``'s result, then area-resized to exactly that size; None when the file is not
    a JPEG (or needs no shrinking), so that ``load_image`` reads it."""
    try:
        fp = open(path, "rb")
    except OSError:
        return None  # load_image names the problem
    with fp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(fp, formats=_JPEG)
        except Exception:  # not a JPEG, or a broken one: load_image says which
            return None
        with im:
            width, height = im.size
            if max(width, height) <= max_side or im.format not in _JPEG:
                return None
            if images.MAX_PIXELS is not None and width * height > images.MAX_PIXELS:
                return None  # load_image refuses it with its own message
            if min(width, height) < PATCH:
                return None
            want = _target(width, height, max_side)  # as stored (before EXIF orientation)
            # the decoder keeps both sides ≥ the requested ones: never below the working size
            im.draft("RGB", want)
            if images._orientation(im) in (5, 6, 7, 8):  # turned a quarter: sides swap
                want = (want[1], want[0])
            images._load_pixels(im, path)
            rgb = images._upright_rgb8(im, path)
    if (rgb.shape[1], rgb.shape[0]) == want:
        return rgb
    import cv2

    return cv2.resize(rgb, want, interpolation=cv2.INTER_AREA)
