"""The patch grid: exact round trip, geometry, cropping rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from blurlib.data.patches import crop_to_grid, from_patches, grid_shape, to_patches, upsample_labels
from blurlib.errors import ImageError


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 5),
    patch=st.integers(1, 12),
    channels=st.sampled_from([1, 3, 4]),
    data=st.data(),
)
def test_round_trip_exact(rows, cols, patch, channels, data):
    shape = (rows * patch, cols * patch, channels)
    image = data.draw(arrays(np.uint8, shape))
    grid = to_patches(image, patch)
    assert grid.shape == (rows, cols, patch, patch, channels)
    np.testing.assert_array_equal(from_patches(grid), image)


@settings(max_examples=60, deadline=None)
@given(h=st.integers(30, 100), w=st.integers(30, 100), seed=st.integers(0, 2**31 - 1))
def test_patch_geometry_and_crop(h, w, seed):
    image = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    grid = to_patches(image)
    rows, cols = grid_shape(h, w)
    assert grid.shape[:2] == (rows, cols) == (h // 30, w // 30)
    for i, j in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols // 2)]:
        np.testing.assert_array_equal(
            grid[i, j], image[i * 30 : (i + 1) * 30, j * 30 : (j + 1) * 30]
        )
    np.testing.assert_array_equal(from_patches(grid), image[: rows * 30, : cols * 30])


def test_grayscale_gets_one_channel():
    image = np.arange(60 * 90, dtype=np.float32).reshape(60, 90)
    grid = to_patches(image)
    assert grid.shape == (2, 3, 30, 30, 1)
    np.testing.assert_array_equal(from_patches(grid)[:, :, 0], image)


def test_too_small_image_is_a_clear_error():
    with pytest.raises(ImageError, match="smaller than one 30×30 patch"):
        to_patches(np.zeros((29, 100, 3), np.uint8))
    with pytest.raises(ImageError):
        crop_to_grid(np.zeros((100, 10, 3), np.uint8))


def test_bad_shapes():
    with pytest.raises(ValueError):
        to_patches(np.zeros((2, 60, 60, 3), np.uint8))
    with pytest.raises(ValueError):
        from_patches(np.zeros((2, 30, 30), np.uint8))


def test_upsample_labels_matches_grid():
    labels = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)
    mask = upsample_labels(labels, 30)
    assert mask.shape == (60, 90)
    grid = to_patches(mask[:, :, None])
    np.testing.assert_array_equal(grid.reshape(2, 3, -1).min(-1), labels)
    np.testing.assert_array_equal(grid.reshape(2, 3, -1).max(-1), labels)


@pytest.mark.parametrize("angle", [0.0, 30.0, 75.0, 90.0, 150.0])
def test_patch_orientation_follows_the_kernels_convention(angle):
    """Noise streaked by a straight kernel at ``angle`` has lines running at ``angle``."""
    from blurlib.data.convolve import apply_kernel
    from blurlib.data.kernels import linear_kernel
    from blurlib.data.patches import patch_orientation

    noise = np.random.default_rng(0).integers(0, 256, (240, 240, 3)).astype(np.uint8)
    streaks = apply_kernel(noise, linear_kernel(25.0, angle))[30:-30, 30:-30]
    got, coherence = patch_orientation(streaks)
    diff = np.abs(got - angle) % 180
    assert np.median(np.minimum(diff, 180 - diff)) < 4.0
    assert np.median(coherence) > 0.8
    _, flat_coherence = patch_orientation(noise)
    assert np.median(flat_coherence) < 0.2
    _, none = patch_orientation(np.full((60, 60), 9, np.uint8))  # no gradient at all
    assert (none == 0).all()
