"""blurlib.data.degrade: non-motion degradations (label 0), recorded as replayable specs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from blurlib.data import degrade as dg
from blurlib.errors import ImageError


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 96×128 RGB test photo with edges, texture and smooth parts (no files needed)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:96, 0:128]
    img = np.stack([x * 2, y * 2, (x + y)], axis=2).astype(np.float64)
    img[20:70, 30:90] = [200, 40, 60]
    img[40:60, 50:110] = [20, 180, 90]
    img += rng.normal(0, 12, img.shape) * (x > 64)[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def test_seeded_specs_are_pinned():
    """The draws of a seed are fixed: the same recipe on every machine."""
    assert dg.draw_base(np.random.default_rng(3), dg.REALISTIC, (480, 640)) == [
        {"op": "haze", "transmission": 0.7746, "veil": [185.3927, 193.4054, 201.4182]},
        {
            "op": "defocus",
            "radius": 2.2994,
            "region": {
                "kind": "ellipse",
                "cy": 0.5938,
                "cx": 0.3455,
                "ry": 0.2478,
                "rx": 0.2792,
                "angle": 77.513,
                "soft": 0.1967,
            },
        },
    ]
    assert dg.draw_finish(np.random.default_rng(3), dg.REALISTIC, (480, 640)) == [
        {"op": "poisson_noise", "scale": 0.1394, "gray": True, "seed": 389477915},
        {"op": "jpeg", "quality": 82},
    ]
    assert dg.draw_finish(np.random.default_rng(0), dg.REALISTIC, (480, 640)) == [
        {"op": "jpeg", "quality": 50}
    ]


def test_same_seed_same_bytes_and_seeds_differ(photo):
    def run(seed):
        rng = np.random.default_rng(seed)
        base, s1 = dg.degrade_base(photo, rng)
        out, s2 = dg.finish(base, rng)
        return out, s1 + s2

    a, specs_a = run(11)
    b, specs_b = run(11)
    assert a.tobytes() == b.tobytes() and specs_a == specs_b
    outs = [run(s)[0].tobytes() for s in range(12, 18)]
    assert len(set(outs)) == len(outs)


def test_apply_specs_replays_degrade_exactly_and_survives_json(photo):
    for seed in range(25):
        base, specs = dg.degrade_base(photo, np.random.default_rng(seed))
        replay = dg.apply_specs(
            photo, dg.draw_base(np.random.default_rng(seed), dg.REALISTIC, photo.shape)
        )
        assert np.array_equal(base, replay)
        out, fspecs = dg.finish(base, np.random.default_rng(1000 + seed))
        loaded = json.loads(json.dumps(specs + fspecs))
        assert loaded == specs + fspecs
        assert np.array_equal(
            dg.apply_specs(dg.apply_specs(photo, loaded[: len(specs)]), loaded[len(specs) :]), out
        )


def test_every_op_keeps_shape_and_dtype(photo):
    cfg = dg.get_degrade_config(
        "realistic", haze_prob=1, defocus_prob=1, gaussian_prob=1, resample_prob=1
    )
    seen = set()
    for seed in range(30):
        out, specs = dg.degrade_base(photo, np.random.default_rng(seed), cfg)
        fin, fspecs = dg.finish(out, np.random.default_rng(seed), cfg)
        assert out.shape == fin.shape == photo.shape and fin.dtype == np.uint8
        seen |= {s["op"] for s in specs + fspecs}
        assert [s["op"] for s in specs] == list(dg.BASE_OPS)  # fixed physical order
    assert seen == set(dg.BASE_OPS + dg.FINISH_OPS)


def test_none_preset_changes_nothing(photo):
    out, specs = dg.degrade_base(photo, np.random.default_rng(0), dg.NONE)
    fin, fspecs = dg.finish(out, np.random.default_rng(0), dg.NONE)
    assert specs == fspecs == [] and np.array_equal(fin, photo) and fin is not photo


def test_disk_kernel_is_normalised_isotropic_and_antialiased():
    for radius in (0.7, 1.0, 1.5, 2.0, 2.4, 4.0, 7.3):
        k = dg.disk_kernel(radius)
        assert k.dtype == np.float32 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert k.sum() == pytest.approx(1.0, abs=1e-6)
        assert np.array_equal(k, k.T) and np.array_equal(k, np.rot90(k))
        assert np.array_equal(k, k[::-1])
    k1, k15, k2 = dg.disk_kernel(1.0), dg.disk_kernel(1.5), dg.disk_kernel(2.0)
    assert not np.array_equal(k1, k15)
    assert k15.shape != k2.shape or not np.array_equal(k15, k2)
    assert dg.disk_kernel(1.5)[1, 1] == dg.disk_kernel(1.5).max()  # centre weight is largest


def _rotation_gap(image: np.ndarray, specs: list[dict]) -> int:
    """Largest difference between blur(rotate(x)) and rotate(blur(x)), over the dihedral group."""
    gap = 0
    for turn in (1, 2, 3):
        rotated = np.ascontiguousarray(np.rot90(image, turn))
        a = dg.apply_specs(rotated, specs)
        b = np.rot90(dg.apply_specs(image, specs), turn)
        gap = max(gap, int(np.abs(a.astype(int) - b).max()))
    flipped = np.ascontiguousarray(image.transpose(1, 0, 2))
    a = dg.apply_specs(flipped, specs)
    b = dg.apply_specs(image, specs).transpose(1, 0, 2)
    return max(gap, int(np.abs(a.astype(int) - b).max()))


def test_label0_blur_is_isotropic_no_motion_look(photo):
    """Blurring a rotated photo gives the rotated blurred photo: no direction is preferred."""
    square = np.ascontiguousarray(photo[:, :96])
    for spec in (
        {"op": "gaussian", "sigma": 1.3},
        {"op": "gaussian", "sigma": 0.4},
        {"op": "defocus", "radius": 2.6, "region": None},
        {"op": "defocus", "radius": 1.0, "region": None},
    ):
        assert _rotation_gap(square, [spec]) <= 1, spec
    # The check has teeth: a 9-px horizontal motion kernel fails it badly.
    motion = np.zeros((9, 9), np.float32)
    motion[4] = 1 / 9
    rotated = np.ascontiguousarray(np.rot90(square))
    a = dg.apply_isotropic(rotated, motion)
    b = np.rot90(dg.apply_isotropic(square, motion))
    assert np.abs(a.astype(int) - b).max() > 40
    for seed in range(40):  # and no drawn spec is ever anything but these isotropic ops
        for spec in dg.draw_base(np.random.default_rng(seed), dg.REALISTIC, square.shape):
            assert spec["op"] in dg.BASE_OPS


def test_blur_softens(photo):
    lap = lambda im: cv2.Laplacian(im.mean(2), cv2.CV_64F).var()  # noqa: E731
    for spec in (
        {"op": "gaussian", "sigma": 1.2},
        {"op": "defocus", "radius": 2.0, "region": None},
        {"op": "resample", "factor": 0.4, "down": "area", "up": "cubic"},
    ):
        assert lap(dg.apply_specs(photo, [spec])) < 0.6 * lap(photo), spec


def test_resample_keeps_shape_for_every_interpolation(photo):
    for down in ("area", "linear", "cubic"):
        for up in ("linear", "cubic"):
            for f in (0.3, 0.61, 0.9):
                spec = {"op": "resample", "factor": f, "down": down, "up": up}
                assert dg.apply_specs(photo, [spec]).shape == photo.shape
    odd = np.ascontiguousarray(photo[:37, :53])
    spec = {"op": "resample", "factor": 0.3, "down": "area", "up": "linear"}
    assert dg.apply_specs(odd, [spec]).shape == odd.shape


def test_jpeg_quality_range_and_compression(photo):
    qualities = []
    for seed in range(60):
        for spec in dg.draw_finish(np.random.default_rng(seed), dg.REALISTIC, photo.shape):
            if spec["op"] == "jpeg":
                qualities.append(spec["quality"])
    assert 30 <= min(qualities) and max(qualities) <= 95 and len(set(qualities)) > 10

    def psnr(a):
        return 10 * np.log10(255**2 / np.mean((a.astype(float) - photo) ** 2))

    low = dg.apply_specs(photo, [{"op": "jpeg", "quality": 30}])
    high = dg.apply_specs(photo, [{"op": "jpeg", "quality": 95}])
    assert psnr(low) < 27.5 and psnr(high) > psnr(low) + 1.0
    assert not np.array_equal(high, photo)


def test_noise_statistics():
    grey = np.full((256, 256, 3), 128, np.uint8)
    spec = {"op": "gaussian_noise", "sigma": 5.0, "gray": False, "seed": 1}
    diff = dg.apply_specs(grey, [spec]).astype(float) - 128
    assert diff.std() == pytest.approx(5.0, rel=0.04) and abs(diff.mean()) < 0.1
    assert np.abs(np.corrcoef(diff[..., 0].ravel(), diff[..., 1].ravel())[0, 1]) < 0.05
    spec = {"op": "gaussian_noise", "sigma": 3.0, "gray": True, "seed": 2}
    diff = dg.apply_specs(grey, [spec]).astype(float) - 128
    assert np.array_equal(diff[..., 0], diff[..., 2]) and diff.std() == pytest.approx(3, rel=0.05)
    # shot noise grows with brightness: σ = scale·sqrt(level·255/256) on the 0–255 scale
    for level in (32, 200):
        flat = np.full((256, 256, 3), level, np.uint8)
        spec = {"op": "poisson_noise", "scale": 0.5, "gray": False, "seed": 3}
        diff = dg.apply_specs(flat, [spec]).astype(float) - level
        assert diff.std() == pytest.approx(0.5 * np.sqrt(level * 255 / 256), rel=0.05)


def test_region_defocus_spares_the_sharp_region(photo):
    region = {
        "kind": "ellipse",
        "cy": 0.5,
        "cx": 0.5,
        "ry": 0.3,
        "rx": 0.3,
        "angle": 20.0,
        "soft": 0.1,
    }
    spec = {"op": "defocus", "radius": 3.0, "region": region}
    out = dg.apply_specs(photo, [spec])
    mask = dg.defocus_mask([spec], photo.shape)
    assert mask.dtype == np.float32 and mask.shape == photo.shape[:2]
    assert mask.min() == 0.0 and mask.max() == 1.0
    assert mask[48, 64] == 0.0 and mask[2, 2] == 1.0  # subject in the centre, background soft
    sharp = mask == 0
    assert np.array_equal(out[sharp], photo[sharp])
    whole = dg.apply_specs(photo, [{"op": "defocus", "radius": 3.0, "region": None}])
    assert np.abs(out[mask == 1].astype(int) - whole[mask == 1]).max() <= 1
    ramp = {"kind": "ramp", "angle": 90.0, "start": 0.2, "end": 0.6}  # depth grows downwards
    m = dg.region_mask(ramp, photo.shape)
    assert m[0].max() == 0.0 and m[-1].min() == 1.0 and np.all(np.diff(m[:, 5]) >= 0)
    assert np.array_equal(
        dg.defocus_mask([{"op": "gaussian", "sigma": 1}], photo.shape),
        np.zeros(photo.shape[:2], np.float32),
    )
    assert dg.defocus_mask([{"op": "defocus", "radius": 2, "region": None}], (4, 5)).min() == 1


def test_haze_lowers_contrast(photo):
    spec = {"op": "haze", "transmission": 0.6, "veil": [210.0, 215.0, 225.0]}
    out = dg.apply_specs(photo, [spec]).astype(float)
    assert out.std() == pytest.approx(0.6 * photo.std(), rel=0.03)
    assert out.mean() > photo.mean()


def test_configs_presets_and_validation():
    assert dg.DEGRADE_MIXES == ("none", "realistic")
    assert dg.get_degrade_config("realistic") == dg.REALISTIC == dg.DegradeConfig()
    assert dg.get_degrade_config("none") == dg.NONE
    cfg = dg.get_degrade_config("realistic", jpeg_prob=1.0, noise_sigma=(2.0, 3.0))
    assert cfg.jpeg_prob == 1.0 and cfg.noise_sigma == (2.0, 3.0)
    with pytest.raises(ValueError, match="unknown degradation mix"):
        dg.get_degrade_config("heavy")
    with pytest.raises(ValueError, match="unknown DegradeConfig field"):
        dg.get_degrade_config("none", jpeg_probability=0.5)
    for bad in (
        {"jpeg_prob": 1.5},
        {"gaussian_sigma": (2.0, 1.0)},
        {"jpeg_quality": (0, 90)},
        {"resample_factor": (0.5, 1.5)},
        {"resample_down": ("nearest",)},
        {"defocus_radius": (0.0, 2.0)},
    ):
        with pytest.raises(ValueError):
            dg.DegradeConfig(**bad)
    with pytest.raises(AttributeError):
        dg.REALISTIC.jpeg_prob = 0.0  # frozen


def test_invalid_inputs_raise_clear_errors(photo):
    rng = np.random.default_rng(0)
    for bad in (photo.astype(np.float32), photo[:, :, 0], photo[:, :, :2], [[1, 2, 3]]):
        with pytest.raises(ImageError, match="RGB uint8"):
            dg.degrade_base(bad, rng)
        with pytest.raises(ImageError):
            dg.apply_specs(bad, [])
    with pytest.raises(ValueError, match="unknown degradation op"):
        dg.apply_specs(photo, [{"op": "motion", "length": 9}])
    with pytest.raises(ValueError, match="'op'"):
        dg.apply_specs(photo, [{"sigma": 1.0}])
    for radius in (0, -1, 100, "x"):
        with pytest.raises(ValueError, match="disk radius"):
            dg.disk_kernel(radius)


def test_isotropic_spread_adds_whole_photo_softness_in_quadrature():
    specs = [
        {"op": "gaussian", "sigma": 1.2},
        {"op": "defocus", "radius": 3.2, "region": None},
        {"op": "defocus", "radius": 4.0, "region": {"x": 1}},  # a region: not the whole photo
        {"op": "resample", "factor": 0.5, "down": "area", "up": "linear"},
        {"op": "haze", "transmission": 0.7},
    ]
    expected = np.sqrt(1.2**2 + 1.6**2 + (4 - 1) / 12)
    assert np.isclose(dg.isotropic_spread(specs), expected)
    assert dg.isotropic_spread([]) == 0.0


def test_motion_is_lengthened_until_it_dominates_the_softness():
    from blurlib.data.kernels import kernel_from_spec, kernel_moments, lengthen_to_spread

    def spread(spec):
        return np.sqrt((kernel_moments(kernel_from_spec(spec))["length"] ** 2 - 1) / 12)

    for spec in ({"type": "linear", "length": 7.0, "angle": 30.0},
                 {"type": "shake", "length": 7.0, "seed": 5}):  # fmt: skip
        longer = lengthen_to_spread(spec, 4.0, 35.0)
        assert longer["length"] > spec["length"] and spread(longer) >= 4.0 * 0.9
        assert lengthen_to_spread(spec, 0.5, 35.0) == spec  # already dominant
        assert lengthen_to_spread(spec, 40.0, 20.0)["length"] == 20.0  # capped
    report = {"type": "report", "length": 15, "angle": 0}
    assert lengthen_to_spread(report, 9.0, 35.0) == report
    with pytest.raises(ValueError, match="motion_dominance"):
        dg.DegradeConfig(motion_dominance=-1.0)


def test_generate_with_motion_dominance_records_the_kernels_it_used(tmp_path):
    from blurlib.data.dataset import generate, load_metadata
    from blurlib.data.kernels import kernel_from_spec, kernel_moments

    cfg = dg.get_degrade_config("realistic", motion_dominance=2.0, gaussian_prob=1.0)
    out = generate(tmp_path / "d", source="sample:camera,coins", n=4, seed=3, kernel="linear",
                   length_range=(5.0, 35.0), degrade=cfg, max_side=160)  # fmt: skip
    for entry in load_metadata(out)["images"]:
        needed = 2.0 * dg.isotropic_spread(entry["degrade"]["base"])
        k = kernel_moments(kernel_from_spec(entry["kernel"]))
        assert (
            np.sqrt((k["length"] ** 2 - 1) / 12) >= 0.9 * needed
            or entry["kernel"]["length"] == 35.0
        )
