"""blurlib.training: photo-level split, tf.data pipeline, devices, fit, resume, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blurlib.data.dataset import Example
from blurlib.data.patches import TEXTURE_THRESHOLD
from blurlib.errors import BlurlibError, DatasetError
from blurlib.training.config import FLAT_TEXTURE, PRESETS, TrainConfig, get_config
from blurlib.training.devices import choose_jit, choose_precision, choose_strategy
from blurlib.training.fit import fit
from blurlib.training.pipeline import make_dataset
from blurlib.training.runs import load_history
from blurlib.training.split import SPLITS, patch_arrays, split_by_source

ROOT = Path(__file__).resolve().parent.parent


# tiny, fast setting: width-8 compact net; BN statistics need a few dozen steps, so batch 16
TINY = PRESETS["quick"].replace(
    width=8, batch_size=16, epochs=3, min_texture=0.0, tensorboard=False
)


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------


def test_split_groups_photos_and_is_deterministic():
    sources = [f"p{i % 10}" for i in range(37)]
    split = split_by_source(sources, seed=3)
    assert split == split_by_source(sources, seed=3)
    assert sorted(i for idx in split.values() for i in idx) == list(range(37))
    sides = {name: {sources[i] for i in idx} for name, idx in split.items()}
    assert not sides["train"] & sides["val"]
    assert not sides["train"] & sides["test"]
    assert not sides["val"] & sides["test"]
    assert [len(sides[k]) for k in SPLITS] == [7, 2, 1]  # 10 photos at 70/15/15
    assert split != split_by_source(sources, seed=4)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.sampled_from("abcdefghijklmnop"), min_size=3, max_size=40),
    seed=st.integers(0, 1000),
)
def test_split_never_leaks_a_photo(names, seed):
    if len(set(names)) < 3:
        with pytest.raises(DatasetError):
            split_by_source(names, seed=seed)
        return
    split = split_by_source(names, seed=seed)
    assert sorted(i for idx in split.values() for i in idx) == list(range(len(names)))
    owner: dict[str, str] = {}
    for side, idx in split.items():
        assert idx, f"{side} is empty"
        for i in idx:
            assert owner.setdefault(names[i], side) == side


def test_split_test_sources_override_and_errors():
    sources = ["a", "b", "c", "d", "e", "a", "f"]
    split = split_by_source(sources, test_sources=["a", "f"])
    assert split["test"] == [0, 5, 6]
    assert split["train"] and split["val"]
    with pytest.raises(DatasetError, match="zzz"):
        split_by_source(sources, test_sources=["zzz"])
    with pytest.raises(DatasetError):
        split_by_source(["a", "b"])  # 2 photos cannot fill 3 splits
    # a zero fraction is allowed to be empty
    assert split_by_source(["a", "b"], fractions=(0.5, 0, 0.5))["val"] == []


def test_split_val_sources_named():
    sources = ["a", "b", "c", "d", "e", "a", "f"]
    split = split_by_source(sources, test_sources=["f"], val_sources=["b", "e"])
    assert split == {"train": [0, 2, 3, 5], "val": [1, 4], "test": [6]}
    with pytest.raises(DatasetError, match=r"validation source.*zzz"):
        split_by_source(sources, test_sources=["f"], val_sources=["zzz"])
    with pytest.raises(DatasetError, match="both test and validation"):
        split_by_source(sources, test_sources=["f"], val_sources=["f"])
    with pytest.raises(ValueError, match="needs test_sources"):
        split_by_source(sources, val_sources=["b"])
    config = get_config("quick", test_sources=("f",), val_sources=("b",))
    assert TrainConfig.from_dict(config.to_dict()) == config


# --------------------------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------------------------


def _example(i: int, rows: int, cols: int, rng: np.random.Generator) -> Example:
    image = rng.integers(0, 256, (rows * 30 + 7, cols * 30 + 11, 3), dtype=np.uint8)
    sharp = image.copy()
    sharp[:30, :30] = 128  # patch (0, 0) is flat (but for what its neighbours blur into it)
    labels = rng.integers(0, 2, (rows, cols), dtype=np.uint8)
    return Example(i, f"{i}.jpg", image, sharp, labels, f"s{i}", {})


def test_patch_arrays_order_and_flat_filter():
    rng = np.random.default_rng(0)
    exs = [_example(0, 2, 3, rng), _example(1, 1, 2, rng)]
    X, y = patch_arrays(exs, [1, 0])
    assert X.dtype == np.uint8 and X.shape == (2 + 6, 30, 30, 3) and y.dtype == np.uint8
    np.testing.assert_array_equal(X[0], exs[1].image[:30, :30])
    np.testing.assert_array_equal(X[2 + 4], exs[0].image[30:60, 30:60])  # row 1, col 1
    np.testing.assert_array_equal(y, np.concatenate([exs[1].labels.ravel(), exs[0].labels.ravel()]))
    Xf, _ = patch_arrays(exs, [1, 0], min_texture=FLAT_TEXTURE)
    assert len(Xf) == 6  # each image loses its flat patch (0, 0)
    np.testing.assert_array_equal(Xf[0], exs[1].image[:30, 30:60])
    assert FLAT_TEXTURE == TEXTURE_THRESHOLD


# --------------------------------------------------------------------------------------------
# tf.data
# --------------------------------------------------------------------------------------------


def _ids(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Patches numbered in their top-left pixel; labels = number % 2."""
    X = np.zeros((n, 30, 30, 3), np.uint8)
    X[:, 0, 0, 0] = np.arange(n) % 256
    X[:, 0, 0, 1] = np.arange(n) // 256
    return X, (np.arange(n) % 2).astype(np.uint8)


