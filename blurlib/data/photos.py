"""Where photos come from, all behind one entry point, :func:`photo_refs`.

* ``"sample"`` — photographs that ship inside the scikit-image wheel (see
  :data:`blurlib.data.samples.SAMPLE_PHOTOS`); read straight from the installed package,
  never downloaded;
* ``"voc2010"`` — Pascal VOC2010 trainval, from the ``VOCdevkit`` folder, the ``VOC2010``
  folder in it, or the official tar itself (read in place, not extracted; see
  :mod:`blurlib.data.voc`);
* any folder of images, searched recursively, in a reproducible order;
* a ``.txt`` list of photo paths (:func:`read_photo_list`).

:func:`load_photos` and :func:`iter_photos` decode the photos of a source;
:func:`shrink_to` brings big photos down to a working size.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from blurlib import PATCH
from blurlib.data.deadleaves import deadleaves_refs
from blurlib.data.images import IMAGE_EXTENSIONS, PhotoRef, crop_image
from blurlib.data.qt_resources import RCC_SEPARATOR, extracted
from blurlib.data.samples import SAMPLE_PHOTOS, _sample_subset, _skimage_data_dir
from blurlib.data.voc import VOC2010_TAR_NAME, voc2010_images
from blurlib.errors import DatasetError, ImageError

__all__ = [
    "LIST_TEST_MARKER",
    "folder_images",
    "iter_photos",
    "list_file_refs",
    "load_photos",
    "photo_refs",
    "read_photo_list",
    "shrink_to",
]


def photo_refs(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    voc_root: str | os.PathLike[str] | None = None,
    voc_split: str = "trainval",
    on_skip: Callable[[str], None] | None = None,
) -> list[PhotoRef]:
    """List the photos of a source: "sample" (or ``"sample:camera,coins"`` for some of them),
    "voc2010" (needs voc_root), ``"deadleaves:N"`` (N synthetic scenes;
    ``"deadleaves-strands:N"``: strands on half their leaves), a folder path, a ``.txt``
    list of image paths (``read_photo_list``; ``list.txt:test`` picks the photos after its
    ``# [test]`` line, ``list.txt:all`` every photo), or a list of such sources.

    Names: the sample name; the VOC image id (e.g. "2008_000123"); for a folder the path
    relative to it without extension (with it where two files differ only in extension).
    A ``Path`` source is always a folder, so ``Path("sample")`` means a folder of that name.
    """
    if not isinstance(source, (str, os.PathLike)):
        return _many_refs(list(source), voc_root, voc_split, on_skip)
    if source == "sample":
        data_dir = _skimage_data_dir()
        return [PhotoRef(s.name, data_dir / s.file) for s in SAMPLE_PHOTOS]
    if isinstance(source, str) and source.startswith("sample:"):
        return _sample_subset(source)
    if isinstance(source, str) and source.startswith(("deadleaves:", "deadleaves-strands:")):
        return deadleaves_refs(source)
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
    files = folder_images(root, on_skip=on_skip)
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


Crop = tuple[int, int, int, int]
_CROP = re.compile(r"\s+crop=(\d+),(\d+),(\d+),(\d+)$")


def read_photo_list(path: str | os.PathLike[str], section: str = "train") -> list[Path]:
    """Return the image paths listed in a text file, one per line.

    ``#`` starts a comment; blank lines are skipped; relative paths are relative to the
    file; ``sample:camera,coins`` lists bundled photos (:data:`SAMPLE_PHOTOS`);
    ``bundle.rcc:/member`` a photo inside a Qt resource bundle (:mod:`.qt_resources`, copied
    once into a cache folder); ``PATH crop=x0,y0,x1,y1`` the rectangle of that photo, in
    pixels of the photo as loaded (upright: EXIF orientation applied; :func:`list_file_refs`
    applies it; a photo whose truth holds in one region only). A line that is exactly
    ``# [test]`` splits the list: ``section="train"`` gives the paths before it, ``"test"``
    those after it, ``"all"`` both. Missing files are an error.
    """
    return [photo for photo, _ in _list_entries(path, section)]


def _list_entries(path: str | os.PathLike[str], section: str) -> list[tuple[Path, Crop | None]]:
    """The photos of a list file with their ``crop=`` rectangles (None: the whole photo)."""
    if section not in ("train", "test", "all"):
        raise ValueError(f"section must be 'train', 'test' or 'all', got {section!r}")
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read the photo list {path}: {e} — check the path") from e
    part = "train"
    out: list[tuple[Path, Crop | None]] = []
    for raw in lines:
        if raw.strip() == LIST_TEST_MARKER:
            part = "test"
            continue
        entry = raw.split("#", 1)[0].strip()
        if not entry or (section != "all" and part != section):
            continue
        crop: Crop | None = None
        found = _CROP.search(entry)
        if found:
            x0, y0, x1, y1 = (int(v) for v in found.groups())
            if not (x0 < x1 and y0 < y1):
                raise DatasetError(
                    f"{path}: crop={x0},{y0},{x1},{y1} is empty — write crop=x0,y0,x1,y1 "
                    "with x0 < x1 and y0 < y1 (pixels of the photo)"
                )
            crop, entry = (x0, y0, x1, y1), entry[: found.start()].strip()
        elif "crop=" in entry:
            raise DatasetError(
                f"{path}: cannot read {entry!r} — write PATH crop=x0,y0,x1,y1 (whole pixels)"
            )
        if entry.startswith("sample:"):
            out.extend((ref.path, crop) for ref in _sample_subset(entry))
            continue
        if RCC_SEPARATOR in entry:  # a photo inside a Qt resource bundle (GCompris)
            bundle, member = entry.split(RCC_SEPARATOR, 1)
            out.append((extracted(path.parent / f"{bundle}.rcc", member), crop))
            continue
        photo = Path(entry) if Path(entry).is_absolute() else path.parent / entry
        if not photo.is_file():
            raise DatasetError(
                f"{path}: listed photo {photo} does not exist — install the package that "
                "ships it (see the list's header) or remove the line"
            )
        out.append((photo, crop))
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
    photos listed as ``sample:camera,coins`` keep their sample names; a ``crop=`` entry
    loads that rectangle only and its name ends in ``@x0,y0,x1,y1``."""
    entries = _list_entries(path, section)
    files = [f for f, _ in entries]
    samples: dict[Path, str] = {}
    sample_files = {s.file for s in SAMPLE_PHOTOS}
    if any(f.name in sample_files for f in files):
        samples = {r.path: r.name for r in photo_refs("sample")}
    others = list(dict.fromkeys(f for f in files if f not in samples))  # a photo listed
    names = dict(zip(others, _unique_names(others), strict=True))  # whole and cropped
    refs = [
        PhotoRef(_crop_name(samples.get(f) or names[f], crop), f, crop=crop) for f, crop in entries
    ]
    seen: set[str] = set()
    for ref in refs:
        if ref.name in seen:
            raise DatasetError(
                f"{path}: two photos are both named {ref.name!r}; list each photo (or crop) "
                "once, and rename a file that shares a bundled photo's name"
            )
        seen.add(ref.name)
    return refs


def _crop_name(name: str, crop: Crop | None) -> str:
    """A cropped photo's name: the photo's, then ``@x0,y0,x1,y1``."""
    return name if crop is None else f"{name}@{','.join(map(str, crop))}"


def _many_refs(
    sources: list[str | os.PathLike[str]],
    voc_root: str | os.PathLike[str] | None,
    voc_split: str,
    on_skip: Callable[[str], None] | None = None,
) -> list[PhotoRef]:
    refs: list[PhotoRef] = []
    for src in sources:
        refs.extend(photo_refs(src, voc_root=voc_root, voc_split=voc_split, on_skip=on_skip))
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
    refs = photo_refs(source, voc_root=voc_root, voc_split=voc_split)
    return [(ref.name, load_ref(ref, max_side)) for ref in refs]


def load_ref(ref: PhotoRef, max_side: int | None = None) -> np.ndarray:
    """Decode ``ref`` shrunk to ``max_side`` if given. A cropped ref (a list's ``crop=``) is
    the same region at that scale: the whole photo is shrunk, then its crop, scaled alike, cut
    out (so a crop is seen at the scale of its photo, not of its own size); DatasetError if
    the crop lies outside the photo or comes out smaller than one patch."""
    if ref.crop is None:
        image = ref.load()
        return shrink_to(image, max_side) if max_side else image
    whole = replace(ref, crop=None).load()
    crop_image(whole, ref.crop, ref.location)  # checked in the photo's own pixels
    small = shrink_to(whole, max_side) if max_side else whole
    (sh, sw), (h, w) = small.shape[:2], whole.shape[:2]
    x0, y0, x1, y1 = ref.crop
    c0, r0 = min(round(x0 * sw / w), sw - 1), min(round(y0 * sh / h), sh - 1)
    c1, r1 = max(c0 + 1, min(sw, round(x1 * sw / w))), max(r0 + 1, min(sh, round(y1 * sh / h)))
    if min(c1 - c0, r1 - r0) < PATCH:
        raise DatasetError(
            f"{ref.location}: crop={x0},{y0},{x1},{y1} is {c1 - c0}×{r1 - r0} px"
            + (f" at max side {max_side}" if max_side else "")
            + f", smaller than one {PATCH}×{PATCH} patch — use a larger crop"
            + (" or max side" if max_side else "")
        )
    return crop_image(small, (c0, r0, c1, r1), ref.location)


def warn_skip(message: str) -> None:
    """The library's default way to tell of a skipped photo: a Python warning naming it."""
    warnings.warn(f"skipping unreadable photo: {message}", stacklevel=3)


def iter_photos(
    source: str | os.PathLike[str],
    voc_root: str | os.PathLike[str] | None = None,
    voc_split: str = "trainval",
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (name, RGB uint8 image) for each readable photo; skip the rest, telling
    ``on_skip(message)`` (default None: a Python warning; the CLI prints to stderr instead)."""
    tell_unreadable = on_skip or warn_skip
    for ref in photo_refs(source, voc_root=voc_root, voc_split=voc_split, on_skip=on_skip):
        try:
            image = ref.load()
        except ImageError as e:
            tell_unreadable(str(e))
            continue
        yield ref.name, image


def folder_images(
    root: str | os.PathLike[str],
    follow_links: bool = False,
    on_skip: Callable[[str], None] | None = None,
) -> list[Path]:
    """Every image file under a folder, recursively, sorted by relative POSIX path.

    Symbolic links (to files or folders) are followed while their target lies inside the
    folder; links that lead out of it are skipped, told once (a Python warning, or
    ``on_skip(message)`` — the CLI prints it), unless ``follow_links=True``. Hidden files and
    folders are skipped.
    """
    base = Path(root)
    if not base.exists():
        raise DatasetError(f"no such folder: {base} — check the path")
    if not base.is_dir():
        raise DatasetError(f"{base} is a file, not a folder — pass the folder that holds images")
    real_base = os.path.realpath(base)

    def leaves(path: str) -> bool:
        """Whether ``path`` is a link whose target lies outside the folder (and we care)."""
        if follow_links or not os.path.islink(path):
            return False
        target = os.path.realpath(path)
        try:
            return os.path.commonpath([real_base, target]) != real_base
        except ValueError:  # another drive (Windows)
            return True

    found: list[tuple[str, Path]] = []
    seen_dirs: set[str] = set()
    outside: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:  # a symlink loop or the same folder linked twice
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        # Hidden folders and files (".git", macOS "._x.jpg" resource forks) are skipped.
        kept = []
        for d in dirnames:
            if d.startswith("."):
                continue
            if leaves(os.path.join(dirpath, d)):
                outside.append(os.path.join(dirpath, d))
                continue
            kept.append(d)
        dirnames[:] = kept
        for fn in filenames:
            if fn.startswith(".") or os.path.splitext(fn)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            if leaves(os.path.join(dirpath, fn)):
                outside.append(os.path.join(dirpath, fn))
                continue
            path = Path(dirpath, fn)
            found.append((path.relative_to(base).as_posix(), path))
    if outside:
        message = (
            f"{base}: skipped {len(outside)} link(s) that lead out of the folder "
            f"(e.g. {sorted(outside)[0]}); pass follow_links=True to include them"
        )
        if on_skip is None:
            warnings.warn(message, stacklevel=2)
        else:
            on_skip(message)
    if not found:
        raise DatasetError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {base} — "
            "put photos there or pick another folder"
        )
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]
