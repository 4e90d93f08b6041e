"""Pre-flight cost of extra references (issue 15): grows with K, and a refusal with numbers when K would not fit."""
import pytest

from lvcd import preflight
from lvcd.preflight import GIB, SAFETY_MARGIN_BYTES, check_memory, estimate_seconds, extra_reference_bytes, peak_bytes


@pytest.fixture(scope="module")
def cost():
    return preflight.model_cost(320, 576)  # the real lvcd-svd architecture, on meta tensors


def test_extra_reference_cost_is_measured_on_the_real_layers(cost):
    # one side-batch frame costs about a window's frame; its keys/values span all 23 reference-attention layers
    per_frame = cost.flops_per_call / cost.window
    assert 0.5 * per_frame < cost.flops_side_per_extra < 2 * per_frame
    assert cost.flops_routed_per_extra > 0 and cost.kv_elems_per_extra > 0
    # 576x320: 40x72 tokens at the first level; 2 (K, V) x 2880 tokens x 320 channels in the first layer alone
    assert cost.kv_elems_per_extra > 2 * 2880 * 320


def test_memory_and_time_grow_with_k(cost):
    peaks = [peak_bytes(cost, preflight.torch.bfloat16, k)["none"] for k in range(4)]
    assert peaks[0] < peaks[1] < peaks[2] < peaks[3]
    assert peaks[3] - peaks[2] == pytest.approx(peaks[2] - peaks[1])  # linear beyond the first (tiles)
    times = [estimate_seconds(cost, 100, 25, "h100", k) for k in range(4)]
    assert times[0] < times[1] < times[2] < times[3]
    assert peaks[0] == peak_bytes(cost, preflight.torch.bfloat16)["none"]  # K = 1 unchanged


def test_refusal_names_k_and_how_many_fit(cost):
    bf16 = preflight.torch.bfloat16
    base = peak_bytes(cost, bf16)["none"]
    one = extra_reference_bytes(cost, bf16, 1)
    each = extra_reference_bytes(cost, bf16, 2) - one
    free = int(base + one + each + SAFETY_MARGIN_BYTES + each / 2)  # room for 2 extra references, not 3
    assert check_memory(cost, "bf16", "none", free, 80 * GIB, extra_refs=2).fits
    v = check_memory(cost, "bf16", "none", free, 80 * GIB, extra_refs=5)
    assert not v.fits
    assert "6 references" in v.message and "at most 2 extra reference(s) fit" in v.message
    assert f"~{each / GIB:.3f} GiB" in v.message
    # when even one reference does not fit, the usual tier advice stands
    small = check_memory(cost, "bf16", "none", int(base / 2), 24 * GIB, extra_refs=2)
    assert not small.fits and small.suggestion is not None
