"""The stable import paths of the networks and of inference: ``blurlib.model`` and
``blurlib.predict`` are facades over :mod:`blurlib.nets` and :mod:`blurlib.inference` that
name the same objects as before the split, and nothing else."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import blurlib

PACKAGE = Path(blurlib.__file__).resolve().parent

# name -> the module that defines it
MODEL_API = {
    "MODEL_NAMES": "blurlib.nets.builders",
    "build_model": "blurlib.nets.builders",
    "compile_model": "blurlib.nets.builders",
    "blur_probability": "blurlib.nets.builders",
    "count_params": "blurlib.nets.flops",
    "count_flops": "blurlib.nets.flops",
    "summary_line": "blurlib.nets.flops",
    "DEFAULT_MODEL_PATH": "blurlib.nets.files",
    "MODEL_SUFFIXES": "blurlib.nets.files",
    "default_model_path": "blurlib.nets.files",
    "save_model": "blurlib.nets.files",
    "check_model": "blurlib.nets.files",
    "load_model": "blurlib.nets.files",
    "native_stride": "blurlib.nets.fully_conv",
    "to_fully_convolutional": "blurlib.nets.fully_conv",
}
PREDICT_API = {
    "DEFAULT_STRIDE": "blurlib.inference.windows",
    "DEFAULT_TILE": "blurlib.inference.windows",
    "DEFAULT_BATCH": "blurlib.inference.windows",
    "fully_convolutional": "blurlib.inference.windows",
    "clear_cache": "blurlib.inference.windows",
    "window_grid_shape": "blurlib.inference.windows",
    "patch_probabilities": "blurlib.inference.windows",
    "window_probabilities": "blurlib.inference.windows",
    "windows_by_cropping": "blurlib.inference.windows",
    "windows_to_map": "blurlib.inference.maps",
    "blur_map": "blurlib.inference.maps",
    "predict_many": "blurlib.inference.maps",
    "TEXTURE_STD": "blurlib.inference.photos",
    "window_std": "blurlib.inference.photos",
    "window_detail": "blurlib.inference.photos",
    "texture_mask": "blurlib.inference.photos",
    "PhotoResult": "blurlib.inference.photos",
    "analyse": "blurlib.inference.photos",
    "save_outputs": "blurlib.inference.photos",
    "patch_analysis": "blurlib.inference.analysis",
    "dense_analysis": "blurlib.inference.analysis",
    "kind_maps": "blurlib.inference.analysis",
    "PatchAnalysis": "blurlib.inference.analysis",
    "summarize_analysis": "blurlib.inference.analysis",
    "rank_photos": "blurlib.inference.rank",
    "PhotoRecord": "blurlib.inference.rank",
}
# what README.md, DESIGN.md and the notebooks use through the facades
DOCUMENTED = {
    "blurlib.model": [
        "build_model",
        "load_model",
        "save_model",
        "count_flops",
        "summary_line",
        "MODEL_NAMES",
        "DEFAULT_MODEL_PATH",
    ],
    "blurlib.predict": [
        "patch_probabilities",
        "blur_map",
        "window_probabilities",
        "patch_analysis",
        "rank_photos",
    ],
}


@pytest.mark.parametrize(
    ("facade", "api"), [("blurlib.model", MODEL_API), ("blurlib.predict", PREDICT_API)]
)
def test_facade_names_the_objects_of_their_home_modules(facade, api):
    mod = importlib.import_module(facade)
    assert sorted(mod.__all__) == sorted(api)
    for name, home in api.items():
        assert getattr(mod, name) is getattr(importlib.import_module(home), name), name


@pytest.mark.parametrize("facade", sorted(DOCUMENTED))
def test_documented_names_are_in_the_facades(facade):
    mod = importlib.import_module(facade)
    for name in DOCUMENTED[facade]:
        assert name in mod.__all__ and hasattr(mod, name), f"{facade}.{name}"


@pytest.mark.parametrize("facade", ["model", "predict"])
def test_facades_only_import_and_list(facade):
    """No code in a facade: a docstring, imports and ``__all__``."""
    tree = ast.parse((PACKAGE / f"{facade}.py").read_text(encoding="utf-8"))
    body = tree.body[1:]
    assert isinstance(tree.body[0], ast.Expr) and "stable import path" in tree.body[0].value.value
    assert all(isinstance(node, (ast.ImportFrom, ast.Assign)) for node in body)
    assigns = [node for node in body if isinstance(node, ast.Assign)]
    assert [t.id for node in assigns for t in node.targets] == ["__all__"]


@pytest.mark.parametrize("package", ["nets", "inference"])
def test_subpackages_do_not_reexport(package):
    """``__init__`` is a docstring only; each module imports from the modules that define
    the names and does not pass other modules' names on (no ``__all__`` of imports)."""
    folder = PACKAGE / package
    init = ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))
    assert len(init.body) == 1 and isinstance(init.body[0], ast.Expr)
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "__all__" not in text, path.name
        assert len(text.splitlines()) <= 500, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module not in ("blurlib.model", "blurlib.predict"), path.name


def test_blurlib_code_uses_the_home_modules():
    """Inside blurlib, nothing imports through the model / predict facades."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in ("model.py", "predict.py") and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in (
                "blurlib.model",
                "blurlib.predict",
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}: from {node.module}")
            if isinstance(node, ast.ImportFrom) and node.module == "blurlib":
                names = {a.name for a in node.names}
                if names & {"model", "predict"}:
                    offenders.append(f"{path.relative_to(PACKAGE)}: from blurlib import {names}")
    assert not offenders, offenders


def test_default_model_is_package_data_of_blurlib_nets():
    from importlib import resources

    from blurlib.nets import files

    ref = resources.files("blurlib.nets") / "default.keras"
    assert ref.is_file()
    assert files.DEFAULT_MODEL_PATH == ref
    text = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert '"blurlib.nets" = ["default.keras"]' in text
