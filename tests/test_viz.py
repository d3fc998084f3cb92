"""blurlib.viz: every figure renders, save_fig writes exact-size PNGs atomically, overlays."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from blurlib.errors import BlurlibError
from blurlib.evaluation.metrics import average_precision, roc_auc
from blurlib.paths import find_checkout
from blurlib.viz.curves import plot_confusion_matrix, plot_roc_pr, plot_training_curves
from blurlib.viz.drawing import boundary_segments
from blurlib.viz.maps import overlay_blur_map, plot_blur_map, plot_patch_predictions
from blurlib.viz.report_figures import (
    plot_blur_process,
    plot_kernels,
    plot_labelled_image,
    plot_patch_grid,
)
from blurlib.viz.style import (
    FIG_DPI,
    FIGSIZE_PAIR,
    FIGSIZE_SQUARE,
    FIGSIZE_TRIPLE,
    KERNEL_CELL,
    OUTCOME_COLORS,
    figures_dir,
    save_fig,
)

ROOT = Path(__file__).resolve().parent.parent
P = 30


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


@pytest.fixture
def photo() -> np.ndarray:
    """A 200×280 RGB uint8 test card: gradients plus stripes (a 6×9 grid, 20 px remainder)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:200, 0:280]
    img = np.stack(
        [xx * 255 // 279, yy * 255 // 199, ((xx // 7 + yy // 7) % 2) * 200 + 30], axis=-1
    ).astype(np.float64)
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def box_kernel() -> np.ndarray:
    """The report's horizontal 15-px box kernel."""
    k = np.zeros((15, 15), dtype=np.float32)
    k[7] = 1 / 15
    return k


def _blur_rows(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Apply a horizontal kernel's middle row along each image row (edge-padded), test-only."""
    row = kernel[kernel.shape[0] // 2]
    pad = len(row) // 2
    padded = np.pad(image.astype(np.float64), ((0, 0), (pad, pad), (0, 0)), mode="edge")
    out = sum(w * padded[:, i : i + image.shape[1]] for i, w in enumerate(row))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _labels(rows: int, cols: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((rows, cols)) < 0.5).astype(np.uint8)


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def _expected_px(fig: Figure) -> tuple[int, int]:
    w, h = fig.get_size_inches()
    return round(w * FIG_DPI), round(h * FIG_DPI)


# ----------------------------------------------------------------------------- save_fig


def test_save_fig_writes_exact_size_png_atomically(tmp_path, photo, box_kernel):
    fig = plot_blur_process(photo, box_kernel, _blur_rows(photo, box_kernel))
    assert tuple(fig.get_size_inches()) == FIGSIZE_TRIPLE
    num = fig.number
    path = save_fig(fig, "blur_process", folder=tmp_path / "figs")
    assert path == tmp_path / "figs" / "blur_process.png"
    assert path.stat().st_size > 10_000
    assert _png_size(path) == (1300, 450)  # FIGSIZE_TRIPLE × FIG_DPI, not cropped
    assert [p.name for p in path.parent.iterdir()] == ["blur_process.png"]  # no temp left
    assert not matplotlib.pyplot.fignum_exists(num)  # closed


def test_save_fig_env_var_dpi_suffix_and_keep_open(tmp_path, monkeypatch):
    monkeypatch.setenv("BLURLIB_FIGURES_DIR", str(tmp_path / "env"))
    assert figures_dir() == tmp_path / "env"
    fig = plot_confusion_matrix(np.array([[5, 1], [2, 7]]))
    path = save_fig(fig, "cm.png", dpi=50, close=False)
    assert path == tmp_path / "env" / "cm.png"
    assert _png_size(path) == (round(FIGSIZE_SQUARE[0] * 50), round(FIGSIZE_SQUARE[1] * 50))
    assert matplotlib.pyplot.fignum_exists(fig.number)
    # Overwrite in place: same name, a new file, still no stray temporaries.
    save_fig(fig, "cm")
    assert sorted(p.name for p in path.parent.iterdir()) == ["cm.png"]


def test_save_fig_default_folder_is_the_working_folders_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("BLURLIB_FIGURES_DIR", raising=False)
    # Another checkout sharing this environment: its figures/, from any folder inside it,
    # not the figures/ beside the installed package.
    checkout = tmp_path / "second_checkout"
    (checkout / "blurlib").mkdir(parents=True)
    (checkout / "notebooks" / "deeper").mkdir(parents=True)
    monkeypatch.chdir(checkout / "notebooks" / "deeper")
    assert find_checkout() == checkout.resolve()
    assert figures_dir() == checkout.resolve() / "figures"
    path = save_fig(plot_confusion_matrix(np.eye(2)), "cm")
    assert path == checkout.resolve() / "figures" / "cm.png" and path.is_file()
    # Outside any checkout: ./figures.
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    assert find_checkout() is None
    assert figures_dir() == plain.resolve() / "figures"
    # A fresh interpreter in this repository: its figures/; the environment variable wins.
    code = "from blurlib.viz.style import figures_dir; print(figures_dir())"
    assert _import_in_subprocess({}, code) == str(ROOT / "figures")
    override = {"BLURLIB_FIGURES_DIR": str(tmp_path)}
    assert _import_in_subprocess(override, code) == str(tmp_path)


@pytest.mark.parametrize("bad", ["", "sub/name", "../up", ".png"])
def test_save_fig_rejects_paths_as_names(tmp_path, bad):
    fig = plot_confusion_matrix(np.eye(2))
    with pytest.raises(ValueError, match="plain file name"):
        save_fig(fig, bad, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_fig_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    fig = plot_confusion_matrix(np.eye(2))

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_fig(fig, "broken", folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- report figures


def test_report_figures_render_and_save(tmp_path, photo, box_kernel):
    blurred = _blur_rows(photo, box_kernel)
    labels = _labels(6, 9)
    figs = {
        "process": plot_blur_process(photo, box_kernel, blurred),
        "grid": plot_patch_grid(photo),
        "grid_plain": plot_patch_grid(photo, show_patches=0),
        "final": plot_labelled_image(photo[:180, :270], labels),
    }
    for name, fig in figs.items():
        assert isinstance(fig, Figure)
        expected = _expected_px(fig)
        path = save_fig(fig, name, folder=tmp_path)
        assert _png_size(path) == expected
    assert FIGSIZE_PAIR == (11.0, 5.0)


def test_blur_process_shows_kernel_magnified(photo, box_kernel):
    fig = plot_blur_process(photo, box_kernel, photo)
    kernel_ax = fig.axes[1]
    (img,) = kernel_ax.get_images()
    assert img.get_interpolation() == "nearest"
    np.testing.assert_allclose(img.get_array(), box_kernel, rtol=1e-6)
    assert "15×15" in kernel_ax.get_title()
    assert len(fig.axes) == 4  # photo, kernel, its colour bar, blurred


def test_patch_grid_outlines_the_chosen_patches(photo):
    fig = plot_patch_grid(photo, show_patches=4, seed=3)
    main = fig.axes[0]
    assert "6×9 patches" in main.get_title()
    assert "cropped remainder" in main.get_title()  # 280 = 9·30 + 10
    titles = [ax.get_title() for ax in fig.axes[1:] if ax.get_visible()]
    assert len(titles) == 4 and all(t.startswith("patch (") for t in titles)
    # Each enlarged patch is exactly the pixels of the grid cell its title names.
    for ax in fig.axes[1:]:
        i, j = (int(v) for v in ax.get_title()[len("patch (") : -1].split(","))
        np.testing.assert_array_equal(
            ax.get_images()[0].get_array(), photo[i * P : (i + 1) * P, j * P : (j + 1) * P]
        )
    with pytest.raises(ValueError, match="smaller than one"):
        plot_patch_grid(photo[:20, :20])


def test_labelled_image_annotates_small_matrix(photo):
    labels = _labels(6, 9)
    fig = plot_labelled_image(photo[:180, :270], labels)
    ax_img, ax_mat = fig.axes[:2]
    numbers = [t.get_text() for t in ax_mat.texts]
    assert numbers == [str(v) for v in labels.ravel()]
    np.testing.assert_array_equal(ax_mat.get_images()[0].get_array(), labels)
    assert f"{int(labels.sum())} of 54 patches" in ax_img.get_title()
    legend = [t.get_text() for t in ax_mat.get_legend().get_texts()]
    assert legend == ["0 = sharp", "1 = blurred"]


def test_labelled_image_large_matrix_is_an_image_without_numbers():
    big = np.zeros((25 * P, 30 * P, 3), dtype=np.uint8)
    labels = _labels(25, 30)
    fig = plot_labelled_image(big, labels)
    ax_mat = fig.axes[1]
    assert len(ax_mat.texts) == 0
    np.testing.assert_array_equal(ax_mat.get_images()[0].get_array(), labels)


def test_labelled_image_checks_shapes_and_values(photo):
    with pytest.raises(ValueError, match="6×9 grid"):
        plot_labelled_image(photo, _labels(5, 9))
    with pytest.raises(ValueError, match="0 \\(sharp\\) or 1"):
        plot_labelled_image(photo, np.full((6, 9), 2, dtype=np.uint8))


def test_boundary_segments_outline_union_of_cells():
    mask = np.array([[1, 1], [0, 1]], dtype=bool)
    segs = boundary_segments(mask, 10)
    # An L of three cells has a perimeter of 8 cell edges.
    assert len(segs) == 8
    assert [(0, 0), (10, 0)] in segs and [(10, 10), (10, 20)] in segs


# ----------------------------------------------------------------------------- predictions


def test_patch_predictions_without_labels(photo):
    probs = np.random.default_rng(2).random((6, 9)).astype(np.float32)
    fig = plot_patch_predictions(photo, probs, threshold=0.5)
    assert tuple(fig.get_size_inches()) == FIGSIZE_SQUARE
    ax = fig.axes[0]
    n_called = int((probs >= 0.5).sum())
    assert f"{n_called} of 54" in ax.get_title()
    overlay = ax.get_images()[1]  # photo, then the per-patch colours
    assert overlay.get_array().shape == (6, 9, 4)
    assert overlay.get_extent() == [0, 9 * P, 6 * P, 0]  # cell (i, j) covers patch (i, j)


def test_patch_predictions_right_wrong_panel(photo):
    labels = np.zeros((6, 9), dtype=np.uint8)
    labels[:, :4] = 1
    probs = np.where(labels == 1, 0.9, 0.1).astype(np.float32)
    probs[0, 0] = 0.2  # FN
    probs[5, 8] = 0.7  # FP
    probs[2, 7] = 0.6  # FP
    fig = plot_patch_predictions(photo, probs, labels)
    ax_o = next(ax for ax in fig.axes if ax.get_title().startswith("Right/wrong"))
    assert "51 of 54 right" in ax_o.get_title()
    legend = [t.get_text() for t in ax_o.get_legend().get_texts()]
    assert legend == [
        "TP: blurred, found (23)",
        "TN: sharp, kept (no tint) (28)",
        "FP: sharp, called blurred (2)",
        "FN: blurred, missed (1)",
    ]
    tint = ax_o.get_images()[1].get_array()
    fp = np.array(matplotlib.colors.to_rgba(OUTCOME_COLORS["FP"]))[:3]
    np.testing.assert_allclose(tint[5, 8, :3], fp, atol=1e-6)
    assert tint[3, 5, 3] == 0  # TN patches are left untinted
    with pytest.raises(ValueError, match="labels has shape"):
        plot_patch_predictions(photo, probs, labels[:, :5])


def test_overlay_blur_map_shape_dtype_and_blend(photo):
    h, w = photo.shape[:2]
    bmap = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    out = overlay_blur_map(photo, bmap, alpha=0.5)
    assert out.shape == photo.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(overlay_blur_map(photo, bmap, alpha=0.0), photo)
    full = overlay_blur_map(photo, bmap, alpha=1.0, cmap="gray")
    np.testing.assert_allclose(full[:, :, 0], np.round(bmap * 255), atol=1)
    # NaN shows the photo through; out-of-range values are clipped.
    bmap[:10] = np.nan
    bmap[10:20] = 7.0
    out = overlay_blur_map(photo, bmap, alpha=1.0, cmap="gray")
    np.testing.assert_array_equal(out[:10], photo[:10])
    assert (out[10:20] == 255).all()
    with pytest.raises(ValueError, match="blur_map has shape"):
        overlay_blur_map(photo, bmap[:-1])
    with pytest.raises(ValueError, match="alpha"):
        overlay_blur_map(photo, bmap, alpha=1.5)


def test_overlay_blur_map_grayscale_and_float_photo(photo):
    gray = photo[:, :, 0]
    bmap = np.zeros(gray.shape, dtype=np.float64)
    out = overlay_blur_map(gray, bmap, alpha=0.0)
    assert out.shape == (*gray.shape, 3)
    np.testing.assert_array_equal(out[:, :, 2], gray)
    as_float = overlay_blur_map(photo / 255.0, bmap, alpha=0.0)
    np.testing.assert_allclose(as_float.astype(int), photo.astype(int), atol=1)


def test_plot_blur_map_large_photo_drawn_in_pixel_coordinates(monkeypatch, tmp_path):
    monkeypatch.setattr("blurlib.viz.drawing.MAX_DISPLAY_SIDE", 64)
    img = np.full((300, 200, 3), 120, dtype=np.uint8)
    bmap = np.full((300, 200), 0.25, dtype=np.float32)
    fig = plot_blur_map(img, bmap)
    ax_photo, ax_map = fig.axes[:2]
    shown = ax_map.get_images()[0].get_array()
    assert max(shown.shape[:2]) <= 64  # shrunk for drawing ...
    assert ax_map.get_images()[0].get_extent() == [0, 200, 300, 0]  # ... in image pixels
    assert ax_photo.get_xlim() == (0, 200)
    assert "0.25" in ax_map.get_title()
    assert any(ax.get_ylabel() == "P(blurred)" for ax in fig.axes)  # the colour bar
    path = save_fig(fig, "blur_map", folder=tmp_path)
    assert _png_size(path) == (1100, 500)


# ----------------------------------------------------------------------------- training & metrics


def _write_log(path: Path, rows: list[dict]) -> Path:
    fields = ["epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _row(e: int, lr: float = 0.01) -> dict:
    return {
        "epoch": e,
        "accuracy": 0.6 + 0.03 * e,
        "learning_rate": lr,
        "loss": 1.0 / (e + 1),
        "val_accuracy": 0.55 + 0.03 * e,
        "val_loss": abs(e - 3) * 0.1 + 0.2,  # lowest at epoch 3 (shown as 4)
    }


def test_training_curves_from_csv(tmp_path):
    log = _write_log(tmp_path / "log.csv", [_row(e) for e in range(6)])
    fig = plot_training_curves(log)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["Loss", "Accuracy"]  # constant lr: no lr panel
    loss_ax = axes[0]
    train, val = loss_ax.get_lines()[:2]
    np.testing.assert_allclose(train.get_xdata(), np.arange(1, 7))  # 1-based, as Keras prints
    np.testing.assert_allclose(train.get_ydata(), [1.0 / (e + 1) for e in range(6)])
    np.testing.assert_allclose(val.get_ydata(), [abs(e - 3) * 0.1 + 0.2 for e in range(6)])
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert legend == ["train", "validation", "best val_loss (epoch 4)"]
    path = save_fig(fig, "curves", folder=tmp_path)
    assert _png_size(path) == (1100, 420)


def test_training_curves_resumed_log_and_lr_panel(tmp_path):
    # A resumed run wrote epochs 2-3 twice; the later rows win. The lr drops: third panel.
    rows = [_row(0), _row(1), _row(2), _row(3), _row(2, lr=0.001), _row(3, lr=0.001)]
    rows[4]["loss"] = 9.0
    log = _write_log(tmp_path / "log.csv", rows)
    fig = plot_training_curves(str(log))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["Loss", "Accuracy", "Learning rate"]
    train = axes[0].get_lines()[0]
    np.testing.assert_allclose(train.get_xdata(), [1, 2, 3, 4])
    assert train.get_ydata()[2] == 9.0
    assert axes[2].get_yscale() == "log"


def test_training_curves_from_mapping_and_errors(tmp_path):
    fig = plot_training_curves({"loss": [0.9, 0.5, 0.4], "acc": [0.5, 0.7, 0.8]})
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_xdata(), [1, 2, 3])

    class History:  # what keras.Model.fit returns
        def __init__(self) -> None:
            self.history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]}

    fig = plot_training_curves(History())
    assert [ax.get_title() for ax in fig.axes] == ["Loss"]
    with pytest.raises(BlurlibError, match="not found"):
        plot_training_curves(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("epoch,loss\n")
    with pytest.raises(BlurlibError, match="no rows"):
        plot_training_curves(tmp_path / "empty.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(BlurlibError, match="'loss'"):
        plot_training_curves(tmp_path / "other.csv")


@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix(normalize):
    cm = np.array([[80, 20], [10, 90]])
    fig = plot_confusion_matrix(cm, normalize=normalize)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 4
    if normalize:
        assert texts[0] == "80.0%\n(n = 80)" and texts[3] == "90.0%\n(n = 90)"
        np.testing.assert_allclose(ax.get_images()[0].get_array(), [[0.8, 0.2], [0.1, 0.9]])
    else:
        assert texts[1] == "20\n(20.0% of true)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sharp", "blurred"]
    assert "accuracy 85.0%" in ax.get_title()
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(np.zeros((2, 3)))


def test_roc_pr_legends_carry_auc_and_ap(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    curves = {
        "CNN": (y, y + 0.0),  # perfect
        "Laplacian variance": (y, rng.random(400) + 0.3 * y),
        "reversed": (y, 1.0 - y),
    }
    fig = plot_roc_pr(curves)
    ax_roc, ax_pr = fig.axes
    roc_legend = [t.get_text() for t in ax_roc.get_legend().get_texts()]
    pr_legend = [t.get_text() for t in ax_pr.get_legend().get_texts()]
    assert roc_legend[0] == "CNN (AUC 1.000)" and roc_legend[2] == "reversed (AUC 0.000)"
    assert pr_legend[0] == "CNN (AP 1.000)"
    assert roc_legend[-1] == "chance" and pr_legend[-1].startswith("chance (")
    # The legend numbers are blurlib.evaluation.metrics', the one home of the metrics.
    y2, s2 = curves["Laplacian variance"]
    assert roc_legend[1] == f"Laplacian variance (AUC {roc_auc(y2, s2):.3f})"
    assert pr_legend[1] == f"Laplacian variance (AP {average_precision(y2, s2):.3f})"
    path = save_fig(fig, "roc_pr", folder=tmp_path)
    assert _png_size(path) == (1100, 500)
    with pytest.raises(ValueError, match="bad:"):
        plot_roc_pr({"bad": (y, y[:-1])})
    with pytest.raises(ValueError, match="empty"):
        plot_roc_pr({})


# ----------------------------------------------------------------------------- kernels


def test_kernel_gallery(box_kernel, tmp_path):
    diag = np.eye(9, dtype=np.float32) / 9
    dot = np.ones((1, 1), dtype=np.float32)
    fig = plot_kernels([box_kernel, diag, dot], ["report", "diagonal", "none"])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["report\n15×15", "diagonal\n9×9", "none\n1×1"]
    # Same scale: every kernel is centred in a 15×15 canvas.
    shown = visible[1].get_images()[0].get_array()
    assert shown.shape == (15, 15)
    np.testing.assert_allclose(shown[3:12, 3:12], diag)
    assert shown[7, 7] == pytest.approx(1 / 9)
    path = save_fig(fig, "kernels", folder=tmp_path)
    assert _png_size(path) == _expected_px(fig)
    six = plot_kernels([box_kernel] * 6, same_scale=False)
    assert sum(ax.get_visible() for ax in six.axes) == 6
    assert tuple(six.get_size_inches()) == (3 * KERNEL_CELL[0], 2 * KERNEL_CELL[1] + 0.4)
    with pytest.raises(ValueError, match="titles"):
        plot_kernels([box_kernel], ["a", "b"])


# ----------------------------------------------------------------------------- import hygiene


def _import_in_subprocess(env_extra: dict[str, str], code: str) -> str:
    drop = ("MPLBACKEND", "DISPLAY", "WAYLAND_DISPLAY", "BLURLIB_FIGURES_DIR")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_import_is_headless_safe_and_tensorflow_free():
    code = (
        "import sys, matplotlib, blurlib.viz.curves, blurlib.viz.maps, "
        "blurlib.viz.report_figures; "
        "print(matplotlib.get_backend().lower(), 'tensorflow' in sys.modules)"
    )
    assert _import_in_subprocess({}, code) == "agg False"
    # A backend the user chose is left alone.
    assert _import_in_subprocess({"MPLBACKEND": "svg"}, code) == "svg False"
