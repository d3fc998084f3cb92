"""A built wheel works on its own: the default model is package data, found from any folder.

Builds the wheel offline from a copy of the sources (the working tree stays clean), installs
it with ``pip install --target`` and runs ``load_model()`` and ``python -m blurlib predict``
from an unrelated folder with only the installed copy on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, quiet: bool = False) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    if quiet:  # nothing on stderr but blurlib's own lines: no TensorFlow/absl start-up notices
        assert proc.stderr == "", proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_wheel_ships_the_default_model(tmp_path):
    pytest.importorskip("setuptools")
    cv2 = pytest.importorskip("cv2")

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "blurlib", src / "blurlib", ignore=ignore)

    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, "."], src)
    (wheel,) = dist.glob("blurlib-*.whl")
    assert "blurlib/nets/default.keras" in zipfile.ZipFile(wheel).namelist()

    site = tmp_path / "site"
    _run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel], tmp_path)
    assert (site / "blurlib" / "nets" / "default.keras").is_file()

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    rng = np.random.default_rng(0)
    photo = cwd / "photo.png"
    noise = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    cv2.imwrite(str(photo), noise)
    cv2.imwrite(str(cwd / "streaked.png"), cv2.blur(noise, (15, 1)))  # 15-px horizontal blur
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}

    code = (
        "import blurlib, blurlib.nets.files as f; from blurlib.model import load_model; "
        "m = load_model(); print(blurlib.__file__); print(f.DEFAULT_MODEL_PATH); print(m.name)"
    )
    lines = _run([sys.executable, "-c", code], cwd, env).strip().splitlines()[-3:]
    package_file, model_file = Path(lines[0]).resolve(), Path(lines[1]).resolve()
    assert package_file.is_relative_to(site.resolve()), package_file
    assert model_file == (site / "blurlib" / "nets" / "default.keras").resolve()

    out = cwd / "out"
    args = [sys.executable, "-m", "blurlib", "predict", photo.name, "streaked.png", "--out", "out"]
    text = _run(args, cwd, env, quiet=True)
    # the shipped model (this run, default.keras of 2d4a610): pixel noise is sharp, every
    # window; the same noise streaked by a 15-px motion blur is blurred nearly everywhere
    assert "0.0% blurred (0/117 textured windows)" in text, text
    bmap = np.load(out / "photo_blurmap.npy")
    assert bmap.shape == (64, 80) and bmap.dtype == np.float32
    assert bmap.max() < 0.01
    streaked = np.load(out / "streaked_blurmap.npy")
    assert streaked.mean() == pytest.approx(0.975, abs=0.03)
    assert (out / "photo_blurmap.png").is_file()
