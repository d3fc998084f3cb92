"""Honest numbers: metrics, a texture measure, classical blur baselines and the evaluation runner.

Everything here is numpy + OpenCV; TensorFlow is imported only when a CNN's predictions are
needed (lazily, through :func:`blurlib.predict.patch_probabilities`), so baselines-only
evaluation and all metrics work without it.

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
  is present. :func:`results_table` prints ``nan`` as ``n/a``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from blurlib import PATCH
from blurlib.errors import DatasetError
from blurlib.patches import (
    CONTENT_THRESHOLD,
    TEXTURE_SIGMA,
    TEXTURE_THRESHOLD,
    content_mask,
    gray_image,
    grid_shape,
    patch_contrast,
    patch_stack,
    patch_texture,
    textured_mask,
)

__all__ = [
    "BASELINES",
    "CONTENT_THRESHOLD",
    "FFT_CUTOFF",
    "LOG_EPS",
    "PROTOCOLS",
    "SUBSETS",
    "TEXTURE_SIGMA",
    "TEXTURE_THRESHOLD",
    "Baseline",
    "EvaluationResult",
    "ProtocolExample",
    "average_precision",
    "binary_metrics",
    "blurred_fraction",
    "confusion_matrix",
    "content_mask",
    "evaluate",
    "fft_high_frequency",
    "fit_baseline",
    "fit_baselines",
    "fit_threshold",
    "laplacian_variance",
    "make_protocol_examples",
    "patch_contrast",
    "patch_texture",
    "precision_recall_curve",
    "real_blur_detection_rate",
    "results_table",
    "roc_auc",
    "roc_curve",
    "sharp_photo_false_positive_rate",
    "tenengrad",
    "textured_mask",
]

# ----------------------------------------------------------------------------------------------
# Metrics (from scratch, numpy only)
# ----------------------------------------------------------------------------------------------


def _check_binary(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flatten and validate a (labels, scores) pair; labels must be 0/1, scores finite."""
    y = np.asarray(y_true).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} values but y_score has {s.size}; they must match")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (sharp) and 1 (blurred)")
    if not np.isfinite(s).all():
        raise ValueError("y_score holds NaN or infinite values")
    return y.astype(np.int64), s


def _ratio(num: float, den: float) -> float:
    """num / den, or nan when den is 0."""
    return float(num) / float(den) if den else math.nan


def confusion_matrix(y_true: Any, y_pred: Any) -> np.ndarray:
    """Return the 2×2 int64 confusion matrix ``[[tn, fp], [fn, tp]]`` (rows: truth, cols: call)."""
    y, p = _check_binary(y_true, y_pred)
    if p.size and not np.isin(p, (0, 1)).all():
        raise ValueError("y_pred must hold only 0 and 1")
    p = p.astype(np.int64)
    return np.bincount(2 * y + p, minlength=4).reshape(2, 2).astype(np.int64)


def roc_auc(y_true: Any, y_score: Any) -> float:
    """Return ROC AUC by ranks: Mann–Whitney U / (n_pos·n_neg), ties ½; nan if one class."""
    y, s = _check_binary(y_true, y_score)
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
    y, s = _check_binary(y_true, y_score)
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
    y, s = _check_binary(y_true, y_score)
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
    y, s = _check_binary(y_true, y_score)
    pred = (s > threshold).astype(np.int64)
    (tn, fp), (fn, tp) = np.bincount(2 * y + pred, minlength=4).reshape(2, 2).tolist()
    n = int(y.size)
    n_pos = tp + fn
    n_neg = tn + fp
    recall = _ratio(tp, n_pos)
    specificity = _ratio(tn, n_neg)
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
        "accuracy": _ratio(tp + tn, n),
        "balanced_accuracy": (recall + specificity) / 2.0,
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": roc_auc(y, s),
        "average_precision": average_precision(y, s),
    }


