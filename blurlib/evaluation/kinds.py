"""Evaluating blur analysis: kind confusion, direction and length errors, Sun's 73 classes,
and the real motion-blurred ``clock``.

Test patches come from :func:`blurlib.data.kinds.kind_patches` over held-out test photos
(chosen by photo, never trained or tuned on), so every patch is judgeable (textured source,
evidence in the observed patch). Errors:

* kind: the 3×3 confusion matrix (rows = truth sharp / motion / defocus, columns = most likely
  predicted kind) and accuracy;
* direction: the median of |predicted - true| between undirected angles (mod 180, so at most
  90°), over every true motion patch, whatever its predicted kind (the head is read as is);
* length: the median |predicted - true| in px, same patches;
  both by length bucket (7–11, 11–17, 17–25 px, and 9–25 px for the issue's target), for
  straight motion and for camera shake (truth = the kernel's principal axis and moment extent);
* Sun et al.'s setup: 73-class accuracy of ``sun2015`` on sharp + straight-motion patches
  (3–25 px), and of the multi-head net on the same patches, its kind/angle/length quantised to
  the nearest class (:func:`blurlib.data.kinds.sun_class`);
* where motion can be told from defocus (:func:`by_texture`): the kinds called for straight
  motion by the angle between the blur and the lines of the sharp source patch and by how
  one-directional that patch is (:func:`blurlib.data.patches.patch_orientation`) — a blur along
  parallel lines hardly shows, and one across them looks like softness;
* robustness (:func:`kind_robustness`): kind accuracy, recall and the 9–25 px straight-motion
  errors over the quality variants of issue 9's suite
  (:data:`blurlib.evaluation.robustness.QUALITY_VARIANTS` but partial defocus, which would put
  defocus into patches labelled otherwise): lens variants applied to the photos before the
  patches are drawn, camera variants (JPEG, noise) to each drawn 30×30 patch on top of its own
  finish — a proxy for photos of ordinary quality that any held-out photos can give.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from blurlib.data.kinds import KINDS, KindPatches, angle_difference, sun_class
from blurlib.evaluation.metrics import COHERENCE_BINS, two_way_bins

BUCKETS: tuple[tuple[float, float], ...] = ((7.0, 11.0), (11.0, 17.0), (17.0, 25.0), (9.0, 25.0))
#: straight motion by the angle between the blur and the sharp source's lines (degrees; with
#: :data:`blurlib.evaluation.metrics.COHERENCE_BINS`, how one-directional the source is)
CROSS_BINS: tuple[tuple[float, float], ...] = ((0.0, 15.0), (15.0, 45.0), (45.0, 90.0))
TEST_SEED = 10_000  # test patches of evaluation seed s are drawn with seed TEST_SEED + s


def predict_patch_heads(
    model: Any, x: np.ndarray, batch_size: int = 512, views: int = 1
) -> dict[str, np.ndarray]:
    """Return ``p_kind`` (N, 3), ``angle_deg`` (N,), ``length_px`` (N,) of a multi-head model
    on patches ``x`` (N, 30, 30, 3) 0–255 (heads read as is, no 0.5 rule); ``views`` (1, 4,
    8): averaged over rotated and mirrored copies of each patch
    (:mod:`blurlib.inference.views`)."""
    from blurlib.inference.views import viewed_heads
    from blurlib.nets.analysis import decode_outputs

    def heads(xs: np.ndarray) -> dict[str, np.ndarray]:
        parts = []
        for start in range(0, len(xs), batch_size):
            out = model.predict_on_batch(np.asarray(xs[start : start + batch_size], np.float32))
            parts.append(decode_outputs(out))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    return viewed_heads(heads, np.asarray(x), views, axes=(1, 2))


def _median(a: np.ndarray) -> float:
    return float(np.median(a)) if a.size else math.nan


def motion_errors(
    true_angle: Any,
    true_length: Any,
    pred_angle: Any,
    pred_length: Any,
    pred_kind: Any = None,
) -> dict[str, dict[str, Any]]:
    """Return per length bucket ``{"7-11": {"n", "angle_median_deg", "length_median_px"}}``;
    with ``pred_kind`` (most likely kind per patch) also the share of the bucket's motion
    patches called each kind (``"called"``: sharp / motion / defocus)."""
    ta, tl = np.asarray(true_angle, float), np.asarray(true_length, float)
    da = angle_difference(ta, pred_angle)
    dl = np.abs(np.asarray(pred_length, float) - tl)
    out = {}
    for lo, hi in BUCKETS:
        sel = (tl >= lo) & (tl <= hi)
        row: dict[str, Any] = {
            "n": int(sel.sum()),
            "angle_median_deg": round(_median(da[sel]), 2),
            "length_median_px": round(_median(dl[sel]), 2),
        }
        if pred_kind is not None:
            kinds = np.asarray(pred_kind)[sel]
            row["called"] = {
                name: round(float(np.mean(kinds == k)), 4) if kinds.size else math.nan
                for k, name in enumerate(KINDS)
            }
        out[f"{lo:g}-{hi:g}"] = row
    return out


def by_texture(patches: KindPatches, guess: np.ndarray) -> list[dict[str, Any]]:
    """Return one row per (blur-vs-lines angle bin, coherence bin) of the straight-motion
    patches: ``{"angle", "coherence", "n", "called": {kind: share}}`` — where the kind of a
    motion blur can be seen at all (see :func:`blurlib.data.patches.patch_orientation`)."""
    sel = patches.motion_type == 1
    cross = angle_difference(patches.angle[sel], patches.texture_angle[sel])
    coh, kinds = patches.coherence[sel], np.asarray(guess)[sel]
    return [
        {
            "angle": angle,
            "coherence": coherence,
            "n": int(m.sum()),
            "called": {
                name: round(float(np.mean(kinds[m] == k)), 4) if m.any() else math.nan
                for k, name in enumerate(KINDS)
            },
        }
        for angle, coherence, m in two_way_bins(cross, CROSS_BINS, coh, COHERENCE_BINS)
    ]


def kind_report(patches: KindPatches, pred: dict[str, np.ndarray]) -> dict[str, Any]:
    """Return the confusion matrix, accuracy, per-class recall, and direction/length errors for
    straight motion and camera shake (see the module docstring)."""
    truth = patches.kind.astype(int)
    guess = np.argmax(pred["p_kind"], axis=1)
    cm = np.zeros((3, 3), np.int64)
    np.add.at(cm, (truth, guess), 1)
    recall = {
        KINDS[k]: round(float(cm[k, k] / cm[k].sum()), 4) if cm[k].sum() else math.nan
        for k in range(3)
    }
    out: dict[str, Any] = {
        "patches": len(truth),
        "confusion": cm.tolist(),
        "confusion_rows_cols": list(KINDS),
        "accuracy": round(float(np.trace(cm) / max(cm.sum(), 1)), 4),
        "recall": recall,
    }
    for mtype, name in ((1, "straight"), (2, "shake")):
        sel = patches.motion_type == mtype
        out[name] = motion_errors(
            patches.angle[sel],
            patches.length[sel],
            pred["angle_deg"][sel],
            pred["length_px"][sel],
            guess[sel],
        )
    out["straight_by_texture"] = by_texture(patches, guess)
    return out


def sun2015_classes(model: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Return the most likely of the 73 classes (int) of a ``sun2015`` model per patch."""
    probs = np.concatenate(
        [
            np.asarray(model.predict_on_batch(np.asarray(x[s : s + batch_size], "f4")))
            for s in range(0, len(x), batch_size)
        ]
    )
    return np.argmax(probs, 1)


