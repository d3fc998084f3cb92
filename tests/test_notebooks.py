"""The course notebooks: their structure, a quick papermill run with a non-default seed
(through ``python -m blurlib reproduce``'s code), and nbval against the committed outputs.

nbval design (see notebooks/README.md): the committed notebooks hold the outputs of the
DEFAULT run. ``test_nbval_committed_outputs`` runs ``pytest --nbval-lax`` over copies of
them into which papermill's own ``parameterize_notebook`` injected ``quick=True`` and
temporary folders (the committed outputs stay in the copies); only the cells marked
``# NBVAL_CHECK_OUTPUT`` are compared, and those print only what does not depend on
``quick`` or on the folders (kernels, label matrices, parameter counts, FLOPs, presets,
photo geometry). So the test costs a quick run, not a second default run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from blurlib.commands import reproduce as repro
from blurlib.errors import BlurlibError

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = repro.NOTEBOOKS
SANITIZE = NB_DIR / "nbval_sanitize.cfg"
CORE_PARAMETERS = {
    "seed",
    "quick",
    "data_source",
    "voc_root",
    "n_images",
    "epochs",
    "batch_size",
    "data_dir",
    "run_dir",
    "figures_dir",
}
MAX_DEF_LINES = 3  # a notebook may define a helper of at most this many lines; more → blurlib
QUICK_IMAGES = 6  # 01's quick=True size
FIGURES = {
    "01_blur_process",
    "01_splitting",
    "01_labelled_image",
    "01_kernels",
    "01_dataset_example",
    "02_training_report_lr0.01",
    "02_training_report_lr1e-3",
    "02_training_compact",
    "02_full_schedule_lr0.01",
    "02_full_schedule_lr1e-3",
    "03_predictions_test_photo",
    "03_blur_map_test_photo",
    "03_blur_map_sharp_photo",
    "03_predictions_clock",
    "03_blur_map_clock",
    "04_confusion_matrix",
    "04_roc_pr",
    "04_summary_bars",
    "05_kinds_motion",
    "05_arrows_motion",
    "05_kinds_defocus",
    "05_arrows_clock",
    "05_directions_clock",
}


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NB_DIR / name, as_version=4)


def _code(cell: nbformat.NotebookNode) -> str:
    """A code cell's source without IPython magics and shell escapes (not Python syntax)."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines()
    )


def long_definitions(source: str, limit: int = MAX_DEF_LINES) -> list[str]:
    """Names of the functions/classes in ``source`` that span more than ``limit`` lines."""
    return [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and node.end_lineno - node.lineno + 1 > limit
    ]


def _repo_outputs() -> dict[str, int]:
    """mtimes of what a course run could write into the repository: its figures, its models."""
    paths = [ROOT / "figures" / f"{name}.png" for name in FIGURES]
    paths += [*(ROOT / "models").glob("motionblur*"), ROOT / "blurlib" / "nets" / "default.keras"]
    return {str(p): p.stat().st_mtime_ns for p in paths if p.exists()}


# ------------------------------------------------------------------------------ structure


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_parameters_cell_with_every_core_knob(name):
    nb = _read(name)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name}: {len(tagged)} cells tagged 'parameters', want exactly 1"
    assert tagged[0].cell_type == "code"
    import papermill

    declared = set(papermill.inspect_notebook(str(NB_DIR / name)))
    assert CORE_PARAMETERS <= declared, f"{name} lacks {sorted(CORE_PARAMETERS - declared)}"
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_long_function_or_class_definitions(name):
    nb = _read(name)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            found = long_definitions(_code(cell))
            assert not found, f"{name} cell {k} defines {found}: move it into blurlib"


def test_long_definition_checker_itself():
    assert long_definitions("f = lambda x: x\ndef g(x):\n    return x\n") == []
    src = "class A:\n    a = 1\n    b = 2\n    c = 3\n\n"
    src += "def h():\n    x = 1\n    y = 2\n    return x\n"
    assert long_definitions(src) == ["A (4 lines)", "h (4 lines)"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_with_the_outputs_of_the_default_run(name):
    nb = _read(name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), f"{name} is not fully executed"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name} was committed with an error: {errors[0].ename}"
    tags = [t for c in nb.cells for t in c.get("metadata", {}).get("tags", [])]
    assert "injected-parameters" not in tags, f"{name}: commit the DEFAULT run (no papermill -p)"
    checked = [c for c in code if "# NBVAL_CHECK_OUTPUT" in c.source]
    assert checked and all(c.outputs for c in checked), f"{name}: no checked cell with output"


