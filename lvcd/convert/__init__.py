"""Convert the official LVCD checkpoints into a diffusers-format `LVCDPipeline` folder.

Inputs (lvcd-reference.md section 4):

* SVD base: the official sgm `svd.safetensors` (`model.diffusion_model.*` UNet, `first_stage_model.*` VAE,
  `conditioner.embedders.3.encoder.quant_conv` for the VAE's `quant_conv`,
  `conditioner.embedders.0.open_clip.model.visual.*` OpenCLIP ViT-H/14 image tower), or a diffusers-format SVD folder
  (`unet/`, `vae/`, `image_encoder/`, ...).
* LVCD weights: `lvcd.ckpt` (a Lightning checkpoint read with `torch.load(weights_only=True)`: a pickle holding
  anything but tensors and plain containers is refused, pickled code is never run) or the same state dict as
  `.safetensors` (e.g. `lvcd-fp16.safetensors`). It holds the whole sketch ControlNet (`control_model.*`) and the 160
  UNet `attn1` tensors LVCD trained (`model.diffusion_model.*`), which replace the SVD values.

Output: `model_index.json` + `unet/` (`LVCDUNetModel`), `controlnet/` (`LVCDControlNetModel`), `vae/`
(`AutoencoderKLTemporalDecoder`), `scheduler/` (SVD's `EulerDiscreteScheduler` config) and, when the SVD file carries
the CLIP tower, `image_encoder/` (`CLIPVisionModelWithProjection`) + `feature_extractor/`; else those two are
`[null, null]` and the pipeline needs `image_embeddings`. The folder is written into a hidden temporary sibling and
renamed at the end, so `--out` is never left half-written.

Key maps (pure functions, both directions, so the round trip is testable):

* UNet / ControlNet: the sgm `VideoUNet` layout (`input_blocks.i.j`, `middle_block.j`, `output_blocks.i.j`) to
  diffusers' `UNetSpatioTemporalConditionModel` names. Same logic as diffusers' `scripts/convert_svd_to_diffusers.py`,
  re-derived from the block arithmetic (no substring matching of block indices, nothing hard-coded to SVD's sizes);
  the ControlNet adds `input_hint_block` -> `controlnet_cond_embedding`, `zero_convs.i.0` ->
  `controlnet_down_blocks.i`, `middle_block_out.0` -> `controlnet_mid_block`.
* VAE: sgm `Encoder` + `VideoDecoder` to `AutoencoderKLTemporalDecoder`, with the four fixes that diffusers' script
  needs for real sgm names (diffusers-parity.md): the encoder is a plain 2D encoder (no `spatial_res_block` infix),
  decoder temporal keys go to `temporal_res_block.*`, `mix_factor` to `time_mixer.mix_factor`,
  `conv_out.time_mix_conv` to `time_conv_out`; plus `quant_conv` from the conditioner's VAE.
* CLIP: OpenCLIP `VisionTransformer` state dict to transformers' `CLIPVisionModelWithProjection` (fused `in_proj` split
  into q/k/v, `proj` transposed into `visual_projection`).

Every component is checked for 0 missing / 0 unexpected keys and matching shapes before anything is written; errors
name the file, the first offending keys in the file's own naming, and the fix.

Modules: `base` (errors, the key-plan type), `unet_keys` / `vae_keys` / `clip_keys` (the key maps), `readers`
(checkpoint files and lazy views), `configs` (the shipped default configs, `--config`), `sources` (the checked key
plans of each input file), `build` (`convert_checkpoints`, writing the folder).

Deliberately not here: model code (`lvcd.models`), numerical patches such as the GroupNorm eps (model side), and any
download: everything comes from local files.
"""

from __future__ import annotations

from .base import CheckpointError, KeyMappingError
from .build import DTYPES, convert_checkpoints
from .clip_keys import clip_openclip_to_transformers, clip_transformers_to_openclip
from .configs import CONFIG_SECTIONS, DEFAULT_PIPELINE_DIR, HINT_BLOCK_OUT_CHANNELS
from .readers import load_state_dict
from .sources import LVCD_CONTROLNET, SGM_CLIP_EMBEDDER, SGM_CLIP_VISUAL, SGM_COND_VAE, SGM_UNET, SGM_VAE
from .unet_keys import (
    controlnet_diffusers_to_sgm,
    controlnet_sgm_to_diffusers,
    unet_diffusers_to_sgm,
    unet_sgm_to_diffusers,
)
from .vae_keys import vae_diffusers_to_sgm, vae_sgm_to_diffusers

__all__ = [
    "CheckpointError",
    "KeyMappingError",
    "convert_checkpoints",
    "unet_sgm_to_diffusers",
    "unet_diffusers_to_sgm",
    "controlnet_sgm_to_diffusers",
    "controlnet_diffusers_to_sgm",
    "vae_sgm_to_diffusers",
    "vae_diffusers_to_sgm",
    "clip_openclip_to_transformers",
    "clip_transformers_to_openclip",
    "load_state_dict",
    "DEFAULT_PIPELINE_DIR",
    "DTYPES",
    "CONFIG_SECTIONS",
    "HINT_BLOCK_OUT_CHANNELS",
    "SGM_UNET",
    "SGM_VAE",
    "SGM_COND_VAE",
    "SGM_CLIP_EMBEDDER",
    "SGM_CLIP_VISUAL",
    "LVCD_CONTROLNET",
]
