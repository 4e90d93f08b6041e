"""lvcd.backends.diffusion.memory_plan: the pre-flight memory check that runs before weights are moved to a CUDA
device, driven here with fake free-memory figures (the estimate itself is tested in tests/test_preflight_memory.py)."""

import logging

import pytest
import torch

from lvcd import preflight
from lvcd.backends import diffusion as api

GIB = 1024**3


def fake_free(monkeypatch, free_gib, total_gib=24.0):
    monkeypatch.setattr(preflight, "cuda_free_memory", lambda device: (int(free_gib * GIB), int(total_gib * GIB)))


def test_no_check_without_cuda(monkeypatch):
    monkeypatch.setattr(preflight, "model_cost", lambda *a, **k: pytest.fail("no estimate off CUDA"))
    assert api.memory_plan(None, "cpu", torch.bfloat16, "none", (576, 320)) == "none"


def test_fits_keeps_the_tier(monkeypatch):
    fake_free(monkeypatch, 22)
    assert api.memory_plan(None, "cuda", torch.bfloat16, "none", (576, 320)) == "none"


def test_down_tiers_with_a_warning_when_only_the_tier_must_change(monkeypatch, caplog):
    cost = preflight.model_cost(320, 576)
    peak = preflight.peak_bytes(cost, torch.bfloat16)
    free = (peak["model"] + peak["none"]) / 2 + preflight.SAFETY_MARGIN_BYTES  # room for "model", not for "none"
    fake_free(monkeypatch, free / GIB)
    with caplog.at_level(logging.WARNING, logger="lvcd"):
        assert api.memory_plan(None, "cuda", torch.bfloat16, "none", (576, 320)) == "model"
    assert "--offload model" in caplog.text


def test_nothing_fits_is_an_error_naming_the_fix_and_the_override(monkeypatch):
    fake_free(monkeypatch, 1.0)
    with pytest.raises(api.LVCDError, match="--size") as e:
        api.memory_plan(None, "cuda", torch.bfloat16, "none", (576, 320))
    assert api.MEMORY_CHECK_ENV in str(e.value)


def test_override_skips_the_check(monkeypatch):
    fake_free(monkeypatch, 1.0)
    monkeypatch.setenv(api.MEMORY_CHECK_ENV, "1")
    assert api.memory_plan(None, "cuda", torch.bfloat16, "none", (576, 320)) == "none"
