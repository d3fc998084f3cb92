"""Blur kernels: shape, sum, centring, sub-pixel length/angle, convolution, specs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blurlib.data.convolve import apply_kernel
from blurlib.data.kernels import (
    KERNEL_KINDS,
    camera_shake_kernel,
    kernel_from_spec,
    kernel_moments,
    linear_kernel,
    random_kernel,
    report_kernel,
)

lengths = st.floats(1.0, 40.0, allow_nan=False)
angles = st.floats(0.0, 360.0, allow_nan=False, exclude_max=True)


def reference_convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Slow float64 convolution with reflect-101 borders, centre at (h // 2, w // 2)."""
    img = image.astype(np.float64).reshape(image.shape[0], image.shape[1], -1)
    kh, kw = kernel.shape
    ch, cw = kh // 2, kw // 2
    pad = max(kh, kw)
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")  # reflect-101
    h, w = image.shape[:2]
    out = np.zeros_like(img)
    for u, v in zip(*np.nonzero(kernel), strict=True):
        dy, dx = u - ch, v - cw  # out(y, x) += k(u, v) * img(y - dy, x - dx)
        out += kernel[u, v] * padded[pad - dy : pad - dy + h, pad - dx : pad - dx + w]
    return out.reshape(image.shape)


def centroid(image: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass of a 2-D array."""
    img = image.astype(np.float64)
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / img.sum()), float((cols * img).sum() / img.sum())


def check_kernel(k: np.ndarray, com_tol: float) -> None:
    """Common invariants: float32, odd square, ≥ 0, sums to 1, centred, just big enough."""
    assert k.dtype == np.float32
    assert k.ndim == 2 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.flags.c_contiguous
    assert (k >= 0).all()
    assert abs(float(k.sum(dtype=np.float64)) - 1.0) < 1e-5
    m = kernel_moments(k)
    assert abs(m["offset_x"]) < com_tol and abs(m["offset_y"]) < com_tol
    if k.shape[0] > 1:  # no all-zero outer ring
        assert k[0].any() or k[-1].any() or k[:, 0].any() or k[:, -1].any()


# ---------------------------------------------------------------- linear kernels


@settings(max_examples=150, deadline=None)
@given(length=lengths, angle=angles)
def test_linear_kernel_invariants(length, angle):
    k = linear_kernel(length, angle)
    check_kernel(k, com_tol=1e-9)
    assert np.array_equal(k, k[::-1, ::-1])  # point-symmetric about the centre
    # the kernel is no larger than the segment's bounding box (plus the bilinear neighbour)
    assert k.shape[0] <= 2 * math.ceil((length - 1) / 2) + 3
    # a straight motion has no direction
    np.testing.assert_allclose(linear_kernel(length, angle + 180.0), k, rtol=0, atol=1e-6)


def dense_line(length: float, angle: float, size: int, n: int = 100_000) -> np.ndarray:
    """Brute force: n sub-samples of the (length - 1)-px segment plus half-tap ends, bilinear."""
    d = length - 1.0
    t = np.concatenate([((np.arange(n) + 0.5) / n - 0.5) * d, [-d / 2, d / 2]])
    w = np.concatenate([np.full(n, d / n), [0.5, 0.5]])
    theta = math.radians(angle)
    x, y = t * math.cos(theta) + size // 2, -t * math.sin(theta) + size // 2
    fx, fy = np.floor(x).astype(int), np.floor(y).astype(int)
    ax, ay = x - fx, y - fy
    out = np.zeros((size + 1, size + 1))
    for dy, dx, ww in [(0, 0, (1 - ay) * (1 - ax)), (0, 1, (1 - ay) * ax), (1, 0, ay * (1 - ax))]:
        np.add.at(out, (fy + dy, fx + dx), w * ww)
    np.add.at(out, (fy + 1, fx + 1), w * ay * ax)
    return out[:size, :size] / length


@pytest.mark.parametrize(("length", "angle"), [(2.5, 0), (7.5, 33), (12.25, 45), (20.8, 101)])
def test_linear_kernel_is_the_exact_integral_of_the_segment(length, angle):
    """Exact integration agrees with brute-force dense sampling of the same segment."""
    k = linear_kernel(length, angle)
    np.testing.assert_allclose(k, dense_line(length, angle, k.shape[0]), atol=2e-6)


@pytest.mark.parametrize("angle", [0, 30, 45, 90, 137.5, 180, 359.9])
def test_linear_kernel_length_one_is_identity(angle):
    k = linear_kernel(1, angle)
    assert k.shape == (1, 1) and k.dtype == np.float32 and k[0, 0] == 1.0


@pytest.mark.parametrize("angle", [0, 10, 45, 100.25, 190])
def test_linear_kernel_angle_plus_180_is_identical(angle):
    np.testing.assert_array_equal(linear_kernel(9.3, angle), linear_kernel(9.3, angle + 180))
    np.testing.assert_array_equal(linear_kernel(9.3, angle), linear_kernel(9.3, angle - 360))


def test_linear_kernel_odd_integer_horizontal_is_a_box():
    np.testing.assert_array_equal(linear_kernel(15, 0), report_kernel())
    k = linear_kernel(7, 0)
    assert k.shape == (7, 7)
    np.testing.assert_allclose(k[3], np.full(7, 1 / 7), rtol=1e-6)
    assert k.sum() - k[3].sum() == 0  # nothing off the middle row
    np.testing.assert_array_equal(linear_kernel(7, 90), k.T)


def test_linear_kernel_direction_convention():
    """45° runs bottom-left to top-right on screen (counter-clockwise, y axis down)."""
    k = linear_kernel(9, 45)
    r = k.shape[0] // 2
    assert k[r - 2, r + 2] > 0.05 and k[r + 2, r - 2] > 0.05  # up-right and down-left
    assert k[r - 2, r - 2] == 0 and k[r + 2, r + 2] == 0
    assert kernel_moments(k)["angle"] == pytest.approx(45, abs=1e-6)
    assert kernel_moments(linear_kernel(9, 135))["angle"] == pytest.approx(135, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(length=st.floats(5.0, 40.0), angle=st.floats(0.0, 180.0, exclude_max=True))
def test_linear_kernel_length_and_angle_from_second_moments(length, angle):
    m = kernel_moments(linear_kernel(length, angle))
    assert m["length"] == pytest.approx(length, abs=0.2)
    assert abs((m["angle"] - angle + 90.0) % 180.0 - 90.0) < 1.5


@pytest.mark.parametrize("length", [5, 7.5, 12.3, 25, 40])
@pytest.mark.parametrize("angle", [0, 10, 22.5, 33, 45, 60, 90, 120, 135, 171.7])
def test_linear_kernel_moments_grid(length, angle):
    m = kernel_moments(linear_kernel(length, angle))
    assert m["length"] == pytest.approx(length, abs=0.2)
    assert abs((m["angle"] - angle + 90.0) % 180.0 - 90.0) < 1.5
    assert m["width"] < 2.0  # a thin line, only anti-aliased


@pytest.mark.parametrize("angle", [0, 8, 17, 30, 45, 63.4, 90, 112, 135, 160])
def test_linear_kernel_anti_aliasing_is_monotone_in_length(angle):
    sizes = np.arange(5.0, 8.001, 0.25)
    measured = [kernel_moments(linear_kernel(L, angle))["length"] for L in sizes]
    assert np.all(np.diff(measured) > 0.05), measured
    # length 7.5 lies strictly between 7 and 8 (no rounding to whole pixels)
    m7, m75, m8 = (kernel_moments(linear_kernel(L, angle))["length"] for L in (7, 7.5, 8))
    assert m7 < m75 < m8
    assert not np.array_equal(linear_kernel(7.5, angle), linear_kernel(8, angle))


def test_linear_kernel_sub_pixel_horizontal_profile():
    k = linear_kernel(7.5, 0)
    row = k[k.shape[0] // 2]
    assert k.shape == (9, 9) and k.sum() == pytest.approx(row.sum(), abs=1e-7)
    assert 0 < row[0] == row[-1] < row[4]  # partial taps at both ends, symmetric
    np.testing.assert_allclose(row[2:7], 1 / 7.5, rtol=1e-6)  # full taps in the middle


@pytest.mark.parametrize("bad", [0.0, 0.999, -3, float("nan"), float("inf"), "long", None])
def test_linear_kernel_rejects_bad_length(bad):
    with pytest.raises(ValueError, match="length"):
        linear_kernel(bad, 0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_linear_kernel_rejects_bad_angle(bad):
    with pytest.raises(ValueError, match="angle"):
        linear_kernel(5, bad)


# ---------------------------------------------------------------- report kernel


def test_report_kernel_exact():
    k = report_kernel()
    assert k.shape == (15, 15) and k.dtype == np.float32
    expected = np.zeros((15, 15), np.float32)
    expected[7, :] = np.float32(1 / 15)
    np.testing.assert_array_equal(k, expected)
    m = kernel_moments(k)
    assert m["length"] == pytest.approx(15, abs=1e-5) and m["angle"] == 0
    assert m["width"] == pytest.approx(1, abs=1e-6)


# ---------------------------------------------------------------- camera shake


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), length=st.floats(1.0, 40.0))
def test_shake_kernel_invariants(seed, length):
    k = camera_shake_kernel(np.random.default_rng(seed), length)
    check_kernel(k, com_tol=2e-5)
    assert k.shape[0] <= 2 * math.ceil(length) + 1


def test_shake_kernel_deterministic_and_varied():
    a = camera_shake_kernel(np.random.default_rng(7), 15)
    b = camera_shake_kernel(np.random.default_rng(7), 15)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, camera_shake_kernel(7, 15))  # int seed = default_rng(seed)
    rng = np.random.default_rng(1)
    first, second = camera_shake_kernel(rng, 15), camera_shake_kernel(rng, 15)
    assert not np.array_equal(first, second)
    others = [camera_shake_kernel(np.random.default_rng(s), 15) for s in range(8)]
    assert len({k.tobytes() for k in others}) == 8


def test_shake_kernel_looks_like_a_shake():
    """Curved strokes of sensible extent: not points, and on the whole wider than lines."""
    moments = [kernel_moments(camera_shake_kernel(np.random.default_rng(s), 21)) for s in range(40)]
    lengths_ = np.array([m["length"] for m in moments])
    widths = np.array([m["width"] for m in moments])
    assert np.all(lengths_ <= 21.5)  # never longer than the path
    assert np.median(lengths_) > 6  # not collapsed to a blob
    assert np.median(widths) > 1.8  # curved, unlike a straight line (≈ 1-1.7)


@pytest.mark.parametrize("length", [1.0, 9.0, 15.3, 24.0])
def test_shake_without_anxiety_is_a_linear_kernel(length):
    k = camera_shake_kernel(np.random.default_rng(5), length, anxiety=0.0, jerks=0.0)
    angle = kernel_moments(k)["angle"]
    line = linear_kernel(length, angle)
    assert k.shape == line.shape
    np.testing.assert_allclose(k, line, atol=2e-3)
    assert kernel_moments(k)["length"] == pytest.approx(length, abs=0.05)


def test_shake_kernel_rejects_bad_arguments():
    with pytest.raises(ValueError, match="length"):
        camera_shake_kernel(np.random.default_rng(0), 0.5)
    with pytest.raises(ValueError, match="anxiety"):
        camera_shake_kernel(np.random.default_rng(0), 10, anxiety=-1.0)
    with pytest.raises(TypeError, match="Generator"):
        camera_shake_kernel(None, 10)


# ---------------------------------------------------------------- apply_kernel


def _asymmetric(size: int, density: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.random((size, size)) * (rng.random((size, size)) < density)
    k[0, 0] = 3.0  # a strong corner tap: a flip would show at once
    return (k / k.sum()).astype(np.float32)


# kernels that exercise every route: small direct, banded sparse, dense DFT, even size
ROUTE_KERNELS = {
    "small": _asymmetric(5, 1.0, 0),
    "banded": _asymmetric(25, 0.1, 1),
    "line": linear_kernel(25, 20),
    "line-dft": linear_kernel(40, 20),
    "shake": camera_shake_kernel(np.random.default_rng(3), 25),
    "dft": _asymmetric(17, 0.8, 2),
    "even": _asymmetric(4, 1.0, 3),
}


@pytest.mark.parametrize("name", sorted(ROUTE_KERNELS))
def test_apply_kernel_matches_reference_convolution(name):
    kernel = ROUTE_KERNELS[name]
    rng = np.random.default_rng(11)
    image = rng.random((37, 52, 3)).astype(np.float32) * 255
    expected = reference_convolve(image, kernel.astype(np.float64))
    np.testing.assert_allclose(apply_kernel(image, kernel), expected, atol=2e-3)
    img64 = image.astype(np.float64)
    np.testing.assert_allclose(apply_kernel(img64, kernel), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ROUTE_KERNELS))
def test_apply_kernel_is_convolution_not_correlation(name):
    kernel = ROUTE_KERNELS[name]
    kh, kw = kernel.shape
    image = np.zeros((61, 67), np.float32)
    image[30, 33] = 1.0
    out = apply_kernel(image, kernel)
    patch = out[30 - kh // 2 : 30 - kh // 2 + kh, 33 - kw // 2 : 33 - kw // 2 + kw]
    np.testing.assert_allclose(patch, kernel, atol=1e-6)  # the kernel itself, not its flip
    assert out.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "shape,dtype",
    [
        ((40, 50), np.uint8),
        ((40, 50, 3), np.uint8),
        ((40, 50, 1), np.uint8),
        ((40, 50, 4), np.uint8),
        ((40, 50, 5), np.float32),
        ((40, 50), np.float32),
        ((40, 50, 3), np.float32),
        ((40, 50, 3), np.float64),
        ((40, 50, 3), np.uint16),
    ],
)
@pytest.mark.parametrize("kind", ["report", "linear", "dft"])
def test_apply_kernel_keeps_shape_and_dtype(shape, dtype, kind):
    kernel = {"report": report_kernel(), "linear": linear_kernel(9, 30)}.get(
        kind, ROUTE_KERNELS["dft"]
    )
    rng = np.random.default_rng(0)
    top = 255 if dtype == np.uint8 else 65535 if dtype == np.uint16 else 1.0
    image = (rng.random(shape) * top).astype(dtype)
    before = image.copy()
    out = apply_kernel(image, kernel)
    assert out.shape == image.shape and out.dtype == image.dtype
    np.testing.assert_array_equal(image, before)  # input untouched
    if np.issubdtype(dtype, np.integer):  # rounded to nearest: within 0.5 of the exact sum
        expected = np.clip(reference_convolve(image, kernel), 0, top)
        assert np.abs(out.astype(np.float64) - expected).max() <= 0.5 + 0.01


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_apply_kernel_with_negative_taps_rounds_and_clips(dtype):
    """A sharpening kernel overshoots both ends: clipped to the dtype's range, not wrapped."""
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)
    top = np.iinfo(dtype).max
    rng = np.random.default_rng(6)
    image = rng.integers(0, top, (30, 40, 3), endpoint=True).astype(dtype)
    exact = reference_convolve(image, sharpen.astype(np.float64))
    out = apply_kernel(image, sharpen)
    assert out.dtype == dtype
    assert (exact < 0).any() and (exact > top).any()
    assert np.abs(out - np.clip(exact, 0, top)).max() <= 0.5 + 0.01


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_apply_kernel_identity(dtype):
    rng = np.random.default_rng(2)
    image = (rng.random((33, 41, 3)) * 200).astype(dtype)
    for delta in (np.ones((1, 1)), np.pad([[1.0]], 1), np.pad([[1.0]], 12), linear_kernel(1, 33)):
        np.testing.assert_array_equal(apply_kernel(image, delta), image)


