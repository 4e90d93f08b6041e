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

Deliberately not here: model code (`lvcd.models`), numerical patches such as the GroupNorm eps (model side), and any
download: everything comes from local files.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

__all__ = [
    "CheckpointError",
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
]

# Prefixes of the official files (sgm `DiffusionEngine` / LVCD `VideoDiffusionEngine` attribute names).
SGM_UNET = "model.diffusion_model."
SGM_VAE = "first_stage_model."
SGM_COND_VAE = "conditioner.embedders.3.encoder."  # AutoencoderKLModeOnly of the concat-latent conditioner
SGM_CLIP_EMBEDDER = "conditioner.embedders.0."  # FrozenOpenCLIPImagePredictionEmbedder
SGM_CLIP_VISUAL = "conditioner.embedders.0.open_clip.model.visual."
LVCD_CONTROLNET = "control_model."

# The UNet tensors LVCD trained: every spatial (`transformer_blocks.0.attn1`) and temporal attn1 (160 in SVD).
_TRAINED_ATTN1 = re.compile(r"\.(transformer_blocks|temporal_transformer_blocks)\.\d+\.attn1\.")

# Hint embedding of LVCD's ControlNet (`input_hint_block`): diffusers' ControlNetConditioningEmbedding channels.
HINT_BLOCK_OUT_CHANNELS = (16, 32, 96, 256)

# The real LVCD-on-SVD-img2vid architecture as a diffusers pipeline folder (configs only, no weights).
DEFAULT_PIPELINE_DIR = Path(__file__).resolve().parent.parent / "pipelines" / "lvcd-svd"

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_FP16_MAX = 65504.0

CONFIG_SECTIONS = ("unet", "vae", "controlnet", "image_encoder", "feature_extractor", "scheduler")

