"""blurlib.inference: fully-convolutional windows vs cropping (every stride), tiling, patch grid,
blur maps, texture, batches, the converted-network cache, and the predict CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import smooth_photo

keras = pytest.importorskip("keras")
cv2 = pytest.importorskip("cv2")

from blurlib.cli import main  # noqa: E402
from blurlib.errors import ImageError  # noqa: E402
from blurlib.inference import windows as win  # noqa: E402
from blurlib.inference.maps import blur_map, predict_many, windows_to_map  # noqa: E402
from blurlib.inference.photos import (  # noqa: E402
    analyse,
    save_outputs,
    texture_mask,
    window_detail,
    window_std,
)
from blurlib.inference.windows import (  # noqa: E402
    fully_convolutional,
    patch_probabilities,
    window_grid_shape,
    window_probabilities,
    windows_by_cropping,
)
from blurlib.nets import files as model_files  # noqa: E402
from blurlib.nets.builders import build_model, compile_model  # noqa: E402
from blurlib.nets.files import save_model  # noqa: E402

SIZES = [(67, 91), (30, 30), (45, 120)]
STRIDES = [1, 2, 3, 4, 5, 6, 8]


def _sharpen(m, spread: float = 2.0) -> None:
    """Rescale the output layer so that the logit differences on photo patches have mean 0
    and standard deviation ``spread``: probabilities then cover (0, 1) instead of sitting
    near one value."""
    photo = smooth_photo(120, 120, seed=11).astype("float32")
    x = np.stack(
        [photo[i : i + 30, j : j + 30] for i in range(0, 90, 12) for j in range(0, 90, 12)]
    )
    p = np.clip(np.asarray(m(x, training=False), np.float64), 1e-12, 1)
    logit = np.log(p[:, 1]) - np.log(p[:, 0])
    out = m.get_layer("output")
    kernel, bias = out.get_weights()
    factor = spread / max(float(logit.std()), 1e-6)
    centre = factor * (float(logit.mean()) - float(bias[1] - bias[0]))  # kernel part of the mean
    out.set_weights([kernel * factor, np.array([centre / 2, -centre / 2], np.float32)])


def _trained(name: str, seed: int, **kw):
    """A net trained a few steps on random data: batch-norm statistics are not trivial.
    Seeded (Keras' shuffling too), so its probabilities are the same on every run."""
    keras.utils.set_random_seed(seed)
    m = compile_model(build_model(name, seed=seed, **kw), lr=1e-3)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (32, 30, 30, 3)).astype("float32")
    m.fit(x, rng.integers(0, 2, 32), epochs=1, batch_size=16, verbose=0)
    return m


