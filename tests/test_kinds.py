"""Blur-kind labels: the angle convention, camera-shake labels, Sun's classes, the generator."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from helpers import noise_texture

from blurlib.data import kinds
from blurlib.data.convolve import apply_kernel
from blurlib.data.kernels import camera_shake_kernel, kernel_moments, linear_kernel


def _streak_axis(angle: float, length: float = 15.0) -> tuple[float, float, float]:
    """Blur one bright pixel; return (var along x, var along rows, cov(x, rows)) of the streak."""
    img = np.zeros((61, 61), np.float32)
    img[30, 30] = 1.0
    s = apply_kernel(img, linear_kernel(length, angle))
    ys, xs = np.mgrid[0:61, 0:61].astype(float)
    w = s / s.sum()
    mx, my = (w * xs).sum(), (w * ys).sum()
    return (
        float((w * (xs - mx) ** 2).sum()),
        float((w * (ys - my) ** 2).sum()),
        float((w * (xs - mx) * (ys - my)).sum()),
    )


def test_angle_convention_on_a_synthetic_streak():
    # 0 = along x (right), 90 = along y, counter-clockwise as seen on screen (rows point down)
    vx, vy, _ = _streak_axis(0)
    assert vx > 10 and vy < 0.1
    vx, vy, _ = _streak_axis(90)
    assert vy > 10 and vx < 0.1
    # 30° counter-clockwise on screen: going right, the streak goes UP (rows decrease)
    vx, vy, cxy = _streak_axis(30)
    assert cxy < 0 and vx > vy
    measured = math.degrees(math.atan2(-2 * cxy, vx - vy)) / 2 % 180
    assert abs(measured - 30) < 1.0
    vx, vy, cxy = _streak_axis(120)
    assert cxy > 0 and vy > vx  # 120°: going right the streak goes DOWN, steeper than 45°
    assert abs(math.degrees(math.atan2(-2 * cxy, vx - vy)) / 2 % 180 - 120) < 1.0


@pytest.mark.parametrize("angle", [0.0, 17.5, 45.0, 90.0, 133.0, 179.0])
def test_straight_labels_are_the_spec(angle):
    a, ln = kinds.motion_labels({"type": "linear", "length": 13.0, "angle": angle})
    assert a == pytest.approx(angle % 180) and ln == 13.0
    m = kernel_moments(linear_kernel(13.0, angle))
    assert kinds.angle_difference(m["angle"], a) < 1.0


def test_shake_labels_are_the_principal_axis():
    spec = {"type": "shake", "length": 19.0, "seed": 1234}
    a, ln = kinds.motion_labels(spec)
    m = kernel_moments(camera_shake_kernel(np.random.default_rng(1234), 19.0))
    assert a == pytest.approx(m["angle"]) and ln == pytest.approx(m["length"])
    assert 0 <= a < 180 and 1 <= ln <= 19.5
    # a straight "shake" (no anxiety, no jerks) has the straight kernel's labels
    k = camera_shake_kernel(np.random.default_rng(3), 15.0, anxiety=0.0, jerks=0.0)
    assert kernel_moments(k)["length"] == pytest.approx(15.0, abs=0.3)


def test_angle_helpers():
    assert kinds.angle_difference(179.0, 1.0) == pytest.approx(2.0)
    assert kinds.angle_difference(10.0, 100.0) == pytest.approx(90.0)
    angles = np.array([0.0, 30.0, 90.0, 150.0, 179.5])
    d = kinds.doubled_angle(angles)
    back = kinds.angle_from_doubled(d[:, 0], d[:, 1])
    assert np.all(kinds.angle_difference(back, angles) < 1e-3)
    assert (kinds.doubled_angle(np.array([np.nan])) == 0).all()


def test_sun_classes():
    assert kinds.N_SUN_CLASSES == 73
    kind = np.array([0, 1, 1, 1, 1, 2, 1])
    angle = np.array([np.nan, 0.0, 29.0, 176.0, 150.0, np.nan, 90.0])
    length = np.array([np.nan, 3.0, 25.0, 10.2, 24.2, np.nan, 1.0])
    c = kinds.sun_class(kind, angle, length)
    assert c.tolist() == [0, 1, 1 + 11 * 6 + 1, 1 + 4 * 6 + 0, 1 + 11 * 6 + 5, -1, 0]
    a, ln = kinds.sun_class_labels(np.arange(73))
    assert np.isnan(a[0]) and np.isnan(ln[0])
    assert kinds.sun_class(np.ones(72), a[1:], ln[1:]).tolist() == list(range(1, 73))


@pytest.fixture(scope="module")
def photos():
    return [noise_texture(200, 260, seed=s) for s in range(3)]


def test_generator_labels_and_determinism(photos):
    kp = kinds.kind_patches(photos, 600, seed=5)
    assert len(kp) == 600 and kp.x.shape == (600, 30, 30, 3) and kp.x.dtype == np.uint8
    assert set(np.unique(kp.kind)) == {0, 1, 2}
    motion = kp.kind == 1
    assert np.isfinite(kp.angle[motion]).all() and np.isnan(kp.angle[~motion]).all()
    assert np.isnan(kp.length[~motion]).all()
    assert ((kp.angle[motion] >= 0) & (kp.angle[motion] < 180)).all()
    straight = kp.motion_type == 1
    assert ((kp.length[straight] >= 7) & (kp.length[straight] <= 25)).all()
    assert (kp.motion_type[~motion] == 0).all() and set(kp.motion_type[motion]) <= {1, 2}
    again = kinds.kind_patches(photos, 600, seed=5)
    assert np.array_equal(kp.x, again.x) and np.array_equal(kp.kind, again.kind)
    other = kinds.kind_patches(photos, 600, seed=6)
    assert not np.array_equal(kp.x, other.x)


def test_generator_keeps_only_judgeable_patches():
    flat = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(ValueError, match="judgeable"):
        kinds.kind_patches([flat], 10, seed=0, max_crops=50)


def test_defocus_and_sun_configs(photos):
    only_defocus = kinds.KindConfig(kind_probs=(0.0, 0.0, 1.0))
    kp = kinds.kind_patches(photos, 100, seed=1, config=only_defocus)
    assert (kp.kind == 2).all()
    sun = kinds.kind_patches(photos, 300, seed=1, config=kinds.SUN2015)
    assert set(np.unique(sun.kind)) <= {0, 1} and (sun.motion_type != 2).all()
    assert (kinds.sun_class(sun.kind, sun.angle, sun.length) >= 0).all()
    # Sun's setup: exact class kernels, so every label sits on a class centre
    motion = sun.kind == 1
    assert set(np.unique(sun.length[motion])) <= set(map(float, kinds.SUN_LENGTHS))
    assert set(np.unique(sun.angle[motion])) <= set(map(float, kinds.SUN_ANGLES))
    with pytest.raises(ValueError):
        kinds.KindConfig(kind_probs=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError):
        kinds.KindConfig(defocus_radius=(0.0, 3.0))


def test_generator_texture_fields_describe_the_sharp_source(photos):
    kp = kinds.kind_patches(photos, 300, seed=5)
    assert kp.texture_angle.shape == kp.coherence.shape == (300,)
    assert ((kp.texture_angle >= 0) & (kp.texture_angle < 180)).all()
    assert ((kp.coherence >= 0) & (kp.coherence <= 1)).all()
    # parallel lines at 60° (on screen): the sharp sources say so, whatever the blur did
    yy, xx = np.mgrid[0:320, 0:320].astype(float)
    t = np.radians(60.0)
    lines = 127 + 90 * np.sin(2 * np.pi * (-xx * np.sin(t) - yy * np.cos(t)) / 7.0)
    stripes = np.repeat(lines.astype(np.uint8)[..., None], 3, axis=2)
    kp = kinds.kind_patches([stripes], 100, seed=2)
    off = np.minimum(kinds.angle_difference(kp.texture_angle, 60.0), 90.0)
    mirrored = kinds.angle_difference(kp.texture_angle, 120.0)  # crops are mirrored at random
    assert (np.minimum(off, mirrored) < 3.0).all() and (off < 3.0).any() and (mirrored < 3.0).any()
    assert (kp.coherence > 0.95).all()


def _same(a, b) -> None:
    for f in ("x", "kind", "angle", "length", "motion_type", "photo", "texture_angle", "coherence"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.crops == b.crops


def test_the_stream_draws_kind_patches_bytes_on_workers(photos):
    """Worker processes, any block size, requests overlapping: kind_patches' bytes."""
    from blurlib.data.kind_stream import KindPatchStream

    want = [kinds.kind_patches(photos, n, seed=s) for n, s in ((700, 5), (90, 6))]
    with KindPatchStream(photos, workers=2, block=3) as stream:
        first, second = stream.request(700, 5), stream.request(90, 6)  # both in flight
        _same(second.result(), want[1])
        _same(first.result(), want[0])
        assert first.result() is first.result()
        assert 1.0 <= stream.patches_per_crop <= 16.0  # measured: 4x4 patches per crop at most
    with KindPatchStream(photos, workers=0) as serial:
        _same(serial.request(700, 5).result(), want[0])
    flat = [np.full((200, 200, 3), 128, np.uint8)]
    with KindPatchStream(flat, workers=1, block=7) as stream:
        with pytest.raises(ValueError, match="judgeable"):
            stream.request(10, 0, max_crops=50).result()
    with pytest.raises(ValueError):
        KindPatchStream(photos, workers=-1)


