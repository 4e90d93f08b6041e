"""LVCD's attn1 processors cannot be lost silently: a global processor swap (diffusers' xformers switch,
set_default_attn_processor) is either undone by the pipeline or refused before sampling."""

import pytest
import torch
from diffusers import DiffusionPipeline
from diffusers.models.attention_processor import AttnProcessor
from test_pipeline_lvcd import run_short

from lvcd.models import missing_lvcd_processors
from lvcd.pipelines.tiny import SHORT_VIDEO_FRAMES, make_tiny_pipeline


def test_a_global_processor_swap_is_refused_then_repaired():
    pipe = make_tiny_pipeline(num_frames=SHORT_VIDEO_FRAMES)  # two windows (prevref mode in the second) in 6 frames
    expected = run_short(pipe, 6).latents
    pipe.unet.set_attn_processor(AttnProcessor())  # what any "set every layer" helper does
    assert missing_lvcd_processors(pipe.unet)
    with pytest.raises(RuntimeError, match="install_lvcd_processors"):
        run_short(pipe, 6)
    pipe.install_lvcd_processors()
    assert not missing_lvcd_processors(pipe.unet) and not missing_lvcd_processors(pipe.controlnet)
    torch.testing.assert_close(run_short(pipe, 6).latents, expected, rtol=0, atol=0)


def test_xformers_switch_keeps_reference_attention(monkeypatch):
    """diffusers' enable_xformers_memory_efficient_attention puts one processor on every layer (stood in for here:
    xformers only runs on CUDA); the pipeline's override keeps LVCD's attn1 processors and lets the rest change."""

    def set_everywhere(self, attention_op=None):
        for m in (self.unet, self.controlnet):
            m.set_attn_processor(AttnProcessor())

    monkeypatch.setattr(DiffusionPipeline, "enable_xformers_memory_efficient_attention", set_everywhere)
    pipe = make_tiny_pipeline()
    pipe.enable_xformers_memory_efficient_attention()
    assert not missing_lvcd_processors(pipe.unet) and not missing_lvcd_processors(pipe.controlnet)
    others = [p for n, p in pipe.unet.attn_processors.items() if "attn2" in n]
    assert others and all(isinstance(p, AttnProcessor) for p in others)  # the layers LVCD leaves alone did switch
