"""Robustness: the evidence definition, quality variants, the robustness suite, min_evidence."""

from __future__ import annotations

import numpy as np
import pytest

from blurlib.data.convolve import apply_kernel
from blurlib.data.degrade import apply_isotropic, apply_specs, disk_kernel
from blurlib.data.kernels import linear_kernel
from blurlib.data.patches import EVIDENCE_THRESHOLD, evidence_mask, patch_texture
from blurlib.data.samples import sample_images
from blurlib.evaluation.baselines import laplacian_variance
from blurlib.evaluation.robustness import (
    QUALITY_VARIANTS,
    robustness_markdown,
    run_robustness,
    variant_examples,
)


@pytest.fixture(scope="module")
def photos():
    s = dict(sample_images())
    return {name: s[name][:240, :300] for name in ("coffee", "chelsea", "gravel", "camera")}


def test_evidence_mask_is_observed_detail_at_two_gray_levels(photos):
    ramp = np.tile(np.linspace(0, 200, 90, dtype=np.float32), (60, 1))
    flat = np.repeat(ramp[:, :, None], 3, axis=2).astype(np.uint8)
    assert not evidence_mask(flat).any()  # smooth shading: no evidence
    gravel = photos["gravel"]
    assert evidence_mask(gravel).all()
    mask = evidence_mask(photos["chelsea"])
    assert np.array_equal(mask, patch_texture(photos["chelsea"]) >= EVIDENCE_THRESHOLD)
    # the bundled cat (240×300 crop: 8×10 patches): 77 judgeable, 63 textured (sharp rule)
    assert int(mask.sum()) == 77
    # straight motion keeps evidence across its direction on a textured photo
    blurred = apply_kernel(gravel, linear_kernel(15, 30))
    assert evidence_mask(blurred).mean() == 1.0
    # strong isotropic defocus removes it from smooth content
    soft = apply_isotropic(photos["coffee"], disk_kernel(6))
    assert evidence_mask(soft).mean() < evidence_mask(photos["coffee"]).mean()


def test_variant_examples_apply_lens_before_and_camera_after_the_blur(photos):
    pics = [("coffee", photos["coffee"])]
    pristine = variant_examples(pics, "pristine", "linear", seed=3)[0]
    jpeg = variant_examples(pics, "JPEG q40", "linear", seed=3)[0]
    soft = variant_examples(pics, "soft σ1", "linear", seed=3)[0]
    assert np.array_equal(pristine.labels, jpeg.labels) and np.array_equal(
        pristine.labels, soft.labels
    )
    assert np.array_equal(pristine.sharp, jpeg.sharp)  # camera finishing leaves the source alone
    assert np.array_equal(jpeg.image, apply_specs(pristine.image, QUALITY_VARIANTS["JPEG q40"][1]))
    h, w = soft.sharp.shape[:2]
    lens = apply_specs(photos["coffee"], QUALITY_VARIANTS["soft σ1"][0])[:h, :w]
    assert np.array_equal(soft.sharp, lens)  # the lens-degraded photo is the scored source
    # the motion-blurred patches of the composite are blurred copies of the SOFT photo
    blurred = soft.labels.astype(bool)
    assert blurred.any() and not np.array_equal(soft.image, soft.sharp)


class _Laplacian:
    """A stand-in 'model': P(blurred) from the Laplacian variance (low variance = blurred)."""

    def __call__(self, image):
        v = laplacian_variance(image)
        return 1.0 / (1.0 + v / 50.0)


