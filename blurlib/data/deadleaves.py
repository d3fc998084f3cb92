"""Dead-leaves scenes: synthetic photos that are perfectly sharp by construction.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) drops opaque shapes ("leaves") onto
the plane; the picture is what the front-most leaf shows at each pixel. With leaf radii of
density ∝ r^-alpha, alpha = 3, between ``rmin`` ≈ 1 px and ``rmax`` ≈ the image size, the scene
is scale invariant: edges at every scale, a power spectrum close to 1/f², occlusions
everywhere — the statistics of ordinary photos without a single blurred pixel. Achddou,
Gousseau & Ladjal (SSVM 2021, CVIU 2023; rachddou/DeadLeavesPlus; "VibrantLeaves", 2025)
train restoration networks on such scenes, with colours drawn from natural photos' colour
histograms, textured leaves and an optional depth of field; this module follows that model.

How it is made fast: leaves are drawn in chunks, front to back, and only those that meet the
image (radii from the mixture r^-alpha·(H+2r)(W+2r), centres uniform over the image grown by
r: exact). A float32 z-buffer keeps the earliest (front-most) leaf per pixel. Within a chunk,
radius classes (octaves) go largest first; a leaf whose neighbourhood is already covered by
earlier leaves is skipped (a windowed max of the z-buffer), which drops most small leaves.
Leaves of r ≥ 16 px are painted back to front by OpenCV into a layer merged by min; smaller
ones become per-row spans (every shape is convex) turned into pixel indices for
``np.minimum.at``. Chunks stop at 99.9 % coverage; each group of pixels left becomes one more
small leaf of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from blurlib.data.degrade import disk_kernel
from blurlib.data.images import PhotoRef
from blurlib.data.leaf_looks import as_palette, colourise, draw_looks, palette_from_photos
from blurlib.data.samples import sample_images
from blurlib.errors import DatasetError

SHAPES = ("disk", "polygon", "rectangle")
_UNCOVERED = 2**24  # exact in float32, larger than any leaf index
_FIRST_X, _NEXT_X, _MAX_X = 7.0, 1.0, 15.0  # coverage exponents: first chunk, next ones, cap
_COVERAGE = 0.999  # stop drawing leaves at this covered share; the holes become leaves
_BIG = 16.0  # leaves at least this large are painted one by one by OpenCV
_MAX_SIDES = 6
_TINY = 2.0  # leaves smaller than this radius (px) are all disks
_FILL = {"disk": 1.0, "polygon": 0.6, "rectangle": 0.55}  # mean area / (π r²), measured


def _integral(lo: float, hi: float, beta: float) -> float:
    """∫ r^-beta dr over [lo, hi]."""
    if abs(beta - 1.0) < 1e-9:
        return math.log(hi / lo)
    return (hi ** (1.0 - beta) - lo ** (1.0 - beta)) / (1.0 - beta)


def _powerlaw(u: np.ndarray, lo: float, hi: float, beta: float) -> np.ndarray:
    """Inverse-CDF samples of the density ∝ r^-beta on [lo, hi] from uniforms ``u``."""
    if abs(beta - 1.0) < 1e-9:
        return lo * np.exp(u * math.log(hi / lo))
    e = 1.0 - beta
    a, b = lo**e, hi**e - lo**e
    return np.clip(np.exp(np.log(a + u * b) / e), lo, hi)


def leaf_radii(
    rng: np.random.Generator, n: int, rmin: float = 1.0, rmax: float = 512.0, alpha: float = 3.0
) -> np.ndarray:
    """``n`` radii (float64) of density ∝ r^-alpha on [rmin, rmax]: the model's size law."""
    _check_radii(rmin, rmax, alpha)
    return _powerlaw(rng.random(n), rmin, rmax, alpha)


def _check_radii(rmin: float, rmax: float, alpha: float) -> None:
    if not (rmin > 0 and rmax >= rmin and math.isfinite(rmax)):
        raise ValueError(f"need 0 < rmin <= rmax < inf, got rmin={rmin}, rmax={rmax}")
    if not (0.0 < alpha <= 10.0):
        raise ValueError(f"alpha must be in (0, 10] (3 = scale invariant), got {alpha}")