# ----------------------------------------------------------------------------------------------
# Patch geometry and grayscale
# ----------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------
# Texture: where can blur show at all?
# ----------------------------------------------------------------------------------------------

# The texture and content measures live in blurlib.patches (one home, shared with training
# and prediction); they are re-exported here because evaluation is where they are reported.


# ----------------------------------------------------------------------------------------------
# Classical blur measures (low value = blurry), vectorised over the patch grid
# ----------------------------------------------------------------------------------------------
#
# Each measure is computed INSIDE each patch only ("valid" 3×3 responses: the (P-2)×(P-2)
# interior of every patch), i.e. from exactly the 30×30 pixels the CNN sees. Filtering the whole
# composite and then pooling would let a patch's border responses see its neighbours — in a
# partially blurred composite, the seam between a blurred and a sharp patch is an artificial
# edge that would make blurred patches look sharper and bias the baselines.


def _laplacian_valid(stack: np.ndarray) -> np.ndarray:
    """4-neighbour Laplacian [[0,1,0],[1,-4,1],[0,1,0]] on each patch's interior."""
    c = stack[..., 1:-1, 1:-1]
    return (
        stack[..., :-2, 1:-1]
        + stack[..., 2:, 1:-1]
        + stack[..., 1:-1, :-2]
        + stack[..., 1:-1, 2:]
        - 4.0 * c
    )


