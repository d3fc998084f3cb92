"""Non-motion degradations as data: lens softness, defocus, resampling, haze, noise, JPEG.

Label rule: 1 = motion blur, 0 = anything else a photo may be. The training set must show the
network plenty of label-0 softness, so a sharp photo goes through two stages. The *base* stage
(before motion blur is composited) models the scene and the optics: haze (a grey/bluish veil,
lower contrast), disk (lens) defocus over the whole photo or over a smooth random region (a
soft background behind a sharp subject), isotropic Gaussian lens softness and down-up
resampling. The *finish* stage (after compositing, on the whole composite) models the sensor
and the file: Gaussian or shot noise, then JPEG. Every kernel here is isotropic (Gaussian or
disk), so nothing in label 0 looks like motion. Each stage is split into a draw — a list of
JSON-serialisable specs such as ``{"op": "gaussian", "sigma": 0.83}`` — and an apply that is
deterministic from the specs alone (noise ops carry their own seed), so a data set can record
exactly what was done to each photo. The ranges follow Real-ESRGAN (Wang et al. 2021,
``options/train_realesrgan_x4plus.yml``: Gaussian σ 0.2–3 / 0.2–1.5, noise σ 1–30, shot-noise
scale 0.05–3, 40 % grey noise, JPEG quality 30–95) and BSRGAN (Zhang et al. 2021,
``degradation_bsrgan``: area/linear/cubic resizing, JPEG 30–95), cut to what a camera photo
plausibly shows at full size (σ ≤ 1.6 blur, noise σ ≤ 10, scales ≤ 1), and applied in a
fixed physical order rather than shuffled.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from blurlib.errors import ImageError

INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
DEGRADE_MIXES = ("none", "realistic")
BASE_OPS = ("haze", "defocus", "gaussian", "resample")
FINISH_OPS = ("gaussian_noise", "poisson_noise", "jpeg")
_BORDER = cv2.BORDER_REFLECT_101


@dataclass(frozen=True)
class DegradeConfig:
    """Every probability and range of the two stages; ``get_degrade_config`` names presets."""

    # base stage, in this order: haze → defocus → Gaussian → resample
    haze_prob: float = 0.1
    haze_transmission: tuple[float, float] = (0.6, 0.9)  # share of the scene left; rest is veil
    haze_veil: tuple[float, float] = (170.0, 235.0)  # grey level of the veil
    haze_blue: tuple[float, float] = (0.0, 20.0)  # extra blue (and half as much green)
    defocus_prob: float = 0.3
    defocus_radius: tuple[float, float] = (1.0, 4.0)  # disk radius in px
    defocus_region_prob: float = 0.5  # a soft background behind a sharp subject, else all
    gaussian_prob: float = 0.5
    gaussian_sigma: tuple[float, float] = (0.2, 1.6)
    resample_prob: float = 0.3
    resample_factor: tuple[float, float] = (0.3, 0.9)  # down by this, then back up
    resample_down: tuple[str, ...] = ("area", "linear", "cubic")
    resample_up: tuple[str, ...] = ("linear", "cubic")  # cv2's "area" enlarges as nearest
    # finish stage: noise (Gaussian or shot), then JPEG
    noise_prob: float = 0.6
    gaussian_noise_share: float = 0.5  # given noise: Gaussian, else shot (Real-ESRGAN: 0.5)
    noise_sigma: tuple[float, float] = (1.0, 10.0)  # Gaussian σ on the 0–255 scale
    poisson_scale: tuple[float, float] = (0.05, 1.0)  # ×~11 = σ at mid grey, 0–255 scale
    gray_noise_prob: float = 0.4
    jpeg_prob: float = 0.7
    jpeg_quality: tuple[int, int] = (30, 95)
    # labels: motion over a photo already soft everywhere must still show as motion. With
    # d > 0, a motion kernel whose spread along its axis is below d × the photo-wide
    # isotropic softness (isotropic_spread) is lengthened to reach it (capped at the longest
    # motion asked for); a shorter one would be a blurred patch that looks like defocus,
    # labelled 1 beside the label-0 defocus it cannot be told from. 0 = off (the default).
    motion_dominance: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name.endswith(("_prob", "_share")) and not 0.0 <= v <= 1.0:
                raise ValueError(f"DegradeConfig.{f.name} must be in [0, 1], got {v!r}")
            if f.name in ("resample_down", "resample_up"):
                if not v or any(m not in INTERPOLATIONS for m in v):
                    raise ValueError(f"DegradeConfig.{f.name} must name some of {INTERPOLATIONS}")
            elif isinstance(v, tuple) and not (len(v) == 2 and 0 <= v[0] <= v[1]):
                raise ValueError(f"DegradeConfig.{f.name} must be a (low, high) range, got {v!r}")
        checks = {
            "haze_transmission": self.haze_transmission[1] <= 1.0,
            "haze_veil": self.haze_veil[1] <= 255.0,
            "defocus_radius": self.defocus_radius[0] > 0.0,
            "gaussian_sigma": self.gaussian_sigma[0] > 0.0,
            "resample_factor": 0.0 < self.resample_factor[0] and self.resample_factor[1] <= 1.0,
            "jpeg_quality": 1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 100,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"DegradeConfig.{name} out of range: {getattr(self, name)!r}")
        if not self.motion_dominance >= 0.0:
            raise ValueError(f"motion_dominance must be >= 0, got {self.motion_dominance!r}")


REALISTIC = DegradeConfig()
NONE = DegradeConfig(
    haze_prob=0.0,
    defocus_prob=0.0,
    gaussian_prob=0.0,
    resample_prob=0.0,
    noise_prob=0.0,
    jpeg_prob=0.0,
)
_PRESETS = {"none": NONE, "realistic": REALISTIC}


def get_degrade_config(name: str, **overrides) -> DegradeConfig:
    """The preset ``name`` (one of ``DEGRADE_MIXES``) with fields replaced by ``overrides``."""
    if name not in _PRESETS:
        raise ValueError(f"unknown degradation mix {name!r}; choose one of {DEGRADE_MIXES}")
    fields = {f.name for f in dataclasses.fields(DegradeConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"unknown DegradeConfig field(s) {unknown}; known: {sorted(fields)}")
    return dataclasses.replace(_PRESETS[name], **overrides)


def disk_kernel(radius: float) -> np.ndarray:
    """A float32 disk (pillbox) kernel of ``radius`` px, summing to 1, with anti-aliased edge.

    Each weight is the share of its pixel inside the circle (16×16 sub-samples per pixel,
    placed symmetrically, so the kernel is exactly symmetric under transposes and rotations).
    """
    try:
        radius = float(radius)
    except (TypeError, ValueError):
        raise ValueError(f"disk radius must be a number of px, got {radius!r}") from None
    if not 0.0 < radius <= 64.0:
        raise ValueError(f"disk radius must be in (0, 64] px, got {radius!r}")
    half = math.ceil(radius + 0.5)
    sub = 16
    offsets = (np.arange(sub) + 0.5) / sub - 0.5
    pos = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).reshape(-1) ** 2
    inside = (pos[:, None] + pos[None, :]) <= radius * radius
    n = 2 * half + 1
    weights = inside.reshape(n, sub, n, sub).mean(axis=(1, 3))
    keep = np.flatnonzero(weights.any(axis=0))
    lo, hi = min(keep[0], n - 1 - keep[-1]), max(keep[-1], n - 1 - keep[0])
    weights = weights[lo : hi + 1, lo : hi + 1]
    return (weights / weights.sum()).astype(np.float32)


def check_image(image: np.ndarray, what: str = "image") -> None:
    """Raise ImageError unless ``image`` is an RGB uint8 H×W×3 array."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{what}: expected an RGB uint8 H×W×3 numpy array, got {type(image)}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ImageError(
            f"{what}: expected an RGB uint8 H×W×3 array, got {image.dtype} {image.shape}; "
            "convert with blurlib's image loaders first"
        )


