"""--compile: torch.compile of the UNet and ControlNet in place. On CPU the test uses the "aot_eager" backend (the
graph capture through LVCD's attention processors and mode switches, without a C++ build); the output must equal
the eager run's."""

import numpy as np
import pytest

from lvcd import api
from lvcd.backends import diffusion


def lineart(n=16, h=48, w=80):
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 255, np.uint8)
        f[10:12, 5 + i : 40 + i] = 0
        f[10:40, 5 + i : 7 + i] = 0
        frames.append(f)
    return frames


def render(model_dir, **opts):
    o = api.ColorizeOptions(backend="diffusion", model=str(model_dir), steps=2, size=(64, 64), **opts)
    backend = diffusion.DiffusionBackend(diffusion.load_pipeline(model_dir, o), o)
    frames = lineart()
    ref = frames[0].copy()
    ref[(ref == 255).all(-1)] = (200, 120, 60)
    return backend, np.stack(list(api.colorize_frames(frames, ref, backend=backend, options=o)))


def test_compiled_networks_give_the_eager_output(tiny_pipeline_dir, monkeypatch):
    _, eager = render(tiny_pipeline_dir)
    monkeypatch.setattr(diffusion, "COMPILE_BACKEND", "aot_eager")
    backend, compiled = render(tiny_pipeline_dir, compile="default")
    assert backend.pipe.unet._compiled_call_impl is not None
    assert backend.pipe.controlnet._compiled_call_impl is not None
    np.testing.assert_array_equal(compiled, eager)


def test_compile_options_teach(tiny_pipeline_dir):
    with pytest.raises(api.LVCDError, match="max-autotune-no-cudagraphs"):
        api.ColorizeOptions(compile="fast")
    with pytest.raises(api.LVCDError, match="--offload none"):
        diffusion.load_pipeline(tiny_pipeline_dir, api.ColorizeOptions(compile="default", offload="model"))
