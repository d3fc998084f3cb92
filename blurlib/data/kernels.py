"""Motion point-spread functions (blur kernels): building, measuring and drawing them.

Conventions used throughout this module:

* A kernel is a 2-D ``float32`` array of odd square size whose entries are ≥ 0 and sum to 1.
  Its centre pixel ``kernel[r, r]`` (``r = size // 2``) is "no displacement", and every kernel
  made here has its centre of mass exactly there, so blurring never shifts the image.
* Angles are in degrees, counter-clockwise from the +x axis (pointing right) **as seen on
  screen**, i.e. with the image's y axis (rows) pointing down: ``angle_deg=90`` is a vertical
  motion and ``angle_deg=45`` runs from the bottom-left to the top-right corner of the kernel.
  A straight motion has no direction, so ``angle`` and ``angle + 180`` give the same kernel.
* ``length`` counts pixel taps, as in the report and the usual "k×k motion blur": a
  horizontal motion of odd integer length ``L`` is the box of ``L`` taps of ``1/L``
  (``linear_kernel(15, 0)`` equals :func:`report_kernel`) and length 1 is the identity. For
  any real length and any kernel kind the point light source travels ``L - 1`` px (first to
  last tap) and each end counts half a tap; the variance along a straight motion is then
  (L² - 1) / 12, and :func:`kernel_moments` reads ``length`` back as sqrt(12·λ_max + 1).

Kernels are drawn for the dataset generator with :func:`random_kernel`, which also returns a
small JSON-able *spec* dict; :func:`kernel_from_spec` rebuilds the identical kernel from it.
Applying a kernel to an image is :func:`blurlib.data.convolve.apply_kernel`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "KERNEL_KINDS",
    "camera_shake_kernel",
    "check_length_range",
    "kernel_from_spec",
    "kernel_moments",
    "linear_kernel",
    "random_kernel",
    "report_kernel",
]

#: Kinds accepted by :func:`random_kernel`.
KERNEL_KINDS: tuple[str, ...] = ("report", "linear", "shake", "mixed")
_SPEC_DECIMALS = 4  # spec floats are rounded to this many decimals before building a kernel
_SEED_HIGH = 2**31  # shake seeds are ints in [0, 2**31): exact in JSON for every reader
_ANXIETY_LOW, _ANXIETY_HIGH = 2e-4, 2e-3  # default shake strength, drawn log-uniform


def _check_length(length: float) -> float:
    """Return ``length`` as a float, or raise ValueError unless it is finite and ≥ 1."""
    try:
        value = float(length)
    except (TypeError, ValueError):
        raise ValueError(f"kernel length must be a number ≥ 1 (pixels), got {length!r}") from None
    if not math.isfinite(value) or value < 1.0:
        raise ValueError(f"kernel length must be a finite number ≥ 1 (pixels), got {length!r}")
    return value


def _trim_zero_rings(kernel: np.ndarray) -> np.ndarray:
    """Strip all-zero outer rings of a square kernel, keeping its centre where it was."""
    while kernel.shape[0] > 1 and not (
        kernel[0].any() or kernel[-1].any() or kernel[:, 0].any() or kernel[:, -1].any()
    ):
        kernel = kernel[1:-1, 1:-1]
    return kernel


def report_kernel() -> np.ndarray:
    """Return the report's kernel: 15×15 float32, zeros except the middle row = 1/15."""
    kernel = np.zeros((15, 15), np.float32)
    kernel[7, :] = 1.0 / 15.0
    return kernel


