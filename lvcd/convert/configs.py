"""The component configs of a conversion: the shipped defaults (`lvcd.model_configs.LVCD_SVD`, the released
architecture) or a diffusers SVD folder's, each section replaceable by `--config`."""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path

from ..model_configs import LVCD_SVD

# Hint embedding of LVCD's ControlNet (`input_hint_block`): diffusers' ControlNetConditioningEmbedding channels.
HINT_BLOCK_OUT_CHANNELS = (16, 32, 96, 256)

# The real LVCD-on-SVD-img2vid architecture as a diffusers pipeline folder (configs only, no weights), shipped as
# package data.
DEFAULT_PIPELINE_DIR = LVCD_SVD

CONFIG_SECTIONS = ("unet", "vae", "controlnet", "image_encoder", "feature_extractor", "scheduler")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from e


def _clean(cfg: Mapping) -> dict:
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def _resolve_configs(svd: Path, config: str | os.PathLike | Mapping | None) -> dict[str, dict]:
    """Per-component configs: the defaults (the shipped `lvcd/model_configs/lvcd-svd`, or the diffusers SVD folder's);
    each section of `config` replaces the default of its component (constructor kwargs; omitted kwargs take the class
    defaults)."""
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
            raise ValueError(
                f'`--config` {config} must hold a JSON object such as {{"unet": {{...}}, "vae": '
                f"{{...}}}} (got a {type(user).__name__})."
            )
        unknown = sorted(set(user) - set(CONFIG_SECTIONS))
        if unknown:
            raise ValueError(
                f"`--config` {config}: unknown section(s) {unknown}; expected a JSON object with any of "
                f'{list(CONFIG_SECTIONS)}, e.g. {{"unet": {{...UNetSpatioTemporalConditionModel kwargs}}, '
                '"vae": {...AutoencoderKLTemporalDecoder kwargs}}.'
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
                f"No {name} config: {DEFAULT_PIPELINE_DIR} is missing (lvcd installed without its package data "
                f"`lvcd/model_configs`? reinstall lvcd). Pass `--config CONFIG.json` with a {name!r} section."
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
