"""Downloading the Pascal VOC2010 tar: resumable HTTP download with a checksum check."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from blurlib.data.voc import (
    VOC2010_TAR_APPROX_BYTES,
    VOC2010_TAR_MD5,
    VOC2010_TAR_NAME,
    VOC2010_TAR_URL,
)
from blurlib.errors import DatasetError

__all__ = ["fetch_voc2010"]

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
