"""Tiny LVCD model configs and inputs shared by the model tests."""

import torch

# The SVD img2vid UNet topology (4 levels, attention at the first three, 2 resnets per level) at a tiny width; the
# same as the oracle's `diffusers.UNetSpatioTemporalConditionModel` config (/work/shared/oracle/A/config.json).
TINY_SVD_CONFIG = {
    "sample_size": [8, 24],
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": [
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ],
    "up_block_types": [
        "UpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ],
    "block_out_channels": [32, 64, 64, 64],
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 24,
    "layers_per_block": 2,
    "cross_attention_dim": 32,
    "transformer_layers_per_block": 1,
    "num_attention_heads": [2, 4, 4, 4],
    "num_frames": 14,
}

# The real SVD img2vid (14 frames) UNet config, for meta-device construction only.
SVD_CONFIG = {
    "sample_size": 96,
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": TINY_SVD_CONFIG["down_block_types"],
    "up_block_types": TINY_SVD_CONFIG["up_block_types"],
    "block_out_channels": [320, 640, 1280, 1280],
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768,
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "transformer_layers_per_block": 1,
    "num_attention_heads": [5, 10, 20, 20],
    "num_frames": 14,
}


def randomize_(model: torch.nn.Module, std: float = 0.05) -> torch.nn.Module:
    """Non-trivial weights (zero-initialised layers and norm affines included), like the oracle's."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + std * torch.randn_like(p))
            else:
                p.copy_(std * torch.randn_like(p))
    return model


def make_inputs(
    batch: int = 1, frames: int = 19, h: int = 8, w: int = 24, channels: int = 8, context: int = 32, seed: int = 1
):
    g = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch, frames, channels, h, w, generator=g),
        "timestep": torch.tensor([0.25 * torch.log(torch.tensor(3.0)).item()]),
        "encoder_hidden_states": torch.randn(batch, 1, context, generator=g),
        "added_time_ids": torch.tensor([[6.0, 160.0, 0.0]]).expand(batch, 3),
    }
