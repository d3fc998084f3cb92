"""Patch metrics from scratch (numpy only): confusion matrix, ROC / PR curves, AUC, AP.

Conventions
-----------
* Labels: ``1`` = motion-blurred, ``0`` = sharp; one ``uint8`` matrix ``(H // P, W // P)`` per
  image, patch ``(i, j)`` = rows ``i*P:(i+1)*P``, columns ``j*P:(j+1)*P`` (``P = 30``).
* A *score* is "higher = more likely blurred" (the CNN's P(blurred), or ``-log(measure)`` for a
  classical sharpness measure). A patch is *called blurred* when ``score > threshold`` (strict);
  curves (:func:`roc_curve`, :func:`precision_recall_curve`) use ``score >= t`` at each distinct
  score ``t``, the usual convention.
* A ratio whose denominator is zero is ``nan``, never a silent 0: precision is ``nan`` when no
  patch is called blurred, recall when there is no blurred patch, ROC AUC when only one class
  is present. :func:`blurlib.evaluation.runner.results_table` prints ``nan`` as ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "COHERENCE_BINS",
    "average_precision",
    "binary_metrics",
    "bootstrap_by_group",
    "check_binary",
    "confusion_matrix",
    "precision_recall_curve",
    "ratio_or_nan",
    "roc_auc",
    "roc_curve",
    "two_way_bins",
]

#: bins of :func:`blurlib.data.patches.patch_orientation`'s coherence: no dominant direction,
#: some, one direction (parallel lines) — the breakdowns of the kind and robustness reports
COHERENCE_BINS: tuple[tuple[float, float], ...] = ((0.0, 0.3), (0.3, 0.6), (0.6, 1.0))


def two_way_bins(
    a: np.ndarray,
    a_bins: Sequence[tuple[float, float]],
    b: np.ndarray,
    b_bins: Sequence[tuple[float, float]],
) -> Iterator[tuple[str, str, np.ndarray]]:
    """Yield ``(a label, b label, mask)`` for every pair of bins (``a``'s bins outer), labels
    ``"lo-hi"``: a bin holds ``lo <= value < hi``, the last bin of each axis also ``hi``."""

    def masks(v: np.ndarray, bins: Sequence[tuple[float, float]]) -> list[tuple[str, Any]]:
        last = len(bins) - 1
        return [
            (f"{lo:g}-{hi:g}", (v >= lo) & ((v <= hi) if i == last else (v < hi)))
            for i, (lo, hi) in enumerate(bins)
        ]

    b_masks = masks(np.asarray(b), b_bins)
    for a_label, a_mask in masks(np.asarray(a), a_bins):
        for b_label, b_mask in b_masks:
            yield a_label, b_label, a_mask & b_mask


def check_binary(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return a (labels, scores) pair flattened and checked: labels 0/1 int64, scores finite."""
    y = np.asarray(y_true).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but y_score has {s.size}; they must match")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (sharp) and 1 (blurred)")
    if not np.isfinite(s).all():
        raise ValueError("y_score holds NaN or infinite values")
    return y.astype(np.int64), s


def ratio_or_nan(num: float, den: float) -> float:
    """Return num / den, or nan when den is 0."""
    return float(num) / float(den) if den else math.nan


def confusion_matrix(y_true: Any, y_pred: Any) -> np.ndarray:
    """Return the 2×2 int64 confusion matrix ``[[tn, fp], [fn, tp]]`` (rows: truth, cols: call)."""
    y, p = check_binary(y_true, y_pred)
    if p.size and not np.isin(p, (0, 1)).all():
        raise ValueError("y_pred must hold only 0 and 1")
    p = p.astype(np.int64)
    return np.bincount(2 * y + p, minlength=4).reshape(2, 2).astype(np.int64)


def roc_auc(y_true: Any, y_score: Any) -> float:
    """Return ROC AUC by ranks: Mann–Whitney U / (n_pos·n_neg), ties ½; nan if one class."""
    y, s = check_binary(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    new_group = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:], s.size]  # exclusive
    group_rank = (starts + 1 + ends) / 2.0  # average of the 1-based ranks starts+1 .. ends
    ranks = np.empty(s.size, dtype=np.float64)
    ranks[order] = group_rank[np.cumsum(new_group) - 1]
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _curve_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tps, fps, thresholds) for 'score >= t' at each distinct score t, t decreasing."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    last_of_group = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), s.size - 1]
    tps = np.cumsum(y_sorted)[last_of_group]
    fps = last_of_group + 1 - tps
    return tps.astype(np.float64), fps.astype(np.float64), s_sorted[last_of_group]


