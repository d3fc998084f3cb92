"""``python -m blurlib``: the command-line interface."""

from blurlib.cli import main

raise SystemExit(main())
