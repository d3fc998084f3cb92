"""blurlib.training.runs: the run folder's files, written and read back in one place."""

from __future__ import annotations

import json
import math

import pytest

from blurlib.errors import BlurlibError, DatasetError
from blurlib.training.config import get_config
from blurlib.training.runs import (
    check_resume,
    clear_run,
    load_history,
    read_log,
    read_split,
    read_train_config,
    run_summary,
    truncate_log,
    write_split,
    write_train_config,
)

LOG = "epoch,accuracy,loss,val_accuracy,val_loss\n" + "".join(
    f"{e},{0.5 + e / 10},{1 / (e + 1)},{0.4 + e / 10},{[0.9, 0.5, 0.7][e]}\n" for e in range(3)
)


def test_split_round_trip_and_errors(tmp_path):
    split = {"train": [0, 2], "val": [1], "test": [3]}
    path = write_split(
        tmp_path, split, ["a", "b", "a", "c"], seed=4, fractions=(0.5, 0.25, 0.25), data="d"
    )
    assert path == tmp_path / "split.json"
    back = read_split(tmp_path)
    assert back["train"] == [0, 2] and back["seed"] == 4 and back["fractions"] == [0.5, 0.25, 0.25]
    assert back["sources"] == {"train": ["a"], "val": ["b"], "test": ["c"]}
    with pytest.raises(DatasetError, match="does not exist"):
        read_split(tmp_path / "nope")
    (tmp_path / "split.json").write_text(json.dumps({"train": []}))
    with pytest.raises(DatasetError, match="corrupt"):
        read_split(tmp_path)
    (tmp_path / "split.json").write_text("{")
    with pytest.raises(DatasetError, match="corrupt"):
        read_split(tmp_path)


def test_train_config_and_resume_check(tmp_path):
    assert read_train_config(tmp_path) is None
    assert check_resume(tmp_path, get_config("quick"), 0, tmp_path) is None
    cfg = get_config("quick")
    write_train_config(tmp_path, {"config": cfg.to_dict(), "seed": 0, "data": str(tmp_path)})
    assert read_train_config(tmp_path)["seed"] == 0
    assert check_resume(tmp_path, cfg.replace(epochs=9), 0, tmp_path)["seed"] == 0
    with pytest.raises(BlurlibError, match="lr, seed"):
        check_resume(tmp_path, cfg.replace(lr=0.5), 1, tmp_path)


def test_log_history_truncate_summary(tmp_path):
    assert read_log(tmp_path) == [] and load_history(tmp_path) == {"epoch": []}
    (tmp_path / "log.csv").write_text(LOG + "3,0.9,0.2,oops\n")  # a half-written row
    assert len(read_log(tmp_path)) == 3
    history = load_history(tmp_path / "log.csv")
    assert history["epoch"] == [0, 1, 2] and history["val_loss"] == [0.9, 0.5, 0.7]
    write_train_config(tmp_path, {"status": "completed", "seconds": {"total": 3.0}})
    summary = run_summary(tmp_path)
    assert summary["status"] == "completed" and summary["epochs"] == 3
    assert summary["best_epoch"] == 1 and summary["best"]["val_loss"] == 0.5
    assert math.isclose(summary["best"]["val_accuracy"], 0.6)
    assert math.isclose(summary["last"]["accuracy"], 0.7)
    truncate_log(tmp_path, 2)
    assert load_history(tmp_path)["epoch"] == [0, 1]


def test_clear_run(tmp_path):
    (tmp_path / "backup" / "epoch-000002").mkdir(parents=True)
    for name in ("log.csv", "model.keras", "split.json", "keep.txt"):
        (tmp_path / name).write_text("x")
    clear_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
