"""rank (issue 11), the library face: reduced-size JPEG decoding, bursts, the cache, the same
numbers as ``predict``, and the issue's done-when folder of bundled photos and blurred copies."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blurlib.data.draft import load_image_at
from blurlib.data.images import load_image
from blurlib.data.photos import folder_images, shrink_to
from blurlib.errors import ImageError
from blurlib.inference import bursts as B

EXIF_IFD, DATETIME_ORIGINAL, SUBSEC = 0x8769, 0x9003, 0x9291


def save_jpeg(image: np.ndarray, path: Path, when: str | None = None, **kw) -> Path:
    """Write a JPEG (quality 95) with an EXIF DateTimeOriginal when given."""
    exif = Image.Exif()
    if when:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = when
    for tag, value in kw.get("tags", {}).items():
        exif[tag] = value
    Image.fromarray(image).save(path, quality=95, exif=exif)
    return path


def big(image: np.ndarray, side: int) -> np.ndarray:
    """A bundled photo upscaled so its longer side is ``side`` (a camera-sized file)."""
    import cv2

    h, w = image.shape[:2]
    s = side / max(h, w)
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def samples() -> dict[str, np.ndarray]:
    from blurlib.data.samples import sample_images

    return dict(sample_images())


@pytest.fixture(scope="module")
def model():
    from blurlib.runtime import start_keras

    start_keras()
    from blurlib.nets.files import load_model

    return load_model()


# ------------------------------------------------------------------------- draft decoding


def test_load_image_at_matches_shrunk_full_decode(tmp_path, samples):
    img = big(samples["coffee"], 2700)
    path = save_jpeg(img, tmp_path / "c.jpg")
    fast = load_image_at(path, 1280)
    full = shrink_to(load_image(path), 1280)
    assert fast.shape == full.shape and fast.dtype == np.uint8
    assert np.abs(fast.astype(int) - full).mean() < 1.5  # gray levels


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_load_image_at_turns_upright_like_load_image(tmp_path, samples, orientation):
    img = big(samples["chelsea"], 1900)
    path = save_jpeg(img, tmp_path / "o.jpg", tags={0x0112: orientation})
    fast, full = load_image_at(path, 640), shrink_to(load_image(path), 640)
    assert fast.shape == full.shape
    assert np.abs(fast.astype(int) - full).mean() < 2.0


def test_load_image_at_small_and_png_are_load_image_exactly(tmp_path, samples):
    png = tmp_path / "a.png"
    Image.fromarray(samples["astronaut"]).save(png)
    small = save_jpeg(samples["coins"], tmp_path / "s.jpg")
    assert np.array_equal(load_image_at(png, 300), shrink_to(load_image(png), 300))
    assert np.array_equal(load_image_at(small, 1280), load_image(small))
    assert np.array_equal(load_image_at(small, 0), load_image(small))


def test_load_image_at_same_errors_as_load_image(tmp_path, samples):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    truncated = tmp_path / "cut.jpg"
    data = save_jpeg(big(samples["coffee"], 2000), tmp_path / "whole.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    for path in (bad, truncated, tmp_path / "missing.jpg"):
        with pytest.raises(ImageError, match=path.name):
            load_image_at(path, 640)


# --------------------------------------------------------------------------------- bursts


def test_dhash_ignores_blur_and_tells_scenes_apart(samples):
    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel

    h = {n: B.dhash(im) for n, im in samples.items()}
    blurred = B.dhash(apply_kernel(samples["coffee"], linear_kernel(15, 30)))
    assert len(h["coffee"]) == 16
    assert B.hash_distance(h["coffee"], blurred) <= B.DEFAULT_HASH_DISTANCE
    names = sorted(h)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert B.hash_distance(h[a], h[b]) > B.DEFAULT_HASH_DISTANCE, (a, b)


def test_capture_time_reads_exif_with_subseconds(tmp_path, samples):
    path = tmp_path / "t.jpg"
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = "2024:05:01 10:00:00"
    exif.get_ifd(EXIF_IFD)[SUBSEC] = "25"
    Image.fromarray(samples["coins"]).save(path, exif=exif)
    plain = save_jpeg(samples["coins"], tmp_path / "plain.jpg")
    edited = save_jpeg(samples["coins"], tmp_path / "e.jpg", tags={0x0132: "2024:05:01 10:00:00"})
    assert B.capture_time(edited) is None  # IFD0 DateTime is an edit time, not a capture
    assert B.capture_time(path) == pytest.approx(B.parse_exif_time("2024:05:01 10:00:00") + 0.25)
    assert B.capture_time(plain) is None
    assert B.parse_exif_time("0000:00:00 00:00:00") is None


def test_group_bursts_rules():
    paths = [f"/d/{c}.jpg" for c in "abcdef"] + ["/e/g.jpg"]
    t = [0.0, 1.5, 3.0, 100.0, None, None, 1.0]
    z, f = "0" * 16, "f" * 16
    h = [z, f, z, z, "f" * 15 + "e", "0f" * 8, z]
    auto = B.group_bursts(paths, t, h)
    assert auto[0] == auto[1] == auto[2]  # a 1.5 s chain, whatever the look
    assert auto[3] != auto[0]  # same look as a, but 97 s later: another moment
    assert auto[4] == auto[1]  # untimed near-duplicate of b joins by look
    assert auto[5] not in auto[:5]  # untimed, looks like nothing here
    assert auto[6] not in auto[:6]  # another folder
    assert auto[0] == 0  # numbered from 0 in path order
    assert len(set(B.group_bursts(paths, t, h, mode="none"))) == len(paths)
    by_time = B.group_bursts(paths, t, h, mode="time")
    assert by_time[4] != by_time[1] and by_time[0] == by_time[2]
    by_look = B.group_bursts(paths, t, h, mode="hash")
    assert by_look[3] == by_look[0] and by_look[4] == by_look[1] != by_look[0]
    with pytest.raises(ValueError, match="burst mode"):
        B.group_bursts(paths, t, h, mode="exif")


def test_pick_best_prefers_least_subject_blur():
    best = B.pick_best(
        [0, 0, 0, 1, 1],
        [0.4, 0.1, float("nan"), float("nan"), 0.9],
        [0.5, 0.2, float("nan"), float("nan"), 0.8],
        ["a", "b", "c", "d", "e"],
        [True, True, True, True, True],
    )
    assert best == [False, True, False, False, True]


def test_subject_blur_weights_the_centre():
    probs = np.zeros((9, 9), np.float32)
    probs[4, 4] = 1.0  # blur in the middle
    edge = np.zeros((9, 9), np.float32)
    edge[0, 0] = 1.0
    judge = np.ones((9, 9), bool)
    assert B.subject_blur(probs, judge)[0] > B.subject_blur(edge, judge)[0] > 0
    assert math.isnan(B.subject_blur(probs, np.zeros((9, 9), bool))[0])


# ------------------------------------------------------------------- numbers, cache, CSV


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["float32", "auto"])
def test_rank_numbers_equal_predicts(tmp_path, samples, model, precision):
    """The same share as predict at rank's stride (load_image, shrink_to, analyse): for PNG
    to float rounding in float32 (within 0.01 in bfloat16), within 0.03 for big JPEGs decoded
    at reduced size; and within 0.01 of predict's default stride 4 for PNG."""
    from blurlib.inference.photos import analyse
    from blurlib.inference.rank import RANK_STRIDE, rank_photos

    files = [save_jpeg(big(samples[n], 2600), tmp_path / f"{n}.jpg") for n in ("coffee", "camera")]
    for n in ("chelsea", "astronaut"):
        Image.fromarray(samples[n]).save(tmp_path / f"{n}.png")
        files.append(tmp_path / f"{n}.png")
    got = {Path(r.path).name: r for r in rank_photos(files, model, precision=precision)}
    assert RANK_STRIDE == 8
    for f in files:
        ref = analyse(model, shrink_to(load_image(f), 1280), RANK_STRIDE)
        rec = got[f.name]
        assert (rec.height, rec.width) == (ref.height, ref.width)
        tol = 0.03 if f.suffix == ".jpg" else 0.002 if precision == "float32" else 0.01
        assert abs(rec.blurred_share - ref.blurred_fraction) <= tol, f.name
        if f.suffix == ".png":
            assert rec.judgeable_windows == ref.textured_windows
            four = analyse(model, load_image(f), 4)  # predict's default windows
            assert abs(rec.blurred_share - four.blurred_fraction) <= 0.01, f.name


