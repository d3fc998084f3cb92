"""benchmarks/_common.py: the GEMM ceiling (no timing assertions: the machine is shared)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _common as C


def test_subprocess_runs_without_both_overrides_and_parent_env_is_unchanged(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Sandybridge")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "262144")
    before = dict(os.environ)
    m = C.numpy_matmul_ceiling(n=32, repeats=1)
    # the snippet reports os.environ.get(...) of both variables as the subprocess saw them
    assert m.info["env"] == {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}
    assert m.gflops is not None and m.gflops > 0
    assert "unset, subprocess" in m.label
    assert dict(os.environ) == before
    assert os.environ["OPENBLAS_CORETYPE"] == "Sandybridge"
    assert os.environ["OPENBLAS_L2_SIZE"] == "262144"


def test_subprocess_reports_threadpoolctl_info_or_degrades():
    m = C.numpy_matmul_ceiling(n=16, repeats=1)
    blas = m.info["blas"]
    if blas is None:  # threadpoolctl absent: still a rate, and the label says so
        assert "no threadpoolctl" in m.label
    else:
        assert blas and {"internal_api", "architecture", "version", "num_threads"} <= set(blas[0])


def test_in_process_measurement_names_the_overrides(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    m = C.measure_numpy_in_process(n=16, repeats=1)
    assert "OPENBLAS_CORETYPE=Haswell" in m.label and m.info["env"] == {
        "OPENBLAS_CORETYPE": "Haswell"
    }


def fake(key: str, label: str, rate: float | None):
    def measure(n: int, repeats: int) -> C.Measurement:
        if rate is None:
            raise ImportError("no such framework")
        return C.Measurement(key, label, rate)

    measure.__name__ = key
    return measure


@pytest.mark.parametrize("rates", [(494, 410, 255), (100, 410, 255), (1, 2, 3)])
def test_gemm_ceiling_picks_the_max(rates):
    measurers = [fake(f"m{i}", f"label {i}", r) for i, r in enumerate(rates)]
    c = C.gemm_ceiling(n=8, repeats=1, measurers=measurers)
    assert c.gflops == max(rates)
    assert c.best.key == f"m{rates.index(max(rates))}"
    assert c.describe().startswith(
        f"ceiling {max(rates)} GFLOP/s (label {rates.index(max(rates))})"
    )


def test_default_measurers_are_monkeypatchable(monkeypatch):
    monkeypatch.setattr(C, "numpy_matmul_ceiling", fake("numpy_subprocess", "sub", 494.0))
    monkeypatch.setattr(C, "measure_framework", fake("tf", "TF matmul", 410.0))
    monkeypatch.setattr(C, "measure_numpy_in_process", fake("numpy_in_process", "in", 255.0))
    c = C.gemm_ceiling()
    assert c.best.key == "numpy_subprocess" and c.gflops == 494.0
    assert c.describe() == "ceiling 494 GFLOP/s (sub); TF matmul 410; in 255"
    assert c.as_dict()["best"] == "numpy_subprocess"


def test_describe_names_every_measurement_including_failures():
    measurers = [fake("a", "numpy sub", 300.0), fake("b", "TF matmul", None), fake("c", "x", 9.0)]
    c = C.gemm_ceiling(n=8, repeats=1, measurers=measurers)
    line = c.describe()
    for label in ("numpy sub", "x 9"):
        assert label in line
    # a measurer that raised is named by its function and the error
    assert "b: unavailable (ImportError: no such framework)" in line
    assert c.gflops == 300.0


def test_no_measurement_at_all_raises():
    c = C.gemm_ceiling(n=8, repeats=1, measurers=[fake("a", "a", None)])
    with pytest.raises(RuntimeError, match="no GEMM measurement"):
        _ = c.best


def test_kernel_name_prefers_numpys_own_blas():
    cv2_lib = {"internal_api": "openblas", "architecture": "Prescott", "filepath": "/x/cv2.libs/o"}
    np_lib = {"internal_api": "openblas", "architecture": "SkylakeX", "filepath": "/x/numpy.libs/o"}
    assert C.kernel_name([cv2_lib, np_lib]) == "OpenBLAS SkylakeX kernel"
    assert C.kernel_name([cv2_lib]) == "OpenBLAS Prescott kernel"
    assert C.kernel_name(None) == "BLAS unknown (no threadpoolctl)"
