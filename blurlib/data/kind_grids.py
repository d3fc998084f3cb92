"""Whole labelled crops for nets that read a patch's neighbours: the crop with its context and a
label grid, instead of one window per patch.

:func:`blurlib.data.kinds.kind_patches` cuts each crop of :func:`blurlib.data.kinds.draw_crop`
into one (P + 2k)-px window per judgeable patch. A net that looks at the patches around each
patch (:mod:`blurlib.nets.neighbours`) is trained on the crop itself, fully convolutionally:
one trunk pass per 30×30 cell of the crop serves every label, where windows would repeat each
cell up to nine times. :func:`kind_grids` returns the crops drawn by exactly the same random
stream as ``kind_patches`` (crop ``i`` of a run is the same crop in both) with
``KindConfig.context`` = P: a crop of n×n labelled patches comes with one patch of context on
each side, so ``x`` is (n + 2)·P px square and the labels are the inner n×n cells; ``keep``
marks the judgeable ones (the rest are context only and count in no loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from blurlib import PATCH, seeds
from blurlib.data.kinds import (
    KindConfig,
    blur_labels,
    check_request,
    default_max_crops,
    draw_crop,
)


@dataclass
class KindGrids:
    """Labelled crops: ``x`` uint8 (N, S, S, 3), S = (n + 2)·P, and per-cell labels (N, n, n)."""

    x: np.ndarray
    kind: np.ndarray  # uint8
    angle: np.ndarray  # float32, NaN unless motion
    length: np.ndarray  # float32, NaN unless motion
    motion_type: np.ndarray  # uint8
    keep: np.ndarray  # bool: judgeable (labelled) cells
    photo: np.ndarray  # int32 (N,)
    crops: int = 0  # crops drawn

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def labelled(self) -> int:
        """Judgeable cells, the patches that count in the loss."""
        return int(self.keep.sum())


def check_grid_config(c: KindConfig, patch: int = PATCH) -> None:
    """ValueError unless ``c`` gives each crop exactly one patch of context (``context`` = P)."""
    if c.context != patch:
        raise ValueError(f"whole-crop labels need KindConfig.context = {patch}, got {c.context}")


def crop_grid(
    photos: Sequence[np.ndarray], seed: int, crop: int, c: KindConfig, patch: int = PATCH
) -> tuple[np.ndarray, ...] | None:
    """Crop number ``crop`` of the run with ``seed``, whole: ``(x (S, S, 3), kind, angle,
    length, motion_type, keep (n, n), photo)`` or None when no patch is judgeable — the crop
    that :func:`blurlib.data.kinds.crop_result` cuts into windows."""
    check_grid_config(c, patch)
    rng = seeds.rng(seed, "kind_crops", crop)
    p = int(rng.integers(len(photos)))
    got = draw_crop(photos[p], rng, c, patch)
    if got is None:
        return None
    finished, which, blurs, keep, _ = got
    n = c.crop_patches
    centres = patch + np.arange(n) * patch  # each inner cell's first pixel: its blur
    blur_of = which[np.ix_(centres, centres)]
    kind, angle, length, mtype = blur_labels(blurs, blur_of)
    return finished, kind, angle, length, mtype, keep, p


def kind_grids(
    photos: Sequence[np.ndarray],
    n: int,
    seed: int = 0,
    config: KindConfig | None = None,
    patch: int = PATCH,
    max_crops: int | None = None,
) -> KindGrids:
    """Return crops 0, 1, … (:func:`crop_grid`, those with a judgeable patch) until they hold
    at least ``n`` judgeable patches; ValueError if ``max_crops`` run out first."""
    c = config or KindConfig(context=patch)
    check_request(photos, n, "kind_grids")
    check_grid_config(c, patch)
    max_crops = max_crops or default_max_crops(n)
    got: list[tuple[np.ndarray, ...]] = []
    have, drawn = 0, 0
    while have < n:
        if drawn == max_crops:
            raise ValueError(
                f"only {have} judgeable patches in {drawn} crops (wanted {n}); use larger or "
                "more textured photos"
            )
        one = crop_grid(photos, seed, drawn, c, patch)
        drawn += 1
        if one is not None:
            got.append(one)
            have += int(one[5].sum())
    cols = list(zip(*got))
    return KindGrids(
        *(np.stack(col) for col in cols[:6]), np.asarray(cols[6], np.int32), crops=drawn
    )