def roc_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(fpr, tpr, thresholds)``: thresholds decreasing from +inf, first point (0, 0).

    Point k is "call blurred where score >= thresholds[k]". ``np.trapezoid(tpr, fpr)`` equals
    :func:`roc_auc`. With only one class present the undefined rate is all-nan.
    """
    y, s = check_binary(y_true, y_score)
    if y.size == 0:
        return np.zeros(1), np.zeros(1), np.array([np.inf])
    tps, fps, thr = _curve_counts(y, s)
    n_pos, n_neg = tps[-1], fps[-1]
    tpr = np.r_[0.0, tps] / n_pos if n_pos else np.full(tps.size + 1, np.nan)
    fpr = np.r_[0.0, fps] / n_neg if n_neg else np.full(fps.size + 1, np.nan)
    return fpr, tpr, np.r_[np.inf, thr]


def precision_recall_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(precision, recall, thresholds)``: thresholds decreasing from +inf, recall rising.

    Point k is "call blurred where score >= thresholds[k]"; the first point is the conventional
    (recall 0, precision 1) at threshold +inf. Recall is nan throughout if there is no positive.
    """
    y, s = check_binary(y_true, y_score)
    if y.size == 0:
        return np.ones(1), np.zeros(1), np.array([np.inf])
    tps, fps, thr = _curve_counts(y, s)
    precision = np.r_[1.0, tps / (tps + fps)]
    recall = np.r_[0.0, tps] / tps[-1] if tps[-1] else np.full(tps.size + 1, np.nan)
    return precision, recall, np.r_[np.inf, thr]


def average_precision(y_true: Any, y_score: Any) -> float:
    """Return average precision ``sum_k (R_k - R_{k-1}) P_k`` (step-wise); nan if no positive."""
    precision, recall, _ = precision_recall_curve(y_true, y_score)
    if recall.size < 2 or np.isnan(recall).any():
        return math.nan
    return float(np.sum(np.diff(recall) * precision[1:]))


def binary_metrics(y_true: Any, y_score: Any, threshold: float = 0.5) -> dict[str, Any]:
    """Return a dict of patch metrics for "blurred where score > threshold" (nan = undefined).

    Keys: ``n, n_pos, n_neg, threshold, tp, fp, tn, fn, confusion`` (``[[tn, fp], [fn, tp]]``),
    ``accuracy, balanced_accuracy, precision, recall, specificity, f1, roc_auc,
    average_precision``. Every value is a plain Python int/float/list (JSON-ready).
    ``f1 = 2tp / (2tp + fp + fn)``, which is 0 (not nan) when there are positives but none is
    found, and nan only when there is neither a positive nor a positive call.
    """
    y, s = check_binary(y_true, y_score)
    pred = (s > threshold).astype(np.int64)
    (tn, fp), (fn, tp) = np.bincount(2 * y + pred, minlength=4).reshape(2, 2).tolist()
    n = int(y.size)
    n_pos = tp + fn
    n_neg = tn + fp
    recall = ratio_or_nan(tp, n_pos)
    specificity = ratio_or_nan(tn, n_neg)
    return {
        "n": n,
        "n_pos": int(n_pos),
        "n_neg": int(n_neg),
        "threshold": float(threshold),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
        "confusion": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "accuracy": ratio_or_nan(tp + tn, n),
        "balanced_accuracy": (recall + specificity) / 2.0,
        "precision": ratio_or_nan(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "f1": ratio_or_nan(2 * tp, 2 * tp + fp + fn),
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
    }


def bootstrap_by_group(
    correct: Any,
    groups: Any,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Return ``{"mean", "low", "high", "groups"}``: accuracy with a percentile bootstrap
    interval that resamples whole GROUPS (photos), not patches.

    Patches of one photo are not independent draws (same content, same kernel), so the
    uncertainty of an accuracy is that of the photos it was measured on: each bootstrap
    replicate draws as many groups as there are, with replacement, and pools their patches.
    ``correct``: 0/1 (or bool) per patch; ``groups``: a photo id per patch.
    """
    ok = np.asarray(correct, dtype=np.float64).ravel()
    g = np.asarray(groups).ravel()
    if ok.shape != g.shape:
        raise ValueError(f"correct has {ok.size} values but groups has {g.size}; they must match")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if ok.size == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "groups": 0}
    names, index = np.unique(g, return_inverse=True)
    hits = np.bincount(index, weights=ok, minlength=names.size)
    sizes = np.bincount(index, minlength=names.size).astype(np.float64)
    draws = np.random.default_rng(seed).integers(0, names.size, size=(n_boot, names.size))
    replicates = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return {
        "mean": float(ok.mean()),
        "low": float(low),
        "high": float(high),
        "groups": int(names.size),
    }