def apply_isotropic(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Filter uint8 ``image`` with a (symmetric) kernel, reflect-101 borders, rounded uint8."""
    return cv2.filter2D(image, -1, kernel, borderType=_BORDER)


def _r(x: float) -> float:
    return round(float(x), 4)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _draw_region(rng: np.random.Generator) -> dict:
    """A smooth defocus region: outside a soft ellipse (the subject), or a depth ramp."""
    if rng.random() < 0.5:
        return {
            "kind": "ellipse",  # subject in focus, all around it defocused
            "cy": _r(rng.uniform(0.3, 0.7)),
            "cx": _r(rng.uniform(0.3, 0.7)),
            "ry": _r(rng.uniform(0.15, 0.4)),
            "rx": _r(rng.uniform(0.15, 0.4)),
            "angle": _r(rng.uniform(0, 180)),
            "soft": _r(rng.uniform(0.05, 0.3)),
        }
    start = rng.uniform(-0.2, 0.5)
    return {
        "kind": "ramp",  # depth grows along a direction: near in focus, far defocused
        "angle": _r(rng.uniform(0, 360)),
        "start": _r(start),
        "end": _r(start + rng.uniform(0.2, 0.7)),
    }


def region_mask(region: dict, shape: tuple[int, ...]) -> np.ndarray:
    """Float32 H×W weight in [0, 1] of a region spec: 1 = defocused, 0 = untouched."""
    h, w = shape[:2]
    y = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / h
    x = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / w
    t = math.radians(region["angle"])
    if region["kind"] == "ellipse":
        dy, dx = y - region["cy"], x - region["cx"]
        u, v = dx * math.cos(t) + dy * math.sin(t), dy * math.cos(t) - dx * math.sin(t)
        d = np.sqrt((u / region["rx"]) ** 2 + (v / region["ry"]) ** 2)
        lo, hi = 1.0, 1.0 + region["soft"] / min(region["rx"], region["ry"])
    elif region["kind"] == "ramp":  # projection onto the direction, spanning [0, 1] roughly
        d = (x - 0.5) * math.cos(t) + (y - 0.5) * math.sin(t) + 0.5
        lo, hi = region["start"], region["end"]
    else:
        raise ValueError(f"unknown defocus region kind {region['kind']!r}")
    s = np.clip((d - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return (s * s * (3 - 2 * s)).astype(np.float32)  # smoothstep


def defocus_mask(specs: list[dict], shape: tuple[int, ...]) -> np.ndarray:
    """Float32 H×W in [0, 1]: where the specs' defocus applies (1 = fully defocused)."""
    mask = np.zeros(shape[:2], np.float32)
    for spec in specs:
        if spec["op"] == "defocus":
            region = spec.get("region")
            m = np.ones(shape[:2], np.float32) if region is None else region_mask(region, shape)
            mask = np.maximum(mask, m)
    return mask


def draw_base(rng: np.random.Generator, config: DegradeConfig, shape: tuple[int, ...]) -> list:
    """Draw the base-stage specs (haze, defocus, Gaussian, resample) for a photo of ``shape``."""
    h, w = shape[:2]
    specs: list[dict] = []
    c = config
    if rng.random() < c.haze_prob:
        veil, blue = rng.uniform(*c.haze_veil), rng.uniform(*c.haze_blue)
        rgb = [veil, veil + blue / 2, veil + blue]
        transmission = _r(rng.uniform(*c.haze_transmission))
        veil = [_r(min(v, 255.0)) for v in rgb]
        specs.append({"op": "haze", "transmission": transmission, "veil": veil})
    if rng.random() < c.defocus_prob:
        spec = {"op": "defocus", "radius": _r(rng.uniform(*c.defocus_radius)), "region": None}
        if rng.random() < c.defocus_region_prob:
            spec["region"] = _draw_region(rng)
        specs.append(spec)
    if rng.random() < c.gaussian_prob:
        specs.append({"op": "gaussian", "sigma": _r(rng.uniform(*c.gaussian_sigma))})
    if rng.random() < c.resample_prob:
        factor = max(rng.uniform(*c.resample_factor), 8.0 / min(h, w))
        if factor < 1.0:
            down, up = _pick(rng, c.resample_down), _pick(rng, c.resample_up)
            specs.append({"op": "resample", "factor": _r(factor), "down": down, "up": up})
    return specs


def isotropic_spread(specs: list[dict]) -> float:
    """The standard deviation (px) of the isotropic blur that base-stage ``specs`` applied to
    the WHOLE photo: Gaussian σ, a disk of radius r (σ = r / 2), down-up resampling by f (a
    box of 1 / f px, σ² = (1 / f² − 1) / 12), added in quadrature. Defocus over a region and
    haze are left out (they do not soften the whole photo)."""
    var = 0.0
    for spec in specs:
        if spec["op"] == "gaussian":
            var += float(spec["sigma"]) ** 2
        elif spec["op"] == "defocus" and spec.get("region") is None:
            var += (float(spec["radius"]) / 2.0) ** 2
        elif spec["op"] == "resample":
            var += (1.0 / float(spec["factor"]) ** 2 - 1.0) / 12.0
    return math.sqrt(var)


def draw_finish(rng: np.random.Generator, config: DegradeConfig, shape: tuple[int, ...]) -> list:
    """Draw the finishing-stage specs (noise, JPEG) for a composite of ``shape``."""
    c = config
    specs: list[dict] = []
    if rng.random() < c.noise_prob:
        gray = bool(rng.random() < c.gray_noise_prob)
        seed = int(rng.integers(2**31))
        if rng.random() < c.gaussian_noise_share:
            sigma = _r(rng.uniform(*c.noise_sigma))
            specs.append({"op": "gaussian_noise", "sigma": sigma, "gray": gray, "seed": seed})
        else:
            scale = _r(rng.uniform(*c.poisson_scale))
            specs.append({"op": "poisson_noise", "scale": scale, "gray": gray, "seed": seed})
    if rng.random() < c.jpeg_prob:
        lo, hi = c.jpeg_quality
        specs.append({"op": "jpeg", "quality": int(rng.integers(lo, hi + 1))})
    return specs


def _add_noise(image: np.ndarray, spec: dict) -> np.ndarray:
    """Gaussian noise of σ, or shot noise: Real-ESRGAN's Poisson(256·v)/256 for v in [0, 1],
    taken in its Gaussian form (variance = mean; exact for all but the darkest levels)."""
    h, w = image.shape[:2]
    rng = np.random.default_rng(spec["seed"])
    z = rng.standard_normal((h, w, 1 if spec["gray"] else 3), dtype=np.float32)
    img = image.astype(np.float32)
    if spec["op"] == "gaussian_noise":
        z *= spec["sigma"]
    else:
        level = img @ np.array([[0.299], [0.587], [0.114]], np.float32) if spec["gray"] else img
        z *= np.sqrt(level * (255.0 / 256.0)) * spec["scale"]
    return np.rint(img + z).clip(0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding failed at quality {quality}")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def _apply_one(image: np.ndarray, spec: dict) -> np.ndarray:
    op = spec["op"]
    if op == "haze":
        t = spec["transmission"]
        veil = np.asarray(spec["veil"], np.float32) * (1.0 - t)
        return np.rint(image.astype(np.float32) * t + veil).clip(0, 255).astype(np.uint8)
    if op == "defocus":
        blurred = apply_isotropic(image, disk_kernel(float(spec["radius"])))
        if spec.get("region") is None:
            return blurred
        m = region_mask(spec["region"], image.shape)[:, :, None]
        out = image.astype(np.float32) + m * (blurred.astype(np.float32) - image)
        return np.rint(out).astype(np.uint8)
    if op == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), spec["sigma"], borderType=_BORDER)
    if op == "resample":
        h, w = image.shape[:2]
        size = (max(1, round(w * spec["factor"])), max(1, round(h * spec["factor"])))
        small = cv2.resize(image, size, interpolation=INTERPOLATIONS[spec["down"]])
        return cv2.resize(small, (w, h), interpolation=INTERPOLATIONS[spec["up"]])
    if op in ("gaussian_noise", "poisson_noise"):
        return _add_noise(image, spec)
    if op == "jpeg":
        return _jpeg(image, spec["quality"])
    raise ValueError(f"unknown degradation op {op!r}; known: {BASE_OPS + FINISH_OPS}")


def apply_specs(image: np.ndarray, specs: list[dict]) -> np.ndarray:
    """Apply recorded specs in order: same image and specs, same bytes. Shape is kept."""
    check_image(image)
    out = image
    for spec in specs:
        if not isinstance(spec, dict) or "op" not in spec:
            raise ValueError(f"a degradation spec must be a dict with an 'op', got {spec!r}")
        out = _apply_one(out, spec)
    return out if out is not image else image.copy()


def degrade_base(
    image: np.ndarray, rng: np.random.Generator, config: DegradeConfig = REALISTIC
) -> tuple[np.ndarray, list[dict]]:
    """The base stage on a sharp photo: ``(degraded image, specs)``."""
    check_image(image)
    specs = draw_base(rng, config, image.shape)
    return apply_specs(image, specs), specs


def finish(
    image: np.ndarray, rng: np.random.Generator, config: DegradeConfig = REALISTIC
) -> tuple[np.ndarray, list[dict]]:
    """The finishing stage (noise, JPEG) on a composite: ``(finished image, specs)``."""
    check_image(image)
    specs = draw_finish(rng, config, image.shape)
    return apply_specs(image, specs), specs