def sun_accuracy_of_sun2015(model: Any, patches: KindPatches, batch_size: int = 512) -> float:
    """Return the 73-class accuracy of a ``sun2015`` model on patches (defocus ones skipped)."""
    truth = sun_class(patches.kind, patches.angle, patches.length)
    keep = truth >= 0
    guess = sun2015_classes(model, patches.x, batch_size)
    return round(float((guess[keep] == truth[keep]).mean()), 4)


def sun_motion_errors(patches: KindPatches, angle: Any, length: Any) -> dict[str, float]:
    """Return median angle (°) and length (px) errors over the motion patches of a test set
    (a prediction of NaN, e.g. sun2015's "no blur", is left out)."""
    m = patches.kind == 1
    da = angle_difference(patches.angle[m], np.asarray(angle)[m])
    dl = np.abs(np.asarray(length, float)[m] - patches.length[m])
    return {
        "angle_median_deg": round(_median(da[np.isfinite(da)]), 2),
        "length_median_px": round(_median(dl[np.isfinite(dl)]), 2),
    }


def sun_accuracy_of_heads(pred: dict[str, np.ndarray], patches: KindPatches) -> float:
    """Return the 73-class accuracy of multi-head predictions quantised to Sun's classes
    (predicted sharp or defocus → class 0 "no blur")."""
    truth = sun_class(patches.kind, patches.angle, patches.length)
    keep = truth >= 0
    kind = np.argmax(pred["p_kind"], 1)
    guess = sun_class(np.where(kind == 1, 1, 0), pred["angle_deg"], pred["length_px"])
    return round(float((guess[keep] == truth[keep]).mean()), 4)