def test_run_robustness_tables_and_markdown(photos, monkeypatch):
    from blurlib.evaluation import robustness, runner

    model = _Laplacian()
    monkeypatch.setattr(runner, "model_predictor", lambda m, patch: m)
    monkeypatch.setattr(robustness, "model_predictor", lambda m, patch: m)
    train = [("camera", photos["camera"])]
    test = [("coffee", photos["coffee"]), ("gravel", photos["gravel"])]
    r = run_robustness(model, train, test, variants=("pristine", "soft σ1"), protocols=("linear",))
    again = run_robustness(
        model, train, test, variants=("pristine", "soft σ1"), protocols=("linear",)
    )
    assert r == again  # seeded
    assert set(r["variants"]) == {"pristine", "soft σ1"}
    pristine, soft = r["variants"]["pristine"], r["variants"]["soft σ1"]
    assert set(pristine["protocols"]["linear"]) >= {"cnn", "laplacian"}
    # a sharpness threshold calls softened photos blurred: more false alarms than pristine
    assert soft["false_alarms"] > pristine["false_alarms"]
    assert 0.0 <= r["defocus_called_motion"] <= 1.0
    by_radius = r["defocus_called_motion_by_radius"]  # the pooled share, split by radius
    assert list(by_radius) == [f"{x:g}" for x in robustness.DEFOCUS_RADII]
    lo, hi = min(by_radius.values()), max(by_radius.values())
    assert lo - 1e-9 <= r["defocus_called_motion"] <= hi + 1e-9
    assert r["false_alarms_ordinary"] == soft["false_alarms"]
    text = robustness_markdown(r)
    assert "| pristine |" in text and "| soft σ1 |" in text and "Defocus-only photos" in text
    # the pristine false alarms, by detail x coherence: 9 bins over every textured patch
    rows = r["false_alarms_by_texture"]
    textured = sum(int((patch_texture(p) >= 5).sum()) for _, p in test)
    assert len(rows) == 9 and sum(row["n"] for row in rows) == textured
    assert sum(row["share"] for row in rows) == pytest.approx(1.0, abs=1e-3)
    assert "Where the pristine false alarms live" in text
    by_photo = r["false_alarms_by_photo"]  # the pooled pristine rate, split by photo
    assert list(by_photo) == ["coffee", "gravel"]
    assert sum(v["textured"] for v in by_photo.values()) == textured
    pooled = sum(v["called"] * v["textured"] for v in by_photo.values()) / textured
    assert pooled == pytest.approx(pristine["false_alarms"])
    assert "Pristine false alarms by photo" in text and "gravel" in text
    recall = r["recall_by_photo"]["linear"]  # each photo's blurred patches, both copies pooled
    assert list(recall) == ["coffee", "gravel"]
    assert all(v["blurred"] > 0 and 0.0 <= v["recall"] <= 1.0 for v in recall.values())
    assert "Pristine recall by photo" in text and "- `linear`: coffee" in text
    with pytest.raises(ValueError, match="unknown quality variants"):
        run_robustness(model, train, test, variants=("foggy",))
    named = run_robustness(  # the photo-relative Laplacian is scored when asked for by name
        model, train, test, variants=("pristine",), protocols=("linear",),
        baselines=("laplacian", "laplacian_relative"),
    )  # fmt: skip
    assert set(named["variants"]["pristine"]["protocols"]["linear"]) == {
        "cnn",
        "laplacian",
        "laplacian_relative",
    }


def test_patch_arrays_min_evidence_drops_flat_patches_of_the_composite():
    from blurlib.data.dataset import Example
    from blurlib.training.split import patch_arrays

    rng = np.random.default_rng(0)
    image = np.full((60, 90, 3), 128, np.uint8)
    image[:, 30:60] = rng.integers(0, 256, (60, 30, 3), dtype=np.uint8)  # middle column textured
    labels = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)
    ex = Example(0, "0.png", image, image, labels, "x")
    X, y = patch_arrays([ex], [0])
    assert len(X) == 6
    X, y = patch_arrays([ex], [0], min_evidence=EVIDENCE_THRESHOLD)
    assert len(X) == 2 and y.tolist() == [1, 0]  # only the middle column survives, in order
    X, y = patch_arrays([ex], [0], min_texture=5.0, min_evidence=EVIDENCE_THRESHOLD)
    assert y.tolist() == [1, 0]
    X2, y2, cells = patch_arrays([ex, ex], [1, 0], min_evidence=EVIDENCE_THRESHOLD, cells=True)
    assert cells.tolist() == [[1, 1], [1, 4], [0, 1], [0, 4]]  # image index, flat grid cell
    assert np.array_equal(X2[:2], X) and y2.tolist() == [1, 0, 1, 0]
    assert np.array_equal(X2[1], image[30:60, 30:60])


def test_patch_arrays_min_blur_texture_drops_only_blurred_smooth_patches():
    from blurlib.data.dataset import Example
    from blurlib.training.split import patch_arrays

    rng = np.random.default_rng(1)
    sharp = np.full((30, 120, 3), 100, np.uint8)
    sharp[:, 60:] = rng.integers(0, 256, (30, 60, 3), dtype=np.uint8)  # right half textured
    labels = np.array([[1, 0, 1, 0]], np.uint8)  # smooth-blurred, smooth-sharp, tex-blurred, tex
    ex = Example(0, "0.png", sharp, sharp, labels, "x")
    X, y = patch_arrays([ex], [0], min_blur_texture=5.0)
    assert y.tolist() == [0, 1, 0]  # only the blurred smooth patch is gone
    assert np.array_equal(X[0], sharp[:, 30:60])
    with pytest.raises(ValueError, match=r"Example\.sharp"):
        patch_arrays([Example(0, "0.png", sharp, None, labels, "x")], [0], min_blur_texture=5.0)