def _draw_chunk(rng: np.random.Generator, n: int, shape: tuple[int, int], g: dict) -> dict:
    """Draw ``n`` leaves that meet the image, in front-to-back order: size, place, shape."""
    h, w = shape
    comp = np.searchsorted(g["cum"], rng.random(n) * g["cum"][-1], side="right")
    u, r = rng.random(n), np.empty(n)
    for j in range(3):  # mixture component j: density ∝ r^-(alpha - j)
        m = comp == j
        r[m] = _powerlaw(u[m], g["rmin"], g["rmax"], g["alpha"] - j)
    cy = rng.random(n) * (h - 1 + 2 * r) - r
    cx = rng.random(n) * (w - 1 + 2 * r) - r
    kind = g["kinds"][rng.integers(0, len(g["kinds"]), n)]
    kind[r < _TINY] = 0  # a few pixels cannot tell a polygon from a disk
    return {"r": r, "cy": cy, "cx": cx, "kind": kind}


def _window_max(pyramid: list, hs: int, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
    """Max of the z-buffer over a window of half side ≥ ``hs`` around each (cy, cx).

    ``pyramid`` holds the z-buffer and its 2×2 max-pooled levels, built on demand.
    """
    level = max(0, math.ceil(math.log2(hs / 8))) if hs > 8 else 0
    while len(pyramid) <= level:
        z = pyramid[-1]
        if z.shape[0] % 2 or z.shape[1] % 2:
            z = np.pad(z, ((0, z.shape[0] % 2), (0, z.shape[1] % 2)))
        pooled = np.maximum(z[0::2, 0::2], z[1::2, 0::2])
        pyramid.append(np.maximum(pooled, np.maximum(z[0::2, 1::2], z[1::2, 1::2])))
    k = -(-hs // (1 << level))
    zmax = cv2.dilate(pyramid[level], np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    return zmax[cy >> level, cx >> level]


def _vertices(rng: np.random.Generator, kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex angles ``(n, 6)`` (ascending; unused slots repeat the first) and counts ``(n,)``.

    Polygons: 3–6 vertices on the leaf's circle, jittered around a regular polygon.
    Rectangles: 4 vertices at θ ± a, θ + π ± a (half sides r·cos a, r·sin a).
    """
    n, rect = len(kind), kind == 2
    k = rng.integers(3, _MAX_SIDES + 1, n)
    k[rect] = 4
    th = rng.random(n) * np.pi
    a = (0.1 + 0.3 * rng.random(n))[rect, None] * np.pi
    j = np.arange(_MAX_SIDES)[None, :]
    vert = th[:, None] + 2 * np.pi * (j + 0.7 * (rng.random((n, _MAX_SIDES)) - 0.5)) / k[:, None]
    vert[rect, :4] = th[rect, None] + np.concatenate([-a, a, np.pi - a, np.pi + a], axis=1)
    return np.where(j < k[:, None], vert, vert[:, :1]), k


def _spans(rng, kind: np.ndarray, r: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row horizontal extents ``(left, right)`` of leaves, as offsets from their centres.

    ``dy`` (n, rows) holds the rows' offsets from the leaf centres; an empty row has
    left > right. Every shape is convex, so each row meets it in one interval.
    """
    rr = r.astype(np.float32)[:, None]
    dy = dy.astype(np.float32)
    left, right = np.empty(dy.shape, np.float32), np.empty(dy.shape, np.float32)
    d = np.flatnonzero(kind == 0)  # disks
    if len(d):
        half = np.sqrt(np.maximum(rr[d] ** 2 - dy[d] ** 2, 0.0))
        left[d], right[d] = -half, np.where(np.abs(dy[d]) <= rr[d], half, -1.0)
    m = np.flatnonzero(kind != 0)  # polygons and rectangles: intersect half-planes
    if len(m) == 0:
        return left, right
    vert, k = _vertices(rng, kind[m])
    j = np.arange(_MAX_SIDES)[None, :]
    nxt = np.where(j + 1 < k[:, None], np.roll(vert, -1, axis=1), vert[:, :1] + 2 * np.pi)
    nxt = np.where(j < k[:, None], nxt, vert[:, 1:2])  # unused slots repeat the first edge
    normal = ((vert + nxt).T / 2).astype(np.float32)  # (edges, n)
    off = (rr[m] * np.cos((nxt - vert) / 2).astype(np.float32)).T
    c, s = np.cos(normal)[:, :, None], np.sin(normal)[:, :, None]
    c = np.where(np.abs(c) < 1e-6, np.float32(1e-6), c)
    bound = (off[:, :, None] - dy[m][None] * s) / c  # edge e keeps x·c ≤ off - y·s
    lo = np.where(c < 0, bound, -np.inf).max(axis=0)
    hi = np.where(c > 0, bound, np.inf).min(axis=0)
    left[m], right[m] = lo, hi
    return left, right


def _paint_big(rng, ch: dict, idx: np.ndarray, t0: int, zbufs: list, t_fg: int) -> None:
    """Paint large leaves back to front with OpenCV (1/16 px precision), then merge by min."""
    r, cy, cx, kind = ch["r"][idx], ch["cy"][idx], ch["cx"][idx], ch["kind"][idx]
    poly = np.flatnonzero(kind != 0)
    vert, k = _vertices(rng, kind[poly])
    row = np.full(len(idx), -1)
    row[poly] = np.arange(len(poly))
    rp = r[poly, None]
    pts = np.stack([cx[poly, None] + rp * np.cos(vert), cy[poly, None] + rp * np.sin(vert)], 2)
    pts = np.rint(pts * 16).astype(np.int32)
    centre = np.rint(np.stack([cx, cy], 1) * 16).astype(np.int64).tolist()
    radius = np.rint(r * 16).astype(np.int64).tolist()
    layers = [np.full_like(z, _UNCOVERED) for z in zbufs]
    for i in range(len(idx) - 1, -1, -1):  # back to front: the front-most leaf is drawn last
        t = float(t0 + idx[i])
        for n, layer in enumerate(layers):
            if n == 1 and t < t_fg:
                continue  # the background layer leaves the foreground leaves out
            if row[i] < 0:
                cv2.circle(layer, centre[i], radius[i], t, -1, cv2.LINE_8, 4)
            else:
                cv2.fillConvexPoly(layer, pts[row[i], : k[row[i]]], t, cv2.LINE_8, 4)
    for z, layer in zip(zbufs, layers):
        np.minimum(z, layer, out=z)


def _render_chunk(rng, ch: dict, t0: int, zbufs: list[np.ndarray], g: dict) -> None:
    """Render one chunk of leaves (times t0, t0+1, …) into the z-buffers, biggest first."""
    h, w = zbufs[0].shape
    r, edges, t_fg = ch["r"], g["edges"], g["t_fg"]
    cls = np.searchsorted(edges, r, side="right") - 1
    t_all = t0 + np.arange(len(r))
    big = []
    for c in range(len(edges) - 2, -1, -1):
        idx = np.flatnonzero(cls == c)
        if len(idx) == 0:
            continue
        r_hi = edges[c + 1]
        cyi = np.clip(np.floor(ch["cy"][idx]), 0, h - 1).astype(np.intp)
        cxi = np.clip(np.floor(ch["cx"][idx]), 0, w - 1).astype(np.intp)
        zmax = _window_max([zbufs[-1]], math.ceil(r_hi) + 1, cyi, cxi)
        idx = idx[(zmax > t_all[idx]) | (t_all[idx] < t_fg)]  # else hidden: skip
        if edges[c] >= _BIG:
            big.append(idx)
            continue
        if big:
            _paint_big(rng, ch, np.sort(np.concatenate(big)), t0, zbufs, t_fg)
            big = []
        if len(idx) == 0:
            continue
        sy = min(math.floor(2 * r_hi) + 2, h)
        cy, cx = ch["cy"][idx], ch["cx"][idx]
        ys = np.clip(np.floor(cy - r[idx]).astype(np.intp), 0, h - sy)[:, None] + np.arange(sy)
        left, right = _spans(rng, ch["kind"][idx], r[idx], ys - cy[:, None])
        lo = np.clip(np.ceil(cx[:, None] + left), 0, w).astype(np.intp)
        hi = np.clip(np.floor(cx[:, None] + right), -1, w - 1).astype(np.intp)
        count = np.maximum(hi - lo + 1, 0).reshape(-1)
        start = (ys * w + lo).reshape(-1) - (np.cumsum(count) - count)
        pix = np.arange(int(count.sum())) + np.repeat(start, count)
        t = np.repeat(np.repeat(t_all[idx].astype(np.float32), sy), count)
        np.minimum.at(zbufs[0].reshape(-1), pix, t)
        if len(zbufs) > 1:
            back = t >= t_fg
            np.minimum.at(zbufs[1].reshape(-1), pix[back], t[back])
    if big:
        _paint_big(rng, ch, np.sort(np.concatenate(big)), t0, zbufs, t_fg)


def _fill_holes(z: np.ndarray, first_label: int) -> int:
    """Give each 8-connected group of uncovered pixels a label of its own; return their count."""
    holes = (z == _UNCOVERED).astype(np.uint8)
    if not holes.any():
        return 0
    n, comp = cv2.connectedComponents(holes, connectivity=8)
    z[holes > 0] = first_label + comp[holes > 0] - 1
    return n - 1


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if h < 1 or w < 1 or h * w > 2**26:
        raise ValueError(f"size must be positive and at most 2^26 pixels, got {size!r}")
    return h, w


def _render(rng, shape, rmin, rmax, alpha, shapes, fg_cover):
    """Leaf maps: (z, z of the background layer or None, leaf geometry, number of leaves, t_fg)."""
    h, w = shape
    _check_radii(rmin, rmax, alpha)
    rmax = max(rmax, rmin * (1 + 1e-6))  # a degenerate range still needs a density
    if not shapes or any(s not in SHAPES for s in shapes):
        raise ValueError(f"shapes must be a non-empty subset of {SHAPES}, got {shapes!r}")
    weights = [h * w * _integral(rmin, rmax, alpha), 2 * (h + w) * _integral(rmin, rmax, alpha - 1)]
    weights.append(4 * _integral(rmin, rmax, alpha - 2))
    fill = np.mean([_FILL[s] for s in shapes])  # mean leaf area / (π r²)
    hits = sum(weights) / (math.pi * fill * _integral(rmin, rmax, alpha - 2))  # leaves per unit x
    nclass = max(1, math.ceil(math.log2(rmax / rmin)))
    edges = rmin * 2.0 ** np.arange(nclass + 1)  # radius classes, one octave each
    edges[-1] = rmax * (1 + 1e-9)
    g = {"cum": np.cumsum(weights), "rmin": rmin, "rmax": rmax, "alpha": alpha, "edges": edges}
    g |= {"kinds": np.array([SHAPES.index(s) for s in shapes])}
    g["t_fg"] = int(hits * -math.log1p(-fg_cover))
    zbufs = [np.full(shape, _UNCOVERED, np.float32) for _ in range(1 + (fg_cover > 0))]
    chunks, t0, x, total = [], 0, _FIRST_X, 0.0
    left = h * w * (1.0 - _COVERAGE)
    while True:
        n = max(16, round(x * hits))
        if t0 + n >= _UNCOVERED:
            break
        ch = _draw_chunk(rng, n, shape, g)
        _render_chunk(rng, ch, t0, zbufs, g)
        chunks.append(ch)
        t0, total, x = t0 + n, total + x, _NEXT_X
        if total >= _MAX_X or np.count_nonzero(zbufs[-1] == _UNCOVERED) <= left:
            break
    extra = max(_fill_holes(z, t0) for z in zbufs)
    geometry = {
        k: np.concatenate([c[k] for c in chunks] + [np.ones(extra)]) for k in ("cy", "cx", "r")
    }
    zbufs = [z.astype(np.int32) for z in zbufs]
    return zbufs[0], (zbufs[1] if len(zbufs) > 1 else None), geometry, t0 + extra, g["t_fg"]


def leaf_labels(
    rng: np.random.Generator,
    size: tuple[int, int] = (512, 512),
    *,
    rmin: float = 1.0,
    rmax: float | None = None,
    alpha: float = 3.0,
    shapes: Sequence[str] = ("disk", "polygon"),
) -> np.ndarray:
    """The int32 ``H×W`` leaf map: at each pixel the index of the front-most leaf (all ≥ 0)."""
    shape = _check_size(size)
    rmax = float(max(shape)) if rmax is None else float(rmax)
    return _render(rng, shape, float(rmin), rmax, float(alpha), tuple(shapes), 0.0)[0]


def dead_leaves(
    rng: np.random.Generator,
    size: tuple[int, int] = (512, 512),
    *,
    rmin: float = 1.0,
    rmax: float | None = None,
    alpha: float = 3.0,
    shapes: Sequence[str] = ("disk", "polygon"),
    texture_prob: float = 0.3,
    strand_prob: float = 0.0,
    palette: np.ndarray | Sequence[np.ndarray] | None = None,
    depth_of_field: bool | float = False,
    supersample: int = 1,
) -> np.ndarray:
    """An RGB uint8 ``H×W×3`` dead-leaves scene, perfectly sharp unless ``depth_of_field``.

    ``rmax`` defaults to the larger image side. ``shapes`` from ``SHAPES``. ``palette``: a
    (K, 3) uint8 colour array, or RGB photos whose pixel colours are sampled, or None for
    the built-in palette (:mod:`blurlib.data.leaf_looks`). ``strand_prob``: share of leaves
    carrying strands (one-directional texture, :func:`blurlib.data.leaf_looks.strand_tile`;
    0 leaves the scene byte for byte as without it). ``depth_of_field``: True (disk
    radius drawn in [1.5, 5] px) or a radius; the front-most leaves, covering 15–50 % of the
    picture, stay sharp and the rest is defocused with a disk kernel. ``supersample=2``
    renders a 2× canvas and area-averages it down (anti-aliased edges, about 4× slower).
    """
    h, w = _check_size(size)
    if supersample not in (1, 2, 3, 4):
        raise ValueError(f"supersample must be 1, 2, 3 or 4, got {supersample!r}")
    colours = as_palette(palette)
    rmax = float(max(h, w)) if rmax is None else float(rmax)
    k = supersample
    fg, radius = 0.0, 0.0
    if depth_of_field is not False and depth_of_field is not None:
        radius = 1.5 + 3.5 * rng.random() if depth_of_field is True else float(depth_of_field)
        if not 0.0 < radius <= 16.0:
            raise ValueError(f"depth_of_field radius must be in (0, 16] px, got {depth_of_field}")
        fg = 0.15 + 0.35 * rng.random()
    if not 0.0 <= texture_prob <= 1.0:
        raise ValueError(f"texture_prob must be in [0, 1], got {texture_prob}")
    if not 0.0 <= strand_prob <= 1.0:
        raise ValueError(f"strand_prob must be in [0, 1], got {strand_prob}")
    z, zbg, geometry, n, t_fg = _render(
        rng, (h * k, w * k), float(rmin) * k, rmax * k, float(alpha), tuple(shapes), fg
    )
    visible = np.bincount(z.reshape(-1), minlength=n) > 0
    if zbg is not None:
        visible |= np.bincount(zbg.reshape(-1), minlength=n) > 0
    looks = draw_looks(
        rng, visible, geometry, len(colours), float(texture_prob), float(strand_prob)
    )
    image = colourise(z, looks, colours)
    if zbg is not None:
        back = colourise(zbg, looks, colours)
        back = cv2.filter2D(back, -1, disk_kernel(radius * k), borderType=cv2.BORDER_REFLECT_101)
        image = np.where((z < t_fg)[:, :, None], image, back)
    if k > 1:
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return image


def deadleaves_images(
    n: int, size: tuple[int, int] = (512, 512), seed: int = 0, **kwargs
) -> list[tuple[str, np.ndarray]]:
    """``n`` named scenes ``("deadleaves-0000", image)``, …; image i uses rng([seed, i]) only."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [
        (f"deadleaves-{i:04d}", dead_leaves(np.random.default_rng([seed, i]), size, **kwargs))
        for i in range(n)
    ]


DEADLEAVES_SIDE = 512  # default side of a dead-leaves scene used as a photo source
SCENE_SEED = 20170501  # scene i of every ``deadleaves:N`` source is fixed by i alone
DOF_PROB = 0.3  # share of source scenes given a depth of field (a defocused background)
STRANDS_STREAM = 1  # deadleaves-strands scenes: [SCENE_SEED, 1, index], apart from the plain ones
STRAND_PROB = 0.5  # share of their leaves that carry strands


@lru_cache(maxsize=1)
def _photo_palette() -> np.ndarray:
    """Leaf colours sampled from the bundled sample photos (fixed, so scenes are reproducible)."""
    return palette_from_photos([image for _, image in sample_images()], n=8192, seed=0)


def deadleaves_scene(index: int, side: int = DEADLEAVES_SIDE, strands: bool = False) -> np.ndarray:
    """Scene ``index`` of the ``deadleaves`` photo source: colours of real photos, textured
    leaves, and a depth of field (defocused background, label 0) in a share ``DOF_PROB``.
    ``strands`` (the ``deadleaves-strands`` source, its own random stream): half the leaves
    carry sharp one-directional strands (:func:`blurlib.data.leaf_looks.strand_tile`)."""
    key = [SCENE_SEED, STRANDS_STREAM, int(index)] if strands else [SCENE_SEED, int(index)]
    rng = np.random.default_rng(key)
    dof = bool(rng.random() < DOF_PROB)
    return dead_leaves(
        rng,
        (side, side),
        palette=_photo_palette(),
        depth_of_field=dof,
        strand_prob=STRAND_PROB if strands else 0.0,
    )


@dataclass(frozen=True)
class DeadLeavesRef(PhotoRef):
    """A dead-leaves scene as a photo reference: made, not read, by ``load()``."""

    index: int = 0
    side: int = DEADLEAVES_SIDE
    strands: bool = False  # the deadleaves-strands source

    @property
    def location(self) -> str:
        """Human-readable description of the scene, for messages."""
        what = "dead-leaves scene with strands" if self.strands else "dead-leaves scene"
        return f"{what} {self.index} ({self.side}×{self.side} px, generated)"

    def load(self) -> np.ndarray:
        """Render the scene (RGB uint8), the same for the same index and side."""
        return deadleaves_scene(self.index, self.side, self.strands)


def deadleaves_refs(source: str) -> list[PhotoRef]:
    """``"deadleaves:N"`` or ``"deadleaves:N:SIDE"`` → N scene references (default side 512);
    ``"deadleaves-strands:N[:SIDE]"``: N scenes whose leaves carry strands half the time (sharp
    one-directional texture, label 0: fur, bristles, grass)."""
    parts = source.split(":")
    try:
        if parts[0] not in ("deadleaves", "deadleaves-strands") or len(parts) not in (2, 3):
            raise ValueError
        n = int(parts[1])
        side = int(parts[2]) if len(parts) == 3 else DEADLEAVES_SIDE
    except ValueError:
        raise DatasetError(
            f"photo source {source!r}: write deadleaves:N or deadleaves:N:SIDE (or "
            "deadleaves-strands:N[:SIDE]), e.g. deadleaves:200 or deadleaves:200:384"
        ) from None
    if n < 1 or not 32 <= side <= 4096:
        raise DatasetError(
            f"photo source {source!r}: N must be at least 1 and SIDE within 32–4096 px"
        )
    strands = parts[0] == "deadleaves-strands"
    return [
        DeadLeavesRef(f"{parts[0]}-{i:04d}", Path(source), index=i, side=side, strands=strands)
        for i in range(n)
    ]
