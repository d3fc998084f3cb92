"""Test examples: reading Example-like objects, and making them in memory per blur protocol.

An Example-like object has ``.image`` (the composite), ``.sharp`` (its sharp source, for the
texture mask), ``.labels`` and ``.source``; :class:`ProtocolExample` is one made in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blurlib import PATCH
from blurlib.data.patches import grid_shape, textured_mask
from blurlib.errors import DatasetError

__all__ = [
    "PROTOCOLS",
    "ProtocolExample",
    "example_arrays",
    "example_textured",
    "make_protocol_examples",
    "protocol_seed",
]


def example_arrays(example: Any, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (image, labels) of an Example-like object, checked against each other."""
    image = np.asarray(example.image)
    labels = np.asarray(example.labels)
    grid = grid_shape(image.shape[0], image.shape[1], patch)
    if labels.shape != grid:
        source = getattr(example, "source", "?")
        raise DatasetError(
            f"example from {source!r}: labels have shape {labels.shape} but the "
            f"{image.shape[1]}×{image.shape[0]} image has a {grid} "
            "patch grid; regenerate the dataset"
        )
    return image, labels


def example_textured(example: Any, patch: int, threshold: float) -> np.ndarray:
    """Return the textured mask of an Example-like object, from its sharp source photo."""
    sharp = getattr(example, "sharp", None)
    if sharp is None:
        raise DatasetError(
            f"example from {getattr(example, 'source', '?')!r} has no sharp source photo, so its "
            "textured patches are unknown; load it with blurlib.data.dataset.load_dataset"
        )
    mask = textured_mask(sharp, patch, threshold)
    image_grid = grid_shape(*np.asarray(example.image).shape[:2], patch)
    if mask.shape != image_grid:
        raise DatasetError(
            f"example from {getattr(example, 'source', '?')!r}: sharp photo grid {mask.shape} "
            f"differs from the composite's {image_grid}; regenerate the dataset"
        )
    return mask


# ----------------------------------------------------------------------------------------------
# Protocols: how the test photos are blurred
# ----------------------------------------------------------------------------------------------

PROTOCOLS = ("report", "linear", "shake")


@dataclass
class ProtocolExample:
    """An in-memory test example, attribute-compatible with ``blurlib.data.dataset.Example``."""

    image: np.ndarray  # composite, uint8 H×W×3 (cropped to the patch grid)
    sharp: np.ndarray  # the sharp photo, same size
    labels: np.ndarray  # uint8 (rows, cols), 1 = blurred
    source: str  # photo name
    kernel: dict[str, Any] = field(default_factory=dict)  # the kernel's spec


def protocol_seed(seed: int, protocol_index: int, copy: int, training: bool = False) -> int:
    """The seed of one set of blurred copies in a suite: protocol ``protocol_index``, copy
    ``copy``; the training photos' copies (for the baselines) get their own seeds. One scheme
    for every suite, so the protocol and robustness tables blur the same way."""
    return seed * 1000 + 100 * protocol_index + copy + (50 if training else 0)


def make_protocol_examples(
    photos: Sequence[tuple[str, np.ndarray]],
    protocol: str,
    seed: int,
    fraction: float = 0.5,
    patch: int = PATCH,
    length_range: tuple[float, float] | None = None,
) -> list[ProtocolExample]:
    """Return one partially blurred :class:`ProtocolExample` per (name, photo), all in memory.

    ``protocol``: ``"report"`` (the report's fixed 15 px horizontal kernel), ``"linear"``
    (random straight motion) or ``"shake"`` (camera shake). One ``numpy.random.default_rng(seed)``
    draws every kernel and every blurred-patch choice, photo after photo, so the same seed gives
    the same examples. ``length_range`` (pixels) is passed to ``random_kernel`` when given
    (its default is 7–25 px); the report kernel ignores it.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    from blurlib.data.dataset import partially_blur
    from blurlib.data.kernels import random_kernel

    rng = np.random.default_rng(seed)
    out = []
    for name, photo in photos:
        if length_range is None:
            kernel, spec = random_kernel(protocol, rng)
        else:
            kernel, spec = random_kernel(protocol, rng, length_range=length_range)
        composite, labels = partially_blur(
            photo, rng, kernel=kernel, fraction=fraction, patch=patch
        )
        h, w = composite.shape[:2]
        out.append(
            ProtocolExample(
                image=composite,
                sharp=np.ascontiguousarray(np.asarray(photo)[:h, :w]),
                labels=np.asarray(labels, dtype=np.uint8),
                source=str(name),
                kernel=dict(spec),
            )
        )
    return out
