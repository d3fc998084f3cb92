"""Blur-analysis nets and API: builders, exact dense form, patch_analysis, binary-model error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import noise_texture, perturb_bn

from blurlib.data.kinds import N_SUN_CLASSES
from blurlib.errors import BlurlibError, ModelFileError
from blurlib.inference import analysis as ia
from blurlib.nets import analysis as na
from blurlib.nets.builders import build_model
from blurlib.nets.files import load_model, save_model
from blurlib.nets.fully_conv import to_fully_convolutional


@pytest.fixture(scope="module")
def net():
    m = build_model("analysis", seed=3, width=8)
    perturb_bn(m)
    return m


def test_builders_register_both_names():
    sun = build_model("sun2015", seed=0)
    assert tuple(sun.output_shape) == (None, N_SUN_CLASSES)
    assert [la.name for la in sun.layers if "conv" in la.name] == ["conv1", "conv2"]
    assert sun.get_layer("conv1").filters == 96 and sun.get_layer("conv1").kernel_size == (7, 7)
    assert sun.get_layer("conv2").filters == 256 and sun.get_layer("fc1").units == 1024
    m = build_model("analysis", seed=0)
    assert na.is_analysis_model(m) and not na.is_analysis_model(sun)
    shapes = {t._keras_history[0].name: tuple(t.shape) for t in m.outputs}
    assert shapes == {"kind": (None, 3), "direction": (None, 2), "length": (None, 1)}
    with pytest.raises(ValueError, match="sun2015"):
        build_model("nope")


def test_sun2015_converts_exactly():
    sun = build_model("sun2015", seed=1)
    fcn = to_fully_convolutional(sun)
    img = noise_texture(38, 42, seed=1).astype(np.float32)
    dense = np.asarray(fcn.predict_on_batch(img[None]))[0]  # (3, 4, 73) at stride 4
    crop = np.asarray(sun.predict_on_batch(img[None, 4:34, 8:38]))[0]
    assert dense.shape == (3, 4, 73)
    np.testing.assert_allclose(dense[1, 2], crop, atol=1e-5)


def test_dense_form_equals_per_window_evaluation(net):
    img = noise_texture(70, 82, seed=2).astype(np.float32)
    raw = np.asarray(na.analysis_fully_convolutional(net).predict_on_batch(img[None]))[0]
    dense = na.decode_heads(raw)
    rows, cols = raw.shape[:2]
    assert (rows, cols) == ((70 - 30) // 4 + 1, (82 - 30) // 4 + 1)
    windows = np.stack(
        [img[4 * i : 4 * i + 30, 4 * j : 4 * j + 30] for i in range(rows) for j in range(cols)]
    )
    ref = na.decode_outputs(net.predict_on_batch(windows))
    np.testing.assert_allclose(dense["p_kind"].reshape(-1, 3), ref["p_kind"], atol=1e-5)
    np.testing.assert_allclose(dense["length_px"].reshape(-1), ref["length_px"], atol=1e-4)
    diff = np.abs(dense["angle_deg"].reshape(-1) - ref["angle_deg"])
    assert np.minimum(diff, 180 - diff).max() < 1e-2


def test_patch_analysis_api(net):
    img = noise_texture(95, 130, seed=4)
    a = ia.patch_analysis(net, img)
    assert a.p_sharp.shape == (3, 4)
    for arr in (a.p_sharp, a.p_motion, a.p_defocus, a.angle_deg, a.length_px):
        assert arr.dtype == np.float32 and arr.shape == (3, 4)
    np.testing.assert_allclose(a.p_sharp + a.p_motion + a.p_defocus, 1.0, atol=1e-5)
    low = a.p_motion < 0.5
    assert np.isnan(a.angle_deg[low]).all() and np.isnan(a.length_px[low]).all()
    assert np.isfinite(a.angle_deg[~low]).all()
    # each grid patch equals the model on that crop
    ref = na.decode_outputs(net.predict_on_batch(img[None, 30:60, 60:90].astype(np.float32)))
    np.testing.assert_allclose(a.p_motion[1, 2], ref["p_kind"][0, 1], atol=1e-5)
    assert a.kind.shape == (3, 4) and a.kind_map().dtype == np.uint8


def test_dense_analysis_matches_patch_grid_windows(net):
    img = noise_texture(120, 150, seed=5)
    d = ia.dense_analysis(net, img, stride=4, tile=64)  # several tiles
    whole = ia.dense_analysis(net, img, stride=4, tile=None)
    np.testing.assert_allclose(d.p_motion, whole.p_motion, atol=1e-5)
    assert d.p_motion.shape == ((120 - 30) // 4 + 1, (150 - 30) // 4 + 1)
    ref = na.decode_outputs(net.predict_on_batch(img[None, 8:38, 12:42].astype(np.float32)))
    np.testing.assert_allclose(d.p_defocus[2, 3], ref["p_kind"][0, 2], atol=1e-5)
    d8 = ia.dense_analysis(net, img, stride=8)
    np.testing.assert_allclose(d8.p_sharp, whole.p_sharp[::2, ::2], atol=1e-5)
    d6 = ia.dense_analysis(net, img, stride=6, tile=64)  # shifted passes, interleaved
    assert d6.p_motion.shape == ((120 - 30) // 6 + 1, (150 - 30) // 6 + 1)
    ref = na.decode_outputs(net.predict_on_batch(img[None, 18:48, 30:60].astype(np.float32)))
    np.testing.assert_allclose(d6.p_motion[3, 5], ref["p_kind"][0, 1], atol=1e-5)
    d2 = ia.dense_analysis(net, img, stride=2)
    np.testing.assert_allclose(d2.p_sharp[::2, ::2], whole.p_sharp, atol=1e-5)
    maps = ia.kind_maps(net, img, stride=4)
    assert maps.shape == (120, 150, 3) and maps.dtype == np.float32
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="stride"):
        ia.dense_analysis(net, img, stride=0)


def test_binary_model_raises_a_clear_error():
    binary = build_model("compact", seed=0, width=8)
    with pytest.raises(BlurlibError, match=r"load_model\('analysis'\)"):
        ia.patch_analysis(binary, noise_texture(60, 60))


def test_summary_direction_and_shares():
    n = np.full((2, 3), np.nan, np.float32)
    p_m = np.array([[0.9, 0.8, 0.1], [0.7, 0.2, 0.6]], np.float32)
    p_s = (1 - p_m) / 2
    angle = np.array([[178.0, 2.0, np.nan], [4.0, np.nan, 176.0]], np.float32)
    a = ia.PatchAnalysis(
        p_s, p_m, p_s.copy(), angle, np.where(np.isnan(angle), n, 12.0), np.ones((2, 3), bool)
    )
    s = ia.summarize_analysis(a)
    assert s["share_motion"] == pytest.approx(4 / 6)
    assert min(s["direction_deg"], 180 - s["direction_deg"]) < 2.0  # across the 0/180 seam
    assert s["direction_spread_deg"] < 5 and s["length_px"] == 12.0
    a.evidence[:] = False
    assert math.isnan(ia.summarize_analysis(a)["share_sharp"])


def test_save_and_load_round_trip(net, tmp_path):
    path = save_model(net, tmp_path / "analysis.keras")
    back = load_model(path)
    assert na.is_analysis_model(back)
    img = noise_texture(60, 90, seed=7)
    np.testing.assert_allclose(
        ia.patch_analysis(back, img).p_motion, ia.patch_analysis(net, img).p_motion, atol=1e-6
    )
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "missing.keras")


def test_shipped_analysis_model_on_the_real_clock():
    """load_model('analysis') has the heads; on the real clock (camera moved horizontally) the
    dominant motion direction is horizontal (the card: 178.4° ± 15.0° over content patches)."""
    from blurlib.data.kinds import angle_difference
    from blurlib.data.patches import content_mask
    from blurlib.data.samples import real_blur_samples

    net = load_model("analysis")
    assert na.is_analysis_model(net)
    _, clock = real_blur_samples()[0]
    a = ia.patch_analysis(net, clock)
    a.evidence = content_mask(clock)
    s = ia.summarize_analysis(a)
    assert s["share_motion"] > 0.5
    assert angle_difference(s["direction_deg"], 0.0) < 15.0


def test_a_kind_model_is_scored_as_a_motion_detector(net):
    """evaluate's binary protocols read a blur-kind model's P(motion) (label = motion or not)."""
    from blurlib.evaluation.runner import evaluate, model_predictor

    img = noise_texture(64, 95, seed=4)
    got = model_predictor(net, 30)(img)
    np.testing.assert_array_equal(got, ia.patch_analysis(net, img).p_motion)
    assert got.shape == (2, 3)

    class Ex:  # one composite: the right-hand patches labelled blurred
        image = sharp = img
        labels = np.array([[0, 0, 1], [0, 1, 1]], np.uint8)
        source = "noise"

    res = evaluate(net, [Ex()], subsets=("all",))
    m = res["cnn"]["all"]
    pred = (got > 0.5).ravel()
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(np.mean(pred == Ex.labels.ravel().astype(bool)))


def test_context_net_reads_the_patch_and_its_surroundings():
    net = na.build_analysis(seed=0, width=8, context=15)
    assert na.model_context(net) == 15 and na.model_context(na.build_analysis(seed=0, width=8)) == 0
    assert na.is_analysis_model(net)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (3, 60, 60, 3)).astype(np.float32)
    out = na.decode_outputs(net.predict_on_batch(x))
    assert out["p_kind"].shape == (3, 3) and np.allclose(out["p_kind"].sum(axis=1), 1.0)
    # the surroundings matter: a changed border (centre kept) changes the answer
    y = x.copy()
    y[:, :10] = 0
    assert not np.allclose(net.predict_on_batch(y)["kind"], net.predict_on_batch(x)["kind"])
    with pytest.raises(ValueError, match="context"):
        na.analysis_fully_convolutional(net)
    with pytest.raises(ValueError, match="context"):
        na.build_analysis(seed=0, width=8, context=7)  # 44/2 = 22 px cannot hold the patch


def test_a_context_net_analyses_photos_window_by_window():
    import cv2

    net = na.build_analysis(seed=1, width=8, context=15)
    image = noise_texture(95, 128, seed=3)
    a = ia.patch_analysis(net, image)
    assert a.p_motion.shape == (3, 4) and a.stride == 30
    assert np.allclose(a.p_sharp + a.p_motion + a.p_defocus, 1.0, atol=1e-5)
    # each grid patch is its window with 15 px around it, mirrored at the photo's borders
    padded = cv2.copyMakeBorder(image, 15, 15, 15, 15, cv2.BORDER_REFLECT_101)
    for i, j in ((0, 0), (1, 2), (2, 3)):
        window = padded[30 * i : 30 * i + 60, 30 * j : 30 * j + 60][None].astype(np.float32)
        want = na.decode_outputs(net.predict_on_batch(window))
        np.testing.assert_allclose(a.p_motion[i, j], want["p_kind"][0, 1], atol=1e-5)
    same = ia.dense_analysis(net, image, stride=30)
    np.testing.assert_allclose(same.p_motion, a.p_motion, atol=1e-5)
    finer = ia.dense_analysis(net, image, stride=10)
    assert finer.p_motion.shape == (7, 10)
    np.testing.assert_allclose(finer.p_motion[::3, ::3], a.p_motion, atol=1e-5)


@pytest.mark.parametrize(("context", "context_width"), [(15, 0), (25, 4)])
def test_the_dense_form_of_a_context_net_equals_its_cropped_windows(context, context_width):
    """The two trunks' dense forms + the head give every window's raw heads as cropping it
    with its mirrored surroundings does, at strides on and off both trunks' grids, and in
    bands of window rows."""
    import cv2

    from blurlib.inference import context as ic

    net = na.build_analysis(seed=2, width=8, context=context, context_width=context_width)
    if context_width:  # a narrower context trunk
        assert net.get_layer("ctx_b1c1_conv").filters == context_width
    rng = np.random.default_rng(3)
    for layer in net.layers:  # non-trivial batch-norm statistics, so folding is exercised
        if type(layer).__name__ == "BatchNormalization":
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [g * rng.uniform(0.5, 1.5, g.shape), b + rng.normal(0, 0.1, b.shape),
                 m + rng.normal(0, 0.2, m.shape), v * rng.uniform(0.5, 2.0, v.shape)]
            )  # fmt: skip
    image = noise_texture(77, 101, seed=4)
    k = context
    padded = cv2.copyMakeBorder(image, k, k, k, k, cv2.BORDER_REFLECT_101).astype(np.float32)

    def log_softmax(raw: np.ndarray) -> np.ndarray:
        logits = raw[..., :3] - raw[..., :3].max(-1, keepdims=True)
        return np.concatenate(
            [logits - np.log(np.exp(logits).sum(-1, keepdims=True)), raw[..., 3:]], axis=-1
        )

    for stride in (1, 4, 7, 30):
        dense = ic.context_dense(net, image, stride, tile=64)
        crops = ic.context_crops(net, image, stride)
        assert dense.shape == crops.shape
        np.testing.assert_allclose(log_softmax(dense), log_softmax(crops), atol=1e-4, rtol=1e-4)
        # the reference: the Keras model on windows cut with their mirrored surroundings
        for i, j in ((0, 0), (1, 2), (dense.shape[0] - 1, dense.shape[1] - 1)):
            y, x = i * stride, j * stride
            out = net.predict_on_batch(padded[None, y : y + 30 + 2 * k, x : x + 30 + 2 * k])
            want = np.concatenate([np.log(out["kind"][0]), out["direction"][0], out["length"][0]])
            np.testing.assert_allclose(log_softmax(dense[i, j]), want, atol=1e-4, rtol=1e-4)
    old = ic._BAND_VALUES
    try:
        ic._BAND_VALUES = 1  # one window row per band
        banded = ic.context_dense(net, image, 4)
        np.testing.assert_allclose(banded, ic.context_dense(net, image, 4, tile=64), atol=1e-5)
    finally:
        ic._BAND_VALUES = old
    assert ic.dense_pays(net, 3000, 4000, 4) and not ic.dense_pays(net, 3000, 4000, 30)


def test_context_pooling_is_the_2x2_mean():
    from blurlib.inference.context import _pool2

    a = np.random.default_rng(0).integers(0, 256, (9, 12, 3), dtype=np.uint8)
    want = a[:8].astype(np.float64).reshape(4, 2, 6, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(_pool2(a), want, atol=1e-5)