def _decode(batch_x: np.ndarray) -> np.ndarray:
    x = batch_x.astype(np.int64)
    return x[:, 0, 0, 0] + 256 * x[:, 0, 0, 1]


def test_make_dataset_plain_order_dtypes():
    X, y = _ids(70)
    batches = list(make_dataset(X, y, 32))
    assert [b[0].shape[0] for b in batches] == [32, 32, 6]
    xb, yb = batches[0]
    assert xb.dtype.name == "float32" and yb.dtype.name == "int32"
    assert xb.shape[1:] == (30, 30, 3)
    got = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_array_equal(got, X.astype(np.float32))
    assert len(list(make_dataset(X, y, 32, drop_remainder=True))) == 2


def test_make_dataset_epochs_are_seeded_permutations():
    X, y = _ids(100)
    ds = make_dataset(X, y, 25, shuffle=True, seed=5, epochs=3)
    order = np.concatenate([_decode(b[0].numpy()) for b in ds])
    labels = np.concatenate([b[1].numpy() for b in ds])
    assert len(order) == 300
    for e in range(3):
        assert sorted(order[100 * e : 100 * (e + 1)]) == list(range(100))
    assert not np.array_equal(order[:100], order[100:200])
    np.testing.assert_array_equal(labels, order % 2)
    # epoch 2 is the same whether the pipeline starts at epoch 0 or resumes at 2
    resumed = make_dataset(X, y, 25, shuffle=True, seed=5, epochs=3, start_epoch=2)
    np.testing.assert_array_equal(
        np.concatenate([_decode(b[0].numpy()) for b in resumed]), order[200:]
    )
    other = make_dataset(X, y, 25, shuffle=True, seed=6, epochs=1)
    assert not np.array_equal(np.concatenate([_decode(b[0].numpy()) for b in other]), order[:100])


def _symmetries(p: np.ndarray) -> list[np.ndarray]:
    out = []
    for q in (p, p.transpose(1, 0, 2)):
        out.extend(np.rot90(q, k) for k in range(4))
    return out


