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

from .errors import LVCDError
from .model_configs import LVCD_SVD

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
    # per extra reference (issue 15, lvcd.models.routing): its side-batch call (UNet + ControlNet on one frame), the
    # extra attention of the routed video frames to its key block, and its keys/values kept in all 23 layers
    flops_side_per_extra: float = 0.0
    flops_routed_per_extra: float = 0.0
    kv_elems_per_extra: int = 0

    @property
    def flops_per_call(self) -> float:
        return self.flops_unet + self.flops_controlnet

    def to_json(self) -> dict:
        d = asdict(self)
        d["flops_per_call"] = self.flops_per_call
        return d


REAL_ARCHITECTURE = LVCD_SVD  # shipped as package data, so a non-editable install sizes the real model too


def _configs(model_dir: str | Path | None) -> dict[str, dict]:
    """Component configs from a pipeline folder; without one, the shipped `lvcd/model_configs/lvcd-svd` (the real
    architecture), else the class defaults set to SVD img2vid's 14 frames."""
    out: dict[str, dict] = {
        "unet": {"num_frames": 14},
        "controlnet": {"num_frames": 14},
        "vae": {},
        "image_encoder": None,
    }
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
def model_cost(
    height: int = 320,
    width: int = 576,
    model_dir: str | Path | None = None,
    overlap: int = 4,
    dtype: torch.dtype = torch.bfloat16,
    extra_references: bool = False,
) -> ModelCost:
    """FLOPs and parameter counts of the LVCD networks at `height` x `width` pixels, on meta tensors; with
    `extra_references`, also what one extra reference (issue 15) costs (else those fields are 0)."""
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
        fl_u = _count_flops(
            lambda: unet(x, ts, ehs, ids, down_block_additional_residuals=down, mid_block_additional_residual=mid)
        )
    for hk in hooks:
        hk.remove()
    fl_side = fl_routed = kv_elems = 0
    if extra_references:
        fl_side, fl_routed, kv_elems = _extra_reference_cost(unet, controlnet, state, m, h, w, height, width)
    n_dec = 10
    z = torch.empty(n_dec, vae.config.latent_channels, h, w, **m)
    fl_v = _count_flops(lambda: vae.decode(z, num_frames=n_dec))
    skips = sum(d.numel() for d in down) * 2 + mid.numel()  # UNet skips + ControlNet residuals live together
    enc_params = 632_076_800 if cfg["image_encoder"] is None else _clip_params(cfg["image_encoder"])
    return ModelCost(
        height,
        width,
        t,
        sum(p.numel() for p in unet.parameters()),
        sum(p.numel() for p in controlnet.parameters()),
        sum(p.numel() for p in vae.parameters()),
        enc_params,
        fl_u,
        fl_c,
        fl_v / n_dec,
        skips + 4 * live["peak"],
        fl_side,
        fl_routed,
        kv_elems,
    )


def _extra_reference_cost(unet, controlnet, state, m: dict, h: int, w: int, height: int, width: int):
    """One extra reference: FLOPs of its side-batch call, FLOPs its key block adds to the routed video frames of one
    window call (QK^T and PV over its N keys, every layer), and the key/value elements every layer keeps."""
    from .models.routing import ReferenceRouting

    routing = ReferenceRouting(num_extra=1)
    x = torch.empty(1, 1, unet.config.in_channels, h, w, **m)
    ts = torch.empty(1, **m)
    ehs = torch.empty(1, 1, unet.config.cross_attention_dim, **m)
    ids = torch.empty(1, 3, **m)
    hint = torch.empty(1, 1, 3, height, width, **m)

    def side():
        down, mid = controlnet(x, ts, ehs, ids, controlnet_cond=hint, return_dict=False)
        unet(x, ts, ehs, ids, down_block_additional_residuals=down, mid_block_additional_residual=mid)

    with state.route(routing), routing.capture():
        flops = _count_flops(side)
    kv = [k for k, _ in routing.captured()]  # [1, 1, N, C] per reference-attention layer
    nv = unet.config.num_frames
    routed = sum(4.0 * nv * k.shape[2] ** 2 * k.shape[3] for k in kv)
    return flops, routed, sum(2 * k.numel() for k in kv)