# ------------------------------------------------------------------------------ reproduce


def test_reproduce_parameters_and_errors(tmp_path):
    params = repro.course_parameters(tmp_path / "o", quick=True, seed=3, figures=tmp_path / "f")
    assert params["seed"] == 3 and params["quick"] is True
    assert params["data_dir"] == str((tmp_path / "o" / "data").resolve())
    assert params["figures_dir"] == str((tmp_path / "f").resolve())
    assert repro.parse_assignments(
        ["n_images=7", "kernel=mixed", "split_fractions=[0.5,0.25,0.25]"]
    ) == {
        "n_images": 7,
        "kernel": "mixed",
        "split_fractions": [0.5, 0.25, 0.25],
    }
    with pytest.raises(BlurlibError, match="NAME=VALUE"):
        repro.parse_assignments(["n_images"])
    with pytest.raises(BlurlibError, match="needs --voc-root"):
        repro.course_parameters(tmp_path, data_source="voc2010")
    with pytest.raises(BlurlibError, match="no such file"):
        repro.course_parameters(tmp_path, data_source="voc2010", voc_root=tmp_path / "nope")
    with pytest.raises(BlurlibError, match="no such folder"):
        repro.course_parameters(tmp_path, data_source="nowhere-at-all")
    with pytest.raises(BlurlibError, match="at least 1"):
        repro.course_parameters(tmp_path, epochs=0)
    with pytest.raises(BlurlibError, match="no notebook has a parameter named bogus"):
        repro.reproduce(tmp_path / "o", {**params, "bogus": 1}, log=lambda _: None)


