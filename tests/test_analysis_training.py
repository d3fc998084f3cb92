"""Training the blur-analysis nets: a tiny run writes its files, resumes, and never reads test
photos."""

from __future__ import annotations

import csv
import json
import signal

import numpy as np
import pytest
from helpers import noise_texture

from blurlib.nets.analysis import is_analysis_model, is_sun2015_model
from blurlib.nets.files import load_model
from blurlib.training.analysis import AnalysisTrainConfig, train_analysis


@pytest.fixture(scope="module")
def photo_list(tmp_path_factory):
    import cv2

    root = tmp_path_factory.mktemp("photos")
    lines = []
    for s in range(4):
        cv2.imwrite(str(root / f"p{s}.png"), noise_texture(200, 240, seed=20 + s))
        lines.append(str(root / f"p{s}.png"))
    lines += ["# [test]", str(root / "missing_test_photo.png")]  # never opened in training
    path = root / "list.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(run):
    with open(run / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_tiny_analysis_run_writes_and_resumes(photo_list, tmp_path):
    cfg = dict(epochs=1, per_epoch=128, val_patches=64, batch_size=32, width=8, deadleaves=1)
    cfg.update(deadleaves_side=128, max_side=256, val_share=0.25)
    run = tmp_path / "run"
    summary = train_analysis(photo_list, run, AnalysisTrainConfig(**cfg), verbose=0)
    assert summary["epochs_run"] == 1 and len(_rows(run)) == 1
    assert len(summary["val_photos"]) == 1 and "deadleaves-0000" in summary["train_photos"]
    assert not set(summary["val_photos"]) & set(summary["train_photos"])
    m = load_model(run / "model.keras")
    assert is_analysis_model(m)
    before = [w.copy() for w in m.get_weights()]
    cfg["epochs"] = 2
    summary = train_analysis(photo_list, run, AnalysisTrainConfig(**cfg), resume=True, verbose=0)
    assert summary["epochs_run"] == 2 and [r["epoch"] for r in _rows(run)] == ["1", "2"]
    after = load_model(run / "model.keras").get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert json.loads((run / "train.json").read_text())["config"]["epochs"] == 2


@pytest.mark.slow
def test_an_interrupted_analysis_run_resumes_exactly(photo_list, tmp_path, monkeypatch):
    """Interrupted as epoch 2's resume state is written (its log row is already there), the
    run resumes from epoch 1 and ends with the weights of an uninterrupted run — which drew its
    patches in-process, where the cut run draws them on one worker and resumes on two."""
    cfg = AnalysisTrainConfig(
        epochs=2, per_epoch=128, val_patches=64, batch_size=32, width=8, deadleaves=1,
        deadleaves_side=128, max_side=256, val_share=0.25,
    )  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train_analysis(photo_list, whole, cfg, verbose=0, workers=0)
    monkeypatch.setenv("BLURLIB_FAULT", "begin@2:INT")
    # Ctrl-C's default, even when the suite was started with SIGINT ignored (in the background)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            train_analysis(photo_list, cut, cfg, verbose=0, workers=1)
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.delenv("BLURLIB_FAULT")
    assert [r["epoch"] for r in _rows(cut)] == ["1", "2"]  # the row of the lost epoch
    summary = train_analysis(photo_list, cut, cfg, resume=True, verbose=0, workers=2)
    assert summary["workers"] == 2
    assert [r["epoch"] for r in _rows(cut)] == ["1", "2"]
    a, b = load_model(whole / "model.keras"), load_model(cut / "model.keras")
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_tiny_sun2015_run(photo_list, tmp_path):
    cfg = AnalysisTrainConfig(
        preset="sun2015", epochs=1, per_epoch=64, val_patches=32, batch_size=32,
        deadleaves=0, max_side=256, val_share=0.25,
    )  # fmt: skip
    train_analysis(photo_list, tmp_path / "sun", cfg, verbose=0)
    assert is_sun2015_model(load_model(tmp_path / "sun" / "model.keras"))


def test_config_checks():
    with pytest.raises(ValueError, match="preset"):
        AnalysisTrainConfig(preset="nope")
    with pytest.raises(ValueError):
        AnalysisTrainConfig(epochs=0)
    with pytest.raises(ValueError, match="length_weight"):
        AnalysisTrainConfig(length_weight=0.0)
    with pytest.raises(ValueError, match="strand_scenes"):
        AnalysisTrainConfig(strand_scenes=-1)
    with pytest.raises(ValueError, match="mix_shape"):
        AnalysisTrainConfig(mix_shape="blobs")
    with pytest.raises(ValueError, match="mix_shape"):
        AnalysisTrainConfig(preset="sun2015", mix_shape="region")


def test_sharp_sigma_sets_how_soft_a_sharp_crop_may_be():
    from blurlib.data.kinds import BASE, KindConfig

    assert AnalysisTrainConfig().kind_config() == KindConfig()  # default: earlier runs' bytes
    c = AnalysisTrainConfig(sharp_sigma=1.2, context=15).kind_config()
    assert c.base.gaussian_sigma == (BASE.gaussian_sigma[0], 1.2)
    assert c.base.gaussian_prob == BASE.gaussian_prob and c.context == 15
    assert c.defocus_radius == KindConfig().defocus_radius  # defocus unchanged
    nb = AnalysisTrainConfig(sharp_sigma=1.2, neighbours=True).kind_config()
    assert nb.base.gaussian_sigma[1] == 1.2
    for bad in (0.1, 3.5):
        with pytest.raises(ValueError, match="sharp_sigma"):
            AnalysisTrainConfig(sharp_sigma=bad)
    with pytest.raises(ValueError, match="sun2015"):
        AnalysisTrainConfig(preset="sun2015", sharp_sigma=1.2)


def test_the_training_command_names_a_bad_setting_in_one_line(tmp_path, capsys):
    from blurlib.training.analysis import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "run"), "--mix-shape", "blobs"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "mix_shape must be one of" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_strand_scenes_join_the_training_photos_only(photo_list):
    from blurlib.training.analysis import load_split_photos

    cfg = AnalysisTrainConfig(deadleaves=1, strand_scenes=2, deadleaves_side=64, max_side=256)
    got = load_split_photos(photo_list, cfg)
    names = [n for n, _ in got["train"]]
    assert names[-3:] == ["deadleaves-0000", "deadleaves-strands-0000", "deadleaves-strands-0001"]
    assert not any(n.startswith("deadleaves") for n, _ in got["val"])
    plain = load_split_photos(
        photo_list, AnalysisTrainConfig(deadleaves=1, max_side=256, deadleaves_side=64)
    )
    assert [n for n, _ in plain["train"]] == names[:-2]  # the other photos are unchanged
    assert got["train"][-1][1].shape == (64, 64, 3)


