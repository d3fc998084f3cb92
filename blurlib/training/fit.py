"""The training recipe: :func:`fit` a patch classifier on a dataset folder into a run folder.

:func:`fit` reads like the recipe: devices first (``MultiWorkerMirroredStrategy`` must exist
before other TensorFlow work), then the photos, the split by photo and the patch arrays,
then seeds and the model built and compiled inside ``strategy.scope()``, then the resume
point and the seeded batches, then callbacks (``BackupAndRestore`` for resume, atomic
``last.keras``/``best.keras`` every epoch, ``CSVLogger``, optional TensorBoard and early
stopping) and Keras' ``fit``, and last the final ``model.keras`` and ``motionblur.h5`` (the
report's file name) beside ``split.json`` and ``train_config.json`` (see
:mod:`blurlib.training.runs`).

On a Keras backend other than TensorFlow the same recipe runs on numpy batches and a
:class:`blurlib.training.devices.PortableStrategy`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import seeds
from blurlib.errors import BlurlibError, DatasetError
from blurlib.training.backup import Backup, latest_backup, prune
from blurlib.training.build import Export, compile_net, model_size
from blurlib.training.callbacks import make_callbacks, restore
from blurlib.training.config import TrainConfig, get_config
from blurlib.training.devices import (
    PortableStrategy,
    choose_jit,
    choose_precision,
    choose_strategy,
    has_tensorflow,
    machine_info,
    patch_for_multiworker,
    strategy_devices,
    worker_dir,
)
from blurlib.training.pipeline import make_dataset, steps_per_epoch
from blurlib.training.runs import (
    LOG_FILE,
    SPLIT_FILE,
    check_resume,
    clear_run,
    read_log,
    truncate_log,
    write_split,
    write_train_config,
)
from blurlib.training.split import patch_arrays, split_by_source

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from blurlib.data.dataset import Example


@dataclass
class TrainResult:
    """What :func:`fit` made: history, file paths, split, devices and timing."""

    out_dir: Path
    history: dict[str, list[float]]
    model_path: Path
    h5_path: Path
    best_path: Path | None
    last_path: Path
    log_path: Path
    split_path: Path
    config_path: Path
    split: dict[str, list[int]]
    initial_epoch: int
    epochs: int
    seconds: float
    train_patches: int
    val_patches: int
    patches_per_second: float
    strategy: str
    replicas: int
    precision: str
    jit_compile: bool
    info: dict[str, Any] = field(default_factory=dict)


def fit(
    config: TrainConfig | str,
    dataset_folder: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    resume: bool = True,
    *,
    strategy: Any = None,
    examples: Sequence[Example] | None = None,
    callbacks: Sequence[Any] = (),
    verbose: str | int = "auto",
    max_train_patches: int | None = None,
) -> TrainResult:
    """Train ``config`` (a :class:`TrainConfig` or preset name) on a dataset folder and
    return a :class:`TrainResult`; every file goes into ``out_dir``.

    ``out_dir`` receives ``split.json`` (image indices and photo names per split),
    ``train_config.json`` (config, seed, data folder, machine, versions, timings),
    ``log.csv``, ``tb/`` (TensorBoard, if enabled), ``backup/`` (the resume state),
    ``last.keras`` and ``best.keras`` (every epoch; best by validation loss), and at the
    end ``model.keras`` and ``motionblur.h5`` (the final weights, float32).

    With ``resume=True`` a run interrupted in ``out_dir`` continues from its last finished
    epoch up to ``config.epochs`` (weights, optimizer state, learning-rate schedule,
    dropout generators and data order restored); a finished run with more ``epochs`` asked
    for continues training. ``resume=False`` deletes the previous run's files first.
    ``examples`` (already loaded) skips reading ``dataset_folder``; ``strategy`` overrides
    ``config.strategy``; ``callbacks`` are added to Keras' list (e.g. to stop a run);
    ``max_train_patches`` subsamples the training patches (seeded), for demos.
    """
    import keras

    config = get_config(config)
    data = Path(dataset_folder).resolve()
    t0 = time.time()

    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise BlurlibError(f"--out {out_dir} is a file; give a folder for the run")
    # 1. devices first: MultiWorkerMirroredStrategy must exist before other TF work
    if strategy is None:
        strategy = choose_strategy(config.strategy)
    out = worker_dir(Path(out_dir), strategy)
    replicas = int(strategy.num_replicas_in_sync)
    precision = choose_precision(config.mixed_precision, strategy)
    jit = choose_jit(config.jit_compile, strategy)

    # 2. data: the photos, the run folder, the split by photo, the patches of each side
    examples = _load_examples(examples, data, config)
    out.mkdir(parents=True, exist_ok=True)
    previous = check_resume(out, config, seed, data) if resume else None
    if not resume:
        clear_run(out)
    from blurlib.data.dataset import DatasetImages

    lazy = isinstance(examples, DatasetImages)  # its sources come without reading an image
    sources = examples.sources if lazy else [ex.source for ex in examples]
    split = split_by_source(
        sources, config.fractions, seed, config.test_sources, config.val_sources
    )
    write_split(out, split, sources, seed=seed, fractions=config.fractions, data=data)
    X_train, y_train = _training_patches(examples, split["train"], config, seed, max_train_patches)
    X_val, y_val = patch_arrays(
        examples,
        split["val"],
        config.min_texture,
        min_evidence=config.min_evidence,
        min_blur_texture=config.min_blur_texture,
        defocus_class=config.defocus_class,
    )
    if len(X_train) == 0:
        raise DatasetError(
            f"{data}: no training patches left (min_texture={config.min_texture}); "
            "use more photos or a lower min_texture"
        )

    # 3. model: seeded, built and compiled inside the strategy's scope
    keras.utils.set_random_seed(seed)
    portable = isinstance(strategy, PortableStrategy)
    if config.deterministic and not portable:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    global_batch = config.batch_size * replicas
    drop = True  # static batch shapes (XLA) and equal shares for every replica
    steps = steps_per_epoch(len(X_train), global_batch, drop)
    net, export = compile_net(config, seed, strategy, precision, jit, steps)

    # 4. resume point and the seeded batches from there on
    resumed, start, target = _resume_point(out, resume, previous, config)
    monitor = "val_loss" if len(X_val) else "loss"
    best_so_far = _trim_log(out, start, monitor)
    train_ds = make_dataset(
        X_train,
        y_train,
        global_batch,
        shuffle=True,
        augment=config.augment,
        seed=seed,
        drop_remainder=drop,
        epochs=max(target, start),
        start_epoch=start,
    )
    val_ds = make_dataset(X_val, y_val, global_batch) if len(X_val) else None
    info: dict[str, Any] = {
        "config": config.to_dict(),
        "seed": seed,
        "data": str(data),
        "out_dir": str(out.resolve()),
        "status": "running",
        "machine": machine_info(),
        "strategy": type(strategy).__name__,
        "devices": strategy_devices(strategy),
        "replicas": replicas,
        "global_batch_size": global_batch,
        "precision": precision,
        "jit_compile": jit,
        "steps_per_epoch": steps,
        "patches": {"train": len(X_train), "val": len(X_val)},
        "photos": {k: len(v) for k, v in split.items()},
        "initial_epoch": start,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **model_size(net),
    }
    write_train_config(out, info)

    # 5. callbacks and Keras' fit
    tensorboard = config.tensorboard and has_tensorflow()
    info["tensorboard"] = tensorboard  # Keras' TensorBoard callback writes through tf.summary
    cbs = make_callbacks(
        out, config, export, monitor, best_so_far, tensorboard, callbacks, resumed=resumed
    )
    if resumed is not None:  # weights, optimizer, dropout generators, learning rate
        restore(net, resumed, strategy)
    if not portable:
        import tensorflow as tf

        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            patch_for_multiworker(net, strategy, X_train, y_train)
    t_fit = time.time()
    history = _train(net, strategy, train_ds, val_ds, cbs, start, target, steps, verbose)
    fit_seconds = time.time() - t_fit

    # 6. final files and the run's record
    epochs_run = len(next(iter(history.values()), []))
    pps = epochs_run * steps * global_batch / fit_seconds if epochs_run and fit_seconds else 0.0
    model_path, h5_path = _save_final(out, export)
    seconds = time.time() - t0
    info.update(
        {
            "status": "completed",
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "epochs_run_this_call": epochs_run,
            "epochs_total": len(read_log(out / LOG_FILE)),
            "seconds": {"total": round(seconds, 2), "fit": round(fit_seconds, 2)},
            "train_patches_per_second": round(pps, 1),
        }
    )
    config_path = write_train_config(out, info)
    best = out / "best.keras"
    return TrainResult(
        out_dir=out,
        history=history,
        model_path=model_path,
        h5_path=h5_path,
        best_path=best if best.exists() else None,
        last_path=out / "last.keras",
        log_path=out / LOG_FILE,
        split_path=out / SPLIT_FILE,
        config_path=config_path,
        split=split,
        initial_epoch=start,
        epochs=config.epochs,
        seconds=seconds,
        train_patches=len(X_train),
        val_patches=len(X_val),
        patches_per_second=pps,
        strategy=type(strategy).__name__,
        replicas=replicas,
        precision=precision,
        jit_compile=jit,
        info=info,
    )


# --------------------------------------------------------------------------------------------
# the steps of fit
# --------------------------------------------------------------------------------------------


def _load_examples(
    examples: Sequence[Example] | None, data: Path, config: TrainConfig
) -> Sequence[Example]:
    """The given examples, or the dataset folder's (with sharp images if texture counts),
    read one image at a time as the patches are cut (:func:`open_dataset`): only the
    patches stay in memory."""
    if examples is None:
        from blurlib.data.dataset import open_dataset

        examples = open_dataset(
            data, with_sharp=config.min_texture > 0 or config.min_blur_texture > 0
        )
    if not examples:
        raise DatasetError(f"{data} holds no images; make one with `python -m blurlib generate`")
    return examples


def _training_patches(
    examples: Sequence[Example],
    indices: Sequence[int],
    config: TrainConfig,
    seed: int,
    max_train_patches: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The training patches, subsampled (stream ``subsample``) to ``max_train_patches``."""
    X, y = patch_arrays(
        examples,
        indices,
        config.min_texture,
        min_evidence=config.min_evidence,
        min_blur_texture=config.min_blur_texture,
        defocus_class=config.defocus_class,
    )
    if max_train_patches is not None and len(X) > max_train_patches:
        perm = seeds.rng(seed, "subsample").permutation(len(X))
        keep = np.sort(perm[:max_train_patches])
        X, y = X[keep], y[keep]
    return X, y


