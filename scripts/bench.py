#!/usr/bin/env python3
"""The benchmark suite: one command that runs every benchmark and writes benchmarks/results.json, a markdown table
(benchmarks/results.md) and a PNG chart of the goal ratios (benchmarks/results.png).

    python scripts/bench.py [--quick]

Parts (each also runnable alone): FLOPs of the real 576x320 architecture on meta tensors vs the analytic count and
a predicted VRAM table (bench_flops.py + lvcd.preflight), decode/encode throughput vs ffmpeg's own
(bench_video_io.py), weight-free backend frames/s on one core (bench_bucket.py), peak RSS 100 vs 1,000 frames and
the share of time outside the denoiser on the real render path with the GPU work simulated from its FLOPs
(bench_overhead.py). Sized for a 2-core machine:
under 10 minutes. Timings depend on the machine's load; the JSON records the load average.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks"


def run(script: str, *args: str) -> float:
    t = time.perf_counter()
    print(f"$ python scripts/{script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(ROOT / "scripts" / script), *args], check=True, cwd=ROOT)
    return time.perf_counter() - t


def load(name: str) -> dict:
    p = OUT / name
    return json.loads(p.read_text()) if p.exists() else {}


def find(d, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def ours(vio: dict, kind: str):
    """Median throughput ratio of lvcd's own reader / writer against ffmpeg (bench_video_io.py layout)."""
    for name, row in (vio.get(kind) or {}).items():
        if name.startswith("lvcd"):
            return row.get("ratio_median")
    return None


def bucket_fps(bucket: dict, size: tuple[int, int]) -> float:
    """Wall-clock frames/s of the bucket backend at `size` (bench_bucket.py layout)."""
    for row in bucket.get("results", []):
        if tuple(row.get("size", ())) == size:
            return float(row.get("wall_fps", 0.0))
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer frames and repeats (smoke run)")
    a = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    secs = {}
    secs["flops"] = run("bench_flops.py")
    secs["video_io"] = run("bench_video_io.py", *(["--frames", "200", "--repeats", "2"] if a.quick else []))
    secs["bucket"] = run("bench_bucket.py", "--frames", "8" if a.quick else "24", "--repeat", "1" if a.quick else "3")
    secs["colorize"] = run("bench_colorize.py", "--frames", *(["20", "200"] if a.quick else ["100", "1000"]))
    secs["overhead"] = run("bench_overhead.py", "--frames", "40" if a.quick else "120")

    import torch

    from lvcd import preflight

    cost = preflight.model_cost(320, 576)
    flops, vio, bucket, col = load("flops.json"), load("video_io.json"), load("bucket.json"), load("colorize.json")
    ovh = {(r["mode"], r["decode_chunk"]): r for r in load("overhead.json").get("runs", [])}
    released = ovh.get(("overlapped", 10), {})
    ratios = {
        "rss_1000_over_100 (goal <= 1.1)": col.get("rss_ratio_last_over_first"),
        "decode_vs_ffmpeg (goal >= 0.8)": ours(vio, "decode"),
        "encode_vs_ffmpeg (goal >= 0.75)": ours(vio, "encode"),
        "outside_denoiser_share, simulated H100, decode as released (goal <= 0.05)": released.get(
            "outside_denoiser_share"
        ),
        "  of which VAE decode (10/3 chunks, as released)": released.get("vae_decode_share"),
        "  of which everything else (IO, prep, bookkeeping)": released.get("other_share"),
        "  same with --decode-chunk 19": ovh.get(("overlapped", 19), {}).get("outside_denoiser_share"),
        "  same, stages run in turn (before overlapping)": ovh.get(("serial", 10), {}).get("outside_denoiser_share"),
        "bucket_fps_1080p_one_core / 5 (goal >= 1)": bucket_fps(bucket, (1920, 1080)) / 5,
        "flopcounter_over_analytic": flops.get("ratio_flopcounter_over_analytic"),
    }
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "loadavg": os.getloadavg(),
        },
        "seconds": {k: round(v, 1) for k, v in secs.items()} | {"total": round(time.perf_counter() - t0, 1)},
        "flops": flops,
        "vram_gib_predicted": preflight.vram_table(cost),
        "video_io": vio,
        "bucket": bucket,
        "colorize": col,
        "overhead": load("overhead.json"),
        "ratios": ratios,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    rows = ["| metric | value |", "|---|---|"]
    rows += [f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in ratios.items()]
    rows += ["", "| dtype | VRAM GiB, offload none | model | sequential |", "|---|---|---|---|"]
    rows += [
        f"| {r['dtype']} | {r['none_gib']} | {r['model_gib']} | {r['sequential_gib']} |"
        for r in results["vram_gib_predicted"]
    ]
    fc = flops.get("flop_counter", {})
    rows += [
        "",
        f"FLOPs per denoiser call (19 frames, 576x320): {fc.get('denoiser_call_tflop', 0):.2f} TFLOP; "
        f"per output frame: {fc.get('per_output_frame_tflop', 0):.1f} TFLOP; SVD UNet alone, 14 frames: "
        f"{fc.get('svd_unet_14_frames_per_frame_tflop', 0):.3f} TFLOP/frame (reference 0.805); "
        f"{flops.get('dispatch', {}).get('aten_ops_per_denoiser_call', 0):,} ATen ops dispatched per call.",
    ]
    (OUT / "results.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    chart(ratios, OUT / "results.png")
    print(f"wrote {OUT / 'results.json'}, results.md, results.png in {time.perf_counter() - t0:.0f} s")


def chart(ratios: dict, path: Path):
    from PIL import Image, ImageDraw

    items = [(k, v) for k, v in ratios.items() if isinstance(v, (int, float))]
    w, row = 760, 34
    img = Image.new("RGB", (w, 20 + row * len(items)), "white")
    d = ImageDraw.Draw(img)
    scale = 300 / max(1.5, max(v for _, v in items))
    for i, (k, v) in enumerate(items):
        y = 10 + i * row
        d.text((8, y + 8), k, fill="black")
        d.rectangle([420, y + 4, 420 + v * scale, y + row - 6], fill=(70, 130, 200))
        d.line([420 + scale, y, 420 + scale, y + row - 2], fill=(200, 60, 60))
        d.text((425 + v * scale, y + 8), f"{v:.2f}", fill="black")
    img.save(path)


if __name__ == "__main__":
    main()
