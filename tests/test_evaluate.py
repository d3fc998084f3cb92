"""Tests for blurlib.evaluation: metrics by hand, baselines, texture mask, the evaluation runner."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from helpers import noise_texture

from blurlib.data.patches import (
    TEXTURE_SIGMA,
    content_mask,
    patch_contrast,
    patch_texture,
    textured_mask,
)
from blurlib.errors import DatasetError, ImageError
from blurlib.evaluation.baselines import (
    BASELINES,
    CLASSICAL_BASELINES,
    FFT_CUTOFF,
    LOG_EPS,
    RELATIVE_QUANTILE,
    Baseline,
    fit_baseline,
    fit_baselines,
    fit_threshold,
    laplacian_relative,
    laplacian_variance,
    tenengrad,
)
from blurlib.evaluation.examples import PROTOCOLS, make_protocol_examples
from blurlib.evaluation.metrics import (
    average_precision,
    binary_metrics,
    confusion_matrix,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)
from blurlib.evaluation.runner import evaluate, results_table
from blurlib.evaluation.suite import (
    blurred_fraction,
    real_blur_detection_rate,
    sharp_photo_false_positive_rate,
)

P = 30

# ------------------------------------------------------------------------------------ metrics


def test_binary_metrics_hand_computed():
    y = [0, 0, 1, 1, 1]
    s = [0.1, 0.6, 0.4, 0.8, 0.9]
    m = binary_metrics(y, s, threshold=0.5)
    # calls at > 0.5: [0, 1, 0, 1, 1] -> tp = 2 (.8, .9), fp = 1 (.6), tn = 1 (.1), fn = 1 (.4)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 1, 1)
    assert m["confusion"] == [[1, 1], [1, 2]]
    assert (m["n"], m["n_pos"], m["n_neg"]) == (5, 3, 2)
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(1 / 2)
    assert m["balanced_accuracy"] == pytest.approx(7 / 12)
    # 6 (pos, neg) pairs: .4>.1 yes, .4>.6 no, .8 and .9 beat both -> 5/6
    assert m["roc_auc"] == pytest.approx(5 / 6)
    # ranked .9(1) .8(1) .6(0) .4(1) .1(0): AP = 1/3·1 + 1/3·1 + 1/3·3/4 = 11/12
    assert m["average_precision"] == pytest.approx(11 / 12)


def test_curves_hand_computed():
    y = [0, 0, 1, 1, 1]
    s = [0.1, 0.6, 0.4, 0.8, 0.9]
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_allclose(thr, [np.inf, 0.9, 0.8, 0.6, 0.4, 0.1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.5, 0.5, 1])
    assert np.trapezoid(tpr, fpr) == pytest.approx(5 / 6)
    precision, recall, thr2 = precision_recall_curve(y, s)
    np.testing.assert_allclose(thr2, thr)
    np.testing.assert_allclose(precision, [1, 1, 1, 2 / 3, 3 / 4, 3 / 5])
    np.testing.assert_allclose(recall, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    assert average_precision(y, s) == pytest.approx(11 / 12)


def test_ties_and_threshold_is_strict():
    # pairs (pos, neg): (.5, .5) tie = 1/2, (.5, .2) = 1, (.9, .5) = 1, (.9, .2) = 1 -> 3.5 / 4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)
    assert roc_auc([0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.0)
    # a score equal to the threshold is NOT called blurred
    m = binary_metrics([1, 0], [0.5, 0.5], threshold=0.5)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (0, 0, 1, 1)
    # tied scores form one point on the ROC curve
    fpr, tpr, _ = roc_curve([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])


def test_degenerate_cases():
    # no positives at all: recall, ROC AUC and AP undefined; one false call -> precision 0
    m = binary_metrics([0, 0, 0], [0.2, 0.7, 0.1])
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (0, 1, 2, 0)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["precision"] == 0.0
    assert math.isnan(m["recall"])
    assert m["f1"] == 0.0
    assert math.isnan(m["roc_auc"])
    assert math.isnan(m["average_precision"])
    # positives but nothing called blurred: precision undefined, recall 0, F1 0
    m = binary_metrics([1, 0], [0.1, 0.2])
    assert math.isnan(m["precision"])
    assert m["recall"] == 0.0
    assert m["f1"] == 0.0
    assert m["roc_auc"] == 0.0
    # neither positives nor positive calls: precision, recall and F1 all undefined
    m = binary_metrics([0, 0], [0.1, 0.2])
    assert m["accuracy"] == 1.0
    assert math.isnan(m["precision"]) and math.isnan(m["recall"]) and math.isnan(m["f1"])
    # only positives: specificity and AUC undefined
    m = binary_metrics([1, 1], [0.9, 0.1])
    assert math.isnan(m["specificity"]) and math.isnan(m["roc_auc"])
    assert m["recall"] == 0.5
    # empty input
    m = binary_metrics([], [])
    assert m["n"] == 0 and math.isnan(m["accuracy"])


def test_input_validation():
    with pytest.raises(ValueError, match="must match"):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError, match="only 0"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, np.nan])


def test_confusion_matrix_layout():
    cm = confusion_matrix([0, 0, 1, 1, 1, 0], [0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(cm, [[2, 1], [1, 2]])


def test_roc_auc_equals_brute_force_pair_count():
    rng = np.random.default_rng(7)
    for _ in range(5):
        n = int(rng.integers(20, 200))
        y = rng.integers(0, 2, n)
        s = np.round(rng.random(n) + 0.3 * y, 1)  # rounding makes many ties
        pos, neg = s[y == 1], s[y == 0]
        diff = pos[:, None] - neg[None, :]
        brute = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
        assert roc_auc(y, s) == pytest.approx(brute, abs=1e-12)
        fpr, tpr, _ = roc_curve(y, s)
        assert np.trapezoid(tpr, fpr) == pytest.approx(brute, abs=1e-12)


# ------------------------------------------------------------------------- patch measures


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY).astype(np.float64)


def _reference(image: np.ndarray, name: str) -> np.ndarray:
    """Per-patch Python loop with OpenCV filters: the slow, obvious definition."""
    g = _gray(image)
    rows, cols = g.shape[0] // P, g.shape[1] // P
    out = np.zeros((rows, cols))
    win = np.outer(np.hanning(P), np.hanning(P))
    f = np.fft.fftfreq(P)
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    for i in range(rows):
        for j in range(cols):
            p = g[i * P : (i + 1) * P, j * P : (j + 1) * P]
            if name == "laplacian":
                out[i, j] = cv2.Laplacian(p, cv2.CV_64F, ksize=1)[1:-1, 1:-1].var()
            elif name == "tenengrad":
                gx = cv2.Sobel(p, cv2.CV_64F, 1, 0, ksize=3)[1:-1, 1:-1]
                gy = cv2.Sobel(p, cv2.CV_64F, 0, 1, ksize=3)[1:-1, 1:-1]
                out[i, j] = np.mean(gx**2 + gy**2)
            elif name == "fft":
                power = np.abs(np.fft.fft2((p - p.mean()) * win)) ** 2
                out[i, j] = power[radius > FFT_CUTOFF].sum() / power[radius > 0].sum()
            elif name == "contrast":
                out[i, j] = p.std()
    return out


@pytest.mark.parametrize("name", ["laplacian", "tenengrad", "fft"])
def test_baseline_measures_match_per_patch_loop(name):
    image = noise_texture(95, 125, seed=1)  # 3 × 4 patches, remainder cropped
    got = BASELINES[name](image)
    assert got.shape == (3, 4) and got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(image, name), rtol=1e-5)


def test_texture_and_contrast_match_reference():
    image = noise_texture(64, 100, seed=2)
    g = _gray(image)
    detail = g - cv2.GaussianBlur(g, (0, 0), TEXTURE_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    expect = np.array(
        [
            [
                np.sqrt(np.mean(detail[i * P : (i + 1) * P, j * P : (j + 1) * P] ** 2))
                for j in range(3)
            ]
            for i in range(2)
        ]
    )
    np.testing.assert_allclose(patch_texture(image), expect, rtol=1e-4)
    np.testing.assert_allclose(patch_contrast(image), _reference(image, "contrast"), rtol=1e-4)


@pytest.mark.parametrize("band_pixels", [1, 5000, 1 << 20])
@pytest.mark.parametrize(
    ("h", "w", "form"), [(241, 97, "rgb"), (30, 30, "rgb"), (127, 64, "gray"), (95, 70, "hw1"),
                         (100, 61, "float")]
)  # fmt: skip
def test_texture_in_bands_is_bit_identical_to_the_whole_photo(monkeypatch, band_pixels, h, w, form):
    """patch_texture filters the photo band by band (a few MB of float copies, not 12 bytes per
    pixel of a 12-MP photo); each band's margin makes every kept row equal, bit for bit, to the
    whole-photo filter — with one patch row per band, several, or one band, and with
    remainder rows below the last patch row (their pixels still reach its filter)."""
    import blurlib.data.patches as patches

    image = noise_texture(h, w, seed=5)
    image[: h // 2] = cv2.GaussianBlur(image[: h // 2], (0, 0), 2)  # smooth and rough rows
    if form == "gray":
        image = image[..., 1]
    elif form == "hw1":
        image = image[..., 1:2]
    elif form == "float":
        image = image.astype(np.float64) + 0.25
    g = patches.gray_image(image, P)  # float32, as patch_texture filters
    detail = g - cv2.GaussianBlur(g, (0, 0), TEXTURE_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    stack = patches.patch_stack(detail, P)
    expect = np.sqrt(np.mean(np.square(stack, dtype=np.float64), axis=(-2, -1)))
    monkeypatch.setattr(patches, "_BAND_PIXELS", band_pixels)
    got = patch_texture(image)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expect.astype(np.float32))
    for y0, y1 in [(0, h), (0, 1), (h - 1, h), (h // 3, h // 3 + 17), (5, h - 5)]:
        np.testing.assert_array_equal(patches.detail_rows(image, y0, y1), detail[y0:y1])
    for y0, y1 in [(-5, 10), (3, 3), (0, h + 1)]:
        with pytest.raises(ValueError, match="not a non-empty range"):
            patches.detail_rows(image, y0, y1)


def test_gray_input_and_too_small_image():
    image = noise_texture(60, 60)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert laplacian_variance(gray).shape == (2, 2)
    with pytest.raises(ImageError, match="smaller than one"):
        tenengrad(np.zeros((20, 40, 3), np.uint8))
    with pytest.raises(ImageError):
        patch_texture(np.zeros((40, 40, 4), np.uint8))


@pytest.mark.parametrize("name", ["laplacian", "tenengrad", "fft"])
@pytest.mark.parametrize("ksize", [(9, 1), (1, 9), (7, 7)])
def test_blur_lowers_every_measure(name, ksize):
    sharp = noise_texture(120, 150, seed=3)
    blurred = cv2.blur(sharp, ksize)  # horizontal, vertical and box blur
    fn = BASELINES[name]
    assert np.all(fn(blurred) < fn(sharp))


def test_blur_lowers_measures_on_a_photo():
    import skimage.data

    sharp = skimage.data.astronaut()
    blurred = cv2.blur(sharp, (11, 1))
    textured = textured_mask(sharp)
    for name in CLASSICAL_BASELINES:  # the relative measure cannot see a photo blurred all over
        fn = BASELINES[name]
        lower = fn(blurred)[textured] < fn(sharp)[textured]
        assert lower.mean() > 0.95


def test_photo_context_gives_every_patch_its_photos_quantiles_and_its_own_ratio():
    from blurlib.evaluation.baselines import CONTEXT_QUANTILES, photo_context

    rng = np.random.default_rng(3)
    image = np.full((90, 120, 3), 120, np.uint8)
    image[:, 60:] = rng.integers(0, 256, (90, 60, 3), dtype=np.uint8)
    ctx = photo_context(image)
    assert ctx.shape == (3, 4, len(CONTEXT_QUANTILES) + 1) and ctx.dtype == np.float32
    assert np.all(ctx[..., :-1] == ctx[0, 0, :-1])  # one photo, one distribution
    assert np.all(np.diff(ctx[0, 0, :-1]) >= 0)  # quantiles in order
    log_rel = np.log(laplacian_relative(image).astype(np.float64) + 1e-6)
    textured = ctx[..., -1][:, 2:]  # the noisy half: the ratio is the relative Laplacian's
    np.testing.assert_allclose(textured, log_rel[:, 2:], atol=1e-3)
    assert np.all(ctx[:, :2, -1] < ctx[:, 2:, -1].min())  # flat patches far below the photo's


def test_photo_anisotropy_tells_a_photo_moved_all_over_from_a_soft_one():
    from blurlib.evaluation.baselines import photo_anisotropy
    from blurlib.kernels import apply_kernel, linear_kernel

    sharp = noise_texture(150, 210, seed=7)  # 5 × 7 patches of detail in every direction
    moved = apply_kernel(sharp, linear_kernel(15, 30.0))  # blurred along 30° all over
    soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)  # softened in every direction
    a_sharp, a_moved, a_soft = (photo_anisotropy(im) for im in (sharp, moved, soft))
    assert a_moved.shape == (5, 7, 4) and a_moved.dtype == np.float32
    assert np.all(a_moved[..., :2] == a_moved[0, 0, :2])  # one photo, one value
    assert a_moved[0, 0, 0] > 0.5 > 3 * max(a_sharp[0, 0, 0], a_soft[0, 0, 0])
    # the moved photo's patches are one-directional and aligned with the photo: alignment ≈
    # coherence; a photo of lines that point every which way is coherent patch by patch only
    np.testing.assert_allclose(a_moved[..., 3], a_moved[..., 2], atol=0.15)
    lines = np.zeros((150, 210, 3), np.uint8)
    for i, ang in enumerate(np.linspace(0, 180, 35, endpoint=False)):
        r, c = divmod(i, 7)
        t = np.radians(ang)
        yy, xx = np.mgrid[0:30, 0:30]
        stripes = 127 + 120 * np.sin(0.8 * (xx * np.cos(t) + yy * np.sin(t)))
        lines[30 * r : 30 * r + 30, 30 * c : 30 * c + 30] = stripes[..., None].astype(np.uint8)
    a_lines = photo_anisotropy(lines)
    assert a_lines[0, 0, 1] > 0.8 and a_lines[0, 0, 0] < 0.2


def test_laplacian_relative_judges_a_patch_against_its_own_photo():
    sharp = noise_texture(120, 240, seed=4)  # 4 × 8 patches
    ref = np.quantile(laplacian_variance(sharp), RELATIVE_QUANTILE)
    np.testing.assert_allclose(
        laplacian_relative(sharp), laplacian_variance(sharp) / ref, rtol=1e-5
    )
    # half the photo motion-blurred: those patches fall well below the sharp half's
    half = sharp.copy()
    half[:, 120:] = cv2.blur(sharp, (9, 1))[:, 120:]
    rel = laplacian_relative(half)
    assert rel[:, 4:].max() < rel[:, :4].min()
    # a photo softened, or its contrast halved, all over keeps its ratios: no reference
    # fitted on other photos moves
    soft = cv2.GaussianBlur(sharp, (0, 0), 1.0)
    assert np.median(laplacian_relative(soft)) == pytest.approx(
        np.median(laplacian_relative(sharp)), rel=0.25
    )
    low = (sharp.astype(np.float32) * 0.5 + 64).astype(np.uint8)
    np.testing.assert_allclose(laplacian_relative(low), laplacian_relative(sharp), rtol=0.05)
    assert np.all(laplacian_relative(np.full((60, 60, 3), 9, np.uint8)) == 0)  # flat: finite


def test_textured_mask_flat_ramp_and_noise():
    flat = np.full((90, 120, 3), 128, np.uint8)
    ramp = np.repeat(np.linspace(0, 200, 120, dtype=np.float32)[None, :, None], 90, 0)
    ramp = np.repeat(ramp, 3, 2).astype(np.uint8)  # smooth shading: a blur cannot change it
    noise = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    assert not textured_mask(flat).any()
    assert not textured_mask(ramp).any()
    assert textured_mask(noise).all()
    assert textured_mask(noise_texture(90, 120)).all()
    assert textured_mask(flat).shape == (3, 4)
    assert not content_mask(flat).any()
    assert content_mask(noise).all()
    assert patch_texture(flat).max() == 0.0


def test_texture_threshold_calibration_on_bundled_photos():
    import skimage.data

    flat = total = 0
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        mask = textured_mask(getattr(skimage.data, name)())
        assert 0.15 < 1 - mask.mean() < 0.75, name
        flat += int((~mask).sum())
        total += mask.size
    assert 0.3 < flat / total < 0.5  # "about 40 % of patches are nearly flat"


# ------------------------------------------------------------------------ fitted baselines


def test_fit_threshold_separates_and_respects_ties():
    blurred = [0.0, 1.0, 1.5]
    sharp = [3.0, 4.0, 5.0]
    t = fit_threshold(blurred + sharp, [1, 1, 1, 0, 0, 0])
    assert t == pytest.approx(2.25)
    t_acc = fit_threshold(np.array(sharp + blurred), [0, 0, 0, 1, 1, 1], balanced=False)
    assert t_acc == pytest.approx(2.25)
    # the cut never falls between equal scores: best legal cut is between 1 and 5
    assert fit_threshold([1, 1, 1, 5], [1, 1, 0, 0]) == pytest.approx(3.0)
    # inverted data: no cut beats calling everything one class (balanced accuracy 1/2)
    assert fit_threshold([5, 6, 1, 2], [1, 1, 0, 0]) == pytest.approx(0.0)
    with pytest.raises(DatasetError, match="only sharp"):
        fit_threshold([1, 2], [0, 0])


def test_baseline_object_scores_predict_and_proba():
    sharp = noise_texture(90, 120, seed=4)
    blurred = cv2.blur(sharp, (9, 1))
    lv_sharp = np.log(laplacian_variance(sharp).astype(np.float64) + LOG_EPS)
    lv_blur = np.log(laplacian_variance(blurred).astype(np.float64) + LOG_EPS)
    b = Baseline("laplacian", float((lv_sharp.min() + lv_blur.max()) / 2))
    assert np.all(b.scores(blurred) > b.scores(sharp))
    assert b.predict(blurred).all() and not b.predict(sharp).any()
    for image in (sharp, blurred):
        p = b.predict_proba(image)
        assert p.dtype == np.float32 and p.min() >= 0 and p.max() <= 1
        np.testing.assert_array_equal(p > 0.5, b.predict(image).astype(bool))
    assert Baseline(**b.to_dict()) == b
    with pytest.raises(ValueError, match="unknown baseline"):
        Baseline("sobel", 1.0)


# ------------------------------------------------------------------------- evaluation runner


@dataclass
class Ex:
    image: np.ndarray
    sharp: np.ndarray | None
    labels: np.ndarray
    source: str


def _example(seed: int, rows: int = 4, cols: int = 5) -> Ex:
    """Textured photo with a flat band on top; a random half of the patches box-blurred."""
    rng = np.random.default_rng(seed)
    sharp = noise_texture(rows * P, cols * P, seed=100 + seed)
    sharp[:P] = 90  # first patch row is flat: untextured, blur cannot show there
    blurred = cv2.blur(sharp, (int(rng.integers(7, 15)), 1))
    labels = (rng.random((rows, cols)) < 0.5).astype(np.uint8)
    mask = np.kron(labels, np.ones((P, P), np.uint8)).astype(bool)[..., None]
    return Ex(np.where(mask, blurred, sharp), sharp, labels, f"photo{seed}")


def test_evaluate_baselines_only_and_table():
    train = [_example(s) for s in range(3)]
    test = [_example(s) for s in range(10, 12)]
    baselines = fit_baselines(train)
    assert set(baselines) == {"laplacian", "tenengrad", "fft"}
    res = evaluate(None, test, baselines)
    assert res.methods == ["laplacian", "tenengrad", "fft"]
    n_all = sum(e.labels.size for e in test)
    n_tex = sum(int(textured_mask(e.sharp).sum()) for e in test)
    assert n_tex == n_all - 2 * 5  # exactly the flat top row is untextured
    for method in res.methods:
        assert res[method]["all"]["n"] == n_all
        assert res[method]["textured"]["n"] == n_tex
        assert res[method]["textured"]["n_pos"] == int(
            sum(e.labels[textured_mask(e.sharp)].sum() for e in test)
        )
    assert res["laplacian"]["textured"]["roc_auc"] > 0.95
    assert res["laplacian"]["textured"]["accuracy"] > 0.9
    assert len(res.rows()) == 6
    per_image = res.per_image("laplacian")
    assert [m["source"] for m in per_image] == ["photo10", "photo11"]
    assert sum(m["n"] for m in per_image) == n_tex

    table = results_table(res)
    lines = table.strip().splitlines()
    assert lines[0] == "| method | subset | accuracy | precision | recall | F1 | ROC AUC | n |"
    assert len(lines) == 2 + 6
    assert lines[2].startswith("| laplacian | all | ")
    assert lines[3].startswith("| laplacian | textured | ")
    assert lines[3].endswith(f"| {n_tex} |")
    assert results_table(res.metrics) == table


def test_evaluate_with_a_callable_model_and_nan_in_table():
    test = [_example(s) for s in (20, 21)]

    def oracle(image):  # a "model" that knows the truth: P(blurred) = label
        return next(e.labels for e in test if np.array_equal(e.image, image)).astype(np.float32)

    res = evaluate(oracle, test, subsets=("textured",))
    assert res.methods == ["cnn"]
    assert res["cnn"]["textured"]["accuracy"] == 1.0
    assert res["cnn"]["textured"]["roc_auc"] == 1.0
    # a set with no blurred patch: recall and AUC are undefined and print as n/a
    for e in test:
        e.labels[:] = 0
    res = evaluate(oracle, test)
    assert "n/a" in results_table(res)


def test_evaluate_routes_a_keras_model_through_predict(monkeypatch):
    import types

    calls = []

    def patch_probabilities(model, image, patch=30):
        calls.append(patch)
        return np.full((image.shape[0] // patch, image.shape[1] // patch), 0.75, np.float32)

    fake = types.ModuleType("blurlib.inference.windows")
    fake.patch_probabilities = patch_probabilities
    monkeypatch.setitem(sys.modules, "blurlib.inference.windows", fake)

    class FakeKerasModel:
        def predict(self, x):  # pragma: no cover - never called directly
            raise AssertionError

    test = [_example(30)]
    res = evaluate(FakeKerasModel(), test)
    assert calls == [30]
    assert res["cnn"]["all"]["recall"] == 1.0  # everything called blurred at P = 0.75
    _, tpr, _ = res.roc_curve("cnn", "all")
    np.testing.assert_allclose(tpr, [0, 1])
    # a Baseline can stand in for the model (its predict_proba is P(blurred)-like)
    b = Baseline("laplacian", 5.0)
    res = evaluate(b, test)
    assert res["cnn"]["all"]["tp"] + res["cnn"]["all"]["fn"] == int(test[0].labels.sum())
    assert res["cnn"]["all"]["tp"] + res["cnn"]["all"]["fp"] == int(b.predict(test[0].image).sum())


def test_evaluate_errors():
    ex = _example(0)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(None, [ex])
    bad = Ex(ex.image, ex.sharp, ex.labels[:-1], "bad")
    with pytest.raises(DatasetError, match="bad"):
        evaluate(None, [bad], [Baseline("laplacian", 1.0)])
    no_sharp = Ex(ex.image, None, ex.labels, "nosharp")
    with pytest.raises(DatasetError, match="sharp"):
        evaluate(None, [no_sharp], [Baseline("laplacian", 1.0)])
    with pytest.raises(DatasetError, match="only"):
        fit_baseline("laplacian", [Ex(ex.image, ex.sharp, np.zeros_like(ex.labels), "z")])
    with pytest.raises(ValueError, match="subset"):
        evaluate(None, [ex], [Baseline("laplacian", 1.0)], subsets=("flat",))


# ----------------------------------------------------------------------- protocols, photos


def test_make_protocol_examples():
    pytest.importorskip("blurlib.data.kernels")
    pytest.importorskip("blurlib.data.dataset")
    photos = [("a", noise_texture(95, 130, seed=5)), ("b", noise_texture(64, 61, seed=6))]
    with pytest.raises(ValueError, match="protocol"):
        make_protocol_examples(photos, "defocus", seed=0)
    for protocol in PROTOCOLS:
        one = make_protocol_examples(photos, protocol, seed=3)
        two = make_protocol_examples(photos, protocol, seed=3)
        assert [e.source for e in one] == ["a", "b"]
        for e, f in zip(one, two, strict=True):
            np.testing.assert_array_equal(e.image, f.image)
            np.testing.assert_array_equal(e.labels, f.labels)
            assert e.kernel == f.kernel and e.kernel["type"] == protocol
            assert e.image.shape == e.sharp.shape and e.image.dtype == np.uint8
            assert e.labels.shape == (e.image.shape[0] // P, e.image.shape[1] // P)
            assert e.labels.dtype == np.uint8
            same = np.all(e.image == e.sharp, axis=2)
            for i, j in zip(*np.nonzero(e.labels == 0), strict=True):
                assert same[i * P : (i + 1) * P, j * P : (j + 1) * P].all()
    res = evaluate(
        None, make_protocol_examples(photos, "linear", seed=1), [Baseline("laplacian", 5.0)]
    )
    assert res["laplacian"]["all"]["n"] == 3 * 4 + 2 * 2


def test_photo_rates():
    probs = [np.array([[0.9, 0.2], [0.6, 0.1]]), np.array([[0.7, 0.8, 0.4]])]
    masks = [np.array([[True, True], [False, True]]), np.array([[True, False, True]])]
    # masked: .9 .2 .1 | .7 .4 -> 2 of 5 above 0.5
    assert blurred_fraction(probs, masks) == pytest.approx(2 / 5)
    assert sharp_photo_false_positive_rate(probs, masks) == pytest.approx(2 / 5)
    assert real_blur_detection_rate(probs, masks, threshold=0.15) == pytest.approx(4 / 5)
    assert math.isnan(blurred_fraction(probs, [np.zeros_like(m) for m in masks]))
    with pytest.raises(ValueError, match="differ"):
        blurred_fraction(probs, masks[::-1])
    with pytest.raises(ValueError, match="masks"):
        blurred_fraction(probs, masks[:1])


def test_import_does_not_load_tensorflow():
    code = (
        "import sys, blurlib.evaluation.suite; "
        "bad = [m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_two_way_bins_partition_with_the_last_bin_closed():
    from blurlib.evaluation.metrics import two_way_bins

    a = np.array([0.0, 14.9, 15.0, 90.0, 45.0])
    b = np.array([0.0, 0.3, 1.0, 0.6, 0.59])
    rows = list(two_way_bins(a, ((0, 15), (15, 45), (45, 90)), b, ((0, 0.3), (0.3, 0.6), (0.6, 1))))
    assert [(x, y) for x, y, _ in rows][:2] == [("0-15", "0-0.3"), ("0-15", "0.3-0.6")]
    assert sum(m.astype(int) for _, _, m in rows).tolist() == [1] * 5  # each value in one bin
    got = {(x, y): np.flatnonzero(m).tolist() for x, y, m in rows if m.any()}
    assert got == {
        ("0-15", "0-0.3"): [0],
        ("0-15", "0.3-0.6"): [1],
        ("15-45", "0.6-1"): [2],
        ("45-90", "0.6-1"): [3],  # 90 and 1.0: the closed ends of the last bins
        ("45-90", "0.3-0.6"): [4],
    }
