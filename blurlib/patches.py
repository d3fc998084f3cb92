"""Stable import path: ``blurlib.patches`` is :mod:`blurlib.data.patches` (the code lives there)."""

import sys

from blurlib.data import patches as _module

sys.modules[__name__] = _module
