"""Start Keras quietly: the deep-learning runtime's C++ start-up lines kept off the user's stderr.

TensorFlow writes its start-up notices through absl/C++ logging straight to file descriptor 2,
before (and regardless of) ``TF_CPP_MIN_LOG_LEVEL``: ``oneDNN custom operations are on``,
``Could not find cuda drivers``, ``failed call to cuInit: INTERNAL: CUDA error`` on a machine
without a GPU. A newcomer reads them as failures. :func:`start_keras` imports Keras (and with
it the backend), lets the backend look for its devices, and replays on stderr every line that
was written meanwhile **except** the known start-up notices (:data:`NOISE`), so a real error
still shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

__all__ = ["NOISE", "filtered_stderr", "start_keras"]

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
