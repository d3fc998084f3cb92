"""blurlib.training.backup: the resume state survives an interruption at any instant.

The unit tests drive :func:`write_backup` with stand-in files; the harness at the end
interrupts real ``python -m blurlib train`` runs with SIGINT and SIGKILL at every phase of an
epoch's save (``BLURLIB_FAULT``) and at an instant found by watching the files, resumes each
time, and checks that the run ends with the same weights and log as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from blurlib.training.backup import (
    MANIFEST,
    PHASES,
    backup_epoch,
    backups,
    latest_backup,
    prune,
    write_backup,
)

ROOT = Path(__file__).resolve().parent.parent


def _weights(content: bytes):
    return lambda path: path.write_bytes(content)


def _write(run: Path, epoch: int, content: bytes = b"w" * 1000) -> Path:
    return write_backup(run, epoch, _weights(content), {"0": np.arange(3)}, {"learning_rate": 0.1})


def test_each_epoch_is_one_verified_folder_and_replaces_the_last(tmp_path):
    assert latest_backup(tmp_path) is None and backup_epoch(tmp_path) == 0
    first = _write(tmp_path, 1)
    assert first.name == "epoch-000001"
    assert sorted(p.name for p in first.iterdir()) == [MANIFEST, "model.weights.h5", "rng.npz"]
    manifest = json.loads((first / MANIFEST).read_text())
    assert manifest["epoch"] == 1 and manifest["state"] == {"learning_rate": 0.1}
    assert manifest["files"]["model.weights.h5"]["bytes"] == 1000
    _write(tmp_path, 2, b"v" * 1000)
    assert [b.epoch for b in backups(tmp_path)] == [2]  # the previous epoch is gone now
    latest = latest_backup(tmp_path)
    assert latest.weights.read_bytes() == b"v" * 1000 and latest.state["learning_rate"] == 0.1
    with np.load(latest.rng) as rng:
        np.testing.assert_array_equal(rng["0"], np.arange(3))


@pytest.mark.parametrize(
    "damage",
    ["truncate", "flip", "no manifest", "bad manifest", "wrong epoch", "missing file"],
)
def test_a_damaged_epoch_is_skipped_for_the_previous_complete_one(tmp_path, damage):
    older = _write(tmp_path, 1, b"a" * 500)
    keep = tmp_path / "keep"
    older.rename(keep)  # write_backup would remove epoch 1 once epoch 2 is complete
    newer = _write(tmp_path, 2, b"b" * 500)
    keep.rename(older)
    weights, manifest = newer / "model.weights.h5", newer / MANIFEST
    if damage == "truncate":
        weights.write_bytes(b"b" * 100)
    elif damage == "flip":
        weights.write_bytes(b"c" + b"b" * 499)  # same size, other content
    elif damage == "no manifest":
        manifest.unlink()
    elif damage == "bad manifest":
        manifest.write_text('{"epoch": 2, "fil')
    elif damage == "wrong epoch":
        manifest.write_text(manifest.read_text().replace('"epoch": 2', '"epoch": 5'))
    else:
        (newer / "rng.npz").unlink()
    assert backup_epoch(tmp_path) == 1
    assert latest_backup(tmp_path).weights.read_bytes() == b"a" * 500
    prune(tmp_path)
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["epoch-000001"]


def test_an_interrupted_write_leaves_the_previous_epoch_and_no_temporary_folder(tmp_path):
    _write(tmp_path, 1)

    def interrupted(path: Path) -> None:
        path.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_backup(tmp_path, 2, interrupted, {}, {})
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["epoch-000001"]
    assert backup_epoch(tmp_path) == 1


def test_prune_removes_dead_writers_temporaries_and_old_keras_files(tmp_path):
    _write(tmp_path, 3)
    backup = tmp_path / "backup"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    (backup / f".epoch-000004.tmp-{dead.stdout.strip()}").mkdir()
    live = backup / f".epoch-000004.tmp-{os.getppid()}"  # a live process's write in progress
    live.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"x")
    (backup / "training_metadata.json").write_text('{"epoch": 9}')
    assert backup_epoch(tmp_path) == 3  # Keras' old files are not a resume state
    prune(tmp_path)
    assert sorted(p.name for p in backup.iterdir()) == sorted(["epoch-000003", live.name])


@pytest.mark.parametrize("phase", PHASES)
def test_fault_point_kills_at_each_phase(tmp_path, phase):
    """SIGKILL at each phase of epoch 2's save: epoch 1 or 2 is left whole, never a mix."""
    code = (
        "import numpy as np, sys\n"
        "from blurlib.training.backup import write_backup\n"
        "for e in (1, 2):\n"
        "    write_backup(sys.argv[1], e, lambda p: p.write_bytes(bytes([e]) * 4096),\n"
        "                 {'0': np.full(2, e)}, {'epoch_seen': e})\n"
    )
    env = {**os.environ, "BLURLIB_FAULT": f"{phase}@2:KILL"}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, check=False)
    assert done.returncode == -signal.SIGKILL
    expected = 2 if PHASES.index(phase) >= PHASES.index("renamed") else 1
    latest = latest_backup(tmp_path)
    assert latest.epoch == expected and latest.state == {"epoch_seen": expected}
    assert latest.weights.read_bytes() == bytes([expected]) * 4096
    with np.load(latest.rng) as rng:
        np.testing.assert_array_equal(rng["0"], np.full(2, expected))
    prune(tmp_path)
    assert [p.name for p in (tmp_path / "backup").iterdir()] == [f"epoch-{expected:06d}"]


