"""Dataset generation: label truth, determinism, atomic writes, odd photos, CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blurlib.cli import main
from blurlib.data import dataset
from blurlib.data.images import load_image
from blurlib.data.kernels import report_kernel
from blurlib.data.patches import to_patches
from blurlib.errors import DatasetError, ImageError


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """A photo-like textured RGB image: smoothed noise plus edges, every patch textured."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 3 + 1, w // 3 + 1, 3)).astype(np.float32)
    img = np.kron(base, np.ones((3, 3, 1), np.float32))[:h, :w]
    img += rng.normal(0, 20, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(_texture(95, 130, 1)).save(folder / "a.png")
    Image.fromarray(_texture(120, 90, 2)).save(folder / "sub" / "b.png")
    Image.fromarray(_texture(64, 64, 3)).save(folder / "c.jpg", quality=95)
    return folder


def test_partially_blur_label_truth():
    image = _texture(95, 130, 0)
    rng = np.random.default_rng(0)
    comp, labels = dataset.partially_blur(image, rng, report_kernel(), fraction=0.5)
    assert comp.shape == (90, 120, 3) and comp.dtype == np.uint8
    assert labels.shape == (3, 4) and labels.dtype == np.uint8
    sharp = to_patches(image)
    got = to_patches(comp)
    for i, j in np.ndindex(labels.shape):
        same = np.array_equal(got[i, j], sharp[i, j])
        assert same == (labels[i, j] == 0)


def test_partially_blur_fraction_extremes():
    image = _texture(60, 90, 5)
    comp0, lab0 = dataset.partially_blur(image, np.random.default_rng(1), fraction=0.0)
    np.testing.assert_array_equal(comp0, image[:60, :90])
    assert lab0.sum() == 0
    comp1, lab1 = dataset.partially_blur(image, np.random.default_rng(1), fraction=1.0)
    assert lab1.all()
    assert not np.array_equal(comp1, image)
    with pytest.raises(ValueError):
        dataset.partially_blur(image, np.random.default_rng(1), fraction=1.5)


def test_fraction_is_about_half():
    image = _texture(600, 600, 7)
    _, labels = dataset.partially_blur(image, np.random.default_rng(3), fraction=0.5)
    assert 0.4 < labels.mean() < 0.6


@pytest.mark.parametrize("kernel", ["report", "linear", "shake", "mixed"])
def test_generate_png_label_truth_against_source(photo_dir, tmp_path, kernel):
    out = dataset.generate(
        tmp_path / f"ds-{kernel}",
        source=str(photo_dir),
        seed=3,
        kernel=kernel,
        fmt="png",
        progress=False,
    )
    meta = dataset.load_metadata(out)
    labels = dataset.load_labels(out)
    assert len(labels) == len(meta["images"]) == 3
    for i, entry in enumerate(meta["images"]):
        assert entry["file"] == f"{i}.png"
        assert entry["kernel"]["type"] in ("report", "linear", "shake")
        source = load_image(next(photo_dir.rglob(Path(entry["source"]).name + ".*")))
        comp = load_image(out / entry["file"])
        sharp = load_image(out / entry["sharp"])
        h, w = comp.shape[:2]
        np.testing.assert_array_equal(sharp, source[:h, :w])
        src_patches, comp_patches = to_patches(source), to_patches(comp)
        for r, c in np.ndindex(labels[i].shape):
            equal = np.array_equal(comp_patches[r, c], src_patches[r, c])
            # label 0: the source photo's pixels exactly; label 1 (textured): different
            assert equal == (labels[i][r, c] == 0), (i, r, c)


def test_same_seed_same_bytes_and_other_seed_differs(photo_dir, tmp_path):
    kw = dict(source=str(photo_dir), n=5, kernel="mixed", progress=False)
    a = dataset.generate(tmp_path / "a", seed=11, **kw)
    b = dataset.generate(tmp_path / "b", seed=11, **kw)
    c = dataset.generate(tmp_path / "c", seed=12, **kw)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    assert len(files_a) == 5 * 2 + 3  # images, sharp copies, labels, metadata, marker
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "labels.npz").read_bytes() != (c / "labels.npz").read_bytes()