def _clip_params(cfg: dict) -> int:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.device("meta"):
        m = CLIPVisionModelWithProjection(CLIPVisionConfig(**cfg))
    return sum(p.numel() for p in m.parameters())


GIB = 1024**3
OFFLOAD_TIERS = ("none", "model", "sequential")  # fastest (most memory) first
CUDA_CONTEXT_BYTES = 1 * GIB  # CUDA context + cuBLAS/cuDNN workspace, part of every peak estimate below
SEQUENTIAL_BLOCK_BYTES = GIB // 4  # sequential offload: the weights of the block on the GPU at a time (~)
# Head room `check_memory` keeps free beyond the estimated peak. The estimate already carries the CUDA context
# (CUDA_CONTEXT_BYTES; `torch.cuda.mem_get_info` is read after this process's context exists, so that term even
# over-counts by a few hundred MiB). What it does not carry: the caching allocator's fragmentation (reserved but
# unusable block tails, typically a few hundred MiB over a run), the VAE decode's and attention kernels' transient
# workspaces, and memory other processes take while the models load. 0.5 GiB is about 6 % of the bf16 `none` peak at
# 576x320 and a fifth of the `sequential` one: enough to avoid an OOM minutes into a render, small enough not to
# push a 6 GiB card off a tier that works.
SAFETY_MARGIN_BYTES = GIB // 2


def extra_reference_bytes(cost: ModelCost, dtype: torch.dtype, extra_refs: int) -> float:
    """What `extra_refs` extra references add to the peak: their keys/values in every reference-attention layer
    (kept from the side-batch call to the window call) and the routed attention's score tiles (float32)."""
    if extra_refs <= 0:
        return 0.0
    from .models.routing import CUDA_CHUNK_ELEMENTS

    return float(extra_refs * cost.kv_elems_per_extra * BYTES[dtype] + 2 * CUDA_CHUNK_ELEMENTS * 4)


def peak_bytes(cost: ModelCost, dtype: torch.dtype, extra_refs: int = 0) -> dict[str, float]:
    """Predicted peak GPU memory in bytes per offload tier (see `vram_table`) for one dtype, with `extra_refs` extra
    references (issue 15) on top of the primary one."""
    b = BYTES[dtype]
    weights = (cost.unet_params + cost.controlnet_params + cost.vae_params + cost.image_encoder_params) * b
    act = cost.peak_activation_elems * b + extra_reference_bytes(cost, dtype, extra_refs)
    largest = max(cost.unet_params, cost.controlnet_params) * b
    return {
        "none": float(weights + act + CUDA_CONTEXT_BYTES),
        "model": float(largest + act + CUDA_CONTEXT_BYTES),
        "sequential": float(act + SEQUENTIAL_BLOCK_BYTES + CUDA_CONTEXT_BYTES),
    }


def vram_table(
    cost: ModelCost, dtypes=(torch.bfloat16, torch.float16, torch.float32), extra_refs: int = 0
) -> list[dict]:
    """Predicted peak GPU memory (GiB) per dtype and offload tier. `none`: every network resident; `model`: the
    largest network plus the running activations (networks move to the GPU one at a time); `sequential`: one layer
    at a time (weights ~ the largest block), activations only. Includes ~1 GiB of CUDA context and workspace;
    `extra_refs` extra references (issue 15) on top of the primary one."""
    rows = []
    for dt in dtypes:
        peak = peak_bytes(cost, dt, extra_refs)
        rows.append(
            {
                "dtype": str(dt).replace("torch.", ""),
                **{f"{tier}_gib": round(peak[tier] / GIB, 2) for tier in OFFLOAD_TIERS},
            }
        )
    return rows


@dataclass
class MemoryVerdict:
    """Outcome of `check_memory`. `needed_gib`: estimated peak of the chosen offload tier; `free_gib`: free device
    memory; `suggestion`: CLI flags that would fit ("--offload model", "--offload sequential"; when no tier fits,
    "--dtype bf16 [--offload TIER]" for an fp32 render, else "--offload sequential --size WxH"), None when the choice
    fits or nothing would; `message`: one line for the user, with the numbers."""

    fits: bool
    needed_gib: float
    free_gib: float
    suggestion: str | None
    message: str


