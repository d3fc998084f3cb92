"""``python -m blurlib rank`` (issue 11): outputs, unreadable files listed, the cache across
runs, and the safe actions — dry run by default, journal, undo, refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blurlib.cli import main

EXIF_IFD, DATETIME_ORIGINAL = 0x8769, 0x9003


def _jpeg(image: np.ndarray, path: Path, when: str | None = None) -> None:
    exif = Image.Exif()
    if when:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = when
    Image.fromarray(image).save(path, quality=95, exif=exif)


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sharp bundled photos, a blurred copy of one shot a second later (a burst), a
    blurred copy of the other in a subfolder, an unreadable file; read only."""
    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel
    from blurlib.data.samples import sample_images

    photos = dict(sample_images())
    root = tmp_path_factory.mktemp("shoot") / "shoot"
    (root / "day2").mkdir(parents=True)
    _jpeg(photos["coins"], root / "coins.jpg", "2024:06:01 10:00:00")
    _jpeg(
        apply_kernel(photos["coins"], linear_kernel(11, 30)),
        root / "coins2.jpg",
        "2024:06:01 10:00:01",
    )
    _jpeg(photos["coffee"], root / "day2" / "coffee.jpg", "2024:06:02 09:00:00")
    _jpeg(apply_kernel(photos["coffee"], linear_kernel(13, 100)), root / "day2" / "shaky.jpg")
    (root / "notes.jpg").write_bytes(b"this is not a photo")
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.slow
def test_rank_writes_outputs_lists_unreadable_and_caches(shoot, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["rank", str(shoot), "--out", str(out)]) == 1  # one unreadable file
    cap = capsys.readouterr()
    assert "notes.jpg" in cap.err and "Traceback" not in cap.err
    assert "5 photos (5 analysed, 0 from the cache)" in cap.out
    rows = list(csv.DictReader((out / "ranking.csv").open()))
    names = [Path(r["path"]).name for r in rows]
    assert names[-1] == "notes.jpg" and rows[-1]["verdict"] == "unreadable" and rows[-1]["error"]
    assert names.index("coins2.jpg") < names.index("coins.jpg")
    assert names.index("shaky.jpg") < names.index("coffee.jpg")
    burst = {Path(r["path"]).name: (r["burst"], r["best_in_burst"]) for r in rows}
    assert burst["coins.jpg"] == (burst["coins2.jpg"][0], "yes") and burst["coins.jpg"][0]
    assert burst["coins2.jpg"][1] == ""
    html = (out / "report.html").read_text()
    assert html.count("<tr data-verdict") == 5 and "http://" not in html and "https://" not in html
    assert (out / "previews").is_dir()

    assert main(["rank", str(shoot), "--out", str(out)]) == 1
    assert "5 photos (0 analysed, 5 from the cache)" in capsys.readouterr().out
    extra = _copy(shoot, tmp_path / "grown")
    _jpeg(np.full((64, 64, 3), 128, np.uint8), extra / "flat.jpg")
    out2 = tmp_path / "report2"
    main(["rank", str(extra), "--out", str(out2)])
    main(["rank", str(extra), "--out", str(out2), "--embed"])
    text = capsys.readouterr().out
    assert "6 photos (0 analysed, 6 from the cache)" in text and "1 without evidence" in text
    assert "data:image/jpeg;base64," in (out2 / "report.html").read_text()