@pytest.fixture(scope="module")
def nets():
    report = build_model("report", seed=0)
    compact = build_model("compact", seed=0, width=16)
    report_t = _trained("report", 1)
    compact_t = _trained("compact", 2, width=16)
    _sharpen(report_t)
    _sharpen(compact_t)
    return {
        "report-random": report,
        "compact-random": compact,
        "report-trained": report_t,
        "compact-trained": compact_t,
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small compact net saved as .keras, for the CLI."""
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    m = build_model("compact", seed=3, width=8)
    _sharpen(m)
    save_model(m, path)
    return path


@pytest.mark.parametrize(
    "which",
    [
        # the report net crops ~10 s per case on 2 cores: slow tier; compact is the fast check
        pytest.param("report-random", marks=pytest.mark.slow),
        "compact-random",
        pytest.param("report-trained", marks=pytest.mark.slow),
        "compact-trained",
    ],
)
def test_fcn_agrees_with_cropping_every_stride(nets, which):
    m = nets[which]
    spread = []
    for h, w in SIZES:
        img = smooth_photo(h, w, seed=h + w)
        ref = windows_by_cropping(m, img, stride=1)  # every window, classified one by one
        assert ref.shape == (h - 29, w - 29)
        spread.append(ref.std())
        for s in STRIDES:
            got = window_probabilities(m, img, stride=s)
            assert got.shape == window_grid_shape(h, w, s) == ((h - 30) // s + 1, (w - 30) // s + 1)
            assert got.dtype == np.float32
            np.testing.assert_allclose(
                got, ref[::s, ::s], atol=1e-4, rtol=0, err_msg=f"{h}x{w} s={s}"
            )
    if which.endswith("trained"):
        assert max(spread) > 0.05  # the probabilities really vary: the check is not vacuous


def test_cropping_reference_crops_the_right_windows(nets):
    m = nets["compact-trained"]
    img = smooth_photo(50, 61, seed=9)
    got = windows_by_cropping(m, img, stride=7)
    crops = np.stack(
        [img[i * 7 : i * 7 + 30, j * 7 : j * 7 + 30] for i in range(3) for j in range(5)]
    )
    ref = m.predict(crops.astype("float32"), verbose=0)[:, 1].reshape(3, 5)
    np.testing.assert_allclose(got, ref, atol=1e-6)


@pytest.mark.parametrize(
    ("which", "stride", "tile"),
    [
        ("report-trained", 1, 64),
        ("report-trained", 4, 34),
        ("report-trained", 4, 64),
        ("report-trained", 6, 50),
        ("compact-trained", 4, 30),
        ("compact-trained", 1, 40),
        ("compact-trained", 3, 50),
        ("compact-trained", 8, 100),
    ],
)
def test_tiles_equal_the_untiled_call(nets, which, stride, tile):
    m = nets[which]
    img = smooth_photo(97, 131, seed=5)
    whole = window_probabilities(m, img, stride, tile=None)
    tiled = window_probabilities(m, img, stride, tile=tile)
    assert tiled.shape == whole.shape
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)


def test_tiles_have_one_shape_and_bounded_size(nets, monkeypatch):
    m = nets["compact-trained"]
    shapes = []
    real = win._forward

    def spy(net, x):
        shapes.append(x.shape)
        return real(net, x)

    monkeypatch.setattr(win, "_forward", spy)
    img = smooth_photo(150, 210, seed=1)
    window_probabilities(m, img, 4, tile=64)
    assert len(shapes) > 4 and len(set(shapes)) == 1
    assert max(shapes[0][1:3]) <= 64
    # each window is computed once: tiles overlap by exactly patch - native stride pixels
    rows, cols = window_grid_shape(150, 210, 4)
    per = (64 - 30) // 4 + 1
    assert len(shapes) == -(-rows // per) * -(-cols // per)


def test_sparse_strides_are_cropped_dense_ones_run_whole(nets, monkeypatch):
    """The 30-px grid costs the network far less cropped than as four shifted passes: it is
    classified window by window (30×30 inputs), the default stride as whole-photo passes;
    both give the cropping reference's numbers."""
    m = nets["compact-trained"]
    fcn, native, patch = win.fully_convolutional(m)
    assert win.cropping_pays(fcn, native, patch, 960, 1280, 30)
    assert not win.cropping_pays(fcn, native, patch, 960, 1280, 4)
    assert not win.cropping_pays(fcn, native, patch, 960, 1280, 8)
    shapes = []
    real = win._forward

    def spy(net, x):
        shapes.append(x.shape[1:3])
        return real(net, x)

    monkeypatch.setattr(win, "_forward", spy)
    img = smooth_photo(150, 210, seed=3)
    for stride, crops in ((30, True), (4, False)):
        shapes.clear()
        got = window_probabilities(m, img, stride)
        assert all(s == (30, 30) for s in shapes) == crops and shapes
        np.testing.assert_allclose(got, windows_by_cropping(m, img, stride), atol=1e-4)


def test_patch_probabilities(nets):
    m = nets["report-trained"]
    img = smooth_photo(95, 130, seed=2)
    pp = patch_probabilities(m, img)
    assert pp.shape == (3, 4) and pp.dtype == np.float32
    # seeded net and photo: the values of this run (a wrong patch order or scaling moves them)
    expect = [
        [0.823, 0.976, 0.147, 0.123],
        [0.884, 0.299, 0.380, 0.944],
        [0.806, 0.779, 0.787, 0.900],
    ]
    np.testing.assert_allclose(pp, expect, atol=0.01)
    crops = img[:90, :120].reshape(3, 30, 4, 30, 3).transpose(0, 2, 1, 3, 4).reshape(-1, 30, 30, 3)
    ref = m.predict(crops.astype("float32"), verbose=0)[:, 1].reshape(3, 4)
    np.testing.assert_allclose(pp, ref, atol=1e-5)
    np.testing.assert_allclose(pp, window_probabilities(m, img, 30), atol=1e-4)
    np.testing.assert_allclose(patch_probabilities(m, img, batch_size=5), pp, atol=1e-5)
    # grayscale and RGBA input go through the same path
    gray = img[..., 0]
    np.testing.assert_allclose(
        patch_probabilities(m, gray), patch_probabilities(m, np.dstack([gray] * 3)), atol=0
    )
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    np.testing.assert_allclose(patch_probabilities(m, rgba), pp, atol=0)
    with pytest.raises(ValueError):
        patch_probabilities(m, img, patch=32)


def test_too_small_or_wrong_images_raise(nets):
    m = nets["compact-random"]
    with pytest.raises(ImageError, match="smaller than one"):
        window_probabilities(m, np.zeros((29, 100, 3), np.uint8))
    with pytest.raises(ImageError, match="smaller than one"):
        patch_probabilities(m, np.zeros((100, 20, 3), np.uint8))
    with pytest.raises(ImageError, match="H×W×3"):
        blur_map(m, np.zeros((40, 40, 5), np.uint8))
    with pytest.raises(ValueError, match="stride"):
        window_probabilities(m, np.zeros((40, 40, 3), np.uint8), stride=0)


def test_windows_to_map_interpolates_between_centres():
    rows, cols, s = 5, 7, 4
    h, w = 30 + s * (rows - 1) + 3, 30 + s * (cols - 1) + 2  # plus an uncovered remainder
    ramp = np.tile(np.linspace(0, 1, rows, dtype=np.float32)[:, None], (1, cols))
    m = windows_to_map(ramp, h, w, s)
    assert m.shape == (h, w) and m.dtype == np.float32
    y = np.arange(h)
    expect = np.clip((y - 14.5) / s, 0, rows - 1) / (rows - 1)  # linear inside, clamped outside
    np.testing.assert_allclose(m, np.tile(expect[:, None], (1, w)), atol=1e-6)
    assert np.all(m[:15] == 0) and np.all(m[-5:] == 1)  # edges take the nearest centre
    const = windows_to_map(np.full((3, 4), 0.3, np.float32), 50, 60, 8)
    np.testing.assert_allclose(const, 0.3, atol=1e-7)
    one = windows_to_map(np.array([[0.7]], np.float32), 30, 30, 4)
    np.testing.assert_allclose(one, 0.7, atol=1e-7)


def test_blur_map_shape_and_range(nets):
    m = nets["compact-trained"]
    for h, w in [(67, 91), (30, 30), (45, 120)]:
        img = smooth_photo(h, w, seed=4)
        for s in (1, 4, 5):
            bmap = blur_map(m, img, stride=s)
            assert bmap.shape == (h, w) and bmap.dtype == np.float32
            probs = window_probabilities(m, img, s)  # an interpolation never leaves their range
            assert bmap.min() >= probs.min() - 1e-6 and bmap.max() <= probs.max() + 1e-6
            if (h, w, s) == (67, 91, 4):  # seeded net and photo: this run's map
                assert (bmap.mean(), bmap.std()) == pytest.approx((0.4904, 0.2242), abs=0.005)
                assert (bmap.min(), bmap.max()) == pytest.approx((0.0207, 0.9296), abs=0.005)


def test_window_std_and_texture_mask():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 75, 3), dtype=np.uint8)
    img[:, :40] = 100  # a flat left part
    std = window_std(img, stride=5)
    gray = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    for i in range(std.shape[0]):
        for j in range(std.shape[1]):
            ref = gray[i * 5 : i * 5 + 30, j * 5 : j * 5 + 30].std()
            assert abs(std[i, j] - ref) < 1e-3
    mask = texture_mask(img, stride=5)
    assert mask.shape == std.shape and mask.dtype == bool
    assert not mask[:, :2].any() and mask[:, -1].all()


