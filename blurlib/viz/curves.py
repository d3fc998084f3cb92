"""Training and evaluation plots: training curves, a confusion matrix, ROC / PR curves.

Every function returns a fixed-size matplotlib ``Figure`` and saves nothing. The ROC and
precision-recall numbers come from :mod:`blurlib.evaluation.metrics`, the one home of the
metrics.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from blurlib.errors import BlurlibError
from blurlib.evaluation.metrics import (
    average_precision,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)
from blurlib.training.runs import load_history
from blurlib.viz.style import (
    CYCLE,
    FIGSIZE_CURVES,
    FIGSIZE_PAIR,
    FIGSIZE_SQUARE,
    new_figure,
    styled,
)

__all__ = ["plot_confusion_matrix", "plot_roc_pr", "plot_training_curves"]


def _read_log_csv(path: Path) -> dict[str, np.ndarray]:
    """Return the columns of a Keras CSVLogger file as float arrays, through the one reader.

    :func:`blurlib.training.runs.load_history` reads it (a half-written row is skipped, a
    missing cell is NaN); a missing file or a log without rows is a :class:`BlurlibError`.
    """
    if not path.is_file():
        raise BlurlibError(f"{path}: training log not found; pass the CSV written by training")
    history = load_history(path)
    if not history["epoch"]:
        raise BlurlibError(f"{path}: training log has no rows; train for at least one epoch")
    return {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}


def _log_columns(source: Any) -> tuple[dict[str, np.ndarray], str]:
    """Return the columns of a training log given as a path, a mapping/DataFrame or a History."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return _read_log_csv(path), path.name
    data = getattr(source, "history", source)  # a keras History object carries .history
    if not isinstance(data, Mapping) and not hasattr(data, "columns"):
        raise TypeError(
            "training log must be a CSV path, a mapping of column -> values, a DataFrame "
            f"or a keras History, got {type(source).__name__}"
        )
    cols = {str(k): np.asarray(data[k], dtype=np.float64).ravel() for k in data}
    return cols, "training log"


