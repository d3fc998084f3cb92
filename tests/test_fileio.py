"""Atomic writes: the old file survives an interrupted write; no temporary files remain."""

from __future__ import annotations

import os

import pytest

from blurlib.fileio import atomic_path, write_bytes, write_text


def test_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.json"
    write_text(target, "one")
    write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_interrupted_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        assert tmp.suffix == ".keras" and tmp.parent == tmp_path
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_folders_are_replaced_whole(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "stale.txt").write_text("x")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("y")
    assert [p.name for p in target.iterdir()] == ["new.txt"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    import subprocess
    import sys

    from blurlib.fileio import remove_stale_temps, temp_sibling

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    target = tmp_path / "data"
    stale = tmp_path / f".data.tmp-{dead_pid}"
    (stale / "sharp").mkdir(parents=True)  # a folder left by a generate killed with SIGKILL
    live = tmp_path / f".data.tmp-{os.getppid()}"  # a live process's: kept
    live.mkdir()
    other = tmp_path / f".other.tmp-{dead_pid}"  # another target's: not ours to touch
    other.mkdir()
    assert remove_stale_temps(target) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
    with atomic_path(target) as tmp:  # and every atomic write cleans up first
        assert tmp == temp_sibling(target)
        tmp.mkdir()
    assert target.is_dir()


def test_exclusive_refuses_a_second_writer_and_cleans_up(tmp_path):
    from blurlib.errors import BlurlibError
    from blurlib.fileio import exclusive

    lock = tmp_path / ".x.lock"
    with exclusive(lock, "--out X"):
        assert lock.read_text() == f"pid {os.getpid()}"
        with pytest.raises(BlurlibError, match=r"--out X is being written by another blurlib run"):
            with exclusive(lock, "--out X"):
                pass
        assert lock.exists()  # the refused one did not remove the holder's lock
    assert not lock.exists()
    with exclusive(lock, "--out X"):  # free again
        pass


def test_generate_refuses_while_another_run_writes_the_same_out(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from blurlib.cli import main
    from blurlib.fileio import exclusive

    photos = tmp_path / "p"
    photos.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 60, 3), np.uint8)).save(
        photos / "a.png"
    )
    out = tmp_path / "ds"
    with exclusive(tmp_path / ".ds.lock", "--out ds"):  # as a concurrent generate holds it
        rc = main(["generate", "--source", str(photos), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "another blurlib run" in err and err.count("\n") == 1
    assert not out.exists()


def test_many_writes_into_one_folder_list_it_once(tmp_path, monkeypatch):
    """Writing N files into a folder must not list the folder N times (N² on big folders)."""
    from pathlib import Path

    from blurlib.fileio import write_text

    listed = []
    iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: listed.append(self) or iterdir(self))
    for k in range(50):
        write_text(tmp_path / f"map{k}.json", "{}")
    assert listed.count(tmp_path) == 1 and len(list(tmp_path.iterdir())) == 50