def test_window_detail_is_the_evidence_measure_windowed():
    from blurlib.data.patches import gray_image, patch_texture
    from blurlib.inference.photos import window_detail

    img = smooth_photo(97, 121, seed=3)
    detail = window_detail(img, stride=7)
    assert detail.shape == window_grid_shape(97, 121, 7)
    # window (i, j) starts at (7i, 7j): patch_texture of the photo cropped there agrees, but
    # for the crop's own border rule near its top/left edge (hence the tolerance)
    for i, j in [(0, 0), (3, 5), (9, 13)]:
        shifted = img[i * 7 :, j * 7 :]
        assert detail[i, j] == pytest.approx(float(patch_texture(shifted)[0, 0]), abs=0.35)
    np.testing.assert_allclose(window_detail(img, 30), patch_texture(img), atol=1e-4)
    # computed strip by strip (detail_rows; a tall photo: several strips), it is the whole
    # photo's detail windowed (to float64 rounding of the integral images)
    img = smooth_photo(400, 90, seed=4)
    detail = window_detail(img, stride=7)
    g = gray_image(img, 30)
    d2 = np.square(g - cv2.GaussianBlur(g, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT_101))
    integ = cv2.integral(d2.astype(np.float32), sdepth=cv2.CV_64F)
    ys, xs = np.arange(detail.shape[0]) * 7, np.arange(detail.shape[1]) * 7
    sums = (
        integ[np.ix_(ys + 30, xs + 30)]
        - integ[np.ix_(ys, xs + 30)]
        - integ[np.ix_(ys + 30, xs)]
        + integ[np.ix_(ys, xs)]
    )
    np.testing.assert_allclose(detail, np.sqrt(np.maximum(sums, 0) / 900), rtol=1e-6)
    assert np.array_equal(texture_mask(img, stride=30), patch_texture(img) >= 2.0)


