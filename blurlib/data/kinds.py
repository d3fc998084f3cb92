"""Blur kind, direction and length per patch: the labels, and a seeded generator of labelled
training patches.

Labels of a patch (one concept, used by training, evaluation and the pictures):

* ``kind``: 0 = sharp, 1 = motion (straight or camera shake), 2 = defocus (:data:`KINDS`);
* ``angle`` (degrees in [0, 180), motion only, NaN otherwise): the direction of the motion, in
  the convention of :mod:`blurlib.data.kernels` — 0 = along the image x axis (right), 90 = along
  the y axis, counter-clockwise as seen on screen (rows pointing down). A straight kernel's
  angle is its spec's angle; camera shake has the principal axis of its second moments
  (:func:`blurlib.data.kernels.kernel_moments`);
* ``length`` (pixel taps, motion only, NaN otherwise): a straight kernel's spec length; camera
  shake has the moments' extent sqrt(12·λ_max + 1), equal to the length of a straight kernel of
  the same spread along its principal axis;
* ``motion_type``: 0 none, 1 straight, 2 shake (:data:`MOTION_TYPES`), for evaluation.
* with ``KindConfig.context`` = k > 0, each patch comes with k px of its crop around it
  (``x`` is (P + 2k)-pixel windows centred on the labelled patches; the labels, the keep rule
  and the orientation are the central patch's), for nets that look beyond the patch;
* ``texture_angle``, ``coherence``: where the sharp source patch's lines run and how
  one-directional it is (:func:`blurlib.data.patches.patch_orientation`), for evaluation: the
  kind of a blur along or across parallel lines is ambiguous.
* with ``KindConfig.mix_share`` > 0, that share of crops is split patch by patch between two
  kinds (a second draw), at random on the patch grid extended over the context, as the
  report's composites are: a context window then straddles blur boundaries, and its labels
  stay the central patch's. ``KindConfig.mix_shape`` "region" splits it along a straight line
  instead (the cells on one side of it: a moving object's edge), so that blur boundaries are
  rare and a patch's neighbours mostly share its blur, as in photos.

Generator (:func:`kind_patches`). Each *crop* of ``crop_patches``×``crop_patches`` grid patches
is cut (with a margin, so no border effect reaches a patch) from a photo or dead-leaves scene,
given the mild label-0 base stage of :mod:`blurlib.data.degrade` (haze, Gaussian σ ≤ 0.8,
resampling; no defocus: that is a class here), then one kind for the whole crop — nothing,
a motion kernel (straight at any angle, straight along an image axis, or camera shake) or a
disk defocus of radius 1.5–6 px (``degrade.disk_kernel``) — then the camera finish (noise,
JPEG). A patch is kept only when it is judgeable: its sharp source has detail
(``patch_texture`` ≥ ``min_texture``; an out-of-focus background of a real photo is not
"sharp" ground truth) and the observed patch has evidence (``evidence_mask``, the no-evidence
convention of the design: below it a patch is "no evidence", never a kind). Crop ``i`` draws
from the named stream ``blurlib.seeds.rng(seed, "kind_crops", i)`` only: same seed and photos, same
bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blurlib import PATCH, seeds
from blurlib.data.convolve import apply_kernel
from blurlib.data.degrade import (
    DegradeConfig,
    apply_isotropic,
    apply_specs,
    disk_kernel,
    draw_base,
    draw_finish,
)
from blurlib.data.kernels import kernel_from_spec, kernel_moments
from blurlib.data.patches import (
    EVIDENCE_THRESHOLD,
    TEXTURE_THRESHOLD,
    patch_orientation,
    patch_texture,
)

KINDS: tuple[str, ...] = ("sharp", "motion", "defocus")
MOTION_TYPES: tuple[str, ...] = ("none", "straight", "shake")

#: Sun et al. (CVPR 2015): 73 classes = no blur + 12 odd lengths 3–25 px × 6 angles 0–150°.
SUN_LENGTHS: tuple[int, ...] = tuple(range(3, 26, 2))
SUN_ANGLES: tuple[int, ...] = tuple(range(0, 180, 30))
N_SUN_CLASSES = 1 + len(SUN_LENGTHS) * len(SUN_ANGLES)

# The base stage every crop gets: mild label-0 softness only (no defocus: a class of its own).
BASE = DegradeConfig(
    defocus_prob=0.0,
    gaussian_prob=0.5,
    gaussian_sigma=(0.2, 0.8),
    resample_prob=0.2,
    resample_factor=(0.6, 0.95),
)
FINISH = DegradeConfig(jpeg_quality=(40, 95))  # camera finish: noise, JPEG


@dataclass(frozen=True)
class KindConfig:
    """Every share and range of :func:`kind_patches`."""

    kind_probs: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # sharp, motion, defocus
    shake_share: float = 0.3  # share of motion crops blurred by camera shake
    axis_share: float = 0.2  # share of straight motion along an image axis (0 or 90 degrees)
    length_range: tuple[float, float] = (7.0, 25.0)
    defocus_radius: tuple[float, float] = (1.5, 6.0)
    base: DegradeConfig = field(default_factory=lambda: BASE)
    finish: DegradeConfig = field(default_factory=lambda: FINISH)
    min_texture: float = TEXTURE_THRESHOLD  # detail of the sharp source patch
    min_evidence: float = EVIDENCE_THRESHOLD  # detail of the observed patch
    crop_patches: int = 4  # crops of crop_patches² grid patches share one kind and kernel
    sun_kernels: bool = False  # motion = one of Sun's 72 exact kernels, drawn uniformly
    context: int = 0  # px of the crop around each patch that comes with it (x: P + 2·context)
    mix_share: float = 0.0  # share of crops split patch by patch between two kinds
    mix_shape: str = "grid"  # how a mixed crop splits: "grid" (each cell) or "region" (a line)

    def __post_init__(self) -> None:
        p = np.asarray(self.kind_probs, float)
        if p.shape != (3,) or (p < 0).any() or not math.isclose(p.sum(), 1.0, abs_tol=1e-6):
            raise ValueError(f"kind_probs must be 3 shares summing to 1, got {self.kind_probs}")
        for name in ("shake_share", "axis_share", "mix_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"KindConfig.{name} must be in [0, 1]")
        lo, hi = self.length_range
        if not 1.0 <= lo <= hi:
            raise ValueError(f"length_range must satisfy 1 <= lo <= hi, got {self.length_range}")
        r0, r1 = self.defocus_radius
        if not 0.0 < r0 <= r1 <= 16.0:
            raise ValueError(f"defocus_radius must lie in (0, 16] px, got {self.defocus_radius}")
        if self.crop_patches < 1:
            raise ValueError("crop_patches must be >= 1")
        if self.mix_shape not in MIX_SHAPES:
            raise ValueError(f"mix_shape must be one of {MIX_SHAPES}, got {self.mix_shape!r}")
        if not 0 <= self.context <= 64:
            raise ValueError(f"context must be 0-64 px, got {self.context}")


#: How a mixed crop (``KindConfig.mix_share``) is split between its two blurs.
MIX_SHAPES = ("grid", "region")

#: Sun et al.'s setup: their 73 classes drawn uniformly — no blur (sharp) or one of the 72 exact
#: straight kernels (odd lengths 3–25 px × angles 0–150° in 30° steps).
SUN2015 = KindConfig(
    kind_probs=(1 / 73, 72 / 73, 0.0),
    shake_share=0.0,
    length_range=(3.0, 25.0),
    sun_kernels=True,
)


def motion_labels(spec: dict[str, Any]) -> tuple[float, float]:
    """Return ``(angle_deg in [0, 180), length_px)`` of a motion kernel spec (straight or shake)."""
    if spec.get("type") == "linear":
        return float(spec["angle"]) % 180.0, float(spec["length"])
    if spec.get("type") == "report":
        return 0.0, 15.0
    m = kernel_moments(kernel_from_spec(spec))
    return float(m["angle"]) % 180.0, float(m["length"])


def sun_class(kind: Any, angle: Any, length: Any) -> np.ndarray:
    """Return Sun et al.'s class per patch (int32): 0 = no blur (sharp, or motion shorter than
    2 px), else 1 + 6·(odd length index) + (angle index): nearest odd length in 3–25 and nearest
    30° angle, mod 180. Defocus patches (no class there) get -1."""
    kind = np.asarray(kind)
    a = np.nan_to_num(np.asarray(angle, np.float64) % 180.0)
    ln = np.nan_to_num(np.asarray(length, np.float64))
    li = np.clip(np.rint((ln - 3.0) / 2.0), 0, len(SUN_LENGTHS) - 1).astype(np.int32)
    ai = (np.rint(a / 30.0).astype(np.int32)) % len(SUN_ANGLES)
    out = 1 + li * len(SUN_ANGLES) + ai
    out = np.where((kind == 1) & (ln >= 2.0), out, 0)
    return np.where(kind == 2, -1, out).astype(np.int32)


def sun_class_labels(cls: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(angle_deg, length_px)`` float32 of Sun classes (class 0: NaN, NaN)."""
    c = np.asarray(cls, np.int64)
    k = np.maximum(c - 1, 0)
    angle = np.asarray(SUN_ANGLES, np.float32)[k % len(SUN_ANGLES)]
    length = np.asarray(SUN_LENGTHS, np.float32)[k // len(SUN_ANGLES)]
    none = c <= 0
    return np.where(none, np.nan, angle).astype("f4"), np.where(none, np.nan, length).astype("f4")


@dataclass
class KindPatches:
    """Labelled patches: ``x`` uint8 (N, P, P, 3) and per-patch labels (see the module doc)."""

    x: np.ndarray
    kind: np.ndarray  # uint8 (N,)
    angle: np.ndarray  # float32 (N,), NaN unless motion
    length: np.ndarray  # float32 (N,), NaN unless motion
    motion_type: np.ndarray  # uint8 (N,)
    photo: np.ndarray  # int32 (N,): index of the source photo
    texture_angle: np.ndarray  # float32 (N,): where the sharp source's lines run (degrees)
    coherence: np.ndarray  # float32 (N,): how one-directional the sharp source is (0–1)
    crops: int = 0  # crops drawn

    def __len__(self) -> int:
        return int(self.kind.shape[0])


def _draw_kind(rng: np.random.Generator, c: KindConfig) -> tuple[int, dict[str, Any] | None]:
    """Draw a crop's kind and its blur spec (motion kernel spec or defocus radius)."""
    kind = int(rng.choice(3, p=np.asarray(c.kind_probs, float) / sum(c.kind_probs)))
    if kind == 0:
        return 0, None
    if kind == 2:
        return 2, {"type": "defocus", "radius": round(float(rng.uniform(*c.defocus_radius)), 4)}
    if c.sun_kernels:
        k = int(rng.integers(len(SUN_LENGTHS) * len(SUN_ANGLES)))
        length, angle = SUN_LENGTHS[k // len(SUN_ANGLES)], SUN_ANGLES[k % len(SUN_ANGLES)]
        return 1, {"type": "linear", "length": float(length), "angle": float(angle)}
    length = round(float(rng.uniform(*c.length_range)), 4)
    if rng.random() < c.shake_share:
        return 1, {"type": "shake", "length": length, "seed": int(rng.integers(0, 2**31))}
    if rng.random() < c.axis_share:
        angle = 90.0 if rng.random() < 0.5 else 0.0
    else:
        angle = round(float(rng.uniform(0.0, 180.0)), 4) % 180.0
    return 1, {"type": "linear", "length": length, "angle": angle}


def blur_crop(image: np.ndarray, kind: int, spec: dict[str, Any] | None) -> np.ndarray:
    """Return ``image`` (RGB uint8) blurred as ``kind`` with ``spec`` (sharp: a copy)."""
    if kind == 0 or spec is None:
        return image.copy()
    if kind == 2:
        return apply_isotropic(image, disk_kernel(float(spec["radius"])))
    return apply_kernel(image, kernel_from_spec(spec))


def _grid_mask(
    rng: np.random.Generator, size: int, offset: int, patch: int, shape: str = "grid"
) -> np.ndarray:
    """A (size, size) bool mask, constant on each patch-grid cell (the grid of the crop, whose
    first patch starts at ``offset``, extended over the border). ``shape`` "grid": each cell
    True with p 1/2; "region": the cells whose centres lie on one side of a straight line at a
    uniform angle through a uniform point of the crop (a blurred object's edge, on the grid)."""
    before = -(-offset // patch)  # cells reaching into the border before the crop's grid
    cells = -(-(size + before * patch - offset) // patch)
    if shape == "region":
        centre = (np.arange(cells) - before + 0.5) * patch  # cell centres, crop coordinates
        inner = size - 2 * offset  # the crop's own grid, where the line passes
        py, px = rng.uniform(0.0, inner, 2)
        theta = rng.uniform(0.0, 2 * math.pi)
        side = (centre[:, None] - py) * math.cos(theta) - (centre[None, :] - px) * math.sin(theta)
        grid = side > 0
    else:
        grid = rng.random((cells, cells)) < 0.5
    full = np.repeat(np.repeat(grid, patch, axis=0), patch, axis=1)
    start = before * patch - offset
    return full[start : start + size, start : start + size]


def draw_crop(
    photo: np.ndarray, rng: np.random.Generator, c: KindConfig, patch: int
) -> tuple[np.ndarray, np.ndarray, list, np.ndarray, np.ndarray] | None:
    """One crop, drawn: ``(finished window (S + 2k)² with its context, blur index per pixel
    (into ``blurs``), blurs [(kind, spec), …], keep (n, n) bool, sharp source (S, S))``, S = n·P,
    or None when the photo is too small or no patch is judgeable. One blur unless the crop is
    mixed (``mix_share``): then two."""
    side = c.crop_patches * patch
    cut = 16  # > half the largest kernel (25 px motion, 6 px disk) plus resampling reach
    margin = cut + c.context  # the context around the crop is blurred and finished with it
    h, w = photo.shape[:2]
    if h < side + 2 * margin or w < side + 2 * margin:
        return None
    y0 = int(rng.integers(0, h - side - 2 * margin + 1))
    x0 = int(rng.integers(0, w - side - 2 * margin + 1))
    sharp = np.ascontiguousarray(photo[y0 : y0 + side + 2 * margin, x0 : x0 + side + 2 * margin])
    if rng.random() < 0.5:  # a mirror image: directions of the photos' own structure balance
        sharp = np.ascontiguousarray(sharp[:, ::-1])
    blurs = [_draw_kind(rng, c)]
    base = apply_specs(sharp, draw_base(rng, c.base, sharp.shape))
    blurred = blur_crop(base, *blurs[0])[cut:-cut, cut:-cut]
    k = c.context
    which = np.zeros(blurred.shape[:2], np.uint8)
    if c.mix_share and rng.random() < c.mix_share:  # no draw at all when mixing is off
        blurs.append(_draw_kind(rng, c))
        which = _grid_mask(rng, blurred.shape[0], k, patch, c.mix_shape).astype(np.uint8)
        other = blur_crop(base, *blurs[1])[cut:-cut, cut:-cut]
        blurred = np.where(which[..., None] == 1, other, blurred)
    finished = apply_specs(blurred, draw_finish(rng, c.finish, blurred.shape))
    observed = finished[k : k + side, k : k + side]
    source = sharp[margin:-margin, margin:-margin]
    src_tex = patch_texture(source, patch) >= c.min_texture
    keep = src_tex & (patch_texture(observed, patch) >= c.min_evidence)
    if not keep.any():
        return None
    return finished, which, blurs, keep, source


def _one_crop(
    photo: np.ndarray, rng: np.random.Generator, c: KindConfig, patch: int
) -> (
    tuple[np.ndarray, np.ndarray, list[tuple[int, dict[str, Any] | None]], np.ndarray, np.ndarray]
    | None
):
    """One crop: ``(observed patches kept (k, P, P, 3), blur of each (k,) as an index into
    ``blurs``, blurs [(kind, spec), …], texture angle (k,), coherence (k,))``
    (:func:`blurlib.data.patches.patch_orientation` of the sharp source patches) or None if
    none kept."""
    got = draw_crop(photo, rng, c, patch)
    if got is None:
        return None
    finished, which, blurs, keep, source = got
    k = c.context
    angle, coherence = patch_orientation(source, patch)
    # each kept patch with its context: a (P + 2k)-pixel window centred on it (k = 0: the patch)
    view = np.lib.stride_tricks.sliding_window_view(finished, (patch + 2 * k,) * 2, (0, 1))
    rows, cols = np.nonzero(keep)
    x = np.ascontiguousarray(view[rows * patch, cols * patch].transpose(0, 2, 3, 1))
    blur_of = which[k + rows * patch, k + cols * patch]
    return x, blur_of, blurs, angle[keep], coherence[keep]


def blur_labels(
    blurs: list[tuple[int, dict[str, Any] | None]], blur_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(kind uint8, angle float32, length float32, motion_type uint8)`` of each patch whose
    blur is ``blurs[blur_of]`` (any shape of ``blur_of``)."""
    labels = []
    for kind, spec in blurs:
        angle, length = motion_labels(spec) if kind == 1 else (math.nan, math.nan)
        mtype = 0 if kind != 1 else (2 if spec["type"] == "shake" else 1)
        labels.append((kind, angle, length, mtype))
    table = [np.asarray(col)[blur_of] for col in zip(*labels)]
    kind, angle, length, mtype = (
        t.astype(d) for t, d in zip(table, (np.uint8, np.float32, np.float32, np.uint8))
    )
    return kind, angle, length, mtype


def crop_result(
    photos: Sequence[np.ndarray], seed: int, crop: int, c: KindConfig, patch: int = PATCH
) -> tuple[np.ndarray, ...] | None:
    """Crop number ``crop`` of the run with ``seed``: its kept patches and their labels, one
    per patch: ``(x, kind, angle, length, motion_type, photo, texture_angle, coherence)``, or
    None when it keeps no patch. A pure function of its arguments, so crops can be drawn
    anywhere, in any order."""
    rng = seeds.rng(seed, "kind_crops", crop)
    p = int(rng.integers(len(photos)))
    got = _one_crop(photos[p], rng, c, patch)
    if got is None:
        return None
    x, blur_of, blurs, tex_angle, coherence = got
    kind, angle, length, mtype = blur_labels(blurs, blur_of)
    return x, kind, angle, length, mtype, np.full(len(x), p, np.int32), tex_angle, coherence


def assemble(results: Iterable[tuple | None], n: int) -> KindPatches:
    """Return the first ``n`` patches of ``results`` (:func:`crop_result` of crops 0, 1, …, in
    order; pulled only until ``n`` are in); ValueError if they run out first."""
    xs, kinds, angles, lengths, mtypes, srcs = [], [], [], [], [], []
    tex_angles, coherences = [], []
    have, crop = 0, 0
    for got in results:
        crop += 1
        if got is None:
            continue
        x, kind, angle, length, mtype, p, tex_angle, coherence = got
        k = min(x.shape[0], n - have)
        for out, a in zip(
            (xs, kinds, angles, lengths, mtypes, srcs, tex_angles, coherences),
            (x, kind, angle, length, mtype, p, tex_angle, coherence),
        ):
            out.append(a[:k])
        have += k
        if have >= n:
            break
    if have < n:
        raise ValueError(
            f"only {have} judgeable patches in {crop} crops (wanted {n}); use larger or more "
            "textured photos"
        )
    return KindPatches(
        np.concatenate(xs),
        np.concatenate(kinds),
        np.concatenate(angles),
        np.concatenate(lengths),
        np.concatenate(mtypes),
        np.concatenate(srcs),
        np.concatenate(tex_angles).astype(np.float32, copy=False),
        np.concatenate(coherences).astype(np.float32, copy=False),
        crops=crop,
    )


def kind_patches(
    photos: Sequence[np.ndarray],
    n: int,
    seed: int = 0,
    config: KindConfig | None = None,
    patch: int = PATCH,
    max_crops: int | None = None,
) -> KindPatches:
    """Return ``n`` labelled judgeable patches cut from ``photos`` (RGB uint8 arrays) — see the
    module docstring; the same photos, ``n``, seed and config give the same bytes (drawn on
    worker processes with the same bytes: :class:`blurlib.data.kind_stream.KindPatchStream`)."""
    c = config or KindConfig()
    check_request(photos, n, "kind_patches")
    max_crops = max_crops or default_max_crops(n)
    return assemble((crop_result(photos, seed, i, c, patch) for i in range(max_crops)), n)


def check_request(photos: Sequence[np.ndarray], n: int, what: str) -> None:
    """ValueError unless there is a photo to draw from and ``n`` >= 1 items are asked for."""
    if not photos:
        raise ValueError(f"{what} needs at least one photo")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def default_max_crops(n: int) -> int:
    """How many crops a request for ``n`` patches may draw before it gives up."""
    return 50 * n + 1000


def angle_difference(a: Any, b: Any) -> np.ndarray:
    """Return |a - b| between undirected angles in degrees, mod 180: values in [0, 90]."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) % 180.0
    return np.minimum(d, 180.0 - d)


def doubled_angle(angle_deg: Any) -> np.ndarray:
    """Return ``(..., 2)`` float32 (cos 2θ, sin 2θ) of angles in degrees (NaN → 0, 0)."""
    t = np.radians(np.nan_to_num(np.asarray(angle_deg, np.float64))) * 2.0
    out = np.stack([np.cos(t), np.sin(t)], axis=-1)
    return np.where(np.isnan(np.asarray(angle_deg))[..., None], 0.0, out).astype(np.float32)


def angle_from_doubled(cos2: Any, sin2: Any) -> np.ndarray:
    """Return angles in degrees in [0, 180) (float32) from (cos 2θ, sin 2θ)."""
    a = np.degrees(np.arctan2(np.asarray(sin2, np.float64), np.asarray(cos2, np.float64))) / 2.0
    a = np.mod(a, 180.0).astype(np.float32)  # the cast may round 179.99999… up to 180
    return np.where(a >= 180.0, np.float32(0.0), a)
