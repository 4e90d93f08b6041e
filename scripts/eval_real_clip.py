#!/usr/bin/env python3
"""The bucket backend on a real shaded colour clip: lineart extracted with `lvcd lineart`, frame 0 as the keyframe,
the clip's own frames as ground truth. Prints mean PSNR over frames 1..N-1 of the default output against repeating
frame 0 on every frame (the baseline to beat), and of each mode (flat fills, warp), and saves before/after PNGs.

    python scripts/eval_real_clip.py /work/shared/data/anidoc_sample1/sample1.mp4 [--save /tmp/anidoc]

The clip is never copied into the project. Lines come from `lvcd.api.extract_lineart_video` (xdog, as the CLI).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from lvcd import api  # noqa: E402
from lvcd.backends.bucket import BucketColorizer, BucketConfig  # noqa: E402


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def read_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--save", type=Path, default=None, help="write before/after PNGs (frames 1, mid, last) here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    colour = read_frames(args.clip)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "line" / "%04d.png"
        api.extract_lineart_video(str(args.clip), str(out), overwrite=True, quiet=True)
        files = sorted((Path(tmp) / "line").glob("*.png"))
        lines = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    n = min(len(colour), len(lines))
    print(f"{args.clip.name}: {n} frames {colour[0].shape[1]}x{colour[0].shape[0]}")
    base = [psnr(colour[0], colour[t]) for t in range(1, n)]
    print(f"repeat frame 0      mean PSNR frames 1..{n - 1}: {np.mean(base):.2f} dB")
    results = {}
    for mode in ("auto", "flat", "warp"):
        c = BucketColorizer(BucketConfig(mode=mode, keep_lines=True))
        preds = list(c.colorize(colour[0], lines[0], lines[:n]))
        vals = [psnr(preds[t], colour[t]) for t in range(1, n)]
        results[mode] = preds
        used = getattr(c, "used_mode", mode)
        print(
            f"bucket mode={mode:4s} (used {used}) mean PSNR frames 1..{n - 1}: {np.mean(vals):.2f} dB "
            f"({np.mean(vals) - np.mean(base):+.2f} dB vs repeat)"
        )
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for t in (1, n // 2, n - 1):
            row = np.concatenate([colour[t], lines[t], results["auto"][t], results["flat"][t]], 1)
            row = cv2.resize(row, (row.shape[1] // 3, row.shape[0] // 3), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(args.save / f"frame{t:02d}.png"), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))
        print(f"saved {args.save}/frameNN.png: truth | lineart | default (auto) | flat fills")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