def test_predict_many_arrays_and_paths(nets, tmp_path):
    m = nets["compact-trained"]
    a, b = smooth_photo(60, 70, seed=1), smooth_photo(45, 90, seed=2)
    cv2.imwrite(str(tmp_path / "b.png"), cv2.cvtColor(b, cv2.COLOR_RGB2BGR))
    maps = predict_many(m, [a, tmp_path / "b.png"], stride=4)
    assert [x.shape for x in maps] == [(60, 70), (45, 90)]
    np.testing.assert_allclose(maps[0], blur_map(m, a), atol=1e-6)
    np.testing.assert_allclose(maps[1], blur_map(m, b), atol=1e-6)


def test_converted_network_is_cached_and_follows_weight_changes():
    m = build_model("compact", seed=7, width=8)
    img = smooth_photo(40, 50, seed=3)
    fcn1, stride, patch = fully_convolutional(m)
    assert (stride, patch) == (4, 30)
    assert fully_convolutional(m)[0] is fcn1  # no reconversion
    before = window_probabilities(m, img, 4)
    _sharpen(m, 4.0)
    assert fully_convolutional(m)[0] is not fcn1  # the weights changed: reconverted
    after = window_probabilities(m, img, 4)
    np.testing.assert_allclose(after, windows_by_cropping(m, img, 4), atol=1e-4)
    assert np.abs(after - before).max() > 1e-3


def test_analyse_and_outputs(nets, tmp_path):
    m = nets["compact-trained"]
    img = smooth_photo(64, 80, seed=6)
    img[:, :35] = 128
    res = analyse(m, img, stride=4)
    assert res.probs.shape == res.textured.shape == (9, 13)
    assert 0 < res.textured_windows < res.probs.size
    assert (res.textured_windows, res.probs.size) == (99, 117)  # the flat left part: no texture
    # seeded net and photo: 44 of the 99 textured windows (one window is 0.0101)
    assert res.blurred_fraction == pytest.approx(44 / 99, abs=0.011)
    from blurlib.viz.maps import overlay_blur_map

    png, npy = save_outputs(overlay_blur_map(img, res.blur_map), res, tmp_path / "out", "photo")
    assert np.array_equal(np.load(npy), res.blur_map)
    pic = cv2.imread(str(png))
    assert pic.shape == (64, 80, 3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "photo_blurmap.npy",
        "photo_blurmap.png",
    ]


# ------------------------------------------------------------------------------------- CLI


