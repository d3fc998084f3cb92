"""One picture for a page of tables: accuracy by method and protocol, with intervals.

:func:`plot_accuracy_bars` draws grouped bars (one group per protocol, one bar per method)
with error bars from a bootstrap interval (e.g.
:func:`blurlib.evaluation.metrics.bootstrap_by_group`, which resamples photos), a fixed 0–1
axis and a chance line. It returns a fixed-size ``Figure`` and saves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from blurlib.viz.style import CYCLE, FIGSIZE_PAIR, new_figure, styled

__all__ = ["plot_accuracy_bars"]


@styled
def plot_accuracy_bars(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    title: str | None = "Accuracy by method and blur protocol",
    ylabel: str = "accuracy (textured test patches)",
    chance: float | None = 0.5,
) -> Figure:
    """Return a grouped bar chart: ``results[protocol][method]`` = ``{"mean", "low", "high"}``.

    Groups follow the protocols' order, bars the methods' order of the first protocol; a
    missing ``low``/``high`` draws the bar without an error bar. Each bar is labelled with
    its value.
    """
    protocols = list(results)
    if not protocols:
        raise ValueError("results is empty: give protocol -> method -> {mean, low, high}")
    methods = list(dict.fromkeys(m for p in protocols for m in results[p]))
    fig = new_figure(FIGSIZE_PAIR)
    ax = fig.subplots()
    width = 0.8 / len(methods)
    x = np.arange(len(protocols), dtype=np.float64)
    for k, method in enumerate(methods):
        rows = [results[p].get(method, {}) for p in protocols]
        mean = np.array([r.get("mean", np.nan) for r in rows], dtype=np.float64)
        low = np.array([r.get("low", np.nan) for r in rows], dtype=np.float64)
        high = np.array([r.get("high", np.nan) for r in rows], dtype=np.float64)
        err = np.vstack([mean - low, high - mean])
        err = np.where(np.isfinite(err), np.clip(err, 0.0, None), 0.0)
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, mean, width * 0.92, color=CYCLE[k % len(CYCLE)], label=method)
        ax.errorbar(pos, mean, yerr=err, fmt="none", ecolor="#333333", capsize=3, linewidth=1)
        for px, m in zip(pos, mean):
            if np.isfinite(m):
                ax.text(px, 0.02, f"{m:.2f}", ha="center", va="bottom", rotation=90, fontsize=8)
    if chance is not None:
        ax.axhline(chance, color="#999999", linestyle=":", linewidth=1.2, label="chance")
    ax.set_xticks(x, labels=protocols)
    ax.set_xlabel("blur protocol of the test copies")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0.0, 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title)
    return fig
