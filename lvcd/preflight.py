"""Pre-flight sizing of an LVCD render without weights: FLOPs counted on meta tensors, parameter bytes, activation
and VRAM estimates, and a time estimate for a device class.

Everything here runs the real model code on the `meta` device (shapes only, no memory, no weights), so the numbers
follow the actual architecture at the requested resolution. Times are FLOPs divided by an assumed sustained
throughput per device class (stated in the output); they are estimates, not measurements.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

# Sustained dense bf16 throughput assumed for a UNet-style workload (roughly 35-40 % of the datasheet peak).
ASSUMED_TFLOPS = {"h100": 330.0, "a100": 120.0, "rtx4090": 65.0, "rtx3090": 35.0, "cpu": 0.5}
BYTES = {torch.float32: 4, torch.bfloat16: 2, torch.float16: 2}


@dataclass
class ModelCost:
    height: int
    width: int
    window: int  # frames per denoiser call
    unet_params: int
    controlnet_params: int
    vae_params: int
    image_encoder_params: int
    flops_unet: float  # one UNet forward over `window` frames
    flops_controlnet: float  # one ControlNet forward over `window` frames
    flops_vae_decode_per_frame: float
    peak_activation_elems: int  # largest set of simultaneously live activations seen in one forward (estimate)

    @property
    def flops_per_call(self) -> float:
        return self.flops_unet + self.flops_controlnet

    def to_json(self) -> dict:
        d = asdict(self)
        d["flops_per_call"] = self.flops_per_call
        return d


REAL_ARCHITECTURE = Path(__file__).resolve().parents[1] / "pipelines" / "lvcd-svd"


def _configs(model_dir: str | Path | None) -> dict[str, dict]:
    """Component configs from a pipeline folder; without one, the repository's `pipelines/lvcd-svd` (the real
    architecture), else the class defaults set to SVD img2vid's 14 frames."""
    out: dict[str, dict] = {"unet": {"num_frames": 14}, "controlnet": {"num_frames": 14}, "vae": {},
                            "image_encoder": None}
    if model_dir is None and REAL_ARCHITECTURE.is_dir():
        model_dir = REAL_ARCHITECTURE
    if model_dir is not None:
        for name in ("unet", "controlnet", "vae", "image_encoder"):
            f = Path(model_dir) / name / "config.json"
            if f.is_file():
                cfg = json.loads(f.read_text())
                out[name] = {k: v for k, v in cfg.items() if not k.startswith("_")}
    return out


def _count_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


@torch.no_grad()
def model_cost(height: int = 320, width: int = 576, model_dir: str | Path | None = None, overlap: int = 4,
               dtype: torch.dtype = torch.bfloat16) -> ModelCost:
    """FLOPs and parameter counts of the LVCD networks at `height` x `width` pixels, on meta tensors."""
    from diffusers import AutoencoderKLTemporalDecoder

    from .models import LVCDControlNetModel, LVCDUNetModel, ReferenceAttentionState, install_lvcd_processors

    cfg = _configs(model_dir)
    with torch.device("meta"):
        unet = LVCDUNetModel(**cfg["unet"]).to("meta", dtype)  # diffusers makes scalar mix_factors on cpu
        controlnet = LVCDControlNetModel(**cfg["controlnet"]).to("meta", dtype)
        vae = AutoencoderKLTemporalDecoder(**cfg["vae"]).to("meta", dtype)
    state = ReferenceAttentionState()
    install_lvcd_processors(unet, state, bias_excluded=("up_blocks.3.",))
    install_lvcd_processors(controlnet, state, bias_excluded=())
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    h, w = height // f, width // f
    t = 1 + overlap + unet.config.num_frames
    m = dict(device="meta", dtype=dtype)
    x = torch.empty(1, t, unet.config.in_channels, h, w, **m)
    ts = torch.empty(1, **m)
    ehs = torch.empty(1, 1, unet.config.cross_attention_dim, **m)
    ids = torch.empty(1, 3, **m)
    hint = torch.empty(1, t, 3, height, width, **m)

    live = {"peak": 0}

    def track(mod, inp, out):
        o = out[0] if isinstance(out, tuple) else out
        if torch.is_tensor(o):
            live["peak"] = max(live["peak"], o.numel())

    hooks = [mod.register_forward_hook(track) for mod in unet.modules() if not list(mod.children())]
    with state.use("prevref", overlap=overlap):  # the common (and costlier-indexed) mode
        res: dict = {}
        fl_c = _count_flops(lambda: res.update(c=controlnet(x, ts, ehs, ids, controlnet_cond=hint, return_dict=False)))
        down, mid = res["c"]
        fl_u = _count_flops(lambda: unet(x, ts, ehs, ids, down_block_additional_residuals=down,
                                         mid_block_additional_residual=mid))
    for hk in hooks:
        hk.remove()
    n_dec = 10
    z = torch.empty(n_dec, vae.config.latent_channels, h, w, **m)
    fl_v = _count_flops(lambda: vae.decode(z, num_frames=n_dec))
    skips = sum(d.numel() for d in down) * 2 + mid.numel()  # UNet skips + ControlNet residuals live together
    enc_params = 632_076_800 if cfg["image_encoder"] is None else _clip_params(cfg["image_encoder"])
    return ModelCost(
        height, width, t,
        sum(p.numel() for p in unet.parameters()), sum(p.numel() for p in controlnet.parameters()),
        sum(p.numel() for p in vae.parameters()), enc_params,
        fl_u, fl_c, fl_v / n_dec, skips + 4 * live["peak"],
    )


def _clip_params(cfg: dict) -> int:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.device("meta"):
        m = CLIPVisionModelWithProjection(CLIPVisionConfig(**cfg))
    return sum(p.numel() for p in m.parameters())


def vram_table(cost: ModelCost, dtypes=(torch.bfloat16, torch.float16, torch.float32)) -> list[dict]:
    """Predicted peak GPU memory (GiB) per dtype and offload tier. `none`: every network resident; `model`: the
    largest network plus the running activations (networks move to the GPU one at a time); `sequential`: one layer
    at a time (weights ~ the largest block), activations only. Includes ~1 GiB of CUDA context and workspace."""
    gib = 1024**3
    rows = []
    for dt in dtypes:
        b = BYTES[dt]
        weights = (cost.unet_params + cost.controlnet_params + cost.vae_params + cost.image_encoder_params) * b
        act = cost.peak_activation_elems * b
        largest = max(cost.unet_params, cost.controlnet_params) * b
        ctx = 1.0 * gib
        rows.append({
            "dtype": str(dt).replace("torch.", ""),
            "none_gib": round((weights + act + ctx) / gib, 2),
            "model_gib": round((largest + act + ctx) / gib, 2),
            "sequential_gib": round((act + 0.25 * gib + ctx) / gib, 2),
        })
    return rows


def estimate_seconds(cost: ModelCost, num_frames: int, steps: int, device_class: str) -> float:
    from .sampling import num_segments

    tflops = ASSUMED_TFLOPS[device_class]
    windows = num_segments(num_frames)
    flops = windows * steps * cost.flops_per_call + num_frames * cost.flops_vae_decode_per_frame * 1.6
    return flops / (tflops * 1e12)


def device_class(device: str) -> str:
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return "cpu" if not device.startswith("cuda") else "a100"
    name = torch.cuda.get_device_name(0).lower()
    for key in ("h100", "a100", "4090", "3090"):
        if key in name:
            return {"4090": "rtx4090", "3090": "rtx3090"}.get(key, key)
    return "a100"
