#!/usr/bin/env python3
"""GPU measurement protocol for several references (issue 15); docs/multi-reference.md explains it.

Two experiments on a clip with ground truth (folders of PNGs, sorted by name: coloured `--gt`, lineart `--line`):

enter  An object enters mid-shot. K = 1: frame 0 of the ground truth is the reference. K = 2: the same, plus the
       ground-truth frame `--late` (where the object is visible) as an extra reference. PSNR per frame against the
       ground truth; means over the frames from `--enter` on (the object is in view), without the frames next to
       `--late` (|t - late| <= 2, where ref_2 is the answer).
swap   Two characters with masks (`--mask-a`, `--mask-b`: folders of per-frame binary PNGs, white = the character).
       Primary reference = ground-truth frame 0 restricted to the background (target mask 1 - A - B); ref_2 = frame 0
       with source mask A_0, ref_3 = frame 0 with source mask B_0. Routed: ref_2 -> A_t, ref_3 -> B_t; swapped:
       ref_2 -> B_t, ref_3 -> A_t. Per frame and region, the mean colour's distance to each sheet's mean colour:
       "follows" = the region is closer to the sheet routed to it. Routing works when `follow_rate` is high in both
       runs (the colours move with the masks, not with the characters).

    python scripts/eval_multiref.py --pipeline ~/.local/share/lvcd/lvcd-svd --gt clip/gt --line clip/line \\
        --frames 40 --late 30 --enter 20 --mask-a clip/mask_a --mask-b clip/mask_b --out benchmarks/multiref.json
    python scripts/eval_multiref.py --tiny --gt lvcd/data/sample/gt --line lvcd/data/sample/line --frames 6 \\
        --late 4 --enter 2 --size 64x64 --steps 1        # smoke run (random weights, meaningless numbers)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def load_dir(folder: Path, n: int, size: tuple[int, int], mode: str = "RGB") -> np.ndarray:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if len(files) < n:
        raise SystemExit(f"{folder} has {len(files)} images; --frames asks for {n}.")
    resample = Image.NEAREST if mode == "L" else Image.LANCZOS
    return np.stack([np.asarray(Image.open(f).convert(mode).resize(size, resample)) for f in files[:n]])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def render(pipe, line, gt, seed, steps, extra=None, reference_target_mask=None):
    import torch

    out = pipe(
        sketches=list(line),
        reference=gt[0],
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=steps,
        output_type="np",
        extra_references=extra,
        reference_target_mask=reference_target_mask,
    )
    return (np.clip(out.frames, 0, 1) * 255).round().astype(np.uint8)


def experiment_enter(pipe, line, gt, args) -> dict:
    from lvcd.pipelines import ExtraReference

    t0 = time.perf_counter()
    one = render(pipe, line, gt, args.seed, args.steps)
    t1 = time.perf_counter()
    two = render(pipe, line, gt, args.seed, args.steps, [ExtraReference(gt[args.late], line[args.late])])
    t2 = time.perf_counter()
    frames = [t for t in range(args.enter, len(gt)) if abs(t - args.late) > 2 and t > 0]
    p1 = [psnr(one[t], gt[t]) for t in range(len(gt))]
    p2 = [psnr(two[t], gt[t]) for t in range(len(gt))]
    return {
        "late": args.late,
        "enter": args.enter,
        "scored_frames": frames,
        "psnr_k1": [round(x, 3) for x in p1],
        "psnr_k2": [round(x, 3) for x in p2],
        "mean_psnr_k1": round(float(np.mean([p1[t] for t in frames])), 3) if frames else None,
        "mean_psnr_k2": round(float(np.mean([p2[t] for t in frames])), 3) if frames else None,
        "seconds_k1": round(t1 - t0, 1),
        "seconds_k2": round(t2 - t1, 1),
    }


def _follow(out: np.ndarray, regions: list[np.ndarray], sheets: list[np.ndarray]) -> float:
    """Share of (frame, region) pairs whose mean colour is nearer the sheet routed to it than to the other."""
    hits = total = 0
    for t in range(1, len(out)):
        for r, (region, sheet) in enumerate(zip(regions, sheets)):
            sel = region[t] > 127
            if not sel.any():
                continue
            mean = out[t][sel].astype(np.float64).mean(0)
            other = sheets[1 - r]
            hits += int(np.linalg.norm(mean - sheet) < np.linalg.norm(mean - other))
            total += 1
    return hits / total if total else float("nan")


def experiment_swap(pipe, line, gt, args, size) -> dict:
    from lvcd.pipelines import ExtraReference

    a = load_dir(args.mask_a, len(gt), size, "L")
    b = load_dir(args.mask_b, len(gt), size, "L")
    background = 1.0 - np.clip((a > 127).astype(np.float32) + (b > 127).astype(np.float32), 0, 1)
    sheet_a, sheet_b = gt[0][a[0] > 127], gt[0][b[0] > 127]
    if not len(sheet_a) or not len(sheet_b):
        raise SystemExit("the masks of frame 0 are empty: both characters must be visible in frame 0.")
    mean_a, mean_b = sheet_a.astype(np.float64).mean(0), sheet_b.astype(np.float64).mean(0)
    res = {}
    for name, (ta, tb) in {"routed": (a, b), "swapped": (b, a)}.items():
        extra = [
            ExtraReference(gt[0], line[0], mask=a[0] > 127, target_mask=(ta > 127).astype(np.float32)),
            ExtraReference(gt[0], line[0], mask=b[0] > 127, target_mask=(tb > 127).astype(np.float32)),
        ]
        out = render(pipe, line, gt, args.seed, args.steps, extra, reference_target_mask=background)
        # region ta took sheet A, region tb sheet B
        res[name] = {
            "follow_rate": round(_follow(out, [ta, tb], [mean_a, mean_b]), 3),
            "mean_psnr": round(float(np.mean([psnr(out[t], gt[t]) for t in range(1, len(gt))])), 3),
        }
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pipeline", type=Path, help="converted LVCD pipeline folder")
    p.add_argument("--tiny", action="store_true", help="random-weight tiny pipeline (smoke run)")
    p.add_argument("--gt", type=Path, required=True)
    p.add_argument("--line", type=Path, required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--late", type=int, required=True, help="ground-truth frame used as ref_2 (object in view)")
    p.add_argument("--enter", type=int, default=0, help="first frame where the object is in view")
    p.add_argument("--mask-a", type=Path)
    p.add_argument("--mask-b", type=Path)
    p.add_argument("--size", default="576x320", help="WxH, multiples of 64")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "multiref.json")
    args = p.parse_args(argv)
    import torch

    if not 0 < args.late < args.frames:
        raise SystemExit(f"--late must be a frame of the clip after frame 0 (1..{args.frames - 1}).")
    w, h = (int(v) for v in args.size.lower().split("x"))
    gt = load_dir(args.gt, args.frames, (w, h))
    line = load_dir(args.line, args.frames, (w, h))
    if args.tiny:
        from lvcd.pipelines.tiny import make_tiny_pipeline

        pipe, device = make_tiny_pipeline(seed=0), "cpu"
    else:
        if args.pipeline is None:
            raise SystemExit("give --pipeline DIR (a converted LVCD pipeline) or --tiny.")
        from lvcd import LVCDPipeline

        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
        pipe, device = LVCDPipeline.from_pretrained(args.pipeline, torch_dtype=dtype), args.device
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    result = {
        "frames": args.frames,
        "size": [w, h],
        "steps": args.steps,
        "seed": args.seed,
        "tiny": args.tiny,
        "device": device,
        "enter": experiment_enter(pipe, line, gt, args),
    }
    if args.mask_a and args.mask_b:
        result["swap"] = experiment_swap(pipe, line, gt, args, (w, h))
    if device.startswith("cuda"):
        result["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: v for k, v in result.items() if k != "enter"}
            | {"enter": {k: result["enter"][k] for k in ("mean_psnr_k1", "mean_psnr_k2", "seconds_k1", "seconds_k2")}},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
