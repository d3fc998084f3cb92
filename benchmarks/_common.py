"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``).

The dense-math ceiling the nets are compared with is the best float32 GEMM this machine
runs (:func:`gemm_ceiling`), not numpy's rate in the benchmark's own process: a machine may
set ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` (for reproducibility or to work around a
CPU-detection problem), which makes OpenBLAS pick an older, slower kernel. The ceiling
therefore measures numpy in a subprocess with both variables removed from *its*
environment only (:func:`numpy_matmul_ceiling`; the benchmark's own ``os.environ`` is never
changed), TensorFlow's own matmul (or ``keras.ops.matmul`` on other backends), and numpy
in-process as it runs here, and takes the largest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: OpenBLAS overrides that can select a slower kernel than the CPU supports
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_HERE = Path(__file__).resolve().parent

# run as ``python -c SNIPPET BENCHDIR N REPEATS`` with the overrides removed from its env
_SNIPPET = """\
import json, os, sys
sys.path.insert(0, sys.argv[1])
from _common import OPENBLAS_OVERRIDES, blas_info, numpy_matmul_gflops
rate = numpy_matmul_gflops(int(sys.argv[2]), int(sys.argv[3]))
env = {k: os.environ.get(k) for k in OPENBLAS_OVERRIDES}
print(json.dumps({"gflops": rate, "blas": blas_info(), "env": env}))
"""


def _best_rate(run: Callable[[], object], n: int, repeats: int) -> float:
    run()  # warm-up (and tracing) excluded
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def numpy_matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best numpy float32 n×n matmul rate in GFLOP/s (2 n³ FLOPs per product), measured in
    this process (so with whatever OpenBLAS settings this process runs under)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return _best_rate(lambda: a @ b, n, repeats)


def blas_info() -> list[dict] | None:
    """threadpoolctl's view of the BLAS libraries loaded in this process (internal_api,
    architecture — OpenBLAS' core type —, version, num_threads, ...), or None without
    threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keys = ("internal_api", "architecture", "version", "num_threads", "threading_layer", "filepath")
    return [
        {k: lib.get(k) for k in keys} for lib in threadpool_info() if lib.get("user_api") == "blas"
    ]


def kernel_name(info: list[dict] | None) -> str:
    """'OpenBLAS SkylakeX kernel' from :func:`blas_info`: numpy's own BLAS (other packages,
    e.g. OpenCV, may load a second OpenBLAS with a different kernel), else the first."""
    if not info:
        return "BLAS unknown (no threadpoolctl)" if info is None else "no BLAS seen"
    mine = [lib for lib in info if "numpy" in str(lib.get("filepath", ""))]
    lib = (mine or info)[0]
    api = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
        str(lib.get("internal_api")), str(lib.get("internal_api"))
    )
    arch = lib.get("architecture")
    return f"{api} {arch} kernel" if arch else api


def overrides_in_force(env: dict | None = None) -> dict[str, str]:
    """The OpenBLAS override variables set in ``env`` (default: this process)."""
    env = os.environ if env is None else env
    return {k: env[k] for k in OPENBLAS_OVERRIDES if k in env}


@dataclass
class Measurement:
    """One float32 GEMM rate; ``gflops`` is None when it could not be measured."""

    key: str
    label: str
    gflops: float | None
    info: dict = field(default_factory=dict)
    error: str | None = None


def numpy_matmul_ceiling(n: int = 2048, repeats: int = 5, timeout: float = 300) -> Measurement:
    """numpy's float32 matmul in a fresh subprocess whose environment has
    ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` both removed (so OpenBLAS picks its kernel
    for the CPU itself); this process' environment is left alone. ``info`` holds the
    subprocess' threadpoolctl BLAS info and the two variables as it saw them."""
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_OVERRIDES}
    cmd = [sys.executable, "-c", _SNIPPET, str(_HERE), str(n), str(repeats)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"numpy subprocess failed ({res.returncode}): {res.stderr[-1000:]}")
    out = json.loads(lines[-1])
    label = f"numpy/{kernel_name(out['blas'])}, OPENBLAS_CORETYPE/L2_SIZE unset, subprocess"
    return Measurement(
        "numpy_subprocess",
        label,
        float(out["gflops"]),
        {"blas": out["blas"], "env": out["env"]},
    )


