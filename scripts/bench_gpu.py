#!/usr/bin/env python3
"""Speed and memory of a real render on an accelerator, without downloading any weights.

    python scripts/bench_gpu.py [--frames 120] [--steps 25] [--offload none model sequential]
                                [--compile off] [--dtype bf16] [--out benchmarks/gpu.json]
    python scripts/bench_gpu.py --tiny [--frames 16 --steps 1]    # smoke run: tiny random pipeline, any device

The released LVCD architecture (the configs in pipelines/lvcd-svd) is built with random weights: it runs exactly
the kernels, shapes and memory traffic the converted official weights would, so its timings and peak memory are the
real ones (its pictures are noise). A 576x320 lineart clip with audio is generated and rendered through
`lvcd.colorize_video` (read, prep, the window loop, chunked decode, restore, encode: the CLI's code path), once per
offload tier. Reported per tier:

* seconds per output frame and frames per second;
* the share of wall time outside the denoiser: every `LVCDPipeline._denoise` / `_decode` call is bracketed with
  CUDA events on the current stream (no synchronisation is added inside the render), so the denoiser's time is the
  device time between its first and last kernel, launch gaps included;
* CPU time per denoiser call next to its device time: when they are close, the eager denoiser is launch-bound
  (then `--compile` is the remedy to try);
* peak device memory allocated and reserved (torch.cuda.max_memory_*), next to lvcd.preflight's estimate.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def build_pipeline(tiny: bool, device: str, dtype: torch.dtype, offload: str, compile: str = "off"):
    """The real architecture with random weights (or the tiny pipeline), placed as `lvcd colorize` places it."""
    from lvcd.backends.diffusion import place_pipeline
    from lvcd.pipelines.tiny import make_tiny_pipeline

    if tiny:
        pipe = make_tiny_pipeline().to(dtype)
    else:
        from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

        from lvcd import preflight
        from lvcd.models import LVCDControlNetModel, LVCDUNetModel
        from lvcd.pipelines import LVCDPipeline

        cfg = preflight._configs(None)  # pipelines/lvcd-svd: the released architecture
        folder = preflight.REAL_ARCHITECTURE
        init_on = device if offload == "none" else "cpu"  # random init is fast on the device
        with torch.device(init_on):
            unet = LVCDUNetModel(**cfg["unet"])
            controlnet = LVCDControlNetModel(**cfg["controlnet"])
            vae = AutoencoderKLTemporalDecoder(**cfg["vae"])
            image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**cfg["image_encoder"]))
        pipe = LVCDPipeline(
            vae=vae,
            unet=unet,
            controlnet=controlnet,
            scheduler=EulerDiscreteScheduler.from_pretrained(folder / "scheduler"),
            image_encoder=image_encoder,
            feature_extractor=CLIPImageProcessor.from_pretrained(folder / "feature_extractor"),
        )
        pipe = pipe.to(dtype)
    return place_pipeline(pipe, device, offload, compile=compile)


class Timers:
    """Brackets calls with CUDA events (device time) or perf_counter (CPU devices), plus their CPU time."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        self.spans: dict[str, list] = {"denoise": [], "decode": []}
        self.cpu: dict[str, float] = {"denoise": 0.0, "decode": 0.0}

    def wrap(self, kind: str, fn):
        def timed(*args, **kwargs):
            t = time.perf_counter()
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                out = fn(*args, **kwargs)
                end.record()
                self.spans[kind].append((start, end))
            else:
                out = fn(*args, **kwargs)
                self.spans[kind].append(time.perf_counter() - t)
            self.cpu[kind] += time.perf_counter() - t
            return out

        return timed

    def seconds(self, kind: str) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return sum(s.elapsed_time(e) for s, e in self.spans[kind]) / 1e3
        return float(sum(self.spans[kind]))


