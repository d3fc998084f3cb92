"""blurlib.nets: the report net layer by layer, the compact net (builders), FLOPs (flops),
save/load, bad files and the shipped default (files), and the fully-convolutional conversion
(fully_conv)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from blurlib.errors import ModelFileError  # noqa: E402
from blurlib.nets import builders, flops, fully_conv  # noqa: E402
from blurlib.nets import files as model_files  # noqa: E402
from blurlib.nets.builders import blur_probability, build_model, compile_model  # noqa: E402
from blurlib.nets.files import load_model, save_model  # noqa: E402
from blurlib.nets.flops import count_flops, count_params, summary_line  # noqa: E402
from blurlib.nets.fully_conv import (  # noqa: E402
    native_stride,
    strided_head,
    to_fully_convolutional,
)

REPORT_PARAMS = 7 * 7 * 3 * 96 + 96 + 5 * 5 * 96 * 256 + 256 + 4096 * 1024 + 1024 + 1024 * 2 + 2
REPORT_FLOPS = 2 * (24 * 24 * 96 * 147 + 8 * 8 * 256 * 2400 + 4096 * 1024 + 1024 * 2)


@pytest.fixture(scope="module")
def report():
    return build_model("report", seed=0)


@pytest.fixture(scope="module")
def compact():
    return build_model("compact", seed=0)


@pytest.fixture(scope="module")
def tiny_trained():
    """A narrow compact net trained a few steps, so batch-norm statistics are not trivial."""
    m = compile_model(build_model("compact", seed=1, width=8), lr=1e-2)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, 30, 30, 3)).astype("float32")
    y = rng.integers(0, 2, 64)
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return m, x


def _layers(model):
    return [la for la in model.layers if type(la).__name__ != "InputLayer"]


def test_report_layer_by_layer(report):
    layers = _layers(report)
    kinds = [type(la).__name__ for la in layers]
    assert kinds == [
        "Rescaling",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Conv2D",
        "MaxPooling2D",
        "Dropout",
        "Flatten",
        "Dense",
        "Dense",
    ]
    rescale, c1, p1, d1, c2, p2, d2, _flat, fc1, out = layers
    assert rescale.get_config()["scale"] == pytest.approx(1 / 255)
    assert rescale.get_config()["offset"] == 0
    assert (c1.filters, tuple(c1.kernel_size), c1.padding) == (96, (7, 7), "valid")
    assert (c2.filters, tuple(c2.kernel_size), c2.padding) == (256, (5, 5), "valid")
    for c in (c1, c2):
        assert c.get_config()["activation"] == "relu"
        assert tuple(c.strides) == (1, 1)
    for p in (p1, p2):
        assert tuple(p.pool_size) == (2, 2) and tuple(p.strides) == (2, 2)
    assert d1.rate == pytest.approx(0.2) and d2.rate == pytest.approx(0.2)
    assert fc1.units == 1024 and fc1.get_config()["activation"] == "relu"
    assert out.units == 2 and out.get_config()["activation"] == "softmax"
    shapes = [tuple(la.output.shape[1:]) for la in layers]
    assert shapes == [
        (30, 30, 3),
        (24, 24, 96),
        (12, 12, 96),
        (12, 12, 96),
        (8, 8, 256),
        (4, 4, 256),
        (4, 4, 256),
        (4096,),
        (1024,),
        (2,),
    ]
    assert tuple(report.inputs[0].shape) == (None, 30, 30, 3)
    assert count_params(report) == REPORT_PARAMS == 4_826_242
    assert count_flops(report) == REPORT_FLOPS
    assert 102e6 < count_flops(report) < 104e6
    assert native_stride(report) == 4
    assert "4,826,242 parameters" in summary_line(report)


def test_report_output_is_softmax_on_raw_pixels(report):
    x = np.random.default_rng(0).uniform(0, 255, (5, 30, 30, 3)).astype("float32")
    y = np.asarray(report(x, training=False))
    assert y.shape == (5, 2)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-6)
    assert blur_probability(y).shape == (5,)
    np.testing.assert_array_equal(blur_probability(y), y[:, 1])


def test_compact_is_smaller_and_cheaper(report, compact):
    layers = _layers(compact)
    convs = [la for la in layers if type(la).__name__ == "Conv2D"]
    assert all(c.padding == "valid" for c in convs)
    assert all(tuple(c.kernel_size) == (3, 3) for c in convs[:-1])
    assert tuple(convs[-1].kernel_size) == (4, 4)  # head covers the remaining extent
    assert sum(type(la).__name__ == "BatchNormalization" for la in layers) == len(convs)
    assert 100_000 < count_params(compact) < 300_000
    assert count_flops(compact) < count_flops(report) / 3
    assert tuple(compact.outputs[0].shape) == (None, 2)
    assert native_stride(compact) == 4
    # the receptive field is the whole patch: the last row and column matter
    x = np.random.default_rng(1).uniform(0, 255, (1, 30, 30, 3)).astype("float32")
    x2 = x.copy()
    x2[0, 29, 29] = 255 - x2[0, 29, 29]
    assert np.abs(np.asarray(compact(x)) - np.asarray(compact(x2))).max() > 0
    # per window of a dense map the compact net is ~10x cheaper than the report net
    full = count_flops(to_fully_convolutional(compact), (286, 286))
    assert full * 8 < count_flops(to_fully_convolutional(report), (286, 286))


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="report, compact"):
        build_model("resnet")
    with pytest.raises(ValueError):
        build_model("report", width=8)


def test_seed_makes_weights_reproducible():
    a = build_model("compact", seed=5, width=8).get_weights()
    b = build_model("compact", seed=5, width=8).get_weights()
    c = build_model("compact", seed=6, width=8).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_compile_and_train_a_few_steps(tiny_trained):
    m, _ = tiny_trained
    assert m.optimizer is not None and m.loss is not None
    bn = m.get_layer("b1c1_bn")
    assert not np.allclose(np.asarray(bn.moving_mean), 0)


@pytest.mark.parametrize("name", ["model.keras", "motionblur.h5"])
def test_save_load_round_trip(tmp_path, tiny_trained, name):
    m, x = tiny_trained
    path = save_model(m, tmp_path / name)
    assert path == tmp_path / name
    assert sorted(os.listdir(tmp_path)) == [name]  # no temp file left behind
    loaded = load_model(path)
    np.testing.assert_array_equal(
        loaded.predict(x, verbose=0), m.predict(x, verbose=0)
    )  # identical predictions


def test_save_overwrites_atomically(tmp_path, tiny_trained):
    m, _ = tiny_trained
    save_model(m, tmp_path / "m.keras")
    save_model(m, tmp_path / "m.keras")
    assert os.listdir(tmp_path) == ["m.keras"]
    with pytest.raises(ModelFileError, match=r"\.keras or \.h5"):
        save_model(m, tmp_path / "m.pt")


def _bad_files(tmp_path, good_keras, good_h5):
    files = {
        "random.keras": os.urandom(2000),
        "empty.keras": b"",
        "photo.keras": b"\xff\xd8\xff\xe0\x00\x10JFIF" + os.urandom(500),
        "truncated.keras": good_keras[: len(good_keras) // 2],
        "random.h5": os.urandom(2000),
        "truncated.h5": good_h5[: len(good_h5) // 2],
        "model.txt": b"hello",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with zipfile.ZipFile(tmp_path / "otherzip.keras", "w") as z:
        z.writestr("readme.txt", "not a model")
    other = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)])
    other.save(tmp_path / "regressor.keras")
    wrong_input = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten()])
    wrong_input.add(keras.layers.Dense(2, activation="softmax"))
    wrong_input.save(tmp_path / "wrong_input.keras")
    return [*files, "otherzip.keras", "regressor.keras", "wrong_input.keras", "missing.keras"]


def test_bad_model_files_raise_model_file_error(tmp_path, tiny_trained):
    m, _ = tiny_trained
    good = tmp_path / "good"
    good.mkdir()
    save_model(m, good / "a.keras")
    save_model(m, good / "a.h5")
    names = _bad_files(tmp_path, (good / "a.keras").read_bytes(), (good / "a.h5").read_bytes())
    for name in names:
        with pytest.raises(ModelFileError) as info:
            load_model(tmp_path / name)
        msg = str(info.value)
        assert name in msg, msg
        assert "python -m blurlib train" in msg or "--model" in msg, msg
        assert "\n" not in msg
    with pytest.raises(ModelFileError, match="folder"):
        load_model(tmp_path)


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(model_files, "DEFAULT_MODEL_PATH", tmp_path / "nets" / "default.keras")
    with pytest.raises(ModelFileError, match=r"default\.keras.*does not exist yet"):
        load_model()


def test_default_model_is_package_data():
    path = model_files.DEFAULT_MODEL_PATH
    assert path == model_files.default_model_path()
    here = Path(model_files.__file__).resolve().parent
    assert Path(str(path)).resolve() == here / "default.keras"
    assert path.is_file()


def test_fcn_flops_match_the_issue(report):
    fcn = to_fully_convolutional(report)
    assert count_flops(fcn, (768, 1024)) == pytest.approx(0.642e12, rel=0.01)
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(fcn)


def _crops(img, out_shape, stride):
    rows, cols = out_shape
    return np.stack(
        [
            img[i * stride : i * stride + 30, j * stride : j * stride + 30]
            for i in range(rows)
            for j in range(cols)
        ]
    )


@pytest.mark.parametrize("which", ["report", "compact", "trained"])
def test_fcn_matches_the_classifier(report, compact, tiny_trained, which):
    m = {"report": report, "compact": compact, "trained": tiny_trained[0]}[which]
    fcn = to_fully_convolutional(m)
    assert "Dropout" not in {type(la).__name__ for la in fcn.layers}
    assert "BatchNormalization" not in {type(la).__name__ for la in fcn.layers}
    img = np.random.default_rng(2).uniform(0, 255, (45, 67, 3)).astype("float32")
    out = np.asarray(fcn(img[None], training=False))[0]
    assert out.shape == (4, 10, 2)  # (45-30)//4+1, (67-30)//4+1
    ref = m.predict(_crops(img, out.shape[:2], 4), verbose=0).reshape(out.shape)
    np.testing.assert_allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("which", ["report", "compact", "trained"])
def test_strided_head_computes_every_kth_window_exactly(report, compact, tiny_trained, which):
    """strided_head(fcn, k): the fcn's windows [::k, ::k], with the head strided (not the
    layers before it), for the report net (its Dense(1024) as a 4×4 conv) and the compact net."""
    m = {"report": report, "compact": compact, "trained": tiny_trained[0]}[which]
    fcn = to_fully_convolutional(m)
    img = np.random.default_rng(4).uniform(0, 255, (93, 118, 3)).astype("float32")
    full = np.asarray(fcn(img[None], training=False))[0]
    assert strided_head(fcn, 1) is None
    for k in (2, 3):
        net = strided_head(fcn, k)
        strided = [la for la in net.layers if tuple(getattr(la, "strides", (1, 1))) != (1, 1)]
        pools = [la for la in fcn.layers if "Pooling" in type(la).__name__]
        assert len(strided) == len(pools) + 1  # the pools and the head only
        out = np.asarray(net(img[None], training=False))[0]
        np.testing.assert_allclose(out, full[::k, ::k], atol=1e-5)


def test_strided_head_refuses_a_pool_as_the_last_spatial_layer():
    inp = keras.Input((30, 30, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    x = keras.layers.GlobalMaxPooling2D()(x)
    out = keras.layers.Dense(2, activation="softmax")(x)
    assert strided_head(to_fully_convolutional(keras.Model(inp, out)), 2) is None


def test_fcn_converts_other_layer_stacks():
    """Global pooling, batch norm after an activation, a sigmoid output, dense layers on
    flattened features and augmentation layers all convert exactly."""
    inp = keras.Input((30, 30, 3))
    x = keras.layers.RandomFlip()(inp)
    x = keras.layers.Rescaling(1 / 255)(x)
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(5, 3)(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(4, activation="tanh")(x)
    x = keras.layers.Dropout(0.5)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(x)
    m = keras.Model(inp, out)
    bn = m.layers[4]
    rng = np.random.default_rng(3)
    bn.set_weights(
        [rng.uniform(0.5, 2, 6), rng.normal(size=6), rng.normal(size=6), np.full(6, 2.0)]
    )
    fcn = to_fully_convolutional(m)
    assert native_stride(m) == 2
    img = rng.uniform(0, 255, (37, 41, 3)).astype("float32")
    out = np.asarray(fcn(img[None]))[0]
    assert out.shape == ((37 - 30) // 2 + 1, (41 - 30) // 2 + 1, 1)
    ref = np.asarray(m(_crops(img, out.shape[:2], 2), training=False)).reshape(out.shape)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_fcn_refuses_what_it_cannot_convert():
    m = keras.Sequential(
        [
            keras.Input((30, 30, 3)),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    with pytest.raises(ValueError, match="valid padding"):
        to_fully_convolutional(m)


def test_model_code_is_backend_neutral():
    for module in (builders, model_files, flops, fully_conv):
        src = Path(module.__file__).read_text()
        assert "import tensorflow" not in src and "tf." not in src, module.__name__


def test_three_way_compact_net_and_motion_vs_rest():
    """build_model(classes=3) is the sharp / motion / defocus net; motion_vs_rest sums its
    classes into a detector's two (exactly, also in the dense form); bad uses raise."""
    from blurlib.inference.windows import window_probabilities
    from blurlib.nets.builders import blur_probability, build_model, motion_vs_rest

    net = build_model("compact", seed=1, width=8, classes=3)
    det = motion_vs_rest(net)
    x = np.random.default_rng(3).integers(0, 256, (2, 30, 30, 3)).astype(np.float32)
    three, two = net.predict(x, verbose=0), det.predict(x, verbose=0)
    np.testing.assert_allclose(two, np.stack([three[:, 0] + three[:, 2], three[:, 1]], 1), 1e-6)
    photo = np.random.default_rng(4).integers(0, 256, (62, 70, 3)).astype(np.uint8)
    dense = window_probabilities(det, photo, 4)
    crops = np.stack(
        [photo[r * 4 : r * 4 + 30, c * 4 : c * 4 + 30] for r in (0, 8) for c in (0, 10)]
    )
    want = blur_probability(det.predict(crops.astype(np.float32), verbose=0)).reshape(2, 2)
    np.testing.assert_allclose(dense[::8, ::10], want, atol=1e-5)
    with pytest.raises(ValueError, match="compact"):
        build_model("report", classes=3)
    with pytest.raises(ValueError, match="sharp/motion/defocus"):
        motion_vs_rest(build_model("compact", width=8))
