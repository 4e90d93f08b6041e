"""The conversion: meta-device models from the configs, every source's key plan checked, then one component at a
time read, cast, assigned and saved into a temporary sibling of the output folder, published when complete
(`lvcd.outputs.publish_folder`: an existing folder keeps anything a conversion does not write; `--overwrite`
refuses a folder that holds such files)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch

from ..model_dir import PIPELINE_ENTRIES, check_model_out
from ..outputs import partial_prefix, publish_folder, remove_stale_partials
from .base import _materialize, _preview
from .configs import _controlnet_config, _resolve_configs
from .sources import _check_shapes, _Component, _DiffusersSVD, _expected, _LVCDWeights, _Planned, _SgmSVD

logger = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_FP16_MAX = 65504.0


def _model_classes():
    from diffusers import AutoencoderKLTemporalDecoder

    from ..models import LVCDControlNetModel, LVCDUNetModel

    return LVCDUNetModel, LVCDControlNetModel, AutoencoderKLTemporalDecoder


def _meta_model(cls, config: Mapping, title: str, hint: str):
    """The model with every tensor on the meta device: no memory, no random init; weights are assigned later."""
    try:
        with torch.device("meta"):
            return cls.from_config(dict(config))
    except Exception as e:
        raise ValueError(
            f"Could not build the {title} ({cls.__name__}) from its config ({type(e).__name__}: {e}). {hint}"
        ) from e


def _parse_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise ValueError(f"`dtype` must be one of {list(DTYPES)} or the matching torch dtype (got {dtype!r}).")


def _check_paths(svd: Path, lvcd: Path, out: Path, overwrite: bool) -> None:
    if not svd.exists():
        raise FileNotFoundError(
            f"`--svd` {svd} does not exist: pass the official svd.safetensors or a diffusers SVD "
            "folder (with unet/, vae/, ...)."
        )
    if not lvcd.is_file():
        raise FileNotFoundError(
            f"`--lvcd` {lvcd} does not exist (or is a folder): pass lvcd.ckpt or lvcd-fp16.safetensors."
        )
    o = out.resolve()
    for name, p in (("--svd", svd), ("--lvcd", lvcd)):
        r = p.resolve()
        if r == o or o in r.parents:
            raise ValueError(f"`{name}` {p} lies inside `--out` {out}, which is replaced: write the output elsewhere.")
    check_model_out(out, overwrite)


def _arch_hint(has_config: bool) -> str:
    if has_config:
        return (
            "Check that the file is the model your `--config` describes (sizes, layers_per_block, "
            "num_attention_heads)."
        )
    return (
        "Is this the official SVD img2vid (14-frame) `svd.safetensors` / LVCD `lvcd.ckpt`? A model of another "
        "size needs `--config` with its diffusers configs."
    )


def _cast(state: dict[str, torch.Tensor], dtype: torch.dtype, comp: _Component) -> dict[str, torch.Tensor]:
    if dtype == torch.float16:
        over = [
            k
            for k, v in state.items()
            if v.is_floating_point()
            and v.dtype != torch.float16
            and v.numel()
            and v.detach().abs().max().item() > _FP16_MAX
        ]
        if over:
            logger.warning(
                "%s: %d %s tensor(s) exceed the fp16 range and become inf, e.g. %s; use --dtype fp32 or bf16.",
                comp.source,
                len(over),
                comp.title,
                _preview(over, 3),
            )
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
    """ "1266 from svd.safetensors, 160 from lvcd.ckpt": later sources replace earlier ones."""
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
            real SVD img2vid configs shipped in `lvcd/model_configs/lvcd-svd` (or the configs of the diffusers SVD
            folder).
        dtype: dtype of the written weights (torch dtype or "fp32" / "fp16" / "bf16"); inputs are cast as needed.
        overwrite: replace an existing `out` (only once the new folder is complete); refused when `out` holds
            anything a conversion does not write (`lvcd.model_dir.PIPELINE_ENTRIES`), naming it.

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
    controlnet = _meta_model(
        controlnet_cls, _controlnet_config(controlnet_cls, unet_cfg, configs.get("controlnet")), "ControlNet", hint
    )
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
    remove_stale_partials(out)  # what a killed conversion left beside `out` (its own naming, its pid gone)
    tmp = Path(tempfile.mkdtemp(prefix=partial_prefix(out.name), dir=out.parent))
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
        publish_folder(tmp, out, owned=lambda name: name in PIPELINE_ENTRIES, overwrite=overwrite)
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