def test_augmentation_keeps_labels_and_draws_all_symmetries():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (64, 30, 30, 3), dtype=np.uint8)
    y = rng.integers(0, 2, 64, dtype=np.uint8)
    keys = {X[i].tobytes(): i for i in range(64)}
    sorted_keys = {np.sort(X[i], axis=None).tobytes(): i for i in range(64)}
    assert len(keys) == len(sorted_keys) == 64
    seen = set()
    ds = make_dataset(X, y, 16, shuffle=True, augment=True, seed=0, epochs=2)
    for xb, yb in ds:
        for x, label in zip(xb.numpy().astype(np.uint8), yb.numpy()):
            src = sorted_keys[np.sort(x, axis=None).tobytes()]
            assert label == y[src]
            match = [k for k, s in enumerate(_symmetries(X[src])) if np.array_equal(s, x)]
            assert match, "augmented patch is not a flip/rotation of its source"
            seen.add(match[0])
    assert seen == set(range(8))
    # same seed, same augmented batches
    a = [b[0].numpy() for b in make_dataset(X, y, 16, True, True, seed=0, epochs=1)]
    b = [b[0].numpy() for b in make_dataset(X, y, 16, True, True, seed=0, epochs=1)]
    np.testing.assert_array_equal(np.stack(a), np.stack(b))


# --------------------------------------------------------------------------------------------
# devices, presets
# --------------------------------------------------------------------------------------------


