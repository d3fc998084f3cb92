"""Blur analysis at the edges: ``predict`` with an analysis model, the pictures, evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import noise_texture

from blurlib.cli import main
from blurlib.data.kinds import kind_patches
from blurlib.evaluation import kinds as ek
from blurlib.inference.analysis import PatchAnalysis, patch_analysis
from blurlib.nets.builders import build_model
from blurlib.nets.files import save_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    m = build_model("analysis", seed=2, width=8)
    return m, save_model(m, tmp_path_factory.mktemp("m") / "analysis.keras")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    import cv2

    path = tmp_path_factory.mktemp("p") / "texture.png"
    cv2.imwrite(str(path), noise_texture(96, 128, seed=3))
    return path


def test_predict_writes_kind_map_fields_and_json(tiny, photo, tmp_path, capsys):
    argv = ["predict", str(photo), "--model", str(tiny[1]), "--out", str(tmp_path)]
    code = main([*argv, "--json", "--fields", "--stride", "8"])
    assert code == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows, cols = (96 - 30) // 8 + 1, (128 - 30) // 8 + 1
    kinds = np.load(tmp_path / "texture_kinds.npy")
    assert kinds.shape == (rows, cols) and kinds.dtype == np.uint8
    assert set(np.unique(kinds)) <= {0, 1, 2, 255}
    assert np.load(tmp_path / "texture_angle.npy").shape == (rows, cols)
    assert np.load(tmp_path / "texture_pkind.npy").shape == (rows, cols, 3)
    assert (tmp_path / "texture_kinds.png").stat().st_size > 0
    shares = [rec[f"share_{k}"] for k in ("sharp", "motion", "defocus")]
    assert sum(shares) == pytest.approx(1.0)
    assert {"direction_deg", "direction_spread_deg", "length_px", "judgeable"} <= set(rec)


@pytest.mark.parametrize("flag", [["--fields"], ["--views", "4"]])
def test_predict_refuses_analysis_options_without_analysis(photo, tmp_path, capsys, flag):
    binary = save_model(build_model("compact", seed=0, width=8), tmp_path / "b.keras")
    assert main(["predict", str(photo), "--model", str(binary), *flag,
                 "--out", str(tmp_path)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "--model analysis" in err and flag[0] in err and len(err.splitlines()) == 1


def test_predict_in_four_views(tiny, photo, tmp_path, capsys):
    from blurlib.data.images import load_image
    from blurlib.inference.analysis import dense_analysis

    argv = ["predict", str(photo), "--model", str(tiny[1]), "--out", str(tmp_path), "--fields"]
    assert main([*argv, "--stride", "8", "--views", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["views"] == 4
    ref = dense_analysis(tiny[0], load_image(photo), 8, views=4)
    np.testing.assert_allclose(np.load(tmp_path / "texture_pkind.npy")[..., 1], ref.p_motion)
    with pytest.raises(SystemExit):  # argparse: 1, 4 or 8
        main([*argv, "--views", "2"])
    assert "invalid choice" in capsys.readouterr().err


def test_pictures(tiny):
    from blurlib.viz.kinds import (
        kind_picture,
        plot_direction_histogram,
        plot_kind_overlay,
        plot_motion_arrows,
    )

    img = noise_texture(90, 120, seed=1)
    a = patch_analysis(tiny[0], img)
    pic = kind_picture(img, a)
    assert pic.shape == img.shape and pic.dtype == np.uint8
    # a hand-made analysis: all motion at 30°, 12 px; only judgeable patches are tinted
    ones = np.ones((3, 4), np.float32)
    ev = np.zeros((3, 4), bool)
    ev[0, 0] = True
    fake = PatchAnalysis(0 * ones, ones, 0 * ones, 30 * ones, 12 * ones, ev)
    pic = kind_picture(img, fake)
    assert not np.array_equal(pic[:30, :30], img[:30, :30])
    assert np.array_equal(pic[30:, 30:], img[30:, 30:])
    for fig in (
        plot_kind_overlay(img, a),
        plot_motion_arrows(img, fake),
        plot_direction_histogram(fake),
    ):
        assert fig.get_size_inches().prod() > 0
    segs = plot_motion_arrows(img, fake).axes[0].collections[-1]
    u, v = segs.U[0], segs.V[0]  # 30° counter-clockwise on screen: right and UP (y down)
    assert u > 0 and v < 0 and np.hypot(u, v) == pytest.approx(12.0)


def test_evaluation_report(tiny):
    photos = [noise_texture(200, 200, seed=s) for s in range(2)]
    kp = kind_patches(photos, 300, seed=9)
    pred = ek.predict_patch_heads(tiny[0], kp.x)
    rep = ek.kind_report(kp, pred)
    assert np.asarray(rep["confusion"]).sum() == 300 and 0 <= rep["accuracy"] <= 1
    assert set(rep["straight"]) == {"7-11", "11-17", "17-25", "9-25"}
    assert 0 <= ek.sun_accuracy_of_heads(pred, kp) <= 1
    sun = build_model("sun2015", seed=0)
    assert 0 <= ek.sun_accuracy_of_sun2015(sun, kp) <= 1
    # perfect predictions give zero error
    perfect = {
        "p_kind": np.eye(3, dtype=np.float32)[kp.kind],
        "angle_deg": np.nan_to_num(kp.angle),
        "length_px": np.nan_to_num(kp.length),
    }
    rep = ek.kind_report(kp, perfect)
    assert rep["accuracy"] == 1.0 and rep["straight"]["9-25"]["angle_median_deg"] == 0.0
    assert rep["straight"]["9-25"]["called"] == {"sharp": 0.0, "motion": 1.0, "defocus": 0.0}
    # every motion patch called defocus: each bucket's shares say so
    wrong = dict(perfect, p_kind=np.tile(np.float32([0, 0, 1]), (len(kp.kind), 1)))
    called = ek.kind_report(kp, wrong)["shake"]["7-11"]["called"]
    assert called == {"sharp": 0.0, "motion": 0.0, "defocus": 1.0}
    assert "called sharp / motion / defocus" in ek.analysis_markdown(
        {"kinds": rep, "sun73": {"patches": 0}}
    )
    assert ek.sun_accuracy_of_heads(perfect, kp) == 1.0
    # by blur-vs-lines angle and coherence: 9 bins that partition the straight-motion patches
    rows = rep["straight_by_texture"]
    assert len(rows) == 9 and sum(r["n"] for r in rows) == int((kp.motion_type == 1).sum())
    assert all(r["called"]["motion"] == 1.0 for r in rows if r["n"])
    mixed = dict(perfect, p_kind=np.eye(3, dtype=np.float32)[np.where(kp.coherence >= 0.6, 2, 1)])
    for r in ek.kind_report(kp, mixed)["straight_by_texture"]:
        if r["n"]:
            assert r["called"]["defocus"] == (1.0 if r["coherence"] == "0.6-1" else 0.0)
    assert "blur vs lines" in ek.analysis_markdown({"kinds": rep, "sun73": {"patches": 0}})


@pytest.mark.slow
@pytest.mark.parametrize("views", [1, 4])
def test_evaluate_kinds_cli(tiny, tmp_path, capsys, views):
    import cv2

    folder = tmp_path / "test_photos"
    folder.mkdir()
    for s in range(2):
        cv2.imwrite(str(folder / f"t{s}.png"), noise_texture(180, 200, seed=10 + s))
    argv = [
        "evaluate",
        "--kinds",
        "--model",
        str(tiny[1]),
        "--patches",
        "60",
        "--views",
        str(views),
    ]
    code = main([*argv, "--test-photos", str(folder), "--out", str(tmp_path / "ev"), "--json"])
    assert code == 0
    result = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert result["mode"] == "kinds" and result["kinds"]["patches"] == 60
    assert result["views"] == views
    assert "clock" in result["real"] and "evidence_rule" in result["real"]["clock"]
    text = (tmp_path / "ev" / "evaluation.md").read_text()
    assert "Kind accuracy" in text and ("in 4 views" in text) == (views == 4)


def test_kind_robustness_over_quality_variants(tiny):
    photos = [noise_texture(200, 200, seed=s) for s in range(2)]
    rob = ek.kind_robustness(tiny[0], photos, patches=120, seed=3)
    assert list(rob) == list(ek.KIND_VARIANTS)
    # pristine is the plain kind report of the same draw
    kp = kind_patches(photos, 120, seed=10_003)
    plain = ek.kind_report(kp, ek.predict_patch_heads(tiny[0], kp.x))
    assert rob["pristine"]["accuracy"] == plain["accuracy"]
    assert rob["pristine"]["recall"] == plain["recall"]
    # a caller's own pristine report is reused as that row
    again = ek.kind_robustness(tiny[0], photos, patches=120, seed=3, pristine=plain)
    assert again == rob
    for r in rob.values():
        assert 0 <= r["accuracy"] <= 1 and set(r["recall"]) == {"sharp", "motion", "defocus"}
    md = ek.kind_robustness_markdown(rob)
    assert md.count("\n") == 2 + len(ek.KIND_VARIANTS) and "JPEG q40" in md
