"""Where photos come from: robust decoding, bundled sample photos, Pascal VOC2010, folders.

Every photo leaves this module as an RGB ``uint8`` array of shape ``H×W×3``; all format
quirks are settled here, at the edge, and nowhere deeper:

* grayscale (``L``, ``1``) is replicated into three channels;
* transparency (``RGBA``, ``LA``, palette or ``tRNS`` transparency) is **composited onto
  white**, the way a viewer shows the picture on a white page.  Dropping the alpha channel
  instead would expose whatever colours happen to be stored under transparent pixels,
  which are often black or garbage and would add sharp edges that are not in the picture;
* 16-bit files (grayscale ``I;16``, 16-bit RGB/RGBA/gray+alpha PNG and TIFF) are scaled to
  8 bits with rounding, ``round(v * 255 / 65535)`` — never clipped;
* JPEGs with an EXIF orientation are turned upright (``PIL.ImageOps.exif_transpose``);
* no colour management: embedded ICC profiles are ignored.

Sources of photos, all behind one entry point, :func:`photo_refs`:

* ``"sample"`` — photographs that ship inside the scikit-image wheel (see
  :data:`SAMPLE_PHOTOS`); read straight from the installed package, never downloaded;
* ``"voc2010"`` — Pascal VOC2010 trainval, from the ``VOCdevkit`` folder, the ``VOC2010``
  folder in it, or the official tar itself (read in place, not extracted);
  :func:`fetch_voc2010` downloads and verifies the tar;
* any folder of images, searched recursively, in a reproducible order.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from blurlib import PATCH
from blurlib.errors import DatasetError, ImageError

__all__ = [
    "IMAGE_EXTENSIONS",
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
    "load_image",
    "photo_refs",
    "real_blur_samples",
    "sample_images",
    "sample_photos_markdown",
    "voc2010_images",
]

# --------------------------------------------------------------------------- decoding

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


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file into an RGB uint8 array H×W×3 (raises ImageError if unusable)."""
    p = Path(path)
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
        raise ImageError(f"{label} is too large ({e}) — downscale it first") from e
    except Exception as e:  # a format plugin choked on a malformed header
        raise ImageError(
            f"{label} could not be opened as an image ({type(e).__name__}: {e}) — it may be "
            "corrupt; re-save it as JPEG or PNG, or remove it"
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
        rawmode = _rawmode(im)  # the tile list is gone after load()
        try:
            im.load()  # full decode: truncated or corrupt data fails here, not later
        except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
            raise ImageError(
                f"{label} is corrupt or truncated ({type(e).__name__}: {e}) — "
                "re-download or re-export it, or remove it"
            ) from e

        if rawmode is not None and ";16" in rawmode and im.mode in ("RGB", "RGBA"):
            # Pillow keeps only the high byte of 16-bit colour samples; OpenCV reads all 16.
            wide = _decode_16bit_colour(fp, label, _orientation(im))
            if wide is not None:
                return wide
        try:
            ImageOps.exif_transpose(im, in_place=True)
        except Exception as e:  # a broken EXIF block must not make a good photo unusable
            warnings.warn(
                f"{label}: could not apply its EXIF orientation ({e}); using the pixels as stored",
                stacklevel=3,
            )
        return _to_rgb8(im, label)


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


def _flatten_alpha(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite uint8 RGB with uint8 alpha onto white, rounding to nearest."""
    a = alpha.astype(np.uint16)[..., None]
    out = (rgb.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


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
        rgba = np.array(im.convert("RGBA"), dtype=np.uint8)
        return _flatten_alpha(rgba[..., :3], rgba[..., 3])
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


@dataclass(frozen=True)
class PhotoRef:
    """One photo from some source: a name plus where its bytes are; ``load()`` decodes it.

    ``path`` is the image file, or the tar file when ``member`` is set; then the member's
    bytes are ``size`` bytes at byte ``offset`` of the (uncompressed) tar.  Refs hold no
    open files, so they pickle and can be loaded from several threads or processes.
    """

    name: str
    path: Path
    member: str | None = None
    offset: int | None = None
    size: int | None = None

    @property
    def location(self) -> str:
        """Human-readable place of the photo, for messages."""
        if self.member is None:
            return str(self.path)
        return f"{self.member} (inside {self.path})"

    def load(self) -> np.ndarray:
        """Decode the photo into an RGB uint8 array H×W×3 (raises ImageError)."""
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


def photo_refs(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    voc_root: str | os.PathLike[str] | None = None,
    voc_split: str = "trainval",
) -> list[PhotoRef]:
    """List the photos of a source: "sample" (or ``"sample:camera,coins"`` for some of them),
    "voc2010" (needs voc_root), a folder path,
    a ``.txt`` list of image paths (``read_photo_list``; ``list.txt:test`` picks the photos
    after its ``# [test]`` line, ``list.txt:all`` every photo), or a list of such sources.

    Names: the sample name; the VOC image id (e.g. "2008_000123"); for a folder the path
    relative to it without extension (with it where two files differ only in extension).
    A ``Path`` source is always a folder, so ``Path("sample")`` means a folder of that name.
    """
    if not isinstance(source, (str, os.PathLike)):
        return _many_refs(list(source), voc_root, voc_split)
    if source == "sample":
        data_dir = _skimage_data_dir()
        return [PhotoRef(s.name, data_dir / s.file) for s in SAMPLE_PHOTOS]
    if isinstance(source, str) and source.startswith("sample:"):
        return _sample_subset(source)
    if source == "voc2010":
        if voc_root is None:
            raise DatasetError(
                "source 'voc2010' needs voc_root: the VOCdevkit folder, the VOC2010 folder "
                f"or the {VOC2010_TAR_NAME} file (blurlib.sources.fetch_voc2010 downloads it)"
            )
        return voc2010_images(voc_root, voc_split)
    text = str(source)
    for section in ("train", "test", "all"):
        if text.endswith(f".txt:{section}") and Path(text[: -len(section) - 1]).is_file():
            return list_file_refs(text[: -len(section) - 1], section)
    root = Path(source)
    if not root.exists():
        raise DatasetError(
            f"unknown photo source {str(source)!r}: not 'sample', not 'voc2010' and no such "
            "folder — check the path"
        )
    if root.is_file() and root.suffix.lower() == ".txt":
        return list_file_refs(root)
    files = folder_images(root)
    rel = [f.relative_to(root).as_posix() for f in files]
    stems = [r.rsplit(".", 1)[0] for r in rel]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    # Name = relative path without extension; keep the extension where that is ambiguous
    # ("a.jpg" and "a.png" side by side), so names stay unique.
    return [
        PhotoRef(stem if counts[stem] == 1 else r, f)
        for f, r, stem in zip(files, rel, stems, strict=True)
    ]


LIST_TEST_MARKER = "# [test]"


def read_photo_list(path: str | os.PathLike[str], section: str = "train") -> list[Path]:
    """Return the image paths listed in a text file, one per line.

    ``#`` starts a comment; blank lines are skipped; relative paths are relative to the
    file; ``sample:camera,coins`` lists bundled photos (:data:`SAMPLE_PHOTOS`). A line that
    is exactly ``# [test]`` splits the list: ``section="train"`` gives the paths before it,
    ``"test"`` those after it, ``"all"`` both. Missing files are an error.
    """
    if section not in ("train", "test", "all"):
        raise ValueError(f"section must be 'train', 'test' or 'all', got {section!r}")
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read the photo list {path}: {e} — check the path") from e
    part = "train"
    out: list[Path] = []
    for raw in lines:
        if raw.strip() == LIST_TEST_MARKER:
            part = "test"
            continue
        entry = raw.split("#", 1)[0].strip()
        if not entry or (section != "all" and part != section):
            continue
        if entry.startswith("sample:"):
            out.extend(ref.path for ref in _sample_subset(entry))
            continue
        photo = Path(entry) if Path(entry).is_absolute() else path.parent / entry
        if not photo.is_file():
            raise DatasetError(
                f"{path}: listed photo {photo} does not exist — install the package that "
                "ships it (see the list's header) or remove the line"
            )
        out.append(photo)
    if not out:
        raise DatasetError(f"the photo list {path} names no {section} photos")
    return out


def _unique_names(paths: list[Path]) -> list[str]:
    """Shortest trailing path (without extension) that tells each photo apart."""
    parts = [list(p.with_suffix("").parts) for p in paths]
    names = []
    for mine in parts:
        for k in range(1, len(mine) + 1):
            tail = mine[-k:]
            if sum(1 for other in parts if other[-k:] == tail) == 1:
                break
        names.append("/".join(tail))
    return names


def list_file_refs(path: str | os.PathLike[str], section: str = "train") -> list[PhotoRef]:
    """Refs for the photos of a list file (see ``read_photo_list``), named uniquely; bundled
    photos listed as ``sample:camera,coins`` keep their sample names."""
    files = read_photo_list(path, section)
    samples: dict[Path, str] = {}
    sample_files = {s.file for s in SAMPLE_PHOTOS}
    if any(f.name in sample_files for f in files):
        samples = {r.path: r.name for r in photo_refs("sample")}
    others = [f for f in files if f not in samples]
    names = dict(zip(others, _unique_names(others), strict=True))
    refs = [PhotoRef(samples.get(f) or names[f], f) for f in files]
    seen: set[str] = set()
    for ref in refs:
        if ref.name in seen:
            raise DatasetError(
                f"{path}: two photos are both named {ref.name!r}; list each photo once and "
                "rename a file that shares a bundled photo's name"
            )
        seen.add(ref.name)
    return refs


def _sample_subset(source: str) -> list[PhotoRef]:
    """``"sample:camera,coins"`` → those bundled photos, in the order named."""
    wanted = [n.strip() for n in source[len("sample:") :].split(",") if n.strip()]
    by_name = {s.name: s for s in SAMPLE_PHOTOS}
    unknown = [n for n in wanted if n not in by_name]
    if not wanted or unknown:
        what = f"unknown sample photo(s) {', '.join(unknown)}" if unknown else "no names"
        raise DatasetError(
            f"{what} in source {source!r}; the bundled photos are: {', '.join(by_name)}"
        )
    if len(set(wanted)) != len(wanted):
        raise DatasetError(f"source {source!r} names a sample photo twice")
    data_dir = _skimage_data_dir()
    return [PhotoRef(n, data_dir / by_name[n].file) for n in wanted]


def _many_refs(
    sources: list[str | os.PathLike[str]],
    voc_root: str | os.PathLike[str] | None,
    voc_split: str,
) -> list[PhotoRef]:
    refs: list[PhotoRef] = []
    for src in sources:
        refs.extend(photo_refs(src, voc_root=voc_root, voc_split=voc_split))
    seen: set[str] = set()
    for ref in refs:
        if ref.name in seen:
            raise DatasetError(
                f"two photos are both named {ref.name!r} across the sources "
                f"{', '.join(map(str, sources))}; rename one or use one source"
            )
        seen.add(ref.name)
    return refs


def shrink_to(image: np.ndarray, max_side: int) -> np.ndarray:
    """Return ``image`` shrunk (area interpolation) so its longer side is at most ``max_side``."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    import cv2

    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_photos(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    max_side: int | None = None,
    voc_root: str | os.PathLike[str] | None = None,
    voc_split: str = "trainval",
) -> list[tuple[str, np.ndarray]]:
    """Return ``(name, image)`` for every photo of a source, shrunk to ``max_side`` if given."""
    out = []
    for ref in photo_refs(source, voc_root=voc_root, voc_split=voc_split):
        image = ref.load()
        out.append((ref.name, shrink_to(image, max_side) if max_side else image))
    return out


def iter_photos(
    source: str | os.PathLike[str],
    voc_root: str | os.PathLike[str] | None = None,
    voc_split: str = "trainval",
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, RGB uint8 image) for each readable photo; warn about and skip the rest."""
    for ref in photo_refs(source, voc_root=voc_root, voc_split=voc_split):
        try:
            image = ref.load()
        except ImageError as e:
            warnings.warn(f"skipping unreadable photo: {e}", stacklevel=2)
            continue
        yield ref.name, image


# --------------------------------------------------------------------------- sample photos


@dataclass(frozen=True)
class SamplePhoto:
    """A photo shipped in the scikit-image wheel, with its provenance."""

    name: str
    file: str
    description: str
    licence: str


#: Photographs from the scikit-image wheel used as sharp training photos, in a fixed order.
#: Licences and sources as stated in the ``skimage.data`` docstrings.
#:
#: Left out on purpose: ``clock_motion.png`` (real motion blur — see
#: :func:`real_blur_samples`), drawings and synthetic images (``horse``, ``logo``,
#: ``color``, ``phantom``, ``chessboard_*``), scans and text (``page``, ``text``),
#: microscopy and medical images (``ihc``, ``cell``, ``retina``, ``microaneurysms``),
#: ``hubble_deep_field`` (almost all black sky), ``moon`` (very low contrast, no licence
#: stated) and ``motorcycle_right`` (nearly the same picture as ``motorcycle_left``).
SAMPLE_PHOTOS: tuple[SamplePhoto, ...] = (
    SamplePhoto(
        "astronaut",
        "astronaut.png",
        "Portrait of astronaut Eileen Collins (NASA), colour, 512×512",
        "Public domain (NASA Great Images, https://flic.kr/p/r9qvLn)",
    ),
    SamplePhoto(
        "brick",
        "brick.png",
        "Section of a brick wall, grayscale texture, 512×512",
        "CC0 (CC0Textures 'Bricks25'; perspective-corrected and rescaled by scikit-image)",
    ),
    SamplePhoto(
        "camera",
        "camera.png",
        "Man with a camera on a tripod in a field, grayscale, 512×512",
        "CC0, photographer Lav Varshney",
    ),
    SamplePhoto(
        "chelsea",
        "chelsea.png",
        "Chelsea the cat, colour, 451×300",
        "CC0, photographer Stefan van der Walt",
    ),
    SamplePhoto(
        "coffee",
        "coffee.png",
        "Cup of coffee on a wooden table (Pikolo Espresso Bar), colour, 600×400",
        "CC0, photographer Rachel Michetti",
    ),
    SamplePhoto(
        "coins",
        "coins.png",
        "Greek coins from Pompeii, grayscale, 384×303",
        "No known copyright restrictions (Brooklyn Museum collection)",
    ),
    SamplePhoto(
        "grass",
        "grass.png",
        "Grass, grayscale texture, 512×512",
        "CC0 (DeviantArt 'Grass-01' by linolafett; cropped, grayscale)",
    ),
    SamplePhoto(
        "gravel",
        "gravel.png",
        "Gravel, grayscale texture, 512×512",
        "CC0 (CC0Textures 'Gravel04'; rescaled, cropped, grayscale)",
    ),
    SamplePhoto(
        "motorcycle",
        "motorcycle_left.png",
        "Red motorcycle in a workshop (left view of a stereo pair), colour, 741×500",
        "Middlebury 2014 stereo dataset (Scharstein et al., GCPR 2014); no licence stated "
        "in scikit-image — cite the paper",
    ),
    SamplePhoto(
        "rocket",
        "rocket.jpg",
        "Falcon 9 with DSCOVR on the launch pad at dusk (SpaceX), colour, 640×427",
        "Public domain (SpaceX photos)",
    ),
)

#: Real motion-blurred photos in the scikit-image wheel (never used as sharp photos).
REAL_BLUR_PHOTOS: tuple[SamplePhoto, ...] = (
    SamplePhoto(
        "clock",
        "clock_motion.png",
        "Wall clock photographed while the camera moved horizontally, grayscale, 400×300",
        "Public domain, photographer Stefan van der Walt",
    ),
)


def _skimage_data_dir() -> Path:
    """The ``skimage/data`` folder of the installed scikit-image, found without importing it."""
    spec = find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the bundled sample photos come with scikit-image, which is not installed — "
            "pip install scikit-image"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _load_bundled(photos: tuple[SamplePhoto, ...]) -> list[tuple[str, np.ndarray]]:
    data_dir = _skimage_data_dir()
    out = []
    for photo in photos:
        path = data_dir / photo.file
        if not path.is_file():
            raise DatasetError(
                f"scikit-image's bundled photo {path} is missing — reinstall it: "
                "pip install --force-reinstall scikit-image"
            )
        out.append((photo.name, load_image(path)))
    return out


def sample_images() -> list[tuple[str, np.ndarray]]:
    """The bundled sharp sample photos as (name, RGB uint8 image), in SAMPLE_PHOTOS order."""
    return _load_bundled(SAMPLE_PHOTOS)


def real_blur_samples() -> list[tuple[str, np.ndarray]]:
    """Real motion-blurred bundled photos as (name, RGB uint8 image): ("clock", ...)."""
    return _load_bundled(REAL_BLUR_PHOTOS)


def sample_photos_markdown() -> str:
    """A markdown table (name, file, what it is, licence) of SAMPLE_PHOTOS, for the README."""
    lines = ["| name | file | what it is (width×height) | licence / source |", "|---|---|---|---|"]
    lines += [f"| `{p.name}` | `{p.file}` | {p.description} | {p.licence} |" for p in SAMPLE_PHOTOS]
    return "\n".join(lines)


# --------------------------------------------------------------------------- folders


def folder_images(root: str | os.PathLike[str]) -> list[Path]:
    """Every image file under a folder, recursively, sorted by relative POSIX path."""
    base = Path(root)
    if not base.exists():
        raise DatasetError(f"no such folder: {base} — check the path")
    if not base.is_dir():
        raise DatasetError(f"{base} is a file, not a folder — pass the folder that holds images")
    found: list[tuple[str, Path]] = []
    seen_dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:  # a symlink loop or the same folder linked twice
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        # Hidden folders and files (".git", macOS "._x.jpg" resource forks) are skipped.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for fn in filenames:
            if fn.startswith(".") or os.path.splitext(fn)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            path = Path(dirpath, fn)
            found.append((path.relative_to(base).as_posix(), path))
    if not found:
        raise DatasetError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {base} — "
            "put photos there or pick another folder"
        )
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


# --------------------------------------------------------------------------- Pascal VOC2010

VOC2010_TAR_URL = "http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar"
VOC2010_TAR_NAME = "VOCtrainval_03-May-2010.tar"
#: MD5 of the official trainval tar, as in torchvision's ``datasets/voc.py``
#: (``DATASET_YEAR_DICT["2010"]``) and other independent loaders (PASCAL-Context, Pascal-Part).
VOC2010_TAR_MD5 = "da459979d0c395079b5c75ee67908abb"
#: About 1.3 GB.  Approximate only — the exact byte count was not verified; it is used for
#: the disk-space check and the progress bar when the server sends no Content-Length.
VOC2010_TAR_APPROX_BYTES = 1_300_000_000

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
_VOC_HINT = (
    "pass the VOCdevkit folder, the VOC2010 folder inside it, or the "
    f"{VOC2010_TAR_NAME} file (blurlib.sources.fetch_voc2010 downloads it)"
)


def voc2010_images(root: str | os.PathLike[str], split: str = "trainval") -> list[PhotoRef]:
    """The photos of a Pascal VOC2010 split (ImageSets/Main/<split>.txt) as PhotoRefs, by id."""
    if not _SPLIT_NAME.match(split):
        raise DatasetError(f"bad VOC split name {split!r} — use 'train', 'val' or 'trainval'")
    path = Path(root)
    if not path.exists():
        raise DatasetError(f"no such file or folder: {path} — {_VOC_HINT}")
    if path.is_file():
        return _voc_from_tar(path, split)
    for cand in (path, path / "VOC2010", path / "VOCdevkit" / "VOC2010"):
        if (cand / "JPEGImages").is_dir() and (cand / "ImageSets" / "Main").is_dir():
            return _voc_from_folder(cand, split)
    tar = path / VOC2010_TAR_NAME
    if tar.is_file():
        return _voc_from_tar(tar, split)
    raise DatasetError(
        f"{path} is not a Pascal VOC2010 tree: found no JPEGImages/ and ImageSets/Main/ in it, "
        f"in VOC2010/ or in VOCdevkit/VOC2010/ — {_VOC_HINT}"
    )


def _parse_split(text: str) -> list[str]:
    """Image ids of a split file: first column of each non-empty line, duplicates dropped."""
    ids = [line.split()[0] for line in text.splitlines() if line.strip()]
    return list(dict.fromkeys(ids))


def _split_missing(where: str, split: str, available: list[str]) -> DatasetError:
    have = ", ".join(s for s in ("train", "val", "trainval") if s in available) or "none"
    return DatasetError(
        f"{where} has no ImageSets/Main/{split}.txt (splits there: {have}) — "
        "pick one of those, or re-extract the VOC2010 tar"
    )


def _missing_error(where: str, split: str, missing: list[str]) -> DatasetError:
    return DatasetError(
        f"{len(missing)} image(s) listed in ImageSets/Main/{split}.txt are missing from "
        f"{where}/JPEGImages (first: {missing[0]}.jpg) — the copy is incomplete; "
        "re-extract or re-download the VOC2010 tar"
    )


def _voc_from_folder(voc: Path, split: str) -> list[PhotoRef]:
    split_file = voc / "ImageSets" / "Main" / f"{split}.txt"
    if not split_file.is_file():
        available = [p.stem for p in (voc / "ImageSets" / "Main").glob("*.txt")]
        raise _split_missing(str(voc), split, available)
    try:
        ids = _parse_split(split_file.read_text(encoding="utf-8", errors="replace"))
    except OSError as e:
        raise DatasetError(f"cannot read {split_file}: {e.strerror or e}") from e
    jpeg_dir = voc / "JPEGImages"
    present = {e.name for e in os.scandir(jpeg_dir) if e.name.endswith(".jpg")}
    missing = [i for i in ids if f"{i}.jpg" not in present]
    if missing:
        raise _missing_error(str(voc), split, missing)
    if not ids:
        raise DatasetError(f"{split_file} lists no images — re-extract the VOC2010 tar")
    return [PhotoRef(i, jpeg_dir / f"{i}.jpg") for i in ids]


@dataclass(frozen=True)
class _TarIndex:
    prefix: str  # e.g. "VOCdevkit/VOC2010/"
    jpegs: dict[str, tuple[str, int, int]]  # id -> (member name, data offset, size)
    splits: dict[str, str]  # split name -> text of ImageSets/Main/<split>.txt


def _voc_from_tar(tar: Path, split: str) -> list[PhotoRef]:
    st = tar.stat()
    index = _index_tar(str(tar.resolve()), st.st_size, st.st_mtime_ns)
    if split not in index.splits:
        raise _split_missing(f"{tar} ({index.prefix})", split, list(index.splits))
    ids = _parse_split(index.splits[split])
    missing = [i for i in ids if i not in index.jpegs]
    if missing:
        raise _missing_error(f"{tar} ({index.prefix.rstrip('/')})", split, missing)
    if not ids:
        raise DatasetError(f"ImageSets/Main/{split}.txt in {tar} lists no images")
    refs = []
    for i in ids:
        member, offset, size = index.jpegs[i]
        refs.append(PhotoRef(i, tar, member=member, offset=offset, size=size))
    return refs


_TAR_SPLIT = re.compile(r"^(.*?)ImageSets/Main/([^/]+)\.txt$")
_TAR_JPEG = re.compile(r"^(.*?)JPEGImages/([^/]+)\.jpg$")


@lru_cache(maxsize=4)
def _index_tar(tar: str, size: int, mtime_ns: int) -> _TarIndex:
    """Scan a VOC tar's headers once (cached per file version); read only the split files."""
    del size, mtime_ns  # part of the cache key only: a changed tar is indexed anew
    try:
        tf = tarfile.open(tar, mode="r:")  # uncompressed only: members are read in place
    except tarfile.ReadError as e:
        try:
            with tarfile.open(tar, mode="r:*"):
                compressed = True
        except tarfile.TarError:
            compressed = False
        if compressed:
            raise DatasetError(
                f"{tar} is a compressed tar, which cannot be read in place — extract it "
                "(tar -xf ...) and pass the VOCdevkit folder, or use the official "
                f"uncompressed {VOC2010_TAR_NAME}"
            ) from e
        raise DatasetError(f"{tar} is not a tar file — {_VOC_HINT}") from e
    except OSError as e:
        raise DatasetError(f"cannot read {tar}: {e.strerror or e}") from e

    jpegs: dict[str, dict[str, tuple[str, int, int]]] = {}
    splits: dict[str, dict[str, str]] = {}
    try:
        with tf:
            for m in tf:
                if not m.isfile() or m.issparse():
                    continue
                name = m.name.removeprefix("./")
                if mj := _TAR_JPEG.match(name):
                    jpegs.setdefault(mj[1], {})[mj[2]] = (m.name, m.offset_data, m.size)
                elif ms := _TAR_SPLIT.match(name):
                    fobj = tf.extractfile(m)
                    if fobj is not None:
                        text = fobj.read().decode("utf-8", errors="replace")
                        splits.setdefault(ms[1], {})[ms[2]] = text
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DatasetError(
            f"{tar} is damaged or truncated ({e}) — download it again with fetch_voc2010"
        ) from e

    prefixes = sorted(p for p in splits if p in jpegs)
    if not prefixes:
        raise DatasetError(
            f"{tar} holds no Pascal VOC tree (no JPEGImages/ next to ImageSets/Main/) — {_VOC_HINT}"
        )
    if len(prefixes) > 1:
        voc2010 = [p for p in prefixes if p.rstrip("/").endswith("VOC2010")]
        if len(voc2010) != 1:
            raise DatasetError(
                f"{tar} holds several VOC trees ({', '.join(prefixes)}) — extract the one "
                "you want and pass its folder"
            )
        prefixes = voc2010
    prefix = prefixes[0]
    return _TarIndex(prefix=prefix, jpegs=jpegs[prefix], splits=splits[prefix])


# --------------------------------------------------------------------------- download

_CHUNK = 1 << 20


def fetch_voc2010(
    dest: str | os.PathLike[str],
    url: str = VOC2010_TAR_URL,
    md5: str | None = VOC2010_TAR_MD5,
    progress: bool = True,
    *,
    sha1: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download the VOC2010 tar into dest (resuming, checksum-verified) and return its path.

    The bytes go to ``dest/<name>.part``; an existing ``.part`` is resumed with an HTTP
    Range request (a server that ignores Range restarts it from zero).  Only a file whose
    checksum matches is renamed to ``dest/<name>``; if that file already exists and matches,
    nothing is downloaded.  ``file://`` URLs are copied.  ``md5=None`` and ``sha1=None``
    skip the check (for mirrors with other contents).
    """
    folder = Path(dest)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"cannot create {folder}: {e.strerror or e} — pick another dest") from e
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name or VOC2010_TAR_NAME
    final = folder / name
    part = folder / f"{name}.part"

    if final.exists():
        bad = _checksum_mismatch(final, md5, sha1, progress)
        if bad is None:
            return final
        raise DatasetError(
            f"{final} exists but its {bad} — it is not the expected file: delete it and run "
            "fetch_voc2010 again"
        )

    _download(url, part, progress, timeout)
    bad = _checksum_mismatch(part, md5, sha1, progress)
    if bad is not None:
        raise DatasetError(
            f"downloaded {part} but its {bad} — the download is corrupt: delete {part} and "
            "run fetch_voc2010 again"
        )
    os.replace(part, final)
    return final


def _checksum_mismatch(path: Path, md5: str | None, sha1: str | None, progress: bool) -> str | None:
    """None if the file matches the given digests, else a phrase saying what differs."""
    wanted = {k: v.lower() for k, v in (("md5", md5), ("sha1", sha1)) if v}
    if not wanted:
        return None
    hashers = {k: hashlib.new(k) for k in wanted}
    from tqdm.auto import tqdm

    with (
        path.open("rb") as fp,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"checking {path.name}",
            disable=not progress,
        ) as bar,
    ):
        while chunk := fp.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
            bar.update(len(chunk))
    for k, h in hashers.items():
        got = h.hexdigest()
        if got != wanted[k]:
            return f"{k} is {got}, expected {wanted[k]}"
    return None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header such as 'bytes 10-99/100'."""
    m = re.match(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not m:
        return None, None
    start = int(m[1]) if m[1] is not None else None
    total = int(m[2]) if m[2] != "*" else None
    return start, total


def _download(url: str, part: Path, progress: bool, timeout: float) -> None:
    """Fetch url into part, resuming from its current size where the server allows."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "blurlib"}
    resumable = scheme in ("http", "https") and have > 0
    if resumable:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    retry = f"run fetch_voc2010 again to resume from {part}"
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and resumable:  # nothing left to send: the .part may be complete
            _, total = _content_range(e.headers.get("Content-Range"))
            e.close()
            if total is not None and total == have:
                return
            part.unlink()  # longer than the file, or unknown: start afresh
            return _download(url, part, progress, timeout)
        raise DatasetError(f"download of {url} failed: HTTP {e.code} {e.reason} — {retry}") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        raise DatasetError(f"download of {url} failed: {reason} — {retry}") from e

    with response:
        status = getattr(response, "status", None) or response.getcode()
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if resumable and status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != have:
                raise DatasetError(
                    f"{url} answered the resume request with the wrong range "
                    f"({response.headers.get('Content-Range')}) — delete {part} and run again"
                )
            mode, offset = "ab", have
            if total is None and length is not None:
                total = have + length
        else:  # 200, file://, ...: the whole file comes, so start from zero
            mode, offset, total = "wb", 0, length
        if total is None and url == VOC2010_TAR_URL:
            total = VOC2010_TAR_APPROX_BYTES
        if total is not None:
            free = shutil.disk_usage(part.parent).free
            if total - offset > free:
                raise DatasetError(
                    f"not enough disk space in {part.parent}: {total - offset} bytes needed, "
                    f"{free} free — free some space or pick another dest"
                )

        from tqdm.auto import tqdm

        try:
            with (
                part.open(mode) as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=part.name.removesuffix(".part"),
                    disable=not progress,
                ) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        except (OSError, urllib.error.URLError, http.client.HTTPException) as e:
            raise DatasetError(f"download of {url} was interrupted ({e}) — {retry}") from e
    got = part.stat().st_size
    if length is not None and got != offset + length:
        raise DatasetError(
            f"download of {url} stopped early ({got} of {offset + length} bytes) — {retry}"
        )
