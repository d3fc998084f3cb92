"""One module per CLI subcommand; see ``blurlib.cli``."""
