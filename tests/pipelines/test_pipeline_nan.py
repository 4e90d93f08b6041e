"""NaN guard of LVCDPipeline.iter_segments: non-finite final latents of a window raise NonFiniteLatentsError.

Runs the short tiny pipeline (windows of 1 + 1 + 4 frames): two windows take 6 frames instead of 16."""

from types import SimpleNamespace

import pytest
import torch

from lvcd.pipelines import LVCDPipeline, NonFiniteLatentsError
from lvcd.pipelines.tiny import SHORT_OVERLAP
from lvcd.sampling import SegmentConfig, plan_segments

H = W = 64
STEPS = 2
N = 6  # two short windows: 0 covers source frames 1-4, 1 covers 4-5 (padded to 4-7)


def inputs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        sketches=torch.rand(n, 3, H, W, generator=g),
        reference=torch.rand(1, 3, H, W, generator=g) * 2 - 1,
        num_inference_steps=STEPS,
        generator=torch.Generator().manual_seed(seed),
        output_type="latent",
        overlap=SHORT_OVERLAP,
    )


def nan_from_call(pipe, first_bad_call):
    """Forward hook (test only) making the UNet output NaN from its `first_bad_call`-th call on."""
    calls = {"n": 0}

    def hook(module, args, out):
        calls["n"] += 1
        if calls["n"] > first_bad_call:
            sample = out[0] if isinstance(out, tuple) else out.sample
            sample.fill_(float("nan"))
        return out

    return pipe.unet.register_forward_hook(hook)


def test_normal_run_does_not_raise(tiny_pipe_short):
    out = tiny_pipe_short(**inputs(N))
    assert torch.isfinite(out.latents).all()
    assert out.latents.shape[0] == N


def test_nan_in_second_window_raises_naming_window_frames_dtype_and_fix(tiny_pipe_short):
    tiny_pipe = tiny_pipe_short
    assert len(plan_segments(N, tiny_pipe.segment_config(SHORT_OVERLAP))) == 2
    handle = nan_from_call(tiny_pipe, first_bad_call=STEPS)  # window 0 is clean, window 1 is not
    try:
        with pytest.raises(NonFiniteLatentsError) as exc:
            tiny_pipe(**inputs(N))
    finally:
        handle.remove()
    msg = str(exc.value)
    assert "window 1 " in msg
    assert "source frames 4-5 of 6" in msg
    assert "float32" in msg
    assert "use --dtype bf16 (the CUDA default) or fp32" in msg
    assert isinstance(exc.value, FloatingPointError)
    # the hook is gone: the shared pipeline works again
    assert torch.isfinite(tiny_pipe(**inputs(N)).latents).all()


def test_windows_before_the_bad_one_are_still_yielded(tiny_pipe_short):
    pipe = tiny_pipe_short
    x = inputs(N)
    sk = pipe.preprocess_sketches(x["sketches"], torch.device("cpu"), torch.float32)
    ref = pipe.preprocess_reference(x["reference"], (H, W), pipe._execution_device, torch.float32)
    noise = pipe.prepare_noise(None, H // 8, W // 8, x["generator"], SHORT_OVERLAP)
    cond = pipe.prepare_conditions(ref, None, x["generator"])
    got = []
    handle = nan_from_call(pipe, first_bad_call=STEPS)
    try:
        with pytest.raises(NonFiniteLatentsError, match="window 1 "):
            for res in pipe.iter_segments(lambda idx: sk[idx], N, cond, noise, STEPS, SHORT_OVERLAP, progress=False):
                got.append(res)
    finally:
        handle.remove()
    assert [r.segment for r in got] == [0]
    assert torch.isfinite(got[0].latents).all()


def test_nan_in_first_window_names_window_0(tiny_pipe_short):
    handle = nan_from_call(tiny_pipe_short, first_bad_call=0)
    try:
        with pytest.raises(NonFiniteLatentsError, match=r"window 0 \(source frames 1-4 of 6\)"):
            tiny_pipe_short(**inputs(N))
    finally:
        handle.remove()


@pytest.mark.parametrize("dtype, extra", [(torch.float16, False), (torch.bfloat16, True)])
def test_message_per_dtype(dtype, extra):
    seg = plan_segments(40, SegmentConfig())[2]
    fake = SimpleNamespace(unet=SimpleNamespace(dtype=dtype))
    msg = LVCDPipeline._non_finite_message(fake, seg, 40)
    assert f"window 2 (source frames {seg.video[0]}-{seg.video[-1]} of 40)" in msg
    assert str(dtype).replace("torch.", "") in msg
    assert msg.endswith("float16 overflows in this model; use --dtype bf16 (the CUDA default) or fp32.")
    assert ("not in float16" in msg) is extra
