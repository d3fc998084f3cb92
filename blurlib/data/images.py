"""Reading image files: every photo leaves here as an RGB ``uint8`` array ``H×W×3``.

All format quirks are settled here, at the edge, and nowhere deeper:

* grayscale (``L``, ``1``) is replicated into three channels;
* transparency (``RGBA``, ``LA``, palette or ``tRNS`` transparency) is **composited onto
  white**, the way a viewer shows the picture on a white page.  Dropping the alpha channel
  instead would expose whatever colours happen to be stored under transparent pixels,
  which are often black or garbage and would add sharp edges that are not in the picture;
* 16-bit files (grayscale ``I;16``, 16-bit RGB/RGBA/gray+alpha PNG and TIFF) are scaled to
  8 bits with rounding, ``round(v * 255 / 65535)`` — never clipped;
* JPEGs with an EXIF orientation are turned upright (``PIL.ImageOps.exif_transpose``);
* an animated GIF/PNG/WebP or a multi-page TIFF gives its first frame, with a warning that
  names the file and its frame count (an MPO, a phone camera's JPEG with a preview picture
  appended, gives its main picture without one);
* no colour management: embedded ICC profiles are ignored.

:func:`load_image` decodes a file (a path, its bytes, or a binary file object); a
:class:`PhotoRef` names one photo of some source (a file, or a byte range inside a tar) and
decodes it on demand with the same rules. :func:`composite_on_white` is the one home of the
alpha rule, shared with RGBA arrays given to inference.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from blurlib import PATCH
from blurlib.errors import DatasetError, ImageError

__all__ = ["IMAGE_EXTENSIONS", "MAX_PIXELS", "PhotoRef", "composite_on_white", "load_image"]

#: File extensions (lower case) that :func:`folder_images` collects.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

#: Largest image, in pixels, that :func:`load_image` accepts (a 40-megapixel photo is fine).
#: Set to ``None`` to lift the limit.
MAX_PIXELS: int | None = 300_000_000

# Pillow warns above 89 megapixels and refuses above twice that ("decompression bomb").
# Raise (never lower) its limit to ours so that every photo we accept also opens in Pillow.
if Image.MAX_IMAGE_PIXELS is not None and MAX_PIXELS is not None:
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, MAX_PIXELS)

# Formats Pillow may use.  A whitelist keeps Pillow from handing odd files to external
# programs (EPS goes through Ghostscript).  Pillow's JPEG opener also covers MPO, the
# multi-picture JPEGs many phone cameras write.
_WANTED_FORMATS = ("JPEG", "MPO", "PNG", "TIFF", "BMP", "WEBP", "GIF", "PPM")
_SUPPORTED = "JPEG, PNG, TIFF, BMP or WebP"
_EXIF_ORIENTATION = 0x0112


def load_image(source: str | os.PathLike[str] | bytes | bytearray | BinaryIO) -> np.ndarray:
    """Read an image (a path, its bytes, or a binary file object, read from its current
    position and left open) into an RGB uint8 array H×W×3 (raises ImageError if unusable)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(io.BytesIO(bytes(source)), "<bytes>")
    if not isinstance(source, (str, os.PathLike)) and hasattr(source, "read"):
        data, label = _read_stream(source)
        return _decode(data, label)
    if not isinstance(source, (str, os.PathLike)):
        raise ImageError(
            f"cannot read an image from a {type(source).__name__} — pass a path, the file's "
            "bytes, or a file opened in binary mode"
        )
    p = Path(source)
    if not p.exists():
        raise ImageError(f"no such file: {p} — check the path")
    if p.is_dir():
        raise ImageError(
            f"{p} is a folder, not an image file — pass one image file "
            "(blurlib.sources.folder_images lists the images in a folder)"
        )
    try:
        fp = p.open("rb")
    except OSError as e:  # permissions, a broken link, ...
        raise ImageError(f"cannot read {p}: {e.strerror or e} — check its permissions") from e
    with fp:
        return _decode(fp, str(p))