# Weight file names inside a diffusers / transformers component folder, in order of preference.
_WEIGHT_FILES = (
    "diffusion_pytorch_model.safetensors",
    "model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
    "pytorch_model.fp16.bin",
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match the expected model; the message names the file and fix."""


class KeyMappingError(ValueError):
    """Keys that no rule of a key map accepts. `unknown` lists them in the input's naming."""

    def __init__(self, component: str, unknown: list[str]):
        self.component, self.unknown = component, unknown
        super().__init__(f"{len(unknown)} {component} key(s) fit no conversion rule, e.g. {_preview(unknown)}")


# ----------------------------------------------------------------------------------------------------------------
# Key maps. A "plan" maps each output key to (input key, value transform or None); a map is a pure function of the
# key set, so the converters can check keys before reading a single tensor.
# ----------------------------------------------------------------------------------------------------------------
Transform = Callable[[torch.Tensor], torch.Tensor] | None
Plan = dict[str, tuple[str, Transform]]


def _sub(rest: str, table: Mapping[str, str]) -> str | None:
    """Replace the leading dotted name of `rest` found in `table` (longest first); None if none matches."""
    for old in sorted(table, key=len, reverse=True):
        if rest == old or rest.startswith(old + "."):
            return table[old] + rest[len(old):]
    return None


def _invert(table: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


def _int(s: str) -> int | None:
    return int(s) if s.isdigit() else None


# -- UNet / ControlNet (sgm VideoUNet <-> diffusers UNetSpatioTemporalConditionModel) -----------------------------

# sgm ResBlock sub-modules -> diffusers ResnetBlock2D / TemporalResnetBlock names.
_RESBLOCK = {
    "in_layers.0": "norm1",
    "in_layers.2": "conv1",
    "emb_layers.1": "time_emb_proj",
    "out_layers.0": "norm2",
    "out_layers.3": "conv2",
    "skip_connection": "conv_shortcut",
}
# SpatialVideoTransformer -> TransformerSpatioTemporalModel: only these differ (norm, proj_in, proj_out,
# transformer_blocks.*, time_mixer.mix_factor and every attention/feed-forward sub-name are identical).
_VIDEO_TRANSFORMER = {
    "time_stack": "temporal_transformer_blocks",
    "time_pos_embed.0": "time_pos_embed.linear_1",
    "time_pos_embed.2": "time_pos_embed.linear_2",
}
_UNET_TOP = {
    "time_embed.0": "time_embedding.linear_1",
    "time_embed.2": "time_embedding.linear_2",
    "label_emb.0.0": "add_embedding.linear_1",
    "label_emb.0.2": "add_embedding.linear_2",
    "input_blocks.0.0": "conv_in",
    "out.0": "conv_norm_out",
    "out.2": "conv_out",
}


def _video_resblock(rest: str) -> str | None:
    # VideoResBlock = spatial ResBlock + `time_stack` (temporal ResBlock) + `time_mixer`
    if rest == "time_mixer.mix_factor":
        return rest
    if rest.startswith("time_stack."):
        r = _sub(rest[len("time_stack."):], _RESBLOCK)
        return r and "temporal_res_block." + r
    r = _sub(rest, _RESBLOCK)
    return r and "spatial_res_block." + r


def _video_resblock_inv(rest: str) -> str | None:
    if rest == "time_mixer.mix_factor":
        return rest
    inv = _invert(_RESBLOCK)
    for branch, sgm in (("spatial_res_block.", ""), ("temporal_res_block.", "time_stack.")):
        if rest.startswith(branch):
            r = _sub(rest[len(branch):], inv)
            return r and sgm + r
    return None


def _video_transformer(rest: str) -> str:
    return _sub(rest, _VIDEO_TRANSFORMER) or rest


def _video_transformer_inv(rest: str) -> str:
    return _sub(rest, _invert(_VIDEO_TRANSFORMER)) or rest


def _hint_block_key(index: int, last: int) -> str:
    # input_hint_block: conv(0), SiLU, conv(2), SiLU, ..., conv(last); ControlNetConditioningEmbedding: conv_in,
    # blocks.0..n-1, conv_out.
    if index == 0:
        return "controlnet_cond_embedding.conv_in"
    if index == last:
        return "controlnet_cond_embedding.conv_out"
    return f"controlnet_cond_embedding.blocks.{index // 2 - 1}"


def _unet_key(key: str, layers_per_block: int, hint_last: int | None = None) -> str | None:
    """One sgm VideoUNet / LVCD ControlNet key (prefix stripped) -> its diffusers name, or None if no rule fits."""
    top = _sub(key, _UNET_TOP)
    if top is not None:
        return top
    p = key.split(".")
    per_level = layers_per_block + 1  # resnets (+ attentions) of a level, then its down/upsampler
    if p[0] == "input_blocks" and len(p) > 3 and (_int(p[1]) or 0) >= 1 and _int(p[2]) is not None:
        i, j, rest = int(p[1]), int(p[2]), ".".join(p[3:])
        level, layer = divmod(i - 1, per_level)
        if layer == layers_per_block:  # `Downsample` of the level
            return f"down_blocks.{level}.downsamplers.0.conv.{rest[3:]}" if j == 0 and rest.startswith("op.") else None
        if j == 0:
            r = _video_resblock(rest)
            return r and f"down_blocks.{level}.resnets.{layer}.{r}"
        if j == 1:
            return f"down_blocks.{level}.attentions.{layer}.{_video_transformer(rest)}"
        return None
    if p[0] == "middle_block" and len(p) > 2 and p[1] in ("0", "1", "2"):
        rest = ".".join(p[2:])
        if p[1] == "1":
            return f"mid_block.attentions.0.{_video_transformer(rest)}"
        r = _video_resblock(rest)
        return r and f"mid_block.resnets.{int(p[1]) // 2}.{r}"
    if p[0] == "output_blocks" and len(p) > 3 and _int(p[1]) is not None and _int(p[2]) is not None:
        i, j, rest = int(p[1]), int(p[2]), ".".join(p[3:])
        level, layer = divmod(i, per_level)
        if j == 0:
            r = _video_resblock(rest)
            return r and f"up_blocks.{level}.resnets.{layer}.{r}"
        if rest.startswith("conv.") and layer == layers_per_block:  # `Upsample`: .1 without attention, else .2
            return f"up_blocks.{level}.upsamplers.0.conv.{rest[5:]}"
        if j == 1:
            return f"up_blocks.{level}.attentions.{layer}.{_video_transformer(rest)}"
        return None
    # LVCD ControlNet additions
    if hint_last is not None and p[0] == "input_hint_block" and len(p) == 3 and _int(p[1]) is not None:
        i = int(p[1])
        return f"{_hint_block_key(i, hint_last)}.{p[2]}" if i % 2 == 0 and i <= hint_last else None
    if p[0] == "zero_convs" and len(p) == 4 and _int(p[1]) is not None and p[2] == "0":
        return f"controlnet_down_blocks.{p[1]}.{p[3]}"
    if p[0] == "middle_block_out" and len(p) == 3 and p[1] == "0":
        return f"controlnet_mid_block.{p[2]}"
    return None


_UNET_KEY_RE = re.compile(
    r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)$"
)


def _unet_key_inv(key: str, layers_per_block: int, attention_up_levels: set[int], hint_blocks: int = 0) -> str | None:
    """One diffusers UNet / ControlNet key -> its sgm name, or None. `attention_up_levels`: up-block indices that
    have attentions (their upsampler is `output_blocks.i.2`, else `.1`)."""
    top = _sub(key, _invert(_UNET_TOP))
    if top is not None:
        return top
    per_level = layers_per_block + 1
    m = _UNET_KEY_RE.match(key)
    if m:
        blocks, level, kind, idx, rest = m.group(1), int(m.group(2)), m.group(3), int(m.group(4)), m.group(5)
        if blocks == "down_blocks":
            if kind == "downsamplers" and idx == 0 and rest.startswith("conv."):
                return f"input_blocks.{1 + level * per_level + layers_per_block}.0.op.{rest[5:]}"
            i = 1 + level * per_level + idx
        else:
            if kind == "upsamplers" and idx == 0 and rest.startswith("conv."):
                j = 2 if level in attention_up_levels else 1
                return f"output_blocks.{level * per_level + layers_per_block}.{j}.conv.{rest[5:]}"
            i = level * per_level + idx
        prefix = "input_blocks" if blocks == "down_blocks" else "output_blocks"
        if kind == "resnets":
            r = _video_resblock_inv(rest)
            return r and f"{prefix}.{i}.0.{r}"
        if kind == "attentions":
            return f"{prefix}.{i}.1.{_video_transformer_inv(rest)}"
        return None
    m = re.match(r"^mid_block\.(resnets|attentions)\.(\d)\.(.+)$", key)
    if m:
        if m.group(1) == "attentions":
            return f"middle_block.1.{_video_transformer_inv(m.group(3))}" if m.group(2) == "0" else None
        r = _video_resblock_inv(m.group(3))
        return r and f"middle_block.{2 * int(m.group(2))}.{r}"
    m = re.match(r"^controlnet_cond_embedding\.(conv_in|conv_out|blocks\.(\d+))\.(weight|bias)$", key)
    if m:
        index = 0 if m.group(1) == "conv_in" else 2 * (hint_blocks + 1) if m.group(1) == "conv_out" else \
            2 * (int(m.group(2)) + 1)
        return f"input_hint_block.{index}.{m.group(3)}"
    m = re.match(r"^controlnet_down_blocks\.(\d+)\.(weight|bias)$", key)
    if m:
        return f"zero_convs.{m.group(1)}.0.{m.group(2)}"
    m = re.match(r"^controlnet_mid_block\.(weight|bias)$", key)
    if m:
        return f"middle_block_out.0.{m.group(1)}"
    return None


def _rename_plan(keys, rename: Callable[[str], str | None]) -> tuple[Plan, list[str]]:
    plan: Plan = {}
    unknown: list[str] = []
    for k in keys:
        new = rename(k)
        if new is None or new in plan:  # a second source for one target is as wrong as no rule
            unknown.append(k)
        else:
            plan[new] = (k, None)
    return plan, unknown


def _hint_last(keys) -> int | None:
    idx = [_int(k.split(".")[1]) for k in keys if k.startswith("input_hint_block.")]
    idx = [i for i in idx if i is not None]
    return max(idx) if idx else None


def _unet_plan(keys, layers_per_block: int, controlnet: bool = False) -> tuple[Plan, list[str]]:
    keys = list(keys)
    _check_layers_per_block(layers_per_block)
    hint_last = _hint_last(keys) if controlnet else None
    return _rename_plan(keys, lambda k: _unet_key(k, layers_per_block, hint_last))


def _unet_inv_plan(keys, layers_per_block: int) -> tuple[Plan, list[str]]:
    keys = list(keys)
    _check_layers_per_block(layers_per_block)
    attention_up_levels = {int(k.split(".")[1]) for k in keys if re.match(r"^up_blocks\.\d+\.attentions\.", k)}
    hint_blocks = len({k.split(".")[2] for k in keys if k.startswith("controlnet_cond_embedding.blocks.")})
    return _rename_plan(keys, lambda k: _unet_key_inv(k, layers_per_block, attention_up_levels, hint_blocks))


def _check_layers_per_block(layers_per_block) -> None:
    if not isinstance(layers_per_block, int) or layers_per_block < 1:
        raise ValueError(
            f"`layers_per_block` must be one positive int for the sgm block arithmetic (got {layers_per_block!r}); "
            "per-level values are not supported by this converter."
        )


# -- VAE (sgm Encoder + VideoDecoder <-> diffusers AutoencoderKLTemporalDecoder) ----------------------------------

_VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2", "nin_shortcut": "conv_shortcut"}
_VAE_TIME_STACK = {"in_layers.0": "norm1", "in_layers.2": "conv1", "out_layers.0": "norm2", "out_layers.3": "conv2"}
_VAE_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}
_VAE_ATTN_LINEAR = ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight")


def _conv1x1_to_linear(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], t.shape[1]) if t.ndim == 4 else t  # [C, C, 1, 1] -> [C, C]