def test_extra_photos_join_the_training_side_only(photo_list, tmp_path):
    import cv2

    from blurlib.training.analysis import load_split_photos

    extra = tmp_path / "extra"
    extra.mkdir()
    for s in range(2):
        cv2.imwrite(str(extra / f"e{s}.png"), noise_texture(120, 150, seed=40 + s))
    (extra / "list.txt").write_text(f"{extra / 'e0.png'}\n# [test]\n{extra / 'e1.png'}\n")
    cfg = AnalysisTrainConfig(deadleaves=0, max_side=256, val_share=0.25)
    plain = load_split_photos(photo_list, cfg)
    got = load_split_photos(photo_list, cfg, [f"{extra / 'list.txt'}:all"])
    assert [n for n, _ in got["val"]] == [n for n, _ in plain["val"]]  # validation unchanged
    assert [n for n, _ in got["train"]] == [n for n, _ in plain["train"]] + ["e0", "e1"]
    assert got["train"][-1][1].shape == (120, 150, 3)


def test_an_extra_photo_that_is_held_out_or_named_like_a_listed_one_is_refused(tmp_path):
    import cv2

    from blurlib.errors import DatasetError
    from blurlib.training.analysis import load_split_photos

    for name in ("a", "b", "c", "held"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), noise_texture(60, 60, seed=len(name)))
    listed = tmp_path / "list.txt"
    listed.write_text("a.png\nb.png\nc.png\n# [test]\nheld.png\n")
    cfg = AnalysisTrainConfig(deadleaves=0, val_share=0.34)
    (tmp_path / "other").mkdir()
    cv2.imwrite(str(tmp_path / "other" / "a.png"), noise_texture(60, 60, seed=9))
    (tmp_path / "extra.txt").write_text("held.png\n")
    with pytest.raises(DatasetError, match="held-out test photo"):
        load_split_photos(listed, cfg, [str(tmp_path / "extra.txt")])
    with pytest.raises(DatasetError, match="named 'a'"):
        load_split_photos(listed, cfg, [str(tmp_path / "other")])


