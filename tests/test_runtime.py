"""blurlib.runtime: CPU flags and the oneDNN choice for training runs."""

from __future__ import annotations

import os
import sys

import pytest

from blurlib import runtime

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512_VNNI = AVX2 | {"avx512f", "avx512bw", "avx512_vnni"}
SKYLAKE = AVX2 | {"avx512f", "avx512bw", "avx512dq"}  # AVX-512 without VNNI: oneDNN off
ORIGINAL = os.environ.get("TF_ENABLE_ONEDNN_OPTS")  # as this test process started


@pytest.fixture
def no_setting(monkeypatch):
    # setenv first, so that the variable's first state is restored after the test even when
    # the code under test sets it (delenv alone registers no undo for an absent variable)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "unset-me")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)


def test_cpu_flags_are_words_of_the_flags_line():
    flags = runtime.cpu_flags()
    assert isinstance(flags, frozenset)
    assert all(" " not in f and ":" not in f for f in flags)
    if sys.platform.startswith("linux") and flags:
        assert "fpu" in flags  # every x86 Linux flags line has it; "flags" itself is not a flag
        assert "flags" not in flags


@pytest.mark.parametrize("flags", [AVX2, SKYLAKE])
def test_cpus_without_onednn_by_default_turn_it_on_for_training(no_setting, flags):
    assert runtime.prefer_onednn_for_training(flags) is True
    assert runtime.os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


@pytest.mark.parametrize(
    "flags",
    [
        AVX512_VNNI,
        AVX2 | {"amx_tile"},
        AVX2 | {"avx_vnni"},
        frozenset(),
        frozenset({"neon", "asimd"}),
    ],
)
def test_cpus_where_the_default_is_right_are_left_alone(no_setting, flags):
    assert runtime.prefer_onednn_for_training(flags) is False
    assert "TF_ENABLE_ONEDNN_OPTS" not in runtime.os.environ


@pytest.mark.parametrize("value", ["0", "1"])
def test_the_users_setting_is_kept(no_setting, monkeypatch, value):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", value)
    assert runtime.prefer_onednn_for_training(AVX2) is False
    assert runtime.os.environ["TF_ENABLE_ONEDNN_OPTS"] == value


def test_too_late_once_tensorflow_is_imported(no_setting, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())  # it reads the variable on import
    assert runtime.prefer_onednn_for_training(AVX2) is False
    assert "TF_ENABLE_ONEDNN_OPTS" not in runtime.os.environ


def test_training_runs_record_what_decides_the_cpu_kernels(monkeypatch):
    from blurlib.training.devices import machine_info

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    info = machine_info()
    assert info["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert set(info["cpu_features"]) <= runtime.cpu_flags()
    assert info["cpu_features"] == sorted(info["cpu_features"])


def test_the_fixture_leaves_no_setting_behind():  # runs after the tests above (file order)
    assert os.environ.get("TF_ENABLE_ONEDNN_OPTS") == ORIGINAL