@styled
def plot_training_curves(
    log: str | os.PathLike[str] | Mapping[str, Iterable[float]] | Any,
    title: str | None = "Training curves",
    chance: float | None = 0.5,
) -> Figure:
    """Return a figure of loss and accuracy per epoch, train vs validation, from a training log.

    ``log`` is a Keras ``CSVLogger`` file (read with
    :func:`blurlib.training.runs.load_history`), a mapping or DataFrame of columns, or a
    Keras ``History``. Epochs are drawn 1-based, as Keras prints them; the
    epoch with the lowest ``val_loss`` is marked. A third panel shows the learning rate when
    the log has a ``learning_rate`` (or ``lr``) column that changes. The accuracy axis is
    always 0–1, with a dashed line at ``chance`` (the accuracy of one answer for every
    patch, 0.5 for balanced labels; ``None``: no line), so runs can be compared by eye.
    """
    cols, name = _log_columns(log)
    n = max((len(v) for v in cols.values()), default=0)
    if n == 0 or "loss" not in cols:
        raise BlurlibError(f"{name}: no 'loss' column with values; is this a Keras training log?")
    if "epoch" in cols and np.isfinite(cols["epoch"]).all():
        # A resumed run may repeat epochs: keep the last row of each, in epoch order.
        epoch = cols["epoch"]
        last = {int(e): k for k, e in enumerate(epoch)}
        order = np.array([last[e] for e in sorted(last)], dtype=np.intp)
        cols = {k: v[order] for k, v in cols.items()}
        x = cols["epoch"] + 1
    else:
        x = np.arange(1, n + 1, dtype=np.float64)
    acc_key = next(
        (k for k in ("accuracy", "acc", "binary_accuracy", "categorical_accuracy") if k in cols),
        None,
    )
    lr_key = next((k for k in ("learning_rate", "lr") if k in cols), None)
    show_lr = lr_key is not None and np.unique(cols[lr_key][np.isfinite(cols[lr_key])]).size > 1
    panels = [("loss", "Loss", "loss")]
    if acc_key is not None:
        panels.append((acc_key, "Accuracy", "accuracy"))
    if show_lr and lr_key is not None:
        panels.append((lr_key, "Learning rate", "learning rate"))
    width = FIGSIZE_CURVES[0] if len(panels) <= 2 else 15.0
    fig = new_figure((width, FIGSIZE_CURVES[1]))
    axes = np.atleast_1d(fig.subplots(1, len(panels))).ravel()
    marker = "o" if len(x) <= 30 else None
    best = None
    if "val_loss" in cols and np.isfinite(cols["val_loss"]).any():
        best = int(np.nanargmin(cols["val_loss"]))
    for ax, (key, panel_title, ylabel) in zip(axes, panels):
        ax.plot(x, cols[key], marker=marker, markersize=3, label="train", color=CYCLE[0])
        if key == lr_key:
            ax.set_yscale("log")
            ax.get_lines()[0].set_label("learning rate")
        elif f"val_{key}" in cols:
            ax.plot(
                x,
                cols[f"val_{key}"],
                marker=marker,
                markersize=3,
                label="validation",
                color=CYCLE[1],
            )
        if best is not None:
            ax.axvline(x[best], color="#777777", linestyle="--", linewidth=1, zorder=0)
        if best is not None and key != lr_key and f"val_{key}" in cols:
            ax.plot(
                x[best],
                cols[f"val_{key}"][best],
                marker="*",
                markersize=11,
                color=CYCLE[1],
                linestyle="none",
                label=f"best val_loss (epoch {x[best]:g})",
            )
        if key == acc_key:
            ax.set_ylim(0.0, 1.0)
            if chance is not None:
                ax.axhline(chance, color="#999999", linestyle=":", linewidth=1.2, label="chance")
        ax.set_title(panel_title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


@styled
def plot_confusion_matrix(
    cm: np.ndarray,
    labels: Sequence[str] = ("sharp", "blurred"),
    normalize: bool = False,
    title: str | None = "Confusion matrix",
) -> Figure:
    """Return a figure of a confusion matrix (rows = true class, columns = predicted class).

    Each cell shows its count and its share of the true class; with ``normalize=True`` the
    colours and the large number are that share (each row sums to 1).
    """
    counts = np.asarray(cm, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {counts.shape}")
    if len(labels) != counts.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {counts.shape[0]}-class confusion matrix")
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    shown = shares if normalize else counts
    fig = new_figure(FIGSIZE_SQUARE)
    ax = fig.subplots()
    vmax = 1.0 if normalize else max(float(counts.max()), 1.0)
    img = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax)
    k = counts.shape[0]
    for i in range(k):
        for j in range(k):
            is_int = float(counts[i, j]).is_integer()
            count = f"{int(counts[i, j]):,}" if is_int else f"{counts[i, j]:.3g}"
            text = (
                f"{shares[i, j]:.1%}\n(n = {count})"
                if normalize
                else f"{count}\n({shares[i, j]:.1%} of true)"
            )
            dark = shown[i, j] / vmax > 0.55
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=11 if k <= 3 else 8,
                color="white" if dark else "#222222",
            )
    ax.set_xticks(range(k), labels=list(labels))
    ax.set_yticks(range(k), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for spine in ax.spines.values():
        spine.set_visible(False)
    total = counts.sum()
    correct = np.trace(counts)
    acc = f" — accuracy {correct / total:.1%}" if total > 0 else ""
    ax.set_title(f"{'Row-normalised' if normalize else 'Counts'}{acc}")
    fig.colorbar(img, ax=ax, shrink=0.8, label="share of true class" if normalize else "count")
    if title:
        fig.suptitle(title)
    return fig


def _roc_pr(
    y_true: np.ndarray, y_score: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, float]:
    """Return ``(fpr, tpr, roc_auc, recall, precision, average_precision)`` for one method."""
    fpr, tpr, _ = roc_curve(y_true, y_score)
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    return fpr, tpr, roc_auc(y_true, y_score), recall, precision, average_precision(y_true, y_score)


def _fmt_score(value: float) -> str:
    """Return a metric as 0.xxx, or n/a when undefined (nan)."""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


@styled
def plot_roc_pr(
    curves: Mapping[str, tuple[Any, Any]],
    title: str | None = "ROC and precision-recall curves",
) -> Figure:
    """Return a figure: ROC curves | precision-recall curves of several methods, AUC/AP in legends.

    ``curves`` maps a method name (the CNN, a classical baseline, ...) to
    ``(y_true, y_score)``: 0/1 labels (1 = blurred) and a score that grows with blur.
    """
    if not curves:
        raise ValueError("curves is empty: give at least one method as name -> (y_true, y_score)")
    fig = new_figure(FIGSIZE_PAIR)
    ax_roc, ax_pr = fig.subplots(1, 2)
    prevalence = None
    for k, (name, (y_true, y_score)) in enumerate(curves.items()):
        y_true = np.asarray(y_true).ravel()
        try:
            fpr, tpr, auc, recall, precision, ap = _roc_pr(y_true, y_score)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
        color = CYCLE[k % len(CYCLE)]
        ax_roc.plot(fpr, tpr, color=color, linewidth=1.8, label=f"{name} (AUC {_fmt_score(auc)})")
        ax_pr.step(
            recall,
            precision,
            where="pre",  # precision[k] holds on (recall[k-1], recall[k]]: area = AP
            color=color,
            linewidth=1.8,
            label=f"{name} (AP {_fmt_score(ap)})",
        )
        if prevalence is None and y_true.size:
            prevalence = float(np.mean(y_true == 1))
    ax_roc.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="chance")
    if prevalence is not None:
        ax_pr.axhline(
            prevalence,
            color="#999999",
            linestyle="--",
            linewidth=1,
            label=f"chance ({prevalence:.2f})",
        )
    ax_roc.set(
        xlabel="false positive rate (sharp called blurred)",
        ylabel="true positive rate (blurred found)",
        title="ROC",
    )
    ax_pr.set(xlabel="recall (blurred found)", ylabel="precision", title="Precision-recall")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
    ax_roc.legend(loc="lower right")
    ax_pr.legend(loc="lower left")
    if title:
        fig.suptitle(title)
    return fig
