"""Sources: where each component's tensors come from (the sgm `svd.safetensors`, a diffusers SVD folder, the LVCD
weights), as key plans checked against the model's key set and shapes before a single tensor is read."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .base import CheckpointError, Plan, _preview
from .clip_keys import _clip_plan
from .configs import DEFAULT_PIPELINE_DIR
from .readers import _component_weights, _MergedDict, _PrefixView, _RenamedView, _shape_of, load_state_dict
from .unet_keys import _unet_key_inv, _unet_plan
from .vae_keys import _vae_key_inv, _vae_levels, _vae_plan

logger = logging.getLogger(__name__)

# Prefixes of the official files (sgm `DiffusionEngine` / LVCD `VideoDiffusionEngine` attribute names).
SGM_UNET = "model.diffusion_model."
SGM_VAE = "first_stage_model."
SGM_COND_VAE = "conditioner.embedders.3.encoder."  # AutoencoderKLModeOnly of the concat-latent conditioner
SGM_CLIP_EMBEDDER = "conditioner.embedders.0."  # FrozenOpenCLIPImagePredictionEmbedder
SGM_CLIP_VISUAL = "conditioner.embedders.0.open_clip.model.visual."
LVCD_CONTROLNET = "control_model."

# The UNet tensors LVCD trained: every spatial (`transformer_blocks.0.attn1`) and temporal attn1 (160 in SVD).
_TRAINED_ATTN1 = re.compile(r"\.(transformer_blocks|temporal_transformer_blocks)\.\d+\.attn1\.")


@dataclass
class _Component:
    name: str  # pipeline component name
    title: str  # what the user knows it as
    source: Path  # file the tensors come from
    prefix: str  # prefix of those tensors in the file


def _key_report(
    comp: _Component,
    missing: list[str],
    unexpected: list[str],
    sgm_name: Callable[[str], str | None],
    hint: str,
    mismatched: list[str] = (),
) -> str:
    lines = [f"{comp.source}: the {comp.title} ({comp.prefix}*) does not match the expected model:"]
    if missing:
        named = [f"{comp.prefix}{s}" if (s := sgm_name(k)) else k for k in missing]
        lines.append(f"  {len(missing)} missing tensor(s), e.g. {_preview(named)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected tensor(s), e.g. {_preview(comp.prefix + k for k in unexpected)}")
    if mismatched:
        lines.append(
            f"  {len(mismatched)} tensor(s) with the wrong shape (file vs model), e.g. {_preview(mismatched, 3)}"
        )
    lines.append(hint)
    return "\n".join(lines)


def _shape_mismatches(
    comp: _Component, plan: Plan, source: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size]
) -> list[str]:
    bad = []
    for new in sorted(set(plan) & set(expected)):
        old, transform = plan[new]
        shape = _shape_of(source, old)
        if transform is not None:
            shape = tuple(transform(torch.empty(shape, device="meta")).shape)
        if shape != tuple(expected[new]):
            bad.append(f"{comp.prefix}{old} {shape} vs {tuple(expected[new])}")
    return bad


def _check_shapes(
    comp: _Component, state: Mapping[str, torch.Tensor], plan: Plan, expected: Mapping[str, torch.Size], hint: str
) -> None:
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k])]
    if bad:
        shown = [f"{comp.prefix}{plan[k][0]} {tuple(state[k].shape)} vs {tuple(expected[k])}" for k in bad]
        raise CheckpointError(
            f"{comp.source}: {len(bad)} tensor(s) of the {comp.title} have the wrong shape (file vs model), e.g. "
            f"{_preview(shown, 3)}.\n{hint}"
        )


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


def _checked_plan(
    comp: _Component,
    planned: tuple[Plan, list[str]],
    source: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Size],
    sgm_name: Callable[[str], str | None],
    hint: str,
) -> Plan:
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
            raise CheckpointError(
                f"`--svd` {path} looks like LVCD weights (it holds `{LVCD_CONTROLNET}*` and no "
                "VAE): pass svd.safetensors as `--svd` and this file as `--lvcd`."
            )
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
        plan = _checked_plan(
            comp, _unet_plan(view.keys(), layers), view, expected, lambda k: _unet_key_inv(k, layers, up), hint
        )
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
            logger.warning(
                "%s: the conditioner's VAE encoder (%s*) has other tensors than first_stage_model.encoder.",
                self.path,
                SGM_COND_VAE + "encoder.",
            )
            return
        diff = max((first[k].float() - cond[k].float()).abs().max().item() for k in first.keys())
        if diff > 0:
            logger.warning(
                "%s: the conditioner's VAE encoder differs from first_stage_model.encoder (max |diff| "
                "%.3g); the converted VAE holds the first stage's.",
                self.path,
                diff,
            )

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
                raise FileNotFoundError(
                    f"`--svd` {folder} is a folder without `{sub}/`: pass a diffusers SVD folder "
                    "(unet/, vae/, image_encoder/, ...) or the official svd.safetensors."
                )

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
                + (
                    "It looks like an SVD checkpoint: pass it as `--svd` and lvcd.ckpt as `--lvcd`."
                    if looks_svd
                    else "Pass the LVCD weights (lvcd.ckpt or lvcd-fp16.safetensors)."
                )
            )
        other = sorted({k.split(".")[0] for k in keys if not k.startswith((LVCD_CONTROLNET, SGM_UNET))})
        if other:
            logger.warning(
                "%s: ignoring tensors outside %s* and %s* (prefixes %s).", path, LVCD_CONTROLNET, SGM_UNET, other
            )

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
            raise CheckpointError(
                _key_report(
                    comp,
                    missing,
                    unexpected,
                    lambda k: _unet_key_inv(k, layers, up),
                    hint + " LVCD checkpoints hold every UNet `attn1` (spatial and temporal).",
                    mismatched,
                )
            )
        extra = sorted(set(plan) - trained)
        if extra:
            logger.warning(
                "%s also holds %d UNet tensors besides the attn1 ones (e.g. %s); they replace the SVD values.",
                self.path,
                len(extra),
                _preview(extra, 3),
            )
        return _Planned(comp, model, plan, view)

    def controlnet(self, model, layers: int, hint: str) -> _Planned:
        comp = _Component("controlnet", "LVCD ControlNet", self.path, LVCD_CONTROLNET)
        view = _PrefixView(self.sd, LVCD_CONTROLNET)
        expected = _expected(model)
        hint_blocks = len({k.split(".")[2] for k in expected if k.startswith("controlnet_cond_embedding.blocks.")})
        plan = _checked_plan(
            comp,
            _unet_plan(view.keys(), layers, controlnet=True),
            view,
            expected,
            lambda k: _unet_key_inv(k, layers, set(), hint_blocks),
            hint,
        )
        return _Planned(comp, model, plan, view)


def _clip_model(config: Mapping | None, hint: str):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    if not config:
        raise FileNotFoundError(
            f"No image_encoder config ({DEFAULT_PIPELINE_DIR} missing?): pass `--config` with an "
            '"image_encoder" section (transformers CLIPVisionConfig kwargs).'
        )
    skip = ("architectures", "model_type", "torch_dtype", "dtype", "transformers_version")
    kwargs = {k: v for k, v in config.items() if k not in skip}
    try:
        with torch.device("meta"):
            return CLIPVisionModelWithProjection(CLIPVisionConfig(**kwargs))
    except Exception as e:
        raise ValueError(
            f"Could not build the CLIP image encoder from its config ({type(e).__name__}: {e}). {hint}"
        ) from e