def test_n_larger_than_photos_cycles_with_new_blur(photo_dir, tmp_path):
    out = dataset.generate(tmp_path / "ds", source=str(photo_dir), n=7, seed=0, progress=False)
    meta = dataset.load_metadata(out)
    sources = [e["source"] for e in meta["images"]]
    assert len(sources) == 7 and len(set(sources)) == 3
    assert len({json.dumps(e["kernel"], sort_keys=True) for e in meta["images"]}) == 7


def test_grid30_option_gives_30x30_patches(photo_dir, tmp_path):
    out = dataset.generate(
        tmp_path / "ds", source=str(photo_dir), n=2, grid=(30, 30), progress=False
    )
    for lab in dataset.load_labels(out):
        assert lab.shape == (30, 30)
    assert load_image(out / "0.jpg").shape == (900, 900, 3)


def test_labels_npz_is_a_plain_npz(photo_dir, tmp_path):
    out = dataset.generate(tmp_path / "ds", source=str(photo_dir), progress=False)
    with np.load(out / "labels.npz") as npz:
        assert sorted(npz.files, key=int) == ["0", "1", "2"]
        assert npz["1"].dtype == np.uint8


def test_unreadable_photo_is_skipped_with_a_warning(photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.warns(UserWarning, match="broken.jpg"):
        out = dataset.generate(tmp_path / "ds", source=str(photo_dir), n=3, progress=False)
    assert all(e["source"] != "broken" for e in dataset.load_metadata(out)["images"])


def test_interrupted_run_leaves_nothing(photo_dir, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = dataset._encode

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "_encode", flaky)
    with pytest.raises(KeyboardInterrupt):
        dataset.generate(tmp_path / "ds", source=str(photo_dir), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_existing_output_is_not_clobbered(photo_dir, tmp_path):
    out = dataset.generate(tmp_path / "ds", source=str(photo_dir), progress=False)
    with pytest.raises(DatasetError, match="already exists"):
        dataset.generate(out, source=str(photo_dir), progress=False)
    dataset.generate(out, source=str(photo_dir), seed=5, overwrite=True, progress=False)
    assert dataset.load_metadata(out)["seed"] == 5


def test_load_dataset_and_corrupt_folders(photo_dir, tmp_path):
    out = dataset.generate(tmp_path / "ds", source=str(photo_dir), progress=False)
    examples = dataset.load_dataset(out)
    assert [ex.index for ex in examples] == [0, 1, 2]
    for ex in examples:
        assert ex.image.shape == ex.sharp.shape
        assert ex.labels.shape == (ex.image.shape[0] // 30, ex.image.shape[1] // 30)
    with pytest.raises(DatasetError, match="does not exist"):
        dataset.load_labels(tmp_path / "nope")
    with pytest.raises(DatasetError, match="not a blurlib dataset"):
        dataset.load_labels(photo_dir)
    (out / "labels.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="corrupt"):
        dataset.load_labels(out)
    with zipfile.ZipFile(out / "labels.npz", "w") as zf:
        zf.writestr("0.npy", b"bad")
    with pytest.raises(DatasetError):
        dataset.load_dataset(out)


def test_sample_source_generates(tmp_path):
    out = dataset.generate(tmp_path / "ds", source="sample", n=2, seed=0, progress=False)
    meta = dataset.load_metadata(out)
    assert len(meta["images"]) == 2 and meta["source"] == "sample"


def test_cli_generate_and_errors(photo_dir, tmp_path, capsys):
    out = tmp_path / "cli-ds"
    code = main(
        [
            "generate",
            "--source",
            str(photo_dir),
            "-n",
            "2",
            "--seed",
            "1",
            "--kernel",
            "shake",
            "--format",
            "png",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "wrote 2 images" in capsys.readouterr().out
    assert (out / "0.png").is_file() and (out / "sharp" / "1.png").is_file()

    code = main(["generate", "--source", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error:") and err.count("\n") == 1
    assert "missing" in err
    assert not (tmp_path / "x").exists()

    code = main(["generate", "--source", "voc2010", "--out", str(tmp_path / "y")])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err

    code = main(["generate", "--source", str(photo_dir), "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "already exists" in err


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_degrade_realistic_is_recorded_replayable_and_keeps_labels(photo_dir, tmp_path):
    from blurlib.data.degrade import apply_specs

    plain = dataset.generate(tmp_path / "plain", photo_dir, seed=4, fmt="png", progress=False)
    out = dataset.generate(
        tmp_path / "deg", photo_dir, seed=4, fmt="png", degrade="realistic", progress=False
    )
    again = dataset.generate(
        tmp_path / "deg2", photo_dir, seed=4, fmt="png", degrade="realistic", progress=False
    )
    assert _tree_bytes(out) == _tree_bytes(again)  # same seed, same bytes
    meta = dataset.load_metadata(out)
    assert meta["degrade"] == "realistic"
    assert "degrade" not in dataset.load_metadata(plain)["images"][0]
    # the degradation has its own random stream: the label matrices are the report recipe's
    for a, b in zip(dataset.load_labels(plain), dataset.load_labels(out), strict=True):
        assert np.array_equal(a, b)
    sources = {"a": "a.png", "sub/b": "sub/b.png", "c": "c.jpg"}
    ops = set()
    for entry in meta["images"]:
        drawn = entry["degrade"]
        ops |= {s["op"] for s in drawn["base"] + drawn["finish"]}
        source = load_image(photo_dir / sources[entry["source"]])
        sharp = load_image(out / entry["sharp"])
        replay = apply_specs(source, drawn["base"])
        h, w = sharp.shape[:2]
        assert np.array_equal(replay[:h, :w], sharp)  # sharp/ = the degraded photo, replayed
    assert ops  # at least one degradation was drawn over three photos


def test_unknown_degrade_mix_is_a_dataset_error(photo_dir, tmp_path):
    with pytest.raises(DatasetError, match="degradation mix"):
        dataset.generate(tmp_path / "x", photo_dir, degrade="heavy", progress=False)


def test_deadleaves_source(tmp_path):
    from blurlib.data.photos import photo_refs

    refs = photo_refs("deadleaves:3:96")
    assert [r.name for r in refs] == ["deadleaves-0000", "deadleaves-0001", "deadleaves-0002"]
    first = refs[0].load()
    assert first.shape == (96, 96, 3) and first.dtype == np.uint8
    assert np.array_equal(first, photo_refs("deadleaves:1:96")[0].load())  # fixed by index
    assert not np.array_equal(first, refs[1].load())
    out = dataset.generate(tmp_path / "dl", "deadleaves:2:96", seed=1, progress=False)
    assert sorted(e["source"] for e in dataset.load_metadata(out)["images"]) == [
        "deadleaves-0000",
        "deadleaves-0001",
    ]
    for bad in ("deadleaves:x", "deadleaves:0", "deadleaves:2:8", "deadleaves:1:2:3"):
        with pytest.raises(DatasetError, match="deadleaves"):
            photo_refs(bad)


def test_cli_degrade_options(photo_dir, tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(
        ["generate", "--source", str(photo_dir), "--out", str(out), "--degrade", "realistic",
         "--degrade-set", "jpeg_prob=1.0", "--degrade-set", "noise_prob=0"]
    )  # fmt: skip
    assert rc == 0
    meta = dataset.load_metadata(out)
    assert meta["degrade"]["jpeg_prob"] == 1.0 and meta["degrade"]["noise_prob"] == 0
    for entry in meta["images"]:
        assert [s["op"] for s in entry["degrade"]["finish"]] == ["jpeg"]
    capsys.readouterr()
    for bad in ("jpeg_prob", "no_such_field=1", "jpeg_prob=abc"):
        rc = main(["generate", "--source", str(photo_dir), "--out", str(tmp_path / "b"),
                   "--degrade", "realistic", "--degrade-set", bad])  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("error: --degrade-set") and err.count("\n") == 1


def test_cli_names_skipped_photos_itself_even_with_warnings_ignored(photo_dir, tmp_path, capsys):
    import warnings

    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    skipped = []
    dataset.generate(tmp_path / "lib", photo_dir, n=3, progress=False, on_skip=skipped.append)
    assert len(skipped) == 1 and "broken.jpg" in skipped[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as PYTHONWARNINGS=ignore would
        rc = main(["generate", "--source", str(photo_dir), "-n", "3", "--out", str(tmp_path / "c")])
    captured = capsys.readouterr()
    assert rc == 0
    lines = [line for line in captured.err.splitlines() if "skipped:" in line]
    assert len(lines) == 1 and "broken.jpg" in lines[0]


def test_overwrite_only_replaces_folders_generate_made(photo_dir, tmp_path, monkeypatch, capsys):
    out = dataset.generate(tmp_path / "ds", photo_dir, progress=False)
    assert (out / dataset.MARKER).is_file()
    again = dataset.generate(out, photo_dir, seed=1, overwrite=True, progress=False)
    assert dataset.load_metadata(again)["seed"] == 1
    # a user's folder (no marker) is never removed, nor one holding the sources, nor "."
    notes = photo_dir / "notes.txt"
    notes.write_text("mine")
    for target in (photo_dir, photo_dir / "sub"):
        with pytest.raises(DatasetError, match="source"):
            dataset.generate(target, photo_dir, overwrite=True, progress=False)
    assert notes.read_text() == "mine" and (photo_dir / "a.png").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    with pytest.raises(DatasetError, match="not made by"):
        dataset.generate(mine, photo_dir, overwrite=True, progress=False)
    assert (mine / "keep.txt").read_text() == "x"
    monkeypatch.chdir(mine)
    rc = main(["generate", "--source", str(photo_dir), "--out", ".", "--overwrite"])
    err = capsys.readouterr().err
    assert rc == 2 and "working folder" in err and err.count("\n") == 1
    assert (mine / "keep.txt").read_text() == "x"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--seed", "-1"], "--seed"),
        (["--length-min", "50", "--length-max", "5"], "--length-min"),
        (["--fraction", "2"], "--fraction"),
    ],
)
def test_cli_rejects_impossible_numbers_in_one_line(photo_dir, tmp_path, capsys, args, words):
    rc = main(["generate", "--source", str(photo_dir), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and words in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_n_is_honoured_when_photos_are_unreadable(tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    Image.fromarray(_texture(90, 120, 5)).save(folder / "good.png")
    (folder / "bad1.jpg").write_bytes(b"not a jpeg")
    (folder / "bad2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    skipped = []
    out = dataset.generate(tmp_path / "o", folder, n=3, progress=False, on_skip=skipped.append)
    entries = dataset.load_metadata(out)["images"]
    assert len(entries) == 3 and {e["source"] for e in entries} == {"good"}
    assert len(skipped) == 2  # each unreadable photo named once
    assert any("bad1.jpg" in m for m in skipped) and any("bad2.png" in m for m in skipped)
    (folder / "good.png").unlink()
    with pytest.raises(DatasetError, match="no readable photo"):
        dataset.generate(tmp_path / "o2", folder, n=3, progress=False, on_skip=skipped.append)


def test_open_dataset_reads_each_image_on_demand_and_equals_load_dataset(photo_dir, tmp_path):
    """The lazy reader training uses gives load_dataset's examples one at a time, the same
    patches through patch_arrays, and the sources without reading any image."""
    from blurlib.training.split import patch_arrays

    out = dataset.generate(tmp_path / "ds", source=str(photo_dir), progress=False)
    eager = dataset.load_dataset(out)
    lazy = dataset.open_dataset(out)
    assert len(lazy) == len(eager) == 3
    assert lazy.sources == [ex.source for ex in eager]
    for i, ex in enumerate(eager):
        got = lazy[i]
        assert (got.index, got.file, got.source, got.kernel) == (
            ex.index,
            ex.file,
            ex.source,
            ex.kernel,
        )
        np.testing.assert_array_equal(got.image, ex.image)
        np.testing.assert_array_equal(got.sharp, ex.sharp)
        np.testing.assert_array_equal(got.labels, ex.labels)
    assert lazy[-1].index == 2 and lazy[np.int64(1)].index == 1
    for a, b in zip(
        patch_arrays(eager, [2, 0], min_texture=5.0, min_evidence=5.0),
        patch_arrays(lazy, [2, 0], min_texture=5.0, min_evidence=5.0),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert dataset.open_dataset(out, with_sharp=False)[0].sharp is None
    with pytest.raises(IndexError):
        lazy[3]
    with pytest.raises(TypeError, match="integer"):
        lazy[0:2]
    # an image gone after opening: the sources still list, reading it names the file
    (out / dataset.load_metadata(out)["images"][1]["file"]).unlink()
    assert len(dataset.open_dataset(out).sources) == 3
    with pytest.raises(ImageError, match=r"1\.jpg"):
        lazy[1]
    with pytest.raises(DatasetError, match="does not exist"):
        dataset.open_dataset(tmp_path / "nope")
