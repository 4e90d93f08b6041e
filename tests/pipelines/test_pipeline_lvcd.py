"""LVCDPipeline on the tiny random pipeline: shapes, determinism, any length, round trip, callbacks, resume.

Tests of the window choreography (lengths, windows, callbacks, overlap, resume) run the short tiny pipeline
(`tiny_pipe_short`: windows of 1 + 1 + 4 frames, so several windows take a third of the frames); the released
1 + 4 + 14 layout is run by `tiny_pipe` (any length up to two windows, the encoded reference, round trip, ...)."""

import numpy as np
import pytest
import torch

from lvcd import LVCDPipeline
from lvcd.pipelines.tiny import SHORT_OVERLAP
from lvcd.sampling import plan_segments

H = W = 64
STEPS = 2


def inputs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        sketches=torch.rand(n, 3, H, W, generator=g),
        reference=torch.rand(1, 3, H, W, generator=g) * 2 - 1,
        num_inference_steps=STEPS,
    )


def run(pipe, n, seed=0, **kw):
    return pipe(**inputs(n), generator=torch.Generator().manual_seed(seed), output_type="pt", **kw)


def run_short(pipe, n, seed=0, **kw):
    """`run` on the short tiny pipeline: its windows have SHORT_OVERLAP overlap frames."""
    return run(pipe, n, seed, overlap=SHORT_OVERLAP, **kw)


@pytest.fixture(scope="module")
def released_16(tiny_pipe):
    """`run(tiny_pipe, 16)`: two windows of the released layout, rendered once for the tests that look at it."""
    return run(tiny_pipe, 16)