def real_motion_report(model: Any, image: np.ndarray, views: int = 1) -> dict[str, Any]:
    """Return the per-photo summary of :func:`blurlib.inference.analysis.summarize_analysis`
    on a real motion-blurred photo (dominant direction, spread, length, shares) over its
    *content* patches (``content_mask``, as the suite's real-blur recall: the photo has no sharp
    source, and blur removes the detail the evidence rule looks for), with the evidence-rule
    summary under ``"evidence_rule"``; ``views`` as in ``patch_analysis``."""
    from blurlib.data.patches import content_mask
    from blurlib.inference.analysis import patch_analysis, summarize_analysis

    a = patch_analysis(model, image, views=views)
    by_evidence = summarize_analysis(a)
    a.evidence = content_mask(image)
    return {**summarize_analysis(a), "evidence_rule": by_evidence}


KIND_VARIANTS: tuple[str, ...] = ("pristine", "soft σ1", "resampled ×0.5", "JPEG q40", "noise σ4")


def kind_robustness(
    model: Any,
    photos: list[np.ndarray],
    patches: int = 6000,
    seed: int = 0,
    pristine: dict[str, Any] | None = None,
    views: int = 1,
) -> dict[str, dict[str, Any]]:
    """Return per quality variant (:data:`KIND_VARIANTS`) the kind accuracy, per-kind recall
    and straight 9–25 px angle / length errors on held-out ``photos`` (module docstring).
    ``pristine``: the :func:`kind_report` of the same photos, patches and seed when the caller
    has it already (it is the "pristine" row, not computed again); ``views`` as in
    :func:`predict_patch_heads`."""
    from blurlib.data.degrade import apply_specs
    from blurlib.data.kinds import KindConfig, kind_patches
    from blurlib.evaluation.robustness import QUALITY_VARIANTS
    from blurlib.nets.analysis import model_context

    config = KindConfig(context=model_context(model))

    out = {}
    for name in KIND_VARIANTS:
        lens, camera = QUALITY_VARIANTS[name]
        if name == "pristine" and pristine is not None:
            rep = pristine
        else:
            test = kind_patches(
                [apply_specs(p, lens) for p in photos], patches, TEST_SEED + seed, config
            )
            if camera:
                test.x = np.stack([apply_specs(x, camera) for x in test.x])
            rep = kind_report(test, predict_patch_heads(model, test.x, views=views))
        out[name] = {
            "accuracy": rep["accuracy"],
            "recall": rep["recall"],
            "straight_9_25": {k: rep["straight"]["9-25"][k] for k in ("n", "angle_median_deg",
                                                                        "length_median_px")},
        }  # fmt: skip
    return out


def kind_robustness_markdown(rob: dict[str, dict[str, Any]]) -> str:
    """Return :func:`kind_robustness` as a Markdown table."""
    lines = ["| quality | kind accuracy | recall sharp / motion / defocus | straight 9–25 px: "
             "angle error (°) | length error (px) |", "|---|---|---|---|---|"]  # fmt: skip
    for name, r in rob.items():
        recall = " / ".join(f"{v:.3f}" for v in r["recall"].values())
        e = r["straight_9_25"]
        lines.append(
            f"| {name} | {r['accuracy']:.3f} | {recall} | {e['angle_median_deg']} | "
            f"{e['length_median_px']} |"
        )
    return "\n".join(lines) + "\n"