_DTYPE_NAMES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "fp32": torch.float32,
    "float32": torch.float32,
}


def _smaller_size(cost: ModelCost, dtype: torch.dtype, budget: float) -> tuple[int, int] | None:
    """Largest (W, H) of the current aspect, multiples of 64, whose `sequential` peak fits in `budget` bytes,
    assuming activations scale with the pixel count (they do to within a few % between 448x256 and 576x320)."""
    act = cost.peak_activation_elems * BYTES[dtype]
    room = budget - SEQUENTIAL_BLOCK_BYTES - CUDA_CONTEXT_BYTES
    if room <= 0 or act <= 0:
        return None
    scale = min(1.0, (room / act) ** 0.5)
    w, h = int(cost.width * scale) // 64 * 64, int(cost.height * scale) // 64 * 64
    if w < 64 or h < 64 or (w, h) == (cost.width, cost.height):
        return None
    return w, h


def check_memory(
    cost: ModelCost, dtype: torch.dtype | str, offload: str, free_bytes: int, total_bytes: int, extra_refs: int = 0
) -> MemoryVerdict:
    """Does a render with `cost` (from `model_cost` at the render size), `dtype` and `offload` fit in `free_bytes`
    of device memory, keeping SAFETY_MARGIN_BYTES spare? If not, name the fastest slower offload tier that fits, or,
    when none does, say so with the numbers and suggest bf16 (for fp32) or a smaller --size. Pure: pass
    `cuda_free_memory(device)`'s figures. `dtype`: a torch dtype or "bf16" / "fp16" / "fp32". `extra_refs`: extra
    references used together with the primary one (K = 1 + extra_refs); when the render would fit with fewer, the
    refusal says how many fit and what each costs."""
    dtype = _DTYPE_NAMES[dtype] if isinstance(dtype, str) else dtype
    if offload not in OFFLOAD_TIERS:
        raise ValueError(f"`offload` must be one of {OFFLOAD_TIERS} (got {offload!r}).")
    peak = peak_bytes(cost, dtype, extra_refs)
    budget = free_bytes - SAFETY_MARGIN_BYTES
    needed, free = peak[offload] / GIB, free_bytes / GIB
    dt = str(dtype).replace("torch.", "")
    refs = f" with {1 + extra_refs} references" if extra_refs else ""
    where = (
        f"{dt} at {cost.width}x{cost.height}{refs} with --offload {offload} needs ~{needed:.2f} GiB; {free:.2f} "
        f"GiB of {total_bytes / GIB:.2f} GiB is free ({SAFETY_MARGIN_BYTES / GIB:.1f} GiB kept spare)"
    )
    if peak[offload] <= budget:
        return MemoryVerdict(True, needed, free, None, f"memory ok: {where}.")
    if extra_refs and peak_bytes(cost, dtype)[offload] <= budget:  # it is the K references that do not fit
        each = (extra_reference_bytes(cost, dtype, 2) - extra_reference_bytes(cost, dtype, 1)) / GIB
        fit = max(k for k in range(extra_refs) if peak_bytes(cost, dtype, k)[offload] <= budget)
        first = extra_reference_bytes(cost, dtype, 1) / GIB
        return MemoryVerdict(
            False,
            needed,
            free,
            None,
            f"not enough GPU memory for {1 + extra_refs} references: {where}. Each extra reference adds ~{each:.3f} "
            f"GiB (its keys/values in all reference-attention layers; ~{first:.2f} GiB for the first, with the "
            f"attention tiles); at most {fit} extra reference(s) fit with --offload {offload}. Drop extra "
            "references, use a slower --offload tier or a smaller --size.",
        )
    others = total_bytes - free_bytes
    busy = f"; other processes hold {others / GIB:.2f} GiB" if others > 2 * CUDA_CONTEXT_BYTES else ""
    for tier in OFFLOAD_TIERS[OFFLOAD_TIERS.index(offload) + 1 :]:
        if peak[tier] <= budget:
            flag = f"--offload {tier}"
            return MemoryVerdict(
                False,
                needed,
                free,
                flag,
                f"not enough GPU memory: {where}{busy}. Use {flag} (~{peak[tier] / GIB:.2f} GiB, slower).",
            )
    tiers = ", ".join(f"{t} ~{peak[t] / GIB:.2f}" for t in OFFLOAD_TIERS[OFFLOAD_TIERS.index(offload) :])
    half = peak_bytes(cost, torch.bfloat16) if dtype == torch.float32 else {}
    tier16 = next((t for t in OFFLOAD_TIERS[OFFLOAD_TIERS.index(offload) :] if half and half[t] <= budget), None)
    size = _smaller_size(cost, dtype, budget)
    if tier16 is not None:  # fp32 chosen: bf16 halves weights and activations, better than a lower resolution
        flag = "--dtype bf16" + (f" --offload {tier16}" if tier16 != offload else "")
        tail = f" Use {flag} (~{half[tier16] / GIB:.2f} GiB)."
    elif size is not None:
        flag = f"--offload sequential --size {size[0]}x{size[1]}"
        tail = f" Use a smaller --size, e.g. {flag} (estimate; lower resolution, lower quality)."
    else:
        flag = None
        tail = " A smaller --size will not help enough either; free GPU memory or use a larger GPU."
    return MemoryVerdict(
        False,
        needed,
        free,
        flag,
        f"not enough GPU memory for any offload tier: {where}{busy}; estimated GiB per tier: {tiers}.{tail}",
    )


