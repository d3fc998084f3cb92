"""Shared fixtures. Plain data makers live in ``helpers.py``; fixtures built on them, used by
more than one test module, live here.

Test tiers: tests marked ``slow`` (each over ~10 s on 2 CPU cores: real training runs,
notebook executions, subprocess fits, the wheel build) are left out of the development loop
``python -m pytest -m "not slow"``; the README's plain ``python -m pytest`` runs everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import make_dataset_folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny training set (12 sources × 2 images, 150×150 PNG, box-blurred patches); read only."""
    return make_dataset_folder(tmp_path_factory.mktemp("tiny_dataset") / "data")
