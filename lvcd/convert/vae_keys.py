"""VAE key map: sgm `Encoder` + `VideoDecoder` <-> diffusers `AutoencoderKLTemporalDecoder`, with the four fixes
that diffusers' script needs for real sgm names (diffusers-parity.md). Pure functions of the key names, both
directions."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .base import Plan, Transform, _convert, _int, _invert, _sub, _transform_plan

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
        r = _sub(rest[len("time_stack.") :], _VAE_TIME_STACK)
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
            s = _sub(r[len("temporal_res_block.") :], _invert(_VAE_TIME_STACK))
            return s and "time_stack." + s
        if r.startswith("spatial_res_block."):
            return _sub(r[len("spatial_res_block.") :], inv_res)
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


def vae_sgm_to_diffusers(
    state_dict: Mapping[str, torch.Tensor], num_levels: int | None = None
) -> dict[str, torch.Tensor]:
    """sgm first stage (`encoder.*` 2D Encoder + `decoder.*` VideoDecoder, `first_stage_model.` stripped) plus an
    optional `quant_conv.*` (take it from `conditioner.embedders.3.encoder.quant_conv`) -> diffusers
    `AutoencoderKLTemporalDecoder`. `num_levels` defaults to the number of decoder `up.N` levels found."""
    return _convert(_vae_plan, "sgm VAE", state_dict, num_levels)


def vae_diffusers_to_sgm(
    state_dict: Mapping[str, torch.Tensor], num_levels: int | None = None
) -> dict[str, torch.Tensor]:
    """Inverse of `vae_sgm_to_diffusers` (`quant_conv.*` kept as is)."""
    return _convert(_vae_inv_plan, "diffusers VAE", state_dict, num_levels)
