"""A tiny random-weight LVCD pipeline with the real layout (19-frame windows, 14 video frames, /8 VAE) for tests and
demos: it exercises every code path of the real model in seconds on a CPU, and produces meaningless colours.

`make_tiny_pipeline(num_frames=SHORT_VIDEO_FRAMES)` is the same network with a short video path (4 frames; with
`overlap=SHORT_OVERLAP` a window is 1 + 1 + 4 = 6 frames): tests of the window choreography (plans, callbacks, resume,
NaN guard) use it to cover several windows with a third of the frames; the released 1 + 4 + 14 layout stays covered
by the default.

`scripts/make_tiny_pipeline.py` saves it as a diffusers folder (`pipelines/tiny-random/`); tests build it in memory.
"""

from __future__ import annotations

import torch

TINY_UNET = dict(
    sample_size=8,
    in_channels=8,
    out_channels=4,
    down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
    up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
    block_out_channels=(32, 64),
    addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=24,
    layers_per_block=1,
    cross_attention_dim=32,
    transformer_layers_per_block=1,
    num_attention_heads=(2, 4),
    num_frames=14,  # the real video-path length, so windows have the released 1 + 4 + 14 layout
)
SHORT_VIDEO_FRAMES = 4  # the short video path: windows of 1 + SHORT_OVERLAP + 4 frames
SHORT_OVERLAP = 1
TINY_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    block_out_channels=(32, 32, 32, 32),
    layers_per_block=1,
    latent_channels=4,
    sample_size=64,
    scaling_factor=0.18215,
    force_upcast=True,
)
TINY_CLIP = dict(
    hidden_size=32,
    intermediate_size=37,
    projection_dim=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_channels=3,
    image_size=224,
    patch_size=32,
    hidden_act="gelu",
    layer_norm_eps=1e-5,
)
SCHEDULER = dict(  # SVD img2vid's scheduler config (the source of sigma_min / sigma_max)
    beta_end=0.012,
    beta_schedule="scaled_linear",
    beta_start=0.00085,
    interpolation_type="linear",
    num_train_timesteps=1000,
    prediction_type="v_prediction",
    sigma_max=700.0,
    sigma_min=0.002,
    steps_offset=1,
    timestep_spacing="leading",
    timestep_type="continuous",
    use_karras_sigmas=True,
)


def make_tiny_pipeline(seed: int = 0, with_image_encoder: bool = True, num_frames: int = TINY_UNET["num_frames"]):
    """Build the tiny pipeline; every weight is a deterministic function of `seed`. The ControlNet's zero-initialised
    output convolutions get small random weights so that the sketches influence the result. `num_frames` is the
    video-path length (14 as released; `SHORT_VIDEO_FRAMES` for fast window tests)."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    from ..models import LVCDControlNetModel, LVCDUNetModel
    from .pipeline_lvcd import LVCDPipeline

    torch.manual_seed(seed)
    unet = LVCDUNetModel(**{**TINY_UNET, "num_frames": num_frames})
    torch.manual_seed(seed + 1)
    controlnet = LVCDControlNetModel.from_unet(unet)
    g = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for name, p in controlnet.named_parameters():
            zero_init = ("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out")
            if name.startswith(zero_init):
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    torch.manual_seed(seed + 3)
    vae = AutoencoderKLTemporalDecoder(**TINY_VAE)
    image_encoder = feature_extractor = None
    if with_image_encoder:
        torch.manual_seed(seed + 4)
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP))
        feature_extractor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    scheduler = EulerDiscreteScheduler.from_config(SCHEDULER)
    pipe = LVCDPipeline(
        vae=vae,
        unet=unet,
        controlnet=controlnet,
        scheduler=scheduler,
        image_encoder=image_encoder,
        feature_extractor=feature_extractor,
    )
    return pipe.to(torch.float32)
