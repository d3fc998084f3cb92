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

from blurlib.errors import guarded

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
