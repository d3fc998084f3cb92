"""Property: ``load_image`` on any bytes — random, or real files of every supported format cut
short or with bytes flipped — returns an RGB uint8 H×W×3 image or raises ImageError; no
other exception ever escapes."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from blurlib.data.images import load_image
from blurlib.errors import ImageError


def _real_files() -> dict[str, bytes]:
    """Small real files (40×36 px, just over one patch) of every format load_image reads."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, rng.integers(0, 256, (36, 40), dtype=np.uint8)])
    pictures = {
        "JPEG": (Image.fromarray(rgb), {"quality": 80}),
        "PNG": (Image.fromarray(rgba, "RGBA"), {}),
        "TIFF": (Image.fromarray(rgb), {"compression": "tiff_lzw"}),
        "BMP": (Image.fromarray(rgb), {}),
        "WEBP": (Image.fromarray(rgb), {"quality": 80}),
        "GIF": (Image.fromarray(rgb).convert("P"), {}),
    }
    out = {}
    for fmt, (im, kw) in pictures.items():
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        out[fmt] = buf.getvalue()
    return out


FILES = _real_files()


def _check(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "corrupt EXIF" and the like are fine
            img = load_image(data)
    except ImageError:
        return
    assert isinstance(img, np.ndarray)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] >= 30 and img.shape[1] >= 30


def test_the_real_files_load() -> None:
    for data in FILES.values():
        assert load_image(data).shape == (36, 40, 3)


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run
)


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(data)


@FUZZ
@given(st.sampled_from(sorted(FILES)), st.floats(0.0, 1.0))
def test_truncations(fmt: str, cut: float) -> None:
    data = FILES[fmt]
    _check(data[: int(len(data) * cut)])


@FUZZ
@given(
    st.sampled_from(sorted(FILES)),
    st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_flipped_bytes(fmt: str, edits: list[tuple[float, int]]) -> None:
    data = bytearray(FILES[fmt])
    for where, value in edits:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _check(bytes(data))


@FUZZ
@given(st.sampled_from(sorted(FILES)), st.integers(0, 400), st.binary(max_size=1024))
def test_real_header_random_rest(fmt: str, keep: int, rest: bytes) -> None:
    _check(FILES[fmt][:keep] + rest)


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_every_truncation_of_the_header(fmt: str) -> None:
    data = FILES[fmt]
    for n in range(0, min(len(data), 200)):
        _check(data[:n])
