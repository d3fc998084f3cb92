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
import pytest
from test_notebooks import NOTEBOOKS, SANITIZE, long_definitions

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
CHAPTERS = [name for name in NOTEBOOKS if name[:2] in ("01", "02", "03", "04")]


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
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax"]
    cmd += ["--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "300", *copies]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