def _linear_to_conv1x1(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(*t.shape, 1, 1) if t.ndim == 2 else t  # [C, C] -> [C, C, 1, 1]


def _vae_video_resnet(rest: str) -> str | None:
    # sgm VideoResBlock in the decoder: spatial ResnetBlock names at top level, `time_stack` ResBlock, `mix_factor`.
    if rest == "mix_factor":
        return "time_mixer.mix_factor"  # fix 3: not `spatial_res_block.time_mixer.mix_factor`
    if rest.startswith("time_stack."):
        r = _sub(rest[len("time_stack."):], _VAE_TIME_STACK)
        return r and "temporal_res_block." + r  # fix 2: not `temporal_res_block.spatial_res_block.*`
    r = _sub(rest, _VAE_RESNET)
    return r and "spatial_res_block." + r


def _vae_key(key: str, num_levels: int) -> tuple[str, Transform] | None:
    p = key.split(".")
    if p[0] == "quant_conv" and len(p) == 2:
        return key, None
    if p[0] not in ("encoder", "decoder") or len(p) < 3:
        return None
    side, q = p[0], p[1:]
    if q[0] in ("conv_in",) and len(q) == 2:
        return key, None
    if q[0] == "norm_out" and len(q) == 2:
        return f"{side}.conv_norm_out.{q[1]}", None
    if q[0] == "conv_out":
        if side == "decoder" and len(q) == 3 and q[1] == "time_mix_conv":
            return f"decoder.time_conv_out.{q[2]}", None  # fix 4: the sgm name has the `conv_out.` prefix
        return (key, None) if len(q) == 2 else None
    if q[0] == "mid" and len(q) >= 3:
        if q[1] == "attn_1":
            r = _sub(".".join(q[2:]), _VAE_ATTN)
            if r is None:
                return None
            new = f"{side}.mid_block.attentions.0.{r}"
            return new, (_conv1x1_to_linear if r in _VAE_ATTN_LINEAR else None)
        if q[1] in ("block_1", "block_2"):
            inner = ".".join(q[2:])
            r = _sub(inner, _VAE_RESNET) if side == "encoder" else _vae_video_resnet(inner)
            return (f"{side}.mid_block.resnets.{int(q[1][-1]) - 1}.{r}", None) if r else None
        return None
    if side == "encoder" and q[0] == "down" and len(q) >= 4 and _int(q[1]) is not None:
        level = int(q[1])
        if q[2] == "block" and _int(q[3]) is not None:
            r = _sub(".".join(q[4:]), _VAE_RESNET)  # fix 1: plain 2D encoder, no `spatial_res_block.` infix
            return (f"encoder.down_blocks.{level}.resnets.{q[3]}.{r}", None) if r else None
        if q[2] == "downsample" and q[3] == "conv" and len(q) == 5:
            return f"encoder.down_blocks.{level}.downsamplers.0.conv.{q[4]}", None
        return None
    if side == "decoder" and q[0] == "up" and len(q) >= 4 and _int(q[1]) is not None:
        level = num_levels - 1 - int(q[1])  # sgm counts decoder levels from the lowest resolution up
        if level < 0:
            return None
        if q[2] == "block" and _int(q[3]) is not None:
            r = _vae_video_resnet(".".join(q[4:]))
            return (f"decoder.up_blocks.{level}.resnets.{q[3]}.{r}", None) if r else None
        if q[2] == "upsample" and q[3] == "conv" and len(q) == 5:
            return f"decoder.up_blocks.{level}.upsamplers.0.conv.{q[4]}", None
        return None
    return None


def _vae_key_inv(key: str, num_levels: int) -> tuple[str, Transform] | None:
    p = key.split(".")
    if p[0] == "quant_conv" and len(p) == 2:
        return key, None
    if p[0] not in ("encoder", "decoder") or len(p) < 3:
        return None
    side, q = p[0], p[1:]
    if q[0] == "conv_in" and len(q) == 2:
        return key, None
    if q[0] == "conv_out" and len(q) == 2:
        return key, None
    if q[0] == "conv_norm_out" and len(q) == 2:
        return f"{side}.norm_out.{q[1]}", None
    if side == "decoder" and q[0] == "time_conv_out" and len(q) == 2:
        return f"decoder.conv_out.time_mix_conv.{q[1]}", None
    rest = ".".join(q)
    m = re.match(r"^mid_block\.attentions\.0\.(.+)$", rest)
    if m:
        r = _sub(m.group(1), _invert(_VAE_ATTN))
        return r and (f"{side}.mid.attn_1.{r}", _linear_to_conv1x1 if m.group(1) in _VAE_ATTN_LINEAR else None)
    inv_res = _invert(_VAE_RESNET)

    def video_res_inv(r: str) -> str | None:
        if r == "time_mixer.mix_factor":
            return "mix_factor"
        if r.startswith("temporal_res_block."):
            s = _sub(r[len("temporal_res_block."):], _invert(_VAE_TIME_STACK))
            return s and "time_stack." + s
        if r.startswith("spatial_res_block."):
            return _sub(r[len("spatial_res_block."):], inv_res)
        return None

    resnet_inv = (lambda r: _sub(r, inv_res)) if side == "encoder" else video_res_inv
    m = re.match(r"^mid_block\.resnets\.([01])\.(.+)$", rest)
    if m:
        r = resnet_inv(m.group(2))
        return r and (f"{side}.mid.block_{int(m.group(1)) + 1}.{r}", None)
    m = re.match(r"^(down_blocks|up_blocks)\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.+)$", rest)
    if not m:
        return None
    blocks, level, kind, idx, tail = m.group(1), int(m.group(2)), m.group(3), m.group(4), m.group(5)
    if side == "encoder" and blocks == "down_blocks":
        if kind == "resnets":
            r = resnet_inv(tail)
            return r and (f"encoder.down.{level}.block.{idx}.{r}", None)
        if kind == "downsamplers" and idx == "0" and tail.startswith("conv."):
            return f"encoder.down.{level}.downsample.{tail}", None
    if side == "decoder" and blocks == "up_blocks":
        sgm_level = num_levels - 1 - level
        if kind == "resnets":
            r = resnet_inv(tail)
            return r and (f"decoder.up.{sgm_level}.block.{idx}.{r}", None)
        if kind == "upsamplers" and idx == "0" and tail.startswith("conv."):
            return f"decoder.up.{sgm_level}.upsample.{tail}", None
    return None


def _transform_plan(keys, rename: Callable[[str], tuple[str, Transform] | None]) -> tuple[Plan, list[str]]:
    plan: Plan = {}
    unknown: list[str] = []
    for k in keys:
        r = rename(k)
        if r is None or r[0] in plan:
            unknown.append(k)
        else:
            plan[r[0]] = (k, r[1])
    return plan, unknown


def _vae_levels(keys, pattern: str) -> int:
    levels = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(levels) + 1 if levels else 0


def _vae_plan(keys, num_levels: int | None = None) -> tuple[Plan, list[str]]:
    keys = list(keys)
    n = num_levels or _vae_levels(keys, r"^decoder\.up\.(\d+)\.")
    return _transform_plan(keys, lambda k: _vae_key(k, n))


def _vae_inv_plan(keys, num_levels: int | None = None) -> tuple[Plan, list[str]]:
    keys = list(keys)
    n = num_levels or _vae_levels(keys, r"^decoder\.up_blocks\.(\d+)\.")
    return _transform_plan(keys, lambda k: _vae_key_inv(k, n))


# -- CLIP (OpenCLIP VisionTransformer <-> transformers CLIPVisionModelWithProjection) -----------------------------

_CLIP_TOP = {
    "conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "class_embedding": "vision_model.embeddings.class_embedding",
    "positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "ln_post.weight": "vision_model.post_layernorm.weight",
    "ln_post.bias": "vision_model.post_layernorm.bias",
}
_CLIP_BLOCK = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
               "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}


def _chunk(i: int) -> Transform:
    return lambda t: t.chunk(3, dim=0)[i].contiguous()  # fused [q; k; v] rows


def _transpose(t: torch.Tensor) -> torch.Tensor:
    return t.t().contiguous()  # OpenCLIP `x @ proj` ([width, dim]) -> Linear weight [dim, width]


def _clip_plan(keys) -> tuple[Plan, list[str]]:
    plan: Plan = {}
    unknown: list[str] = []
    for k in keys:
        if k in _CLIP_TOP:
            plan[_CLIP_TOP[k]] = (k, None)
            continue
        if k == "proj":
            plan["visual_projection.weight"] = (k, _transpose)
            continue
        m = re.match(r"^transformer\.resblocks\.(\d+)\.(.+)$", k)
        if not m:
            unknown.append(k)
            continue
        layer, rest = f"vision_model.encoder.layers.{m.group(1)}", m.group(2)
        if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
            suffix = rest.rsplit("_", 1)[1]
            for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
                plan[f"{layer}.self_attn.{name}.{suffix}"] = (k, _chunk(i))
            continue
        r = _sub(rest, _CLIP_BLOCK)
        if r is None:
            unknown.append(k)
        else:
            plan[f"{layer}.{r}"] = (k, None)
    return plan, unknown


def clip_openclip_to_transformers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenCLIP `VisionTransformer` state dict (`conv1`, `class_embedding`, `transformer.resblocks.N.*`, `proj`, ...;
    the `...open_clip.model.visual.` prefix stripped) -> transformers `CLIPVisionModelWithProjection` state dict."""
    plan, unknown = _clip_plan(state_dict.keys())
    if unknown:
        raise KeyMappingError("OpenCLIP visual", unknown)
    return _materialize(plan, state_dict)


def clip_transformers_to_openclip(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of `clip_openclip_to_transformers` (q/k/v re-fused into `in_proj`, projection transposed back)."""
    inv_top = _invert(_CLIP_TOP)
    inv_block = _invert(_CLIP_BLOCK)
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for k, v in state_dict.items():
        if k in inv_top:
            out[inv_top[k]] = v
        elif k == "visual_projection.weight":
            out["proj"] = v.t().contiguous()
        elif m := re.match(r"^vision_model\.encoder\.layers\.(\d+)\.(.+)$", k):
            block, rest = f"transformer.resblocks.{m.group(1)}", m.group(2)
            if q := re.match(r"^self_attn\.([qkv])_proj\.(weight|bias)$", rest):
                fused.setdefault(f"{block}.attn.in_proj_{q.group(2)}", {})[q.group(1)] = v
            elif (r := _sub(rest, inv_block)) is not None:
                out[f"{block}.{r}"] = v
            else:
                unknown.append(k)
        else:
            unknown.append(k)
    for name, parts in fused.items():
        if set(parts) != {"q", "k", "v"}:
            unknown.append(name)
        else:
            out[name] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    if unknown:
        raise KeyMappingError("transformers CLIP vision", unknown)
    return out


# -- public pure converters -----------------------------------------------------------------------------------------


def _materialize(plan: Plan, source: Mapping[str, torch.Tensor], dtype: torch.dtype | None = None
                 ) -> dict[str, torch.Tensor]:
    out = {}
    for new, (old, transform) in plan.items():
        t = source[old]
        if transform is not None:
            t = transform(t)
        out[new] = t.to(dtype) if dtype is not None and t.is_floating_point() else t
    return out


def _convert(plan_fn, component: str, state_dict: Mapping[str, torch.Tensor], *args) -> dict[str, torch.Tensor]:
    plan, unknown = plan_fn(state_dict.keys(), *args)
    if unknown:
        raise KeyMappingError(component, unknown)
    return _materialize(plan, state_dict)


def unet_sgm_to_diffusers(state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
                          ) -> dict[str, torch.Tensor]:
    """sgm `VideoUNet` state dict (`model.diffusion_model.` stripped) -> diffusers `UNetSpatioTemporalConditionModel`
    names. Also converts a subset (e.g. LVCD's 160 attn1 tensors). Raises `KeyMappingError` for keys no rule fits."""
    return _convert(_unet_plan, "sgm UNet", state_dict, layers_per_block)


def unet_diffusers_to_sgm(state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
                          ) -> dict[str, torch.Tensor]:
    """Inverse of `unet_sgm_to_diffusers` (the upsampler index `.1`/`.2` is read from which up blocks have
    attentions, so pass a whole UNet)."""
    return _convert(_unet_inv_plan, "diffusers UNet", state_dict, layers_per_block)


def controlnet_sgm_to_diffusers(state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
                                ) -> dict[str, torch.Tensor]:
    """LVCD `ControlNet` state dict (`control_model.` stripped) -> `LVCDControlNetModel` names: the SVD-encoder map
    plus `input_hint_block` -> `controlnet_cond_embedding.{conv_in, blocks.*, conv_out}`, `zero_convs.i.0` ->
    `controlnet_down_blocks.i`, `middle_block_out.0` -> `controlnet_mid_block`."""
    return _convert(lambda keys, lpb: _unet_plan(keys, lpb, controlnet=True), "sgm ControlNet", state_dict,
                    layers_per_block)


def controlnet_diffusers_to_sgm(state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
                                ) -> dict[str, torch.Tensor]:
    """Inverse of `controlnet_sgm_to_diffusers`."""
    return _convert(_unet_inv_plan, "diffusers ControlNet", state_dict, layers_per_block)


def vae_sgm_to_diffusers(state_dict: Mapping[str, torch.Tensor], num_levels: int | None = None
                         ) -> dict[str, torch.Tensor]:
    """sgm first stage (`encoder.*` 2D Encoder + `decoder.*` VideoDecoder, `first_stage_model.` stripped) plus an
    optional `quant_conv.*` (take it from `conditioner.embedders.3.encoder.quant_conv`) -> diffusers
    `AutoencoderKLTemporalDecoder`. `num_levels` defaults to the number of decoder `up.N` levels found."""
    return _convert(_vae_plan, "sgm VAE", state_dict, num_levels)


def vae_diffusers_to_sgm(state_dict: Mapping[str, torch.Tensor], num_levels: int | None = None
                         ) -> dict[str, torch.Tensor]:
    """Inverse of `vae_sgm_to_diffusers` (`quant_conv.*` kept as is)."""
    return _convert(_vae_inv_plan, "diffusers VAE", state_dict, num_levels)


# ----------------------------------------------------------------------------------------------------------------
# Reading checkpoints
# ----------------------------------------------------------------------------------------------------------------


class _SafetensorsDict(Mapping):
    """Read-only mapping over one .safetensors file; tensors are read on access (a 10 GB file is never read whole)."""

    def __init__(self, path: Path):
        from safetensors import safe_open

        self.path = path
        self._file = safe_open(str(path), framework="pt", device="cpu")
        self._keys = list(self._file.keys())
        self._key_set = set(self._keys)

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in self._key_set:
            raise KeyError(key)
        return self._file.get_tensor(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key) -> bool:
        return key in self._key_set

    def shape_of(self, key: str) -> list[int]:
        return self._file.get_slice(key).get_shape()


class _PrefixView(Mapping):
    """Lazy view of the keys of `base` that start with `prefix`, with the prefix stripped."""

    def __init__(self, base: Mapping[str, torch.Tensor], prefix: str):
        self.base, self.prefix = base, prefix
        self._keys = [k[len(prefix):] for k in base.keys() if k.startswith(prefix)]

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.base[self.prefix + key]

    def shape_of(self, key: str) -> tuple[int, ...]:
        return _shape_of(self.base, self.prefix + key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class _MergedDict(Mapping):
    def __init__(self, parts: list[Mapping[str, torch.Tensor]]):
        self._where = {k: part for part in parts for k in part.keys()}

    def __getitem__(self, key: str) -> torch.Tensor:
        return self._where[key][key]

    def shape_of(self, key: str) -> tuple[int, ...]:
        return _shape_of(self._where[key], key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:4] == b"PK\x03\x04":
        return "zip"  # torch.save (>= 1.6)
    if head[:1] == b"\x80":
        return "pickle"  # legacy torch.save / raw pickle
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"  # u64 header length, then the JSON header
    return "unknown"


def _load_pickle_weights(path: Path, kind: str) -> dict:
    try:
        # mmap keeps a multi-GB .ckpt out of RAM until each tensor is used (zip format only)
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=kind == "zip")
    except pickle.UnpicklingError as e:
        detail = str(e).strip().splitlines()
        hint = next((line.strip() for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0] if detail
                    else "")
        raise CheckpointError(
            f"Refusing to load {path}: it holds pickled objects other than tensors and plain containers ({hint}). "
            "lvcd never runs pickled code. Use the .safetensors version of these weights, or re-save the state dict "
            "as .safetensors in an environment you trust."
        ) from e
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as e:
        first_line = str(e).splitlines()[0] if str(e) else ""
        raise CheckpointError(
            f"Could not read {path} as a PyTorch checkpoint ({type(e).__name__}: {first_line}). The file looks "
            "truncated or is not a checkpoint: download it again and compare its size."
        ) from e
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # Lightning checkpoint
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict (a mapping of name -> tensor).")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{path}: the state dict holds {len(bad)} entries that are not tensors, e.g. "
            f"{_preview([f'{k!s} ({type(obj[k]).__name__})' for k in bad])}. Expected a state dict of tensors only."
        )
    return dict(obj)


