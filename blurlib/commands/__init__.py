"""One module per CLI subcommand; see ``blurlib.cli``. Shared here: how they name what they skip."""

from __future__ import annotations

import sys


def say_skipped(message: str) -> None:
    """Name a skipped item on stderr, on a line of its own (above a progress bar if one runs):
    the CLI tells it itself, so ``PYTHONWARNINGS=ignore`` cannot hide it."""
    from tqdm.auto import tqdm

    tqdm.write(f"skipped: {message}", file=sys.stderr)
