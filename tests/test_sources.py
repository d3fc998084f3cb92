"""Tests of the photo sources in blurlib.data: decoding odd files, bundled photos, folders,
VOC2010, download."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import re
import struct
import subprocess
import sys
import tarfile
import threading
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from blurlib import PATCH
from blurlib.data import download, images, photos, samples
from blurlib.data import voc as pascal_voc
from blurlib.errors import BlurlibError, DatasetError, ImageError

RNG = np.random.default_rng(1234)


def _rgb(h: int = 40, w: int = 50) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _expected_u16(a: np.ndarray) -> np.ndarray:
    """round(v * 255 / 65535), computed independently in float."""
    return np.rint(a.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)


def _on_white(value: np.ndarray, alpha: np.ndarray, scale: float) -> np.ndarray:
    """Composite value with alpha (both in 0..scale) on white, as 8-bit, in float."""
    v = value.astype(np.float64) / scale
    a = alpha.astype(np.float64) / scale
    return np.rint((v * a + 1.0 - a) * 255.0).astype(np.uint8)


def _write_png16(path: Path, a: np.ndarray, color_type: int, exif: bytes = b"") -> None:
    """Write a 16-bit PNG by hand (Pillow cannot write 16-bit colour or gray+alpha)."""
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + (chunk(b"eXIf", exif) if exif else b"")
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _check_rgb8(img: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.uint8
    assert img.shape == (*shape, 3)
    assert img.flags.c_contiguous and img.flags.writeable


# --------------------------------------------------------------------------- load_image


def test_import_leaves_pillow_strict_and_raises_bomb_limit() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS >= images.MAX_PIXELS


@pytest.mark.parametrize("fmt", ["png", "jpg", "bmp", "tif", "webp"])
def test_rgb_formats(tmp_path: Path, fmt: str) -> None:
    a = _rgb()
    path = tmp_path / f"x.{fmt}"
    kwargs = {"lossless": True} if fmt == "webp" else {}
    Image.fromarray(a).save(path, **kwargs)
    img = images.load_image(path)
    _check_rgb8(img, (40, 50))
    np.testing.assert_array_equal(img, np.array(Image.open(path).convert("RGB")))
    if fmt != "jpg":  # lossless formats give back the very pixels
        np.testing.assert_array_equal(img, a)


def test_load_image_accepts_str(tmp_path: Path) -> None:
    a = _rgb()
    Image.fromarray(a).save(tmp_path / "x.png")
    np.testing.assert_array_equal(images.load_image(str(tmp_path / "x.png")), a)


@pytest.mark.parametrize("fmt", ["png", "tif", "jpg"])
def test_grayscale(tmp_path: Path, fmt: str) -> None:
    g = RNG.integers(0, 256, (40, 50), dtype=np.uint8)
    path = tmp_path / f"g.{fmt}"
    Image.fromarray(g).save(path)
    img = images.load_image(path)
    _check_rgb8(img, (40, 50))
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    if fmt != "jpg":
        np.testing.assert_array_equal(img[..., 0], g)


def test_bilevel(tmp_path: Path) -> None:
    g = (RNG.random((40, 50)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(g).convert("1").save(tmp_path / "b.png")
    img = images.load_image(tmp_path / "b.png")
    np.testing.assert_array_equal(img, np.repeat(g[..., None], 3, axis=2))


def test_gray_alpha_on_white(tmp_path: Path) -> None:
    la = RNG.integers(0, 256, (40, 50, 2), dtype=np.uint8)
    la[0, 0] = (0, 0)  # fully transparent black -> white
    la[0, 1] = (17, 255)  # opaque -> itself
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    img = images.load_image(tmp_path / "la.png")
    _check_rgb8(img, (40, 50))
    expected = _on_white(la[..., 0], la[..., 1], 255.0)
    np.testing.assert_array_equal(img, np.repeat(expected[..., None], 3, axis=2))
    assert tuple(img[0, 0]) == (255, 255, 255) and tuple(img[0, 1]) == (17, 17, 17)


def test_rgba_on_white(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)
    rgba[0, 1] = (10, 20, 30, 255)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    img = images.load_image(tmp_path / "rgba.png")
    _check_rgb8(img, (40, 50))
    np.testing.assert_array_equal(img, _on_white(rgba[..., :3], rgba[..., 3:], 255.0))
    assert tuple(img[0, 0]) == (255, 255, 255) and tuple(img[0, 1]) == (10, 20, 30)


def test_palette(tmp_path: Path) -> None:
    a = _rgb()
    pal = Image.fromarray(a).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    img = images.load_image(tmp_path / "p.png")
    _check_rgb8(img, (40, 50))
    np.testing.assert_array_equal(img, np.array(pal.convert("RGB")))
    pal.save(tmp_path / "p.gif")  # GIF is palette too
    np.testing.assert_array_equal(images.load_image(tmp_path / "p.gif"), img)


def test_palette_transparency_on_white(tmp_path: Path) -> None:
    idx = RNG.integers(0, 4, (40, 50), dtype=np.uint8)
    im = Image.fromarray(idx, mode="P")
    im.putpalette([200, 0, 0, 0, 200, 0, 0, 0, 200, 9, 9, 9] + [0] * (252 * 3))
    im.save(tmp_path / "pt.png", transparency=3)
    img = images.load_image(tmp_path / "pt.png")
    colours = np.array([[200, 0, 0], [0, 200, 0], [0, 0, 200], [255, 255, 255]], np.uint8)
    np.testing.assert_array_equal(img, colours[idx])


def test_gray16_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    g = RNG.integers(0, 65536, (40, 50), dtype=np.uint16)
    g[0, :4] = (0, 65535, 300, 386)  # 300 -> 1 (clipping would give 255), 386 -> 2
    Image.fromarray(g).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    img = images.load_image(tmp_path / "g16.png")
    _check_rgb8(img, (40, 50))
    np.testing.assert_array_equal(img[..., 0], _expected_u16(g))
    assert tuple(img[0, :4, 0]) == (0, 255, 1, 2)
    assert (img[..., 0] == img[..., 2]).all()
    # The same pixels as a 16-bit TIFF.
    Image.fromarray(g).save(tmp_path / "g16.tif")
    np.testing.assert_array_equal(images.load_image(tmp_path / "g16.tif"), img)


@pytest.mark.parametrize("fmt", ["png", "tif"])
def test_rgb16_full_precision(tmp_path: Path, fmt: str) -> None:
    rgb = RNG.integers(0, 65536, (40, 50, 3), dtype=np.uint16)
    rgb[0, 0] = (386, 65535, 0)
    path = tmp_path / f"c16.{fmt}"
    assert cv2.imwrite(str(path), rgb[..., ::-1])  # OpenCV writes BGR
    img = images.load_image(path)
    _check_rgb8(img, (40, 50))
    np.testing.assert_array_equal(img, _expected_u16(rgb))
    assert tuple(img[0, 0]) == (2, 255, 0)  # Pillow's own high-byte reading gives 1 for 386


def test_rgb16_exif_orientation(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 65536, (40, 60, 3), dtype=np.uint16)
    exif = Image.Exif()
    exif[0x0112] = 6
    _write_png16(tmp_path / "rot16.png", rgb, color_type=2, exif=exif.tobytes())
    img = images.load_image(tmp_path / "rot16.png")
    _check_rgb8(img, (60, 40))
    np.testing.assert_array_equal(img, np.rot90(_expected_u16(rgb), k=-1))


def test_rgba16_on_white(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 65536, (40, 50, 4), dtype=np.uint16)
    rgba[0, 0, 3] = 0
    assert cv2.imwrite(str(tmp_path / "ca16.png"), rgba[..., [2, 1, 0, 3]])
    img = images.load_image(tmp_path / "ca16.png")
    np.testing.assert_array_equal(img, _on_white(rgba[..., :3], rgba[..., 3:], 65535.0))
    assert tuple(img[0, 0]) == (255, 255, 255)


def test_gray_alpha16_on_white(tmp_path: Path) -> None:
    la = RNG.integers(0, 65536, (40, 50, 2), dtype=np.uint16)
    _write_png16(tmp_path / "la16.png", la, color_type=4)
    img = images.load_image(tmp_path / "la16.png")
    expected = _on_white(la[..., 0], la[..., 1], 65535.0)
    np.testing.assert_array_equal(img, np.repeat(expected[..., None], 3, axis=2))


def test_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    img = images.load_image(tmp_path / "cmyk.jpg")
    _check_rgb8(img, (30, 40))
    r, g, b = img.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60  # red


def _quadrant_image() -> np.ndarray:
    """60 wide × 40 high; top-left quadrant red, the rest dark blue."""
    a = np.zeros((40, 60, 3), np.uint8)
    a[...] = (0, 0, 120)
    a[:20, :30] = (255, 0, 0)
    return a


@pytest.mark.parametrize(
    ("orientation", "k", "red_corner"),
    [(3, 2, "bottom-right"), (6, -1, "top-right"), (8, 1, "bottom-left")],
)
def test_exif_rotated_jpeg(tmp_path: Path, orientation: int, k: int, red_corner: str) -> None:
    path = tmp_path / f"rot{orientation}.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_quadrant_image()).save(path, exif=exif, quality=95)
    stored = np.array(Image.open(path).convert("RGB"))  # the pixels as stored, not rotated
    img = images.load_image(path)
    h, w = (40, 60) if orientation == 3 else (60, 40)
    _check_rgb8(img, (h, w))
    np.testing.assert_array_equal(img, np.rot90(stored, k=k))
    corners = {
        "top-left": img[5, 5],
        "top-right": img[5, w - 6],
        "bottom-left": img[h - 6, 5],
        "bottom-right": img[h - 6, w - 6],
    }
    for name, px in corners.items():
        assert (px[0] > 200) == (name == red_corner), (name, px)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_helper_matches_pillow(orientation: int) -> None:
    a = _rgb(7, 11)
    im = Image.fromarray(a)
    im.getexif()[0x0112] = orientation
    expected = np.array(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(images._orient(a, orientation), expected)


def test_big_photo_loads_without_warnings(tmp_path: Path) -> None:
    Image.new("L", (8000, 5000), 7).save(tmp_path / "big.png")  # 40 megapixels
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = images.load_image(tmp_path / "big.png")
    assert img.shape == (5000, 8000, 3) and int(img[-1, -1, 2]) == 7


def test_too_many_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "x.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match=r"x\.png is too large"):
        images.load_image(tmp_path / "x.png")
    # Pillow's own decompression-bomb guard also ends as an ImageError, not a warning.
    monkeypatch.setattr(images, "MAX_PIXELS", None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageError, match=r"x\.png is too large"):
        images.load_image(tmp_path / "x.png")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageError, match="no such file") as e:
        images.load_image(path)
    assert str(path) in str(e.value) and "check the path" in str(e.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a folder") as e:
        images.load_image(tmp_path)
    assert str(tmp_path) in str(e.value)


def test_truncated_jpeg(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb(200, 200)).save(buf, format="JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated") as e:
        images.load_image(path)
    assert str(path) in str(e.value)


def test_corrupt_png_data(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(_rgb(100, 100)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    start = data.index(b"IDAT") + 40
    data[start : start + 200] = bytes(200)  # garbage inside the compressed stream
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt") as e:
        images.load_image(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.jpg", b"this is not a picture\n" * 20), ("empty.png", b"")],
)
def test_not_an_image(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match="not an image") as e:
        images.load_image(path)
    assert str(path) in str(e.value) and "re-save" in str(e.value)


def test_unsupported_format_is_refused(tmp_path: Path) -> None:
    Image.fromarray(_rgb(32, 32)).save(tmp_path / "icon.ico")
    with pytest.raises(ImageError, match=r"icon\.ico is not an image"):
        images.load_image(tmp_path / "icon.ico")


@pytest.mark.parametrize("size", [(29, 100), (100, 29), (10, 10)])
def test_too_small(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", size).save(path)
    with pytest.raises(ImageError, match=rf"smaller than one {PATCH}×{PATCH} patch") as e:
        images.load_image(path)
    assert str(path) in str(e.value)


def test_one_patch_is_enough(tmp_path: Path) -> None:
    Image.new("RGB", (PATCH, PATCH), (1, 2, 3)).save(tmp_path / "p.png")
    assert images.load_image(tmp_path / "p.png").shape == (PATCH, PATCH, 3)


def test_errors_are_blurlib_and_value_errors(tmp_path: Path) -> None:
    with pytest.raises(BlurlibError):
        images.load_image(tmp_path / "nope.png")
    with pytest.raises(ValueError):
        photos.folder_images(tmp_path / "nope")


# --------------------------------------------------------------------------- bundled photos


def test_sample_images() -> None:
    first = samples.sample_images()
    names = [n for n, _ in first]
    assert names == [p.name for p in samples.SAMPLE_PHOTOS]
    assert len(names) == len(set(names)) >= 8
    assert "clock" not in names and all("clock" not in p.file for p in samples.SAMPLE_PHOTOS)
    assert {"astronaut", "chelsea", "coffee", "rocket"} <= set(names)
    for _, img in first:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
        assert min(img.shape[:2]) >= PATCH
        assert img.std() > 10  # real pictures, not flat fields
    again = samples.sample_images()
    assert [n for n, _ in again] == names
    for (_, a), (_, b) in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    shapes = dict((n, img.shape) for n, img in first)
    assert shapes["astronaut"] == (512, 512, 3) and shapes["chelsea"] == (300, 451, 3)


def test_real_blur_samples() -> None:
    (name, img), *rest = samples.real_blur_samples()
    assert name == "clock" and not rest
    assert img.shape == (300, 400, 3) and img.dtype == np.uint8


def test_sample_photos_table() -> None:
    md = samples.sample_photos_markdown()
    rows = md.splitlines()
    assert len(rows) == 2 + len(samples.SAMPLE_PHOTOS)
    for p in samples.SAMPLE_PHOTOS:
        assert f"`{p.name}`" in md and p.licence in md
        assert (samples._skimage_data_dir() / p.file).is_file()


def test_samples_need_no_network_nor_tensorflow() -> None:
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k):\n"
        "    raise RuntimeError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import blurlib.data.samples as s\n"
        "assert len(s.sample_images()) == len(s.SAMPLE_PHOTOS)\n"
        "assert s.real_blur_samples()[0][0] == 'clock'\n"
        "bad = [m for m in ('tensorflow', 'keras', 'pooch', 'skimage.data') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    repo = Path(__file__).resolve().parents[1]
    path = os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=repo, env=env)


# --------------------------------------------------------------------------- folders


def _touch(root: Path, *names: str) -> None:
    for n in names:
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")


def test_folder_images_order_and_filter(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "b.JPG",
        "a/z.png",
        "a/b/c.tiff",
        "A.webp",
        "c.Jpeg",
        "d.TIF",
        "e.bmp",
        "notes.txt",
        "f.gif",
        ".hidden.jpg",
        ".git/x.png",
        "a/._z.png",
    )
    got = [p.relative_to(tmp_path).as_posix() for p in photos.folder_images(tmp_path)]
    assert got == ["A.webp", "a/b/c.tiff", "a/z.png", "b.JPG", "c.Jpeg", "d.TIF", "e.bmp"]
    assert photos.folder_images(str(tmp_path)) == photos.folder_images(tmp_path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_folder_images_survives_symlink_loop(tmp_path: Path) -> None:
    _touch(tmp_path, "a/x.png")
    os.symlink(tmp_path / "a", tmp_path / "a" / "loop")
    got = [p.relative_to(tmp_path).as_posix() for p in photos.folder_images(tmp_path)]
    assert got == ["a/x.png"]


def test_folder_images_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder") as e:
        photos.folder_images(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(e.value)
    _touch(tmp_path, "f.png", "empty/readme.txt")
    with pytest.raises(DatasetError, match="is a file"):
        photos.folder_images(tmp_path / "f.png")
    with pytest.raises(DatasetError, match="no images") as e:
        photos.folder_images(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(e.value)


def test_photo_refs_folder(tmp_path: Path) -> None:
    for rel in ("x.jpg", "x.png", "sub/y.png", "sub/deeper/z.bmp"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_rgb()).save(p)
    refs = photos.photo_refs(tmp_path)
    assert [r.name for r in refs] == ["sub/deeper/z", "sub/y", "x.jpg", "x.png"]
    assert refs == photos.photo_refs(str(tmp_path))
    np.testing.assert_array_equal(refs[1].load(), images.load_image(tmp_path / "sub/y.png"))


def test_iter_photos_skips_unreadable_with_warning(tmp_path: Path) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "good.png")
    (tmp_path / "bad.jpg").write_text("not an image")
    Image.new("RGB", (10, 10)).save(tmp_path / "small.png")
    with pytest.warns(UserWarning) as record:
        got = list(photos.iter_photos(tmp_path))
    assert [n for n, _ in got] == ["good"]
    messages = " ".join(str(w.message) for w in record)
    assert "bad.jpg" in messages and "small.png" in messages


def test_photo_refs_sample_and_errors(tmp_path: Path) -> None:
    refs = photos.photo_refs("sample")
    assert [r.name for r in refs] == [p.name for p in samples.SAMPLE_PHOTOS]
    np.testing.assert_array_equal(refs[0].load(), samples.sample_images()[0][1])
    with pytest.raises(DatasetError, match="needs voc_root"):
        photos.photo_refs("voc2010")
    with pytest.raises(DatasetError, match="unknown photo source"):
        photos.photo_refs(str(tmp_path / "nowhere"))


def test_photo_refs_sample_subset() -> None:
    refs = photos.photo_refs("sample:coins,camera")
    assert [r.name for r in refs] == ["coins", "camera"]
    whole = {r.name: r.path for r in photos.photo_refs("sample")}
    assert [r.path for r in refs] == [whole["coins"], whole["camera"]]
    with pytest.raises(DatasetError, match=r"unknown sample photo\(s\) moon.*camera"):
        photos.photo_refs("sample:camera,moon")
    with pytest.raises(DatasetError, match="no names"):
        photos.photo_refs("sample:")
    with pytest.raises(DatasetError, match="twice"):
        photos.photo_refs("sample:camera,camera")
    with pytest.raises(DatasetError, match="named 'camera'"):
        photos.photo_refs(["sample", "sample:camera"])


def test_photo_list_with_sample_entries(tmp_path: Path) -> None:
    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((40, 40, 3), 7, np.uint8)).save(wall)
    lst = tmp_path / "list.txt"
    lst.write_text("sample:coins, camera  # two bundled photos\nwall.png\n# [test]\nsample:grass\n")
    refs = photos.photo_refs(str(lst))
    assert [r.name for r in refs] == ["coins", "camera", "wall"]
    assert refs[2].path == wall
    assert refs[0].path == {r.name: r.path for r in photos.photo_refs("sample")}["coins"]
    assert [r.name for r in photos.photo_refs(f"{lst}:test")] == ["grass"]
    (tmp_path / "camera.png").write_bytes(wall.read_bytes())  # same name as a bundled photo
    lst.write_text("sample:camera\ncamera.png\n")
    with pytest.raises(DatasetError, match="named 'camera'"):
        photos.photo_refs(str(lst))
    lst.write_text("sample:moon\n")
    with pytest.raises(DatasetError, match="unknown sample photo"):
        photos.photo_refs(str(lst))


# --------------------------------------------------------------------------- VOC2010

VOC_IDS = ["2008_000001", "2008_000002", "2009_000003", "2010_000004", "2010_000005"]


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    """A tiny VOCdevkit tree under tmp_path/data; returns tmp_path/data."""
    voc2010 = tmp_path / "data" / "VOCdevkit" / "VOC2010"
    (voc2010 / "JPEGImages").mkdir(parents=True)
    (voc2010 / "ImageSets" / "Main").mkdir(parents=True)
    (voc2010 / "Annotations").mkdir()
    for k, i in enumerate(VOC_IDS):
        Image.new("RGB", (50 + k, 40), (40 * k, 255 - 40 * k, 7)).save(
            voc2010 / "JPEGImages" / f"{i}.jpg"
        )
        (voc2010 / "Annotations" / f"{i}.xml").write_text("<annotation/>")
    Image.new("RGB", (50, 40)).save(voc2010 / "JPEGImages" / "2011_999999.jpg")  # in no split
    main = voc2010 / "ImageSets" / "Main"
    main.joinpath("train.txt").write_text("\n".join(VOC_IDS[:3]) + "\n")
    main.joinpath("val.txt").write_text("\n".join(VOC_IDS[3:]) + "\n\n")
    main.joinpath("trainval.txt").write_text("\n".join(VOC_IDS) + "\n")
    main.joinpath("aeroplane_train.txt").write_text(
        f"{VOC_IDS[0]} -1\n{VOC_IDS[1]}  1\n{VOC_IDS[2]} 0\n"
    )
    return tmp_path / "data"


def _make_tar(src: Path, tar_path: Path, arcname: str = "VOCdevkit") -> Path:
    with tarfile.open(tar_path, "w") as tf:
        tf.add(src / "VOCdevkit", arcname=arcname)
    return tar_path


def _names(refs: list[images.PhotoRef]) -> list[str]:
    return [r.name for r in refs]


def test_voc_folder_path_styles(voc: Path) -> None:
    for root in (voc / "VOCdevkit", voc / "VOCdevkit" / "VOC2010", voc, str(voc)):
        assert _names(pascal_voc.voc2010_images(root)) == VOC_IDS
    assert _names(pascal_voc.voc2010_images(voc / "VOCdevkit", "train")) == VOC_IDS[:3]
    assert _names(pascal_voc.voc2010_images(voc / "VOCdevkit", "val")) == VOC_IDS[3:]
    assert _names(pascal_voc.voc2010_images(voc, "aeroplane_train")) == VOC_IDS[:3]
    refs = photos.photo_refs("voc2010", voc_root=voc / "VOCdevkit", voc_split="val")
    assert _names(refs) == VOC_IDS[3:]
    img = refs[0].load()
    assert img.shape == (40, 53, 3)
    np.testing.assert_array_equal(
        img, images.load_image(voc / "VOCdevkit/VOC2010/JPEGImages/2010_000004.jpg")
    )


@pytest.mark.parametrize("arcname", ["VOCdevkit", "./VOCdevkit"])
def test_voc_tar(voc: Path, tmp_path: Path, arcname: str) -> None:
    tar = _make_tar(voc, tmp_path / pascal_voc.VOC2010_TAR_NAME, arcname)
    folder_refs = pascal_voc.voc2010_images(voc)
    tar_refs = pascal_voc.voc2010_images(tar)
    assert _names(tar_refs) == VOC_IDS
    assert all(r.path == tar and r.member and r.member.endswith(".jpg") for r in tar_refs)
    for a, b in zip(folder_refs, tar_refs, strict=True):
        np.testing.assert_array_equal(a.load(), b.load())
    assert _names(pascal_voc.voc2010_images(str(tar), "train")) == VOC_IDS[:3]
    assert _names(pascal_voc.voc2010_images(tar, "aeroplane_train")) == VOC_IDS[:3]
    # A folder holding just the downloaded tar works too.
    assert _names(pascal_voc.voc2010_images(tmp_path, "val")) == VOC_IDS[3:]
    # Refs hold no open file: they pickle and still load.
    clone = pickle.loads(pickle.dumps(tar_refs[2]))
    np.testing.assert_array_equal(clone.load(), folder_refs[2].load())
    first = next(iter(photos.iter_photos("voc2010", voc_root=tar, voc_split="val")))
    assert first[0] == VOC_IDS[3]


def test_voc_tar_truncated_after_indexing(voc: Path, tmp_path: Path) -> None:
    tar = _make_tar(voc, tmp_path / "voc.tar")
    refs = pascal_voc.voc2010_images(tar)
    last = max(refs, key=lambda r: r.offset or 0)
    with tar.open("r+b") as f:
        f.truncate(last.offset + 10)
    with pytest.raises(ImageError, match="ends early") as e:
        last.load()
    assert str(tar) in str(e.value) and last.name in str(e.value)


def test_voc_errors(voc: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file or folder") as e:
        pascal_voc.voc2010_images(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(e.value)
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetError, match="not a Pascal VOC2010 tree") as e:
        pascal_voc.voc2010_images(tmp_path / "other")
    assert "VOCdevkit" in str(e.value)
    with pytest.raises(DatasetError, match=r"no ImageSets/Main/test\.txt") as e:
        pascal_voc.voc2010_images(voc, "test")
    assert "train, val, trainval" in str(e.value)
    with pytest.raises(DatasetError, match="bad VOC split"):
        pascal_voc.voc2010_images(voc, "../train")
    (voc / "VOCdevkit/VOC2010/JPEGImages/2009_000003.jpg").unlink()
    with pytest.raises(DatasetError, match=r"missing .*first: 2009_000003\.jpg"):
        pascal_voc.voc2010_images(voc, "train")
    assert _names(pascal_voc.voc2010_images(voc, "val")) == VOC_IDS[3:]


def test_voc_tar_errors(voc: Path, tmp_path: Path) -> None:
    tar = _make_tar(voc, tmp_path / "voc.tar")
    with pytest.raises(DatasetError, match=r"no ImageSets/Main/test\.txt"):
        pascal_voc.voc2010_images(tar, "test")
    gz = tmp_path / "voc.tar.gz"
    with tarfile.open(gz, "w:gz") as tf:
        tf.add(voc / "VOCdevkit", arcname="VOCdevkit")
    with pytest.raises(DatasetError, match="compressed tar") as e:
        pascal_voc.voc2010_images(gz)
    assert str(gz) in str(e.value)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"hello" * 1000)
    with pytest.raises(DatasetError, match="not a tar file"):
        pascal_voc.voc2010_images(junk)
    other = tmp_path / "other.tar"
    with tarfile.open(other, "w") as tf:
        tf.add(voc / "VOCdevkit" / "VOC2010" / "Annotations", arcname="Annotations")
    with pytest.raises(DatasetError, match="holds no Pascal VOC tree"):
        pascal_voc.voc2010_images(other)


# --------------------------------------------------------------------------- fetch_voc2010

PAYLOAD = RNG.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
TAR = pascal_voc.VOC2010_TAR_NAME


class _Server:
    """A loopback HTTP server for PAYLOAD with Range support and switchable misbehaviour."""

    def __init__(self) -> None:
        self.ranges: list[str | None] = []
        self.sent = 0
        self.ignore_range = False
        self.cut_next = False  # send half the body, then hang up (once)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != f"/{TAR}":
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                owner.ranges.append(rng)
                start = 0
                if rng and not owner.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(PAYLOAD):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    end = len(PAYLOAD) - 1
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(PAYLOAD)}")
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.cut_next:
                    owner.cut_next = False
                    body = body[: len(body) // 2]
                # count before writing: the client may finish reading (and the test assert)
                # before this thread runs again
                owner.sent += len(body)
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{TAR}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_fetch_file_url(tmp_path: Path) -> None:
    src = tmp_path / "mirror" / TAR
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "dl"
    (dest).mkdir()
    (dest / f"{TAR}.part").write_bytes(b"stale bytes")  # file:// restarts from zero
    got = download.fetch_voc2010(dest, url=src.as_uri(), md5=PAYLOAD_MD5, progress=False)
    assert got == dest / TAR and got.read_bytes() == PAYLOAD
    assert not (dest / f"{TAR}.part").exists()
    # Already there with the right checksum: nothing is downloaded (the URL is dead now).
    src.unlink()
    assert download.fetch_voc2010(dest, url=src.as_uri(), md5=PAYLOAD_MD5, progress=False) == got
    sha1 = hashlib.sha1(PAYLOAD).hexdigest()
    again = download.fetch_voc2010(dest, url=src.as_uri(), md5=None, sha1=sha1, progress=False)
    assert again == got


def test_fetch_file_url_bad_checksum(tmp_path: Path) -> None:
    src = tmp_path / TAR
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "dl"
    with pytest.raises(DatasetError, match=r"md5 is .* expected 0{32}") as e:
        download.fetch_voc2010(dest, url=src.as_uri(), md5="0" * 32, progress=False)
    assert "delete" in str(e.value) and str(dest / f"{TAR}.part") in str(e.value)
    assert not (dest / TAR).exists()
    # A wrong file already in place is reported, not silently used or overwritten.
    (dest / TAR).write_bytes(b"something else")
    with pytest.raises(DatasetError, match="exists but its md5"):
        download.fetch_voc2010(dest, url=src.as_uri(), md5=PAYLOAD_MD5, progress=False)


def test_fetch_missing_file_url(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="failed"):
        download.fetch_voc2010(tmp_path, url=(tmp_path / "none.tar").as_uri(), progress=False)


def test_fetch_http(tmp_path: Path, server: _Server) -> None:
    got = download.fetch_voc2010(tmp_path, url=server.url, md5=PAYLOAD_MD5, progress=True)
    assert got.read_bytes() == PAYLOAD and server.ranges == [None]


def test_fetch_http_resumes_part(tmp_path: Path, server: _Server) -> None:
    (tmp_path / f"{TAR}.part").write_bytes(PAYLOAD[:100_000])
    got = download.fetch_voc2010(tmp_path, url=server.url, md5=PAYLOAD_MD5, progress=False)
    assert got.read_bytes() == PAYLOAD
    assert server.ranges == ["bytes=100000-"] and server.sent == len(PAYLOAD) - 100_000


def test_fetch_http_resume_after_interruption(tmp_path: Path, server: _Server) -> None:
    server.cut_next = True
    with pytest.raises(DatasetError, match="resume") as e:
        download.fetch_voc2010(tmp_path, url=server.url, md5=PAYLOAD_MD5, progress=False)
    assert str(tmp_path / f"{TAR}.part") in str(e.value)
    part = tmp_path / f"{TAR}.part"
    have = part.stat().st_size
    assert 0 < have < len(PAYLOAD) and not (tmp_path / TAR).exists()
    got = download.fetch_voc2010(tmp_path, url=server.url, md5=PAYLOAD_MD5, progress=False)
    assert got.read_bytes() == PAYLOAD and server.ranges == [None, f"bytes={have}-"]


def test_fetch_http_server_ignores_range(tmp_path: Path, server: _Server) -> None:
    server.ignore_range = True
    (tmp_path / f"{TAR}.part").write_bytes(b"\xff" * 5000)  # wrong bytes: must be replaced
    got = download.fetch_voc2010(tmp_path, url=server.url, md5=PAYLOAD_MD5, progress=False)
    assert got.read_bytes() == PAYLOAD and server.ranges == ["bytes=5000-"]


def test_fetch_http_part_already_complete(tmp_path: Path, server: _Server) -> None:
    (tmp_path / f"{TAR}.part").write_bytes(PAYLOAD)
    got = download.fetch_voc2010(tmp_path, url=server.url, md5=PAYLOAD_MD5, progress=False)
    assert got.read_bytes() == PAYLOAD and server.sent == 0
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]


def test_fetch_http_bad_checksum_and_404(tmp_path: Path, server: _Server) -> None:
    with pytest.raises(DatasetError, match=r"delete .*part.* run fetch_voc2010 again"):
        download.fetch_voc2010(tmp_path, url=server.url, md5="f" * 32, progress=False)
    assert (tmp_path / f"{TAR}.part").read_bytes() == PAYLOAD
    assert not (tmp_path / TAR).exists()
    with pytest.raises(DatasetError, match="HTTP 404"):
        download.fetch_voc2010(tmp_path / "b", url=server.url + "x", progress=False)


def test_voc_constants(tmp_path: Path) -> None:
    assert pascal_voc.VOC2010_TAR_URL.endswith("/" + pascal_voc.VOC2010_TAR_NAME)
    assert re.fullmatch(r"[0-9a-f]{32}", pascal_voc.VOC2010_TAR_MD5)
    # and the download checks against it by default: other bytes under the tar's name fail
    src = tmp_path / "mirror" / TAR
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    expected = f"expected {pascal_voc.VOC2010_TAR_MD5}"
    with pytest.raises(DatasetError, match=f"md5 is {PAYLOAD_MD5}, {expected}"):
        download.fetch_voc2010(tmp_path / "dl", url=src.as_uri(), progress=False)
    assert not (tmp_path / "dl" / TAR).exists()


def test_photo_list_file_sections_names_and_errors(tmp_path):
    from blurlib.data.photos import list_file_refs, photo_refs, read_photo_list

    for sub in ("A/contents/images", "B/contents/images"):
        (tmp_path / sub).mkdir(parents=True)
        Image.fromarray(np.full((40, 40, 3), 9, np.uint8)).save(tmp_path / sub / "big.png")
    Image.fromarray(np.full((40, 40, 3), 9, np.uint8)).save(tmp_path / "solo.png")
    lst = tmp_path / "photos.txt"
    lst.write_text(
        "# header\n"
        "A/contents/images/big.png   # kept\n"
        f"{tmp_path / 'B/contents/images/big.png'}\n"
        "\n# [test]\nsolo.png # held out\n"
    )
    assert [p.name for p in read_photo_list(lst)] == ["big.png", "big.png"]
    assert [p.name for p in read_photo_list(lst, "test")] == ["solo.png"]
    assert len(read_photo_list(lst, "all")) == 3
    names = [r.name for r in list_file_refs(lst)]
    assert names == ["A/contents/images/big", "B/contents/images/big"]
    refs = photo_refs(["sample", str(lst)])
    assert names[0] in [r.name for r in refs] and "astronaut" in [r.name for r in refs]
    with pytest.raises(DatasetError, match="named"):
        photo_refs([str(lst), str(lst)])
    lst.write_text("missing.png\n")
    with pytest.raises(DatasetError, match=r"missing\.png"):
        read_photo_list(lst)


def test_photo_list_crop_loads_the_rectangle_and_names_it(tmp_path):
    """``PATH crop=x0,y0,x1,y1`` (a photo whose truth holds in one region, e.g. the streaked
    ground of a panning shot) loads exactly that rectangle, under a name that says so, at the
    photo's --max-side scale (also against the right and bottom edges); the same photo may be
    listed whole and cropped; a crop outside the photo, smaller than a patch or malformed is
    one clear error (DatasetError: a list's mistake is never skipped as an unreadable photo)."""
    from blurlib.data.photos import list_file_refs, load_photos, read_photo_list, shrink_to

    rgb = np.random.default_rng(0).integers(0, 256, (121, 201, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "pan.png")
    lst = tmp_path / "photos.txt"
    lst.write_text("pan.png\npan.png  crop=20,40,180,100  # the streaked ground\n")
    assert [p.name for p in read_photo_list(lst)] == ["pan.png", "pan.png"]
    refs = list_file_refs(lst)
    assert [r.name for r in refs] == ["pan", "pan@20,40,180,100"]
    assert refs[1].crop == (20, 40, 180, 100) and refs[0].crop is None
    (_, whole), (_, part) = load_photos(str(lst))
    np.testing.assert_array_equal(whole, rgb)
    np.testing.assert_array_equal(part, rgb[40:100, 20:180])
    assert part.flags.c_contiguous
    small = shrink_to(rgb, 100)  # 100 × 60
    assert small.shape[:2] == (60, 100)
    (_, whole), (_, part) = load_photos(str(lst), max_side=100)
    np.testing.assert_array_equal(whole, small)
    np.testing.assert_array_equal(part, small[20:50, 10:90])  # the same region, scaled
    lst.write_text("pan.png crop=101,61,201,121\n")  # flush with the right and bottom edges
    ((_, part),) = load_photos(str(lst), max_side=100)
    np.testing.assert_array_equal(part, small[30:60, 50:100])
    for crop, match in [
        ("10,20,202,40", r"crop=10,20,202,40 does not lie inside the 201x121"),  # 1 px past
        ("0,0,29,121", r"is 29×121 px, smaller than one 30×30 patch"),
    ]:
        lst.write_text(f"pan.png crop={crop}\n")
        with pytest.raises(DatasetError, match=match):
            load_photos(str(lst))
    lst.write_text("pan.png crop=0,0,60,60\n")
    with pytest.raises(DatasetError, match=r"is 12×12 px at max side 40, smaller than one"):
        load_photos(str(lst), max_side=40)
    lst.write_text("pan.png crop=10,20,10,40\n")
    with pytest.raises(DatasetError, match="is empty"):
        read_photo_list(lst)
    lst.write_text("pan.png crop=1,2,3\n")
    with pytest.raises(DatasetError, match=r"PATH crop=x0,y0,x1,y1"):
        read_photo_list(lst)


# --------------------------------------------------------------------------- nothing silently wrong


def _frames(n: int) -> list[Image.Image]:
    return [Image.fromarray(_rgb(40, 50)) for _ in range(n)]


@pytest.mark.parametrize(("fmt", "suffix"), [("GIF", ".gif"), ("TIFF", ".tif"), ("PNG", ".png")])
def test_many_frames_warn_once_and_give_the_first(tmp_path: Path, fmt: str, suffix: str) -> None:
    frames = _frames(3)
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning) as record:
        img = images.load_image(path)
    assert len(record) == 1
    message = str(record[0].message)
    assert str(path) in message and "3 frames" in message and "first" in message
    assert "\n" not in message
    if fmt != "GIF":  # GIF quantises colours
        np.testing.assert_array_equal(img, np.array(frames[0]))


def test_one_frame_does_not_warn(tmp_path: Path) -> None:
    frames = _frames(1)
    for fmt, suffix in (("GIF", ".gif"), ("TIFF", ".tif"), ("PNG", ".png")):
        frames[0].save(tmp_path / f"one{suffix}", format=fmt, save_all=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            images.load_image(tmp_path / f"one{suffix}")


def test_mpo_main_picture_does_not_warn(tmp_path: Path) -> None:
    frames = _frames(2)
    path = tmp_path / "phone.jpg"
    frames[0].save(path, format="MPO", save_all=True, append_images=frames[1:])
    with Image.open(path) as im:
        if im.format != "MPO" or getattr(im, "n_frames", 1) < 2:
            pytest.skip("this Pillow did not write a multi-picture JPEG")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert images.load_image(path).shape == (40, 50, 3)


@pytest.mark.parametrize(
    "content",
    [
        b"P6\nSECRETPASSWORD hunter2\n255\n" + b"x" * 100,  # a text file that starts like PPM
        b"P6 40 40 SECRET\n" + b"x" * 100,
        b"P3\n# SECRET\nSECRET SECRET\n",
    ],
)
def test_errors_never_quote_file_content(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as e:
        images.load_image(path)
    message = str(e.value)
    assert str(path) in message
    assert "SECRET" not in message and "hunter2" not in message and "b'" not in message


def test_reason_drops_quoted_bytes() -> None:
    reason = images._reason(ValueError("broken PNG file (chunk b'SECR')"))
    assert reason == "ValueError: broken PNG file (chunk <…>)"
    assert images._reason(OSError()) == "OSError"
    assert len(images._reason(OSError("x" * 1000))) < 140


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_folder_images_stays_inside_the_folder(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    _touch(root, "a.png", "sub/b.png")
    _touch(elsewhere, "private.png", "album/c.png")
    os.symlink(elsewhere / "private.png", root / "linked.png")  # a file link out
    os.symlink(elsewhere / "album", root / "album")  # a folder link out
    os.symlink(root / "sub", root / "again")  # a folder link that stays inside
    os.symlink(root / "a.png", root / "same.png")  # a file link that stays inside
    with pytest.warns(UserWarning, match=r"skipped 2 link\(s\).*follow_links=True") as record:
        got = [p.relative_to(root).as_posix() for p in photos.folder_images(root)]
    assert len(record) == 1
    assert got == ["a.png", "again/b.png", "same.png"] or got == [
        "a.png",
        "same.png",
        "sub/b.png",
    ]
    assert all(Path(os.path.realpath(root / g)).is_relative_to(root.resolve()) for g in got)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        followed = [
            p.relative_to(root).as_posix() for p in photos.folder_images(root, follow_links=True)
        ]
    assert "linked.png" in followed and "album/c.png" in followed
    # photo_refs of a folder use the same scan
    with pytest.warns(UserWarning, match="lead out of the folder"):
        names = [r.name for r in photos.photo_refs(root)]
    assert "linked" not in names and "album/c" not in names


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_folder_images_root_given_through_a_link(tmp_path: Path) -> None:
    _touch(tmp_path, "real/x.png", "real/sub/y.png")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = [
            p.relative_to(tmp_path / "alias").as_posix()
            for p in photos.folder_images(tmp_path / "alias")
        ]
    assert got == ["sub/y.png", "x.png"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_folder_of_only_outside_links_is_empty(tmp_path: Path) -> None:
    _touch(tmp_path, "elsewhere/p.png")
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "link")
    with (
        pytest.warns(UserWarning, match="skipped 1 link"),
        pytest.raises(DatasetError, match="no images"),
    ):
        photos.folder_images(tmp_path / "root")