def load_state_dict(path: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    """Tensors of a .safetensors file (read lazily) or of a .ckpt/.pt/.bin (`torch.load(weights_only=True)`; a
    Lightning checkpoint's `state_dict`). Refuses pickles holding anything but tensors and plain containers."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist (or is not a file).")
    kind = _sniff(path)
    if path.suffix == ".safetensors" or kind == "safetensors":
        try:
            return _SafetensorsDict(path)
        except Exception as e:  # safetensors raises its own SafetensorError / OSError types
            raise CheckpointError(
                f"Could not read {path} as .safetensors ({type(e).__name__}: {e}). The file looks truncated or is "
                "not a safetensors file: download it again and compare its size."
            ) from e
    if kind in ("zip", "pickle"):
        return _load_pickle_weights(path, kind)
    raise CheckpointError(
        f"{path} is neither a .safetensors file nor a PyTorch checkpoint (unrecognised header). Pass the official "
        "`svd.safetensors` / `lvcd.ckpt` (or `lvcd-fp16.safetensors`)."
    )


def _component_weights(folder: Path) -> Mapping[str, torch.Tensor]:
    """The state dict of one diffusers/transformers component folder (single file, fp16 variant or shards)."""
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return load_state_dict(folder / name)
    for index in sorted(folder.glob("*.index*.json")):
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return _MergedDict([load_state_dict(folder / s) for s in shards])
    raise FileNotFoundError(
        f"No weights in {folder} (looked for {', '.join(_WEIGHT_FILES[:4])}, ... or a sharded *.index.json). "
        "Is the diffusers SVD folder complete?"
    )


# ----------------------------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from e


def _clean(cfg: Mapping) -> dict:
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def _resolve_configs(svd: Path, config: str | os.PathLike | Mapping | None) -> dict[str, dict]:
    """Per-component configs: the defaults (`pipelines/lvcd-svd` or the diffusers SVD folder); each section of `config`
    replaces the default of its component (constructor kwargs; omitted kwargs take the class defaults)."""
    base_dir = svd if svd.is_dir() else DEFAULT_PIPELINE_DIR
    files = {
        "unet": "unet/config.json",
        "vae": "vae/config.json",
        "controlnet": "controlnet/config.json",
        "image_encoder": "image_encoder/config.json",
        "feature_extractor": "feature_extractor/preprocessor_config.json",
        "scheduler": "scheduler/scheduler_config.json",
    }
    configs: dict[str, dict] = {}
    for name, rel in files.items():
        for folder in (base_dir, DEFAULT_PIPELINE_DIR):
            if (folder / rel).is_file():
                configs[name] = _clean(_read_json(folder / rel))
                break
    if svd.is_dir() and not (svd / "controlnet" / "config.json").is_file():
        configs.pop("controlnet", None)  # derive the ControlNet from this folder's UNet, not the default one
    if config is not None:
        if isinstance(config, Mapping):
            user = dict(config)
        elif not Path(config).is_file():
            raise FileNotFoundError(f"`--config` {config} does not exist.")
        else:
            user = _read_json(Path(config))
        if not isinstance(user, dict):
            raise ValueError(f"`--config` {config} must hold a JSON object such as {{\"unet\": {{...}}, \"vae\": "
                             f"{{...}}}} (got a {type(user).__name__}).")
        unknown = sorted(set(user) - set(CONFIG_SECTIONS))
        if unknown:
            raise ValueError(
                f"`--config` {config}: unknown section(s) {unknown}; expected a JSON object with any of "
                f"{list(CONFIG_SECTIONS)}, e.g. {{\"unet\": {{...UNetSpatioTemporalConditionModel kwargs}}, "
                "\"vae\": {...AutoencoderKLTemporalDecoder kwargs}}."
            )
        for name, section in user.items():
            if not isinstance(section, Mapping):
                raise ValueError(f"`--config` {config}: section {name!r} must be a JSON object of keyword arguments.")
            configs[name] = _clean(section)
        if "unet" in user and "controlnet" not in user:
            configs.pop("controlnet", None)  # follow the given UNet
    for name in ("unet", "vae", "scheduler"):
        if name not in configs:
            raise FileNotFoundError(
                f"No {name} config: {DEFAULT_PIPELINE_DIR} is missing (lvcd installed without its `pipelines/` "
                f"folder?). Pass `--config CONFIG.json` with a {name!r} section."
            )
    return configs


def _controlnet_config(cls, unet_config: Mapping, given: Mapping | None) -> dict:
    """The ControlNet follows the UNet's encoder: every UNet kwarg its constructor accepts, plus the hint channels."""
    params = inspect.signature(cls.__init__).parameters
    cfg = {k: v for k, v in unet_config.items() if k in params}
    if "conditioning_embedding_out_channels" in params:
        cfg["conditioning_embedding_out_channels"] = list(HINT_BLOCK_OUT_CHANNELS)
    if given:
        cfg.update(given)
    return cfg


# ----------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------


def _preview(items, n: int = 5) -> str:
    items = list(items)
    shown = ", ".join(f"`{x}`" for x in items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")


@dataclass
class _Component:
    name: str  # pipeline component name
    title: str  # what the user knows it as
    source: Path  # file the tensors come from
    prefix: str  # prefix of those tensors in the file


def _key_report(comp: _Component, missing: list[str], unexpected: list[str], sgm_name: Callable[[str], str | None],
                hint: str, mismatched: list[str] = ()) -> str:
    lines = [f"{comp.source}: the {comp.title} ({comp.prefix}*) does not match the expected model:"]
    if missing:
        named = [f"{comp.prefix}{s}" if (s := sgm_name(k)) else k for k in missing]
        lines.append(f"  {len(missing)} missing tensor(s), e.g. {_preview(named)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected tensor(s), e.g. {_preview(comp.prefix + k for k in unexpected)}")
    if mismatched:
        lines.append(f"  {len(mismatched)} tensor(s) with the wrong shape (file vs model), e.g. "
                     f"{_preview(mismatched, 3)}")
    lines.append(hint)
    return "\n".join(lines)


def _shape_of(source: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    """A tensor's shape, without reading it where the source allows (safetensors headers, views of them)."""
    shape_of = getattr(source, "shape_of", None)
    return tuple(shape_of(key)) if shape_of is not None else tuple(source[key].shape)


def _shape_mismatches(comp: _Component, plan: Plan, source: Mapping[str, torch.Tensor],
                      expected: Mapping[str, torch.Size]) -> list[str]:
    bad = []
    for new in sorted(set(plan) & set(expected)):
        old, transform = plan[new]
        shape = _shape_of(source, old)
        if transform is not None:
            shape = tuple(transform(torch.empty(shape, device="meta")).shape)
        if shape != tuple(expected[new]):
            bad.append(f"{comp.prefix}{old} {shape} vs {tuple(expected[new])}")
    return bad


def _check_shapes(comp: _Component, state: Mapping[str, torch.Tensor], plan: Plan, expected: Mapping[str, torch.Size],
                  hint: str) -> None:
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k])]
    if bad:
        shown = [f"{comp.prefix}{plan[k][0]} {tuple(state[k].shape)} vs {tuple(expected[k])}" for k in bad]
        raise CheckpointError(
            f"{comp.source}: {len(bad)} tensor(s) of the {comp.title} have the wrong shape (file vs model), e.g. "
            f"{_preview(shown, 3)}.\n{hint}"
        )


