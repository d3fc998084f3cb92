"""Photos stored inside Qt resource bundles (``.rcc`` files), as some Debian packages ship them.

GCompris (``gcompris-qt-data``) keeps its photographs — wildlife, farm animals, monuments —
in ``/usr/share/gcompris-qt/rcc/*.rcc``. A photo list names one as ``BUNDLE.rcc:/member``
(``/usr/share/gcompris-qt/rcc/erase.rcc:/gcompris/src/activities/erase/resource/penguin.webp``);
:func:`extracted` copies that member once into a cache folder and returns the copy's path, so
the rest of blurlib reads it like any image file.

The format (Qt's ``rcc``, versions 1–3): a ``qres`` header with the offsets of the tree, the
data and the names; tree nodes of 14 (version 1) or 22 bytes (name offset, flags, then a
directory's child count and first child, or a file's locale and data offset); a file's data is
its length and bytes, zlib-compressed behind a 4-byte size when flag 1 is set. zstd-compressed
members (flag 4) are refused with a clear message.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

from blurlib.errors import DatasetError
from blurlib.fileio import write_bytes

__all__ = ["RCC_SEPARATOR", "cache_dir", "extracted", "rcc_members", "read_member"]

RCC_SEPARATOR = ".rcc:"  # "bundle.rcc:/member/path" in a photo list
_COMPRESSED, _DIRECTORY, _ZSTD = 1, 2, 4


def _parse(blob: bytes, where: Path) -> dict[str, tuple[int, int]]:
    """Member path → (data position, flags) of every file in an rcc blob."""
    try:
        if blob[:4] != b"qres":
            raise ValueError("no 'qres' header")
        version, tree, data, names = struct.unpack(">IIII", blob[4:20])
        if version not in (1, 2, 3):
            raise ValueError(f"version {version}")
        size = 14 if version == 1 else 22

        def name(offset: int) -> str:
            (n,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
            return blob[names + offset + 6 : names + offset + 6 + 2 * n].decode("utf-16-be")

        out: dict[str, tuple[int, int]] = {}
        todo, seen = [(0, "")], set()
        while todo:
            index, prefix = todo.pop()
            if index in seen:
                raise ValueError(f"tree node {index} reached twice")
            seen.add(index)
            at = tree + index * size
            name_at, flags = struct.unpack(">IH", blob[at : at + 6])
            path = prefix + "/" + name(name_at) if index else ""
            if flags & _DIRECTORY:
                count, first = struct.unpack(">II", blob[at + 6 : at + 14])
                todo.extend((first + k, path) for k in range(count))
            else:
                (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
                out[path] = (data + offset, flags)
        return out
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise DatasetError(f"{where} is not a readable Qt resource bundle ({e})") from e


def rcc_members(path: str | os.PathLike[str]) -> list[str]:
    """The member paths (``/dir/file``) of a Qt resource bundle, sorted."""
    path = Path(path)
    return sorted(_parse(_read(path), path))


def read_member(path: str | os.PathLike[str], member: str) -> bytes:
    """The bytes of one member of a Qt resource bundle (decompressed)."""
    path = Path(path)
    blob = _read(path)
    return _decoded(blob, path, member, _located(blob, path, member))


def _located(blob: bytes, path: Path, member: str) -> tuple[int, int]:
    """(data position, flags) of ``member``, which must be in the bundle."""
    members = _parse(blob, path)
    if member not in members:
        raise DatasetError(f"{path} has no member {member!r} — list them with rcc_members()")
    return members[member]


def _decoded(blob: bytes, path: Path, member: str, where: tuple[int, int]) -> bytes:
    at, flags = where
    (n,) = struct.unpack(">I", blob[at : at + 4])
    raw = blob[at + 4 : at + 4 + n]
    if len(raw) != n:
        raise DatasetError(f"{path}:{member} is cut short ({len(raw)} of {n} bytes)")
    if flags & _ZSTD:
        raise DatasetError(f"{path}:{member} is zstd-compressed, which blurlib does not read")
    if flags & _COMPRESSED:
        try:
            raw = zlib.decompress(raw[4:])
        except zlib.error as e:
            raise DatasetError(f"{path}:{member} is damaged ({e})") from e
    return raw


def cache_dir() -> Path:
    """``$BLURLIB_CACHE``, else ``$XDG_CACHE_HOME/blurlib``, else ``~/.cache/blurlib``."""
    if os.environ.get("BLURLIB_CACHE"):
        return Path(os.environ["BLURLIB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "blurlib"


def extracted(path: str | os.PathLike[str], member: str, cache: Path | None = None) -> Path:
    """A file holding ``member`` of the bundle at ``path``, written once into the cache
    (``qt-resources/<bundle>-<hash of the bundle>/<member>``; atomically, so an interrupted
    copy is never read) and reused while the bundle is unchanged."""
    path = Path(path)
    blob = _read(path)  # read once: hashed, parsed and (on a cache miss) decoded
    where = _located(blob, path, member)  # a name not in the bundle never reaches the cache
    digest = hashlib.sha256(blob).hexdigest()[:12]
    target = (cache or cache_dir()) / "qt-resources" / f"{path.stem}-{digest}" / member.lstrip("/")
    if target.is_file():
        return target
    return write_bytes(target, _decoded(blob, path, member, where))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DatasetError(
            f"cannot read the Qt resource bundle {path}: {e.strerror or e} — install the "
            "package that ships it (see the photo list's header)"
        ) from e