def test_a_photo_listed_twice_whole_or_cropped_is_refused_for_training(tmp_path):
    """Its parts could land on both sides of the train/validation split."""
    import cv2

    from blurlib.errors import DatasetError
    from blurlib.training.analysis import load_split_photos

    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), noise_texture(90, 120, seed=len(name)))
    listed = tmp_path / "list.txt"
    cfg = AnalysisTrainConfig(deadleaves=0, val_share=0.5)
    listed.write_text("a.png\nb.png\na.png crop=0,0,60,60\n")
    with pytest.raises(DatasetError, match=r"lists .*a\.png twice \('a' and 'a@0,0,60,60'\)"):
        load_split_photos(listed, cfg)
    listed.write_text("a.png\nb.png\n")
    (tmp_path / "extra.txt").write_text("a.png crop=0,0,60,60\n")
    with pytest.raises(DatasetError, match="also a photo of"):
        load_split_photos(listed, cfg, [str(tmp_path / "extra.txt")])


def test_the_training_command_names_a_bad_photo_source_in_one_line(photo_list, tmp_path, capsys):
    from blurlib.training.analysis import main

    code = main(
        ["--photos", str(photo_list), "--extra-photos", str(tmp_path / "nowhere"), "--out",
         str(tmp_path / "run"), "--epochs", "1", "--per-epoch", "8", "--val-patches", "8"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "nowhere" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_an_interrupted_training_command_says_how_to_go_on(monkeypatch, tmp_path, capsys):
    import blurlib.training.analysis as module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "train_analysis", interrupted)
    code = module.main(["--out", str(tmp_path / "run"), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 130 and err.count("\n") == 1 and "--resume" in err
    assert "Traceback" not in err


def test_length_weight_scales_only_the_length_term_of_motion_patches():
    from blurlib.nets.analysis import LENGTH_SCALE, analysis_loss
    from blurlib.training.analysis import build_and_compile

    # a motion patch 0.5 length-scales off (Huber 0.125) and a sharp one (no length term)
    y_true = np.array([[1, 1, 0, 20.0], [0, 0, 0, 0]], np.float32)
    off = 0.5 * LENGTH_SCALE
    y_pred = np.array([[0.2, 0.6, 0.2, 1, 0, 20 - off], [0.7, 0.2, 0.1, 0, 0, 30]], np.float32)
    one = np.asarray(analysis_loss()(y_true, y_pred))
    four = np.asarray(analysis_loss(length_weight=4.0)(y_true, y_pred))
    np.testing.assert_allclose(four - one, [3 * 0.125, 0.0], atol=1e-6)
    _, view = build_and_compile(AnalysisTrainConfig(length_weight=4.0, epochs=1), steps=1)
    np.testing.assert_allclose(np.asarray(view.loss(y_true, y_pred)), four, atol=1e-6)


@pytest.mark.slow
def test_a_context_run_trains_and_evaluates_on_windows(photo_list, tmp_path):
    from blurlib.evaluation.kinds import evaluate_analysis
    from blurlib.nets.analysis import model_context

    cfg = AnalysisTrainConfig(
        epochs=1, per_epoch=64, val_patches=32, batch_size=32, width=8, deadleaves=0,
        max_side=256, val_share=0.25, context=15, mix_share=0.5, context_width=4,
    )  # fmt: skip
    summary = train_analysis(photo_list, tmp_path / "ctx", cfg, verbose=0)
    assert summary["kind_config"]["mix_share"] == "0.5"
    m = load_model(tmp_path / "ctx" / "model.keras")
    assert model_context(m) == 15 and tuple(m.inputs[0].shape[1:3]) == (60, 60)
    assert m.get_layer("ctx_b1c1_conv").filters == 4
    photos = [noise_texture(220, 220, seed=s) for s in (40, 41)]
    out = evaluate_analysis(m, photos, patches=64, real_photos=[("p", photos[0])])
    assert out["context"] == 15 and out["kinds"]["patches"] == 64
    assert 0.0 <= out["real"]["p"]["share_motion"] <= 1.0  # whole photos: windows cropped
    with pytest.raises(ValueError, match="context"):
        AnalysisTrainConfig(preset="sun2015", context=15)
    with pytest.raises(ValueError, match="mix_share"):
        AnalysisTrainConfig(preset="sun2015", mix_share=0.5)


@pytest.mark.slow
def test_a_neighbour_run_trains_on_whole_crops_and_resumes_exactly(tmp_path, monkeypatch):
    import cv2

    from blurlib.nets.neighbours import is_neighbour_model
    from blurlib.predict import patch_analysis

    lines = []  # whole crops need photos of at least 272 px (8 cells and the blur margin)
    for s in range(4):
        cv2.imwrite(str(tmp_path / f"p{s}.png"), noise_texture(290, 300, seed=30 + s))
        lines.append(str(tmp_path / f"p{s}.png"))
    photo_list = tmp_path / "list.txt"
    photo_list.write_text("\n".join(lines) + "\n")
    cfg = AnalysisTrainConfig(
        epochs=2, per_epoch=96, val_patches=48, batch_size=32, width=8, deadleaves=1,
        deadleaves_side=300, max_side=300, val_share=0.25, neighbours=True, mix_share=0.5,
    )  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    summary = train_analysis(photo_list, whole, cfg, verbose=0)
    kc = summary["kind_config"]
    assert (kc["crop_patches"], kc["context"], summary["workers"]) == ("6", "30", 0)
    m = load_model(whole / "model.keras")
    assert is_neighbour_model(m) and tuple(m.inputs[0].shape[1:3]) == (90, 90)
    assert patch_analysis(m, noise_texture(120, 150, seed=3)).p_motion.shape == (4, 5)
    monkeypatch.setenv("BLURLIB_FAULT", "begin@2:INT")  # cut as epoch 2's state is written
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            train_analysis(photo_list, cut, cfg, verbose=0)
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.delenv("BLURLIB_FAULT")
    train_analysis(photo_list, cut, cfg, resume=True, verbose=0)
    a, b = load_model(whole / "model.keras"), load_model(cut / "model.keras")
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_the_neighbour_net_takes_no_context_trunk():
    with pytest.raises(ValueError, match="context trunk"):
        AnalysisTrainConfig(neighbours=True, context=15)
    with pytest.raises(ValueError, match="neighbours"):
        AnalysisTrainConfig(preset="sun2015", neighbours=True)
    c = AnalysisTrainConfig(neighbours=True, mix_share=0.5).kind_config()
    assert (c.context, c.crop_patches, c.mix_share) == (30, 6, 0.5)
    with pytest.raises(ValueError, match="set neighbours"):
        AnalysisTrainConfig(windows=True)
    with pytest.raises(ValueError, match="grid_cells"):
        AnalysisTrainConfig(neighbours=True, grid_cells=0)
    small = AnalysisTrainConfig(neighbours=True, grid_cells=3).kind_config()
    assert (small.context, small.crop_patches) == (30, 3)


def test_the_neighbour_net_can_train_on_windows_instead_of_whole_crops():
    from blurlib.training.analysis import build_and_compile

    cfg = AnalysisTrainConfig(neighbours=True, windows=True, width=8)
    assert not cfg.whole_crops and cfg.kind_config().context == 30
    assert cfg.kind_config().crop_patches == 4  # the windows of kind_patches' own crops
    model, view = build_and_compile(cfg, steps=1)
    assert tuple(model.inputs[0].shape[1:]) == (90, 90, 3)
    assert tuple(view.outputs[0].shape) == (None, 6)
    _, grid = build_and_compile(AnalysisTrainConfig(neighbours=True, width=8), steps=1)
    assert tuple(grid.outputs[0].shape) == (None, 6, 6, 6)
    _, small = build_and_compile(AnalysisTrainConfig(neighbours=True, width=8, grid_cells=3), 1)
    assert tuple(small.inputs[0].shape[1:]) == (150, 150, 3)
