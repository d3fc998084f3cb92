"""8-bit windows through ONNX Runtime (``rank --precision int8``): the ONNX graph is the
network, quantisation is reproducible, the windows are float32's within the documented bounds,
and rank refuses what int8 cannot do in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blurlib.errors import BlurlibError
from blurlib.inference import int8 as q8

needs_ort = pytest.mark.skipif(not q8.int8_available(), reason="onnxruntime not installed")


@pytest.fixture(scope="module")
def model():
    from blurlib.runtime import start_keras

    start_keras()
    from blurlib.nets.files import load_model

    return load_model()


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    import cv2

    from blurlib.data.samples import sample_images

    return cv2.resize(dict(sample_images())["camera"], (640, 480), interpolation=cv2.INTER_AREA)


@needs_ort
def test_onnx_chain_is_the_network(model, camera):
    """The float32 ONNX graph gives the Keras network's windows (1e-4); with the head strided
    by 2, every other window of each row and column."""
    import onnxruntime as ort

    from blurlib.inference.windows import fully_convolutional

    fcn = fully_convolutional(model)[0]
    x = camera[:254, :318].astype(np.float32)
    ref = np.asarray(fcn.predict_on_batch(x[None]))[0]
    for k in (1, 2):
        chain = q8.onnx_chain(fcn, k)
        sess = ort.InferenceSession(chain.SerializeToString(), providers=["CPUExecutionProvider"])
        out = sess.run(None, {"image": x.transpose(2, 0, 1)[None]})[0][0].transpose(1, 2, 0)
        want = ref[::k, ::k]
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, atol=1e-4)


@needs_ort
def test_quantisation_is_reproducible(model, capsys):
    """The same network quantises to the same bytes (calibration is fixed), silently: nothing
    on stdout, and the program's logging left unconfigured."""
    import logging

    from blurlib.inference.windows import fully_convolutional

    root = logging.getLogger()
    handlers = list(root.handlers)
    chain = q8.onnx_chain(fully_convolutional(model)[0], 2)
    assert q8.quantise(chain) == q8.quantise(chain)
    assert capsys.readouterr().out == ""
    assert root.handlers == handlers and not root.filters


@needs_ort
def test_not_a_chain_is_refused():
    """A network that is not a chain of convolutions and pools is a ValueError naming the layer."""
    import keras

    net = keras.Sequential([keras.Input((30, 30, 3)), keras.layers.Dense(2, name="odd")])
    with pytest.raises(ValueError, match="odd"):
        q8.onnx_chain(net)


@needs_ort
@pytest.mark.slow
def test_int8_windows_match_float32(model, camera):
    """The same grid as float32; probabilities within 0.25, mean difference ≤ 0.03, ≤ 3 % of
    windows on the other side of 0.5; strides that are no multiple of the native one, sparse
    grids and tiled photos are the bfloat16 path's exactly (float32 without native bfloat16);
    stride 8 ≈ stride 4's [::2, ::2], within 0.05 (each head stride is calibrated on its own
    windows)."""
    from blurlib.inference.bf16 import bf16_window_probabilities
    from blurlib.inference.windows import window_probabilities

    for stride in (4, 8, 6, 30):
        a = window_probabilities(model, camera, stride, tile=700)
        b = q8.int8_window_probabilities(model, camera, stride, tile=700)
        assert a.shape == b.shape and b.dtype == np.float32
        if stride in (6, 30):
            assert np.array_equal(b, bf16_window_probabilities(model, camera, stride, tile=700))
        else:  # the 8-bit path ran: neither float32's nor bfloat16's numbers
            assert not np.array_equal(b, a)
            assert not np.array_equal(b, bf16_window_probabilities(model, camera, stride, tile=700))
            d = np.abs(a - b)
            assert d.max() < 0.25 and d.mean() < 0.03
            assert ((a > 0.5) != (b > 0.5)).mean() < 0.03
    four, eight = (q8.int8_window_probabilities(model, camera, s, tile=700) for s in (4, 8))
    assert np.abs(eight - four[::2, ::2]).max() < 0.05
    tiled = q8.int8_window_probabilities(model, camera, 4, tile=200)
    assert np.array_equal(tiled, bf16_window_probabilities(model, camera, 4, tile=200))


