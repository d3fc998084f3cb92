"""Window probabilities in 8-bit integers through ONNX Runtime, for ranking many photos fast on
CPUs without Intel AMX.

A binary model's cached fully-convolutional network
(:func:`blurlib.inference.windows.fully_convolutional`: a plain chain of valid convolutions
with ReLU, 2×2 max pools and a softmax head) is written as an ONNX graph (:func:`onnx_chain`,
channels first), its convolutions quantised statically — weights to int8 per output channel,
activations to uint8 with ranges measured once (the 99.99th percentile of each activation over
the centre crops of :data:`CALIBRATION` px of the ten bundled photos, deterministic) —
and run by ONNX Runtime, whose 8-bit kernels use the CPU's integer dot products (AVX-512 VNNI,
AVX-VNNI, AVX2). The first convolution (three input channels: little arithmetic, and the one
that loses most in 8 bits), the last one and the softmax stay in float32, so probabilities are
not rounded to 1/256. (Against min–max ranges with the first convolution quantised, this
halves the error: on ``chelsea`` at 1280 px the mean difference from float32 0.020 → 0.008,
windows across 0.5 2.9 → 1.4 %, at the same speed.)

Same geometry as :func:`blurlib.inference.bf16.bf16_window_probabilities` (one tile, the grid
padded to a multiple of 4 windows, the head strided by ``stride // native`` so only the
windows used are computed); only the arithmetic differs. Each head stride is quantised on its
own (the head's activation range is measured on the windows it computes), so stride 8's
windows are stride 4's every other one within ~0.05, not exactly. 8-bit activations move window
probabilities more than bfloat16 does: on the bundled photos at 1280 px by 0.003–0.009 on
average (bfloat16 0.001–0.003), 0.2–1.4 % of windows change side of 0.5 (bfloat16 0.05–0.6 %),
a photo's blurred share by ≤ 0.003 (``tests/test_int8.py`` pins looser bounds). Quantising
takes a few seconds, once per process and head stride. On an AMD EPYC with AVX-512 VNNI and
BF16 (no AMX), quiet, 2 cores: 0.29 CPU-s per 1280×960 photo at stride 8 against the bfloat16
twin's 0.42–0.44 (~1.45×), and ``rank`` 5.2–5.4 photos/s against 4.0–4.2 in bfloat16 (three
runs of ``python benchmarks/bench_rank.py --n 30 --n-predict 4 --breakdown``).

Where it does not apply — onnxruntime not installed (:func:`int8_available`), a network that
is not such a chain, a stride that is no multiple of the native stride, a photo larger than one
tile, sparse windows (the 30-px grid, cropped window by window) — it returns
:func:`blurlib.inference.bf16.bf16_window_probabilities` (bfloat16 where the CPU computes it
natively, else float32).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tempfile
import threading
import warnings
import weakref
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.inference.windows import (
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    as_image,
    cropping_pays,
    fully_convolutional,
    one_tile_input,
    window_grid_shape,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

CALIBRATION = 300  # side of the bundled photos' centre crops that set the activation ranges (px)
PERCENTILE = 99.99  # of each activation's magnitudes over the crops: its quantisation range
_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class _NoPreprocessAdvice(logging.Filter):
    """Drop the quantiser's "consider pre-processing" advice (a plain chain has nothing to
    pre-process; it would print on every rank run)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


