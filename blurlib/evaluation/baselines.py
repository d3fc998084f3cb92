"""Classical blur baselines: Laplacian variance, Tenengrad, FFT energy, and their fitted cuts;
and the Laplacian variance relative to the photo's own sharpest patches (a probe of context).

Everything here is numpy; a :class:`Baseline` is a sharpness measure with a threshold fitted
on TRAINING examples (:func:`fit_baseline`, :func:`fit_baselines`), usable wherever a model's
P(blurred) is expected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from blurlib import PATCH
from blurlib.data.patches import (
    TEXTURE_THRESHOLD,
    gray_image,
    patch_orientation,
    patch_stack,
    patch_texture,
)
from blurlib.errors import DatasetError
from blurlib.evaluation.examples import example_arrays, example_textured
from blurlib.evaluation.metrics import check_binary

__all__ = [
    "BASELINES",
    "CLASSICAL_BASELINES",
    "CONTEXT_QUANTILES",
    "FFT_CUTOFF",
    "LOG_EPS",
    "Baseline",
    "fft_high_frequency",
    "fit_baseline",
    "fit_baselines",
    "fit_threshold",
    "laplacian_relative",
    "laplacian_variance",
    "photo_anisotropy",
    "photo_context",
    "tenengrad",
]

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


RELATIVE_QUANTILE = 0.9  # the photo's reference: this quantile over its textured patches


def laplacian_relative(
    image: np.ndarray, patch: int = PATCH, quantile: float = RELATIVE_QUANTILE
) -> np.ndarray:
    """Return (rows, cols) float32 Laplacian variance of each patch divided by the photo's own
    reference: the ``quantile`` (0.9) of it over the photo's textured patches (detail ≥
    ``TEXTURE_THRESHOLD`` in the observed image; all patches when fewer than 10 are).

    A patch is judged against the sharpest content of its own photo, not against a number
    fitted on other photos: a lens-soft, resampled or small photo lowers every patch alike
    and the ratio stays, and the ratio ignores contrast (both scale with its square). It
    cannot see a photo blurred all over (its reference is blurred too): a probe of what
    photo-level context is worth, not a detector. The quantile was set before any
    measurement, not fitted.
    """
    v = laplacian_variance(image, patch)
    values = v[_reference_mask(image, patch)]
    reference = float(np.quantile(values, quantile)) if values.size else 0.0
    return (v / max(reference, LOG_EPS)).astype(np.float32)


CONTEXT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)  # the photo's sharpness distribution


def photo_context(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return ``(rows, cols, 6)`` float32 context features of each grid patch of ``image``:
    the photo's log Laplacian variance at :data:`CONTEXT_QUANTILES` over its textured patches
    (detail ≥ ``TEXTURE_THRESHOLD`` in the observed image; all patches when fewer than 10
    are), the same for every patch, and the patch's own log Laplacian variance minus the
    photo's 0.9 quantile (the log of :func:`laplacian_relative`).

    The photo-level input a context-aware detector weighs beside the patch's pixels
    (``benchmarks/probe_context_net.py``): measured on the photo as observed, so a user's photo
    gives it exactly as a training composite does. Fixed before any measurement.
    """
    v = _log_measure(laplacian_variance(image, patch))
    values = v[_reference_mask(image, patch)]
    q = np.quantile(values, CONTEXT_QUANTILES) if values.size else np.zeros(5)
    out = np.empty((*v.shape, len(CONTEXT_QUANTILES) + 1), np.float32)
    out[..., :-1] = q
    out[..., -1] = v - q[-1]
    return out


def photo_anisotropy(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Return ``(rows, cols, 4)`` float32 context features of each grid patch of ``image``: how
    one-directional the photo's detail is as a whole (the coherence of the mean of its textured
    patches' trace-normalised structure tensors), the mean coherence of those patches, and the
    patch's own coherence and its alignment with the photo's direction (coherence × cos 2Δθ).

    Motion blur removes detail along one direction across the region it covers, so the photo's
    patches turn one-directional *and alike*; lens softness and defocus act in every direction,
    and a scene rich in lines (grass, planks) has one-directional patches that point every which
    way. Unlike :func:`photo_context`, a uniform blur does not move the reference away: a photo
    blurred all over is anisotropic as a whole. Fixed before any measurement (issue 9's probe).
    """
    angle, coherence = patch_orientation(image, patch)
    textured = _reference_mask(image, patch)
    doubled = np.radians(2.0 * angle.astype(np.float64))
    c, s = coherence * np.cos(doubled), coherence * np.sin(doubled)  # the normalised tensors
    mean_c, mean_s = float(c[textured].mean()), float(s[textured].mean())
    out = np.empty((*angle.shape, 4), np.float32)
    out[..., 0] = np.hypot(mean_c, mean_s)  # the photo's coherence as a whole
    out[..., 1] = float(coherence[textured].mean())
    out[..., 2] = coherence
    photo_angle = 0.5 * np.arctan2(mean_s, mean_c)
    out[..., 3] = coherence * np.cos(doubled - 2.0 * photo_angle)
    return out


def _reference_mask(image: np.ndarray, patch: int) -> np.ndarray:
    """(rows, cols) bool: the patches a photo-level reference is taken over — the textured ones
    (detail ≥ ``TEXTURE_THRESHOLD`` in the observed image), or all when fewer than 10 are."""
    textured = patch_texture(image, patch) >= TEXTURE_THRESHOLD
    return textured if int(textured.sum()) >= 10 else np.ones_like(textured)


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "laplacian": laplacian_variance,
    "tenengrad": tenengrad,
    "fft": fft_high_frequency,
    "laplacian_relative": laplacian_relative,
}
#: the baselines every evaluation table fits (``laplacian_relative`` is asked for by name)
CLASSICAL_BASELINES = ("laplacian", "tenengrad", "fft")

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
    y, s = check_binary(labels, scores)
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
        image, lab = example_arrays(ex, patch)
        lm = _log_measure(fn(image, patch=patch))
        keep = (
            example_textured(ex, patch, texture_threshold)
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
    names: Iterable[str] = CLASSICAL_BASELINES,
    **kwargs: Any,
) -> dict[str, Baseline]:
    """Return ``{name: Baseline}`` for each classical measure, fitted on the training examples."""
    examples = list(examples)
    return {name: fit_baseline(name, examples, **kwargs) for name in names}