def _resume_point(
    out: Path, resume: bool, previous: dict[str, Any] | None, config: TrainConfig
) -> tuple[Backup | None, int, int]:
    """``(backup, start, target)``: the newest complete resume state (None: start afresh),
    the epochs it holds, and where this call stops. Incomplete states are cleaned away."""
    resumed = latest_backup(out) if resume else None
    prune(out, keep=resumed.path if resumed is not None else None)  # verified once
    start = resumed.epoch if resumed is not None else 0
    target = config.epochs
    if (
        previous is not None
        and previous.get("status") == "completed"
        and previous["config"].get("epochs") == config.epochs
    ):
        target = start  # that run finished (possibly stopped early): nothing left to do
    return resumed, start, target


def _trim_log(out: Path, start: int, monitor: str) -> float | None:
    """Drop the log rows of epochs about to be redone; return the best ``monitor`` kept."""
    log_path = out / LOG_FILE
    rows = read_log(log_path)
    kept = [r for r in rows if r.get("epoch", -1) < start]
    if start == 0 and log_path.exists():
        log_path.unlink()
    elif len(kept) != len(rows):
        truncate_log(log_path, start)
    best = [r[monitor] for r in kept if monitor in r]
    return min(best) if best else None


def _train(
    net: keras.Model,
    strategy: Any,
    train_ds: Any,
    val_ds: Any,
    cbs: list[Any],
    start: int,
    target: int,
    steps: int,
    verbose: str | int,
) -> dict[str, list[float]]:
    """Keras' fit from epoch ``start`` to ``target``; the history of the epochs run."""
    if target <= start:  # finished: the restored state writes the final files again
        return {}
    # JAX's DataParallel shards each batch while its distribution is current
    portable = isinstance(strategy, PortableStrategy)
    with strategy.scope() if portable else contextlib.nullcontext():
        hist = net.fit(
            train_ds,
            epochs=target,
            initial_epoch=start,
            steps_per_epoch=steps,
            validation_data=val_ds,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,  # the dataset shuffles itself, reproducibly per epoch
        )
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def _save_final(out: Path, export: Export) -> tuple[Path, Path]:
    """Write ``model.keras`` and ``motionblur.h5`` (and ``last.keras`` if none); their paths."""
    model_path = out / "model.keras"
    h5_path = out / "motionblur.h5"
    export(model_path)
    export(h5_path)
    if not (out / "last.keras").exists():  # nothing left to train (already finished)
        export(out / "last.keras")
    return model_path, h5_path
