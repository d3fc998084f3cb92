"""The evaluation runner: the CNN and the baselines scored on the same test patches.

TensorFlow is imported only when a CNN's predictions are needed (lazily, through
:func:`blurlib.inference.windows.patch_probabilities`), so baselines-only evaluation works
without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from blurlib import PATCH
from blurlib.data.patches import TEXTURE_THRESHOLD
from blurlib.evaluation.baselines import Baseline
from blurlib.evaluation.examples import example_arrays, example_textured
from blurlib.evaluation.metrics import binary_metrics, precision_recall_curve, roc_curve

__all__ = [
    "SUBSETS",
    "TABLE_COLUMNS",
    "EvaluationResult",
    "evaluate",
    "format_cell",
    "model_predictor",
    "results_table",
]

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


def model_predictor(model: Any, patch: int) -> Callable[[np.ndarray], np.ndarray]:
    """Return an ``image -> (rows, cols) P(blurred)`` function for ``model``.

    A :class:`Baseline` gives its ``predict_proba``, a Keras model goes through
    :func:`blurlib.inference.windows.patch_probabilities` — a blur-kind model (heads ``kind``,
    ``direction``, ``length``) through :func:`blurlib.inference.analysis.patch_analysis`, its
    P(motion) scored as P(blurred), since a label here means motion blur or not — and any other
    callable is used as is.
    """
    if isinstance(model, Baseline):
        return model.predict_proba
    if hasattr(model, "predict"):
        from blurlib.nets.analysis import is_analysis_model

        if is_analysis_model(model):
            from blurlib.inference.analysis import patch_analysis  # lazy: imports TensorFlow

            return lambda image: patch_analysis(model, image, patch=patch).p_motion
        from blurlib.inference.windows import patch_probabilities  # lazy: imports TensorFlow

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

    ``model``: a Keras model (predictions through
    :func:`blurlib.inference.windows.patch_probabilities`, imported only here; a blur-kind
    model's P(motion), see :func:`model_predictor`), any callable
    ``image -> (rows, cols) P(blurred)`` (a :class:`Baseline` counts as one, through its
    ``predict_proba``), or ``None`` for baselines only.
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
        methods["cnn"] = model_predictor(model, patch)
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
        image, lab = example_arrays(ex, patch)
        labels.append(lab.ravel().astype(np.uint8))
        textured.append(example_textured(ex, patch, texture_threshold).ravel())
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


def format_cell(value: Any, digits: int) -> str:
    """Return a table cell: a float to ``digits`` places (nan as ``n/a``), else ``str``."""
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
            cells = [format_cell(vals.get(key, math.nan), digits) for key, _ in TABLE_COLUMNS]
            lines.append(f"| {method} | {subset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