@pytest.mark.slow
def test_bf16_windows_match_float32(samples, model):
    """bfloat16 windows: the same grid as float32, probabilities within 0.1, under 0.5 % of
    windows on the other side of 0.5 (also the 30-px grid, cropped window by window);
    without native bfloat16 they are float32's exactly."""
    import cv2

    from blurlib.inference.bf16 import bf16_native, bf16_window_probabilities
    from blurlib.inference.windows import window_probabilities

    photo = cv2.resize(samples["camera"], (640, 480))
    for stride in (4, 8, 6, 30):
        a = window_probabilities(model, photo, stride, tile=700)
        b = bf16_window_probabilities(model, photo, stride, tile=700)
        assert a.shape == b.shape and b.dtype == np.float32
        if not bf16_native() or stride == 6:  # float32 itself (6 is no multiple of 4)
            assert np.array_equal(a, b)
        else:
            assert np.abs(a - b).max() < 0.1
            assert ((a > 0.5) != (b > 0.5)).mean() < 5e-3
    # stride 8 runs a twin with its head strided by 2: stride 4's windows [::2, ::2]
    four, eight = (bf16_window_probabilities(model, photo, s, tile=700) for s in (4, 8))
    assert np.abs(eight - four[::2, ::2]).max() < 1e-2
    tiled = bf16_window_probabilities(model, photo, 4, tile=200)  # several tiles: float32
    assert np.array_equal(tiled, window_probabilities(model, photo, 4, tile=200))


