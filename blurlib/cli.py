"""Command-line interface: ``python -m blurlib generate|train|evaluate|predict``.

Each subcommand lives in ``blurlib/commands/<name>.py`` and defines
``add_parser(subparsers)`` that registers itself with ``set_defaults(func=run)``; ``run(args)``
returns an exit code. This module only dispatches and turns user errors into one line on
stderr with a non-zero exit code — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

from blurlib.errors import BlurlibError

COMMANDS = ("generate", "train", "evaluate", "predict", "reproduce", "rank")
KERAS_COMMANDS = ("train", "evaluate", "predict", "rank")  # started quietly before they run


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level argument parser with every available subcommand."""
    from blurlib import __version__

    parser = argparse.ArgumentParser(
        prog="python -m blurlib",
        description="Patch-level motion-blur detection with a CNN.",
    )
    parser.add_argument("--version", action="version", version=f"blurlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"blurlib.commands.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == f"blurlib.commands.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)

    def run() -> int:
        if args.command in KERAS_COMMANDS:
            from blurlib.runtime import start_keras

            start_keras()
        return int(args.func(args) or 0)

    resume = "; the same command resumes from the last finished epoch"
    return guarded(run, on_interrupt=resume if args.command == "train" else "")


def guarded(run: Callable[[], int], on_interrupt: str = "") -> int:
    """Return ``run()``'s exit code, turning a user error into one line on stderr and code 2,
    an interruption into one line (``on_interrupt`` appended: how to go on) and code 130 —
    never a traceback. The one handler of every command line of the package."""
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
