"""Robustness: the blur protocols over photos of ordinary quality, false alarms, defocus.

A detector that only holds on crisp photos fails its users, so each protocol is scored over
QUALITY VARIANTS of the test photos (:data:`QUALITY_VARIANTS`): pristine; soft (Gaussian
σ 1 px); resampled ×0.5 and back; JPEG quality 40; sensor noise σ 4; partial defocus (a disk
of radius 3 px over one side of the photo, a soft background). Softness, resampling and
defocus happen in the lens, before the motion blur; noise and JPEG in the camera, after it
(the order of :mod:`blurlib.data.degrade`, whose specs describe each variant exactly).

Per variant: each protocol's table (textured patches of the degraded photo before motion
blur), and the share of textured patches of the untouched-but-degraded photo called blurred
— the false alarms on photos of ordinary quality. Then DEFOCUS-ONLY photos (the whole photo
through a disk of radius 2, 3 or 4 px, no motion): the share of their judgeable patches
(:func:`blurlib.data.patches.evidence_mask`) called motion-blurred. Label 0 covers all of
these: only motion blur is label 1. And where the pristine false alarms live: the textured
patches by detail and coherence (:func:`false_alarms_by_texture`), and each photo's recall
(:func:`recall_by_photo`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from blurlib import PATCH
from blurlib.data.degrade import apply_specs
from blurlib.data.patches import (
    TEXTURE_THRESHOLD,
    evidence_mask,
    patch_orientation,
    patch_texture,
    textured_mask,
)
from blurlib.evaluation.baselines import CLASSICAL_BASELINES, Baseline, fit_baselines
from blurlib.evaluation.examples import (
    PROTOCOLS,
    ProtocolExample,
    make_protocol_examples,
    protocol_seed,
)
from blurlib.evaluation.metrics import COHERENCE_BINS, two_way_bins
from blurlib.evaluation.runner import evaluate, format_cell, model_predictor
from blurlib.evaluation.suite import blurred_fraction

__all__ = [
    "DEFOCUS_RADII",
    "QUALITY_VARIANTS",
    "false_alarms_by_texture",
    "recall_by_photo",
    "robustness_markdown",
    "run_robustness",
    "variant_examples",
]

# name → (lens specs, before motion blur; camera specs, after it)
QUALITY_VARIANTS: dict[str, tuple[list[dict], list[dict]]] = {
    "pristine": ([], []),
    "soft σ1": ([{"op": "gaussian", "sigma": 1.0}], []),
    "resampled ×0.5": ([{"op": "resample", "factor": 0.5, "down": "area", "up": "cubic"}], []),
    "JPEG q40": ([], [{"op": "jpeg", "quality": 40}]),
    "noise σ4": ([], [{"op": "gaussian_noise", "sigma": 4.0, "gray": False, "seed": 0}]),
    "partial defocus": (
        [
            {
                "op": "defocus",
                "radius": 3.0,
                "region": {"kind": "ramp", "angle": 0.0, "start": 0.35, "end": 0.55},
            }
        ],
        [],
    ),
}
DEFOCUS_RADII = (2.0, 3.0, 4.0)  # px: the defocus-only photos
#: where the false alarms live: textured patches by detail (gray levels, patch_texture) …
DETAIL_BINS: tuple[tuple[float, float], ...] = (
    (TEXTURE_THRESHOLD, 10.0),
    (10.0, 20.0),
    (20.0, math.inf),
)
#: … and by how one-directional they are (:data:`blurlib.evaluation.metrics.COHERENCE_BINS`)


def false_alarms_by_texture(
    probs_list: Sequence[np.ndarray], photos: Sequence[np.ndarray], threshold: float = 0.5
) -> list[dict[str, Any]]:
    """Return one row per (detail bin, coherence bin) of the textured patches of sharp
    ``photos`` (pooled): ``{"detail", "coherence", "n", "share", "called"}`` — how many there
    are, their share of all textured patches, and the share called blurred (P > threshold)."""
    details, coherences, called = [], [], []
    for probs, photo in zip(probs_list, photos, strict=True):
        detail = patch_texture(photo)
        mask = detail >= TEXTURE_THRESHOLD
        details.append(detail[mask])
        coherences.append(patch_orientation(photo)[1][mask])
        called.append(np.asarray(probs)[mask] > threshold)
    d, c, hit = (np.concatenate(a) if a else np.zeros(0) for a in (details, coherences, called))
    return [
        {
            "detail": detail,
            "coherence": coherence,
            "n": int(m.sum()),
            "share": round(float(m.mean()), 4) if m.size else math.nan,
            "called": round(float(hit[m].mean()), 4) if m.any() else math.nan,
        }
        for detail, coherence, m in two_way_bins(d, DETAIL_BINS, c, COHERENCE_BINS)
    ]


def variant_examples(
    photos: Sequence[tuple[str, np.ndarray]],
    variant: str,
    protocol: str,
    seed: int,
    patch: int = PATCH,
) -> list[ProtocolExample]:
    """Partially blurred test examples of ``photos`` under one quality ``variant``.

    The lens specs degrade the photo first (that degraded photo is the example's ``sharp``
    source: its textured patches are the ones scored), then the protocol's motion blur is
    composited (seeded like :func:`make_protocol_examples`), then the camera specs finish it.
    """
    lens, camera = QUALITY_VARIANTS[variant]
    degraded = [(name, apply_specs(photo, lens)) for name, photo in photos]
    return _finished_examples(degraded, camera, protocol, seed, patch)


def _finished_examples(
    degraded: Sequence[tuple[str, np.ndarray]],
    camera: list[dict],
    protocol: str,
    seed: int,
    patch: int = PATCH,
) -> list[ProtocolExample]:
    """Motion blur composited on photos the lens already degraded, then the camera specs."""
    examples = make_protocol_examples(degraded, protocol, seed=seed, patch=patch)
    for ex in examples:
        ex.image = apply_specs(ex.image, camera)
    return examples


def run_robustness(
    model: Any,
    train_photos: Sequence[tuple[str, np.ndarray]],
    test_photos: Sequence[tuple[str, np.ndarray]],
    *,
    variants: Sequence[str] = tuple(QUALITY_VARIANTS),
    protocols: Sequence[str] = PROTOCOLS,
    copies: int = 1,
    seed: int = 0,
    progress: bool = False,
    baselines: Sequence[str] = CLASSICAL_BASELINES,
) -> dict[str, Any]:
    """Return the robustness tables as a JSON-ready dict (see the module docstring);
    ``baselines`` names the classical measures scored beside the model.

    Baselines are fitted per protocol on blurred copies of the pristine TRAINING photos and
    scored as they are on every variant: a threshold fitted on crisp photos meeting JPEG is
    exactly what a user of such a threshold meets.
    """
    if not test_photos:
        raise ValueError("no test photos")
    unknown = [v for v in variants if v not in QUALITY_VARIANTS]
    if unknown:
        raise ValueError(f"unknown quality variants {unknown}; known: {list(QUALITY_VARIANTS)}")
    fitted: dict[str, dict[str, Baseline]] = {}
    for k, protocol in enumerate(protocols):
        train_ex = []
        for c in range(copies):
            train_seed = protocol_seed(seed, k, c, training=True)
            train_ex += make_protocol_examples(train_photos, protocol, seed=train_seed)
        fitted[protocol] = fit_baselines(train_ex, baselines) if train_ex else {}
    predict = model_predictor(model, PATCH)
    out: dict[str, Any] = {"seed": seed, "copies": copies, "variants": {}}
    out["test_photos"] = [name for name, _ in test_photos]
    for variant in variants:
        entry: dict[str, Any] = {"specs": QUALITY_VARIANTS[variant], "protocols": {}}
        lens, camera = QUALITY_VARIANTS[variant]
        degraded = [(name, apply_specs(photo, lens)) for name, photo in test_photos]
        for k, protocol in enumerate(protocols):
            examples = []
            for c in range(copies):
                examples += _finished_examples(
                    degraded, camera, protocol, protocol_seed(seed, k, c)
                )
            result = evaluate(model, examples, fitted[protocol], progress=progress)
            entry["protocols"][protocol] = {
                m: result.metrics[m]["textured"]["accuracy"] for m in result.metrics
            }
            if variant == "pristine":
                out.setdefault("recall_by_photo", {})[protocol] = recall_by_photo(result)
        observed = [apply_specs(photo, camera) for _, photo in degraded]
        called = [predict(p) for p in observed]
        masks = [textured_mask(p) for _, p in degraded]
        entry["false_alarms"] = blurred_fraction(called, masks)
        if variant == "pristine":
            out["false_alarms_by_texture"] = false_alarms_by_texture(
                called, [p for _, p in degraded]
            )
            out["false_alarms_by_photo"] = {
                name: {"textured": int(m.sum()), "called": blurred_fraction([c], [m])}
                for (name, _), c, m in zip(degraded, called, masks, strict=True)
            }
        out["variants"][variant] = entry
    calls: dict[str, list[np.ndarray]] = {}  # by radius: the test photos defocused
    evidence: dict[str, list[np.ndarray]] = {}
    for r in DEFOCUS_RADII:
        blurred = [
            apply_specs(photo, [{"op": "defocus", "radius": r, "region": None}])
            for _, photo in test_photos
        ]
        calls[f"{r:g}"] = [predict(p) for p in blurred]
        evidence[f"{r:g}"] = [evidence_mask(p) for p in blurred]
    out["defocus_called_motion"] = blurred_fraction(
        [c for cs in calls.values() for c in cs], [e for es in evidence.values() for e in es]
    )
    out["defocus_called_motion_by_radius"] = {
        r: blurred_fraction(calls[r], evidence[r]) for r in calls
    }
    ordinary = [v for v in variants if v != "pristine"]
    out["false_alarms_ordinary"] = (
        float(np.mean([out["variants"][v]["false_alarms"] for v in ordinary])) if ordinary else None
    )
    return out


def robustness_markdown(result: Mapping[str, Any], digits: int = 3) -> str:
    """Return a :func:`run_robustness` result as Markdown: textured accuracy by variant."""
    known = [v for v in QUALITY_VARIANTS if v in result["variants"]]
    order = known + sorted(v for v in result["variants"] if v not in QUALITY_VARIANTS)
    variants = {v: result["variants"][v] for v in order}  # a JSON round trip sorts keys
    first = next(iter(variants.values()))
    protocols = list(first["protocols"])
    methods = list(first["protocols"][protocols[0]])
    head = "| quality | " + " | ".join(f"{p}: {m}" for p in protocols for m in methods)
    lines = [head + " | sharp patches called blurred (CNN) |"]
    lines.append("|---" * (1 + len(protocols) * len(methods) + 1) + "|")
    for name, v in variants.items():
        cells = [format_cell(v["protocols"][p][m], digits) for p in protocols for m in methods]
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {format_cell(v['false_alarms'], digits)} |"
        )
    lines.append("")
    lines.append(
        f"Defocus-only photos (disk radius {', '.join(f'{r:g}' for r in DEFOCUS_RADII)} px): "
        f"{format_cell(result['defocus_called_motion'], digits)} of their judgeable patches "
        "called motion-blurred"
        + _by_radius(result.get("defocus_called_motion_by_radius"), digits)
        + ". Mean false alarms over the non-pristine variants: "
        f"{format_cell(result['false_alarms_ordinary'], digits)}."
    )
    rows = result.get("false_alarms_by_texture")
    if rows:
        lines += ["", "Where the pristine false alarms live (textured patches by detail, gray "
                  "levels, and coherence, 0 = no dominant direction … 1 = parallel lines):", "",
                  "| detail | coherence | patches | share | called blurred |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for r in rows:
            lines.append(
                f"| {r['detail']} | {r['coherence']} | {r['n']} | "
                f"{format_cell(r['share'], digits)} | {format_cell(r['called'], digits)} |"
            )
    per_photo = result.get("false_alarms_by_photo")
    if per_photo:
        cells = [
            f"{name} {format_cell(v['called'], digits)} (of {v['textured']})"
            for name, v in per_photo.items()
        ]
        lines += [
            "",
            "Pristine false alarms by photo (textured patches): " + "; ".join(cells) + ".",
        ]
    recall = result.get("recall_by_photo")
    if recall:
        lines += ["", "Pristine recall by photo (textured motion-blurred patches called blurred):"]
        for protocol, by_photo in recall.items():
            cells = [
                f"{name} {format_cell(v['recall'], digits)} (of {v['blurred']})"
                for name, v in by_photo.items()
            ]
            lines.append(f"- `{protocol}`: " + "; ".join(cells))
    return "\n".join(lines) + "\n"


def recall_by_photo(result: Any, method: str = "cnn") -> dict[str, dict[str, float]]:
    """Per test photo (all its blurred copies pooled): its textured motion-blurred patches
    (``blurred``) and the share ``method`` called blurred (``recall``; NaN without any) — a
    pooled accuracy hides a photo whose blur the detector never sees."""
    keep = result.textured & (result.labels == 1)
    called = result.scores[method] > result.thresholds[method]
    out: dict[str, dict[str, float]] = {}
    for i, source in enumerate(result.sources):
        sel = keep & (result.image_index == i)
        row = out.setdefault(source, {"blurred": 0, "called": 0})
        row["blurred"] += int(sel.sum())
        row["called"] += int(called[sel].sum())
    return {
        name: {
            "blurred": v["blurred"],
            "recall": v["called"] / v["blurred"] if v["blurred"] else math.nan,
        }
        for name, v in out.items()
    }


def _by_radius(shares: dict[str, float] | None, digits: int) -> str:
    """`` (r 2 px: 0.1, r 3 px: …)`` for the defocus shares by radius, or ``""``."""
    if not shares:
        return ""
    return " (" + ", ".join(f"r {r} px: {format_cell(v, digits)}" for r, v in shares.items()) + ")"
