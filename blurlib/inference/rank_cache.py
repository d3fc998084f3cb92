"""The rank cache: per-photo analyses kept between runs, so a re-run over a grown folder
analyses only the photos it has not seen.

An entry is keyed by the photo's absolute path, size in bytes and modification time (ns),
the model's weights (:func:`model_digest`) and the analysis settings (scale, stride,
evidence threshold): change any of them and the photo is analysed again. Entries live in one
JSON-lines file, ``rank-cache.jsonl``: each analysed photo appends a line at once, so an
interrupted run keeps what it finished (a torn last line is ignored on reading), and
:meth:`RankCache.compact` rewrites the file atomically at the end of a run, dropping stale
versions of the photos it saw. One process at a time (the CLI holds a lock on the folder).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib.fileio import write_text

if TYPE_CHECKING:  # pragma: no cover
    import keras

CACHE_NAME = "rank-cache.jsonl"
CACHE_VERSION = 1


def model_digest(model: keras.Model) -> str:
    """Return a SHA-256 hex digest of the model's input/output shapes and every weight's
    shape, dtype and bytes: equal digests, equal predictions."""
    h = hashlib.sha256()
    h.update(repr((tuple(model.inputs[0].shape), tuple(model.outputs[0].shape))).encode())
    for w in model.get_weights():
        a = np.ascontiguousarray(w)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def photo_key(path: str | os.PathLike[str], digest: str, settings: str) -> tuple[str, str]:
    """Return ``(key, short id)`` of a photo file as it is now (raises OSError if it cannot be
    read): the key names path, size, mtime, model digest and settings; the id (16 hex digits
    of its hash) names the photo's preview files."""
    p = Path(path).absolute()
    st = p.stat()
    key = f"{p}|{st.st_size}|{st.st_mtime_ns}|{digest}|{settings}"
    return key, hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


class RankCache:
    """The entries of one folder's ``rank-cache.jsonl``: ``get``, ``put`` (appends at once)
    and ``compact``."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / CACHE_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        self._fresh: set[str] = set()  # paths whose current key this run used or wrote
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        item = json.loads(line)
                    except ValueError:  # a line torn by a crash
                        continue
                    if isinstance(item, dict) and item.get("v") == CACHE_VERSION:
                        self.entries[str(item.get("key"))] = item.get("record") or {}

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached record for ``key``, or None."""
        hit = self.entries.get(key)
        if hit is not None:
            self._fresh.add(key.split("|", 1)[0])
        return hit

    def put(self, key: str, record: dict[str, Any]) -> None:
        """Store ``record`` under ``key`` and append it to the file now."""
        self.entries[key] = record
        self._fresh.add(key.split("|", 1)[0])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"v": CACHE_VERSION, "key": key, "record": record}, allow_nan=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def compact(self, keep: set[str]) -> None:
        """Rewrite the file atomically without the stale versions of the photos this run
        saw (an entry of a seen path whose key is not in ``keep``); others stay as they are."""
        kept = {
            k: r
            for k, r in self.entries.items()
            if k in keep or k.split("|", 1)[0] not in self._fresh
        }
        self.entries = kept
        lines = [json.dumps({"v": CACHE_VERSION, "key": k, "record": r}) for k, r in kept.items()]
        write_text(self.path, "".join(line + "\n" for line in lines))