def test_context_windows_are_the_crop_around_each_patch():
    """Sharp crops, no finish: every window is a block of the photo (or its mirror) whose
    centre is the labelled patch; context 0 keeps the plain patches."""
    from blurlib.data.degrade import NONE

    yy, xx = np.mgrid[0:300, 0:300]
    coded = np.stack([xx % 256, yy % 256, (xx // 256) * 16 + yy // 256], axis=2).astype(np.uint8)
    cfg = kinds.KindConfig(kind_probs=(1.0, 0.0, 0.0), base=NONE, finish=NONE, context=12)
    kp = kinds.kind_patches([coded], 60, seed=4, config=cfg)
    assert kp.x.shape == (60, 54, 54, 3) and (kp.kind == 0).all()
    x = kp.x.astype(int)
    cols = x[..., 0] + 256 * (x[..., 2] // 16)
    rows = x[..., 1] + 256 * (x[..., 2] % 16)
    step = np.diff(cols, axis=2)
    assert (np.abs(step) == 1).all() and (step == step[:, :1, :1]).all()  # mirrored or not
    assert (np.diff(rows, axis=1) == 1).all()
    plain = kinds.kind_patches([coded], 60, seed=4, config=dataclasses.replace(cfg, context=0))
    assert plain.x.shape == (60, 30, 30, 3)
    with pytest.raises(ValueError, match="context"):
        kinds.KindConfig(context=-1)


def _all_mixed(shape: str) -> kinds.KindConfig:
    """Every crop mixed (``shape``) between sharp and a strong defocus, no other processing."""
    from blurlib.data.degrade import NONE

    return kinds.KindConfig(
        kind_probs=(0.5, 0.0, 0.5),
        defocus_radius=(5.0, 6.0),
        base=NONE,
        finish=NONE,
        context=15,
        mix_share=1.0,
        mix_shape=shape,
        min_evidence=0.0,
    )


def _detail(a: np.ndarray) -> np.ndarray:
    """Mean |horizontal step| of each window (part)."""
    return np.abs(np.diff(a.astype(np.float32), axis=2)).mean(axis=(1, 2, 3))


def test_mixed_crops_label_each_patch_with_its_own_blur():
    """mix_share 1: every crop is split on the patch grid between two draws; each patch's label
    is the blur its centre got, and context windows straddle the boundaries."""
    tex = noise_texture(400, 400, seed=5)
    cfg = _all_mixed("grid")
    kp = kinds.kind_patches([tex], 400, seed=2, config=cfg)
    centre = _detail(kp.x[:, 15:45, 15:45])
    sharp, soft = centre[kp.kind == 0], centre[kp.kind == 2]
    assert 0.3 < (kp.kind == 0).mean() < 0.7
    assert sharp.min() > 2 * soft.max()  # every label is its centre's blur
    top = _detail(kp.x[:, :15, 15:45])  # the context strip above each patch: its own cell
    straddle = (kp.kind == 0) & (top < soft.max())
    assert straddle.mean() > 0.04  # sharp patches under a defocused neighbour (1 in 8 expected)
    plain = kinds.kind_patches([tex], 400, seed=2, config=dataclasses.replace(cfg, mix_share=0))
    assert not ((plain.kind == 0) & (_detail(plain.x[:, :15, 15:45]) < soft.max())).any()
    with pytest.raises(ValueError, match="mix_share"):
        kinds.KindConfig(mix_share=1.5)


def test_region_mix_splits_crops_along_a_line():
    """mix_shape "region": a mixed crop's two blurs meet along one straight line on the patch
    grid — each row and column of cells changes blur at most once, both blurs usually show in
    the crop, and each patch's label is still its centre's blur."""
    size, offset, patch = 150, 15, 30
    both = 0
    for s in range(200):
        m = kinds._grid_mask(np.random.default_rng(s), size, offset, patch, "region")
        cells = m[offset::patch, offset::patch][:4, :4]  # the crop's own 4×4 grid
        for line in (*m, *m.T):
            assert np.count_nonzero(np.diff(line.astype(np.int8))) <= 1
        both += 0 < cells.sum() < 16
    assert both > 120  # the line passes through the crop's grid
    tex = noise_texture(400, 400, seed=5)
    kp = kinds.kind_patches([tex], 400, seed=2, config=_all_mixed("region"))
    centre = _detail(kp.x[:, 15:45, 15:45])
    assert 0.3 < (kp.kind == 0).mean() < 0.7
    assert centre[kp.kind == 0].min() > 2 * centre[kp.kind == 2].max()
    with pytest.raises(ValueError, match="mix_shape"):
        kinds.KindConfig(mix_shape="blobs")
