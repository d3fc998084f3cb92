"""Devices: which strategy, which precision, XLA or not, on whichever Keras backend.

:func:`choose_strategy`, :func:`choose_precision`, :func:`choose_jit` — CPU, one GPU,
several GPUs (``MirroredStrategy``), several machines (``MultiWorkerMirroredStrategy``
from ``TF_CONFIG``); mixed float16 only on GPUs with compute capability ≥ 7.0 (the
model's softmax stays float32); XLA where it helps.

TensorFlow is imported lazily inside the functions that need it. On another Keras backend
(``KERAS_BACKEND=jax`` or ``torch``, e.g. a GPU machine without TensorFlow)
:func:`choose_strategy` gives a :class:`PortableStrategy` — one device, or under JAX all of
them through ``keras.distribution.DataParallel``. Not there: ``MultiWorkerMirroredStrategy``,
op determinism and TensorBoard (which writes through TensorFlow).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib.errors import BlurlibError
from blurlib.runtime import ONEDNN_DEFAULT_ON, cpu_flags

if TYPE_CHECKING:  # pragma: no cover
    import keras

STRATEGIES = ("auto", "cpu", "gpu", "mirrored", "multiworker")
PRECISIONS = ("auto", "on", "off", "bf16")
JIT_MODES = ("auto", "on", "off")


def keras_backend() -> str:
    """Return the name of the Keras backend (``"tensorflow"``, ``"jax"``, ``"torch"``)."""
    import keras

    return keras.backend.backend()


def gpu_info() -> list[dict[str, Any]]:
    """Return name and compute capability of each visible GPU (empty list on CPU), as the
    Keras backend sees them."""
    backend = keras_backend()
    if backend != "tensorflow":
        return _portable_gpu_info(backend)
    import tensorflow as tf

    out = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (ValueError, RuntimeError):  # pragma: no cover - driver without details
            details = {}
        cc = details.get("compute_capability")
        out.append(
            {
                "device": gpu.name,
                "name": details.get("device_name", ""),
                "compute_capability": list(cc) if cc else None,
            }
        )
    return out


def choose_strategy(kind: str = "auto", devices: Sequence[str] | None = None) -> Any:
    """Return a ``tf.distribute.Strategy`` for ``kind``.

    ``auto``: one GPU → ``OneDeviceStrategy`` on it, several → ``MirroredStrategy`` over
    them, none → the default strategy (CPU). ``cpu`` forces the CPU, ``gpu`` the first GPU.
    ``mirrored``: ``MirroredStrategy(devices)`` (default: all GPUs, or the CPU). ``multiworker``:
    ``MultiWorkerMirroredStrategy`` set up from the ``TF_CONFIG`` environment variable (make
    it before any other TensorFlow work in the process).

    On another Keras backend the answer is a :class:`PortableStrategy` (see there).
    """
    if kind not in STRATEGIES:
        raise BlurlibError(f"unknown strategy {kind!r}; choose one of {', '.join(STRATEGIES)}")
    if keras_backend() != "tensorflow":
        return _portable_strategy(kind, devices)
    import tensorflow as tf

    if kind == "multiworker":
        tf_config = os.environ.get("TF_CONFIG")
        if not tf_config:
            raise BlurlibError(
                "strategy 'multiworker' needs the TF_CONFIG environment variable "
                '({"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}) '
                "on every machine"
            )
        try:
            json.loads(tf_config)
        except ValueError as exc:
            raise BlurlibError(f"TF_CONFIG is not valid JSON: {exc}") from exc
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored":
        if devices is None:
            devices = [d.name for d in gpus] or ["/cpu:0"]
        return tf.distribute.MirroredStrategy(devices=list(devices))
    if devices is not None:
        raise ValueError(f"devices= applies to 'mirrored' only, not {kind!r}")
    if kind == "cpu":
        return tf.distribute.OneDeviceStrategy("/cpu:0")
    if kind == "gpu":
        if not gpus:
            raise BlurlibError("strategy 'gpu' asked for, but TensorFlow sees no GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(devices=[d.name for d in gpus])
    if len(gpus) == 1:
        return tf.distribute.OneDeviceStrategy(gpus[0].name)
    return tf.distribute.get_strategy()


@dataclass
class PortableStrategy:
    """Devices for training on a Keras backend other than TensorFlow; it plays the part of
    a ``tf.distribute`` strategy in :func:`fit`. ``distribution`` is a
    ``keras.distribution.DataParallel`` over ``devices`` (JAX only: each device gets an
    equal share of every batch, gradients are averaged), or None for Keras' own placement
    on one device."""

    devices: list[str]
    distribution: Any = None

    @property
    def num_replicas_in_sync(self) -> int:
        return len(self.devices) if self.distribution is not None else 1

    def scope(self) -> Any:
        """The distribution's scope (build, compile and fit inside it), or a no-op."""
        import contextlib

        return (
            self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()
        )