def _write(path, image):
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def test_cli_good_photos_and_a_folder(tiny, tmp_path, capsys):
    pytest.importorskip("blurlib.data.photos")
    a = _write(tmp_path / "a.png", smooth_photo(70, 100, seed=1))
    folder = tmp_path / "more"
    folder.mkdir()
    _write(folder / "b.jpg", smooth_photo(64, 64, seed=2))
    _write(folder / "c.png", smooth_photo(90, 45, seed=3))
    out = tmp_path / "out"
    code = main(["predict", str(a), str(folder), "--model", str(tiny), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    assert len(lines) == 3 and all("blurred" in ln or "textured" in ln for ln in lines)
    assert all(" s -> " in ln for ln in lines)
    # seeded net and photos: this run's maps (mean, standard deviation)
    expect = {"a": (0.4740, 0.2668), "b": (0.6107, 0.2577), "c": (0.5102, 0.2642)}
    for stem, shape in (("a", (70, 100)), ("b", (64, 64)), ("c", (90, 45))):
        bmap = np.load(out / f"{stem}_blurmap.npy")
        assert bmap.shape == shape and bmap.dtype == np.float32
        assert (bmap.mean(), bmap.std()) == pytest.approx(expect[stem], abs=0.005), stem
        assert cv2.imread(str(out / f"{stem}_blurmap.png")).shape[:2] == shape
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_cli_json(tiny, tmp_path, capsys):
    pytest.importorskip("blurlib.data.photos")
    a = _write(tmp_path / "a.png", smooth_photo(70, 100, seed=1))
    code = main(
        ["predict", str(a), "--model", str(tiny), "--out", str(tmp_path), "--json", "--stride", "8"]
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1
    rec = json.loads(out[0])
    assert rec["photo"] == str(a) and rec["stride"] == 8
    assert (rec["height"], rec["width"]) == (70, 100)
    assert rec["windows"] == 6 * 9
    # seeded net and photo: 26 of 54 textured windows called blurred in this run (± one window
    # sitting at p = 0.5 on another machine's arithmetic)
    assert rec["textured_windows"] == 54 and abs(rec["blurred_windows"] - 26) <= 1
    assert rec["blurred_fraction"] == pytest.approx(rec["blurred_windows"] / 54, abs=1e-6)
    assert rec["seconds"] > 0 and rec["map"].endswith("a_blurmap.npy")


def test_cli_bad_photo_does_not_stop_the_others(tiny, tmp_path, capsys):
    pytest.importorskip("blurlib.data.photos")
    good = _write(tmp_path / "good.png", smooth_photo(60, 60, seed=1))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not a jpeg")
    small = _write(tmp_path / "small.png", smooth_photo(20, 60, seed=1))
    missing = tmp_path / "missing.png"
    out = tmp_path / "out"
    argv = ["predict", str(junk), str(good), str(missing), str(small), "--model", str(tiny)]
    code = main([*argv, "--out", str(out)])
    captured = capsys.readouterr()
    assert code != 0
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3
    for line, name in zip(errors, ("junk.jpg", "missing.png", "small.png")):
        assert line.startswith("error:") and name in line
    assert "Traceback" not in captured.err
    assert len(captured.out.strip().splitlines()) == 1
    assert (out / "good_blurmap.npy").exists() and (out / "good_blurmap.png").exists()


def test_cli_out_that_is_a_file_blames_out_once(tiny, tmp_path, capsys):
    photos = [_write(tmp_path / f"p{k}.png", smooth_photo(60, 60, seed=k)) for k in range(2)]
    out = tmp_path / "a_file"
    out.write_text("mine")
    code = main(["predict", *map(str, photos), "--model", str(tiny), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--out" in err and "p0.png" not in err
    assert out.read_text() == "mine"


def test_cli_wrong_model_file(tmp_path, capsys, monkeypatch):
    photo = _write(tmp_path / "a.png", smooth_photo(40, 40))
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"\xff\xd8\xff\xe0 a jpeg, renamed")
    assert main(["predict", str(photo), "--model", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.keras" in err[0] and err[0].startswith("error:")
    monkeypatch.setattr(model_files, "DEFAULT_MODEL_PATH", tmp_path / "nets" / "default.keras")
    assert main(["predict", str(photo), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "default.keras" in err[0]
    assert main(["predict", str(photo), "--stride", "0", "--model", str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# --------------------------------------------------------------------------------------------
# the input contract, through every public inference function (see test_input_contract.py)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_net():
    m = build_model("compact", seed=5, width=8)
    _sharpen(m)
    return m


def _public_calls(m):
    return {
        "patch_probabilities": lambda img: patch_probabilities(m, img),
        "window_probabilities": lambda img: window_probabilities(m, img, 8),
        "windows_by_cropping": lambda img: windows_by_cropping(m, img, 15),
        "blur_map": lambda img: blur_map(m, img, 8),
        "predict_many": lambda img: predict_many(m, [img], 8),
        "analyse": lambda img: analyse(m, img, 8),
        "window_std": lambda img: window_std(img, 8),
        "window_detail": lambda img: window_detail(img, 8),
    }


def _invalid_inputs():
    img = smooth_photo(64, 70, seed=4)
    nan = img.astype(np.float32)
    nan[10, 10, 0] = np.nan
    return {
        "0-1 floats": (img / 255.0, "0–1 floats"),
        "NaN": (nan, "NaN"),
        "uint16": (img.astype(np.uint16) * 257, r"\(a >> 8\)\.astype\(np\.uint8\)"),
        "bool": (img > 128, "bool"),
        "shape": (img[..., :2], "H×W×3"),
    }


@pytest.mark.parametrize("call", list(_public_calls(None)))
@pytest.mark.parametrize("kind", list(_invalid_inputs()))
def test_public_functions_refuse_invalid_input(small_net, call, kind):
    image, message = _invalid_inputs()[kind]
    with pytest.raises(ImageError, match=message):
        _public_calls(small_net)[call](image)


def test_scaled_floats_and_rgba_arrays_agree_with_uint8_and_files(small_net, tmp_path):
    img = smooth_photo(64, 70, seed=4)
    pp = patch_probabilities(small_net, img)
    # 0–255 floats are the same photo; the 0–1 version used to give p ≈ 1 everywhere
    np.testing.assert_allclose(
        patch_probabilities(small_net, img.astype(np.float64)), pp, atol=1e-6
    )
    np.testing.assert_allclose(patch_probabilities(small_net, (img / 255.0) * 255.0), pp, atol=1e-4)
    # an RGBA array is composited onto white exactly as the same RGBA file is
    rgba = np.dstack([img, np.tile(np.linspace(0, 255, 70).astype(np.uint8), (64, 1))])
    path = tmp_path / "t.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    np.testing.assert_allclose(
        window_probabilities(small_net, rgba, 8),
        window_probabilities(small_net, path, 8),
        atol=0,
    )


def test_cli_refuses_an_out_another_predict_is_writing(tiny, tmp_path, capsys):
    from blurlib.fileio import exclusive

    photo = _write(tmp_path / "p.png", smooth_photo(60, 60, seed=1))
    out = tmp_path / "maps"
    with exclusive(out / ".blurlib-predict.lock", f"--out {out}"):
        code = main(["predict", str(photo), "--model", str(tiny), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "another blurlib run" in err and err.count("\n") == 1
    assert not (out / "p_blurmap.png").exists()
    assert main(["predict", str(photo), "--model", str(tiny), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["p_blurmap.npy", "p_blurmap.png"]


def test_cli_names_links_out_of_the_folder_itself(tiny, tmp_path, capsys):
    import warnings

    inside = tmp_path / "photos"
    inside.mkdir()
    _write(inside / "a.png", smooth_photo(60, 60, seed=1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _write(elsewhere / "b.png", smooth_photo(60, 60, seed=2))
    (inside / "b.png").symlink_to(elsewhere / "b.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as PYTHONWARNINGS=ignore would
        code = main(["predict", str(inside), "--model", str(tiny), "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 0 and len(captured.out.strip().splitlines()) == 1  # a.png only
    lines = [line for line in captured.err.splitlines() if line.startswith("skipped:")]
    assert len(lines) == 1 and "lead out of the folder" in lines[0]