# ----------------------------------------------------------------------------------------------------------------
# Sources: where each component's tensors come from, as key plans checked against the model's key set
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class _Planned:
    """One component, ready to build: its meta-device model, a checked plan and the tensors the plan reads."""

    comp: _Component
    model: torch.nn.Module
    plan: Plan
    source: Mapping[str, torch.Tensor]


def _expected(model: torch.nn.Module) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in model.state_dict().items()}


def _attention_up_levels(keys) -> set[int]:
    return {int(k.split(".")[1]) for k in keys if re.match(r"^up_blocks\.\d+\.attentions\.", k)}


def _checked_plan(comp: _Component, planned: tuple[Plan, list[str]], source: Mapping[str, torch.Tensor],
                  expected: Mapping[str, torch.Size], sgm_name: Callable[[str], str | None], hint: str) -> Plan:
    """The plan if it covers exactly the model's keys with the model's shapes (checked from the file headers, before
    any tensor is read); else a CheckpointError naming the first offenders in the file's own naming."""
    plan, unknown = planned
    missing = sorted(set(expected) - set(plan))
    unexpected = unknown + sorted(plan[k][0] for k in set(plan) - set(expected))
    mismatched = _shape_mismatches(comp, plan, source, expected)
    if missing or unexpected or mismatched:
        raise CheckpointError(_key_report(comp, missing, unexpected, sgm_name, hint, mismatched))
    return plan


