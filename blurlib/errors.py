"""Errors a user can cause; the CLI prints them as one line, never a traceback
(:func:`guarded`, the one handler of every command line of the package)."""

from __future__ import annotations

import sys
from collections.abc import Callable


class BlurlibError(Exception):
    """A problem the user can fix: the message names the file and says what to do."""


class ImageError(BlurlibError, ValueError):
    """An image file is missing, unreadable, not an image, or too small."""


class DatasetError(BlurlibError, ValueError):
    """A dataset folder or photo source is missing or malformed."""


class ModelFileError(BlurlibError, ValueError):
    """A model file is missing, corrupt, or not a blurlib model."""


def guarded(run: Callable[[], int], on_interrupt: str = "") -> int:
    """Return ``run()``'s exit code, turning a user error into one line on stderr and code 2,
    an interruption into one line (``on_interrupt`` appended: how to go on) and code 130 —
    never a traceback. The one handler of every command line of the package
    (``python -m blurlib``, ``python -m blurlib.training.analysis``)."""
    try:
        return int(run() or 0)
    except BlurlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was left behind" + on_interrupt, file=sys.stderr)
        return 130
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
        name = getattr(exc, "filename", None) or ""
        print(f"error: {exc.strerror or exc}: {name}".rstrip(": "), file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; try a smaller photo, --tile size or batch", file=sys.stderr)
        return 2
