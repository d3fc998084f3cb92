"""The photo-level split and the patch arrays of its sides.

1. :func:`split_by_source` — train / validation / test **photos** (a photo's patches are
   never on two sides; the report's 92 % came from a random split of patches, so patches
   of one photo sat in training and in test).
2. :func:`patch_arrays` — the patches of those photos as one ``uint8 (N, 30, 30, 3)`` array
   and their labels, optionally without nearly flat patches (``min_texture``, measured by
   :func:`blurlib.data.patches.patch_texture` on the *sharp* source patch: blur cannot show on a
   flat patch, so its label is noise to the network). Dropping them is a training-data
   choice only; the evaluate module still reports on all patches and on textured ones.
3. :func:`split_patches_at_random` — the report's split, kept to measure what it costs: patches
   drawn at random, so neighbours from one photo (same content, same kernel) sit on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from blurlib import PATCH, seeds
from blurlib.data.degrade import defocus_mask
from blurlib.data.patches import patch_texture, to_patches
from blurlib.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    from blurlib.data.dataset import Example

SPLITS = ("train", "val", "test")


def _split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Photos per split: rounded shares, each non-zero share at least 1, summing to ``n``."""
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (len(fractions),) or (fr < 0).any() or fr.sum() <= 0:
        raise ValueError(f"fractions must be non-negative and not all 0, got {fractions}")
    fr = fr / fr.sum()
    need = int((fr > 0).sum())
    if n < need:
        raise DatasetError(
            f"cannot split {n} photo(s) into {need} non-empty parts by photo; "
            "use a dataset made from more photos"
        )
    counts = np.floor(fr * n).astype(int)
    # hand out the remainder by largest fractional part (ties: earlier split first)
    rest = n - counts.sum()
    order = np.argsort(-(fr * n - counts), kind="stable")
    for i in order[:rest]:
        counts[i] += 1
    # every split with a non-zero share gets a photo, taken from the largest split
    for i in range(len(counts)):
        if fr[i] > 0 and counts[i] == 0:
            counts[int(np.argmax(counts))] -= 1
            counts[i] += 1
    return [int(c) for c in counts]


def split_by_source(
    sources: Sequence[str],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    test_sources: Sequence[str] | None = None,
    val_sources: Sequence[str] | None = None,
) -> dict[str, list[int]]:
    """Return ``{"train", "val", "test"}`` → sorted image indices, split by photo ``source``.

    All images of one source land in one split. The photos (unique sources, sorted) are
    permuted with ``seed`` and cut by ``fractions`` of the photo count; each split with a
    non-zero fraction gets at least one photo. ``test_sources`` names the test photos
    explicitly; the others are then split into train/val in the ratio of the first two
    fractions. ``val_sources`` names the validation photos explicitly (needs
    ``test_sources`` too); every other photo is then a training photo.
    """
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, val, test), got {fractions}")
    names = sorted(set(sources))
    rng = seeds.rng(seed, "split")
    side: dict[str, str] = {}
    for what, given in (("test", test_sources), ("validation", val_sources)):
        unknown = sorted(set(given or ()) - set(names))
        if unknown:
            raise DatasetError(
                f"{what} source(s) {', '.join(unknown)} are not in the dataset; "
                f"its photos are: {', '.join(names)}"
            )
    if val_sources is not None:
        if test_sources is None:
            raise ValueError("val_sources needs test_sources: name both splits or neither")
        both = sorted(set(val_sources) & set(test_sources))
        if both:
            raise DatasetError(f"photo(s) {', '.join(both)} named as both test and validation")
        side.update({s: "train" for s in names})
        side.update({s: "val" for s in val_sources})
        side.update({s: "test" for s in test_sources})
    elif test_sources is not None:
        test = set(test_sources)
        rest = [s for s in names if s not in test]
        perm = [rest[i] for i in rng.permutation(len(rest))]
        n_train, n_val = _split_counts(len(rest), list(fractions[:2]))
        side.update({s: "train" for s in perm[:n_train]})
        side.update({s: "val" for s in perm[n_train : n_train + n_val]})
        side.update({s: "test" for s in test})
    else:
        perm = [names[i] for i in rng.permutation(len(names))]
        n_train, n_val, _ = _split_counts(len(names), fractions)
        for k, s in enumerate(perm):
            side[s] = "train" if k < n_train else "val" if k < n_train + n_val else "test"
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    for i, s in enumerate(sources):
        out[side[s]].append(i)
    return out


