"""Stable import path: ``blurlib.dataset`` is :mod:`blurlib.data.dataset` (the code lives there)."""

import sys

from blurlib.data import dataset as _module

sys.modules[__name__] = _module
