"""Start Keras quietly: the deep-learning runtime's C++ start-up lines kept off the user's stderr.

TensorFlow writes its start-up notices through absl/C++ logging straight to file descriptor 2,
before (and regardless of) ``TF_CPP_MIN_LOG_LEVEL``: ``oneDNN custom operations are on``,
``Could not find cuda drivers``, ``failed call to cuInit: INTERNAL: CUDA error`` on a machine
without a GPU. A newcomer reads them as failures. :func:`start_keras` imports Keras (and with
it the backend), lets the backend look for its devices, and replays on stderr every line that
was written meanwhile **except** the known start-up notices (:data:`NOISE`), so a real error
still shows.

:func:`cpu_flags` reads the CPU's feature flags (Linux), and :func:`prefer_onednn_for_training`
turns TensorFlow's oneDNN kernels on for a training run on the x86 CPUs where the TensorFlow
wheel leaves them off by default (Linux: no AVX-512 VNNI/BF16, AVX-VNNI or AMX;
``benchmarks/bench_onednn.py``: 1.23× the training speed on an AVX2-only AMD EPYC, but 0.82×
for dense maps, so only ``train`` asks for it).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

__all__ = [
    "NOISE",
    "ONEDNN_DEFAULT_ON",
    "cpu_flags",
    "filtered_stderr",
    "prefer_onednn_for_training",
    "start_keras",
]

# Lines of TensorFlow/JAX/absl start-up chatter that say nothing is wrong.
NOISE = re.compile(
    r"All log messages before absl::InitializeLog"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|Attempting to register factory for plugin"
    r"|computation_placer\.cc"
    r"|TF-TRT Warning"
    r"|This TensorFlow binary is optimized"
    r"|rebuild TensorFlow with the appropriate compiler flags"
    r"|cuda_executor\.cc|cuda_diagnostics\.cc|cuda_dnn\.cc|cuda_blas\.cc|cuda_fft\.cc"
    r"|An NVIDIA GPU may be present on this machine"
)

_started = False


@contextlib.contextmanager
def filtered_stderr(noise: re.Pattern[str] = NOISE) -> Iterator[None]:
    """Capture file descriptor 2 for the block, then replay its lines not matching ``noise``."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        try:
            os.dup2(capture.fileno(), 2)
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [
                line
                for line in capture.read().decode("utf-8", "replace").splitlines()
                if line.strip() and not noise.search(line)
            ]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def start_keras() -> Any:
    """Return the ``keras`` module, imported (once) with the backend's start-up notices filtered."""
    global _started
    if _started:
        import keras

        return keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with filtered_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery: where cuInit complains
        elif keras.backend.backend() == "jax":
            import jax

            jax.devices()
    _started = True
    return keras


#: CPU flags with which TensorFlow's Linux wheels turn oneDNN on by default (its
#: ``DefaultOneDnnPolicy``: AVX512_VNNI, AVX512_BF16, AVX_VNNI, AMX_TILE/INT8/BF16)
ONEDNN_DEFAULT_ON = frozenset(
    {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}
)


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx512f``, ``amx_bf16`` …) from ``/proc/cpuinfo``; empty
    where that cannot be read (not Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            line = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def prefer_onednn_for_training(flags: frozenset[str] | None = None) -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` when it is unset, TensorFlow is not imported yet and
    the CPU (``flags``, default :func:`cpu_flags`) is an x86 one on which TensorFlow leaves
    oneDNN off by default (:data:`ONEDNN_DEFAULT_ON` absent), although it trains faster there.
    Returns whether it set it. The user's own setting, either way, is always kept."""
    if "TF_ENABLE_ONEDNN_OPTS" in os.environ or "tensorflow" in sys.modules:
        return False
    flags = cpu_flags() if flags is None else flags
    if "avx2" not in flags or flags & ONEDNN_DEFAULT_ON:  # not x86, or on by default already
        return False
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    return True
