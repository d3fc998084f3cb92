"""Pascal VOC2010 trainval as a photo source, read where it lies.

:func:`voc2010_images` takes the ``VOCdevkit`` folder, the ``VOC2010`` folder in it, or the
official tar itself (read in place, not extracted: each photo is a byte range of the tar);
:func:`blurlib.data.download.fetch_voc2010` downloads and verifies the tar.
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from blurlib.data.images import PhotoRef
from blurlib.errors import DatasetError

__all__ = [
    "VOC2010_TAR_APPROX_BYTES",
    "VOC2010_TAR_MD5",
    "VOC2010_TAR_NAME",
    "VOC2010_TAR_URL",
    "voc2010_images",
]

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