def test_network_threads_change_nothing(tmp_path, samples, model):
    """Photos through the network several at a time: the same records (every field) and
    the same preview bytes as one at a time; an unreadable file is listed either way."""
    from dataclasses import asdict

    from blurlib.inference.rank import rank_photos

    files = [save_jpeg(samples[n], tmp_path / f"{n}.jpg") for n in ("coins", "chelsea", "coffee")]
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    files.insert(1, tmp_path / "broken.jpg")
    Image.fromarray(samples["camera"]).save(tmp_path / "camera.png")
    files.append(tmp_path / "camera.png")

    def run(threads: int) -> tuple[list[dict], dict[str, bytes]]:
        out = tmp_path / f"p{threads}"
        recs = rank_photos(
            files, model, previews_dir=out, net_threads=threads, on_error=lambda e: None
        )
        return [asdict(r) for r in recs], {f.name: f.read_bytes() for f in out.iterdir()}

    one, previews_one = run(1)
    three, previews_three = run(3)
    assert len(one) == 5 and sum(bool(r["error"]) for r in one) == 1
    assert repr(one) == repr(three)  # NaN fields compare equal as text
    assert previews_one == previews_three and len(previews_one) == 8
    with pytest.raises(ValueError, match="net_threads"):
        rank_photos(files, model, net_threads=0)


def test_cache_analyses_only_new_photos(tmp_path, samples, model):
    from blurlib.inference.rank import rank_photos

    folder = tmp_path / "photos"
    folder.mkdir()
    for n in ("coins", "chelsea"):
        save_jpeg(samples[n], folder / f"{n}.jpg")
    (folder / "broken.jpg").write_bytes(b"nope")
    out = tmp_path / "out"

    def run() -> tuple[dict, list]:
        stats: dict[str, int] = {}
        errors: list[str] = []
        recs = rank_photos(
            folder_images(folder), model, cache_dir=out, previews_dir=out / "p",
            stats=stats, on_error=errors.append,
        )  # fmt: skip
        return stats, recs, errors

    first, recs1, err1 = run()
    assert first == {"analysed": 3, "cached": 0} and len(err1) == 1 and "broken.jpg" in err1[0]
    second, recs2, err2 = run()
    assert second == {"analysed": 0, "cached": 3}
    assert len(err2) == 1  # still listed
    assert [(r.path, r.blurred_share, r.burst) for r in recs1] == [
        (r.path, r.blurred_share, r.burst) for r in recs2
    ]
    save_jpeg(samples["coffee"], folder / "new.jpg")
    third, _, _ = run()
    assert third == {"analysed": 1, "cached": 3}
    os.utime(folder / "coins.jpg", ns=(1, 10**18))  # touched: analysed again
    assert run()[0] == {"analysed": 1, "cached": 3}
    assert len(list((out / "p").glob("*.map.png"))) == 3  # the old version's previews went
    lines = (out / "rank-cache.jsonl").read_text().splitlines()
    assert len(lines) == 4  # stale versions compacted away
    (out / "rank-cache.jsonl").write_text("\n".join(lines) + '\n{"v": 1, "key": "torn')
    assert run()[0] == {"analysed": 0, "cached": 4}  # a torn line is ignored


def test_model_digest_tells_weights_apart(model):
    from blurlib.inference.rank_cache import model_digest
    from blurlib.nets.builders import build_model

    a, b = build_model("compact", seed=0), build_model("compact", seed=1)
    assert model_digest(a) == model_digest(build_model("compact", seed=0))
    assert model_digest(a) != model_digest(b) != model_digest(model)