def test_defocus_labels_mark_label0_patches_mostly_under_a_recorded_defocus():
    """The three-way target: a label-0 patch is 2 (defocus) where at least half of it lies
    under a recorded defocus of radius >= the threshold; motion-blurred patches stay 1."""
    from blurlib.data.dataset import Example
    from blurlib.training.split import defocus_labels, patch_arrays

    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (60, 120, 3), dtype=np.uint8)
    labels = np.array([[0, 1, 0, 0], [0, 0, 1, 0]], np.uint8)
    # the right half defocused: a ramp along x from 0.49 to 0.51 of the width
    ramp = {"kind": "ramp", "angle": 0.0, "start": 0.49, "end": 0.51}
    right = {"base": [{"op": "defocus", "radius": 2.0, "region": ramp}]}
    ex = Example(0, "0.png", image, image, labels, "x", degrade=right)
    y = labels.reshape(-1)
    assert defocus_labels(ex, y, 1.5).tolist() == [0, 1, 2, 2, 0, 0, 1, 2]
    assert defocus_labels(ex, y, 2.5).tolist() == y.tolist()  # radius below the threshold
    whole = {"base": [{"op": "gaussian", "sigma": 1.0}, {"op": "defocus", "radius": 3.0}]}
    ex_all = Example(0, "0.png", image, image, labels, "x", degrade=whole)
    assert defocus_labels(ex_all, y, 1.5).tolist() == [2, 1, 2, 2, 2, 2, 1, 2]
    plain = Example(0, "0.png", image, image, labels, "x")  # no degradation recorded
    assert defocus_labels(plain, y, 1.5).tolist() == y.tolist()
    X, y3 = patch_arrays([ex], [0], defocus_class=1.5)
    assert len(X) == 8 and y3.tolist() == [0, 1, 2, 2, 0, 0, 1, 2] and y3.dtype == np.uint8
    assert patch_arrays([ex], [0])[1].tolist() == y.tolist()  # binary without it
    # a defocused patch is filtered as the label-0 patch it is: smooth sources stay
    smooth = np.full_like(image, 90)
    ex_s = Example(0, "0.png", image, smooth, labels, "x", degrade=right)
    _, y_s = patch_arrays([ex_s], [0], min_blur_texture=5.0, defocus_class=1.5)
    assert y_s.tolist() == [0, 2, 2, 0, 0, 2]  # only the blurred smooth patches are gone


def test_false_alarms_by_texture_counts_what_is_called():
    from blurlib.evaluation.robustness import false_alarms_by_texture

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (120, 150, 3)).astype(np.uint8)  # detail >= 20, no direction
    xx = np.mgrid[0:120, 0:150][1]
    stripes = np.repeat((128 + 18 * np.sin(xx / 1.5)).astype(np.uint8)[..., None], 3, axis=2)
    probs = [np.ones((4, 5)), np.zeros((4, 5))]  # every noise patch called, no stripe patch
    rows = {
        (r["detail"], r["coherence"]): r for r in false_alarms_by_texture(probs, [noise, stripes])
    }
    assert rows[("20-inf", "0-0.3")]["n"] == 20 and rows[("20-inf", "0-0.3")]["called"] == 1.0
    low = rows[("5-10", "0.6-1")]  # faint parallel lines: little detail, one direction
    assert low["n"] == 20 and low["called"] == 0.0
    assert sum(r["n"] for r in rows.values()) == 40


def test_recall_by_photo_pools_copies_and_counts_only_textured_blurred_patches():
    from types import SimpleNamespace

    from blurlib.evaluation.robustness import recall_by_photo

    result = SimpleNamespace(
        labels=np.array([1, 1, 0, 1, 1, 1, 0]),
        textured=np.array([1, 1, 1, 0, 1, 1, 1], bool),
        image_index=np.array([0, 0, 0, 0, 1, 2, 2]),
        sources=["a", "b", "a"],  # two copies of "a", one of "b"
        scores={"cnn": np.array([0.9, 0.2, 0.9, 0.9, 0.7, 0.6, 0.1])},
        thresholds={"cnn": 0.5},
    )
    got = recall_by_photo(result)
    # a: textured blurred patches 0, 1 (copy 0) and 5 (copy 1) -> 2 of 3 called; the
    # untextured patch 3 and the sharp patch 2 do not count
    assert got["a"] == {"blurred": 3, "recall": pytest.approx(2 / 3)}
    assert got["b"] == {"blurred": 1, "recall": 1.0}
    result.labels = np.zeros(7, int)
    assert all(
        np.isnan(v["recall"]) and v["blurred"] == 0 for v in recall_by_photo(result).values()
    )
