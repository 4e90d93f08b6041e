"""The offload tiers give the resident pipeline's output. `--offload model` goes through diffusers'
enable_model_cpu_offload as the CLI does. `--offload sequential` (weights on the meta device, loaded layer by layer by
accelerate hooks) is driven through accelerate.cpu_offload with execution device "cpu": diffusers'
enable_sequential_cpu_offload turns a CPU device into "cpu:0", which accelerate cannot load to (a plain
`torch.nn.Conv2d` fails the same way), so that wrapper itself is only usable on an accelerator."""
import torch
from accelerate import cpu_offload
from test_pipeline_lvcd import run

from lvcd.pipelines.tiny import make_tiny_pipeline


def test_model_offload_gives_the_resident_output():
    expected = run(make_tiny_pipeline(seed=0), 16).frames
    pipe = make_tiny_pipeline(seed=0)
    pipe.enable_model_cpu_offload(device="cpu")
    torch.testing.assert_close(run(pipe, 16).frames, expected, rtol=0, atol=0)


def test_layer_by_layer_offload_gives_the_resident_output():
    expected = run(make_tiny_pipeline(seed=0), 16).frames
    pipe = make_tiny_pipeline(seed=0)
    for model in pipe.components.values():
        if isinstance(model, torch.nn.Module):
            cpu_offload(model, torch.device("cpu"), offload_buffers=len(model._parameters) > 0)
    assert next(pipe.unet.parameters()).device.type == "meta"  # weights really are offloaded
    torch.testing.assert_close(run(pipe, 16).frames, expected, rtol=0, atol=0)