def _portable_devices(backend: str) -> list[str]:
    """The backend's devices, accelerators first (e.g. ``["cuda:0", "cuda:1"]``, ``["cpu:0"]``)."""
    if backend == "jax":
        import jax

        accel = [f"{d.platform}:{d.id}" for d in jax.devices() if d.platform != "cpu"]
        return accel or [f"cpu:{d.id}" for d in jax.devices("cpu")]
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu:0"]


def _portable_strategy(kind: str, devices: Sequence[str] | None) -> PortableStrategy:
    backend = keras_backend()
    if kind == "multiworker":
        raise BlurlibError(
            f"strategy 'multiworker' (TF_CONFIG) needs KERAS_BACKEND=tensorflow, not {backend}"
        )
    found = _portable_devices(backend)
    accel = [d for d in found if not d.startswith("cpu")]
    if devices is not None and kind != "mirrored":
        raise ValueError(f"devices= applies to 'mirrored' only, not {kind!r}")
    if kind == "cpu":
        if accel:
            raise BlurlibError(
                f"strategy 'cpu' on the {backend} backend with a GPU visible: hide the GPUs "
                "(CUDA_VISIBLE_DEVICES=) to train on the CPU"
            )
        return PortableStrategy(["cpu:0"])
    if kind == "gpu":
        if not accel:
            raise BlurlibError(f"strategy 'gpu' asked for, but {backend} sees no GPU")
        return PortableStrategy(accel[:1])
    if kind == "mirrored" or (kind == "auto" and len(accel) > 1):
        chosen = list(devices) if devices is not None else found
        if backend != "jax":
            if len(chosen) > 1:
                raise BlurlibError(
                    f"several devices need KERAS_BACKEND=jax or tensorflow, not {backend}"
                )
            return PortableStrategy(chosen)
        import keras

        return PortableStrategy(chosen, keras.distribution.DataParallel(devices=chosen))
    return PortableStrategy(found[:1])