@pytest.mark.parametrize(
    "kernel",
    [report_kernel(), linear_kernel(25, 33), ROUTE_KERNELS["shake"], ROUTE_KERNELS["dft"]],
    ids=["report", "linear", "shake", "dft"],
)
def test_apply_kernel_constant_image_stays_constant(kernel):
    for value in (0, 1, 127, 128, 254, 255):
        image = np.full((45, 60, 3), value, np.uint8)
        np.testing.assert_array_equal(apply_kernel(image, kernel), image)


@pytest.mark.parametrize(
    "kernel",
    [report_kernel(), linear_kernel(11, 70), ROUTE_KERNELS["shake"], ROUTE_KERNELS["dft"]],
    ids=["report", "linear", "shake", "dft"],
)
def test_apply_kernel_rounding_is_unbiased(kernel):
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    exact = reference_convolve(image, kernel.astype(np.float64))
    out = apply_kernel(image, kernel).astype(np.float64)
    assert np.abs(out - exact).max() <= 0.5 + 1e-3  # rounded to nearest, never truncated
    assert abs(out.mean() - exact.mean()) < 0.01
    assert abs(out.mean() - image.mean()) < 0.05  # blurring keeps the mean brightness


@pytest.mark.parametrize(
    "kernel",
    [
        linear_kernel(14.6, 27),
        linear_kernel(23, 90),
        camera_shake_kernel(np.random.default_rng(8), 21),
        camera_shake_kernel(np.random.default_rng(9), 17),
    ],
    ids=["linear-a", "linear-b", "shake-a", "shake-b"],
)
def test_apply_kernel_does_not_shift_the_image(kernel):
    image = np.zeros((71, 83), np.float32)
    image[33, 47] = 1.0
    image[34, 47] = 0.5
    before = centroid(image)
    after = centroid(apply_kernel(image, kernel))
    assert after == pytest.approx(before, abs=1e-4)


