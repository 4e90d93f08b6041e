#!/usr/bin/env python3
"""Frames per second of the paint-bucket backend on ONE CPU core, at 1920x1080 and 576x320.

Clips: a hard-benchmark clip (scripts/make_cel_bench.py `hop_pan`, dev seed: three characters, pan, gapped
anti-aliased lines) upscaled to each size, and the synthetic sample (scripts/make_sample.py) rendered at each size.
Frames are decoded into memory first, so the timing covers the colorizer only (normalise, segment, flow, vote,
paint), not PNG/video decoding. OpenCV, OpenMP and BLAS are pinned to one thread before they are imported. Reported
per size: wall-clock and CPU frames/s over the whole shot (keyframe preparation included) and steady-state (frames
decided after the first came out: with the look-ahead revision, the first frame comes out `lookahead` frames late).

    python scripts/bench_bucket.py [--frames 24] [--repeat 2] [--json benchmarks/bucket.json]

Results are machine-dependent: the JSON records the CPU model, versions and the load average at the start.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy / cv2 are imported

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from lvcd.backends.bucket import BucketColorizer

SIZES = [(1920, 1080), (576, 320)]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hard_clip(size: tuple[int, int], frames: int):
    sys.path.insert(0, str(ROOT / "scripts"))
    from dataclasses import replace

    from make_cel_bench import CLIPS, SEEDS, make_clip

    spec = replace(next(c for c in CLIPS if c.name == "hop_pan"), frames=frames)
    clip = make_clip(spec, SEEDS["dev"])
    up = lambda a: cv2.resize(a, size, interpolation=cv2.INTER_LINEAR if a.ndim == 3 else cv2.INTER_NEAREST)  # noqa
    ref = cv2.resize(clip["gt"][0], size, interpolation=cv2.INTER_NEAREST)  # flat paints stay exact
    return ref, [up(x) for x in clip["line"]]


def bench(size: tuple[int, int], frames: int, repeat: int, source: str = "sample") -> dict:
    if source == "hard":
        ref, lines = hard_clip(size, frames)
    else:
        ref, lines = sample_clip(size, frames)
    return timed(ref, lines, size, frames, repeat, source)


def sample_clip(size: tuple[int, int], frames: int):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "make_sample.py"),
                "-o",
                tmp,
                "--size",
                f"{size[0]}x{size[1]}",
                "--frames-per-shot",
                str(frames),
            ],
            check=True,
            capture_output=True,
        )
        lines = [np.array(Image.open(Path(tmp) / "line" / f"{i:04d}.png")) for i in range(frames)]
        lines = [np.repeat(x[..., None], 3, axis=2) for x in lines]  # what a video reader yields: uint8 RGB
        ref = np.array(Image.open(Path(tmp) / "reference.png"))
    return ref, lines


def timed(ref, lines, size, frames: int, repeat: int, source: str) -> dict:
    runs = []
    for _ in range(repeat):
        colorizer = BucketColorizer()
        w0, c0 = time.perf_counter(), time.process_time()
        stamps = []
        for _out in colorizer.colorize(ref, lines[0], lines):
            stamps.append((time.perf_counter(), time.process_time()))
        w1, c1 = stamps[-1]
        ws, cs = stamps[0]
        # the first frame comes out once `lookahead` more are decided: after it, the rest of them are decided
        late = (frames - 1 - min(colorizer.config.lookahead, frames - 1)) or 1
        runs.append(
            {
                "wall_fps": frames / (w1 - w0),
                "cpu_fps": frames / (c1 - c0),
                "steady_wall_fps": late / (w1 - ws),
                "steady_cpu_fps": late / (c1 - cs),
            }
        )
    best = {k: round(max(r[k] for r in runs), 2) for k in runs[0]}  # best of `repeat`: least disturbed run
    return {"clip": source, "size": list(size), "frames": frames, "repeat": repeat, **best}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=24, help="frames per run (one shot)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--clips", default="hard,sample", help="hard (make_cel_bench hop_pan upscaled), sample")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "bucket.json")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results = []
    for source, size in [(c, s) for c in args.clips.split(",") for s in SIZES]:
        r = bench(size, args.frames, args.repeat, source)
        results.append(r)
        print(
            f"{source:6s} {size[0]}x{size[1]}: {r['wall_fps']:.2f} fps wall ({r['steady_wall_fps']:.2f} steady), "
            f"{r['cpu_fps']:.2f} fps CPU ({r['steady_cpu_fps']:.2f} steady)"
        )
    out = {
        "command": "python scripts/bench_bucket.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "threads": {"opencv": cv2.getNumThreads(), "omp": os.environ["OMP_NUM_THREADS"]},
        "cpu": cpu_model(),
        "load_average_1min_at_start": load,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