def _identity_plan(keys) -> tuple[Plan, list[str]]:
    return {k: (k, None) for k in keys}, []


class _SgmSVD:
    """The official sgm `svd.safetensors`."""

    def __init__(self, path: Path):
        self.path = path
        self.sd = load_state_dict(path)
        keys = list(self.sd.keys())
        if any(k.startswith(LVCD_CONTROLNET) for k in keys) and not any(k.startswith(SGM_VAE) for k in keys):
            raise CheckpointError(f"`--svd` {path} looks like LVCD weights (it holds `{LVCD_CONTROLNET}*` and no "
                                  "VAE): pass svd.safetensors as `--svd` and this file as `--lvcd`.")
        if not any(k.startswith(SGM_UNET) for k in keys):
            raise CheckpointError(
                f"`--svd` {path} holds no UNet (`{SGM_UNET}*` tensors); found {len(keys)} tensors such as "
                f"{_preview(keys, 3)}. Pass the official SVD img2vid `svd.safetensors` or a diffusers SVD folder."
            )
        known = (SGM_UNET, SGM_VAE, SGM_COND_VAE, SGM_CLIP_EMBEDDER)
        other = sorted({".".join(k.split(".")[:2]) for k in keys if not k.startswith(known)})
        if other:
            logger.warning("%s: ignoring tensors under %s.", path, other)

    def unet(self, model, layers: int, hint: str) -> _Planned:
        comp = _Component("unet", "SVD UNet", self.path, SGM_UNET)
        view = _PrefixView(self.sd, SGM_UNET)
        expected = _expected(model)
        up = _attention_up_levels(expected)
        plan = _checked_plan(comp, _unet_plan(view.keys(), layers), view, expected,
                             lambda k: _unet_key_inv(k, layers, up), hint)
        return _Planned(comp, model, plan, view)

    def vae(self, model, hint: str) -> _Planned:
        comp = _Component("vae", "SVD VAE", self.path, SGM_VAE)
        quant = _PrefixView(self.sd, SGM_COND_VAE + "quant_conv.")
        source = _MergedDict([_PrefixView(self.sd, SGM_VAE), _RenamedView(quant, lambda k: "quant_conv." + k)])
        expected = _expected(model)
        n_levels = _vae_levels(expected, r"^decoder\.up_blocks\.(\d+)\.")

        def sgm_name(k: str) -> str | None:
            r = _vae_key_inv(k, n_levels)
            if r and r[0].startswith("quant_conv."):
                return f"(from the conditioner) {SGM_COND_VAE}{r[0]}"
            return r and r[0]

        plan = _checked_plan(comp, _vae_plan(source.keys(), n_levels), source, expected, sgm_name, hint)
        self._compare_encoders()
        return _Planned(comp, model, plan, source)

    def _compare_encoders(self) -> None:
        # lvcd-reference.md 9.1: LVCD's first segment encodes the reference with the conditioner's encoder (+
        # quant_conv), later segments with the first stage's; the converted VAE holds the first stage's encoder.
        first = _PrefixView(self.sd, SGM_VAE + "encoder.")
        cond = _PrefixView(self.sd, SGM_COND_VAE + "encoder.")
        if not len(cond):
            return
        if set(first.keys()) != set(cond.keys()):
            logger.warning("%s: the conditioner's VAE encoder (%s*) has other tensors than first_stage_model.encoder.",
                           self.path, SGM_COND_VAE + "encoder.")
            return
        diff = max((first[k].float() - cond[k].float()).abs().max().item() for k in first.keys())
        if diff > 0:
            logger.warning("%s: the conditioner's VAE encoder differs from first_stage_model.encoder (max |diff| "
                           "%.3g); the converted VAE holds the first stage's.", self.path, diff)

    def clip(self, config: Mapping | None, hint: str) -> _Planned | None:
        view = _PrefixView(self.sd, SGM_CLIP_VISUAL)
        if not len(view):
            return None  # no CLIP tower (or only a stub such as `...open_clip.proj`): the pipeline takes embeddings
        comp = _Component("image_encoder", "OpenCLIP image encoder", self.path, SGM_CLIP_VISUAL)
        model = _clip_model(config, hint)
        plan = _checked_plan(comp, _clip_plan(view.keys()), view, _expected(model), lambda k: None, hint)
        return _Planned(comp, model, plan, view)


