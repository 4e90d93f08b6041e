"""LVCDPipeline with extra references (issue 15): a side batch whose keys/values feed every reference layer."""

import contextlib

import pytest
import torch

from lvcd.models import ReferenceAttnProcessor
from lvcd.models.routing import ReferenceRouting
from lvcd.pipelines import ExtraReference
from lvcd.pipelines.extra_refs import side_generator
from lvcd.pipelines.tiny import SHORT_OVERLAP

H = W = 64
STEPS = 2
N = 7  # two windows of the short layout (1 + 1 + 4)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        sketches=torch.rand(N, 3, H, W, generator=g),
        reference=torch.rand(1, 3, H, W, generator=g) * 2 - 1,
        num_inference_steps=STEPS,
        overlap=SHORT_OVERLAP,
        output_type="pt",
    )


def _extras(seed=1):
    g = torch.Generator().manual_seed(seed)
    left = torch.zeros(N, H, W)
    left[:, :, : W // 2] = 1
    left[3:, : H // 4] = 1  # changes mid-shot
    sheet = torch.zeros(H, W, dtype=torch.bool)
    sheet[8:40, 8:40] = True
    return [
        ExtraReference(
            torch.rand(1, 3, H, W, generator=g) * 2 - 1, torch.rand(3, H, W, generator=g), mask=sheet, target_mask=left
        ),
        ExtraReference(
            torch.rand(3, H, W, generator=g) * 2 - 1, torch.rand(1, H, W, generator=g), target_mask=1 - left[0]
        ),
    ]


def _run(pipe, seed=0, **kw):
    return pipe(**_inputs(), generator=torch.Generator().manual_seed(seed), **kw)


def test_two_extra_references_with_masks_render_deterministically(tiny_pipe_short, monkeypatch):
    captured = []
    capture = ReferenceRouting.capture

    @contextlib.contextmanager
    def spy(self):  # after every side-batch step: which layers captured keys/values, of which shape
        with capture(self) as r:
            yield r
        captured.append([tuple(k.shape[:2]) for k, _ in self._kv.values()])

    monkeypatch.setattr(ReferenceRouting, "capture", spy)
    a = _run(tiny_pipe_short, extra_references=_extras())
    b = _run(tiny_pipe_short, extra_references=_extras())
    assert a.frames.shape == (N, 3, H, W) and a.latents.shape == (N, 4, H // 8, W // 8)
    assert torch.isfinite(a.latents).all()
    torch.testing.assert_close(a.latents, b.latents, rtol=0, atol=0)
    torch.testing.assert_close(a.frames, b.frames, rtol=0, atol=0)
    # every Reference Attention layer of both networks captured the two extra references, in every window
    layers = sum(
        isinstance(p, ReferenceAttnProcessor)
        for m in (tiny_pipe_short.unet, tiny_pipe_short.controlnet)
        for p in m.attn_processors.values()
    )
    assert len(captured) == 2 * 2 * STEPS  # two windows, two runs, every step
    assert all(len(c) == layers and set(c) == {(1, 2)} for c in captured)
    # the references act on the video frames; frame 0 is the encoded primary reference in both
    plain = _run(tiny_pipe_short)
    assert (a.latents[1:] - plain.latents[1:]).abs().max() > 1e-4
    torch.testing.assert_close(a.latents[0], plain.latents[0], rtol=0, atol=0)


def test_no_extra_reference_is_the_one_reference_pipeline(tiny_pipe_short):
    plain = _run(tiny_pipe_short)
    torch.testing.assert_close(_run(tiny_pipe_short, extra_references=[]).latents, plain.latents, rtol=0, atol=0)


def test_side_noise_is_derived_from_the_seed_without_consuming_it():
    g = torch.Generator().manual_seed(5)
    a, b = side_generator(g, 0), side_generator(g, 1)
    assert torch.equal(torch.randn(3, generator=a), torch.randn(3, generator=side_generator(g, 0)))
    assert not torch.equal(torch.randn(3, generator=b), torch.randn(3, generator=side_generator(g, 0)))
    assert torch.equal(torch.randn(3, generator=g), torch.randn(3, generator=torch.Generator().manual_seed(5)))
    assert side_generator(None, 0) is None


@pytest.mark.parametrize(
    "bad,match",
    [
        (dict(mask=torch.ones(32, 32)), "extra reference 2 `mask`"),
        (dict(target_mask=torch.ones(N + 1, H, W)), "shot has 7"),
        (dict(sketch=None), "no lineart"),
        (dict(image=torch.rand(1, 3, 32, 32)), "extra reference 2"),
    ],
)
def test_extra_reference_errors_name_the_reference(tiny_pipe_short, bad, match):
    ref = _extras()[1]
    fields = dict(image=ref.image, sketch=ref.sketch, mask=None, target_mask=None)
    fields.update(bad)
    with pytest.raises(ValueError, match=match):
        _run(tiny_pipe_short, extra_references=[ExtraReference(**fields)])


def test_reference_target_mask_alone(tiny_pipe_short):
    """A target mask on the primary reference only: all ones is the plain pipeline (bias log 1 = 0, up to the
    routed path's rounding); all zeros leaves the video frames without the reference, finite."""
    plain = _run(tiny_pipe_short)
    ones = _run(tiny_pipe_short, reference_target_mask=torch.ones(H, W))
    # a few float32 ULPs at the latents' scale: CPUs differ in how they round the routed attention's sums
    assert (ones.latents - plain.latents).abs().max() < 1e-3, (ones.latents - plain.latents).abs().max()
    none = _run(tiny_pipe_short, reference_target_mask=torch.zeros(N, H, W))
    gap = (none.latents[1:] - plain.latents[1:]).abs().max()
    assert torch.isfinite(none.latents).all() and gap > 1e-2, gap