def run_tier(a, offload: str, clip: Path, ref: Path, out: Path) -> dict:
    import lvcd.api as api
    from lvcd import preflight
    from lvcd.backends.diffusion import DiffusionBackend
    from lvcd.pipelines import LVCDPipeline

    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.startswith("cuda")
    dtype = DTYPES[a.dtype]
    t = time.perf_counter()
    pipe = build_pipeline(a.tiny, device, dtype, offload, a.compile)
    build_s = time.perf_counter() - t
    size = (64, 64) if a.tiny else (576, 320)
    opts = api.ColorizeOptions(
        backend="diffusion",
        steps=a.steps,
        size=size,
        device=device,
        dtype=a.dtype,
        offload=offload,
        compile=a.compile,
        quiet=True,
        overwrite=True,
        drift=False,
    )
    backend = DiffusionBackend(pipe, opts)
    timers = Timers(cuda)
    saved = LVCDPipeline._denoise, LVCDPipeline._decode, api.make_backend
    LVCDPipeline._denoise = timers.wrap("denoise", saved[0])
    LVCDPipeline._decode = timers.wrap("decode", saved[1])
    api.make_backend = lambda o, s=None: (backend, None)  # the random-weight pipeline built above
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    try:
        t = time.perf_counter()
        res = api.colorize_video(clip, ref, out, options=opts)
        wall = time.perf_counter() - t
    finally:
        LVCDPipeline._denoise, LVCDPipeline._decode, api.make_backend = saved
    den, dec = timers.seconds("denoise"), timers.seconds("decode")
    calls = len(timers.spans["denoise"])
    row = {
        "offload": offload,
        "device": device,
        "dtype": a.dtype,
        "compile": a.compile,
        "frames": res.frames,
        "steps": a.steps,
        "build_s": round(build_s, 1),
        "wall_s": round(wall, 2),
        "s_per_frame": round(wall / res.frames, 4),
        "fps": round(res.frames / wall, 3),
        "denoiser_s": round(den, 2),
        "vae_decode_s": round(dec, 2),
        "outside_denoiser_share": round(1 - den / wall, 4),
        "vae_decode_share": round(dec / wall, 4),
        "denoiser_calls": calls,
        "denoiser_ms_per_call_device": round(1e3 * den / max(calls, 1), 2),
        "denoiser_ms_per_call_cpu": round(1e3 * timers.cpu["denoise"] / max(calls, 1), 2),
    }
    if cuda:
        row["peak_allocated_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        row["peak_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
        row["gpu"] = torch.cuda.get_device_name()
    if not a.tiny:
        cost = preflight.model_cost(size[1], size[0], dtype=dtype)
        row["predicted_peak_gib"] = round(preflight.peak_bytes(cost, dtype)[offload] / 2**30, 2)
    backend = pipe = None  # free the device memory before the next tier
    if cuda:
        torch.cuda.empty_cache()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=None, help="default 120 (16 with --tiny)")
    ap.add_argument("--steps", type=int, default=None, help="default 25 (1 with --tiny)")
    ap.add_argument("--offload", nargs="+", default=["none"], choices=["none", "model", "sequential"])
    ap.add_argument("--compile", default="off", choices=["off", "default", "max-autotune-no-cudagraphs"])
    ap.add_argument("--dtype", default=None, choices=list(DTYPES), help="default bf16 on CUDA, fp32 elsewhere")
    ap.add_argument("--device", default=None)
    ap.add_argument("--tiny", action="store_true", help="tiny random pipeline (a smoke run of this script)")
    ap.add_argument("--out", default="benchmarks/gpu.json")
    a = ap.parse_args()
    a.frames = a.frames or (16 if a.tiny else 120)
    a.steps = a.steps or (1 if a.tiny else 25)
    a.dtype = a.dtype or ("bf16" if torch.cuda.is_available() and a.device != "cpu" else "fp32")
    from bench_overhead import make_clip
    from PIL import Image

    work = Path(tempfile.mkdtemp(prefix="lvcd_gpu_"))
    w, h = (96, 64) if a.tiny else (576, 320)
    clip, ref = work / "clip.mp4", work / "ref.png"
    make_clip(clip, a.frames, w, h)
    Image.fromarray(np.dstack([np.full((h, w), c, np.uint8) for c in (200, 120, 60)])).save(ref)
    rows = []
    for offload in a.offload:
        row = run_tier(a, offload, clip, ref, work / f"out_{offload}.mp4")
        rows.append(row)
        print(json.dumps(row), flush=True)
    res = {
        "command": "python scripts/bench_gpu.py " + " ".join(sys.argv[1:]),
        "torch": torch.__version__,
        "weights": "tiny random pipeline" if a.tiny else "random weights, released architecture",
        "runs": rows,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
