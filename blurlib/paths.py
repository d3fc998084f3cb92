"""Where a run writes: the blurlib checkout that holds the working folder, never the package's.

A checkout is a folder with both ``blurlib/`` and ``notebooks/`` (an installed copy in
site-packages has no ``notebooks/``). Resolving from the working folder means a second
checkout that shares one virtual environment writes its data, runs and figures into itself.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["find_checkout", "is_checkout", "work_root"]


def is_checkout(folder: str | os.PathLike[str]) -> bool:
    """Return True when ``folder`` is a blurlib checkout (has ``blurlib/`` and ``notebooks/``)."""
    folder = Path(folder)
    return (folder / "blurlib").is_dir() and (folder / "notebooks").is_dir()


def find_checkout(start: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the first checkout at or above ``start`` (default: the working folder), or None."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_checkout(folder):
            return folder
    return None


def work_root() -> Path:
    """Return the checkout to work in: the one holding the working folder, else an editable
    install's checkout (the folder above the imported package), else the working folder."""
    found = find_checkout()
    if found is not None:
        return found
    package_parent = Path(__file__).resolve().parent.parent
    return package_parent if is_checkout(package_parent) else Path.cwd().resolve()
