"""One module per CLI subcommand; see ``blurlib.cli``. Shared here: how they name what they skip,
and the check that an output folder can be written."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def say_skipped(message: str) -> None:
    """Name a skipped item on stderr, on a line of its own (above a progress bar if one runs):
    the CLI tells it itself, so ``PYTHONWARNINGS=ignore`` cannot hide it."""
    from tqdm.auto import tqdm

    tqdm.write(f"skipped: {message}", file=sys.stderr)


def writable_out(out: Path, what: str) -> None:
    """Make the folder ``--out`` (for ``what``) and check that it can be written, or raise
    BlurlibError with one line that names it: a file there, or no permission."""
    from blurlib.errors import BlurlibError

    if out.exists() and not out.is_dir():
        raise BlurlibError(f"--out {out} is a file; give a folder for {what}")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".blurlib-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BlurlibError(
            f"--out {out}: cannot write there ({exc.strerror or exc}); choose another folder"
        ) from None
