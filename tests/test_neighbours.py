"""The neighbour net: whole-crop labels equal the windows', its grid view equals the model on
each window, and its maps equal the model on the mirrored photo's windows."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import noise_texture, perturb_bn

from blurlib.data.kind_grids import kind_grids
from blurlib.data.kinds import KindConfig, kind_patches
from blurlib.inference import neighbours as inb
from blurlib.inference.context import mirror_pad
from blurlib.inference.windows import window_grid_shape
from blurlib.nets import neighbours as nn
from blurlib.nets.analysis import analysis_loss, grid_targets, is_analysis_model, model_context
from blurlib.nets.files import load_model, save_model


@pytest.fixture(scope="module")
def net():
    m = nn.build_neighbour_analysis(seed=2, width=8)
    perturb_bn(m)
    return m


def _raw(out) -> np.ndarray:
    """The model's outputs as raw heads (log-probabilities stand in for the kind logits)."""
    kind = np.log(np.asarray(out["kind"], np.float64))
    rest = np.concatenate([np.asarray(out["direction"]), np.asarray(out["length"])], axis=-1)
    return np.concatenate([kind, rest], axis=-1)


def _probs(raw: np.ndarray) -> np.ndarray:
    e = np.exp(raw[..., :3] - raw[..., :3].max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_whole_crops_hold_exactly_the_windows_of_kind_patches():
    photos = [noise_texture(330, 330, seed=s) for s in (1, 2)]
    c = KindConfig(context=30, crop_patches=4, mix_share=0.5)
    grids = kind_grids(photos, 60, seed=5, config=c)
    assert grids.x.shape[1:] == (180, 180, 3) and grids.kind.shape[1:] == (4, 4)
    assert grids.labelled >= 60 and grids.crops >= len(grids)
    wins, kinds, lengths = [], [], []
    for i in range(len(grids)):
        for r, q in zip(*np.nonzero(grids.keep[i])):
            wins.append(grids.x[i, 30 * r : 30 * r + 90, 30 * q : 30 * q + 90])
            kinds.append(grids.kind[i, r, q])
            lengths.append(grids.length[i, r, q])
    windows = kind_patches(photos, grids.labelled, seed=5, config=c)
    np.testing.assert_array_equal(np.stack(wins), windows.x)
    np.testing.assert_array_equal(kinds, windows.kind)
    np.testing.assert_array_equal(lengths, windows.length)
    assert set(np.unique(grids.kind)) <= {0, 1, 2}
    with pytest.raises(ValueError, match="context"):
        kind_grids(photos, 10, config=KindConfig(context=15))


def test_the_grid_view_equals_the_model_on_every_window(net):
    view = nn.grid_view(net, 5)
    crops = np.stack([noise_texture(150, 150, seed=s) for s in (3, 4)]).astype(np.float32)
    got = np.asarray(view.predict_on_batch(crops))
    assert got.shape == (2, 3, 3, 6)
    wins = np.stack(
        [crops[b, 30 * r : 30 * r + 90, 30 * q : 30 * q + 90] for b in range(2) for r in range(3)
         for q in range(3)]
    )  # fmt: skip
    want = _raw(net.predict_on_batch(wins)).reshape(2, 3, 3, 6)
    np.testing.assert_allclose(got[..., :3], np.exp(want[..., :3]), atol=1e-5)
    np.testing.assert_allclose(got[..., 3:], want[..., 3:], atol=1e-4)
    assert is_analysis_model(net) and model_context(net) == 30 and nn.is_neighbour_model(net)
    with pytest.raises(ValueError, match="3×3"):
        nn.grid_view(net, 2)


def test_grid_targets_weigh_only_the_judgeable_cells():
    kind = np.array([[[1, 0], [2, 1]]], np.uint8)
    angle = np.where(kind == 1, 30.0, np.nan).astype(np.float32)
    length = np.where(kind == 1, 9.0, np.nan).astype(np.float32)
    keep = np.array([[[True, False], [True, True]]])
    t = grid_targets(kind, angle, length, keep)
    assert t.shape == (1, 2, 2, 5)
    np.testing.assert_array_equal(t[..., 4], keep.astype(np.float32))
    rng = np.random.default_rng(0)
    pred = np.concatenate(
        [np.full((1, 2, 2, 3), 1 / 3), rng.normal(size=(1, 2, 2, 3))], axis=-1
    ).astype(np.float32)
    loss = np.asarray(analysis_loss()(t, pred))
    assert loss.shape == (1, 2, 2) and loss[0, 0, 1] == 0.0  # a context cell counts nothing
    plain = np.asarray(analysis_loss()(t[..., :4].reshape(4, 4), pred.reshape(4, 6)))
    np.testing.assert_allclose(loss.ravel()[keep.ravel()], plain[keep.ravel()], rtol=1e-6)


@pytest.mark.parametrize("stride", [30, 4, 6, 13])
def test_maps_equal_the_model_on_the_mirrored_photos_windows(net, stride, monkeypatch):
    monkeypatch.setattr(inb, "_BAND_VALUES", 3000)  # several bands of window rows
    image = noise_texture(127, 161, seed=9)
    raw = inb.neighbour_windows(net, image, stride)
    rows, cols = window_grid_shape(127, 161, stride, 30)
    assert raw.shape == (rows, cols, 6)
    big = mirror_pad(image, 30).astype(np.float32)
    wins = np.stack(
        [big[i * stride : i * stride + 90, j * stride : j * stride + 90] for i in range(rows)
         for j in range(cols)]
    )  # fmt: skip
    want = _raw(net.predict_on_batch(wins)).reshape(rows, cols, 6)
    np.testing.assert_allclose(_probs(raw), np.exp(want[..., :3]), atol=1e-5)
    np.testing.assert_allclose(raw[..., 3:], want[..., 3:], atol=1e-3)


def test_sparse_windows_crop_cells_and_dense_ones_run_the_trunk_whole(net):
    parts = inb.neighbour_network(net)
    grid = np.arange(20) * 30  # the patch grid: each cell once, cropped
    assert not inb.dense_pays(parts, grid, grid, (660, 660))
    fine = np.arange(150) * 4
    assert inb.dense_pays(parts, fine, fine, (660, 660))


def test_photos_are_analysed_and_saved_models_load(net, tmp_path):
    from blurlib.predict import dense_analysis, patch_analysis

    image = noise_texture(96, 124, seed=4)
    a = patch_analysis(net, image)
    assert a.p_motion.shape == (3, 4)
    np.testing.assert_allclose(a.p_sharp + a.p_motion + a.p_defocus, 1.0, atol=1e-5)
    d = dense_analysis(net, image, 8)
    assert d.p_motion.shape == window_grid_shape(96, 124, 8, 30)
    save_model(net, tmp_path / "nbr.keras")
    back = load_model(tmp_path / "nbr.keras")
    assert nn.is_neighbour_model(back)
    np.testing.assert_allclose(patch_analysis(back, image).p_motion, a.p_motion, atol=1e-6)
