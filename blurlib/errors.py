"""Errors a user can cause; the CLI prints them as one line, never a traceback."""

from __future__ import annotations


class BlurlibError(Exception):
    """A problem the user can fix: the message names the file and says what to do."""


class ImageError(BlurlibError, ValueError):
    """An image file is missing, unreadable, not an image, or too small."""


class DatasetError(BlurlibError, ValueError):
    """A dataset folder or photo source is missing or malformed."""


class ModelFileError(BlurlibError, ValueError):
    """A model file is missing, corrupt, or not a blurlib model."""