def test_apply_kernel_rejects_bad_input():
    with pytest.raises(ValueError, match="image"):
        apply_kernel(np.zeros((4, 5, 3, 2), np.uint8), report_kernel())
    with pytest.raises(ValueError, match="dtype"):
        apply_kernel(np.zeros((4, 5), np.int64), report_kernel())
    with pytest.raises(ValueError, match="kernel"):
        apply_kernel(np.zeros((4, 5), np.uint8), np.ones(3))
    with pytest.raises(ValueError, match="kernel"):
        apply_kernel(np.zeros((4, 5), np.uint8), np.full((3, 3), np.nan))


# ---------------------------------------------------------------- specs


@pytest.mark.parametrize("kind", ["report", "linear", "shake", "mixed"])
def test_random_kernel_spec_round_trip_is_bit_exact(kind):
    rng = np.random.default_rng(123)
    for _ in range(6):
        kernel, spec = random_kernel(kind, rng)
        check_kernel(kernel, com_tol=2e-5)
        again = kernel_from_spec(json.loads(json.dumps(spec)))
        assert again.dtype == np.float32
        np.testing.assert_array_equal(again, kernel)


def test_random_kernel_specs():
    rng = np.random.default_rng(5)
    kernel, spec = random_kernel("report", rng)
    assert spec == {"type": "report", "length": 15, "angle": 0}
    np.testing.assert_array_equal(kernel, report_kernel())
    for _ in range(30):
        _, spec = random_kernel("linear", rng, length_range=(7, 25))
        assert set(spec) == {"type", "length", "angle"} and spec["type"] == "linear"
        assert 7 <= spec["length"] <= 25 and 0 <= spec["angle"] < 180
        assert spec["length"] == round(spec["length"], 4) and spec["angle"] == round(
            spec["angle"], 4
        )
        _, spec = random_kernel("shake", rng, length_range=(3, 4))
        assert set(spec) == {"type", "length", "seed"} and spec["type"] == "shake"
        assert 3 <= spec["length"] <= 4 and isinstance(spec["seed"], int)
    types = [random_kernel("mixed", rng)[1]["type"] for _ in range(40)]
    assert set(types) == {"linear", "shake"}
    assert set(KERNEL_KINDS) == {"report", "linear", "shake", "mixed"}