@pytest.mark.slow
@pytest.mark.parametrize("stride", [None, 30])
def test_done_when_blurred_copies_rank_above_and_originals_keep(tmp_path, samples, model, stride):
    """The issue's done-when: bundled photos plus motion-blurred copies (half of them in a
    burst with their original through EXIF capture times): every copy ranks above its
    original, every burst's keeper is the sharp original; the CSV says so. At rank's default
    stride and on the 30-px patch grid (``--stride 30``)."""
    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel
    from blurlib.inference.rank import rank_photos, write_ranking_csv

    names = ["astronaut", "camera", "chelsea", "coffee", "coins", "motorcycle", "rocket"]
    folder = tmp_path / "shoot"
    folder.mkdir()
    for k, name in enumerate(names):
        kernel = linear_kernel(9 + 2 * (k % 3), 25.0 * k)
        in_burst = k % 2 == 0
        hour = f"2024:06:01 {10 + k:02d}:00:00"
        save_jpeg(samples[name], folder / f"{name}.jpg", hour)
        copy_time = (
            f"2024:06:01 {10 + k:02d}:00:01" if in_burst else f"2024:06:01 {10 + k:02d}:30:00"
        )
        save_jpeg(apply_kernel(samples[name], kernel), folder / f"{name}_blur.jpg", copy_time)
    records = rank_photos(folder_images(folder), model, **({"stride": stride} if stride else {}))
    order = [Path(r.path).stem for r in records]
    by_name = {Path(r.path).stem: r for r in records}
    for k, name in enumerate(names):
        assert order.index(f"{name}_blur") < order.index(name), name
        original, copy = by_name[name], by_name[f"{name}_blur"]
        assert copy.verdict == "blurred"
        if k % 2 == 0:
            assert original.burst and original.burst == copy.burst
            assert original.best_in_burst and not copy.best_in_burst
        else:
            assert not original.burst and not copy.burst
    assert sum(r.verdict == "sharp" for r in records) >= len(names) - 1
    csv_path = write_ranking_csv(records, tmp_path / "ranking.csv")
    rows = list(csv.DictReader(csv_path.open()))
    assert [Path(r["path"]).stem for r in rows] == order
    assert {"path", "blurred_share", "verdict", "burst", "best_in_burst"} <= set(rows[0])
    shares = [float(r["blurred_share"]) for r in rows]
    assert shares == sorted(shares, reverse=True) and all(0 <= s <= 1 for s in shares)


def test_kind_shares_with_a_blur_analysis_model(tmp_path, samples, model):
    """A model with blur-kind heads adds the share of each kind (over the judgeable windows)
    and the motion axis; a binary model leaves those cells empty. Weights are random here:
    only the bookkeeping is checked."""
    from blurlib.inference.rank import rank_photos, ranking_rows
    from blurlib.nets.builders import build_model
    from blurlib.viz.html_report import write_report

    files = [save_jpeg(samples[n], tmp_path / f"{n}.jpg") for n in ("coins", "chelsea")]
    analysis = build_model("analysis", seed=0)
    recs = rank_photos(files, analysis, previews_dir=tmp_path / "p")
    for r in recs:
        total = r.share_sharp + r.share_motion + r.share_defocus
        assert total == pytest.approx(1.0) and 0 <= r.blurred_share <= 1
    rows = ranking_rows(recs)
    assert rows[1][rows[0].index("share_motion")] != ""
    assert "blur kinds" in write_report(recs, tmp_path, tmp_path / "p").read_text()
    binary = ranking_rows(rank_photos(files, model))
    assert binary[1][binary[0].index("share_motion")] == ""
    odd = rank_photos(files[:1], analysis, stride=12)[0]  # any stride, as predict
    same = next(r for r in recs if r.path == odd.path)
    assert odd.share_motion >= 0 and odd.windows < same.windows


def test_shards_finish_together(tmp_path, samples, model):
    """A collection ranked in shards (as a distributed job would) and finished together finds
    the bursts that span shards, and orders like one run."""
    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel
    from blurlib.inference.rank import finish, rank_photos

    a = save_jpeg(samples["coins"], tmp_path / "a.jpg", "2024:06:01 10:00:00")
    b = save_jpeg(
        apply_kernel(samples["coins"], linear_kernel(11, 0)),
        tmp_path / "b.jpg",
        "2024:06:01 10:00:01",
    )
    shards = [rank_photos([a], model), rank_photos([b], model)]
    assert not any(r.burst for shard in shards for r in shard)
    merged = finish([r for shard in shards for r in shard])
    whole = rank_photos([a, b], model)
    assert [(r.path, r.burst, r.best_in_burst) for r in merged] == [
        (r.path, r.burst, r.best_in_burst) for r in whole
    ]
    assert merged[0].path == str(b) and merged[1].best_in_burst and merged[0].burst