def _portable_gpu_info(backend: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if backend == "jax":
        import jax

        for d in jax.devices():
            if d.platform == "cpu":
                continue
            cc = getattr(d, "compute_capability", None)
            out.append(
                {
                    "device": f"{d.platform}:{d.id}",
                    "name": d.device_kind,
                    "compute_capability": [int(v) for v in str(cc).split(".")] if cc else None,
                }
            )
    elif backend == "torch":
        import torch

        for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            out.append(
                {
                    "device": f"cuda:{i}",
                    "name": torch.cuda.get_device_name(i),
                    "compute_capability": list(torch.cuda.get_device_capability(i)),
                }
            )
    return out


def _worker_devices(strategy: Any) -> list[str] | None:
    """The strategy's compute devices; None for the default strategy (TF's own placement)."""
    try:
        devices = strategy.extended.worker_devices
    except (AttributeError, RuntimeError):  # the default strategy has none
        return None
    return [str(d) for d in devices]


def strategy_devices(strategy: Any) -> list[str]:
    """Return the names of the devices ``strategy`` trains on."""
    if isinstance(strategy, PortableStrategy):
        return list(strategy.devices)
    import tensorflow as tf

    devices = _worker_devices(strategy)
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        return [gpus[0].name] if gpus else ["/cpu:0"]
    return devices


def _uses_gpu(strategy: Any) -> bool:
    """Whether any of the strategy's devices is a GPU."""
    return any("GPU" in d.upper() or "CUDA" in d.upper() for d in strategy_devices(strategy))


def choose_precision(mode: str = "auto", strategy: Any = None) -> str:
    """Return the Keras dtype policy name: ``"mixed_float16"``, ``"mixed_bfloat16"`` or
    ``"float32"``.

    ``auto`` → mixed float16 only when training runs on GPUs that all have compute
    capability ≥ 7.0 (tensor cores); on CPUs float16 is slower than float32. ``bf16`` →
    mixed bfloat16 (float32 weights, bfloat16 arithmetic, no loss scaling), for CPUs that
    compute bfloat16 natively (AVX-512 BF16, AMX): the compact net trained 1.12× float32's
    speed on an AMD EPYC with AVX-512 BF16 (``benchmarks/bench_train.py --precision bf16``).
    """
    if mode not in PRECISIONS and mode not in (True, False):
        raise BlurlibError(f"unknown mixed-precision mode {mode!r}; choose auto, on, off or bf16")
    if mode == "bf16":
        return "mixed_bfloat16"
    if mode in ("on", True):
        return "mixed_float16"
    if mode in ("off", False):
        return "float32"
    if strategy is not None and not _uses_gpu(strategy):
        return "float32"
    gpus = gpu_info()
    ok = gpus and all(g["compute_capability"] and g["compute_capability"][0] >= 7 for g in gpus)
    return "mixed_float16" if ok else "float32"


def choose_jit(mode: str | bool = "auto", strategy: Any = None) -> bool:
    """Return whether to compile the train step with XLA.

    ``auto`` → on for a single-replica GPU run; off on the CPU, where XLA made training
    slower in ``benchmarks/bench_train.py`` (TF 2.21, 2 cores: report net 2.1–3.6× and
    compact net 1.7–2.7× slower); off with several replicas, as Keras' own ``auto`` does
    under ``tf.distribute``. On JAX always on (JAX compiles every step), on PyTorch off.
    """
    if mode in (True, "on", "true"):
        return True
    if mode in (False, "off", "false"):
        return False
    if mode != "auto":
        raise BlurlibError(f"unknown jit_compile mode {mode!r}; choose auto, on or off")
    if isinstance(strategy, PortableStrategy) or (
        strategy is None and keras_backend() != "tensorflow"
    ):
        return keras_backend() == "jax"  # JAX always compiles its steps; PyTorch: eager
    replicas = getattr(strategy, "num_replicas_in_sync", 1) if strategy is not None else 1
    return bool(_uses_gpu(strategy) and replicas == 1) if strategy is not None else False


# --------------------------------------------------------------------------------------------
# the machine and multi-worker runs
# --------------------------------------------------------------------------------------------


_KERNEL_FLAGS = ONEDNN_DEFAULT_ON | {"avx2", "fma", "avx512f"}


def machine_info() -> dict[str, Any]:
    """Return Python, platform, CPU count, Keras backend, library versions and GPUs."""
    import keras

    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "keras_backend": keras.backend.backend(),
        "keras": keras.__version__,
        "numpy": np.__version__,
        "gpus": gpu_info(),
        # what decides the CPU kernels, so that runs on different machines can be told apart
        "cpu_features": sorted(cpu_flags() & _KERNEL_FLAGS),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }
    info["tensorflow"] = _version_of("tensorflow")
    if info["keras_backend"] != "tensorflow":
        info[info["keras_backend"]] = _version_of(info["keras_backend"])
    return info


def has_tensorflow() -> bool:
    """Whether TensorFlow can be imported (Keras' TensorBoard callback writes through it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def _version_of(package: str) -> str | None:
    """The installed version of ``package`` (None if it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def worker_dir(out: Path, strategy: Any) -> Path:
    """Where this process writes: ``out`` for the chief, a private sub-folder for the other
    workers of a multi-worker run (every worker must save, only the chief's files count)."""
    if isinstance(strategy, PortableStrategy):
        return out
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return out
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    cluster = resolver.cluster_spec().as_dict()
    first_worker = task_type == "worker" and task_id == 0 and "chief" not in cluster
    chief = task_type == "chief" or first_worker
    return out if chief or task_type is None else out / "workers" / f"{task_type}-{task_id}"


def patch_for_multiworker(net: keras.Model, strategy: Any, X: np.ndarray, y: np.ndarray) -> None:
    """Work around two bugs of Keras 3's ``fit`` under ``MultiWorkerMirroredStrategy``
    (checked with Keras 3.15 / TF 2.21; keras-team/keras#20585):

    1. ``fit`` builds metric, loss and optimizer state from a first batch that it averages
       across replicas with an eager collective, which fails on multi-worker ``PerReplica``
       values ("Attempt to convert a value (PerReplica...)"). Build that state here from a
       local batch inside the strategy scope and skip Keras' own build step.
    2. the step's logs (scalars) are averaged across workers with ``reduce(axis=0)``, which
       fails on scalars ("Invalid reduction dimension 0"). Return them as shape-[1] tensors;
       the mean over axis 0 then gives back the scalar.
    """
    import tensorflow as tf

    batch = (tf.constant(X[:2], tf.float32), tf.constant(y[:2], tf.int32))
    with strategy.scope():
        net._symbolic_build(data_batch=batch)
        if net.optimizer is not None and not net.optimizer.built:
            net.optimizer.build(net.trainable_variables)
    net._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    def vector_logs(step: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
        def wrapped(data: Any) -> dict[str, Any]:
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

        return wrapped

    net.train_step = vector_logs(net.train_step)
    net.test_step = vector_logs(net.test_step)
