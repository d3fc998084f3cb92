"""``python -m blurlib evaluate``: both modes end to end on tiny data, and its errors."""

from __future__ import annotations

import json

import pytest
from helpers import blocky_photo
from PIL import Image

from blurlib.cli import main
from blurlib.data import dataset

pytest.importorskip("keras")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from blurlib.nets.builders import build_model
    from blurlib.nets.files import save_model

    root = tmp_path_factory.mktemp("evalcli")
    for part, seeds in (("train", (1, 2, 3)), ("test", (4, 5))):
        (root / part).mkdir()
        for s in seeds:
            Image.fromarray(blocky_photo(120, 150, seed=s)).save(root / part / f"p{s}.png")
    model_path = save_model(build_model("compact", seed=0, width=8), root / "tiny.keras")
    return root, model_path


def test_protocol_mode_writes_json_and_markdown(setup, capsys):
    root, model_path = setup
    out = root / "out"
    code = main(
        [
            "evaluate",
            "--model",
            str(model_path),
            "--train-photos",
            str(root / "train"),
            "--test-photos",
            str(root / "test"),
            "--protocols",
            "linear",
            "shake",
            "--variants",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "Protocol `linear`" in text and "laplacian" in text
    result = json.loads((out / "evaluation.json").read_text())
    assert set(result["protocols"]) == {"linear", "shake"}
    lin = result["protocols"]["linear"]["metrics"]
    assert set(lin) == {"cnn", "laplacian", "tenengrad", "fft"}
    # 2 test photos of 4×5 patches, one blurred copy each
    assert lin["cnn"]["all"]["n"] == 2 * 4 * 5
    # seeded photos, blur and (untrained) net: this run's numbers; one patch of 40 is 0.025,
    # one photo of 10 is 0.1
    assert (lin["cnn"]["all"]["n_pos"], lin["cnn"]["all"]["n_neg"]) == (17, 23)
    assert lin["cnn"]["all"]["accuracy"] == pytest.approx(0.425, abs=0.026)
    assert result["protocols"]["shake"]["metrics"]["cnn"]["all"]["accuracy"] == pytest.approx(
        0.375, abs=0.026
    )
    for name in ("laplacian", "tenengrad", "fft"):  # motion blur on blocky texture: separable
        assert lin[name]["all"]["accuracy"] == 1.0, name
    checks = result["photo_checks"]
    assert checks["cnn"]["sharp_photos_called_blurred"] == pytest.approx(0.9, abs=0.1)
    assert checks["cnn"]["real_blur_detected"] == pytest.approx(0.7, abs=0.1)
    lap = checks["laplacian"]
    assert (lap["real_blur_detected"], lap["sharp_photos_called_blurred"]) == (1.0, 0.0)
    assert set(lap["real_blur_by_photo"]) == {"clock"}  # the bundled real motion-blurred photo
    assert result["test_photos"] == ["p4", "p5"]
    assert (out / "evaluation.md").read_text().startswith("**Protocol")


def test_split_mode_uses_the_saved_split(setup, tmp_path, capsys):
    root, model_path = setup
    data = dataset.generate(tmp_path / "ds", source=str(root / "train"), n=6, progress=False)
    run = tmp_path / "run"
    run.mkdir()
    meta = dataset.load_metadata(data)
    test = [i for i, e in enumerate(meta["images"]) if e["source"] == "p3"]
    train = [i for i in range(6) if i not in test]
    (run / "split.json").write_text(json.dumps({"train": train, "val": [], "test": test}))
    code = main(["evaluate", "--model", str(model_path), "--data", str(data), "--run", str(run)])
    assert code == 0
    assert "Test split" in capsys.readouterr().out


def test_errors_are_one_line(setup, tmp_path, capsys):
    root, _ = setup
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model")
    code = main(["evaluate", "--model", str(bad), "--test-photos", str(root / "test")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "bad.keras" in err
    code = main(["evaluate", "--model", str(setup[1]), "--test-photos", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "none" in err
    code = main(["evaluate", "--model", str(setup[1]), "--data", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--run" in err
    code = main(["evaluate", "--views", "4", "--test-photos", str(root / "test")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--kinds" in err


def test_more_real_blurred_photos_are_scored_each_and_together(setup, tmp_path, capsys):
    """--real-blur adds photos (a folder, a list) beside the bundled clock; each photo's share of
    content patches called blurred is reported, and the pooled share is over all of them."""
    import numpy as np

    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel

    root, model_path = setup
    real = tmp_path / "real"
    real.mkdir()
    moved = apply_kernel(blocky_photo(150, 180, seed=9), linear_kernel(15, 30.0))
    Image.fromarray(moved).save(real / "moved.png")
    out = tmp_path / "out"
    args = ["evaluate", "--model", str(model_path), "--train-photos", str(root / "train")]
    args += ["--test-photos", str(root / "test"), "--protocols", "linear", "--variants", "1"]
    code = main([*args, "--real-blur", str(real), "--out", str(out)])
    assert code == 0
    capsys.readouterr()
    result = json.loads((out / "evaluation.json").read_text())
    assert result["real_blur_photos"] == ["clock", "moved"]
    cnn = result["photo_checks"]["cnn"]
    each = cnn["real_blur_by_photo"]
    assert set(each) == {"clock", "moved"}
    assert each["moved"]["content_patches"] == 5 * 6  # 150×180 px: every patch has content
    for r in each.values():  # patches with evidence: a subset of those with content
        assert 0 <= r["judgeable_patches"] <= r["content_patches"]
        assert 0.0 <= r["detected_judgeable"] <= 1.0 or r["judgeable_patches"] == 0
    n = sum(r["content_patches"] for r in each.values())
    pooled = sum(r["detected"] * r["content_patches"] for r in each.values()) / n
    assert cnn["real_blur_detected"] == pytest.approx(pooled)
    assert "`moved`" in (out / "evaluation.md").read_text()
    # errors: one line naming the fix, nothing written
    code = main([*args, "--real-blur", str(real), "--no-real-blur"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--no-real-blur" in err
    code = main([*args, "--real-blur", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nowhere" in err
    assert np.isfinite(each["clock"]["detected"])
