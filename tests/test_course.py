"""The course as a course: every chapter ends with a summary, a questionnaire and 4–6
exercises of graded difficulty; every exercise has a solution in ``solutions/``; the
solutions run (papermill-parameterised to ``quick=True``, then nbval against their committed
outputs, as ``test_notebooks`` does for the chapters)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_notebooks import NOTEBOOKS, SANITIZE, long_definitions

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
CHAPTERS = [name for name in NOTEBOOKS if name[:2] in ("01", "02", "03", "04", "05")]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _markdown(nb: nbformat.NotebookNode) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def section(text: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``#``/``##`` heading ('' if absent)."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


def numbered(text: str) -> list[str]:
    """The numbered items ('1. …') at the start of a line."""
    return re.findall(r"^(\d+)\. ", text, re.M)


def _solution_path(chapter: str) -> Path:
    return SOLUTIONS / f"{chapter[:2]}_solutions.ipynb"


def test_section_parser_itself():
    text = "# T\n## Summary\n* a\n## Exercises\n1. ★ x\n   more\n2. ★★ y\n## Next\n3. z\n"
    assert numbered(section(text, "Exercises")) == ["1", "2"]
    assert section(text, "Questionnaire") == ""


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_ends_with_summary_questionnaire_and_exercises(name):
    text = _markdown(_read(ROOT / "notebooks" / name))
    assert section(text, "Summary").strip(), f"{name}: no '## Summary'"
    questions = numbered(section(text, "Questionnaire"))
    assert len(questions) >= 5, f"{name}: questionnaire has {len(questions)} questions"
    exercises = section(text, "Exercises")
    items = numbered(exercises)
    assert 4 <= len(items) <= 6, f"{name}: {len(items)} exercises, want 4–6"
    assert items == [str(k) for k in range(1, len(items) + 1)]
    stars = [len(s) for s in re.findall(r"^\d+\. (★+)", exercises, re.M)]
    assert len(stars) == len(items), f"{name}: every exercise needs a difficulty (★, ★★, ★★★)"
    assert stars == sorted(stars) and len(set(stars)) >= 2, f"{name}: difficulties {stars}"
    assert _solution_path(name).name in exercises, f"{name}: exercises do not name their solutions"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_exercise_has_a_solution(name):
    items = numbered(section(_markdown(_read(ROOT / "notebooks" / name)), "Exercises"))
    path = _solution_path(name)
    assert path.is_file(), f"{name}: no {path.relative_to(ROOT)}"
    nb = _read(path)
    text = _markdown(nb)
    solved = re.findall(r"^## Exercise (\d+)\s*$", text, re.M)
    assert solved == items, f"{path.name}: solutions {solved} for exercises {items}"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and "quick" in tagged[0].source
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    for k, cell in enumerate(code):
        found = long_definitions(
            "\n".join(
                "" if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.source.splitlines()
            )
        )
        assert not found, f"{path.name} code cell {k} defines {found}: move it into blurlib"
    assert all(c.execution_count is not None for c in code), f"{path.name} is not executed"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was committed with an error"
    assert any("# NBVAL_CHECK_OUTPUT" in c.source and c.outputs for c in code)


@pytest.mark.slow
@pytest.mark.notebooks
def test_solutions_run_and_match_their_committed_outputs(tmp_path):
    """papermill's parameterize_notebook injects quick=True; nbval runs every solution and
    compares the cells marked # NBVAL_CHECK_OUTPUT with the committed outputs."""
    from papermill.parameterize import parameterize_notebook

    copies = []
    for path in sorted(SOLUTIONS.glob("*_solutions.ipynb")):
        nbformat.write(parameterize_notebook(_read(path), {"quick": True}), tmp_path / path.name)
        copies.append(str(tmp_path / path.name))
    assert len(copies) == len(CHAPTERS)
    # the kernel's own (inline) backend, as when the outputs were committed: with CI's
    # MPLBACKEND=Agg a checked cell that shows a figure would lose its output
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax"]
    cmd += ["--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "300", *copies]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


# ------------------------------------------------------------- library pieces the course uses


def test_split_patches_at_random_is_a_seeded_partition():
    from blurlib.training.split import split_patches_at_random

    a = split_patches_at_random(103, (0.8, 0.0, 0.2), seed=4)
    assert [len(a[s]) for s in ("train", "val", "test")] == [82, 0, 21]
    both = np.concatenate([a["train"], a["test"]])
    assert sorted(both.tolist()) == list(range(103))
    b = split_patches_at_random(103, (0.8, 0.0, 0.2), seed=4)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not np.array_equal(
        a["test"], split_patches_at_random(103, (0.8, 0, 0.2), seed=5)["test"]
    )
    counts = split_patches_at_random(10, (7, 1, 2), seed=0)  # counts work as fractions
    assert [len(counts[s]) for s in ("train", "val", "test")] == [7, 1, 2]
    with pytest.raises(ValueError):
        split_patches_at_random(10, (0.5, 0.5))


def test_bootstrap_by_group_resamples_photos_not_patches():
    from blurlib.evaluation.metrics import bootstrap_by_group

    correct = np.r_[np.ones(100), np.zeros(100)]
    photos = np.repeat(["a", "b"], 100)  # one photo all right, one all wrong
    by_photo = bootstrap_by_group(correct, photos, seed=0)
    assert by_photo["mean"] == 0.5 and by_photo["groups"] == 2
    assert by_photo["low"] == 0.0 and by_photo["high"] == 1.0  # {a,a}, {a,b}, {b,b}
    by_patch = bootstrap_by_group(correct, np.arange(200), seed=0)
    assert 0.4 < by_patch["low"] < 0.5 < by_patch["high"] < 0.6
    assert bootstrap_by_group(correct, photos, seed=0) == by_photo
    one = bootstrap_by_group([1, 0, 1, 1], ["x"] * 4)
    assert one["low"] == one["high"] == one["mean"] == 0.75
    with pytest.raises(ValueError, match="must match"):
        bootstrap_by_group([1, 0], ["a"])


def test_accuracy_bars_and_curves_on_a_fixed_axis(tmp_path):
    from blurlib.viz.curves import plot_training_curves
    from blurlib.viz.summary import plot_accuracy_bars

    bars = plot_accuracy_bars(
        {
            "report": {"cnn": {"mean": 0.9, "low": 0.8, "high": 0.95}, "laplacian": {"mean": 0.7}},
            "linear": {"cnn": {"mean": 0.6, "low": 0.5, "high": 0.7}},
        }
    )
    ax = bars.axes[0]
    assert ax.get_ylim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["report", "linear"]
    assert len(ax.patches) == 4  # 2 protocols × 2 methods (a missing one draws nothing)
    with pytest.raises(ValueError):
        plot_accuracy_bars({})
    log = {
        "loss": [0.7, 0.6],
        "accuracy": [0.5, 0.6],
        "val_loss": [0.7, 0.65],
        "val_accuracy": [0.5, 0.55],
    }
    acc = plot_training_curves(log).axes[1]
    assert acc.get_ylim() == (0.0, 1.0)
    assert "chance" in [line.get_label() for line in acc.get_lines()]