def tf_matmul_gflops(n: int = 2048, repeats: int = 5) -> float | None:
    """TensorFlow's own float32 n×n matmul on the CPU in GFLOP/s (best of ``repeats``,
    warm-up excluded), or None when TensorFlow cannot be imported."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    with tf.device("/CPU:0"):
        a = tf.random.stateless_normal((n, n), seed=(0, 0), dtype=tf.float32)
        b = tf.random.stateless_normal((n, n), seed=(0, 1), dtype=tf.float32)
        return _best_rate(lambda: tf.matmul(a, b)[0, 0].numpy(), n, repeats)


def keras_matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """``keras.ops.matmul`` float32 n×n on the backend's default device in GFLOP/s (the
    backend-neutral path, e.g. JAX), one element fetched so that the product has finished."""
    from keras import ops

    rng = np.random.default_rng(0)
    a = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    b = ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32))
    return _best_rate(lambda: ops.convert_to_numpy(ops.matmul(a, b)[0, 0]), n, repeats)


def _keras_backend() -> str:
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def measure_framework(n: int = 2048, repeats: int = 5) -> Measurement:
    """TensorFlow's matmul under the TensorFlow backend, else ``keras.ops.matmul``."""
    backend = _keras_backend()
    if backend == "tensorflow":
        rate = tf_matmul_gflops(n, repeats)
        if rate is not None:
            return Measurement("tf", "TF matmul", rate)
    rate = keras_matmul_gflops(n, repeats)
    return Measurement(f"keras_{backend}", f"keras.ops.matmul ({backend})", rate)


def measure_numpy_in_process(n: int = 2048, repeats: int = 5) -> Measurement:
    """numpy in this process, as the benchmarks ran it before (overrides in force if set)."""
    rate = numpy_matmul_gflops(n, repeats)
    over = overrides_in_force()
    info = blas_info()
    where = (
        "with this machine's overrides " + ", ".join(f"{k}={v}" for k, v in over.items())
        if over
        else "no OpenBLAS overrides set"
    )
    label = f"numpy in-process/{kernel_name(info)}, {where}"
    return Measurement("numpy_in_process", label, rate, {"blas": info, "env": over})


DEFAULT_MEASURERS = ("numpy_matmul_ceiling", "measure_framework", "measure_numpy_in_process")


@dataclass
class GemmCeiling:
    """Every float32 GEMM measurement of :func:`gemm_ceiling`; the largest is the ceiling."""

    measurements: list[Measurement]

    @property
    def best(self) -> Measurement:
        ok = [m for m in self.measurements if m.gflops is not None]
        if not ok:
            raise RuntimeError("no GEMM measurement succeeded: " + self.describe())
        return max(ok, key=lambda m: m.gflops)

    @property
    def gflops(self) -> float:
        """The ceiling, GFLOP/s."""
        return float(self.best.gflops)

    def describe(self) -> str:
        """One line naming every measurement, the ceiling first."""
        ok = [m for m in self.measurements if m.gflops is not None]
        best = max(ok, key=lambda m: m.gflops) if ok else None
        parts = [f"ceiling {best.gflops:.0f} GFLOP/s ({best.label})"] if best else []
        for m in self.measurements:
            if m is best:
                continue
            if m.gflops is None:
                parts.append(f"{m.label}: unavailable ({m.error})")
            else:
                parts.append(f"{m.label} {m.gflops:.0f}")
        return "; ".join(parts)

    def as_dict(self) -> dict:
        """JSON-friendly: every measurement and the ceiling."""
        return {
            "ceiling_gflops": self.gflops,
            "best": self.best.key,
            "describe": self.describe(),
            "measurements": [m.__dict__ for m in self.measurements],
        }


def gemm_ceiling(
    n: int = 2048,
    repeats: int = 5,
    measurers: Sequence[Callable[[int, int], Measurement]] | None = None,
) -> GemmCeiling:
    """The best float32 GEMM this machine runs: numpy in a subprocess without the OpenBLAS
    overrides, the framework's matmul, numpy in-process; a measurer that fails is recorded
    as unavailable and the others still count."""
    if measurers is None:
        measurers = [globals()[name] for name in DEFAULT_MEASURERS]
    out = []
    for fn in measurers:
        try:
            out.append(fn(n, repeats))
        except Exception as e:  # one missing framework must not lose the others
            name = getattr(fn, "__name__", repr(fn))
            out.append(Measurement(name, name, None, error=f"{type(e).__name__}: {e}"))
    return GemmCeiling(out)