def split_patches_at_random(
    n_patches: int, fractions: Sequence[float] = (0.8, 0.0, 0.2), seed: int = 0
) -> dict[str, np.ndarray]:
    """Return ``{"train", "val", "test"}`` → sorted patch indices of a random split of patches.

    The report's (leaky) split, for comparison with :func:`split_by_source`: the ``n_patches``
    indices are permuted with ``seed`` and cut by ``fractions`` (rounded shares summing to
    ``n_patches``), with no regard to which photo a patch came from.
    """
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, val, test), got {fractions}")
    if n_patches < 0:
        raise ValueError(f"n_patches must be >= 0, got {n_patches}")
    counts = _split_counts(n_patches, fractions) if n_patches else [0, 0, 0]
    perm = seeds.rng(seed, "split").permutation(n_patches)  # the split stream
    edges = np.cumsum([0, *counts])
    return {name: np.sort(perm[edges[k] : edges[k + 1]]) for k, name in enumerate(SPLITS)}


def patch_arrays(
    examples: Sequence[Example],
    indices: Sequence[int],
    min_texture: float = 0.0,
    patch: int = PATCH,
    min_evidence: float = 0.0,
    min_blur_texture: float = 0.0,
    defocus_class: float = 0.0,
    cells: bool = False,
) -> tuple[np.ndarray, ...]:
    """Return ``(X uint8 (N, P, P, 3), y uint8 (N,))``: the patches of the chosen images;
    with ``cells`` also ``(N, 2)`` int64: each patch's image index and flat grid cell.

    With ``defocus_class`` > 0 the labels are three-way (sharp / motion / defocus,
    :data:`blurlib.nets.builders.KIND_CLASSES`): a label-0 patch is 2 where
    :func:`defocus_labels` says so.

    Patches are in image order, then row-major over each image's grid. Three filters, all
    measured with :func:`blurlib.data.patches.patch_texture`, leave patches out:

    * ``min_texture``: the *sharp* source patch has less detail (needs ``Example.sharp``);
    * ``min_evidence``: the OBSERVED patch (the composite) has less detail — no evidence
      either way (:func:`blurlib.data.patches.evidence_mask`, the rule ``predict`` uses);
    * ``min_blur_texture``: a BLURRED patch (label 1) whose sharp source had less detail —
      motion blur over a smooth patch changes nothing visible, so that label is noise; a
      smooth label-0 patch (a soft background) stays, as the negative it is.
    """
    xs, ys, where = [], [], []
    for i in indices:
        ex = examples[i]
        grid = to_patches(ex.image, patch)
        rows, cols = grid.shape[:2]
        labels = np.asarray(ex.labels, dtype=np.uint8)
        if labels.shape != (rows, cols):
            raise DatasetError(
                f"{ex.file}: label matrix {labels.shape} does not match its {rows}×{cols} "
                "patch grid; regenerate the dataset"
            )
        x = grid.reshape(rows * cols, patch, patch, grid.shape[-1])
        y = labels.reshape(-1)
        keep = np.ones(len(y), bool)
        if min_texture > 0 or min_blur_texture > 0:
            if ex.sharp is None:
                raise ValueError(
                    "min_texture/min_blur_texture need Example.sharp: load_dataset(with_sharp=True)"
                )
            sharp_detail = patch_texture(ex.sharp, patch).reshape(-1)
            keep &= sharp_detail >= min_texture
            keep &= (y == 0) | (sharp_detail >= min_blur_texture)
        if min_evidence > 0:
            keep &= patch_texture(ex.image, patch).reshape(-1) >= min_evidence
        if defocus_class > 0:  # after the filters: a defocused patch is kept as a label-0 one
            y = defocus_labels(ex, y, defocus_class, patch)
        xs.append(x[keep])
        ys.append(y[keep])
        if cells:
            flat = np.flatnonzero(keep)
            where.append(np.stack([np.full(len(flat), i), flat], axis=1).astype(np.int64))
    if not xs:
        out = (np.zeros((0, patch, patch, 3), np.uint8), np.zeros((0,), np.uint8))
        return (*out, np.zeros((0, 2), np.int64)) if cells else out
    out = (np.concatenate(xs).astype(np.uint8, copy=False), np.concatenate(ys))
    return (*out, np.concatenate(where)) if cells else out


def defocus_labels(ex: Example, y: np.ndarray, min_radius: float, patch: int = PATCH) -> np.ndarray:
    """Return the flat labels ``y`` of ``ex`` with each label-0 patch that is mostly defocused
    set to 2: at least half its area under a recorded defocus (``ex.degrade["base"]``, the
    label-0 stage of :mod:`blurlib.data.degrade`) of disk radius ≥ ``min_radius`` px.

    Motion-blurred patches stay 1 whatever their base. The defocus regions are drawn in
    coordinates relative to the photo before its crop to the patch grid (< 1 patch smaller
    per side), so a region's edge may move by up to that crop's share of the photo."""
    specs = [
        spec
        for spec in ex.degrade.get("base", [])
        if spec.get("op") == "defocus" and float(spec["radius"]) >= min_radius
    ]
    if not specs:
        return y
    share = to_patches(defocus_mask(specs, ex.image.shape), patch).mean(axis=(2, 3, 4))
    return np.where((y == 0) & (share.reshape(-1) >= 0.5), 2, y).astype(np.uint8)
