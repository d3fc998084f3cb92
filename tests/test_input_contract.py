"""The inference input contract (``blurlib.inference.windows.as_image``): uint8 0–255 or
finite floats on the 0–255 scale; gray replicated, RGBA composited onto white as files are;
anything else (0–1 floats, NaN/inf, bool, uint16, other dtypes and shapes) is refused with a
clear ImageError. No model is needed: every public inference function reads through here."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blurlib.data.images import composite_on_white, load_image
from blurlib.errors import ImageError
from blurlib.inference.windows import as_image

RNG = np.random.default_rng(7)


def _rgb(h: int = 40, w: int = 50) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_uint8_passes_through_uncopied() -> None:
    img = _rgb()
    out = as_image(img)
    assert out is img or np.shares_memory(out, img)
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_floats_on_the_0_255_scale_are_accepted(dtype: type) -> None:
    img = _rgb().astype(dtype)
    out = as_image(img)
    assert out.shape == img.shape and out.dtype.kind == "f" and out.dtype.itemsize >= 4
    np.testing.assert_array_equal(out, img.astype(out.dtype))


def test_all_black_float_is_black_on_either_scale() -> None:
    assert as_image(np.zeros((40, 40, 3), np.float32)).max() == 0


def test_0_to_1_floats_are_refused() -> None:
    # the defect: image / 255. was read as a nearly black 0–255 photo (p ≈ 1 everywhere)
    img = _rgb() / 255.0
    with pytest.raises(ImageError, match=r"0–1 floats.*multiply by 255"):
        as_image(img)
    np.testing.assert_array_equal(as_image(img * 255.0), img * 255.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(bad: float) -> None:
    img = _rgb().astype(np.float32)
    img[3, 4, 1] = bad
    with pytest.raises(ImageError, match="NaN or infinite"):
        as_image(img)


@pytest.mark.parametrize("lo_hi", [(-1.0, 200.0), (0.0, 256.0), (0.0, 1000.0)])
def test_floats_outside_0_255_are_refused(lo_hi: tuple[float, float]) -> None:
    img = np.full((40, 40, 3), 100.0, np.float32)
    img[0, 0, 0], img[1, 1, 1] = lo_hi
    with pytest.raises(ImageError, match="must lie in 0–255"):
        as_image(img)


def test_uint16_is_refused_with_the_conversion() -> None:
    img = _rgb().astype(np.uint16) * 257
    with pytest.raises(ImageError, match=r"convert to uint8 first, e\.g\. \(a >> 8\)"):
        as_image(img)
    np.testing.assert_array_equal(as_image((img >> 8).astype(np.uint8)), img >> 8)


def test_bool_is_refused() -> None:
    with pytest.raises(ImageError, match="bool"):
        as_image(np.ones((40, 40), bool))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint32, np.complex64])
def test_other_dtypes_are_refused(dtype: type) -> None:
    with pytest.raises(ImageError, match=str(np.dtype(dtype))):
        as_image(np.zeros((40, 40, 3), dtype))


def test_object_and_string_arrays_are_refused() -> None:
    with pytest.raises(ImageError):
        as_image(np.full((40, 40, 3), None, object))
    with pytest.raises(ImageError):
        as_image(12)


@pytest.mark.parametrize("shape", [(40,), (40, 40, 2), (40, 40, 5), (2, 40, 40, 3), ()])
def test_wrong_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError, match="H×W×3"):
        as_image(np.zeros(shape, np.uint8))


def test_too_small_is_refused_for_floats_too() -> None:
    with pytest.raises(ImageError, match="smaller than one"):
        as_image(np.zeros((20, 40, 3), np.float32))


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        as_image(np.ones((40, 40, 3)) / 2)


def test_gray_is_replicated() -> None:
    g = _rgb()[..., 0]
    np.testing.assert_array_equal(as_image(g), np.dstack([g] * 3))
    np.testing.assert_array_equal(as_image(g[..., None]), np.dstack([g] * 3))


def _rgba(h: int = 40, w: int = 50) -> np.ndarray:
    rgba = RNG.integers(0, 256, (h, w, 4), dtype=np.uint8)
    rgba[:5, :, 3] = 0  # fully transparent rows: garbage colour must not show
    rgba[5:10, :, 3] = 255
    return rgba


def test_rgba_array_is_composited_like_the_rgba_file(tmp_path: Path) -> None:
    # the defect: an RGBA array had its alpha dropped, the same RGBA file went onto white
    rgba = _rgba()
    path = tmp_path / "t.png"
    Image.fromarray(rgba, "RGBA").save(path)
    from_file = load_image(path)
    np.testing.assert_array_equal(as_image(rgba), from_file)
    np.testing.assert_array_equal(as_image(path), from_file)
    assert (from_file[:5] == 255).all()
    np.testing.assert_array_equal(from_file[5:10], rgba[5:10, :, :3])


def test_float_rgba_is_composited_onto_white_too() -> None:
    rgba = _rgba()
    got = as_image(rgba.astype(np.float64))
    want = composite_on_white(rgba)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, atol=0.5)
    assert (got[:5] == 255.0).all()


def test_paths_bytes_and_file_objects(tmp_path: Path) -> None:
    img = _rgb()
    path = tmp_path / "p.png"
    Image.fromarray(img).save(path)
    for source in (path, str(path), path.read_bytes()):
        np.testing.assert_array_equal(as_image(source), img)
    with path.open("rb") as fp:
        np.testing.assert_array_equal(as_image(fp), img)


def test_load_image_bytes_and_file_objects(tmp_path: Path) -> None:
    img = _rgb()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    data = buf.getvalue()
    np.testing.assert_array_equal(load_image(data), img)
    np.testing.assert_array_equal(load_image(bytearray(data)), img)
    np.testing.assert_array_equal(load_image(io.BytesIO(data)), img)
    path = tmp_path / "named.png"
    path.write_bytes(b"junk" + data)
    with path.open("rb") as fp:
        fp.seek(4)  # read from the current position
        np.testing.assert_array_equal(load_image(fp), img)
        assert not fp.closed  # the caller's file stays open
    with pytest.raises(ImageError, match="<bytes> is not an image"):
        load_image(b"hello, not a picture" * 10)
    with path.open("rb") as fp, pytest.raises(ImageError, match=r"named\.png is not an image"):
        load_image(fp)  # starts with junk
    with pytest.raises(ImageError, match="<file object>"):
        load_image(io.BytesIO(data[: len(data) // 2]))
    with path.open("r", encoding="latin-1") as text, pytest.raises(ImageError, match="binary"):
        load_image(text)
    with pytest.raises(ImageError, match="cannot read an image from a int"):
        load_image(3)  # type: ignore[arg-type]


def test_composite_on_white_rounds_like_a_file() -> None:
    rgba = np.array([[[0, 100, 200, 128], [10, 20, 30, 0], [1, 2, 3, 255]]], np.uint8)
    want = np.rint(
        rgba[..., :3] * (rgba[..., 3:] / 255.0) + 255.0 * (1 - rgba[..., 3:] / 255.0)
    ).astype(np.uint8)
    np.testing.assert_array_equal(composite_on_white(rgba), want)
