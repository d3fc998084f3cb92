"""Keras callbacks of a training run: checkpoints, the resume state, the log, stopping rules.

:func:`make_callbacks` lists them in the order :func:`blurlib.training.fit.fit` needs:
``CSVLogger``, ``BackupAndRestore`` (resume), ``SeedStateBackup`` (the dropout generators'
states), ``AtomicCheckpoint`` (``last.keras``/``best.keras`` every epoch), then the optional
learning-rate plateau rule, early stopping and TensorBoard. Keras is imported lazily, so the
callback classes are made by :func:`callback_classes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blurlib.fileio import atomic_path
from blurlib.training.config import TrainConfig
from blurlib.training.runs import BACKUP_DIR, LOG_FILE, TENSORBOARD_DIR


def callback_classes() -> tuple[type, type]:
    """Return the classes ``(AtomicCheckpoint, SeedStateBackup)`` (Keras imported now)."""
    import keras

    class AtomicCheckpoint(keras.callbacks.Callback):
        """Save ``last.keras`` every epoch and ``best.keras`` when ``monitor`` improves,
        atomically (temp file + rename), as float32 models; the best value survives a
        resume because it is re-read from ``log.csv``."""

        def __init__(
            self,
            out_dir: Path,
            export: Callable[[Path], None],
            monitor: str = "val_loss",
            mode: str = "min",
            best: float | None = None,
        ) -> None:
            super().__init__()
            self.out_dir = Path(out_dir)
            self.export = export
            self.monitor = monitor
            self.sign = 1.0 if mode == "min" else -1.0
            self.best = best

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            self.export(self.out_dir / "last.keras")
            value = logs.get(self.monitor)
            if value is None:
                return
            value = float(value)
            if self.best is None or self.sign * value < self.sign * self.best:
                self.best = value
                self.export(self.out_dir / "best.keras")

    class SeedStateBackup(keras.callbacks.Callback):
        """Back up the model's random-generator states (dropout masks) with each epoch, so
        a resumed run draws the same masks an uninterrupted one would."""

        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = Path(path)

        def _generators(self) -> list[Any]:
            gens = []
            for layer in self.model._flatten_layers():
                for value in list(vars(layer).values()):
                    if isinstance(value, keras.random.SeedGenerator):
                        gens.append(value)
            return gens

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            if not self.path.is_file():
                return
            with np.load(self.path) as saved:
                gens = self._generators()
                if len(saved.files) != len(gens):
                    return
                for k, gen in enumerate(gens):
                    gen.state.assign(saved[str(k)])

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            states = {str(k): np.asarray(g.state) for k, g in enumerate(self._generators())}
            with atomic_path(self.path) as tmp:
                np.savez(tmp, **states)

    return AtomicCheckpoint, SeedStateBackup


def make_callbacks(
    run_dir: Path,
    config: TrainConfig,
    export: Callable[[Path], None],
    monitor: str,
    best: float | None,
    tensorboard: bool,
    extra: Sequence[Any] = (),
) -> list[Any]:
    """Return the callbacks of a run in ``run_dir``, then ``extra``.

    ``best`` is the best ``monitor`` value of the epochs already in the log (resume);
    ``tensorboard`` writes ``tb/`` (needs TensorFlow).
    """
    import keras

    AtomicCheckpoint, SeedStateBackup = callback_classes()
    backup = run_dir / BACKUP_DIR
    # CSVLogger first: a row written for an epoch whose backup never landed is dropped on
    # resume (runs.truncate_log), so log.csv always matches the restored state
    cbs: list[Any] = [
        keras.callbacks.CSVLogger(str(run_dir / LOG_FILE), append=True),
        keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
        SeedStateBackup(backup / "rng.npz"),
        AtomicCheckpoint(run_dir, export, monitor, "min", best),
    ]
    if config.schedule == "plateau":
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.3, patience=3, min_lr=1e-6)
        )
    if config.early_stopping:
        cbs.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=config.early_stopping))
    if tensorboard:
        cbs.append(
            keras.callbacks.TensorBoard(
                str(run_dir / TENSORBOARD_DIR), histogram_freq=0, write_graph=False, profile_batch=0
            )
        )
    cbs.extend(extra)
    return cbs