# n: no window (the reference alone), one padded window, one full window, a second (padded) window
@pytest.mark.parametrize("layout,n", [("released", 16), ("short", 1), ("short", 2), ("short", 5), ("short", 6)])
def test_any_length_gives_exactly_n_frames(request, short_runs, layout, n):
    assert layout == "short" or n == 16
    out = request.getfixturevalue("released_16") if layout == "released" else short_runs(n)
    assert out.frames.shape == (n, 3, H, W)
    assert out.latents.shape == (n, 4, H // 8, W // 8)
    assert 0 <= out.frames.min() and out.frames.max() <= 1


def test_short_layout_lengths_cover_one_and_two_windows(tiny_pipe_short):
    cfg = tiny_pipe_short.segment_config(SHORT_OVERLAP)
    assert cfg.window == 6 and [len(plan_segments(n, cfg)) for n in (1, 2, 5, 6)] == [0, 1, 1, 2]


def test_fixed_generator_is_deterministic_and_seed_matters(tiny_pipe_short, short_runs):
    pipe = tiny_pipe_short
    a, b, c = short_runs(6), run_short(pipe, 6, seed=0), run_short(pipe, 6, seed=4)  # a: an earlier seed-0 run
    assert torch.equal(a.frames, b.frames)
    assert not torch.allclose(a.latents, c.latents)


def test_frame0_is_the_encoded_reference(tiny_pipe, released_16):
    pipe = tiny_pipe
    out = released_16
    ref = inputs(16)["reference"]
    h = pipe.vae.encoder(ref)
    mean = h[:, :4]
    # without a generator the reference latent is the posterior mean; with one it is a posterior sample
    out_nogen = pipe(**inputs(16), latents=torch.randn(19, 4, 8, 8), output_type="latent")
    torch.testing.assert_close(out_nogen.latents[0], mean[0] * pipe.vae.config.scaling_factor, rtol=1e-5, atol=1e-5)
    assert out.latents.shape[0] == 16


def test_sketches_change_the_video(tiny_pipe_short, short_runs):
    a = short_runs(5)
    x = inputs(5)
    x["sketches"] = torch.flip(x["sketches"], dims=[-1])
    b = tiny_pipe_short(**x, generator=torch.Generator().manual_seed(0), output_type="pt", overlap=SHORT_OVERLAP)
    assert not torch.allclose(a.latents[1:], b.latents[1:])


def test_output_types_and_tuple(tiny_pipe):
    pil = tiny_pipe(**inputs(2), generator=torch.Generator().manual_seed(0), output_type="pil")
    assert len(pil.frames) == 2 and pil.frames[0].size == (W, H)
    npy = tiny_pipe(**inputs(2), generator=torch.Generator().manual_seed(0), output_type="np")
    assert npy.frames.shape == (2, H, W, 3)
    frames, latents = tiny_pipe(
        **inputs(2), generator=torch.Generator().manual_seed(0), output_type="pt", return_dict=False
    )
    np.testing.assert_allclose(frames.permute(0, 2, 3, 1).numpy(), npy.frames, atol=1e-6)
    assert tiny_pipe(**inputs(2), output_type="latent", generator=torch.Generator()).frames is None


def test_uint8_inputs_in_user_convention(tiny_pipe):
    rng = np.random.default_rng(0)
    lines = [np.full((H, W, 3), 255, np.uint8) for _ in range(3)]
    for f in lines:
        f[rng.integers(0, H, 50), rng.integers(0, W, 50)] = 0
    ref = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    out = tiny_pipe(
        sketches=lines,
        reference=ref,
        num_inference_steps=1,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.frames.shape == (3, H, W, 3)
    sk = tiny_pipe.preprocess_sketches(lines, "cpu", torch.float32)
    assert sk.shape == (3, 3, H, W) and sk.max() == 1 and sk.min() == 0
    assert sk[0, 0].sum() == (lines[0][..., 0] == 0).sum()  # dark lines become white (1) on black


def test_callback_sees_every_step_of_every_window(tiny_pipe_short):
    seen = []

    def cb(pipe, step, sigma, tensors):
        seen.append((step, tuple(tensors)))
        return tensors

    cfg = tiny_pipe_short.segment_config(SHORT_OVERLAP)
    assert len(plan_segments(11, cfg)) == 3
    run_short(tiny_pipe_short, 11, callback_on_step_end=cb, callback_on_step_end_tensor_inputs=["latents", "denoised"])
    assert [s for s, _ in seen] == list(range(len(plan_segments(11, cfg)) * STEPS))
    assert all(k == ("latents", "denoised") for _, k in seen)


def test_overlap_frames_follow_the_previous_window_exactly(tiny_pipe_short):
    """Noise recycling + blending: the overlap frames' final latents equal the previous window's last frames."""
    pipe = tiny_pipe_short
    x = inputs(8)
    ref = x["reference"]
    cond = pipe.prepare_conditions(ref, None, None)
    noise = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(0))  # windows of 1 + 1 + 4 frames
    finals = []

    def cb(p, step, sigma, t):
        finals.append(t["latents"].clone())
        return t

    res = list(
        pipe.iter_segments(
            lambda idx: x["sketches"][idx],
            8,
            cond,
            noise,
            STEPS,
            SHORT_OVERLAP,
            callback_on_step_end=cb,
            progress=False,
        )
    )
    seg0_final, seg1_final = finals[STEPS - 1], finals[2 * STEPS - 1]
    # window 1's overlap frame (after the reference and the prev-reference frame) is window 0's last frame
    torch.testing.assert_close(seg1_final[2:3], seg0_final[5:6], rtol=0, atol=0)
    assert [r.first_frame for r in res] == [0, 5]


def test_resume_from_carry_equals_uninterrupted(tiny_pipe_short):
    pipe = tiny_pipe_short
    x = inputs(11)
    cond = pipe.prepare_conditions(x["reference"], None, None)
    noise = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    fn = lambda idx: x["sketches"][idx]  # noqa: E731
    full = list(pipe.iter_segments(fn, 11, cond, noise, STEPS, SHORT_OVERLAP, progress=False))
    assert len(full) == 3
    resumed = list(pipe.iter_segments(fn, 11, cond, noise, STEPS, SHORT_OVERLAP, resume=full[0].carry, progress=False))
    for a, b in zip(full[1:], resumed):
        assert torch.equal(a.latents, b.latents)


def test_save_and_load_round_trip(tiny_pipe, tiny_pipeline_dir):
    loaded = LVCDPipeline.from_pretrained(tiny_pipeline_dir, torch_dtype=torch.float32)
    loaded.set_progress_bar_config(disable=True)
    for name in ("unet", "controlnet", "vae", "image_encoder"):
        sa, sb = getattr(tiny_pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert type(loaded.unet).__name__ == "LVCDUNetModel" and type(loaded.controlnet).__name__ == "LVCDControlNetModel"
    a, b = run(tiny_pipe, 3), run(loaded, 3)
    # identical weights; the reloaded CLIP tower differs by float rounding (~2e-7) in its embedding
    torch.testing.assert_close(a.frames, b.frames, rtol=0, atol=1e-4)


def test_pipeline_without_image_encoder_needs_embeddings(tiny_pipe):
    pipe = LVCDPipeline(
        vae=tiny_pipe.vae, unet=tiny_pipe.unet, controlnet=tiny_pipe.controlnet, scheduler=tiny_pipe.scheduler
    )
    with pytest.raises(ValueError, match="image_embeddings"):
        pipe(**inputs(2))
    out = pipe(
        **inputs(2),
        image_embeddings=torch.randn(1, 1, 32),
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.latents.shape == (2, 4, 8, 8)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(overlap=14), "overlap"),
        (dict(num_inference_steps=0), "num_inference_steps"),
        (dict(output_type="gif"), "output_type"),
    ],
)
def test_bad_arguments_teach(tiny_pipe, kw, match):
    x = inputs(2)
    x.update(kw)
    with pytest.raises(ValueError, match=match):
        tiny_pipe(**x)


def test_bad_size_teaches(tiny_pipe):
    with pytest.raises(ValueError, match="multiple of 64"):
        tiny_pipe(sketches=torch.rand(2, 3, 72, 64), reference=torch.rand(1, 3, 72, 64), num_inference_steps=1)


def test_uint8_decode_equals_rounding_the_float_decode(tiny_pipe, released_16):
    lat = released_16.latents
    floats = torch.cat(list(tiny_pipe.decode_latents_stream([lat], 16)))  # [16, 3, H, W] in [0, 1]
    u8 = torch.cat(list(tiny_pipe.decode_latents_stream([lat], 16, as_uint8=True)))  # [16, H, W, 3]
    assert u8.dtype == torch.uint8 and u8.shape == (16, *floats.shape[2:], 3)
    expected = (floats.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
    np.testing.assert_array_equal(u8.numpy(), expected)


def test_decode_chunk_per_call(tiny_pipe, released_16):
    lat = released_16.latents
    default = torch.cat(list(tiny_pipe.decode_latents_stream([lat], 16)))
    blocks = list(tiny_pipe.decode_latents_stream([lat], 16, chunk=6, overlap=1))
    assert sum(b.shape[0] for b in blocks) == 16 and len(blocks) > 3  # 6-latent calls: more, smaller blocks
    same = torch.cat(list(tiny_pipe.decode_latents_stream([lat], 16, chunk=10, overlap=3)))
    torch.testing.assert_close(same, default, rtol=0, atol=0)
    assert tiny_pipe.conditioning.decode_chunk == 10  # the per-call value does not stick
