"""The run folder: what a training run writes, and the one place that reads it back.

A run folder (``python -m blurlib train --out RUN``, :func:`blurlib.training.fit.fit`) holds:

==========================  ====================================================================
``split.json``              image indices and photo names per split, seed, fractions, data folder
``train_config.json``       config, seed, data folder, machine, versions, status and timings
``log.csv``                 one row per finished epoch (Keras' ``CSVLogger``), across resumes
``backup/``                 the resume state, one verified folder per epoch (:mod:`.backup`)
``last.keras``              the model after the last finished epoch
``best.keras``              the model of the best epoch (lowest validation loss)
``model.keras``             the final model, float32 (and ``motionblur.h5``, the report's name)
``tb/``                     TensorBoard scalars, if enabled
==========================  ====================================================================

Writers: :func:`write_split`, :func:`write_train_config`, :func:`truncate_log`,
:func:`clear_run`. Readers: :func:`read_split`, :func:`read_train_config`, :func:`read_log`
(rows), :func:`load_history` (columns), :func:`run_summary`; the resume state has its own
module, :mod:`blurlib.training.backup`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from blurlib.errors import BlurlibError, DatasetError
from blurlib.fileio import write_text
from blurlib.training.config import TrainConfig

SPLIT_FILE = "split.json"
CONFIG_FILE = "train_config.json"
LOG_FILE = "log.csv"
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "tb"
#: the files of a run, deleted when it starts over
RUN_FILES = (
    LOG_FILE,
    "last.keras",
    "best.keras",
    "model.keras",
    "motionblur.h5",
    SPLIT_FILE,
    CONFIG_FILE,
)
#: config fields that may change between an interrupted run and its resumption
RESUME_FREE = {"epochs", "tensorboard", "description", "strategy", "jit_compile", "early_stopping"}

PathLike = str | os.PathLike[str]


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


# --------------------------------------------------------------------------------------------
# split.json
# --------------------------------------------------------------------------------------------


def write_split(
    run_dir: PathLike,
    split: Mapping[str, Sequence[int]],
    sources: Sequence[str],
    *,
    seed: int,
    fractions: Sequence[float],
    data: PathLike,
) -> Path:
    """Write ``split.json`` (indices and photo names per split) and return its path."""
    path = Path(run_dir) / SPLIT_FILE
    _write_json(
        path,
        {
            "seed": seed,
            "fractions": list(fractions),
            "data": str(data),
            **{k: list(v) for k, v in split.items()},
            "sources": {k: sorted({sources[i] for i in v}) for k, v in split.items()},
        },
    )
    return path


def read_split(run_dir: PathLike) -> dict[str, Any]:
    """Return the run's ``split.json`` (``"train"``, ``"val"``, ``"test"``, ``"sources"``, …).

    Raises :class:`DatasetError` naming the file when it is missing, corrupt or has no
    ``train``/``test`` entries.
    """
    path = Path(run_dir) / SPLIT_FILE
    if not path.is_file():
        raise DatasetError(f"{path} does not exist; train with `python -m blurlib train`")
    try:
        split = json.loads(path.read_text())
    except ValueError as exc:
        raise DatasetError(f"{path} is corrupt; train again") from exc
    if not isinstance(split, dict) or not {"train", "test"} <= split.keys():
        raise DatasetError(f"{path} is corrupt; train again")
    return split


# --------------------------------------------------------------------------------------------
# train_config.json
# --------------------------------------------------------------------------------------------


def write_train_config(run_dir: PathLike, info: Mapping[str, Any]) -> Path:
    """Write ``train_config.json`` (config, machine, status, timings) and return its path."""
    path = Path(run_dir) / CONFIG_FILE
    _write_json(path, info)
    return path


def read_train_config(run_dir: PathLike) -> dict[str, Any] | None:
    """Return the run's ``train_config.json`` (None if missing or unreadable)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text())
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def check_resume(
    run_dir: PathLike, config: TrainConfig, seed: int, data: Path
) -> dict[str, Any] | None:
    """Return the previous run's train_config.json after checking that it can be resumed
    with these settings (None if there is none); raise :class:`BlurlibError` if not."""
    old = read_train_config(run_dir)
    old_cfg = old.get("config") if old is not None else None
    if old is None or not isinstance(old_cfg, dict):
        return None
    new_cfg = config.to_dict()
    diff = sorted(
        k for k in new_cfg if k not in RESUME_FREE and old_cfg.get(k, new_cfg[k]) != new_cfg[k]
    )
    if old.get("seed") != seed:
        diff.append("seed")
    if old.get("data") and Path(old["data"]) != data:
        diff.append("data")
    if diff:
        raise BlurlibError(
            f"{run_dir} holds a run with different {', '.join(diff)}; resume it with the same "
            "settings, or start over with --no-resume (or another --out)"
        )
    return old