def test_reproduce_cli_one_line_error(tmp_path):
    parser = argparse.ArgumentParser()
    repro.add_parser(parser.add_subparsers())
    args = parser.parse_args(["reproduce", "--out", str(tmp_path), "--data-source", "voc2010"])
    with pytest.raises(BlurlibError) as info:
        args.func(args)
    assert "\n" not in str(info.value)
    from blurlib import cli

    if "reproduce" in cli.COMMANDS:
        assert cli.main(["reproduce", "--data-source", "voc2010", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("failure", ["cell error", "interrupt"])
def test_failed_or_interrupted_run_keeps_previous_outputs(tmp_path, monkeypatch, failure):
    import papermill

    target = tmp_path / "out" / "notebooks" / NOTEBOOKS[0]
    target.parent.mkdir(parents=True)
    target.write_text("previous run")

    def broken(source, output, **kwargs):
        Path(output).write_text("half written")
        if failure == "interrupt":
            raise KeyboardInterrupt
        raise papermill.PapermillExecutionError(
            3, 7, "generate(...)", "DatasetError", "no photos\nmore", []
        )

    monkeypatch.setattr(papermill, "execute_notebook", broken)
    params = repro.course_parameters(tmp_path / "out", quick=True, figures=tmp_path / "f")
    expected = BlurlibError if failure == "cell error" else KeyboardInterrupt
    with pytest.raises(expected) as info:
        repro.reproduce(tmp_path / "out", params, log=lambda _: None)
    assert target.read_text() == "previous run"
    leftovers = sorted(p.name for p in target.parent.iterdir())
    if failure == "cell error":
        message = str(info.value)
        assert "01_generate_data.ipynb failed in cell [7]: DatasetError: no photos" in message
        assert "\n" not in message
        assert leftovers == sorted([NOTEBOOKS[0], "01_generate_data.failed.ipynb"])
    else:
        assert leftovers == [NOTEBOOKS[0]]


# ------------------------------------------------------------------------------ execution


@pytest.mark.slow
@pytest.mark.notebooks
def test_quick_run_with_a_non_default_seed(tmp_path):
    """papermill over 01 → 04 with quick=True, seed=7 and temporary folders."""
    from blurlib.data import dataset
    from blurlib.nets.files import load_model

    seed = 7
    out, figs = tmp_path / "out", tmp_path / "figures"
    repo_state = _repo_outputs()
    params = repro.course_parameters(out, quick=True, seed=seed, figures=figs)
    done = repro.reproduce(out, params, log=lambda _: None)

    assert list(done) == list(NOTEBOOKS)
    for path in done.values():
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.papermill.parameters["seed"] == seed
        assert nb.metadata.papermill.parameters["quick"] is True
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]

    # 01: the seed reached generate(): the data set is the one this seed makes, not seed 0's
    data = out / "data"
    meta = dataset.load_metadata(data)
    assert meta["seed"] == seed and len(meta["images"]) == QUICK_IMAGES
    labels = dataset.load_labels(data)
    for s in (seed, 0):
        dataset.generate(tmp_path / f"ref{s}", n=QUICK_IMAGES, seed=s, progress=False)
    same = dataset.load_labels(tmp_path / f"ref{seed}")
    other = dataset.load_labels(tmp_path / "ref0")
    assert all(np.array_equal(a, b) for a, b in zip(labels, same, strict=True))
    assert not all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(labels, other, strict=True)
    )

    # 02: models and the numbers it recorded
    run = out / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["seed"] == seed and metrics["quick"] is True
    assert set(metrics["runs"]) == {"report_lr0.01", "report_lr1e-3", "compact"}
    # seed 7, quick: this run's numbers. One epoch leaves the nets near chance (they call
    # almost every patch blurred: accuracy ≈ the share of blurred patches), so the pins
    # mostly guard the data, split and patch counts; a patch of the 289 is 0.0035
    expect = {
        "report_lr0.01": (0.5121, 1112),
        "report_lr1e-3": (0.4879, 1112),
        "compact": (0.4879, 966),
    }
    for name, r in metrics["runs"].items():
        assert r["epochs"] == 1, name
        assert r["train_patches"] == expect[name][1], name
        assert r["val_accuracy"] == pytest.approx(expect[name][0], abs=0.03), name
    assert json.loads((run / "split.json").read_text())["seed"] == seed
    sides = metrics["split"]
    assert not set(sides["train"]) & set(sides["test"])
    net = load_model(run / "motionblur.keras")
    assert tuple(net.outputs[0].shape)[1:] == (2,)
    assert (run / "motionblur.h5").stat().st_size > 0

    # 03 and 04: the numbers they recorded
    pred = json.loads((run / "predictions.json").read_text())
    assert pred["seed"] == seed and pred["test_source"] in sides["test"]
    assert pred["test_source"] == "astronaut" and pred["clock_detected"] == pytest.approx(1.0)
    assert pred["test_photo_accuracy"] == pytest.approx(
        {"all": 0.4879, "textured": 0.4930}, abs=0.03
    )
    ev = json.loads((run / "evaluation.json").read_text())
    assert ev["seed"] == seed and ev["test_photos"] == sides["test"]
    assert ev["suite"]["variants"] == 1 and ev["suite"]["seed"] == seed
    assert set(ev["suite"]["protocols"]) == {"report", "linear", "shake"}
    assert {"cnn", "laplacian"} <= set(ev["test"])
    cnn, laplacian = ev["test"]["cnn"]["textured"], ev["test"]["laplacian"]["textured"]
    assert (cnn["n"], cnn["n_pos"]) == (215, 106)
    assert cnn["accuracy"] == pytest.approx(0.4930, abs=0.03)
    assert laplacian["accuracy"] == pytest.approx(0.8326, abs=0.01)  # no training: numerics only

    # figures went to the folder given, nothing to the repository's figures/ or models/
    written = {p.stem for p in figs.glob("*.png") if p.stat().st_size > 0}
    assert FIGURES <= written, sorted(FIGURES - written)
    assert _repo_outputs() == repo_state


@pytest.mark.slow
@pytest.mark.notebooks
def test_nbval_committed_outputs(tmp_path):
    """pytest --nbval-lax over the committed notebooks, parameterised to quick=True."""
    from papermill.parameterize import parameterize_notebook

    params = {
        "quick": True,
        "data_dir": str(tmp_path / "data"),
        "run_dir": str(tmp_path / "run"),
        "figures_dir": str(tmp_path / "figures"),
    }
    copies = []
    for name in NOTEBOOKS:
        nb = parameterize_notebook(_read(name), params)
        nbformat.write(nb, tmp_path / name)
        copies.append(str(tmp_path / name))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax"]
    cmd += ["--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "600", *copies]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    assert not (ROOT / "notebooks" / "runs").exists()