@lru_cache(maxsize=1)
def int8_available() -> bool:
    """Whether ONNX Runtime and the ``onnx`` package (which its quantiser needs) import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_chain(fcn: Any, head_stride: int = 1) -> Any:
    """Return an ``onnx.ModelProto`` computing ``fcn`` (a plain chain of Conv2D with ReLU or
    softmax activations and 2×2 MaxPooling2D) on ``(1, 3, H, W)`` float32, channels first,
    output ``(1, C, rows, cols)``; ``head_stride`` k > 1 writes
    :func:`blurlib.nets.fully_conv.strided_head` ``(fcn, k)`` instead (every k-th window of
    each row and column, exactly). ValueError for any other layer, or a head that cannot be
    strided."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from blurlib.nets.fully_conv import strided_head

    if head_stride > 1:
        strided = strided_head(fcn, head_stride)
        if strided is None:
            raise ValueError(f"the network's head cannot be strided by {head_stride}")
        fcn = strided
    nodes: list[Any] = []
    weights: list[Any] = []
    x = "image"
    for n, layer in enumerate(fcn.layers):
        kind, cfg = type(layer).__name__, layer.get_config()
        if kind == "InputLayer":
            continue
        if kind == "Conv2D":
            if cfg["padding"] != "valid" or tuple(cfg["dilation_rate"]) != (1, 1):
                raise ValueError(f"layer {layer.name}: only valid, undilated convolutions")
            kernel, bias = layer.get_weights()
            k = tuple(cfg["strides"])
            weights += [
                numpy_helper.from_array(
                    np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), np.float32), f"w{n}"
                ),
                numpy_helper.from_array(np.asarray(bias, np.float32), f"b{n}"),
            ]
            nodes.append(
                helper.make_node(
                    "Conv",
                    [x, f"w{n}", f"b{n}"],
                    [f"conv{n}"],
                    kernel_shape=list(kernel.shape[:2]),
                    strides=list(k),
                    name=f"conv{n}",
                )
            )
            x = f"conv{n}"
            act = cfg["activation"]
            if act == "relu":
                nodes.append(helper.make_node("Relu", [x], [f"relu{n}"], name=f"relu{n}"))
                x = f"relu{n}"
            elif act == "softmax":
                nodes.append(helper.make_node("Softmax", [x], [f"soft{n}"], axis=1, name="softmax"))
                x = f"soft{n}"
            elif act != "linear":
                raise ValueError(f"layer {layer.name}: activation {act!r} not supported")
        elif kind == "MaxPooling2D" and tuple(cfg["pool_size"]) == tuple(cfg["strides"]) == (2, 2):
            nodes.append(
                helper.make_node(
                    "MaxPool",
                    [x],
                    [f"pool{n}"],
                    kernel_shape=[2, 2],
                    strides=[2, 2],
                    name=f"pool{n}",
                )
            )
            x = f"pool{n}"
        else:
            raise ValueError(f"layer {layer.name} ({kind}) cannot be written as ONNX here")
    channels = int(fcn.outputs[0].shape[-1])
    graph = helper.make_graph(
        nodes,
        "blurlib_windows",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, channels, None, None])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _calibration_images() -> list[np.ndarray]:
    """The centre crop of :data:`CALIBRATION` px of each bundled photo, float32
    ``(1, 3, C, C)`` (one shape: the percentile calibration stacks them)."""
    from blurlib.data.samples import sample_images

    c, out = CALIBRATION, []
    for _, img in sample_images():
        y, x = (img.shape[0] - c) // 2, (img.shape[1] - c) // 2
        crop = img[y : y + c, x : x + c].transpose(2, 0, 1)[None]
        out.append(np.ascontiguousarray(crop, np.float32))
    return out


def quantise(chain: Any, keep: list[str] | None = None) -> bytes:
    """Return the serialised int8 model of the float32 ONNX graph ``chain`` (module
    docstring: static quantisation; the nodes named in ``keep`` stay float32 — by default
    the first and last convolutions and the softmax)."""
    from onnxruntime.quantization import CalibrationDataReader

    images = _calibration_images()

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"image": a} for a in images])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    if keep is None:
        convs = [n.name for n in chain.graph.node if n.op_type == "Conv"]
        soft = [n.name for n in chain.graph.node if n.op_type == "Softmax"]
        keep = [convs[0], convs[-1], *soft]
    # ONNX Runtime's quantiser prints its calibration steps and logs advice through the root
    # logger, which would also configure logging (basicConfig) for the whole program: its
    # prints go nowhere, its advice is dropped, and a null handler keeps logging unconfigured
    root, advice, quiet = logging.getLogger(), _NoPreprocessAdvice(), logging.NullHandler()
    root.addFilter(advice)
    bare = not root.handlers
    if bare:
        root.addHandler(quiet)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return _quantise_files(chain, Reader(), keep)
    finally:
        root.removeFilter(advice)
        if bare:
            root.removeHandler(quiet)


