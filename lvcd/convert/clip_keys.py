"""CLIP key map: OpenCLIP `VisionTransformer` <-> transformers `CLIPVisionModelWithProjection` (fused `in_proj`
split into q/k/v, `proj` transposed into `visual_projection`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .base import KeyMappingError, Plan, Transform, _invert, _materialize, _sub

_CLIP_TOP = {
    "conv1.weight": "vision_model.embeddings.patch_embedding.weight",
    "class_embedding": "vision_model.embeddings.class_embedding",
    "positional_embedding": "vision_model.embeddings.position_embedding.weight",
    "ln_pre.weight": "vision_model.pre_layrnorm.weight",
    "ln_pre.bias": "vision_model.pre_layrnorm.bias",
    "ln_post.weight": "vision_model.post_layernorm.weight",
    "ln_post.bias": "vision_model.post_layernorm.bias",
}
_CLIP_BLOCK = {
    "ln_1": "layer_norm1",
    "ln_2": "layer_norm2",
    "attn.out_proj": "self_attn.out_proj",
    "mlp.c_fc": "mlp.fc1",
    "mlp.c_proj": "mlp.fc2",
}


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