def _splat(size: int, xs: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return a ``size``×``size`` float64 array with each weight splatted bilinearly.

    Coordinates are relative to the array centre (x right, y down); bilinear splatting keeps the
    first moment exactly: the centre of mass is the weighted mean of the points.
    """
    radius = size // 2
    fx, fy = np.floor(xs), np.floor(ys)
    wx, wy = xs - fx, ys - fy
    c0 = fx.astype(np.int64) + radius
    r0 = fy.astype(np.int64) + radius
    flat = np.concatenate(
        [r0 * size + c0, r0 * size + c0 + 1, (r0 + 1) * size + c0, (r0 + 1) * size + c0 + 1]
    )
    w = np.concatenate(
        [
            (1 - wy) * (1 - wx) * weights,
            (1 - wy) * wx * weights,
            wy * (1 - wx) * weights,
            wy * wx * weights,
        ]
    )
    return np.bincount(flat, w, minlength=size * size).reshape(size, size)


def _clean(kernel: np.ndarray) -> np.ndarray:
    """Zero rounding dust (|v| < 1e-12·max, negatives), trim zero rings, normalise: float32."""
    kernel = np.where(kernel > 1e-12 * kernel.max(), kernel, 0.0)
    kernel = _trim_zero_rings(kernel)
    return np.ascontiguousarray(kernel / kernel.sum(), dtype=np.float32)


def linear_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Return the anti-aliased kernel of a straight motion: odd square float32, sums to 1.

    ``length`` (any real ≥ 1) counts pixel taps, as in the report's kernel and the usual
    "k×k motion blur": a horizontal motion of odd integer length ``L`` is exactly the box of
    ``L`` taps of ``1/L`` (``linear_kernel(15, 0)`` equals :func:`report_kernel`) and length 1
    is the identity (a 1×1 delta). For real lengths and any angle this box generalises as the
    trapezoid rule of a continuous motion: a segment of ``L - 1`` px (first to last tap),
    centred, at ``angle_deg`` degrees counter-clockwise from +x with the y axis pointing down,
    integrated exactly (Simpson's rule on each pixel cell, exact for bilinear weights) with
    bilinear splatting, plus half a tap's weight at each end, all divided by ``L``. The result
    is sub-pixel accurate and continuous in length and angle (a 7.5-px kernel lies between the
    7-px and 8-px ones), point-symmetric, so its centre of mass is exactly the centre pixel,
    and ``angle`` and ``angle + 180`` give the same kernel. Its second-moment variance along the
    motion is (L² - 1) / 12, as for a box of L taps (see :func:`kernel_moments`).
    """
    length = _check_length(length)
    angle = float(angle_deg)
    if not math.isfinite(angle):
        raise ValueError(f"kernel angle must be a finite number of degrees, got {angle_deg!r}")
    if length == 1.0:
        return np.ones((1, 1), np.float32)
    # A segment has no direction: reduce to [0, 180) so angle and angle+180 build the same bits.
    angle = round(angle % 180.0, 9) % 180.0
    theta = math.radians(angle)
    dx, dy = math.cos(theta), -math.sin(theta)  # y axis points down: counter-clockwise on screen
    if angle == 90.0:
        dx = 0.0
    half = (length - 1.0) / 2.0
    radius = math.ceil(max(abs(dx), abs(dy)) * half) + 1  # +1: room for the bilinear neighbour
    size = 2 * radius + 1

    # Cut the segment where it crosses a pixel-grid line x = k or y = k: on each piece the
    # bilinear weights are quadratic in the arc length, so Simpson's rule integrates them exactly.
    grid = np.arange(-radius, radius + 1, dtype=np.float64)
    cuts = [np.array([-half, half])]
    for d in (dx, dy):
        if d != 0.0:
            cuts.append(grid / d)
    s = np.unique(np.clip(np.concatenate(cuts), -half, half))
    a, b = s[:-1], s[1:]
    keep = b > a
    a, b = a[keep], b[keep]
    m = (a + b) / 2.0
    piece = b - a
    # Evaluate at a, m, b relative to the cell of m (so weights stay in [0, 1] on the piece).
    cell_x, cell_y = np.floor(m * dx), np.floor(m * dy)
    pts = np.concatenate([a, m, b])
    cx = np.concatenate([cell_x] * 3)
    cy = np.concatenate([cell_y] * 3)
    weights = np.concatenate([piece / 6.0, piece * (4.0 / 6.0), piece / 6.0])
    fx = np.clip(pts * dx - cx, 0.0, 1.0)
    fy = np.clip(pts * dy - cy, 0.0, 1.0)
    ends = np.array([-half, half])  # half a tap at each end (the trapezoid rule)
    xs = np.concatenate([cx + fx, ends * dx])
    ys = np.concatenate([cy + fy, ends * dy])
    kernel = _splat(size, xs, ys, np.concatenate([weights, [0.5, 0.5]]))
    kernel = 0.5 * (kernel + kernel[::-1, ::-1])  # exact point symmetry ⇒ exact centre of mass
    return _clean(kernel)


def _shake_trajectory(
    rng: np.random.Generator,
    n_steps: int,
    anxiety: float | None,
    centripetal: float | None,
    gaussian_term: float | None,
    jerks: float | None,
) -> np.ndarray:
    """Return a Boracchi–Foi random trajectory of ``n_steps`` steps, total length 1, complex."""
    # Parameters not given are drawn (centripetal and gaussian_term as in createTrajectory.m).
    if anxiety is None:
        anxiety = _ANXIETY_LOW * (_ANXIETY_HIGH / _ANXIETY_LOW) ** rng.random()
    if centripetal is None:
        centripetal = 0.7 * rng.random()
    if gaussian_term is None:
        gaussian_term = 10.0 * rng.random()
    if jerks is None:
        jerks = rng.random()
    init_angle = 2.0 * math.pi * rng.random()
    jerk_draw = rng.random(n_steps).tolist()
    jerk_turn = (rng.random(n_steps) - 0.5).tolist()
    noise = rng.standard_normal((n_steps, 2))
    noise_c = (noise[:, 0] + 1j * noise[:, 1]).tolist()

    # Simulated in the original units (total length 60 px), then scaled to length 1, so the
    # shape does not depend on the requested length (the centripetal pull is in pixels).
    total = 60.0
    step = total / n_steps
    v0 = complex(math.cos(init_angle), math.sin(init_angle))
    v = v0 * anxiety if anxiety > 0 else v0 * step
    jerk_p = jerks / n_steps
    x = 0j
    points = [0j] * (n_steps + 1)
    for t in range(n_steps):
        if jerk_draw[t] < jerk_p:  # an impulsive jerk: roughly reverse the direction
            nxt = (
                2.0
                * v
                * complex(math.cos(math.pi + jerk_turn[t]), math.sin(math.pi + jerk_turn[t]))
            )
        else:
            nxt = 0j
        dv = nxt + anxiety * (gaussian_term * noise_c[t] - centripetal * x) * step
        v = v + dv
        speed = abs(v)
        v = v / speed * step if speed > 0 else v0 * step  # inertia: keep the direction, fix speed
        x = x + v
        points[t + 1] = x
    return np.asarray(points, np.complex128) / total


def camera_shake_kernel(
    rng: np.random.Generator | int,
    length: float = 15.0,
    *,
    anxiety: float | None = None,
    n_steps: int = 2000,
    centripetal: float | None = None,
    gaussian_term: float | None = None,
    jerks: float | None = None,
) -> np.ndarray:
    """Return a random camera-shake kernel: odd square float32, sums to 1, centred.

    The trajectory follows Boracchi & Foi (2012, ``createTrajectory.m``): ``n_steps`` steps of a
    random walk with inertia (constant speed; each step the velocity is perturbed by
    ``anxiety * gaussian_term`` times Gaussian noise and pulled back towards the start by
    ``anxiety * centripetal``) and impulsive jerks that roughly reverse the motion (``jerks``
    of them expected along the path). ``anxiety`` is their per-step shake strength in their
    units (a 60-px path of 2000 steps; the walk is simulated there and then scaled, so its
    shape does not depend on ``length``); ``anxiety=0, jerks=0`` is a straight line.
    Parameters left as None are drawn from ``rng``: centripetal ~ U(0, 0.7) and
    gaussian_term ~ U(0, 10) as in their code, anxiety log-uniform in [2e-4, 2e-3] and
    jerks ~ U(0, 1). (Their anxiety ~ U(0, 0.1), made for 64-px PSFs, curls a 7–25-px path
    into a blob of 2–4 px; the smaller range gives the curved strokes, hooks and loops of
    real shake kernels.)

    ``length`` means what it means for :func:`linear_kernel` (pixel taps): the path is scaled
    to a total length of ``length - 1`` px and each end gets half a tap's weight, so a straight
    shake equals ``linear_kernel(length, angle)`` and ``length=1`` is the identity. The points
    (midpoints of the ``n_steps`` equal steps, plus the two ends) are shifted so that their
    weighted mean is the kernel's centre and splatted bilinearly, which is sub-pixel accurate
    and keeps the centre of mass exactly at the centre. The same generator state (or int seed)
    gives the same kernel.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")
    length = _check_length(length)
    if int(n_steps) < 2:
        raise ValueError(f"n_steps must be ≥ 2, got {n_steps!r}")
    for name, value in (
        ("anxiety", anxiety),
        ("centripetal", centripetal),
        ("gaussian_term", gaussian_term),
        ("jerks", jerks),
    ):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")

    # Same length convention as linear_kernel: a path of length - 1 px (first to last tap)
    # plus half a tap at each end, so a shake with anxiety 0 is linear_kernel(length, angle).
    path = _shake_trajectory(rng, int(n_steps), anxiety, centripetal, gaussian_term, jerks) * (
        length - 1.0
    )
    mids = (path[:-1] + path[1:]) / 2.0  # equal steps ⇒ equal weights
    points = np.concatenate([mids, path[[0, -1]]])
    weights = np.concatenate([np.full(mids.size, (length - 1.0) / mids.size), [0.5, 0.5]])
    points = points - (weights @ points) / weights.sum()  # centre of mass → kernel centre
    xs, ys = points.real, -points.imag  # trajectory y up, image rows down
    radius = math.ceil(max(np.abs(xs).max(), np.abs(ys).max())) + 1
    return _clean(_splat(2 * radius + 1, xs, ys, weights))


def kernel_moments(kernel: np.ndarray) -> dict[str, float]:
    """Return a kernel's centre of mass, and its length, width and angle from second moments.

    Keys: ``offset_x``, ``offset_y``: the centre of mass minus the array centre
    ``(w // 2, h // 2)`` in pixels (x right, y down); ``angle``: direction of the principal axis,
    degrees in [0, 180), counter-clockwise with the y axis down (the module's convention);
    ``length`` = sqrt(12·λ_max + 1) and ``width`` = sqrt(12·λ_min + 1), where λ are the
    eigenvalues of the covariance: a box of L pixel taps has variance (L² - 1) / 12 (a
    continuous segment of length L has L² / 12; the +1 is the pixel grid's share), so ``length``
    is exactly L for ``linear_kernel(L, 0)`` with odd integer L and within ~0.2 px of L for
    any angle and real L ≥ 5; ``width`` is 1 for a one-pixel-thick axis-aligned line and
    ≈ 1.5-1.7 for an anti-aliased oblique one; ``total``: the kernel's sum.
    """
    k = np.asarray(kernel, np.float64)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"kernel must be a non-empty 2-D array, got shape {k.shape}")
    total = float(k.sum())
    if not total > 0:
        raise ValueError("kernel must have a positive sum")
    h, w = k.shape
    ys = np.arange(h, dtype=np.float64) - h // 2
    xs = np.arange(w, dtype=np.float64) - w // 2
    p = k / total
    py, px = p.sum(axis=1), p.sum(axis=0)
    mx, my = float(px @ xs), float(py @ ys)
    cxx = float(px @ (xs - mx) ** 2)
    cyy = float(py @ (ys - my) ** 2)
    cxy = float((ys - my) @ p @ (xs - mx))
    evals, evecs = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
    lam_min, lam_max = (max(float(e), 0.0) for e in evals)
    vx, vy = evecs[:, 1]
    angle = math.degrees(math.atan2(-vy, vx)) % 180.0
    return {
        "offset_x": mx,
        "offset_y": my,
        "length": math.sqrt(12.0 * lam_max + 1.0),
        "width": math.sqrt(12.0 * lam_min + 1.0),
        "angle": 0.0 if angle >= 180.0 else angle,
        "total": total,
    }


def check_length_range(length_range: tuple[float, float]) -> tuple[float, float]:
    """Return ``(lo, hi)`` as floats, or raise ValueError unless 1 ≤ lo ≤ hi < ∞."""
    try:
        lo, hi = (float(v) for v in length_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"length_range must be two numbers (lo, hi), got {length_range!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 1.0 <= lo <= hi):
        raise ValueError(f"length_range must satisfy 1 ≤ lo ≤ hi (pixels), got {length_range!r}")
    return lo, hi


def random_kernel(
    kind: str,
    rng: np.random.Generator,
    length_range: tuple[float, float] = (7.0, 25.0),
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return ``(kernel, spec)``: a random kernel of ``kind`` and the dict that rebuilds it.

    ``kind`` is one of :data:`KERNEL_KINDS`:

    * ``"report"``: the fixed :func:`report_kernel`, spec ``{"type": "report", "length": 15,
      "angle": 0}`` (draws nothing from ``rng``);
    * ``"linear"``: length ~ U(length_range), angle ~ U[0, 180), spec ``{"type": "linear",
      "length": L, "angle": A}``;
    * ``"shake"``: length ~ U(length_range) and an int seed, spec ``{"type": "shake",
      "length": L, "seed": S}``; the kernel is ``camera_shake_kernel(default_rng(S), L)``;
    * ``"mixed"``: the training mix — with probability 1/3 each: linear at any angle, linear
      along an image axis (angle 0 or 90: a line along the pixel grid blurs nothing across
      its direction, the hardest case for a detector, and the common one of real horizontal
      camera motion; at other angles rasterisation softens across the line too, a cue a net
      learns first), or camera shake.

    Float spec values are rounded to 4 decimals before the kernel is built, so the spec
    survives a JSON round trip and rebuilds the kernel bit for bit.
    """
    if kind not in KERNEL_KINDS:
        raise ValueError(
            f"unknown kernel kind {kind!r}: choose one of {', '.join(map(repr, KERNEL_KINDS))}"
        )
    if kind == "report":
        spec: dict[str, Any] = {"type": "report", "length": 15, "angle": 0}
        return kernel_from_spec(spec), spec
    lo, hi = check_length_range(length_range)
    axis = False
    if kind == "mixed":
        u = rng.random()
        kind, axis = ("linear", u < 1 / 3) if u < 2 / 3 else ("shake", False)
    length = min(max(round(float(rng.uniform(lo, hi)), _SPEC_DECIMALS), lo), hi)
    if kind == "linear":
        if axis:
            angle = 90.0 if rng.random() < 0.5 else 0.0
        else:
            angle = round(float(rng.uniform(0.0, 180.0)), _SPEC_DECIMALS) % 180.0
        spec = {"type": "linear", "length": length, "angle": angle}
    else:
        spec = {"type": "shake", "length": length, "seed": int(rng.integers(0, _SEED_HIGH))}
    return kernel_from_spec(spec), spec


def lengthen_to_spread(spec: Mapping[str, Any], spread: float, max_length: float) -> dict[str, Any]:
    """Return ``spec`` with its motion lengthened so that the kernel's standard deviation
    along its principal axis is at least ``spread`` px (at most ``max_length``); the spec
    itself when it already is, or for the report's fixed kernel."""
    spec = dict(spec)
    if spec["type"] == "report" or spread <= 0:
        return spec
    length = float(spec["length"])
    now = math.sqrt(max(kernel_moments(kernel_from_spec(spec))["length"] ** 2 - 1, 0) / 12)
    if now >= spread or length >= max_length:
        return spec
    scaled = length * spread / max(now, 1e-6)  # the spread grows in proportion to the length
    spec["length"] = round(min(max(scaled, length), max_length), _SPEC_DECIMALS)
    return spec


def kernel_from_spec(spec: Mapping[str, Any]) -> np.ndarray:
    """Return the kernel described by a spec dict from :func:`random_kernel` (or metadata.json)."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ValueError(f"kernel spec must be a dict with a 'type' key, got {spec!r}")
    kind = spec["type"]

    def need(key: str) -> Any:
        if key not in spec:
            raise ValueError(
                f"kernel spec of type {kind!r} needs a {key!r} key, got {dict(spec)!r}"
            )
        return spec[key]

    if kind == "report":
        return report_kernel()
    if kind == "linear":
        return linear_kernel(need("length"), need("angle"))
    if kind == "shake":
        seed = need("seed")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"shake kernel spec needs a non-negative int 'seed', got {seed!r}")
        extra = {k: spec[k] for k in ("anxiety",) if spec.get(k) is not None}
        return camera_shake_kernel(np.random.default_rng(int(seed)), need("length"), **extra)
    raise ValueError(f"unknown kernel spec type {kind!r}: expected 'report', 'linear' or 'shake'")
