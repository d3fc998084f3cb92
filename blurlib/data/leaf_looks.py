"""What dead leaves look like: colour palettes drawn from photo statistics, textures, painting.

A leaf is one flat colour from a palette (:func:`builtin_palette`, with the rough colour
statistics of ordinary photos, or :func:`palette_from_photos`, pixel colours sampled from real
photos), and a share of leaves carries a texture: a linear gradient or periodic 1/f noise —
the "textured leaves" of Achddou et al. that keep a network from learning "flat = sharp".
Optionally (``strand_prob``) a share of leaves carries *strands*: 1/f noise stretched along one
direction per leaf (fur, grass, wood grain, brushed metal) — sharp across its lines, long along
them, the one-directional texture a motion-blur detector must not call motion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_NOISE_SIDE = 128  # side of the periodic 1/f noise tile used by noise-textured leaves
_STRAND_DIRECTIONS = 8  # strand tiles per scene, at evenly spaced directions (random offset)


@lru_cache(maxsize=1)
def builtin_palette() -> np.ndarray:
    """A fixed (2048, 3) uint8 palette with the rough colour statistics of ordinary photos.

    Luma follows a Beta(1.3, 1.5) law (dark-leaning, all levels present); chroma (Cb, Cr) is a
    correlated Gaussian (blue–yellow the wider axis, ρ ≈ -0.4), shrunk near black and white;
    one colour in eight is saturated (flowers, paint, signs).
    """
    rng = np.random.default_rng(20250101)
    n = 2048
    y = 16 + 219 * rng.beta(1.3, 1.5, n)
    cov = np.array([[18.0**2, -0.4 * 18 * 12], [-0.4 * 18 * 12, 12.0**2]])
    chroma = rng.multivariate_normal([0.0, 0.0], cov, n)
    chroma *= (np.minimum(y - 16, 235 - y) / 60).clip(0.15, 1.0)[:, None]
    chroma[rng.random(n) < 0.125] *= 3.0
    cb, cr = chroma[:, 0], chroma[:, 1]
    r = y + 1.402 * cr
    g = y - 0.344136 * cb - 0.714136 * cr
    b = y + 1.772 * cb
    return np.rint(np.stack([r, g, b], 1)).clip(0, 255).astype(np.uint8)


def palette_from_photos(
    photos: Sequence[np.ndarray] | np.ndarray, n: int = 4096, seed: int = 0
) -> np.ndarray:
    """``(n, 3)`` uint8 pixel colours sampled uniformly from RGB photos (equal share each)."""
    if isinstance(photos, np.ndarray):
        photos = [photos]
    if len(photos) == 0 or n < 1:
        raise ValueError("palette_from_photos needs at least one photo and n >= 1")
    rng = np.random.default_rng(seed)
    parts = []
    for k, photo in enumerate(photos):
        ok = isinstance(photo, np.ndarray) and photo.dtype == np.uint8 and photo.ndim == 3
        if not ok or photo.shape[2] != 3 or photo.size == 0:
            raise ValueError(f"photo {k}: expected a non-empty RGB uint8 H×W×3 array")
        m = n // len(photos) + (k < n % len(photos))
        flat = photo.reshape(-1, 3)
        parts.append(flat[rng.integers(0, len(flat), m)])
    return np.concatenate(parts).astype(np.uint8)


def as_palette(palette: np.ndarray | Sequence[np.ndarray] | None) -> np.ndarray:
    """Return a (K, 3) uint8 palette: the given one, sampled from photos, or the built-in."""
    if palette is None:
        return builtin_palette()
    if isinstance(palette, np.ndarray) and palette.ndim == 2:
        if palette.shape[1] != 3 or len(palette) == 0 or palette.dtype != np.uint8:
            raise ValueError(f"palette must be a (K, 3) uint8 array, got {palette.shape}")
        return palette
    return palette_from_photos(palette)


def _noise_tile(rng: np.random.Generator) -> np.ndarray:
    """A periodic 1/f-amplitude noise tile with unit standard deviation (float32)."""
    f = np.fft.fftfreq(_NOISE_SIDE)
    radius = np.hypot(f[:, None], f[None, : _NOISE_SIDE // 2 + 1])
    radius[0, 0] = 1.0
    spectrum = np.fft.rfft2(rng.standard_normal((_NOISE_SIDE, _NOISE_SIDE))) / radius
    spectrum[0, 0] = 0.0
    tile = np.fft.irfft2(spectrum, s=(_NOISE_SIDE, _NOISE_SIDE))
    return (tile / tile.std()).astype(np.float32)


def strand_tile(rng: np.random.Generator, angle: float, length: float) -> np.ndarray:
    """A periodic 1/f noise tile stretched along ``angle`` (radians, 0 = along x, counter-
    clockwise on screen): frequencies along that direction are damped by a Gaussian of width
    1/``length`` cycles/px, so lines run about ``length`` px along it and stay sharp across
    it. Unit standard deviation (float32)."""
    fy = np.fft.fftfreq(_NOISE_SIDE)[:, None]
    fx = np.fft.rfftfreq(_NOISE_SIDE)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    along = fx * math.cos(angle) - fy * math.sin(angle)  # rows point down: on-screen angle
    spectrum = np.fft.rfft2(rng.standard_normal((_NOISE_SIDE, _NOISE_SIDE))) / radius
    spectrum *= np.exp(-0.5 * (along * length) ** 2)
    spectrum[0, 0] = 0.0
    tile = np.fft.irfft2(spectrum, s=(_NOISE_SIDE, _NOISE_SIDE))
    return (tile / tile.std()).astype(np.float32)


def draw_looks(
    rng,
    visible: np.ndarray,
    geometry: dict,
    ncolours: int,
    texture_prob: float,
    strand_prob: float = 0.0,
):
    """Colours and textures of the visible leaves (arrays indexed by leaf; the rest unset).
    ``strand_prob`` > 0 draws after everything else, so at 0 the bytes are those without it."""
    n, ids = len(visible), np.flatnonzero(visible)
    m = len(ids)
    looks = {"colour": np.zeros(n, np.intp), "tex": np.zeros(n, np.int8)}
    looks["colour"][ids] = rng.integers(0, ncolours, m)
    if texture_prob > 0:
        kind = np.where(rng.random(m) < texture_prob, 1 + (rng.random(m) < 0.5), 0)
        looks["tex"][ids] = kind  # 1: linear gradient, 2: 1/f noise
        amp = np.where(kind == 1, 10 + 50 * rng.random(m), 4 + 16 * rng.random(m))
        d = rng.random(m) * 2 * np.pi  # gradient: amp × signed distance along d, in radii
        gx, gy = np.cos(d) / geometry["r"][ids], np.sin(d) / geometry["r"][ids]
        g0 = -(geometry["cx"][ids] * gx + geometry["cy"][ids] * gy)
        offsets = rng.integers(0, _NOISE_SIDE, (2, m))
        for key, values in zip(("amp", "gx", "gy", "g0", "oy", "ox"), (amp, gx, gy, g0, *offsets)):
            looks[key] = np.zeros(n, np.float32 if key[0] != "o" else np.intp)
            looks[key][ids] = values
        looks["noise"] = _noise_tile(rng)
    if strand_prob > 0:
        strands = rng.random(m) < strand_prob
        looks["tex"][ids[strands]] = 3
        k = int(strands.sum())
        for key, values in (
            ("samp", 8 + 32 * rng.random(k)),
            ("sdir", rng.integers(0, _STRAND_DIRECTIONS, k)),
            ("soy", rng.integers(0, _NOISE_SIDE, k)),
            ("sox", rng.integers(0, _NOISE_SIDE, k)),
        ):
            looks[key] = np.zeros(n, np.float32 if key == "samp" else np.intp)
            looks[key][ids[strands]] = values
        offset = rng.random() * math.pi / _STRAND_DIRECTIONS
        looks["strands"] = np.stack(
            [
                strand_tile(rng, offset + d * math.pi / _STRAND_DIRECTIONS, rng.uniform(20, 80))
                for d in range(_STRAND_DIRECTIONS)
            ]
        )
    return looks


def colourise(z: np.ndarray, looks: dict, palette: np.ndarray) -> np.ndarray:
    """RGB uint8 image of leaf map ``z``: leaf colours plus gradient / noise / strand textures."""
    h, w = z.shape
    flat = z.reshape(-1)
    rgb = palette[looks["colour"]].astype(np.uint32)
    packed = rgb[:, 0] | (rgb[:, 1] << 8) | (rgb[:, 2] << 16)  # one gather instead of three
    image = packed[flat].view(np.uint8).reshape(h * w, 4)[:, :3]
    sel = np.flatnonzero(looks["tex"][flat])
    if len(sel) == 0:
        return image.reshape(h, w, 3)
    lab = flat[sel]
    y, x = np.divmod(sel, w)
    m = _NOISE_SIDE - 1
    tex = looks["tex"][lab]
    if "noise" in looks:
        grad = x * looks["gx"][lab] + y * looks["gy"][lab] + looks["g0"][lab]
        noise = looks["noise"][(y + looks["oy"][lab]) & m, (x + looks["ox"][lab]) & m]
        delta = looks["amp"][lab] * np.where(tex == 1, grad, noise)
    else:
        delta = np.zeros(len(sel), np.float32)
    if "strands" in looks:
        s = tex == 3
        ls, ys, xs = lab[s], y[s], x[s]
        tile = looks["strands"][
            looks["sdir"][ls], (ys + looks["soy"][ls]) & m, (xs + looks["sox"][ls]) & m
        ]
        delta[s] = looks["samp"][ls] * tile
    image = np.ascontiguousarray(image)
    image[sel] = np.rint(image[sel] + delta[:, None]).clip(0, 255).astype(np.uint8)
    return image.reshape(h, w, 3)