# --------------------------------------------------------------------------------------------
# the harness: real training runs, interrupted at each phase and resumed
# --------------------------------------------------------------------------------------------

EPOCHS = 4
TRAIN = [
    "--preset", "quick", "--width", "8", "--batch-size", "16", "--min-texture", "0",
    "--dropout", "0.2", "--no-tensorboard", "-q", "--seed", "1", "--epochs", str(EPOCHS),
]  # fmt: skip


def _train(data: Path, out: Path, fault: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "BLURLIB_FAULT"}
    if fault:
        env["BLURLIB_FAULT"] = fault
    cmd = [sys.executable, "-m", "blurlib", "train", "--data", str(data), "--out", str(out)]
    return subprocess.Popen(
        [*cmd, *TRAIN], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=_default_sigint,
    )  # fmt: skip


def _default_sigint() -> None:
    """A shell that starts this suite in the background ignores SIGINT for its children, and
    Python keeps an inherited "ignore": give the run Ctrl-C's default, as in a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def _final_weights(run: Path) -> list[np.ndarray]:
    from blurlib.nets.files import load_model

    return load_model(run / "model.keras").get_weights()


def _kill_when_writing(proc: subprocess.Popen, run: Path) -> None:
    """SIGKILL the run the moment a weights file appears in a temporary backup folder."""
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if any((run / "backup").glob(".epoch-*.tmp-*/model.weights.h5")):
            proc.send_signal(signal.SIGKILL)
            return
        time.sleep(0.001)


@pytest.fixture(scope="module")
def reference(tiny_dataset, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    code, err = _finish(_train(tiny_dataset, run))
    assert code == 0, err
    return run


@pytest.mark.slow
@pytest.mark.parametrize("sig", ["INT", "KILL"])
def test_resume_after_a_kill_at_every_phase_equals_an_uninterrupted_run(
    tiny_dataset, tmp_path, reference, sig
):
    run = tmp_path / "run"
    state = 0  # complete epochs in the resume state
    for phase in PHASES:
        epoch = state + 1  # the first save this run reaches
        code, err = _finish(_train(tiny_dataset, run, f"{phase}@{epoch}:{sig}"))
        if sig == "KILL":
            assert code == -signal.SIGKILL, err
        else:
            assert code == 130, err
            assert err.strip().splitlines()[-1].startswith("interrupted:"), err
        assert "Traceback" not in err, err
        state = epoch if PHASES.index(phase) >= PHASES.index("renamed") else state
        assert backup_epoch(run) == state, (phase, sig)
    if sig == "KILL":  # and once at an instant found by watching the files
        proc = _train(tiny_dataset, run)
        _kill_when_writing(proc, run)
        _finish(proc)
    code, err = _finish(_train(tiny_dataset, run))
    assert code == 0 and "Traceback" not in err, err
    log = (run / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == [str(e) for e in range(EPOCHS)]
    assert [b.epoch for b in backups(run)] == [EPOCHS]
    for a, b in zip(_final_weights(reference), _final_weights(run), strict=True):
        np.testing.assert_array_equal(a, b)


def test_stopping_rules_carry_on_from_their_counters_after_keras_resets_them(tmp_path):
    import keras

    from blurlib.training.callbacks import callback_classes

    plateau = keras.callbacks.ReduceLROnPlateau(patience=3)
    stop = keras.callbacks.EarlyStopping(patience=4)
    saved = {
        "callbacks": {
            "ReduceLROnPlateau": {"wait": 2, "best": 0.25, "cooldown_counter": 1},
            "EarlyStopping": {"wait": 3, "best": 0.2, "best_epoch": 5},
        }
    }
    _, ResumeBackup = callback_classes()
    resume = ResumeBackup(tmp_path, [plateau, stop], saved)
    for cb in (plateau, stop, resume):  # Keras' order: the rules reset, then the resume
        cb.on_train_begin()
    assert (plateau.wait, plateau.best, plateau.cooldown_counter) == (2, 0.25, 1)
    assert (stop.wait, stop.best, stop.best_epoch) == (3, 0.2, 5)
