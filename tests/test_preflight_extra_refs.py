"""Pre-flight cost of extra references (issue 15): grows with K, and a refusal with numbers when K would not fit."""

import json

import pytest

from lvcd import preflight
from lvcd.preflight import GIB, SAFETY_MARGIN_BYTES, check_memory, estimate_seconds, extra_reference_bytes, peak_bytes


@pytest.fixture(scope="module")
def cost(tiny_pipeline_dir):
    # the tiny pipeline's architecture on meta tensors (the real one counts the same layers, ~10x slower)
    return preflight.model_cost(320, 576, tiny_pipeline_dir, extra_references=True)


def test_extra_reference_cost_is_measured_on_the_real_layers(cost, tiny_pipeline_dir):
    # one side-batch frame costs about a window's frame; its keys/values span all 23 reference-attention layers
    per_frame = cost.flops_per_call / cost.window
    assert 0.5 * per_frame < cost.flops_side_per_extra < 2 * per_frame
    assert cost.flops_routed_per_extra > 0 and cost.kv_elems_per_extra > 0
    # 576x320: 40x72 tokens at the first level; K and V of its first reference-attention layer alone
    channels = json.loads((tiny_pipeline_dir / "unet" / "config.json").read_text())["block_out_channels"][0]
    assert cost.kv_elems_per_extra > 2 * 40 * 72 * channels
    assert preflight.model_cost(320, 576, tiny_pipeline_dir).kv_elems_per_extra == 0  # counted only when asked


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
    # when the render does not fit even with one reference, the usual advice stands (not the K refusal)
    small = check_memory(cost, "bf16", "none", int(base / 2), 24 * GIB, extra_refs=2)
    assert not small.fits and "extra reference(s) fit" not in small.message


def test_refuse_extra_references_only_when_k_is_what_does_not_fit(cost):
    from lvcd.errors import LVCDError
    from lvcd.options import RenderOptions

    bf16 = preflight.torch.bfloat16
    opts = RenderOptions.of(dtype="bf16")
    room = int(peak_bytes(cost, bf16)["none"] + SAFETY_MARGIN_BYTES + extra_reference_bytes(cost, bf16, 1))
    preflight.refuse_extra_references(cost, opts, "cuda", 1, free=(room, 80 * GIB))  # fits: nothing raised
    with pytest.raises(LVCDError, match="not enough GPU memory for 4 references.*at most 1 extra reference"):
        preflight.refuse_extra_references(cost, opts, "cuda", 3, free=(room, 80 * GIB))
    preflight.refuse_extra_references(cost, opts, "cuda", 3, free=(room // 4, 80 * GIB))  # the render itself
    preflight.refuse_extra_references(cost, opts, "cpu", 3, free=None)  # off CUDA: nothing to compare with