def _read_stream(fp: BinaryIO) -> tuple[io.BytesIO, str]:
    """The rest of an open file object (it stays open) and its name for messages."""
    name = getattr(fp, "name", None)
    label = str(name) if isinstance(name, (str, os.PathLike)) else "<file object>"
    try:
        data = fp.read()
    except Exception as e:  # closed, write-only, a network stream that failed, ...
        raise ImageError(f"cannot read {label}: {_reason(e)} — pass an open, readable file") from e
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{label} is open in text mode — open it in binary mode: open(path, 'rb')")
    return io.BytesIO(bytes(data)), label


# Quoted literals in an exception's text ("b'Token too long: ...'"): file content, never shown.
_QUOTED = re.compile(r"b?'(?:[^'\\]|\\.)*'" + r'|b?"(?:[^"\\]|\\.)*"')


def _reason(e: BaseException) -> str:
    """``Type: message`` of an exception, safe to show: quoted literals (a plugin may quote
    the bytes it choked on) become ``<…>``, unprintable characters go, and it stays short."""
    text = _QUOTED.sub("<…>", str(e))
    text = "".join(c for c in text if c.isprintable()).strip()
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _decode(fp: BinaryIO, label: str) -> np.ndarray:
    """Decode a seekable binary stream into RGB uint8; ``label`` names it in errors."""
    try:
        with warnings.catch_warnings():
            # Between our limit and Pillow's hard limit Pillow only warns; make that an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=_pil_formats())
    except UnidentifiedImageError as e:
        raise ImageError(
            f"{label} is not an image in a supported format ({_SUPPORTED}) — "
            "it may be corrupt or another kind of file; re-save it as JPEG or PNG, or remove it"
        ) from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{label} is too large ({_reason(e)}) — downscale it first") from e
    except Exception as e:  # a format plugin choked on a malformed header
        # Only the exception's type: its text may quote the header bytes, which for a file
        # that is not an image at all can be anything (a text file, a key, ...).
        raise ImageError(
            f"{label} could not be opened as an image ({type(e).__name__} in its header) — "
            "it may be corrupt or another kind of file; re-save it as JPEG or PNG, or remove it"
        ) from e

    with im:
        width, height = im.size
        if MAX_PIXELS is not None and width * height > MAX_PIXELS:
            raise ImageError(
                f"{label} is too large ({width}×{height} = {width * height} pixels, "
                f"limit {MAX_PIXELS}) — downscale it first"
            )
        if min(width, height) < PATCH:
            raise ImageError(
                f"{label} is only {width}×{height} pixels, smaller than one {PATCH}×{PATCH} "
                f"patch — use a photo at least {PATCH} pixels on each side"
            )
        _warn_if_many_frames(im, label)
        rawmode = _rawmode(im)  # the tile list is gone after load()
        _load_pixels(im, label)

        if rawmode is not None and ";16" in rawmode and im.mode in ("RGB", "RGBA"):
            # Pillow keeps only the high byte of 16-bit colour samples; OpenCV reads all 16.
            wide = _decode_16bit_colour(fp, label, _orientation(im))
            if wide is not None:
                return wide
        return _upright_rgb8(im, label)


def _load_pixels(im: Image.Image, label: str) -> None:
    """Decode ``im`` fully: truncated or corrupt data fails here (ImageError), not later."""
    try:
        im.load()
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
        raise ImageError(
            f"{label} is corrupt or truncated ({_reason(e)}) — "
            "re-download or re-export it, or remove it"
        ) from e


def _upright_rgb8(im: Image.Image, label: str) -> np.ndarray:
    """``im`` turned by its EXIF orientation, as RGB uint8; a broken EXIF block only warns
    (it must not make a good photo unusable) and the pixels are used as stored."""
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception as e:
        warnings.warn(
            f"{label}: could not apply its EXIF orientation ({_reason(e)}); "
            "using the pixels as stored",
            stacklevel=4,  # the caller of load_image / load_image_at
        )
    return _to_rgb8(im, label)


