"""blurlib.data.deadleaves: sharp, scale-invariant synthetic scenes as a photo source."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from blurlib.data import deadleaves as dl
from blurlib.data import leaf_looks


def _psd_slope(image: np.ndarray) -> float:
    """Log-log slope of the radially averaged power spectrum of the grey image."""
    g = image.astype(np.float64).mean(2)
    g -= g.mean()
    power = np.abs(np.fft.fft2(g)).ravel() ** 2
    h, w = g.shape
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]).ravel()
    bins = np.geomspace(4 / h, 0.25, 12)
    which = np.digitize(f, bins)
    p = [power[which == i].mean() for i in range(1, len(bins))]
    return float(np.polyfit(np.log(np.sqrt(bins[1:] * bins[:-1])), np.log(p), 1)[0])


def test_shape_dtype_and_determinism():
    a = dl.dead_leaves(np.random.default_rng(5), (64, 96))
    b = dl.dead_leaves(np.random.default_rng(5), (64, 96))
    c = dl.dead_leaves(np.random.default_rng(6), (64, 96))
    assert a.shape == (64, 96, 3) and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    assert dl.dead_leaves(np.random.default_rng(0), (1, 1)).shape == (1, 1, 3)


def test_seeded_leaf_map_is_pinned():
    """Disks only, no OpenCV painting: the leaf map of a seed is fixed bit for bit."""
    labels = dl.leaf_labels(np.random.default_rng(0), (48, 48), rmax=12, shapes=("disk",))
    assert hashlib.sha256(labels.tobytes()).hexdigest()[:16] == "aac9c02c705f30e6"
    assert (labels.min(), labels.max(), len(np.unique(labels))) == (0, 1092, 259)


def test_every_pixel_is_covered_by_a_leaf():
    for seed, shapes in enumerate([("disk",), ("disk", "polygon"), ("rectangle",)]):
        labels = dl.leaf_labels(np.random.default_rng(seed), (128, 160), shapes=shapes)
        assert labels.dtype == np.int32 and labels.shape == (128, 160)
        assert labels.min() >= 0 and labels.max() < dl._UNCOVERED
        assert len(np.unique(labels)) > 100  # many leaves show, at every scale


def test_radius_law_is_r_to_the_minus_alpha():
    for alpha in (3.0, 2.5):
        r = dl.leaf_radii(np.random.default_rng(1), 200_000, 1.0, 512.0, alpha)
        assert r.min() >= 1.0 and r.max() <= 512.0
        bins = np.geomspace(1, 128, 15)
        hist, _ = np.histogram(r, bins)
        density = hist / np.diff(bins)
        centres = np.sqrt(bins[1:] * bins[:-1])
        slope = np.polyfit(np.log(centres), np.log(density), 1)[0]
        assert slope == pytest.approx(-alpha, abs=0.1)


def test_scale_invariance_proxy_power_spectrum():
    """alpha = 3 gives a power spectrum near 1/f²; fewer big leaves (alpha = 4) flatten it."""
    slopes = {
        a: np.mean(
            [
                _psd_slope(
                    dl.dead_leaves(np.random.default_rng(i), (128, 128), alpha=a, texture_prob=0)
                )
                for i in range(3)
            ]
        )
        for a in (2.0, 3.0, 4.0)
    }
    assert -2.4 < slopes[3.0] < -1.4
    assert slopes[2.0] < slopes[3.0] < slopes[4.0]


def test_colours_come_from_the_palette_and_edges_are_perfectly_sharp():
    palette = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    img = dl.dead_leaves(np.random.default_rng(2), (96, 96), palette=palette, texture_prob=0)
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    # only the two palette colours: not one blended (blurred) pixel at the many edges
    assert colours == {(255, 0, 0), (0, 0, 255)}


def test_palette_sampled_from_photos():
    photo = np.zeros((20, 30, 3), np.uint8)
    photo[:, :15] = [10, 200, 30]
    photo[:, 15:] = [250, 250, 5]
    pal = leaf_looks.palette_from_photos([photo], n=64, seed=1)
    assert pal.shape == (64, 3) and pal.dtype == np.uint8
    assert set(map(tuple, pal)) == {(10, 200, 30), (250, 250, 5)}
    img = dl.dead_leaves(np.random.default_rng(0), (64, 64), palette=[photo], texture_prob=0)
    assert set(map(tuple, img.reshape(-1, 3))) <= {(10, 200, 30), (250, 250, 5)}
    builtin = leaf_looks.builtin_palette()
    assert builtin.shape == (2048, 3) and builtin.dtype == np.uint8
    assert np.array_equal(builtin, leaf_looks.builtin_palette())
    assert 60 < builtin.mean() < 160 and builtin.std(axis=0).min() > 30


def test_sharp_by_construction_and_depth_of_field_softens():
    def edge_energy(img):
        return float(np.abs(cv2.Laplacian(img.mean(2), cv2.CV_64F)).mean())

    sharp = [dl.dead_leaves(np.random.default_rng(i), (128, 128)) for i in range(3)]
    soft = [
        dl.dead_leaves(np.random.default_rng(i), (128, 128), depth_of_field=3.0) for i in range(3)
    ]
    for a, b in zip(sharp, soft):
        assert edge_energy(b) < 0.8 * edge_energy(a)
    assert min(edge_energy(a) for a in sharp) > 8.0
    # depth_of_field=True draws its own radius; the foreground keeps exact palette colours
    palette = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    img = dl.dead_leaves(
        np.random.default_rng(4), (96, 96), palette=palette, texture_prob=0, depth_of_field=True
    )
    pure = np.isin(img[..., 1], [0]) & ((img[..., 0] == 255) ^ (img[..., 2] == 255))
    assert 0.1 < pure.mean() < 1.0  # sharp foreground leaves plus a blended background


def test_strands_are_one_directional_and_opt_in():
    """A strand tile runs along its angle (structure-tensor coherence high, lines along the
    angle); strand_prob 0 leaves a scene byte for byte as it was; leaves with strands have
    sharp one-directional texture."""
    from blurlib.data.leaf_looks import strand_tile
    from blurlib.data.patches import patch_orientation

    for deg in (0.0, 30.0, 90.0, 135.0):
        tile = strand_tile(np.random.default_rng(0), np.radians(deg), 60.0)
        assert tile.dtype == np.float32 and abs(float(tile.std()) - 1.0) < 1e-3
        img = np.repeat(np.clip(128 + 30 * tile, 0, 255).astype(np.uint8)[..., None], 3, 2)
        angle, coherence = patch_orientation(img[:120, :120], 30)
        assert np.median(coherence) > 0.6
        diff = np.abs((angle - deg + 90.0) % 180.0 - 90.0)
        assert np.median(diff) < 10.0  # the lines run along the tile's angle
    for seed in (0, 1):
        a = dl.dead_leaves(np.random.default_rng(seed), (96, 96))
        b = dl.dead_leaves(np.random.default_rng(seed), (96, 96), strand_prob=0.0)
        assert a.tobytes() == b.tobytes()
    palette = np.array([[128, 128, 128]], np.uint8)  # one colour: all texture is strands
    big = {"palette": palette, "texture_prob": 0, "rmin": 40.0}  # few, large leaves
    img = dl.dead_leaves(np.random.default_rng(2), (240, 240), strand_prob=1.0, **big)
    _, coherence = patch_orientation(img, 30)
    assert np.median(coherence) > 0.6 and img.std() > 5
    assert dl.dead_leaves(np.random.default_rng(2), (240, 240), **big).std() == 0
    with pytest.raises(ValueError, match="strand_prob"):
        dl.dead_leaves(np.random.default_rng(0), (32, 32), strand_prob=1.5)


def test_textures_and_shapes():
    plain = dl.dead_leaves(np.random.default_rng(3), (96, 96), texture_prob=0)
    textured = dl.dead_leaves(np.random.default_rng(3), (96, 96), texture_prob=1)
    assert len(np.unique(textured.reshape(-1, 3), axis=0)) > 2 * len(
        np.unique(plain.reshape(-1, 3), axis=0)
    )
    for shapes in (("rectangle",), ("polygon",), dl.SHAPES):
        img = dl.dead_leaves(np.random.default_rng(1), (80, 64), shapes=shapes)
        assert img.shape == (80, 64, 3)
    big = dl.dead_leaves(np.random.default_rng(1), (40, 50), supersample=2)
    assert big.shape == (40, 50, 3)


def test_deadleaves_images_is_a_deterministic_photo_source():
    three = dl.deadleaves_images(3, (32, 48), seed=9)
    five = dl.deadleaves_images(5, (32, 48), seed=9)
    assert [name for name, _ in five] == [f"deadleaves-{i:04d}" for i in range(5)]
    for (n1, a), (n2, b) in zip(three, five):
        assert n1 == n2 and np.array_equal(a, b)  # image i does not depend on n
    assert np.array_equal(three[1][1], dl.dead_leaves(np.random.default_rng([9, 1]), (32, 48)))
    assert not np.array_equal(three[0][1], dl.deadleaves_images(1, (32, 48), seed=10)[0][1])
    assert dl.deadleaves_images(0, (32, 48)) == []


def test_invalid_arguments_raise_clear_errors():
    rng = np.random.default_rng(0)
    bad_calls = [
        ({"size": (0, 10)}, "size"),
        ({"size": "big"}, "size"),
        ({"rmin": 0.0}, "rmin"),
        ({"rmin": 5.0, "rmax": 2.0}, "rmin"),
        ({"alpha": -1.0}, "alpha"),
        ({"shapes": ("star",)}, "shapes"),
        ({"shapes": ()}, "shapes"),
        ({"texture_prob": 1.5}, "texture_prob"),
        ({"supersample": 5}, "supersample"),
        ({"depth_of_field": -2.0}, "depth_of_field"),
        ({"palette": np.zeros((4, 2), np.uint8)}, "palette"),
        ({"palette": [np.zeros((4, 4), np.uint8)]}, "photo"),
    ]
    for kwargs, word in bad_calls:
        size = kwargs.pop("size", (16, 16))
        with pytest.raises(ValueError, match=word):
            dl.dead_leaves(rng, size, **kwargs)
    with pytest.raises(ValueError, match="n must be"):
        dl.deadleaves_images(-1)
    with pytest.raises(ValueError):
        dl.leaf_radii(rng, 10, rmin=2.0, rmax=1.0)


def test_the_strands_source_is_its_own_deterministic_stream():
    from blurlib.data.patches import patch_orientation
    from blurlib.data.photos import photo_refs
    from blurlib.errors import DatasetError

    plain = photo_refs("deadleaves:2:128")
    strands = photo_refs("deadleaves-strands:2:128")
    assert [r.name for r in strands] == ["deadleaves-strands-0000", "deadleaves-strands-0001"]
    assert "strands" in strands[0].location
    a, b = strands[0].load(), strands[0].load()
    assert np.array_equal(a, b) and a.shape == (128, 128, 3)
    assert np.array_equal(plain[0].load(), dl.deadleaves_scene(0, 128))  # plain scenes unchanged
    assert not np.array_equal(a, plain[0].load())
    # strands make more of a scene one-directional than the plain scenes are
    coh = [np.median(patch_orientation(r.load(), 30)[1]) for r in (*plain, *strands)]
    assert np.mean(coh[2:]) > np.mean(coh[:2])
    with pytest.raises(DatasetError, match="deadleaves-strands"):
        photo_refs("deadleaves-strands:x")