@pytest.mark.slow
def test_actions_dry_run_apply_and_undo(shoot, tmp_path, capsys):
    tree = _copy(shoot, tmp_path / "shoot")
    before = _tree(tree)
    out, keep, aside = tmp_path / "report", tmp_path / "keep", tree / "_blurred"
    args = ["rank", str(tree), "--out", str(out), "--copy-best", str(keep)]
    args += ["--move-blurred", str(aside)]
    main(args)
    text = capsys.readouterr().out
    assert "would move" in text and "would copy" in text and "dry run" in text
    assert _tree(tree) == before and not keep.exists()  # a dry run touches nothing

    main([*args, "--apply"])
    text = capsys.readouterr().out
    moved = sorted(p.relative_to(aside).as_posix() for p in aside.rglob("*.jpg"))
    assert moved == ["coins2.jpg", "day2/shaky.jpg"]  # relative paths kept
    assert sorted(p.name for p in keep.rglob("*.jpg")) == ["coffee.jpg", "coins.jpg"]
    journal = sorted(out.glob("journal-*.jsonl"))[0]
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert lines[0]["journal"] == 1 and {x["op"] for x in lines[1:]} == {"copy", "move"}

    main(["rank", "--undo", str(journal)])  # dry run
    assert (aside / "coins2.jpg").exists() and "would move" in capsys.readouterr().out
    assert main(["rank", "--undo", str(journal), "--apply"]) == 0
    restored = {k: v for k, v in _tree(tree).items() if not k.startswith("_blurred")}
    assert restored == before  # every byte back in place
    assert sorted(p.name for p in keep.rglob("*.jpg")) == ["coffee.jpg", "coins.jpg"]


@pytest.mark.slow
def test_actions_refuse_outside_tree_and_existing_files(shoot, tmp_path, capsys):
    tree = _copy(shoot, tmp_path / "shoot")
    out = tmp_path / "report"
    code = main(["rank", str(tree), "--out", str(out), "--move-blurred", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "outside the analysed folder" in err and err.count("\n") == 1
    # a file already at the target is never replaced
    (tree / "_blurred").mkdir()
    (tree / "_blurred" / "coins2.jpg").write_bytes(b"mine")
    main(
        ["rank", str(tree), "--out", str(out), "--move-blurred", str(tree / "_blurred"), "--apply"]
    )
    cap = capsys.readouterr()
    assert "coins2.jpg" in cap.err and "target exists" in cap.err
    assert (tree / "_blurred" / "coins2.jpg").read_bytes() == b"mine"
    assert (tree / "coins2.jpg").exists() and (tree / "_blurred" / "day2" / "shaky.jpg").exists()


@pytest.mark.slow
def test_report_inside_the_tree_is_not_ranked(shoot, tmp_path, capsys):
    tree = _copy(shoot, tmp_path / "shoot")
    for _ in range(2):
        main(["rank", str(tree), "--out", str(tree / "report")])
        assert "5 photos" in capsys.readouterr().out  # its thumbnails are not photos


def test_cull_move_is_crash_safe_and_undo_finishes_a_half_move(tmp_path):
    """A move interrupted between the new name and the old name's removal (the journal line
    is written first) leaves one file under two names; undo drops the second name."""
    import os

    from blurlib.inference.cull import Action, apply_actions, undo_journal

    (tmp_path / "a").mkdir()
    src, dst = tmp_path / "a" / "p.jpg", tmp_path / "a" / "_b" / "p.jpg"
    src.write_bytes(b"photo")
    journal = tmp_path / "j.jsonl"
    done, fails = apply_actions(
        [Action("move", src, dst)], journal, dry_run=False, say=lambda m: None
    )
    assert done == 1 and not fails and dst.read_bytes() == b"photo" and not src.exists()
    os.link(dst, src)  # as if the run had died right after linking
    done, problems = undo_journal(journal, dry_run=False, say=lambda m: None)
    assert src.read_bytes() == b"photo" and not dst.exists() and not problems


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--stride", "0"], "--stride"),
        (["--threshold", "1.5"], "--threshold"),
        (["--max-side", "10"], "--max-side"),
        (["--workers", "0"], "--workers"),
        (["--net-threads", "0"], "--net-threads"),
        (["--undo", "j.jsonl"], "takes no folders"),
        (["--precision", "int8", "--model", "analysis"], "binary models only"),
    ],
)
def test_bad_options_are_one_line(shoot, tmp_path, capsys, extra, needle):
    assert main(["rank", str(shoot), "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_no_folder_and_bad_journal_are_one_line(tmp_path, capsys):
    assert main(["rank"]) == 2
    assert "at least one folder" in capsys.readouterr().err
    bogus = tmp_path / "j.jsonl"
    bogus.write_text('{"hello": 1}\n')
    assert main(["rank", "--undo", str(bogus)]) == 2
    assert "not a blurlib rank journal" in capsys.readouterr().err