class _DiffusersSVD:
    """A diffusers-format SVD folder (`unet/`, `vae/`, optional `image_encoder/`): names already match."""

    def __init__(self, folder: Path):
        self.path = folder
        for sub in ("unet", "vae"):
            if not (folder / sub).is_dir():
                raise FileNotFoundError(f"`--svd` {folder} is a folder without `{sub}/`: pass a diffusers SVD folder "
                                        "(unet/, vae/, image_encoder/, ...) or the official svd.safetensors.")

    def _planned(self, sub: str, title: str, model, hint: str) -> _Planned:
        weights = _component_weights(self.path / sub)
        comp = _Component(sub, title, self.path / sub, "")
        plan = _checked_plan(comp, _identity_plan(weights.keys()), weights, _expected(model), lambda k: None, hint)
        return _Planned(comp, model, plan, weights)

    def unet(self, model, layers: int, hint: str) -> _Planned:
        return self._planned("unet", "SVD UNet", model, hint)

    def vae(self, model, hint: str) -> _Planned:
        return self._planned("vae", "SVD VAE", model, hint)

    def clip(self, config: Mapping | None, hint: str) -> _Planned | None:
        if not (self.path / "image_encoder").is_dir():
            return None
        return self._planned("image_encoder", "CLIP image encoder", _clip_model(config, hint), hint)


class _LVCDWeights:
    """`lvcd.ckpt` / `lvcd(-fp16).safetensors`: `control_model.*` + the UNet `attn1` tensors LVCD trained."""

    def __init__(self, path: Path):
        self.path = path
        self.sd = load_state_dict(path)
        keys = list(self.sd.keys())
        if not any(k.startswith(LVCD_CONTROLNET) for k in keys):
            looks_svd = any(k.startswith(SGM_VAE) for k in keys)
            raise CheckpointError(
                f"`--lvcd` {path} holds no ControlNet (`{LVCD_CONTROLNET}*` tensors); found {len(keys)} tensors such "
                f"as {_preview(keys, 3)}. "
                + ("It looks like an SVD checkpoint: pass it as `--svd` and lvcd.ckpt as `--lvcd`." if looks_svd else
                   "Pass the LVCD weights (lvcd.ckpt or lvcd-fp16.safetensors).")
            )
        other = sorted({k.split(".")[0] for k in keys if not k.startswith((LVCD_CONTROLNET, SGM_UNET))})
        if other:
            logger.warning("%s: ignoring tensors outside %s* and %s* (prefixes %s).", path, LVCD_CONTROLNET, SGM_UNET,
                           other)

    def unet_overlay(self, model, layers: int, hint: str) -> _Planned:
        """Every spatial and temporal UNet `attn1` tensor, in diffusers names (they replace the SVD values)."""
        comp = _Component("unet", "LVCD UNet attention weights", self.path, SGM_UNET)
        view = _PrefixView(self.sd, SGM_UNET)
        expected = _expected(model)
        plan, unknown = _unet_plan(view.keys(), layers)
        trained = {k for k in expected if _TRAINED_ATTN1.search(k)}
        missing = sorted(trained - set(plan))
        unexpected = unknown + sorted(plan[k][0] for k in set(plan) - set(expected))
        mismatched = _shape_mismatches(comp, plan, view, expected)
        if missing or unexpected or mismatched:
            up = _attention_up_levels(expected)
            raise CheckpointError(_key_report(
                comp, missing, unexpected, lambda k: _unet_key_inv(k, layers, up),
                hint + " LVCD checkpoints hold every UNet `attn1` (spatial and temporal).", mismatched,
            ))
        extra = sorted(set(plan) - trained)
        if extra:
            logger.warning("%s also holds %d UNet tensors besides the attn1 ones (e.g. %s); they replace the SVD "
                           "values.", self.path, len(extra), _preview(extra, 3))
        return _Planned(comp, model, plan, view)

    def controlnet(self, model, layers: int, hint: str) -> _Planned:
        comp = _Component("controlnet", "LVCD ControlNet", self.path, LVCD_CONTROLNET)
        view = _PrefixView(self.sd, LVCD_CONTROLNET)
        expected = _expected(model)
        hint_blocks = len({k.split(".")[2] for k in expected if k.startswith("controlnet_cond_embedding.blocks.")})
        plan = _checked_plan(comp, _unet_plan(view.keys(), layers, controlnet=True), view, expected,
                             lambda k: _unet_key_inv(k, layers, set(), hint_blocks), hint)
        return _Planned(comp, model, plan, view)


class _RenamedView(Mapping):
    def __init__(self, base: Mapping[str, torch.Tensor], rename: Callable[[str], str]):
        self.base = base
        self._map = {rename(k): k for k in base.keys()}

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.base[self._map[key]]

    def shape_of(self, key: str) -> tuple[int, ...]:
        return _shape_of(self.base, self._map[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)


# ----------------------------------------------------------------------------------------------------------------
# The conversion
# ----------------------------------------------------------------------------------------------------------------


def _model_classes():
    from diffusers import AutoencoderKLTemporalDecoder

    from .models import LVCDControlNetModel, LVCDUNetModel

    return LVCDUNetModel, LVCDControlNetModel, AutoencoderKLTemporalDecoder


def _meta_model(cls, config: Mapping, title: str, hint: str):
    """The model with every tensor on the meta device: no memory, no random init; weights are assigned later."""
    try:
        with torch.device("meta"):
            return cls.from_config(dict(config))
    except Exception as e:
        raise ValueError(f"Could not build the {title} ({cls.__name__}) from its config ({type(e).__name__}: {e}). "
                         f"{hint}") from e


def _clip_model(config: Mapping | None, hint: str):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if not config:
        raise FileNotFoundError(f"No image_encoder config ({DEFAULT_PIPELINE_DIR} missing?): pass `--config` with an "
                                "\"image_encoder\" section (transformers CLIPVisionConfig kwargs).")
    skip = ("architectures", "model_type", "torch_dtype", "dtype", "transformers_version")
    kwargs = {k: v for k, v in config.items() if k not in skip}
    try:
        with torch.device("meta"):
            return CLIPVisionModelWithProjection(CLIPVisionConfig(**kwargs))
    except Exception as e:
        raise ValueError(f"Could not build the CLIP image encoder from its config ({type(e).__name__}: {e}). {hint}"
                         ) from e


def _parse_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"`dtype` must be one of {list(DTYPES)} or the matching torch dtype (got {dtype!r}).")


