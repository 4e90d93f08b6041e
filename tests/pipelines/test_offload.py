"""The offload tiers give the resident pipeline's output. `--offload model` goes through diffusers'
enable_model_cpu_offload as the CLI does. `--offload sequential` (weights on the meta device, loaded layer by layer by
accelerate hooks) is driven through accelerate.cpu_offload with execution device "cpu": diffusers'
enable_sequential_cpu_offload turns a CPU device into "cpu:0", which accelerate cannot load to (a plain
`torch.nn.Conv2d` fails the same way), so that wrapper itself is only usable on an accelerator.
Runs the short tiny pipeline: two windows of 1 + 1 + 4 frames (6 frames) instead of 16 frames."""

import pytest
import torch
from accelerate import cpu_offload
from test_pipeline_lvcd import run_short

from lvcd.pipelines.tiny import SHORT_VIDEO_FRAMES, make_tiny_pipeline

N = 6  # two short windows


def short_pipeline():
    return make_tiny_pipeline(seed=0, num_frames=SHORT_VIDEO_FRAMES)


@pytest.fixture(scope="module")
def expected(short_runs):
    """The resident short tiny pipeline's output (the same weights: a deterministic function of the seed)."""
    return short_runs(N).frames


def test_model_offload_gives_the_resident_output(expected):
    pipe = short_pipeline()
    pipe.enable_model_cpu_offload(device="cpu")
    torch.testing.assert_close(run_short(pipe, N).frames, expected, rtol=0, atol=0)


def test_layer_by_layer_offload_gives_the_resident_output(expected):
    pipe = short_pipeline()
    for model in pipe.components.values():
        if isinstance(model, torch.nn.Module):
            cpu_offload(model, torch.device("cpu"), offload_buffers=len(model._parameters) > 0)
    assert next(pipe.unet.parameters()).device.type == "meta"  # weights really are offloaded
    torch.testing.assert_close(run_short(pipe, N).frames, expected, rtol=0, atol=0)