# --------------------------------------------------------------------------------------------
# log.csv and the resume state
# --------------------------------------------------------------------------------------------


def _log_path(run: PathLike) -> Path:
    path = Path(run)
    return path / LOG_FILE if path.is_dir() else path


def read_log(run: PathLike) -> list[dict[str, float]]:
    """Return the rows of a training log (a run folder or a CSVLogger file; [] if missing).

    Cells are floats; empty cells are left out of their row, and rows with a cell that is
    not a number (a half-written line) are skipped.
    """
    path = _log_path(run)
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                rows.append({k: float(v) for k, v in row.items() if k and v not in (None, "")})
            except ValueError:
                continue
    return rows


def load_history(run: PathLike) -> dict[str, list[float]]:
    """Return every epoch's metrics of a run folder or log file as columns (across resumes).

    ``"epoch"`` holds ints (the row number if the log has none); a metric missing from a
    row is NaN.
    """
    rows = read_log(run)
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    out: dict[str, list[float]] = {"epoch": [int(r.get("epoch", i)) for i, r in enumerate(rows)]}
    out.update({k: [r.get(k, math.nan) for r in rows] for k in keys})
    return out


def truncate_log(run: PathLike, start: int) -> None:
    """Keep only the rows of epochs < ``start`` in a training log (atomic)."""
    path = _log_path(run)
    lines = path.read_text().splitlines(keepends=True)
    if not lines:
        return
    header, body = lines[0], lines[1:]
    keep = []
    for line in body:
        try:
            if int(float(line.split(",", 1)[0])) < start:
                keep.append(line)
        except ValueError:
            continue
    write_text(path, header + "".join(keep))


def clear_run(run_dir: PathLike) -> None:
    """Delete a previous run's files (models, logs, split, resume state) from ``run_dir``."""
    out = Path(run_dir)
    for name in (BACKUP_DIR, TENSORBOARD_DIR):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------


def run_summary(run_dir: PathLike) -> dict[str, Any]:
    """Return a run at a glance: status, epochs logged, seconds, last and best of each metric.

    ``best`` is the minimum of losses and the maximum of other metrics; ``best_epoch`` the
    epoch of the lowest ``val_loss`` (or ``loss`` without validation), None with no rows.
    """
    info = read_train_config(run_dir) or {}
    history = load_history(run_dir)
    metrics = {k: v for k, v in history.items() if k != "epoch" and v}
    monitor = "val_loss" if "val_loss" in metrics else "loss" if "loss" in metrics else None
    best_epoch = None
    if monitor is not None:
        values = metrics[monitor]
        best_epoch = history["epoch"][min(range(len(values)), key=values.__getitem__)]
    return {
        "status": info.get("status"),
        "epochs": len(history["epoch"]),
        "seconds": info.get("seconds"),
        "last": {k: v[-1] for k, v in metrics.items()},
        "best": {k: (min(v) if "loss" in k else max(v)) for k, v in metrics.items()},
        "best_epoch": best_epoch,
    }
