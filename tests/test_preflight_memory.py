"""preflight.check_memory / cuda_free_memory: fake free-memory figures against the real architecture's estimate."""

import pytest
import torch

from lvcd import preflight
from lvcd.preflight import GIB, OFFLOAD_TIERS, SAFETY_MARGIN_BYTES, check_memory, peak_bytes

TOTAL = 24 * GIB


@pytest.fixture(scope="module")
def cost():
    return preflight.model_cost(320, 576)  # the real lvcd-svd architecture, on meta tensors


def gib(x):
    return int(x * GIB)


def budget(free_bytes):
    return free_bytes - SAFETY_MARGIN_BYTES


def test_peak_bytes_agree_with_vram_table(cost):
    for row, dt in zip(preflight.vram_table(cost), (torch.bfloat16, torch.float16, torch.float32)):
        peak = peak_bytes(cost, dt)
        for tier in OFFLOAD_TIERS:
            assert row[f"{tier}_gib"] == round(peak[tier] / GIB, 2)
        assert peak["none"] > peak["model"] > peak["sequential"]


def test_bf16_576x320_fits_in_24_gib_with_no_offload(cost):
    v = check_memory(cost, torch.bfloat16, "none", TOTAL, TOTAL)
    assert v.fits and v.suggestion is None
    assert v.needed_gib * GIB == pytest.approx(peak_bytes(cost, torch.bfloat16)["none"])
    assert v.needed_gib * GIB <= budget(TOTAL)
    assert v.free_gib == 24.0
    assert "memory ok" in v.message


def test_6_gib_free_suggests_model_offload(cost):
    free = gib(6)
    peak = peak_bytes(cost, torch.bfloat16)
    v = check_memory(cost, "bf16", "none", free, TOTAL)
    assert not v.fits
    assert v.suggestion == "--offload model"
    assert peak["none"] > budget(free)  # the chosen tier does not fit ...
    assert peak["model"] <= budget(free)  # ... the suggested one does
    assert "--offload model" in v.message and f"{v.needed_gib:.2f}" in v.message and "6.00 GiB" in v.message
    assert "other processes hold 18.00 GiB" in v.message


def test_3_5_gib_free_suggests_sequential_offload(cost):
    free = gib(3.5)
    peak = peak_bytes(cost, torch.bfloat16)
    for offload in ("none", "model"):
        v = check_memory(cost, torch.bfloat16, offload, free, TOTAL)
        assert not v.fits and v.suggestion == "--offload sequential"
        assert peak[offload] > budget(free) >= peak["sequential"]
        assert v.needed_gib * GIB == pytest.approx(peak[offload])


def test_suggests_the_fastest_tier_that_fits_for_any_free_figure(cost):
    peak = peak_bytes(cost, torch.bfloat16)
    for free in (gib(x / 4) for x in range(4, 40)):
        v = check_memory(cost, torch.bfloat16, "none", free, TOTAL)
        fitting = [t for t in OFFLOAD_TIERS if peak[t] <= budget(free)]
        assert v.fits == ("none" in fitting)
        if fitting and not v.fits:
            assert v.suggestion == f"--offload {fitting[0]}"


def test_3_gib_free_nothing_fits_and_a_smaller_size_is_suggested(cost):
    # the sequential tier needs ~2.63 GiB + the 0.5 GiB margin > 3 GiB
    free = gib(3)
    assert peak_bytes(cost, torch.bfloat16)["sequential"] > budget(free)
    v = check_memory(cost, torch.bfloat16, "none", free, TOTAL)
    assert not v.fits
    assert "any offload tier" in v.message and "--size" in v.message
    assert v.suggestion.startswith("--offload sequential --size ")
    w, h = map(int, v.suggestion.rsplit(" ", 1)[1].split("x"))
    assert w % 64 == 0 and h % 64 == 0 and w * h < 576 * 320
    smaller = preflight.model_cost(h, w)  # the suggestion really fits by the same estimate
    assert peak_bytes(smaller, torch.bfloat16)["sequential"] <= budget(free)
    assert check_memory(smaller, torch.bfloat16, "sequential", free, TOTAL).fits


def test_1_gib_free_nothing_fits_and_says_so_with_numbers(cost):
    free = gib(1)
    peak = peak_bytes(cost, torch.bfloat16)
    assert all(peak[t] > budget(free) for t in OFFLOAD_TIERS)
    v = check_memory(cost, torch.bfloat16, "none", free, TOTAL)
    assert not v.fits and v.suggestion is None
    assert "any offload tier" in v.message and "--size" in v.message
    for t in OFFLOAD_TIERS:
        assert f"{t} ~{peak[t] / GIB:.2f}" in v.message


def test_fp32_prefers_a_slower_tier_then_bf16(cost):
    p32, p16 = peak_bytes(cost, torch.float32), peak_bytes(cost, torch.bfloat16)
    free = gib(6)  # fp32 sequential fits: keep the user's precision, offload more
    assert p32["model"] > budget(free) >= p32["sequential"]
    assert check_memory(cost, torch.float32, "model", free, TOTAL).suggestion == "--offload sequential"
    free = gib(4)  # no fp32 tier fits, bf16 sequential does
    assert p32["sequential"] > budget(free) >= p16["sequential"] and p16["model"] > budget(free)
    v = check_memory(cost, "fp32", "model", free, TOTAL)
    assert not v.fits and "float32" in v.message and "any offload tier" in v.message
    assert v.suggestion == "--dtype bf16 --offload sequential"


def test_margin_is_applied(cost):
    need = int(peak_bytes(cost, torch.bfloat16)["none"])
    assert not check_memory(cost, torch.bfloat16, "none", need, TOTAL).fits  # exactly the peak: no head room
    assert check_memory(cost, torch.bfloat16, "none", need + SAFETY_MARGIN_BYTES + 1, TOTAL).fits


def test_fp16_and_bf16_estimates_match_and_fp32_is_larger(cost):
    a = check_memory(cost, torch.float16, "none", TOTAL, TOTAL)
    b = check_memory(cost, torch.bfloat16, "none", TOTAL, TOTAL)
    c = check_memory(cost, torch.float32, "none", TOTAL, TOTAL)
    assert a.needed_gib == b.needed_gib < c.needed_gib


def test_bad_offload_raises(cost):
    with pytest.raises(ValueError, match="offload"):
        check_memory(cost, torch.bfloat16, "disk", TOTAL, TOTAL)


def test_tiny_card_no_size_can_help():
    c = preflight.ModelCost(320, 576, 19, 10, 10, 10, 10, 0.0, 0.0, 0.0, 1000)
    v = check_memory(c, torch.bfloat16, "sequential", gib(1.5), gib(2))  # context + block + margin > 1.5 GiB
    assert not v.fits and v.suggestion is None and "will not help" in v.message


def test_cuda_free_memory():
    assert preflight.cuda_free_memory("cpu") is None
    got = preflight.cuda_free_memory("cuda")
    if not torch.cuda.is_available():
        assert got is None
    else:
        free, total = got
        assert 0 < free <= total