def _check_paths(svd: Path, lvcd: Path, out: Path, overwrite: bool) -> None:
    if not svd.exists():
        raise FileNotFoundError(f"`--svd` {svd} does not exist: pass the official svd.safetensors or a diffusers SVD "
                                "folder (with unet/, vae/, ...).")
    if not lvcd.is_file():
        raise FileNotFoundError(f"`--lvcd` {lvcd} does not exist (or is a folder): pass lvcd.ckpt or "
                                "lvcd-fp16.safetensors.")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"`--out` {out} exists and is not a folder; choose a folder path.")
    if out.exists() and not overwrite:
        raise FileExistsError(f"`--out` {out} already exists; pass `--overwrite` to replace it, or choose another "
                              "path.")
    o = out.resolve()
    for name, p in (("--svd", svd), ("--lvcd", lvcd)):
        r = p.resolve()
        if r == o or o in r.parents:
            raise ValueError(f"`{name}` {p} lies inside `--out` {out}, which is replaced: write the output elsewhere.")


def _arch_hint(has_config: bool) -> str:
    if has_config:
        return ("Check that the file is the model your `--config` describes (sizes, layers_per_block, "
                "num_attention_heads).")
    return ("Is this the official SVD img2vid (14-frame) `svd.safetensors` / LVCD `lvcd.ckpt`? A model of another "
            "size needs `--config` with its diffusers configs.")


def _cast(state: dict[str, torch.Tensor], dtype: torch.dtype, comp: _Component) -> dict[str, torch.Tensor]:
    if dtype == torch.float16:
        over = [k for k, v in state.items() if v.is_floating_point() and v.dtype != torch.float16
                and v.numel() and v.detach().abs().max().item() > _FP16_MAX]
        if over:
            logger.warning("%s: %d %s tensor(s) exceed the fp16 range and become inf, e.g. %s; use --dtype fp32 or "
                           "bf16.", comp.source, len(over), comp.title, _preview(over, 3))
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def _build(planned: list[_Planned], dtype: torch.dtype, folder: Path, hint: str) -> int:
    """Read the tensors of one component (from one or more sources, later ones win), check shapes, assign them to
    the meta model and save it. Returns the number of tensors."""
    state: dict[str, torch.Tensor] = {}
    model = planned[0].model
    expected = _expected(model)
    for p in planned:
        part = _materialize(p.plan, p.source)
        _check_shapes(p.comp, part, p.plan, expected, hint)
        state.update(part)
    model.load_state_dict(_cast(state, dtype, planned[0].comp), strict=True, assign=True)
    _save(model, folder)
    return len(state)


def _provenance(planned: list[_Planned]) -> str:
    """"1266 from svd.safetensors, 160 from lvcd.ckpt": later sources replace earlier ones."""
    taken: set[str] = set()
    parts = []
    for p in reversed(planned):
        parts.append(f"{len(set(p.plan) - taken)} from {p.comp.source.name}")
        taken |= set(p.plan)
    return ", ".join(reversed(parts))


def convert_checkpoints(
    svd: str | os.PathLike,
    lvcd: str | os.PathLike,
    out: str | os.PathLike,
    config: str | os.PathLike | Mapping | None = None,
    dtype: torch.dtype | str = torch.float32,
    overwrite: bool = False,
) -> Path:
    """Write a diffusers-format LVCD pipeline folder to `out` from the SVD base weights and the LVCD weights.

    Args:
        svd: official sgm `svd.safetensors` (fp32/fp16/bf16), or a diffusers-format SVD img2vid folder.
        lvcd: `lvcd.ckpt` (tensors-only Lightning pickle) or its .safetensors version (any float dtype).
        out: the pipeline folder to create; written to a temporary sibling and renamed when complete.
        config: JSON file (or dict) `{"unet": {...}, "vae": {...}}` of diffusers constructor kwargs for non-standard
            sizes (optional sections: "controlnet", "image_encoder", "feature_extractor", "scheduler"). Default: the
            real SVD img2vid configs in `pipelines/lvcd-svd` (or the configs of the diffusers SVD folder).
        dtype: dtype of the written weights (torch dtype or "fp32" / "fp16" / "bf16"); inputs are cast as needed.
        overwrite: replace an existing `out` (only once the new folder is complete).

    Returns:
        The path of the written folder.
    """
    svd, lvcd, out = Path(svd), Path(lvcd), Path(out)
    dtype = _parse_dtype(dtype)
    _check_paths(svd, lvcd, out, overwrite)
    configs = _resolve_configs(svd, config)
    hint = _arch_hint(config is not None)

    # 1. Open both files (headers only for .safetensors; a .ckpt is memory-mapped) and check them by their keys.
    base = _DiffusersSVD(svd) if svd.is_dir() else _SgmSVD(svd)
    weights = _LVCDWeights(lvcd)

    # 2. Meta-device models from the configs; every key plan checked against them before a tensor is read.
    unet_cls, controlnet_cls, vae_cls = _model_classes()
    unet_cfg = configs["unet"]
    layers = unet_cfg.get("layers_per_block", 2)
    unet = _meta_model(unet_cls, unet_cfg, "UNet", hint)
    controlnet = _meta_model(controlnet_cls, _controlnet_config(controlnet_cls, unet_cfg, configs.get("controlnet")),
                             "ControlNet", hint)
    vae = _meta_model(vae_cls, configs["vae"], "VAE", hint)
    components = {
        "unet": [base.unet(unet, layers, hint), weights.unet_overlay(unet, layers, hint)],
        "controlnet": [weights.controlnet(controlnet, layers, hint)],
        "vae": [base.vae(vae, hint)],
    }
    clip = base.clip(configs.get("image_encoder"), hint)
    has_clip = clip is not None
    if has_clip:
        components["image_encoder"] = [clip]
    del unet, controlnet, vae, clip

    # 3. Build and save one component at a time into a temporary sibling of `out`; rename it when complete.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for name in list(components):
            planned = components.pop(name)  # drop the references: one component's tensors in memory at a time
            n = _build(planned, dtype, tmp / name, hint)
            logger.info("%s: %d tensors (%s)", name, n, _provenance(planned))
            del planned
        if has_clip:
            _save_feature_extractor(configs.get("feature_extractor", {}), tmp / "feature_extractor")
        else:
            logger.info("image_encoder: none in %s (the pipeline then needs `image_embeddings`)", svd.name)

        from diffusers import EulerDiscreteScheduler

        EulerDiscreteScheduler.from_config(configs["scheduler"]).save_pretrained(tmp / "scheduler")
        _write_model_index(tmp, with_clip=has_clip)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %s", out)
    return out


# ----------------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------------


def _save(model, folder: Path) -> None:
    model.save_pretrained(str(folder), safe_serialization=True)


def _save_feature_extractor(config: Mapping, folder: Path) -> None:
    from transformers import CLIPImageProcessor

    cfg = {k: v for k, v in config.items() if k not in ("feature_extractor_type", "image_processor_type")}
    CLIPImageProcessor(**cfg).save_pretrained(str(folder))


def _write_model_index(folder: Path, with_clip: bool) -> None:
    import diffusers

    none = [None, None]
    index = {
        "_class_name": ["lvcd", "LVCDPipeline"],
        "_diffusers_version": diffusers.__version__,
        "controlnet": ["lvcd", "LVCDControlNetModel"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"] if with_clip else none,
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"] if with_clip else none,
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "unet": ["lvcd", "LVCDUNetModel"],
        "vae": ["diffusers", "AutoencoderKLTemporalDecoder"],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished folder into place; an existing `out` is removed only once the new one is there."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
