"""UNet / ControlNet key map: the sgm `VideoUNet` layout (`input_blocks.i.j`, `middle_block.j`, `output_blocks.i.j`)
<-> diffusers' `UNetSpatioTemporalConditionModel` names, plus LVCD's ControlNet additions (`input_hint_block`,
`zero_convs`, `middle_block_out`). Pure functions of the key names, both directions."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .base import Plan, _convert, _int, _invert, _rename_plan, _sub

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
        r = _sub(rest[len("time_stack.") :], _RESBLOCK)
        return r and "temporal_res_block." + r
    r = _sub(rest, _RESBLOCK)
    return r and "spatial_res_block." + r


def _video_resblock_inv(rest: str) -> str | None:
    if rest == "time_mixer.mix_factor":
        return rest
    inv = _invert(_RESBLOCK)
    for branch, sgm in (("spatial_res_block.", ""), ("temporal_res_block.", "time_stack.")):
        if rest.startswith(branch):
            r = _sub(rest[len(branch) :], inv)
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
        index = (
            0
            if m.group(1) == "conv_in"
            else 2 * (hint_blocks + 1)
            if m.group(1) == "conv_out"
            else 2 * (int(m.group(2)) + 1)
        )
        return f"input_hint_block.{index}.{m.group(3)}"
    m = re.match(r"^controlnet_down_blocks\.(\d+)\.(weight|bias)$", key)
    if m:
        return f"zero_convs.{m.group(1)}.0.{m.group(2)}"
    m = re.match(r"^controlnet_mid_block\.(weight|bias)$", key)
    if m:
        return f"middle_block_out.0.{m.group(1)}"
    return None


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


def unet_sgm_to_diffusers(
    state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
) -> dict[str, torch.Tensor]:
    """sgm `VideoUNet` state dict (`model.diffusion_model.` stripped) -> diffusers `UNetSpatioTemporalConditionModel`
    names. Also converts a subset (e.g. LVCD's 160 attn1 tensors). Raises `KeyMappingError` for keys no rule fits."""
    return _convert(_unet_plan, "sgm UNet", state_dict, layers_per_block)


def unet_diffusers_to_sgm(
    state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
) -> dict[str, torch.Tensor]:
    """Inverse of `unet_sgm_to_diffusers` (the upsampler index `.1`/`.2` is read from which up blocks have
    attentions, so pass a whole UNet)."""
    return _convert(_unet_inv_plan, "diffusers UNet", state_dict, layers_per_block)


def controlnet_sgm_to_diffusers(
    state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
) -> dict[str, torch.Tensor]:
    """LVCD `ControlNet` state dict (`control_model.` stripped) -> `LVCDControlNetModel` names: the SVD-encoder map
    plus `input_hint_block` -> `controlnet_cond_embedding.{conv_in, blocks.*, conv_out}`, `zero_convs.i.0` ->
    `controlnet_down_blocks.i`, `middle_block_out.0` -> `controlnet_mid_block`."""
    return _convert(
        lambda keys, lpb: _unet_plan(keys, lpb, controlnet=True), "sgm ControlNet", state_dict, layers_per_block
    )


def controlnet_diffusers_to_sgm(
    state_dict: Mapping[str, torch.Tensor], layers_per_block: int = 2
) -> dict[str, torch.Tensor]:
    """Inverse of `controlnet_sgm_to_diffusers`."""
    return _convert(_unet_inv_plan, "diffusers ControlNet", state_dict, layers_per_block)
