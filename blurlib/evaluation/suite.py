"""The robustness suite: every blur protocol, the baselines beside the CNN, whole-photo checks.

Whole-photo checks: the share of textured patches of untouched sharp photos called blurred
(want low), and of content patches of real motion-blurred photos (want high; per photo also over
the content patches that carry evidence, ``evidence_mask``: a smooth cloud has contrast but
nothing any detector can judge).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from blurlib import PATCH
from blurlib.data.patches import content_mask, evidence_mask, textured_mask
from blurlib.evaluation.baselines import Baseline, fit_baselines
from blurlib.evaluation.examples import PROTOCOLS, make_protocol_examples, protocol_seed
from blurlib.evaluation.metrics import ratio_or_nan
from blurlib.evaluation.runner import evaluate, format_cell, model_predictor, results_table

__all__ = [
    "blurred_fraction",
    "real_blur_detection_rate",
    "run_suite",
    "sharp_photo_false_positive_rate",
    "suite_markdown",
]

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
    return ratio_or_nan(called, total)


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
            if train_photos:
                train_seed = protocol_seed(seed, k, v, training=True)
                train_ex += make_protocol_examples(train_photos, protocol, seed=train_seed)
            test_ex += make_protocol_examples(test_photos, protocol, seed=protocol_seed(seed, k, v))
        fitted[protocol] = fit_baselines(train_ex) if train_ex else {}
        result = evaluate(model, test_ex, fitted[protocol], progress=progress)
        out["protocols"][protocol] = {
            "metrics": result.metrics,
            "baseline_thresholds": {n: b.threshold for n, b in fitted[protocol].items()},
            "table": results_table(result),
        }
    detectors: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    if model is not None:
        detectors["cnn"] = model_predictor(model, PATCH)
    for name, b in fitted.get(baseline_protocol, {}).items():
        detectors[name] = b.predict_proba
    # the masks depend on the photos only: made once, read by every detector
    sharp_masks = [textured_mask(photo) for _, photo in test_photos]
    masks = [content_mask(photo) for _, photo in real_blur_photos]
    judgeable = [
        m & evidence_mask(photo) for (_, photo), m in zip(real_blur_photos, masks, strict=True)
    ]
    checks: dict[str, Any] = {}
    for method, fn in detectors.items():
        sharp_probs = [fn(photo) for _, photo in test_photos]
        checks[method] = {"sharp_photos_called_blurred": blurred_fraction(sharp_probs, sharp_masks)}
        if real_blur_photos:
            probs = [fn(photo) for _, photo in real_blur_photos]
            checks[method]["real_blur_detected"] = blurred_fraction(probs, masks)
            checks[method]["real_blur_by_photo"] = {
                name: {
                    "detected": blurred_fraction([p], [m]),
                    "content_patches": int(m.sum()),
                    "detected_judgeable": blurred_fraction([p], [j]),
                    "judgeable_patches": int(j.sum()),
                }
                for (name, _), p, m, j in zip(
                    real_blur_photos, probs, masks, judgeable, strict=True
                )
            }
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
            sharp = format_cell(c.get("sharp_photos_called_blurred", float("nan")), digits)
            real = format_cell(c.get("real_blur_detected", float("nan")), digits)
            parts.append(f"| {method} | {sharp} | {real} |")
        by_photo = checks.get("cnn", {}).get("real_blur_by_photo", {})
        if by_photo:
            each = ", ".join(
                f"`{name}` {format_cell(r['detected'], digits)} of {r['content_patches']} "
                f"({format_cell(r['detected_judgeable'], digits)} of the "
                f"{r['judgeable_patches']} with evidence)"
                for name, r in by_photo.items()
            )
            parts.append(f"\nReal blurred photos, CNN, content patches called blurred: {each}.")
    return "\n".join(parts) + "\n"
