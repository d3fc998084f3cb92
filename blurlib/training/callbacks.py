"""Keras callbacks of a training run: checkpoints, the resume state, the log, stopping rules.

:func:`make_callbacks` lists them in the order :func:`blurlib.training.fit.fit` needs:
``CSVLogger``, ``AtomicCheckpoint`` (``last.keras``/``best.keras`` every epoch), the optional
learning-rate plateau rule, early stopping and TensorBoard, and last ``ResumeBackup``, so the
resume state of an epoch is written only after everything else of that epoch (its log row,
its checkpoints, the rules' counters) is final. :func:`restore` puts a resume state back into
a compiled model. Keras is imported lazily, so the callback classes are made by
:func:`callback_classes`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blurlib.training.backup import Backup, write_backup
from blurlib.training.config import TrainConfig
from blurlib.training.runs import LOG_FILE, TENSORBOARD_DIR

#: the counters of Keras' stopping rules that a resumed run must carry on from
_COUNTERS = ("wait", "best", "cooldown_counter", "best_epoch", "stopped_epoch")


def seed_generators(model: Any) -> list[Any]:
    """Return the model's random-generator objects (dropout masks), in a fixed order."""
    import keras

    gens = []
    for layer in model._flatten_layers():
        for value in list(vars(layer).values()):
            if isinstance(value, keras.random.SeedGenerator):
                gens.append(value)
    return gens


def _plain_learning_rate(optimizer: Any) -> float | None:
    """The optimizer's learning rate if it is a plain value (None under a schedule)."""
    import keras

    if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _counters(cb: Any) -> dict[str, float | int]:
    """A stopping rule's counters that hold plain numbers."""
    out = {}
    for attr in _COUNTERS:
        value = getattr(cb, attr, None)
        if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
            out[attr] = value.item() if isinstance(value, np.generic) else value
    return out


def restore(net: Any, backup: Backup, strategy: Any = None) -> None:
    """Load a resume state into a compiled model: weights, optimizer state, dropout
    generators and the learning rate (the callbacks' counters follow in ``ResumeBackup``)."""
    import contextlib

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        if net.optimizer is not None and not net.optimizer.built:
            net.optimizer.build(net.trainable_variables)
        net.load_weights(str(backup.weights))
        gens = seed_generators(net)
        with np.load(backup.rng) as saved:
            if len(saved.files) == len(gens):
                for k, gen in enumerate(gens):
                    gen.state.assign(saved[str(k)])
        lr = backup.state.get("learning_rate")
        if lr is not None and _plain_learning_rate(net.optimizer) is not None:
            net.optimizer.learning_rate = lr


def callback_classes() -> tuple[type, type]:
    """Return the classes ``(AtomicCheckpoint, ResumeBackup)`` (Keras imported now)."""
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

    class ResumeBackup(keras.callbacks.Callback):
        """Write the resume state after every epoch (:func:`blurlib.training.backup.write_backup`:
        weights, optimizer, dropout generators, learning rate and the stopping rules'
        counters, one complete verified folder per epoch) and, on a resumed run, put the
        stopping rules' counters back after Keras has reset them."""

        def __init__(self, run_dir: Path, stateful: Sequence[Any] = (), state: Any = None):
            super().__init__()
            self.run_dir = Path(run_dir)
            self.stateful = list(stateful)
            self.restored = dict(state or {})

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            saved = self.restored.get("callbacks", {})
            for cb in self.stateful:
                for attr, value in saved.get(type(cb).__name__, {}).items():
                    setattr(cb, attr, value)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            model = self.model
            write_backup(
                self.run_dir,
                epoch + 1,
                lambda path: model.save_weights(str(path)),
                {str(k): np.asarray(g.state) for k, g in enumerate(seed_generators(model))},
                {
                    "learning_rate": _plain_learning_rate(model.optimizer),
                    "callbacks": {type(cb).__name__: _counters(cb) for cb in self.stateful},
                },
            )

    return AtomicCheckpoint, ResumeBackup


def make_callbacks(
    run_dir: Path,
    config: TrainConfig,
    export: Callable[[Path], None],
    monitor: str,
    best: float | None,
    tensorboard: bool,
    extra: Sequence[Any] = (),
    resumed: Backup | None = None,
) -> list[Any]:
    """Return the callbacks of a run in ``run_dir``, then ``extra``.

    ``best`` is the best ``monitor`` value of the epochs already in the log (resume);
    ``tensorboard`` writes ``tb/`` (needs TensorFlow); ``resumed`` is the resume state the
    run continues from (its stopping rules' counters are put back).
    """
    import keras

    AtomicCheckpoint, ResumeBackup = callback_classes()
    cbs: list[Any] = [
        keras.callbacks.CSVLogger(str(run_dir / LOG_FILE), append=True),
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
    # last: an epoch's resume state is written once its log row, checkpoints and counters are
    stateful = [
        cb
        for cb in cbs
        if isinstance(cb, (keras.callbacks.ReduceLROnPlateau, keras.callbacks.EarlyStopping))
    ]
    cbs.append(ResumeBackup(run_dir, stateful, resumed.state if resumed is not None else None))
    cbs.extend(extra)
    return cbs
