"""LVCD's sketch-guided *video* ControlNet, in diffusers naming.

A copy of the SVD UNet encoder (`conv_in`, time / added-time embeddings, `down_blocks`, `mid_block`), with the same
reference-path layers as `LVCDUNetModel`, plus a `ControlNetConditioningEmbedding` for the sketches and 13 zero
1x1 convolutions (lvcd-reference.md 2.5). The sketch embedding is *added* after `conv_in`, per frame, at latent
resolution (the official code adds, although the paper's figure draws a concatenation). The outputs are the 12 skip
residuals (in diffusers' `down_block_res_samples` order) and the mid residual that `LVCDUNetModel.forward` takes.

State-dict keys follow the UNet's for the shared part (so `from_unet` is a plain `load_state_dict`) and diffusers'
ControlNet for the rest: `controlnet_cond_embedding.*`, `controlnet_down_blocks.{0..11}`, `controlnet_mid_block`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import AttentionMixin
from diffusers.models.controlnets.controlnet import ControlNetConditioningEmbedding
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_3d_blocks import UNetMidBlockSpatioTemporal, get_down_block
from diffusers.utils import BaseOutput

from .layers import FrameContext, apply_reference_path_layers, set_sgm_groupnorm_eps


@dataclass
class LVCDControlNetOutput(BaseOutput):
    """
    Args:
        down_block_res_samples (`tuple[torch.Tensor]`): 12 residuals `[B*T, C_i, h_i, w_i]` for the UNet skips.
        mid_block_res_sample (`torch.Tensor`): `[B*T, C_mid, h_mid, w_mid]` residual for the UNet mid block output.
    """

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


def _zero_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class LVCDControlNetModel(ModelMixin, AttentionMixin, ConfigMixin):
    r"""Sketch ControlNet over the SVD encoder (video ControlNet: all T frames go through the temporal layers).

    Parameters are the UNet's encoder hyper-parameters (see [`UNetSpatioTemporalConditionModel`]) plus
        conditioning_channels (`int`, defaults to 3): channels of the sketch input (3 equal channels, [0, 1],
            white lines on black).
        conditioning_embedding_out_channels (`tuple[int]`, defaults to `(16, 32, 96, 256)`): the sketch embedding
            widths; it downsamples by 2 ** (len - 1), which must equal the VAE factor (8).
        sgm_groupnorm_eps (`bool`, defaults to `True`): resnet GroupNorm eps 1e-5 as in sgm (see `LVCDUNetModel`).
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        sample_size: int | tuple[int, int] | None = None,
        in_channels: int = 8,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "DownBlockSpatioTemporal",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | tuple[int] = 2,
        cross_attention_dim: int | tuple[int] = 1024,
        transformer_layers_per_block: int | tuple[int] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 14,
        conditioning_channels: int = 3,
        conditioning_embedding_out_channels: tuple[int, ...] = (16, 32, 96, 256),
        sgm_groupnorm_eps: bool = True,
    ):
        super().__init__()
        n = len(down_block_types)
        if len(block_out_channels) != n:
            raise ValueError(f"block_out_channels {block_out_channels} need one entry per down block ({n}).")
        if isinstance(num_attention_heads, int):
            num_attention_heads = (num_attention_heads,) * n
        if isinstance(cross_attention_dim, int):
            cross_attention_dim = (cross_attention_dim,) * n
        if isinstance(layers_per_block, int):
            layers_per_block = (layers_per_block,) * n
        if isinstance(transformer_layers_per_block, int):
            transformer_layers_per_block = (transformer_layers_per_block,) * n
        for name, value in (
            ("num_attention_heads", num_attention_heads),
            ("cross_attention_dim", cross_attention_dim),
            ("layers_per_block", layers_per_block),
            ("transformer_layers_per_block", transformer_layers_per_block),
        ):
            if len(value) != n:
                raise ValueError(f"{name} {value} must have one entry per down block ({n}).")

        # input, as the UNet
        self.conv_in = nn.Conv2d(in_channels, block_out_channels[0], kernel_size=3, padding=1)

        # time, as the UNet
        time_embed_dim = block_out_channels[0] * 4
        self.time_proj = Timesteps(block_out_channels[0], True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(block_out_channels[0], time_embed_dim)
        self.add_time_proj = Timesteps(addition_time_embed_dim, True, downscale_freq_shift=0)
        self.add_embedding = TimestepEmbedding(projection_class_embeddings_input_dim, time_embed_dim)

        # sketch embedding: [B*T, 3, H, W] -> [B*T, C0, H/8, W/8], zero-initialised output conv
        self.controlnet_cond_embedding = ControlNetConditioningEmbedding(
            conditioning_embedding_channels=block_out_channels[0],
            conditioning_channels=conditioning_channels,
            block_out_channels=tuple(conditioning_embedding_out_channels),
        )

        # down, as the UNet; one zero 1x1 conv per skip residual
        self.down_blocks = nn.ModuleList([])
        self.controlnet_down_blocks = nn.ModuleList(
            [_zero_module(nn.Conv2d(block_out_channels[0], block_out_channels[0], 1))]
        )
        output_channel = block_out_channels[0]
        for i, down_block_type in enumerate(down_block_types):
            input_channel = output_channel
            output_channel = block_out_channels[i]
            is_final_block = i == n - 1
            self.down_blocks.append(
                get_down_block(
                    down_block_type,
                    num_layers=layers_per_block[i],
                    transformer_layers_per_block=transformer_layers_per_block[i],
                    in_channels=input_channel,
                    out_channels=output_channel,
                    temb_channels=time_embed_dim,
                    add_downsample=not is_final_block,
                    resnet_eps=1e-5,
                    cross_attention_dim=cross_attention_dim[i],
                    num_attention_heads=num_attention_heads[i],
                    resnet_act_fn="silu",
                )
            )
            for _ in range(layers_per_block[i] + (0 if is_final_block else 1)):
                self.controlnet_down_blocks.append(_zero_module(nn.Conv2d(output_channel, output_channel, 1)))

        # mid, as the UNet
        self.mid_block = UNetMidBlockSpatioTemporal(
            block_out_channels[-1],
            temb_channels=time_embed_dim,
            transformer_layers_per_block=transformer_layers_per_block[-1],
            cross_attention_dim=cross_attention_dim[-1],
            num_attention_heads=num_attention_heads[-1],
        )
        self.controlnet_mid_block = _zero_module(nn.Conv2d(block_out_channels[-1], block_out_channels[-1], 1))

        if sgm_groupnorm_eps:
            set_sgm_groupnorm_eps(self)
        apply_reference_path_layers(self, num_video_frames=num_frames)
        # frame count of the call in progress, read by the spatial reference-attention processors
        self.frame_context = FrameContext(num_video_frames=num_frames)
        self.gradient_checkpointing = False

    @classmethod
    def from_unet(
        cls,
        unet: nn.Module,
        conditioning_embedding_out_channels: tuple[int, ...] = (16, 32, 96, 256),
        load_weights_from_unet: bool = True,
        conditioning_channels: int = 3,
    ) -> LVCDControlNetModel:
        """A ControlNet with `unet`'s encoder configuration; with `load_weights_from_unet` its encoder weights
        (conv_in, time / added-time embeddings, down and mid blocks) are copied, as the official training init does.
        The sketch embedding and the zero convolutions keep their fresh (zero-output) initialisation."""
        cfg = unet.config
        controlnet = cls(
            sample_size=cfg.sample_size,
            in_channels=cfg.in_channels,
            down_block_types=tuple(cfg.down_block_types),
            block_out_channels=tuple(cfg.block_out_channels),
            addition_time_embed_dim=cfg.addition_time_embed_dim,
            projection_class_embeddings_input_dim=cfg.projection_class_embeddings_input_dim,
            layers_per_block=cfg.layers_per_block,
            cross_attention_dim=cfg.cross_attention_dim,
            transformer_layers_per_block=cfg.transformer_layers_per_block,
            num_attention_heads=cfg.num_attention_heads,
            num_frames=cfg.num_frames,
            conditioning_channels=conditioning_channels,
            conditioning_embedding_out_channels=tuple(conditioning_embedding_out_channels),
            sgm_groupnorm_eps=getattr(cfg, "sgm_groupnorm_eps", True),
        )
        if load_weights_from_unet:
            for name in (
                "conv_in",
                "time_proj",
                "time_embedding",
                "add_time_proj",
                "add_embedding",
                "down_blocks",
                "mid_block",
            ):
                getattr(controlnet, name).load_state_dict(getattr(unet, name).state_dict())
        return controlnet

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        controlnet_cond: torch.Tensor,
        conditioning_scale: float = 1.0,
        return_dict: bool = True,
    ) -> LVCDControlNetOutput | tuple:
        r"""
        Args:
            sample (`torch.Tensor`): `[B, T, in_channels, h, w]`, the UNet's input.
            timestep (`torch.Tensor` or `float` or `int`): one timestep per video, as the UNet's.
            encoder_hidden_states (`torch.Tensor`): `[B, 1, cross_attention_dim]`.
            added_time_ids (`torch.Tensor`): `[B, 3]`.
            controlnet_cond (`torch.Tensor`): `[B, T, 3, H, W]` sketches in [0, 1], white lines on black, one per
                frame, H = 8 h, W = 8 w.
            conditioning_scale (`float`, defaults to 1.0): factor on every residual.
            return_dict (`bool`, defaults to `True`): return an `LVCDControlNetOutput`, else
                `(down_block_res_samples, mid_block_res_sample)`.
        """
        batch_size, num_frames = sample.shape[:2]
        if tuple(controlnet_cond.shape[:2]) != (batch_size, num_frames):
            raise ValueError(
                f"controlnet_cond must be [B, T, C, H, W] with B, T = {batch_size}, {num_frames} (one sketch per "
                f"frame); got {tuple(controlnet_cond.shape)}."
            )
        self.frame_context.num_frames = num_frames  # the reference-attention processors read T of this call

        # 1. time (as UNetSpatioTemporalConditionModel.forward)
        timesteps = timestep
        if not torch.is_tensor(timesteps):
            dtype = torch.float64 if isinstance(timestep, float) else torch.int64
            if sample.device.type in ("mps", "npu"):
                dtype = torch.float32 if isinstance(timestep, float) else torch.int32
            timesteps = torch.tensor([timesteps], dtype=dtype, device=sample.device)
        elif len(timesteps.shape) == 0:
            timesteps = timesteps[None].to(sample.device)
        timesteps = timesteps.expand(batch_size)

        t_emb = self.time_proj(timesteps).to(dtype=sample.dtype)
        emb = self.time_embedding(t_emb)
        time_embeds = self.add_time_proj(added_time_ids.flatten())
        time_embeds = time_embeds.reshape((batch_size, -1)).to(emb.dtype)  # [B*3, D] -> [B, 3*D]
        emb = emb + self.add_embedding(time_embeds)

        # [B, T, C, h, w] -> [B*T, C, h, w]; embeddings [B, ...] -> [B*T, ...]
        sample = sample.flatten(0, 1)
        emb = emb.repeat_interleave(num_frames, dim=0, output_size=batch_size * num_frames)
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(
            num_frames, dim=0, output_size=encoder_hidden_states.shape[0] * num_frames
        )

        # 2. pre-process: conv_in, then add the sketch embedding ([B, T, 3, H, W] -> [B*T, C0, h, w])
        sample = self.conv_in(sample)
        cond = controlnet_cond.flatten(0, 1).to(dtype=sample.dtype)
        sample = sample + self.controlnet_cond_embedding(cond)

        image_only_indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)

        # 3. down
        down_block_res_samples = (sample,)
        for downsample_block in self.down_blocks:
            if getattr(downsample_block, "has_cross_attention", False):
                sample, res_samples = downsample_block(
                    hidden_states=sample,
                    temb=emb,
                    encoder_hidden_states=encoder_hidden_states,
                    image_only_indicator=image_only_indicator,
                )
            else:
                sample, res_samples = downsample_block(
                    hidden_states=sample, temb=emb, image_only_indicator=image_only_indicator
                )
            down_block_res_samples += res_samples

        # 4. mid
        sample = self.mid_block(
            hidden_states=sample,
            temb=emb,
            encoder_hidden_states=encoder_hidden_states,
            image_only_indicator=image_only_indicator,
        )

        # 5. zero convs and scale
        down_block_res_samples = tuple(
            conv(res) * conditioning_scale for res, conv in zip(down_block_res_samples, self.controlnet_down_blocks)
        )
        mid_block_res_sample = self.controlnet_mid_block(sample) * conditioning_scale

        if not return_dict:
            return (down_block_res_samples, mid_block_res_sample)
        return LVCDControlNetOutput(
            down_block_res_samples=down_block_res_samples, mid_block_res_sample=mid_block_res_sample
        )
