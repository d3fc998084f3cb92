"""Stable import path for users: motion kernels and applying them, as before the split.

The code lives in :mod:`blurlib.data.kernels` (building, measuring and drawing kernels) and
:mod:`blurlib.data.convolve` (``apply_kernel``). Because ``blurlib.kernels`` gathers names
from both, it is a small facade, not an alias of one module; code inside blurlib imports
each name from the module that defines it.
"""

from blurlib.data.convolve import BORDER, apply_kernel
from blurlib.data.kernels import (
    KERNEL_KINDS,
    camera_shake_kernel,
    kernel_from_spec,
    kernel_moments,
    linear_kernel,
    random_kernel,
    report_kernel,
)

__all__ = [
    "BORDER",
    "KERNEL_KINDS",
    "apply_kernel",
    "camera_shake_kernel",
    "kernel_from_spec",
    "kernel_moments",
    "linear_kernel",
    "random_kernel",
    "report_kernel",
]