def _quantise_files(chain: Any, reader: Any, keep: list[str]) -> bytes:
    """:func:`quantize_static` between two files of a temporary folder; the int8 bytes."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="blurlib-int8-") as tmp:
        src, dst = os.path.join(tmp, "float32.onnx"), os.path.join(tmp, "int8.onnx")
        onnx.save(chain, src)
        quantize_static(
            src,
            dst,
            reader,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=keep,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": PERCENTILE},
        )
        with open(dst, "rb") as f:
            return f.read()


def int8_session(
    model: keras.Model, head_stride: int = 1, threads: int = 0
) -> tuple[Any | None, int]:
    """Return an ONNX Runtime session of ``model``'s int8 network (``head_stride`` as in
    :func:`onnx_chain`; ``threads`` = its intra-op threads, 0: ONNX Runtime's choice, never
    spinning while idle) and the native stride. Quantised once per converted network and
    head stride, and cached; None (also cached) where the network cannot be written or
    quantised, so that callers take another path without trying again."""
    import onnxruntime as ort

    fcn, stride, _ = fully_convolutional(model)
    with _LOCK:  # one quantisation, even when several threads ask at once
        hit = _SESSIONS.get(model)
        if hit is None or hit[0] is not fcn:
            hit = _SESSIONS[model] = (fcn, {}, {})
        quantised, sessions = hit[1], hit[2]
        key = (head_stride, threads)
        try:
            if head_stride not in quantised:
                quantised[head_stride] = quantise(onnx_chain(fcn, head_stride))
            data = quantised[head_stride]
            if key not in sessions and data is not None:
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                sessions[key] = ort.InferenceSession(
                    data, options, providers=["CPUExecutionProvider"]
                )
        except Exception as exc:  # any failure (a layer, the checker, the runtime): cached,
            quantised.setdefault(head_stride, None)  # so that it is not tried again
            sessions[key] = None
            msg = f"int8 windows unavailable ({exc}); using the bfloat16/float32 path"
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
    return sessions.get(key), stride


def int8_window_probabilities(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
    threads: int = 0,
) -> np.ndarray:
    """Return ``(rows, cols)`` float32 P(blurred) of the windows at ``stride``, as
    :func:`blurlib.inference.windows.window_probabilities`, computed in 8-bit integers where
    that applies (see the module docstring), else by
    :func:`blurlib.inference.bf16.bf16_window_probabilities`."""
    from blurlib.inference.bf16 import bf16_window_probabilities
    from blurlib.nets.builders import blur_probability

    fcn, s, _ = fully_convolutional(model)
    image = as_image(image, PATCH)
    h, w = image.shape[:2]
    usable = int8_available() and not stride % s and not cropping_pays(fcn, s, PATCH, h, w, stride)
    buf = one_tile_input(image, s, tile) if usable else None
    if buf is None:
        return bf16_window_probabilities(model, image, stride, tile=tile)
    session, _ = int8_session(model, stride // s, threads)
    if session is None:  # not a chain it can write or quantise
        return bf16_window_probabilities(model, image, stride, tile=tile)
    chw = np.ascontiguousarray(buf.transpose(0, 3, 1, 2))
    out = session.run(None, {"image": chw})[0][0].transpose(1, 2, 0)
    rows, cols = window_grid_shape(h, w, s, PATCH)
    k = stride // s
    probs = blur_probability(out)[: -(-rows // k), : -(-cols // k)]
    return np.ascontiguousarray(probs, dtype=np.float32)


def int8_prepare(model: keras.Model, stride: int = DEFAULT_STRIDE, threads: int = 0) -> None:
    """Quantise ``model`` now into the session :func:`int8_window_probabilities` runs at
    ``stride`` (cached), so that later calls, e.g. from several threads, find it ready."""
    _, s, _ = fully_convolutional(model)
    if int8_available() and stride % s == 0:
        int8_session(model, stride // s, threads)


def recipe() -> str:
    """What the int8 windows depend on besides the model: the quantisation settings and the
    ONNX Runtime version (part of ``rank``'s cache key, so a change re-analyses)."""
    import onnxruntime

    return f"p{PERCENTILE:g}-c{CALIBRATION}-ort{onnxruntime.__version__}"