def _sobel_valid(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """3×3 Sobel derivatives (x: columns, y: rows) on each patch's interior."""
    left = stack[..., :-2, :-2] + 2.0 * stack[..., 1:-1, :-2] + stack[..., 2:, :-2]
    right = stack[..., :-2, 2:] + 2.0 * stack[..., 1:-1, 2:] + stack[..., 2:, 2:]
    top = stack[..., :-2, :-2] + 2.0 * stack[..., :-2, 1:-1] + stack[..., :-2, 2:]
    bottom = stack[..., 2:, :-2] + 2.0 * stack[..., 2:, 1:-1] + stack[..., 2:, 2:]
    return right - left, bottom - top


def _stack64(image: np.ndarray, patch: int) -> np.ndarray:
    if patch < 3:
        raise ValueError(f"patch must be at least 3 px for 3×3 filters, got {patch}")
    return patch_stack(gray_image(image, patch), patch).astype(np.float64)


def laplacian_variance(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return (rows, cols) float32 variance of the 3×3 Laplacian per patch (Pech-Pacheco 2000)."""
    lap = _laplacian_valid(_stack64(image, patch))
    return lap.var(axis=(-2, -1)).astype(np.float32)


def tenengrad(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return (rows, cols) float32 mean squared 3×3 Sobel gradient magnitude inside each patch.

    The plain Tenengrad (Krotkov 1987) without a gradient threshold, so it has no free parameter.
    """
    gx, gy = _sobel_valid(_stack64(image, patch))
    return np.mean(gx * gx + gy * gy, axis=(-2, -1)).astype(np.float32)


FFT_CUTOFF = 0.4  # cycles/pixel (Nyquist 0.5); see fft_high_frequency


def fft_high_frequency(
    image: np.ndarray, patch: int = PATCH, cutoff: float = FFT_CUTOFF
) -> np.ndarray:
    """Return (rows, cols) float32 fraction of each patch's spectral energy above ``cutoff``.

    Per patch: subtract the mean, apply a separable Hann window (no wrap-around edge), take
    ``|FFT|²`` over the (rows, cols, P, P) stack, and divide the energy at radial frequency
    ``> cutoff`` cycles/pixel by the energy at every non-zero frequency. A flat patch has no
    energy and scores 0 (it looks as blurred as can be).

    The cutoff 0.4 (Nyquist is 0.5) was chosen on training photos only (skimage camera, coins,
    immunohistochemistry, hubble_deep_field, cat, brick, grass, gravel, colorwheel, page, text;
    random straight blur 7–25 px, textured patches): ROC AUC 0.79 at 0.08, 0.83 at 0.15, 0.88
    at 0.3, 0.89 at 0.4, 0.88 at 0.5. A straight blur only removes frequencies along its
    direction, so a low cutoff keeps the untouched perpendicular band; the ring near Nyquist
    loses energy whatever the direction.
    """
    stack = _stack64(image, patch)
    stack = stack - stack.mean(axis=(-2, -1), keepdims=True)
    window = np.hanning(patch)
    power = np.abs(np.fft.fft2(stack * np.outer(window, window))) ** 2
    f = np.fft.fftfreq(patch)
    radius = np.hypot(f[:, None], f[None, :])
    high = power[..., radius > cutoff].sum(axis=-1)
    total = power[..., radius > 0].sum(axis=-1)
    return (high / np.maximum(total, 1e-12)).astype(np.float32)


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "laplacian": laplacian_variance,
    "tenengrad": tenengrad,
    "fft": fft_high_frequency,
}

LOG_EPS = 1e-6  # added before the log so that a perfectly flat patch (measure 0) stays finite


def _log_measure(measure: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(measure, dtype=np.float64) + LOG_EPS)


# ----------------------------------------------------------------------------------------------
# Fitted baselines
# ----------------------------------------------------------------------------------------------


def fit_threshold(scores: Any, labels: Any, *, balanced: bool = True) -> float:
    """Return the threshold t maximising (balanced) accuracy of "blurred where score < t".

    ``scores`` are sharpness values, low = blurred (pass ``log(measure)``: the log makes the
    midpoint threshold scale-fair). Every cut between two distinct sorted scores is tried; t is
    the midpoint of the best gap (the first best when several tie). Balanced accuracy (mean of
    the sharp and the blurred recall) is the default so that the cut does not drift with the
    training set's blurred fraction or with how many flat patches it has. Needs both classes.
    """
    y, s = _check_binary(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise DatasetError(
            "cannot fit a blur threshold: the training patches hold only "
            + ("sharp" if n_pos == 0 else "blurred")
            + " patches; use training photos that were partially blurred"
        )
    order = np.argsort(s, kind="mergesort")
    s_sorted = s[order]
    # cut k: the k lowest scores are called blurred (k = 0 .. n), only between distinct values
    tp = np.r_[0, np.cumsum(y[order])]
    k = np.arange(y.size + 1)
    fp = k - tp
    tn = n_neg - fp
    valid = np.r_[True, s_sorted[1:] != s_sorted[:-1], True]
    if balanced:
        quality = 0.5 * (tp / n_pos + tn / n_neg)
    else:
        quality = (tp + tn) / y.size
    quality = np.where(valid, quality, -np.inf)
    best = int(np.argmax(quality))
    if best == 0:
        return float(s_sorted[0] - 1.0)
    if best == y.size:
        return float(s_sorted[-1] + 1.0)
    return float((s_sorted[best - 1] + s_sorted[best]) / 2.0)


@dataclass(frozen=True)
class Baseline:
    """A classical sharpness measure with a cut: blurred where log(measure + 1e-6) < threshold."""

    name: str
    threshold: float
    patch: int = PATCH

    def __post_init__(self) -> None:
        if self.name not in BASELINES:
            raise ValueError(f"unknown baseline {self.name!r}; choose one of {sorted(BASELINES)}")

    def measure(self, image: np.ndarray) -> np.ndarray:
        """Return the raw (rows, cols) float32 sharpness measure (low = blurry)."""
        return BASELINES[self.name](image, patch=self.patch)

    def scores(self, image: np.ndarray) -> np.ndarray:
        """Return (rows, cols) float64 ``-log(measure + 1e-6)``: higher = more blurred (for ROC)."""
        return -_log_measure(self.measure(image))

    @property
    def decision_threshold(self) -> float:
        """Threshold on :meth:`scores`: blurred where ``scores > decision_threshold``."""
        return -self.threshold

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Return (rows, cols) uint8 labels: 1 where the patch is called blurred."""
        return (self.scores(image) > self.decision_threshold).astype(np.uint8)

    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Return (rows, cols) float32 in [0, 1], monotone in blur, > 0.5 where called blurred.

        A logistic of the log-measure's distance to the threshold (one unit = a factor e); it
        is not a calibrated probability, but it lets a baseline stand wherever a model's
        P(blurred) is expected (e.g. :func:`sharp_photo_false_positive_rate`).
        """
        z = self.threshold - _log_measure(self.measure(image))
        return (0.5 * (1.0 + np.tanh(z / 2.0))).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``Baseline(**d)`` rebuilds it)."""
        return asdict(self)


def _example_arrays(example: Any, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """(image, labels) of an Example-like object, checked against each other."""
    image = np.asarray(example.image)
    labels = np.asarray(example.labels)
    grid = grid_shape(image.shape[0], image.shape[1], patch)
    if labels.shape != grid:
        source = getattr(example, "source", "?")
        raise DatasetError(
            f"example from {source!r}: labels have shape {labels.shape} but the "
            f"{image.shape[1]}×{image.shape[0]} image has a {grid} "
            "patch grid; regenerate the dataset"
        )
    return image, labels


def _example_textured(example: Any, patch: int, threshold: float) -> np.ndarray:
    """Textured mask of an Example-like object, from its sharp source photo."""
    sharp = getattr(example, "sharp", None)
    if sharp is None:
        raise DatasetError(
            f"example from {getattr(example, 'source', '?')!r} has no sharp source photo, so its "
            "textured patches are unknown; load it with blurlib.dataset.load_dataset"
        )
    mask = textured_mask(sharp, patch, threshold)
    image_grid = grid_shape(*np.asarray(example.image).shape[:2], patch)
    if mask.shape != image_grid:
        raise DatasetError(
            f"example from {getattr(example, 'source', '?')!r}: sharp photo grid {mask.shape} "
            f"differs from the composite's {image_grid}; regenerate the dataset"
        )
    return mask


def fit_baseline(
    name: str,
    examples: Iterable[Any],
    *,
    textured_only: bool = True,
    balanced: bool = True,
    patch: int = PATCH,
    texture_threshold: float = TEXTURE_THRESHOLD,
) -> Baseline:
    """Return a :class:`Baseline` whose threshold is fitted on these (TRAINING) examples.

    ``textured_only`` (default): fit on textured patches only — on flat patches every cut is a
    coin flip, and their near-zero measures would only drag the cut down.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    fn = BASELINES[name]
    logs, labels = [], []
    for ex in examples:
        image, lab = _example_arrays(ex, patch)
        lm = _log_measure(fn(image, patch=patch))
        keep = (
            _example_textured(ex, patch, texture_threshold)
            if textured_only
            else np.ones_like(lab, bool)
        )
        logs.append(lm[keep])
        labels.append(lab[keep])
    if not logs:
        raise DatasetError("cannot fit a blur threshold: no training examples were given")
    threshold = fit_threshold(np.concatenate(logs), np.concatenate(labels), balanced=balanced)
    return Baseline(name, threshold, patch)


def fit_baselines(
    examples: Sequence[Any],
    names: Iterable[str] = tuple(BASELINES),
    **kwargs: Any,
) -> dict[str, Baseline]:
    """Return ``{name: Baseline}`` for each classical measure, fitted on the training examples."""
    examples = list(examples)
    return {name: fit_baseline(name, examples, **kwargs) for name in names}


# ----------------------------------------------------------------------------------------------
# Evaluation runner
# ----------------------------------------------------------------------------------------------

SUBSETS = ("all", "textured")


@dataclass
class EvaluationResult:
    """Pooled patch-level results of several methods on the same test patches.

    ``metrics[method][subset]`` is a :func:`binary_metrics` dict (``result["cnn"]["textured"]``
    works too). The per-patch arrays are kept, aligned, for curves and per-image breakdowns:
    ``labels``, ``textured`` (bool), ``image_index`` (which example each patch came from),
    ``scores[method]`` and ``thresholds[method]`` (blurred where score > threshold).
    """

    metrics: dict[str, dict[str, dict[str, Any]]]
    labels: np.ndarray
    textured: np.ndarray
    image_index: np.ndarray
    scores: dict[str, np.ndarray]
    thresholds: dict[str, float]
    sources: list[str] = field(default_factory=list)

    def __getitem__(self, method: str) -> dict[str, dict[str, Any]]:
        return self.metrics[method]

    @property
    def methods(self) -> list[str]:
        """Return the evaluated method names, in table order."""
        return list(self.metrics)

    def subset_mask(self, subset: str) -> np.ndarray:
        """Return the bool mask over pooled patches for ``"all"`` or ``"textured"``."""
        if subset == "all":
            return np.ones(self.labels.shape, dtype=bool)
        if subset == "textured":
            return self.textured
        raise ValueError(f"unknown subset {subset!r}; choose one of {SUBSETS}")

    def rows(self) -> list[dict[str, Any]]:
        """Return tidy rows ``{"method", "subset", **metrics}`` (e.g. for ``pandas.DataFrame``)."""
        return [
            {"method": m, "subset": sub, **vals}
            for m, by_subset in self.metrics.items()
            for sub, vals in by_subset.items()
        ]

    def roc_curve(self, method: str, subset: str = "textured") -> tuple[np.ndarray, ...]:
        """Return :func:`roc_curve` ``(fpr, tpr, thresholds)`` of one method on one subset."""
        keep = self.subset_mask(subset)
        return roc_curve(self.labels[keep], self.scores[method][keep])

    def precision_recall_curve(
        self, method: str, subset: str = "textured"
    ) -> tuple[np.ndarray, ...]:
        """Return :func:`precision_recall_curve` of one method on one subset."""
        keep = self.subset_mask(subset)
        return precision_recall_curve(self.labels[keep], self.scores[method][keep])

    def per_image(self, method: str, subset: str = "textured") -> list[dict[str, Any]]:
        """Return one :func:`binary_metrics` dict per test example (plus its ``source``)."""
        keep = self.subset_mask(subset)
        out = []
        for i in range(int(self.image_index.max(initial=-1)) + 1):
            sel = keep & (self.image_index == i)
            m = binary_metrics(self.labels[sel], self.scores[method][sel], self.thresholds[method])
            m["source"] = self.sources[i] if i < len(self.sources) else str(i)
            out.append(m)
        return out


def _model_predictor(model: Any, patch: int) -> Callable[[np.ndarray], np.ndarray]:
    """A Keras model -> blurlib.predict.patch_probabilities; any other callable is used as is."""
    if isinstance(model, Baseline):
        return model.predict_proba
    if hasattr(model, "predict"):
        from blurlib.predict import patch_probabilities  # lazy: imports TensorFlow

        return lambda image: patch_probabilities(model, image, patch=patch)
    if callable(model):
        return model
    raise TypeError(
        "model must be a Keras model, a callable image -> (rows, cols) P(blurred), or None"
    )


def evaluate(
    model: Any,
    examples: Iterable[Any],
    baselines: Mapping[str, Baseline] | Sequence[Baseline] | None = None,
    *,
    subsets: Sequence[str] = SUBSETS,
    texture_threshold: float = TEXTURE_THRESHOLD,
    patch: int = PATCH,
    progress: bool = False,
) -> EvaluationResult:
    """Return an :class:`EvaluationResult`: metrics per method ("cnn", baselines) × subset.

    ``model``: a Keras model (predictions through :func:`blurlib.predict.patch_probabilities`,
    imported only here), any callable ``image -> (rows, cols) P(blurred)`` (a :class:`Baseline`
    counts as one, through its ``predict_proba``), or ``None`` for baselines only.
    ``examples``: Example-like objects with ``.image`` (composite), ``.sharp`` (its sharp
    source, for the texture mask), ``.labels`` and ``.source``.
    ``baselines``: fitted :class:`Baseline` objects (fit them on TRAINING photos with
    :func:`fit_baselines`). Every method is scored on exactly the same patches; the CNN is
    called blurred at P > 0.5, a baseline at its fitted threshold.
    """
    for sub in subsets:
        if sub not in SUBSETS:
            raise ValueError(f"unknown subset {sub!r}; choose from {SUBSETS}")
    if baselines is None:
        baseline_list: list[Baseline] = []
    elif isinstance(baselines, Mapping):
        baseline_list = list(baselines.values())
    else:
        baseline_list = list(baselines)
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    thresholds: dict[str, float] = {}
    if model is not None:
        methods["cnn"] = _model_predictor(model, patch)
        thresholds["cnn"] = 0.5
    for b in baseline_list:
        methods[b.name] = b.scores
        thresholds[b.name] = b.decision_threshold
    if not methods:
        raise ValueError("nothing to evaluate: give a model, baselines, or both")

    examples = list(examples)
    iterator: Iterable[Any] = examples
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(examples, desc="evaluate", unit="image")

    labels, textured, index, sources = [], [], [], []
    scores: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for i, ex in enumerate(iterator):
        image, lab = _example_arrays(ex, patch)
        labels.append(lab.ravel().astype(np.uint8))
        textured.append(_example_textured(ex, patch, texture_threshold).ravel())
        index.append(np.full(lab.size, i, dtype=np.int32))
        sources.append(str(getattr(ex, "source", i)))
        for m, fn in methods.items():
            s = np.asarray(fn(image), dtype=np.float64)
            if s.shape != lab.shape:
                raise ValueError(f"{m} returned shape {s.shape} for a {lab.shape} patch grid")
            scores[m].append(s.ravel())

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    y = cat(labels, np.uint8)
    tex = cat(textured, bool)
    pooled = {m: cat(v, np.float64) for m, v in scores.items()}
    result = EvaluationResult(
        metrics={},
        labels=y,
        textured=tex,
        image_index=cat(index, np.int32),
        scores=pooled,
        thresholds=thresholds,
        sources=sources,
    )
    for m in methods:
        result.metrics[m] = {}
        for sub in subsets:
            keep = result.subset_mask(sub)
            result.metrics[m][sub] = binary_metrics(y[keep], pooled[m][keep], thresholds[m])
    return result


def _fmt(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


TABLE_COLUMNS = (
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("f1", "F1"),
    ("roc_auc", "ROC AUC"),
    ("n", "n"),
)


def results_table(
    results: EvaluationResult | Mapping[str, Mapping[str, Mapping[str, Any]]], digits: int = 3
) -> str:
    """Return a Markdown table, a row per method × subset: accuracy, precision, recall, F1, AUC, n.

    Accepts an :class:`EvaluationResult` or its ``metrics`` dict; nan prints as ``n/a``.
    """
    metrics = results.metrics if isinstance(results, EvaluationResult) else results
    header = "| method | subset | " + " | ".join(title for _, title in TABLE_COLUMNS) + " |"
    rule = "|---|---|" + "---:|" * len(TABLE_COLUMNS)
    lines = [header, rule]
    for method, by_subset in metrics.items():
        for subset, vals in by_subset.items():
            cells = [_fmt(vals.get(key, math.nan), digits) for key, _ in TABLE_COLUMNS]
            lines.append(f"| {method} | {subset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Protocols: how the test photos are blurred
# ----------------------------------------------------------------------------------------------

PROTOCOLS = ("report", "linear", "shake")


@dataclass
class ProtocolExample:
    """An in-memory test example, attribute-compatible with ``blurlib.dataset.Example``."""

    image: np.ndarray  # composite, uint8 H×W×3 (cropped to the patch grid)
    sharp: np.ndarray  # the sharp photo, same size
    labels: np.ndarray  # uint8 (rows, cols), 1 = blurred
    source: str  # photo name
    kernel: dict[str, Any] = field(default_factory=dict)  # the kernel's spec


def make_protocol_examples(
    photos: Sequence[tuple[str, np.ndarray]],
    protocol: str,
    seed: int,
    fraction: float = 0.5,
    patch: int = PATCH,
    length_range: tuple[float, float] | None = None,
) -> list[ProtocolExample]:
    """Return one partially blurred :class:`ProtocolExample` per (name, photo), all in memory.

    ``protocol``: ``"report"`` (the report's fixed 15 px horizontal kernel), ``"linear"``
    (random straight motion) or ``"shake"`` (camera shake). One ``numpy.random.default_rng(seed)``
    draws every kernel and every blurred-patch choice, photo after photo, so the same seed gives
    the same examples. ``length_range`` (pixels) is passed to ``random_kernel`` when given
    (its default is 7–25 px); the report kernel ignores it.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    from blurlib.dataset import partially_blur
    from blurlib.kernels import random_kernel

    rng = np.random.default_rng(seed)
    out = []
    for name, photo in photos:
        if length_range is None:
            kernel, spec = random_kernel(protocol, rng)
        else:
            kernel, spec = random_kernel(protocol, rng, length_range=length_range)
        composite, labels = partially_blur(
            photo, rng, kernel=kernel, fraction=fraction, patch=patch
        )
        h, w = composite.shape[:2]
        out.append(
            ProtocolExample(
                image=composite,
                sharp=np.ascontiguousarray(np.asarray(photo)[:h, :w]),
                labels=np.asarray(labels, dtype=np.uint8),
                source=str(name),
                kernel=dict(spec),
            )
        )
    return out


# ----------------------------------------------------------------------------------------------
# Whole-photo checks: untouched sharp photos and real motion-blurred photos
# ----------------------------------------------------------------------------------------------


def blurred_fraction(
    probs_list: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float = 0.5
) -> float:
    """Return the fraction of masked patches (pooled over photos) with P > threshold, or nan."""
    if len(probs_list) != len(masks):
        raise ValueError(f"{len(probs_list)} probability grids but {len(masks)} masks")
    called = total = 0
    for probs, mask in zip(probs_list, masks, strict=True):
        probs = np.asarray(probs)
        mask = np.asarray(mask, dtype=bool)
        if probs.shape != mask.shape:
            raise ValueError(f"probability grid {probs.shape} and mask {mask.shape} differ")
        called += int(np.count_nonzero(probs[mask] > threshold))
        total += int(np.count_nonzero(mask))
    return _ratio(called, total)


def sharp_photo_false_positive_rate(
    probs_list: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float = 0.5
) -> float:
    """Return the fraction of textured patches of untouched SHARP photos called blurred (want low).

    Use ``masks = [textured_mask(photo) for photo in photos]`` (a sharp photo is its own source).
    """
    return blurred_fraction(probs_list, masks, threshold)


def real_blur_detection_rate(
    probs_list: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float = 0.5
) -> float:
    """Return the fraction of content patches of REAL blurred photos called blurred (want high).

    Use ``masks = [content_mask(photo) for photo in photos]``: such a photo has no sharp
    source, so the texture measure cannot be used (see :func:`content_mask`).
    """
    return blurred_fraction(probs_list, masks, threshold)


# ----------------------------------------------------------------------------------------------
# The full suite: every protocol, the baselines beside the CNN, whole-photo checks
# ----------------------------------------------------------------------------------------------


def run_suite(
    model: Any,
    train_photos: Sequence[tuple[str, np.ndarray]],
    test_photos: Sequence[tuple[str, np.ndarray]],
    *,
    protocols: Sequence[str] = PROTOCOLS,
    seed: int = 0,
    variants: int = 2,
    real_blur_photos: Sequence[tuple[str, np.ndarray]] = (),
    baseline_protocol: str = "linear",
    progress: bool = False,
) -> dict[str, Any]:
    """Return every number of the model card as a JSON-ready dict.

    For each protocol, ``variants`` partially blurred copies of every TEST photo are made
    (seeded) and scored by the CNN and by the classical baselines, whose thresholds are fitted
    on blurred copies of the TRAINING photos under the same protocol — the test photos are
    never used to fit anything. Then the untouched test photos (textured patches called
    blurred: want low) and the real motion-blurred photos (content patches called blurred:
    want high) are scored by the CNN and by the baselines fitted on ``baseline_protocol``.
    """
    if not test_photos:
        raise ValueError("no test photos")
    out: dict[str, Any] = {"seed": seed, "variants": variants, "protocols": {}}
    out["train_photos"] = [name for name, _ in train_photos]
    out["test_photos"] = [name for name, _ in test_photos]
    fitted: dict[str, dict[str, Baseline]] = {}
    for k, protocol in enumerate(protocols):
        train_ex: list[Any] = []
        test_ex: list[Any] = []
        for v in range(variants):
            base = seed * 1000 + 100 * k + v
            if train_photos:
                train_ex += make_protocol_examples(train_photos, protocol, seed=base + 50)
            test_ex += make_protocol_examples(test_photos, protocol, seed=base)
        fitted[protocol] = fit_baselines(train_ex) if train_ex else {}
        result = evaluate(model, test_ex, fitted[protocol], progress=progress)
        out["protocols"][protocol] = {
            "metrics": result.metrics,
            "baseline_thresholds": {n: b.threshold for n, b in fitted[protocol].items()},
            "table": results_table(result),
        }
    detectors: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    if model is not None:
        detectors["cnn"] = _model_predictor(model, PATCH)
    for name, b in fitted.get(baseline_protocol, {}).items():
        detectors[name] = b.predict_proba
    checks: dict[str, Any] = {}
    for method, fn in detectors.items():
        sharp_probs = [fn(photo) for _, photo in test_photos]
        sharp_masks = [textured_mask(photo) for _, photo in test_photos]
        checks[method] = {"sharp_photos_called_blurred": blurred_fraction(sharp_probs, sharp_masks)}
        if real_blur_photos:
            probs = [fn(photo) for _, photo in real_blur_photos]
            masks = [content_mask(photo) for _, photo in real_blur_photos]
            checks[method]["real_blur_detected"] = blurred_fraction(probs, masks)
    out["photo_checks"] = checks
    out["real_blur_photos"] = [name for name, _ in real_blur_photos]
    return out


def suite_markdown(suite: Mapping[str, Any], digits: int = 3) -> str:
    """Return a :func:`run_suite` result as Markdown: one table per protocol, then the checks."""
    parts = []
    for protocol, res in suite["protocols"].items():
        parts.append(
            f"**Protocol `{protocol}`** (test photos, {suite['variants']} blurred copies each)\n"
        )
        parts.append(res["table"])
        parts.append("")
    checks = suite.get("photo_checks", {})
    if checks:
        parts.append("**Whole photos** (P > 0.5 for the CNN, fitted thresholds for baselines)\n")
        parts.append(
            "| method | untouched sharp photos: textured patches called blurred "
            "| real blurred photos: content patches called blurred |"
        )
        parts.append("|---|---|---|")
        for method, c in checks.items():
            sharp = _fmt(c.get("sharp_photos_called_blurred", float("nan")), digits)
            real = _fmt(c.get("real_blur_detected", float("nan")), digits)
            parts.append(f"| {method} | {sharp} | {real} |")
    return "\n".join(parts) + "\n"
