"""The resume state of a training run: one complete, verified folder per finished epoch.

``backup/epoch-000003/`` holds everything needed to continue after epoch 3 as if nothing had
happened: ``model.weights.h5`` (weights and optimizer state), ``rng.npz`` (the dropout
generators' states) and ``manifest.json`` (the epoch, the callbacks' counters, the learning
rate, and the size and SHA-256 of every other file). It is written in this order:

1. a temporary folder ``backup/.epoch-000003.tmp-PID/`` receives the files, each flushed
   to disk;
2. ``manifest.json`` is written last, so a folder without one is never complete;
3. the folder is renamed to ``epoch-000003`` (one atomic step) and the folder's entry synced;
4. only then are older epochs and stale temporary folders removed.

Whatever instant a run is killed at (``SIGINT``, ``SIGKILL``, power loss after step 3), the
newest folder whose manifest checks out is a complete epoch, and :func:`latest_backup`
returns it; anything else is skipped and cleaned away. Keras' own ``BackupAndRestore``
rewrites one weights file in place and its epoch number afterwards, which a kill in between
breaks for good or, worse, pairs the weights of one epoch with the number of another.

Fault injection for the tests: ``BLURLIB_FAULT=PHASE@EPOCH:SIGNAL`` (e.g.
``weights@2:KILL``) makes the process send itself ``SIGNAL`` (``INT`` or ``KILL``) when the
backup of epoch ``EPOCH`` reaches ``PHASE`` (one of :data:`PHASES`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blurlib.fileio import pid_alive
from blurlib.training.runs import BACKUP_DIR

MANIFEST = "manifest.json"
FORMAT = 1
#: the instants of one epoch's save, in order (see the module docstring)
PHASES = ("begin", "weights", "rng", "manifest", "renamed", "pruned")
_EPOCH_DIR = re.compile(r"^epoch-(\d{6})$")
_TEMP_DIR = re.compile(r"^\.epoch-(\d{6})\.tmp-(\d+)$")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Backup:
    """One complete epoch of the resume state: its folder, epoch count and manifest."""

    path: Path
    epoch: int
    manifest: dict[str, Any]

    @property
    def weights(self) -> Path:
        """The weights file (model and optimizer)."""
        return self.path / "model.weights.h5"

    @property
    def rng(self) -> Path:
        """The dropout generators' states (``.npz``; may hold no arrays)."""
        return self.path / "rng.npz"

    @property
    def state(self) -> dict[str, Any]:
        """What the callbacks and the optimizer recorded besides the files."""
        return dict(self.manifest.get("state", {}))


def fault_point(phase: str, epoch: int) -> None:
    """Send this process the signal ``BLURLIB_FAULT`` asks for at ``phase`` of ``epoch``."""
    spec = os.environ.get("BLURLIB_FAULT")
    if not spec:
        return
    where, _, sig = spec.partition(":")
    if where == f"{phase}@{epoch}":
        os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_backup(
    run_dir: PathLike,
    epoch: int,
    write_weights: Callable[[Path], None],
    rng_states: Mapping[str, Any],
    state: Mapping[str, Any],
) -> Path:
    """Write the resume state after ``epoch`` finished epochs; return its folder.

    ``write_weights(path)`` writes the weights file (``model.save_weights``); ``rng_states``
    are arrays saved to ``rng.npz``; ``state`` (JSON-able) goes into the manifest. The
    previous epoch's folder is removed only after this one is complete.
    """
    import numpy as np

    backup = Path(run_dir) / BACKUP_DIR
    backup.mkdir(parents=True, exist_ok=True)
    final = backup / f"epoch-{epoch:06d}"
    tmp = backup / f".epoch-{epoch:06d}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        fault_point("begin", epoch)
        write_weights(tmp / "model.weights.h5")
        fault_point("weights", epoch)
        with open(tmp / "rng.npz", "wb") as fh:
            np.savez(fh, **dict(rng_states))
        fault_point("rng", epoch)
        files = {}
        for name in ("model.weights.h5", "rng.npz"):
            _fsync(tmp / name)
            files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": _sha256(tmp / name)}
        manifest = {"format": FORMAT, "epoch": epoch, "files": files, "state": dict(state)}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        fault_point("manifest", epoch)
        if final.exists():  # the same epoch written again (a re-run): replace it whole
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync(backup)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fault_point("renamed", epoch)
    prune(run_dir, keep=final)
    fault_point("pruned", epoch)
    return final


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """Return the manifest of an epoch folder if the folder is complete and intact, else None.

    Complete and intact: the manifest parses, names this folder's epoch, and every file it
    lists exists with the recorded size and SHA-256.
    """
    m = _EPOCH_DIR.match(folder.name)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if not m or manifest.get("epoch") != int(m.group(1)) or manifest.get("format") != FORMAT:
            return None
        for name, meta in manifest["files"].items():
            path = folder / name
            if path.stat().st_size != meta["bytes"] or _sha256(path) != meta["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest


def backups(run_dir: PathLike) -> list[Backup]:
    """Return the complete, intact epochs of the resume state, newest first."""
    backup = Path(run_dir) / BACKUP_DIR
    if not backup.is_dir():
        return []
    found = []
    for folder in backup.iterdir():
        m = _EPOCH_DIR.match(folder.name)
        if m and folder.is_dir():
            manifest = read_manifest(folder)
            if manifest is not None:
                found.append(Backup(folder, int(m.group(1)), manifest))
    return sorted(found, key=lambda b: b.epoch, reverse=True)


def latest_backup(run_dir: PathLike) -> Backup | None:
    """Return the newest complete epoch of the resume state (None if there is none)."""
    found = backups(run_dir)
    return found[0] if found else None


def backup_epoch(run_dir: PathLike) -> int:
    """Return the number of epochs the resume state holds (0 if there is none)."""
    latest = latest_backup(run_dir)
    return latest.epoch if latest is not None else 0


def prune(run_dir: PathLike, keep: Path | None = None) -> list[Path]:
    """Remove every epoch folder but ``keep`` (default: the newest complete one), incomplete
    ones, stale temporary folders of processes that no longer run, and Keras'
    ``BackupAndRestore`` files of older versions; return what was removed."""
    backup = Path(run_dir) / BACKUP_DIR
    if not backup.is_dir():
        return []
    if keep is None:
        latest = latest_backup(run_dir)
        keep = latest.path if latest is not None else None
    removed = []
    for entry in backup.iterdir():
        t = _TEMP_DIR.match(entry.name)
        stale = (
            (_EPOCH_DIR.match(entry.name) and entry != keep)
            or (t and int(t.group(2)) != os.getpid() and not pid_alive(int(t.group(2))))
            or entry.name in _LEGACY
        )
        if stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


#: what Keras' BackupAndRestore wrote in runs made before this module (no manifest: not resumable)
_LEGACY = {
    "latest.weights.h5",
    "training_metadata.json",
    "latest.weights.h5.bkp",
    "training_metadata.json.bkp",
    "rng.npz",
}