@needs_ort
@pytest.mark.slow
def test_rank_int8_shares(tmp_path, model):
    """rank --precision int8: each photo's blurred share within 0.02 of float32's, the verdicts
    and order of a sharp photo and its motion-blurred copy kept."""
    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel
    from blurlib.data.samples import sample_images
    from blurlib.inference.rank import rank_photos

    photos = dict(sample_images())
    files = []
    for name in ("coffee", "chelsea", "rocket"):
        Image.fromarray(photos[name]).save(tmp_path / f"{name}.png")
        files.append(tmp_path / f"{name}.png")
    moved = apply_kernel(photos["coffee"], linear_kernel(15, 30.0))
    Image.fromarray(moved).save(tmp_path / "coffee_moved.png")
    files.append(tmp_path / "coffee_moved.png")
    f32 = {Path(r.path).name: r for r in rank_photos(files, model, precision="float32")}
    got = rank_photos(files, model, precision="int8")
    for r in got:
        ref = f32[Path(r.path).name]
        assert abs(r.blurred_share - ref.blurred_share) <= 0.02, r.path
        assert r.verdict == ref.verdict, r.path
    assert Path(got[0].path).name == "coffee_moved.png"


def test_rank_int8_refusals(tmp_path, model, monkeypatch):
    """Without onnxruntime, or with a blur-kind model: one BlurlibError naming the fix."""
    from blurlib.inference.rank import rank_photos

    monkeypatch.setattr(q8, "int8_available", lambda: False)
    with pytest.raises(BlurlibError, match="pip install onnxruntime"):
        rank_photos([tmp_path / "none.png"], model, precision="int8")
    monkeypatch.undo()

    from blurlib.nets.files import load_model

    with pytest.raises(BlurlibError, match="binary models only"):
        rank_photos([tmp_path / "none.png"], load_model("analysis"), precision="int8")


@pytest.mark.parametrize(
    ("flags", "native", "onnx", "want"),
    [
        ({"amx_bf16", "avx512_bf16", "avx512_vnni"}, True, True, "bfloat16"),  # Xeon, AMX
        ({"avx512_bf16", "avx512_vnni"}, True, True, "int8"),  # this EPYC
        ({"avx512_bf16", "avx512_vnni"}, True, False, "bfloat16"),  # ... without ONNX Runtime
        ({"avx2", "avx_vnni"}, False, True, "int8"),  # a laptop with AVX-VNNI
        ({"avx2"}, False, True, "float32"),  # plain AVX2: 8-bit products may saturate
        ({"avx2"}, False, False, "float32"),
    ],
)
def test_auto_arithmetic(monkeypatch, flags, native, onnx, want):
    """rank's precision "auto": bfloat16 with AMX, else int8 with VNNI and ONNX Runtime, else
    bfloat16 where native, else float32; a blur-kind model float32; explicit choices kept."""
    import blurlib.inference.bf16 as b16
    import blurlib.runtime as rt
    from blurlib.inference.rank import arithmetic

    monkeypatch.setattr(rt, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(b16, "bf16_native", lambda: native)
    monkeypatch.setattr(q8, "int8_available", lambda: onnx)
    assert arithmetic("auto") == want
    assert arithmetic("auto", kinds=True) == arithmetic("float32") == "float32"
    assert arithmetic("bfloat16") == ("bfloat16" if native else "float32")
    with pytest.raises(ValueError, match="precision must be one of"):
        arithmetic("fp8")


@needs_ort
def test_failed_quantisation_falls_back_once(monkeypatch, camera):
    """A network the quantiser cannot take: one RuntimeWarning, the bfloat16 path's numbers,
    and no second attempt on the next photo."""
    import warnings

    from blurlib.inference.bf16 import bf16_window_probabilities
    from blurlib.nets.builders import build_model

    net = build_model("compact", seed=0)
    calls = []

    def broken(chain):
        calls.append(1)
        raise RuntimeError("no kernel")

    monkeypatch.setattr(q8, "quantise", broken)
    with pytest.warns(RuntimeWarning, match="int8 windows unavailable"):
        got = q8.int8_window_probabilities(net, camera, 8, tile=700)
    assert np.array_equal(got, bf16_window_probabilities(net, camera, 8, tile=700))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q8.int8_window_probabilities(net, camera, 8, tile=700)
    assert len(calls) == 1
