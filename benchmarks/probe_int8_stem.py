"""Probe (stop 36): does quantising the first convolution speed up ``rank``'s int8 windows?

ONNX Runtime's profile of :mod:`blurlib.inference.int8`'s network puts about a quarter of a
pass in its first convolution (three input channels, kept in float32) and the layout reorder
after it. Two variants of the same quantised chain, side by side in one run, on the ten
bundled photos enlarged to ``--side`` px (one tile, stride 8, as ``rank`` runs them), one
thread each:

* ``shipped``: the first convolution in float32 (what :func:`blurlib.inference.int8.quantise`
  does);
* ``stem8``: every convolution but the 1×1 output one in 8 bits (the softmax in float32),
  and the photo fed as uint8 (its quantiser is replaced by scale 1, zero point 0: exact for
  0–255 photos, so the float32 input and its quantisation disappear).

Printed per variant: CPU seconds per photo (median of ``--repeats`` rounds, interleaved),
the error against the float32 ONNX chain (mean |ΔP|, windows across 0.5), and the operator
profile (share of the pass per operator kind). Not a shipped path: a measured lever.
Stop 36, beside a training (2 cores), three rounds: shipped 0.361 CPU-s per photo, mean
|ΔP| 0.0059, 0.65 % of windows across 0.5; stem8 0.350 CPU-s (−3 %), 0.0083, 0.92 %. The
first convolution in 8 bits is as slow as in float32 plus the reorder (ONNX Runtime's 8-bit
kernels gain nothing on three input channels), so it stays float32; a cheaper stem means
another network.

    python benchmarks/probe_int8_stem.py --repeats 5
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _uint8_input(data: bytes) -> bytes:
    """The QDQ model ``data`` with its input quantiser removed: the photo enters as uint8 and
    is dequantised with scale 1, zero point 0."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load_from_string(data)
    g = model.graph
    quant = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == "image")
    inits = {i.name: i for i in g.initializer}
    g.node.remove(quant)
    for node in g.node:
        for k, name in enumerate(node.input):
            if name == quant.output[0]:
                node.input[k] = "image"
        if node.op_type == "DequantizeLinear" and node.input[0] == "image":
            scale, zero = node.input[1], node.input[2]
            inits[scale].CopyFrom(numpy_helper.from_array(np.array(1.0, np.float32), scale))
            inits[zero].CopyFrom(numpy_helper.from_array(np.array(0, np.uint8), zero))
    g.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    return model.SerializeToString()


def _session(data: bytes, profile_dir: str | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_dir:
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(profile_dir, "ort")
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def _profile(data: bytes, inputs: list[np.ndarray]) -> list[tuple[str, float]]:
    """Share of the pass per operator kind, from ONNX Runtime's profiler."""
    with tempfile.TemporaryDirectory() as tmp:
        s = _session(data, tmp)
        for x in inputs:
            s.run(None, {"image": x})
        with open(s.end_profiling()) as f:
            events = json.load(f)
    spent: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            spent[e["args"].get("op_name", "?")] += e["dur"]
    total = sum(spent.values()) or 1
    return [(op, d / total) for op, d in spent.most_common(6)]


def main(argv: list[str] | None = None) -> int:
    """Measure both variants; print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--side", type=int, default=1280, help="photos' longer side (px)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    import cv2

    from blurlib.data.samples import sample_images
    from blurlib.inference import int8
    from blurlib.inference.rank import RANK_STRIDE
    from blurlib.inference.windows import fully_convolutional, one_tile_input
    from blurlib.model import load_model

    if not int8.int8_available():
        print("onnxruntime and onnx are needed: pip install -r requirements.txt")
        return 1
    fcn, s, _ = fully_convolutional(load_model())
    chain = int8.onnx_chain(fcn, RANK_STRIDE // s)
    photos = []  # the bundled photos (~512 px) enlarged to a camera photo's analysis size
    for _, img in sample_images():
        f = args.side / max(img.shape[:2])
        size = (round(img.shape[1] * f), round(img.shape[0] * f))
        photos.append(cv2.resize(img, size, interpolation=cv2.INTER_LINEAR))
    inputs = []
    for p in photos:
        buf = one_tile_input(p.astype(np.float32), s, None)
        assert buf is not None
        inputs.append(np.ascontiguousarray(buf.transpose(0, 3, 1, 2)))
    shipped = int8.quantise(chain)
    convs = [n.name for n in chain.graph.node if n.op_type == "Conv"]
    keep = [convs[-1]] + [n.name for n in chain.graph.node if n.op_type == "Softmax"]
    with_stem = int8.quantise(chain, keep)
    variants = {"shipped": (shipped, False), "stem8": (_uint8_input(with_stem), True)}
    ref = _session(chain.SerializeToString())
    truth = [ref.run(None, {"image": x})[0][0, 1] for x in inputs]
    feeds = {
        k: [x.astype(np.uint8) if u8 else x for x in inputs] for k, (_, u8) in variants.items()
    }
    sessions = {k: _session(d) for k, (d, _) in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.repeats):
        for k, sess in sessions.items():
            t = time.process_time()
            for x in feeds[k]:
                sess.run(None, {"image": x})
            times[k].append((time.process_time() - t) / len(inputs))
    print(f"{len(inputs)} bundled photos at {args.side} px, stride {RANK_STRIDE}, 1 thread")
    print("| variant | CPU-s / photo (median) | mean abs dP vs float32 | windows across 0.5 |")
    print("|---|---:|---:|---:|")
    for k, sess in sessions.items():
        got = [sess.run(None, {"image": x})[0][0, 1] for x in feeds[k]]
        err = np.mean([np.abs(a - b).mean() for a, b in zip(got, truth, strict=True)])
        flips = np.mean([((a > 0.5) != (b > 0.5)).mean() for a, b in zip(got, truth, strict=True)])
        print(f"| {k} | {statistics.median(times[k]):.3f} | {err:.4f} | {100 * flips:.2f} % |")
    for k, (data, _) in variants.items():
        shares = ", ".join(f"{op} {100 * f:.0f} %" for op, f in _profile(data, feeds[k]))
        print(f"{k} profile: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
