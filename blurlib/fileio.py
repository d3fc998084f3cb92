"""Writing files so that an interrupted run never leaves a half-written one.

Every file blurlib writes goes through :func:`atomic_path`: the content is written to a
temporary name in the same folder (same file system, so the final ``os.replace`` is atomic)
and renamed into place only when writing succeeded; on any error, ``KeyboardInterrupt``
included, the temporary file is removed and an existing file at ``path`` is left untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_sibling(path: str | os.PathLike[str]) -> Path:
    """Return a temporary name beside ``path`` that keeps its suffix (``.x.tmp-PID.keras``)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` when the block succeeds.

    Works for files and for folders (a folder replaces an existing one as a whole).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = temp_sibling(path)
    _remove(tmp)
    try:
        yield tmp
        if tmp.is_dir() and path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def pid_alive(pid: int) -> bool:
    """Return whether a process with this id runs (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


#: ``.NAME.tmp-PID`` + the target's suffix, as :func:`temp_sibling` makes them
_TEMP = re.compile(r"^\.(?P<stem>.+)\.tmp-(?P<pid>\d+)(?P<suffix>\.[^.]*)?$")
_RESCAN_SECONDS = 10.0
_scans: dict[Path, tuple[float, dict[str, list[Path]]]] = {}


def _dead_temps(folder: Path) -> dict[str, list[Path]]:
    """Dead processes' temporaries in ``folder`` by target name, from one listing that is
    reused for a few seconds, so writing many files into one folder stays linear."""
    key = folder.resolve()
    now = time.monotonic()
    seen = _scans.get(key)
    if seen is None or now - seen[0] > _RESCAN_SECONDS:
        found: dict[str, list[Path]] = {}
        for entry in folder.iterdir():
            m = _TEMP.match(entry.name)
            if m and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"])):
                found.setdefault(m["stem"] + (m["suffix"] or ""), []).append(entry)
        seen = _scans[key] = (now, found)
    return seen[1]


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary siblings of ``path`` left by processes that no longer run (a run
    killed with SIGKILL cannot clean up); return what was removed. A live writer's are kept,
    and so are other targets' temporaries."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for entry in _dead_temps(path.parent).pop(path.name, []):
        if entry.exists() or entry.is_symlink():
            _remove(entry)
            removed.append(entry)
    return removed


@contextmanager
def exclusive(lock: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` for the block, or raise BlurlibError at once
    when another process holds it (two runs writing into one place would replace each other's
    files). ``what`` names the place in the message. The lock file is removed afterwards."""
    import fcntl

    from blurlib.errors import BlurlibError

    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise BlurlibError(
                f"{what} is being written by another blurlib run ({holder}); wait for it to "
                "finish or choose another output"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    return write_bytes(path, text.encode("utf-8"))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)