def test_strategy_precision_jit_on_cpu(monkeypatch):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("CPU-only expectations")
    s = choose_strategy("auto")
    assert s.num_replicas_in_sync == 1
    assert choose_precision("auto", s) == "float32"
    assert choose_precision("on", s) == "mixed_float16"
    assert choose_precision("off", s) == "float32"
    assert choose_precision("bf16", s) == "mixed_bfloat16"
    assert choose_jit("auto", s) is False
    assert choose_jit(True, s) is True
    assert choose_strategy("cpu").num_replicas_in_sync == 1
    with pytest.raises(BlurlibError, match="no GPU"):
        choose_strategy("gpu")
    with pytest.raises(BlurlibError, match="unknown strategy"):
        choose_strategy("tpu-pod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(BlurlibError, match="TF_CONFIG"):
        choose_strategy("multiworker")


def test_presets():
    p = PRESETS
    assert (p["report"].model, p["report"].lr, p["report"].batch_size) == ("report", 0.01, 126)
    assert (p["report"].epochs, p["report"].optimizer, p["report"].augment) == (100, "adam", False)
    assert p["report_as_run"].lr == 1e-3 and p["report_as_run"].model == "report"
    assert p["recommended"].model == "compact" and p["recommended"].augment
    assert p["recommended"].early_stopping > 0 and p["quick"].epochs <= 3
    cfg = get_config("quick", epochs=7, lr=None)
    assert cfg.epochs == 7 and cfg.lr == p["quick"].lr
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(BlurlibError, match="unknown preset"):
        get_config("fast")


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_fit_learns_and_writes_run_folder(tiny_dataset, tmp_path):
    from blurlib.data.dataset import load_dataset
    from blurlib.nets.builders import blur_probability
    from blurlib.nets.files import load_model

    out = tmp_path / "run"
    result = fit(TINY, tiny_dataset, out, seed=0, verbose=0)
    for name in ("model.keras", "motionblur.h5", "best.keras", "last.keras", "log.csv"):
        assert (out / name).is_file(), name
    assert result.epochs == 3 and len(result.history["loss"]) == 3
    # held-out photos: clearly above chance
    examples = load_dataset(tiny_dataset)
    X, y = patch_arrays(examples, result.split["test"])
    model = load_model(result.model_path)
    p = blur_probability(model.predict(X.astype(np.float32), verbose=0))
    accuracy = float(((p >= 0.5) == (y == 1)).mean())
    assert accuracy >= 0.7, accuracy
    # split.json: the test photos, never shared
    split = json.loads((out / "split.json").read_text())
    assert split["test"] == result.split["test"]
    assert not set(split["sources"]["test"]) & set(split["sources"]["train"])
    # train_config.json: enough to reproduce and to know the machine
    info = json.loads((out / "train_config.json").read_text())
    assert info["status"] == "completed" and info["seed"] == 0
    assert info["config"]["lr"] == TINY.lr and info["data"] == str(tiny_dataset.resolve())
    assert info["machine"]["tensorflow"] and info["seconds"]["fit"] > 0
    assert info["replicas"] == 1 and info["precision"] == "float32"
    assert load_model(out / "motionblur.h5").count_params() == model.count_params()


@pytest.mark.slow
def test_fit_learns_on_generated_sample_photos(tmp_path):
    """The bundled photos, the report's kernel, 3 quick epochs: clearly above chance on the
    textured patches of two photos never trained on."""
    from blurlib.data.dataset import generate, load_dataset
    from blurlib.data.patches import textured_mask
    from blurlib.nets.builders import blur_probability
    from blurlib.nets.files import load_model

    folder = generate(tmp_path / "data", source="sample", kernel="report", progress=False)
    examples = load_dataset(folder)
    cfg = PRESETS["quick"].replace(
        batch_size=32, width=16, tensorboard=False, test_sources=("astronaut", "coffee")
    )
    result = fit(cfg, folder, tmp_path / "run", examples=examples, verbose=0)
    model = load_model(result.model_path)
    right = []
    for i in result.split["test"]:
        X, y = patch_arrays(examples, [i])
        p = blur_probability(model.predict(X.astype(np.float32), verbose=0))
        right.append(((p >= 0.5) == (y == 1))[textured_mask(examples[i].sharp).ravel()])
    accuracy = float(np.concatenate(right).mean())
    assert accuracy >= 0.7, accuracy


class _Stop(Exception):
    pass


def _interrupt_at(epoch_to_stop: int):
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == epoch_to_stop:
                raise _Stop

    return Interrupt()


@pytest.mark.slow
def test_resume_continues_where_it_stopped(tiny_dataset, tmp_path):
    from blurlib.nets.files import load_model

    cfg = TINY.replace(epochs=4, dropout=0.2)
    whole = fit(cfg, tiny_dataset, tmp_path / "whole", seed=1, verbose=0)
    with pytest.raises(_Stop):
        fit(cfg, tiny_dataset, tmp_path / "cut", seed=1, verbose=0, callbacks=[_interrupt_at(2)])
    log = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["0", "1"]
    resumed = fit(cfg, tiny_dataset, tmp_path / "cut", seed=1, verbose=0)
    assert resumed.initial_epoch == 2 and len(resumed.history["loss"]) == 2
    log = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["0", "1", "2", "3"]
    history = load_history(tmp_path / "cut")
    assert history["epoch"] == [0, 1, 2, 3] and len(history["val_loss"]) == 4
    # weights, optimizer, data order and dropout state were all restored: same result
    np.testing.assert_allclose(resumed.history["loss"], whole.history["loss"][2:], rtol=1e-4)
    for a, b in zip(
        load_model(whole.model_path).get_weights(), load_model(resumed.model_path).get_weights()
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # a finished run is not trained again; a different recipe is refused
    again = fit(cfg, tiny_dataset, tmp_path / "cut", seed=1, verbose=0)
    assert again.history == {} and again.initial_epoch == 4
    with pytest.raises(BlurlibError, match="lr"):
        fit(cfg.replace(lr=0.5), tiny_dataset, tmp_path / "cut", seed=1, verbose=0)
    fresh = fit(cfg.replace(epochs=1), tiny_dataset, tmp_path / "cut", seed=1, resume=False)
    assert fresh.initial_epoch == 0 and len(fresh.history["loss"]) == 1


def test_tiny_fit_writes_run_folder_and_resumes(tiny_dataset, tmp_path):
    """The fast tier's fit: 64 patches, interrupted after one epoch and resumed for the
    second (the slow tests above check learning and that a resumed run is exact)."""
    cfg = TINY.replace(epochs=2, dropout=0.2)
    out = tmp_path / "run"
    kw = {"seed": 1, "verbose": 0, "max_train_patches": 64}
    with pytest.raises(_Stop):
        fit(cfg, tiny_dataset, out, callbacks=[_interrupt_at(1)], **kw)
    assert json.loads((out / "train_config.json").read_text())["status"] == "running"
    resumed = fit(cfg, tiny_dataset, out, **kw)
    assert resumed.train_patches == 64 and resumed.epochs == 2
    assert resumed.initial_epoch == 1 and len(resumed.history["loss"]) == 1
    assert np.isfinite(resumed.history["loss"][0])
    assert load_history(out)["epoch"] == [0, 1]
    for name in ("model.keras", "motionblur.h5", "best.keras", "last.keras", "log.csv"):
        assert (out / name).is_file(), name
    info = json.loads((out / "train_config.json").read_text())
    assert info["status"] == "completed" and info["seed"] == 1


@pytest.mark.slow
def test_two_logical_cpus_mirrored(tiny_dataset, tmp_path):
    script = textwrap.dedent(
        f"""
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        from blurlib.training.config import PRESETS
        from blurlib.training.devices import choose_strategy
        from blurlib.training.fit import fit
        strategy = choose_strategy("mirrored", ["/cpu:0", "/cpu:1"])
        cfg = PRESETS["quick"].replace(
            width=8, batch_size=8, epochs=1, min_texture=0.0, tensorboard=False
        )
        r = fit(cfg, {str(tiny_dataset)!r}, {str(tmp_path / "run")!r}, strategy=strategy,
                      verbose=0)
        print("RESULT", json.dumps({{"replicas": r.replicas, "loss": r.history["loss"],
              "global_batch": r.info["global_batch_size"], "steps": r.info["steps_per_epoch"],
              "devices": r.info["devices"]}}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    res = json.loads(line[len("RESULT ") :])
    assert res["replicas"] == 2 and res["global_batch"] == 16
    assert len(res["devices"]) == 2 and res["steps"] >= 2
    assert np.isfinite(res["loss"][0])
    assert (tmp_path / "run" / "model.keras").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "policy"), [("on", "mixed_float16"), ("bf16", "mixed_bfloat16")])
def test_mixed_precision_exports_float32_model(tiny_dataset, tmp_path, mode, policy):
    import keras

    from blurlib.nets.files import load_model

    before = keras.config.dtype_policy().name
    cfg = TINY.replace(epochs=1, mixed_precision=mode)
    result = fit(cfg, tiny_dataset, tmp_path / "mp", verbose=0, max_train_patches=64)
    assert result.precision == policy and result.train_patches == 64
    assert keras.config.dtype_policy().name == before  # the global policy is restored
    model = load_model(result.model_path)
    assert all(layer.dtype_policy.name == "float32" for layer in model.layers)
    assert np.isfinite(result.history["loss"][0])


def test_fit_with_a_defocus_class_saves_the_motion_detector(tiny_dataset, tmp_path):
    """A three-way net (sharp / motion / defocus) trains on the same labels and is saved as
    the binary detector: two outputs, P(blurred) = its P(motion); the 3-way weights resume."""
    from blurlib.nets.builders import blur_probability, motion_vs_rest
    from blurlib.nets.files import load_model
    from blurlib.training.build import build_net

    cfg = TINY.replace(epochs=1, defocus_class=1.5)
    result = fit(cfg, tiny_dataset, tmp_path / "kinds", verbose=0, max_train_patches=256)
    model = load_model(result.model_path)
    assert model.outputs[0].shape[-1] == 2 and model.layers[-1].name == "motion_vs_rest"
    info = json.loads((result.out_dir / "train_config.json").read_text())
    assert info["config"]["defocus_class"] == 1.5
    net = build_net(cfg, 0)  # the trained 3-way net, rebuilt from the detector's weights
    assert net.outputs[0].shape[-1] == 3
    net.set_weights(model.get_weights()[: len(net.get_weights())])
    x = np.random.default_rng(0).integers(0, 256, (4, 30, 30, 3)).astype(np.float32)
    three = net.predict(x, verbose=0)
    np.testing.assert_allclose(blur_probability(model.predict(x, verbose=0)), three[:, 1], 1e-6)
    merged = motion_vs_rest(net).predict(x, verbose=0)
    np.testing.assert_allclose(merged[:, 0], three[:, 0] + three[:, 2], atol=1e-6)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_train_errors_are_one_line(tmp_path, capsys):
    from blurlib.cli import main

    assert main(["train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a blurlib dataset" in err


def test_cli_train_out_is_a_file_is_one_line(tiny_dataset, tmp_path, capsys):
    from blurlib.cli import main

    file = tmp_path / "a_file"
    file.write_text("mine")
    args = ["train", "--data", str(tiny_dataset), "--out", str(file), "--preset", "quick"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a file" in err and file.read_text() == "mine"


@pytest.mark.slow
def test_cli_train_quick(tiny_dataset, tmp_path, capsys):
    from blurlib.cli import main

    out = tmp_path / "cli"
    argv = ["train", "--data", str(tiny_dataset), "--out", str(out), "--preset", "quick"]
    code = main([*argv, "--epochs", "1", "--batch-size", "32", "--seed", "2", "-q"])
    assert code == 0
    text = capsys.readouterr().out
    assert str(out / "model.keras") in text and "log.csv" in text
    assert json.loads((out / "train_config.json").read_text())["config"]["batch_size"] == 32
    assert main([*argv, "--epochs", "1", "--batch-size", "32", "--seed", "2", "-q"]) == 0
    assert "nothing left to train" in capsys.readouterr().out
    bad = main([*argv, "--test-sources", "nosuchphoto", "--no-resume"])
    assert bad == 2 and "nosuchphoto" in capsys.readouterr().err
    bad = main([*argv, "--val-sources", "astronaut", "--no-resume"])
    assert bad == 2 and "needs --test-sources" in capsys.readouterr().err
    bad = main([*argv, "--test-sources", "photo01", "--val-sources", "moon", "--no-resume"])
    err = capsys.readouterr().err.strip()
    assert bad == 2 and len(err.splitlines()) == 1 and "validation source(s) moon" in err


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_multiworker_mirrored(tiny_dataset, tmp_path):
    """Two local CPU processes train one model with MultiWorkerMirroredStrategy from
    TF_CONFIG; only the chief writes into --out, the other worker into workers/."""
    ports = _free_ports(2)
    script = textwrap.dedent(
        f"""
        import json
        from blurlib.training.config import PRESETS
        from blurlib.training.devices import choose_strategy
        from blurlib.training.fit import fit
        strategy = choose_strategy("multiworker")
        cfg = PRESETS["quick"].replace(
            width=8, batch_size=8, epochs=1, min_texture=0.0, tensorboard=False
        )
        r = fit(cfg, {str(tiny_dataset)!r}, {str(tmp_path / "run")!r}, strategy=strategy,
                      verbose=0)
        print("RESULT", json.dumps({{"replicas": r.replicas, "loss": r.history["loss"],
              "out": str(r.out_dir)}}))
        """
    )
    procs = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": [f"localhost:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps(tf_config),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT ") :]))
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0]["loss"] == pytest.approx(results[1]["loss"])  # one synchronised model
    assert results[0]["out"] == str(tmp_path / "run")
    assert results[1]["out"] == str(tmp_path / "run" / "workers" / "worker-1")
    assert (tmp_path / "run" / "model.keras").is_file()
