#!/usr/bin/env python3
"""Peak memory (and time) of one routed Reference Attention call for K = 1, 2, 4 references (issue 15).

One spatial `attn1` layer with tiny channels at a 40x72 token grid (a 320x576 frame, the UNet's first level), one video
of 1 reference + 14 video frames, "normal" mode. Every reference carries a hard target mask, so even K = 1 takes the
routed (log-sum-exp) path; `plain` is today's unrouted K = 1 call for comparison. The extra references' keys/values are
captured before the measurement, as the pipeline's side batch does.

Each case runs in a fresh process: on CUDA the peak is `torch.cuda.max_memory_allocated` above what the inputs hold;
on the CPU, the peak of the tensor storages created during the call and still alive (`LiveTensorBytes`, a dispatch
mode: deterministic, where the resident set is not).

    python scripts/bench_routing.py                     # CPU, writes benchmarks/routing.json
    python scripts/bench_routing.py --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class LiveTensorBytes:
    """Peak bytes of the tensor storages created inside the block and still alive (CPU's `max_memory_allocated`):
    every op output's storage is counted once while any tensor on it lives. Deterministic, unlike the RSS."""

    def __new__(cls):
        import weakref

        from torch.utils._python_dispatch import TorchDispatchMode

        class Mode(TorchDispatchMode):
            def __init__(self):
                super().__init__()
                self.live, self.now, self.peak = {}, 0, 0

            def _release(self, ptr):
                entry = self.live[ptr]
                entry[1] -= 1
                if entry[1] == 0:
                    self.now -= entry[0]
                    del self.live[ptr]

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                import torch

                out = func(*args, **(kwargs or {}))
                for t in out if isinstance(out, (tuple, list)) else (out,):
                    if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                        continue
                    storage = t.untyped_storage()
                    ptr = storage.data_ptr()
                    if ptr not in self.live:
                        self.live[ptr] = [storage.nbytes(), 0]
                        self.now += storage.nbytes()
                        self.peak = max(self.peak, self.now)
                    self.live[ptr][1] += 1
                    weakref.finalize(t, self._release, ptr)
                return out

        return Mode()


def child(args) -> dict:
    import torch
    from diffusers.models.attention_processor import Attention

    from lvcd.models import FrameContext, ReferenceAttentionState, ReferenceAttnProcessor
    from lvcd.models.routing import ReferenceRouting

    device = torch.device(args.device)
    torch.manual_seed(0)
    attn = Attention(query_dim=args.dim, heads=args.heads, dim_head=args.dim // args.heads).to(device).eval()
    n = args.height * args.width
    frames = FrameContext(num_video_frames=args.video_frames)
    state = ReferenceAttentionState(mode="normal")
    attn.set_processor(ReferenceAttnProcessor(state, frames))
    total = 1 + args.video_frames
    x = torch.randn(total, n, args.dim, device=device)
    k = args.refs[0]
    routing = None
    if args.case == "routed":
        # hard masks: reference j colours the j-th vertical stripe of every frame
        stripes = torch.zeros(k, args.height, args.width)
        for j in range(k):
            stripes[j, :, j * args.width // k : (j + 1) * args.width // k] = 1
        routing = ReferenceRouting(k - 1, target_masks=list(stripes), latent_size=(args.height, args.width))
        if k > 1:
            side = torch.randn(k - 1, n, args.dim, device=device)
            frames.num_frames = 1
            with torch.no_grad(), state.route(routing), routing.capture():
                attn(side)
            del side
    frames.num_frames = total
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    tracker = LiveTensorBytes() if device.type != "cuda" else contextlib.nullcontext()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    start = time.perf_counter()
    with torch.no_grad(), state.route(routing), tracker:
        out = attn(x)
    sync()
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = tracker.peak
    assert torch.isfinite(out).all()
    return {
        "case": args.case,
        "refs": k,
        "peak_bytes": int(peak),
        "peak_mib": round(peak / 2**20, 1),
        "seconds": round(seconds, 3),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--height", type=int, default=40)
    p.add_argument("--width", type=int, default=72)
    p.add_argument("--dim", type=int, default=32, help="channels of the layer (tiny)")
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--video-frames", type=int, default=14)
    p.add_argument("--refs", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "routing.json")
    p.add_argument("--case", choices=["plain", "routed"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.case:  # one measurement, in its own process
        print(json.dumps(child(args)))
        return 0

    def run(case, k):
        cmd = [
            sys.executable,
            __file__,
            "--case",
            case,
            "--height",
            str(args.height),
            "--width",
            str(args.width),
            "--dim",
            str(args.dim),
            "--heads",
            str(args.heads),
            "--video-frames",
            str(args.video_frames),
            "--device",
            args.device,
            "--refs",
            str(k),
        ]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        return json.loads(res.stdout.strip().splitlines()[-1])

    runs = [run("plain", 1)] + [run("routed", k) for k in args.refs]
    routed = {r["refs"]: r["peak_bytes"] for r in runs if r["case"] == "routed"}
    k1 = routed.get(1)
    ks = sorted(routed)
    # "at most linear": every step's growth per added reference is no more than the K = 1 call itself
    linear = all(routed[b] - routed[a] <= (b - a) * k1 for a, b in zip(ks, ks[1:])) if k1 else None
    result = {
        "what": "peak memory of one Reference Attention call, K references with hard target masks (routed, "
        "log-sum-exp over key blocks); 'plain' is today's unrouted K = 1 call",
        "tokens": [args.height, args.width],
        "channels": args.dim,
        "heads": args.heads,
        "frames": 1 + args.video_frames,
        "device": args.device,
        "torch": __import__("torch").__version__,
        "machine": platform.machine(),
        "runs": runs,
        "ratio_to_routed_k1": {k: round(v / k1, 3) for k, v in routed.items()} if k1 else None,
        "grows_at_most_linearly": linear,
        "max_below_2x_k1": (max(routed.values()) < 2 * k1) if k1 else None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