def cuda_free_memory(device: str | torch.device = "cuda") -> tuple[int, int] | None:
    """(free, total) bytes of a CUDA device from `torch.cuda.mem_get_info` (creates the CUDA context if there is none
    yet); None when CUDA is unavailable or `device` is not a CUDA device."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info(device if device.index is not None else None)
    return int(free), int(total)


def flops_per_call(cost: ModelCost, extra_refs: int = 0) -> float:
    """FLOPs of one denoiser step: the window call, plus per extra reference its side-batch call and the extra key
    block its routed video frames attend to."""
    return cost.flops_per_call + extra_refs * (cost.flops_side_per_extra + cost.flops_routed_per_extra)


def refuse_extra_references(cost: ModelCost, opts, device: str, extra_refs: int, free=None) -> None:
    """Raise `LVCDError` (the numbers, how many references fit) when `extra_refs` extra references would not fit in
    the free memory of CUDA `device` although the render alone would; nothing off CUDA or with K = 1. `free`:
    (free, total) bytes, default `cuda_free_memory(device)`."""
    if extra_refs <= 0:
        return
    free = free if free is not None else cuda_free_memory(device)
    if free is None:
        return
    dtype = opts.dtype or ("bf16" if str(device).startswith("cuda") else "fp32")
    verdict = check_memory(cost, dtype, opts.offload, *free, extra_refs=extra_refs)
    if not verdict.fits and check_memory(cost, dtype, opts.offload, *free).fits:  # it is the K references
        raise LVCDError(verdict.message)


def estimate_seconds(cost: ModelCost, num_frames: int, steps: int, device_class: str, extra_refs: int = 0) -> float:
    """Time estimate; `extra_refs` extra references add their side-batch call and routed attention per step."""
    from .sampling import num_segments

    tflops = ASSUMED_TFLOPS[device_class]
    windows = num_segments(num_frames)
    flops = windows * steps * flops_per_call(cost, extra_refs) + num_frames * cost.flops_vae_decode_per_frame * 1.6
    return flops / (tflops * 1e12)


def device_class(device: str) -> str:
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return "cpu" if not device.startswith("cuda") else "a100"
    name = torch.cuda.get_device_name(0).lower()
    for key in ("h100", "a100", "4090", "3090"):
        if key in name:
            return {"4090": "rtx4090", "3090": "rtx3090"}.get(key, key)
    return "a100"