def test_random_kernel_is_reproducible():
    a = [random_kernel("mixed", np.random.default_rng(9))[1] for _ in range(2)]
    assert a[0] == a[1]
    rng1, rng2 = np.random.default_rng(10), np.random.default_rng(10)
    specs1 = [random_kernel("mixed", rng1)[1] for _ in range(10)]
    specs2 = [random_kernel("mixed", rng2)[1] for _ in range(10)]
    assert specs1 == specs2


def test_random_kernel_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown kernel kind 'gaussian'"):
        random_kernel("gaussian", rng)
    with pytest.raises(ValueError, match="length_range"):
        random_kernel("linear", rng, length_range=(0.5, 3))
    with pytest.raises(ValueError, match="length_range"):
        random_kernel("shake", rng, length_range=(9, 3))


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"length": 5}, "'type'"),
        ({"type": "box", "length": 5}, "unknown kernel spec type 'box'"),
        ({"type": "linear", "length": 5}, "'angle'"),
        ({"type": "shake", "length": 5}, "'seed'"),
        ({"type": "shake", "length": 5, "seed": 1.5}, "seed"),
        ({"type": "linear", "length": 0.2, "angle": 0}, "length"),
    ],
)
def test_kernel_from_spec_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        kernel_from_spec(spec)


def test_kernel_moments_of_a_delta():
    m = kernel_moments(np.ones((1, 1), np.float32))
    assert m["length"] == 1 and m["width"] == 1 and m["offset_x"] == m["offset_y"] == 0
    with pytest.raises(ValueError):
        kernel_moments(np.zeros((3, 3)))


def test_kernels_module_does_not_import_tensorflow():
    code = (
        "import sys, blurlib.data.kernels, blurlib.data.convolve\n"
        "assert 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mixed_kind_is_a_third_each_any_angle_axis_and_shake():
    rng = np.random.default_rng(0)
    specs = [random_kernel("mixed", rng)[1] for _ in range(600)]
    shake = sum(s["type"] == "shake" for s in specs)
    axis = sum(s["type"] == "linear" and s["angle"] in (0.0, 90.0) for s in specs)
    assert 150 < shake < 250 and 150 < axis < 250
    assert {s["angle"] for s in specs if s["type"] == "linear" and s["angle"] in (0.0, 90.0)} == {
        0.0,
        90.0,
    }