def _warn_if_many_frames(im: Image.Image, label: str) -> None:
    """Warn (one line) that only the first frame of an animation or multi-page file is used."""
    if im.format == "MPO":  # the main picture plus previews/depth maps: frame 0 is the photo
        return
    try:
        frames = int(getattr(im, "n_frames", 1))
    except Exception as e:  # counting walks the file: a damaged later frame fails here
        raise ImageError(
            f"{label} is corrupt or truncated ({_reason(e)}) — "
            "re-download or re-export it, or remove it"
        ) from e
    if frames > 1:  # (counting leaves the image on frame 0 again)
        warnings.warn(
            f"{label} holds {frames} frames (an animation or a multi-page file); "
            "using only the first",
            stacklevel=4,
        )


@lru_cache(maxsize=1)
def _pil_formats() -> tuple[str, ...]:
    """The whitelisted formats this Pillow can open (MPO has no opener of its own in some)."""
    Image.init()
    return tuple(f for f in _WANTED_FORMATS if f in Image.OPEN)


def _rawmode(im: Image.Image) -> str | None:
    """The raw sample layout of the first tile (e.g. 'RGB;16B'), if Pillow exposes one."""
    tile = getattr(im, "tile", None)
    if not tile:
        return None
    args = tile[0][3]
    if isinstance(args, tuple):
        args = args[0] if args else None
    return args if isinstance(args, str) else None


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation (1–8) of an opened image; 1 if it has none or it is unreadable."""
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an H×W(×C) array upright for an EXIF orientation, like ImageOps.exif_transpose."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return a.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(a, k=-1)
    if orientation == 7:
        return a[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(a, k=1)
    return a


def _u16_to_u8(a: np.ndarray) -> np.ndarray:
    """Scale 16-bit samples to 8 bits with rounding: round(v * 255 / 65535)."""
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Return an RGBA image H×W×4 (uint8, or float on the 0–255 scale) composited onto white
    as RGB H×W×3 of the same kind: uint8 rounded to nearest, float exact."""
    rgb, alpha = rgba[..., :3], rgba[..., 3:4]
    if rgba.dtype == np.uint8:
        a = alpha.astype(np.uint16)
        out = (rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
        return out.astype(np.uint8)
    a = alpha / 255.0
    return (rgb * a + 255.0 * (1.0 - a)).astype(rgba.dtype, copy=False)


def _gray_to_rgb(g: np.ndarray) -> np.ndarray:
    return np.repeat(g[..., None], 3, axis=2)


def _decode_16bit_colour(fp: BinaryIO, label: str, orientation: int) -> np.ndarray | None:
    """Decode a 16-bit colour PNG/TIFF at full depth with OpenCV; None if OpenCV cannot."""
    import cv2  # only for this rare case; Pillow handles everything else

    fp.seek(0)
    buf = np.frombuffer(fp.read(), dtype=np.uint8)
    a = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if a is None or a.dtype != np.uint16 or a.ndim not in (2, 3):
        return None
    if a.ndim == 2:
        out = _gray_to_rgb(_u16_to_u8(a))
    elif a.shape[2] == 2:  # gray + alpha
        gray = a[..., 0].astype(np.float64) / 65535.0
        alpha = a[..., 1].astype(np.float64) / 65535.0
        out = _gray_to_rgb(np.rint((gray * alpha + 1.0 - alpha) * 255.0).astype(np.uint8))
    elif a.shape[2] == 3:
        out = _u16_to_u8(a[..., ::-1])
    elif a.shape[2] == 4:
        rgb = a[..., 2::-1].astype(np.float64) / 65535.0
        alpha = a[..., 3:4].astype(np.float64) / 65535.0
        out = np.rint((rgb * alpha + 1.0 - alpha) * 255.0).astype(np.uint8)
    else:
        return None
    return np.ascontiguousarray(_orient(out, orientation))


def _to_rgb8(im: Image.Image, label: str) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to an RGB uint8 array."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return np.array(im, dtype=np.uint8)
    if mode.startswith("I;16"):
        return _gray_to_rgb(_u16_to_u8(np.array(im).astype(np.uint16)))
    if mode == "I":  # 32-bit integer; 16-bit PNGs open like this in older Pillow
        a = np.array(im, dtype=np.int64)
        if a.min() >= 0 and a.max() <= 65535:
            return _gray_to_rgb(_u16_to_u8(a.astype(np.uint16)))
        return _gray_to_rgb(_stretch(a))
    if mode == "F":
        a = np.nan_to_num(np.array(im, dtype=np.float64))
        if a.min() >= 0.0 and a.max() <= 1.0:
            return _gray_to_rgb(np.rint(a * 255.0).astype(np.uint8))
        return _gray_to_rgb(_stretch(a))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        return composite_on_white(np.array(im.convert("RGBA"), dtype=np.uint8))
    if mode in ("L", "1"):
        return _gray_to_rgb(np.array(im.convert("L"), dtype=np.uint8))
    try:
        return np.array(im.convert("RGB"), dtype=np.uint8)  # P, CMYK, YCbCr, LAB, HSV, ...
    except Exception as e:
        raise ImageError(
            f"{label} has pixel mode {mode!r}, which cannot be converted to RGB — "
            "re-save it as an 8-bit RGB JPEG or PNG"
        ) from e


def _stretch(a: np.ndarray) -> np.ndarray:
    """Map the value range of an unusual-depth image linearly onto 0–255."""
    lo, hi = float(a.min()), float(a.max())
    if hi <= lo:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.rint((a - lo) * (255.0 / (hi - lo))).astype(np.uint8)


# --------------------------------------------------------------------------- photo refs


def crop_image(
    image: np.ndarray, crop: tuple[int, int, int, int], location: str = "the photo"
) -> np.ndarray:
    """Return the rectangle ``crop`` = ``(x0, y0, x1, y1)`` of ``image`` (a contiguous copy);
    DatasetError naming ``location`` when it does not lie inside the image (a mistake in a
    photo list, not an unreadable photo: never skipped)."""
    x0, y0, x1, y1 = crop
    h, w = image.shape[:2]
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise DatasetError(
            f"{location}: crop={x0},{y0},{x1},{y1} does not lie inside the {w}x{h} photo — "
            "mend the crop in its photo list"
        )
    return np.ascontiguousarray(image[y0:y1, x0:x1])


@dataclass(frozen=True)
class PhotoRef:
    """One photo from some source: a name plus where its bytes are; ``load()`` decodes it.

    ``path`` is the image file, or the tar file when ``member`` is set; then the member's
    bytes are ``size`` bytes at byte ``offset`` of the (uncompressed) tar.  ``crop``
    ``(x0, y0, x1, y1)``, in pixels of the photo as loaded (upright: EXIF orientation
    applied), keeps that rectangle only (a photo
    list's ``crop=`` entry: the part of a photo whose truth is known).  Refs hold no open
    files, so they pickle and can be loaded from several threads or processes.
    """

    name: str
    path: Path
    member: str | None = None
    offset: int | None = None
    size: int | None = None
    crop: tuple[int, int, int, int] | None = None

    @property
    def location(self) -> str:
        """Human-readable place of the photo, for messages."""
        if self.member is None:
            return str(self.path)
        return f"{self.member} (inside {self.path})"

    def load(self) -> np.ndarray:
        """Decode the photo into an RGB uint8 array H×W×3, cropped to ``crop`` if set
        (raises ImageError)."""
        image = self._decode_whole()
        return image if self.crop is None else crop_image(image, self.crop, self.location)

    def _decode_whole(self) -> np.ndarray:
        if self.member is None:
            return load_image(self.path)
        if self.offset is None or self.size is None:
            raise ImageError(f"{self.location}: no offset/size recorded — build refs anew")
        try:
            with self.path.open("rb") as fp:
                fp.seek(self.offset)
                data = fp.read(self.size)
        except OSError as e:
            raise ImageError(
                f"cannot read {self.location}: {e.strerror or e} — check that the tar is there"
            ) from e
        if len(data) != self.size:
            raise ImageError(
                f"{self.location}: the tar file ends early — it changed or is truncated; "
                "download it again (blurlib.sources.fetch_voc2010)"
            )
        return _decode(io.BytesIO(data), self.location)