def evaluate_analysis(
    model: Any,
    test_photos: list[np.ndarray],
    *,
    sun_model: Any = None,
    patches: int = 6000,
    seed: int = 0,
    real_photos: list[tuple[str, np.ndarray]] = (),  # type: ignore[assignment]
    robustness: bool = False,
    views: int = 1,
) -> dict[str, Any]:
    """Return every number of the module docstring on held-out ``test_photos``: the kind
    report on the full mix, Sun's 73-class accuracy (multi-head net quantised, and
    ``sun_model`` when given) on Sun's setup, a summary per real motion-blurred photo, and with
    ``robustness`` the quality variants (:func:`kind_robustness`). ``views`` (1, 4, 8): the
    multi-head net's answers averaged over rotated and mirrored copies
    (:mod:`blurlib.inference.views`; ``sun_model`` is read once, as its paper did)."""
    from dataclasses import replace

    from blurlib.data.kinds import SUN2015, KindConfig, kind_patches
    from blurlib.nets.analysis import model_context

    context = model_context(model)  # a net that reads context gets windows (same labels)
    config = KindConfig(context=context)
    test = kind_patches(test_photos, patches, seed=TEST_SEED + seed, config=config)
    pred = predict_patch_heads(model, test.x, views=views)
    out: dict[str, Any] = {"kinds": kind_report(test, pred), "context": context, "views": views}
    sun_test = kind_patches(test_photos, patches, seed=20_000 + seed, config=SUN2015)
    mine = sun_test
    if context:  # its own draw of Sun's setup, with context
        mine = kind_patches(
            test_photos, patches, seed=20_000 + seed, config=replace(SUN2015, context=context)
        )
    sun: dict[str, Any] = {"patches": len(sun_test)}
    heads = predict_patch_heads(model, mine.x, views=views)
    sun["analysis_quantised"] = sun_accuracy_of_heads(heads, mine)
    sun["analysis_errors"] = sun_motion_errors(mine, heads["angle_deg"], heads["length_px"])
    if sun_model is not None:
        from blurlib.data.kinds import sun_class_labels

        sun["sun2015"] = sun_accuracy_of_sun2015(sun_model, sun_test)
        angle, length = sun_class_labels(sun2015_classes(sun_model, sun_test.x))
        sun["sun2015_errors"] = sun_motion_errors(sun_test, angle, length)
    out["sun73"] = sun
    out["real"] = {name: real_motion_report(model, image, views) for name, image in real_photos}
    if robustness:
        out["robustness"] = kind_robustness(
            model, test_photos, patches, seed, out["kinds"], views=views
        )
    return out


def analysis_markdown(result: dict[str, Any]) -> str:
    """Return the evaluation as Markdown tables (kind confusion, errors by bucket, Sun, real)."""
    k = result["kinds"]
    views = result.get("views", 1)
    each = f", each read in {views} views (rotated and mirrored)" if views > 1 else ""
    lines = [
        f"Kind accuracy {k['accuracy']:.3f} on {k['patches']} judgeable test patches{each}.",
        "",
    ]
    lines += ["| truth \\ predicted | " + " | ".join(KINDS) + " | recall |", "|---" * 5 + "|"]
    for name, row in zip(KINDS, k["confusion"]):
        lines.append(f"| {name} | " + " | ".join(map(str, row)) + f" | {k['recall'][name]:.3f} |")
    lines += ["", "| motion | length bucket (px) | n | median angle error (°) | "
              "median length error (px) | called sharp / motion / defocus |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for mtype in ("straight", "shake"):
        for bucket, e in k[mtype].items():
            called = e.get("called")
            shares = " / ".join(f"{v:.2f}" for v in called.values()) if called else "—"
            lines.append(
                f"| {mtype} | {bucket} | {e['n']} | {e['angle_median_deg']} | "
                f"{e['length_median_px']} | {shares} |"
            )
    if "straight_by_texture" in k:
        lines += ["", "Straight motion by the angle between the blur and the sharp source's lines, "
                  "and how one-directional the source is (coherence 0–1):", "",
                  "| blur vs lines (°) | coherence | n | called sharp / motion / defocus |",
                  "|---|---|---|---|"]  # fmt: skip
        for r in k["straight_by_texture"]:
            shares = " / ".join(f"{v:.2f}" for v in r["called"].values())
            lines.append(f"| {r['angle']} | {r['coherence']} | {r['n']} | {shares} |")
    s = result["sun73"]
    lines += ["", f"Sun et al.'s 73 classes ({s['patches']} patches, sharp + straight 3–25 px):"]
    for key, value in s.items():
        if key.endswith("_errors"):
            lines.append(
                f"- {key}: median angle error {value['angle_median_deg']}°, "
                f"length error {value['length_median_px']} px (motion patches)"
            )
        elif key != "patches":
            lines.append(f"- {key} (73-class accuracy): {value:.3f}")
    for name, r in result.get("real", {}).items():
        lines.append(
            f"- real `{name}`: motion {r['share_motion']:.2f} of {r['judgeable']} judgeable "
            f"patches, direction {r['direction_deg']}° ± {r['direction_spread_deg']}°, "
            f"length {r['length_px']} px"
        )
    if "robustness" in result:
        lines += ["", "**Robustness** (the same photos, by quality)", ""]
        lines.append(kind_robustness_markdown(result["robustness"]))
    return "\n".join(lines) + "\n"
