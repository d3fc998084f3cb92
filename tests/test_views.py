"""Test-time views (blurlib.inference.views): the angle convention under rotation and mirroring,
grids turned back, averaging, and the analysis functions that take ``views``."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import noise_texture, perturb_bn

from blurlib.data.kernels import linear_kernel
from blurlib.evaluation.kinds import predict_patch_heads
from blurlib.inference import analysis as ia
from blurlib.inference import views as iv
from blurlib.inference.windows import window_grid_shape
from blurlib.nets.builders import build_model


@pytest.fixture(scope="module")
def net():
    m = build_model("analysis", seed=5, width=8)
    perturb_bn(m)
    return m


def _axis_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(np.asarray(a, float) - np.asarray(b, float)) % 180.0
    return np.minimum(d, 180.0 - d)


def _padded(k: np.ndarray, n: int = 31) -> np.ndarray:
    out = np.zeros((n, n))
    h, w = k.shape
    out[(n - h) // 2 : (n - h) // 2 + h, (n - w) // 2 : (n - w) // 2 + w] = k
    return out


def test_view_counts_and_refusals():
    assert [len(iv.view_specs(v)) for v in iv.VIEW_COUNTS] == [1, 4, 8]
    assert iv.view_specs(1) == ((0, False),)
    assert len(set(iv.view_specs(8))) == 8
    for bad in (0, 2, 3, True, "4", 4.0, None):
        with pytest.raises(ValueError, match="views must be one of"):
            iv.check_views(bad)
    assert iv.check_views(np.int64(4)) == 4


@pytest.mark.parametrize("view", iv.view_specs(8))
def test_a_kernel_seen_in_a_view_has_the_angle_the_view_reports(view):
    # a straight motion kernel at theta, turned into the view, is the kernel at the view's angle
    for theta in (0.0, 20.0, 45.0, 90.0, 135.0, 170.0):
        seen = iv.to_view(_padded(linear_kernel(15, theta)), view)
        angles = np.arange(0.0, 180.0, 1.0)
        errors = [np.abs(_padded(linear_kernel(15, float(t))) - seen).sum() for t in angles]
        best = float(angles[int(np.argmin(errors))])
        assert _axis_gap(iv.angle_from_view(np.float32(best), view), theta) <= 1.0, (view, theta)


@pytest.mark.parametrize("view", iv.view_specs(8))
def test_from_view_undoes_to_view(view):
    a = np.arange(3 * 5 * 2).reshape(3, 5, 2)
    np.testing.assert_array_equal(iv.from_view(iv.to_view(a, view), view), a)
    b = np.arange(4 * 3 * 5).reshape(4, 3, 5)  # a batch: the plane is axes (1, 2)
    back = iv.from_view(iv.to_view(b, view, (1, 2)), view, (1, 2))
    np.testing.assert_array_equal(back, b)
    assert iv.to_view(a, view).flags["C_CONTIGUOUS"]


def test_angles_stay_below_180():
    assert iv.angle_from_view(np.float32(1e-6), (0, True)) == 0.0  # 179.999999 rounds to 180
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, 2000)
    parts = [
        {"p_kind": np.zeros((2000, 3)), "angle_deg": a, "length_px": np.zeros(2000)}
        for a in (x, 180.0 - x)
    ]
    angle = iv.mean_heads(parts)["angle_deg"]
    assert angle.dtype == np.float32 and angle.max() < 180.0 and angle.min() >= 0.0
    with pytest.raises(ValueError, match="axes"):
        iv.viewed_heads(lambda a: {}, np.zeros((2, 30, 30, 3)), 4, axes=(2, 3))


def test_mean_heads_averages_axes_not_numbers():
    parts = [
        {"p_kind": np.array([[1.0, 0, 0]]), "angle_deg": np.array([179.0]), "length_px": [4.0]},
        {"p_kind": np.array([[0.0, 1, 0]]), "angle_deg": np.array([3.0]), "length_px": [6.0]},
    ]
    m = iv.mean_heads(parts)
    np.testing.assert_allclose(m["p_kind"], [[0.5, 0.5, 0]])
    assert _axis_gap(m["angle_deg"], 1.0)[0] < 1e-4  # 179° and 3° are 4° apart, around 1°
    assert m["length_px"][0] == pytest.approx(5.0)
    assert all(v.dtype == np.float32 for v in m.values())


@pytest.mark.parametrize(("h", "w", "stride"), [(95, 130, 30), (120, 150, 8), (61, 33, 4)])
def test_crop_to_windows_keeps_every_window(h, w, stride):
    img = np.zeros((h, w, 3), np.uint8)
    c = iv.crop_to_windows(img, stride)
    assert window_grid_shape(*c.shape[:2], stride) == window_grid_shape(h, w, stride)
    assert (c.shape[0] - 30) % stride == 0 and (c.shape[1] - 30) % stride == 0


def test_patch_analysis_in_four_views_is_the_mean_of_the_four(net):
    img = noise_texture(95, 130, seed=6)
    a = ia.patch_analysis(net, img, views=4)
    crop = img[:90, :120]
    parts = []
    for view in iv.view_specs(4):
        b = ia.patch_analysis(net, iv.to_view(crop, view))
        raw_angle = predict_patch_heads(net, np.stack([iv.to_view(p, view) for p in _grid(crop)]))[
            "angle_deg"
        ].reshape(3, 4)
        parts.append(
            {
                "p_kind": iv.from_view(np.stack([b.p_sharp, b.p_motion, b.p_defocus], -1), view),
                "angle_deg": iv.angle_from_view(raw_angle, view),
                "length_px": np.zeros((3, 4)),
            }
        )
    ref = iv.mean_heads(parts)
    np.testing.assert_allclose(a.p_motion, ref["p_kind"][..., 1], atol=1e-5)
    np.testing.assert_allclose(a.p_defocus, ref["p_kind"][..., 2], atol=1e-5)
    sure = a.p_motion >= 0.5
    assert (np.isnan(a.angle_deg) == ~sure).all()
    assert (_axis_gap(a.angle_deg[sure], ref["angle_deg"][sure]) < 0.05).all()
    assert a.p_motion.shape == (3, 4) and a.evidence.shape == (3, 4)
    one = ia.patch_analysis(net, img)
    np.testing.assert_array_equal(one.p_motion, ia.patch_analysis(net, img, views=1).p_motion)
    assert not np.allclose(a.p_motion, one.p_motion)


def _grid(img: np.ndarray) -> list[np.ndarray]:
    return [img[r : r + 30, c : c + 30] for r in range(0, 90, 30) for c in range(0, 120, 30)]


def test_eight_views_make_the_analysis_turn_with_the_photo(net):
    img = noise_texture(90, 120, seed=7)
    a = ia.patch_analysis(net, img, views=8)
    t = ia.patch_analysis(net, np.rot90(img), views=8)  # the photo a quarter turn CCW
    np.testing.assert_allclose(t.p_motion, np.rot90(a.p_motion), atol=1e-5)
    np.testing.assert_allclose(t.length_px, np.rot90(a.length_px), atol=1e-4)
    # the dense windows too, where the window grid covers the photo (30 + 8·n a side)
    img = noise_texture(30 + 8 * 6, 30 + 8 * 9, seed=8)
    d = ia.dense_analysis(net, img, stride=8, views=8)
    m = ia.dense_analysis(net, img[:, ::-1], stride=8, views=8)  # the mirror image
    np.testing.assert_allclose(m.p_defocus, d.p_defocus[:, ::-1], atol=1e-5)
    # the heads read as is (no 0.5 rule): every direction turns by 90°, or is mirrored
    patches = np.stack(_grid(noise_texture(90, 120, seed=9)))
    h = predict_patch_heads(net, patches, views=8)
    r = predict_patch_heads(net, np.rot90(patches, 1, axes=(1, 2)), views=8)
    assert (_axis_gap(r["angle_deg"], h["angle_deg"] + 90.0) < 0.05).all()
    f = predict_patch_heads(net, patches[:, :, ::-1], views=8)
    assert (_axis_gap(f["angle_deg"], 180.0 - h["angle_deg"]) < 0.05).all()
    np.testing.assert_allclose(f["p_kind"], h["p_kind"], atol=1e-5)


def test_dense_analysis_in_views_keeps_its_grid_and_refuses_bad_counts(net):
    img = noise_texture(101, 77, seed=10)
    d = ia.dense_analysis(net, img, stride=6, views=4)  # shifted passes, a trimmed remainder
    assert d.p_motion.shape == window_grid_shape(101, 77, 6)
    # each window is the mean of its own four views, cut out and classified alone
    for i, j in ((0, 0), (5, 3), (11, 7)):
        ref = predict_patch_heads(net, img[None, 6 * i : 6 * i + 30, 6 * j : 6 * j + 30], views=4)
        np.testing.assert_allclose(d.p_defocus[i, j], ref["p_kind"][0, 2], atol=1e-5)
    np.testing.assert_allclose(d.p_sharp + d.p_motion + d.p_defocus, 1.0, atol=1e-5)
    maps = ia.kind_maps(net, img, stride=6, views=4)
    assert maps.shape == (101, 77, 3)
    with pytest.raises(ValueError, match="views must be one of"):
        ia.dense_analysis(net, img, views=2)
    with pytest.raises(ValueError, match="views must be one of"):
        ia.patch_analysis(net, img, views=3)


def test_a_context_net_in_views():
    """A net that reads around its window: interior windows are the mean of their own views;
    the windows by the trimmed bottom/right remainder see the photo's mirror there (documented)."""
    from blurlib.nets import analysis as na

    ctx = na.build_analysis(seed=0, width=8, context=15)
    perturb_bn(ctx)
    img = noise_texture(30 + 30 * 4 + 7, 30 + 30 * 5 + 11, seed=11)  # 157×191: a remainder
    one = ia.patch_analysis(ctx, img)
    four = ia.patch_analysis(ctx, img, views=4)
    assert four.p_motion.shape == one.p_motion.shape == (5, 6)
    crop = img[:150, :180]  # the patch grid's extent
    parts = []
    for view in iv.view_specs(4):
        b = ia.patch_analysis(ctx, iv.to_view(crop, view))
        p = np.stack([b.p_sharp, b.p_motion, b.p_defocus], -1)
        parts.append({"p_kind": iv.from_view(p, view), "angle_deg": np.zeros((5, 6)),
                      "length_px": np.zeros((5, 6))})  # fmt: skip
    ref = iv.mean_heads(parts)["p_kind"]
    np.testing.assert_allclose(four.p_motion, ref[..., 1], atol=1e-5)
    # the identity view of the trimmed photo equals views=1 away from the trimmed edges
    same = ia.patch_analysis(ctx, crop)
    np.testing.assert_allclose(same.p_motion[:-1, :-1], one.p_motion[:-1, :-1], atol=1e-5)
