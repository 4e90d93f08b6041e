"""The LVCD UNet: diffusers' SVD UNet with ControlNet residual inputs and the reference-path layers.

`LVCDUNetModel` has the config and state-dict keys of `UNetSpatioTemporalConditionModel` (it loads diffusers SVD
weights unchanged) plus one registered switch, `sgm_groupnorm_eps`. What it adds (lvcd-reference.md 2.3 and 2.5):

* `down_block_additional_residuals` (12 tensors) and `mid_block_additional_residual` in `forward`, injected like the
  official `ControlledVideoUNet`: `cat([h, hs.pop() + control.pop()])` and `h += control.pop()` after the mid block;
* reference-path isolation for calls with T > `config.num_frames` frames (frame positions, masked temporal convs:
  `layers.apply_reference_path_layers`; masked temporal attention: `attention.install_lvcd_processors`);
* GroupNorm eps 1e-5 in the 72 resnet norms that diffusers builds with 1e-6 (diffusers-parity.md item 1).

The attention processors are not installed here: the pipeline installs them with its shared
`ReferenceAttentionState` (`install_lvcd_processors`). Without them the spatial/temporal `attn1` run plain SVD
attention.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  diffusers' loader looks the base class up here
from diffusers.models.unets.unet_spatio_temporal_condition import (
    UNetSpatioTemporalConditionModel,
    UNetSpatioTemporalConditionOutput,
)
from diffusers.utils import logging

from .layers import FrameContext, apply_reference_path_layers, set_sgm_groupnorm_eps

logger = logging.get_logger(__name__)


class LVCDUNetModel(UNetSpatioTemporalConditionModel):
    r"""SVD UNet with ControlNet residual inputs and LVCD's reference path.

    Parameters: those of [`UNetSpatioTemporalConditionModel`] (`num_frames` is the number of video-path frames, 14 for
    SVD img2vid; a call with T > num_frames frames treats the first T - num_frames as the reference path), plus

        sgm_groupnorm_eps (`bool`, defaults to `True`): build the SVD resnet GroupNorms with sgm's eps 1e-5, as the
            official checkpoints were trained; `False` keeps diffusers' 1e-6 in 72 of them.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = (
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "CrossAttnDownBlockSpatioTemporal",
            "DownBlockSpatioTemporal",
        ),
        up_block_types: tuple[str, ...] = (
            "UpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
            "CrossAttnUpBlockSpatioTemporal",
        ),
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | tuple[int] = 2,
        cross_attention_dim: int | tuple[int] = 1024,
        transformer_layers_per_block: int | tuple[int, tuple[tuple]] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 14,  # LVCD is built on SVD img2vid (14 frames), not SVD-XT (diffusers' default 25)
        sgm_groupnorm_eps: bool = True,
    ):
        super().__init__(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            block_out_channels=block_out_channels,
            addition_time_embed_dim=addition_time_embed_dim,
            projection_class_embeddings_input_dim=projection_class_embeddings_input_dim,
            layers_per_block=layers_per_block,
            cross_attention_dim=cross_attention_dim,
            transformer_layers_per_block=transformer_layers_per_block,
            num_attention_heads=num_attention_heads,
            num_frames=num_frames,
        )
        if sgm_groupnorm_eps:
            set_sgm_groupnorm_eps(self)
        apply_reference_path_layers(self, num_video_frames=num_frames)
        # frame count of the call in progress, read by the spatial reference-attention processors
        self.frame_context = FrameContext(num_video_frames=num_frames)

    # Adapted from diffusers.models.unets.unet_spatio_temporal_condition.UNetSpatioTemporalConditionModel.forward
    # (diffusers 0.42.1). Lines added for LVCD are marked `# LVCD:`.
    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        down_block_additional_residuals: tuple[torch.Tensor, ...] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> UNetSpatioTemporalConditionOutput | tuple:
        r"""
        Args:
            sample (`torch.Tensor`): `[B, T, C, h, w]` noisy latents (+ concat latents). The last `config.num_frames`
                frames are the video path, any frames before them the reference path.
            timestep (`torch.Tensor` or `float` or `int`): one timestep per video (c_noise = ln(sigma) / 4).
            encoder_hidden_states (`torch.Tensor`): `[B, 1, cross_attention_dim]` CLIP image embedding.
            added_time_ids (`torch.Tensor`): `[B, 3]` (fps_id, motion_bucket_id, cond_aug).
            down_block_additional_residuals (`tuple[torch.Tensor]`, *optional*): the 12 ControlNet residuals
                `[B*T, C_i, h_i, w_i]`, added to the skip connections in `down_block_res_samples` order.
            mid_block_additional_residual (`torch.Tensor`, *optional*): added to the mid block output.
            return_dict (`bool`, defaults to `True`): return a `UNetSpatioTemporalConditionOutput`, else a tuple.

        Returns:
            `UNetSpatioTemporalConditionOutput` or `tuple` whose first element is the `[B, T, out_channels, h, w]`
            sample.
        """
        # By default samples have to be AT least a multiple of the overall upsampling factor.
        # The overall upsampling factor is equal to 2 ** (# num of upsampling layears).
        # However, the upsampling interpolation output size can be forced to fit any upsampling size
        # on the fly if necessary.
        default_overall_up_factor = 2**self.num_upsamplers

        # upsample size should be forwarded when sample is not a multiple of `default_overall_up_factor`
        forward_upsample_size = False
        upsample_size = None

        if any(s % default_overall_up_factor != 0 for s in sample.shape[-2:]):
            logger.info("Forward upsample size to force interpolation output size.")
            forward_upsample_size = True

        # 1. time
        timesteps = timestep
        if not torch.is_tensor(timesteps):
            # TODO: this requires sync between CPU and GPU. So try to pass timesteps as tensors if you can
            # This would be a good case for the `match` statement (Python 3.10+)
            # LVCD: diffusers 0.42 calls `maybe_adjust_dtype_for_device` here; inlined for older diffusers
            is_mps_or_npu = sample.device.type in ("mps", "npu")
            if isinstance(timestep, float):
                dtype = torch.float32 if is_mps_or_npu else torch.float64
            else:
                dtype = torch.int32 if is_mps_or_npu else torch.int64
            timesteps = torch.tensor([timesteps], dtype=dtype, device=sample.device)
        elif len(timesteps.shape) == 0:
            timesteps = timesteps[None].to(sample.device)

        # broadcast to batch dimension in a way that's compatible with ONNX/Core ML
        batch_size, num_frames = sample.shape[:2]
        timesteps = timesteps.expand(batch_size)
        self.frame_context.num_frames = num_frames  # LVCD: tell the reference-attention processors T of this call

        t_emb = self.time_proj(timesteps)

        # `Timesteps` does not contain any weights and will always return f32 tensors
        # but time_embedding might actually be running in fp16. so we need to cast here.
        # there might be better ways to encapsulate this.
        t_emb = t_emb.to(dtype=sample.dtype)

        emb = self.time_embedding(t_emb)

        time_embeds = self.add_time_proj(added_time_ids.flatten())
        time_embeds = time_embeds.reshape((batch_size, -1))
        time_embeds = time_embeds.to(emb.dtype)
        aug_emb = self.add_embedding(time_embeds)
        emb = emb + aug_emb

        # Flatten the batch and frames dimensions
        # sample: [batch, frames, channels, height, width] -> [batch * frames, channels, height, width]
        sample = sample.flatten(0, 1)
        # Repeat the embeddings num_video_frames times
        # emb: [batch, channels] -> [batch * frames, channels]
        emb = emb.repeat_interleave(num_frames, dim=0, output_size=emb.shape[0] * num_frames)
        # encoder_hidden_states: [batch, 1, channels] -> [batch * frames, 1, channels]
        encoder_hidden_states = encoder_hidden_states.repeat_interleave(
            num_frames, dim=0, output_size=encoder_hidden_states.shape[0] * num_frames
        )

        # 2. pre-process
        sample = self.conv_in(sample)

        image_only_indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)

        down_block_res_samples = (sample,)
        for downsample_block in self.down_blocks:
            if hasattr(downsample_block, "has_cross_attention") and downsample_block.has_cross_attention:
                sample, res_samples = downsample_block(
                    hidden_states=sample,
                    temb=emb,
                    encoder_hidden_states=encoder_hidden_states,
                    image_only_indicator=image_only_indicator,
                )
            else:
                sample, res_samples = downsample_block(
                    hidden_states=sample,
                    temb=emb,
                    image_only_indicator=image_only_indicator,
                )

            down_block_res_samples += res_samples

        # LVCD: ControlNet skip residuals (official `cat([h, hs.pop() + control.pop()])`)
        if down_block_additional_residuals is not None:
            if len(down_block_additional_residuals) != len(down_block_res_samples):
                raise ValueError(
                    f"Expected {len(down_block_res_samples)} down_block_additional_residuals, "
                    f"got {len(down_block_additional_residuals)}."
                )
            down_block_res_samples = tuple(
                res + extra for res, extra in zip(down_block_res_samples, down_block_additional_residuals)
            )

        # 4. mid
        sample = self.mid_block(
            hidden_states=sample,
            temb=emb,
            encoder_hidden_states=encoder_hidden_states,
            image_only_indicator=image_only_indicator,
        )
        if mid_block_additional_residual is not None:  # LVCD: official `h += control.pop()` after the middle block
            sample = sample + mid_block_additional_residual

        # 5. up
        for i, upsample_block in enumerate(self.up_blocks):
            is_final_block = i == len(self.up_blocks) - 1

            res_samples = down_block_res_samples[-len(upsample_block.resnets) :]
            down_block_res_samples = down_block_res_samples[: -len(upsample_block.resnets)]

            # if we have not reached the final block and need to forward the
            # upsample size, we do it here
            if not is_final_block and forward_upsample_size:
                upsample_size = down_block_res_samples[-1].shape[2:]

            if hasattr(upsample_block, "has_cross_attention") and upsample_block.has_cross_attention:
                sample = upsample_block(
                    hidden_states=sample,
                    temb=emb,
                    res_hidden_states_tuple=res_samples,
                    encoder_hidden_states=encoder_hidden_states,
                    upsample_size=upsample_size,
                    image_only_indicator=image_only_indicator,
                )
            else:
                sample = upsample_block(
                    hidden_states=sample,
                    temb=emb,
                    res_hidden_states_tuple=res_samples,
                    upsample_size=upsample_size,
                    image_only_indicator=image_only_indicator,
                )

        # 6. post-process
        sample = self.conv_norm_out(sample)
        sample = self.conv_act(sample)
        sample = self.conv_out(sample)

        # 7. Reshape back to original shape
        sample = sample.reshape(batch_size, num_frames, *sample.shape[1:])

        if not return_dict:
            return (sample,)

        return UNetSpatioTemporalConditionOutput(sample=sample)
