#!/usr/bin/env python3
"""BasicPBC-style accuracy of the paint-bucket colorizer on the bundled synthetic sample (or any folder made by
scripts/make_sample.py).

Each shot is coloured from its own reference (the ground truth of its first frame). Metrics, as in BasicPBC
(Dai et al., "Learning Inclusion Matching for Animation Paint Bucket Colorization", CVPR 2024):

* region Acc: fraction of ground-truth regions (4-connected pieces of one shape, lines excluded) whose predicted
  colour -- the majority colour over the region's pixels -- is exactly the ground-truth colour;
* Acc-Thres: the same over regions of at least --thres pixels (BasicPBC reports regions > 10 px);
* Pix-Acc: fraction of non-line pixels whose colour is exactly right.

Reported over all frames and over the non-keyframes (the keyframe is trivially right). Usage:
    python scripts/eval_sample.py [--sample DIR] [--json OUT] [--save-dir DIR]
Not a general video metric tool (see lvcd.eval); no perceptual or temporal scores here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)) if str(ROOT) not in sys.path else None
from lvcd.backends.bucket import BucketColorizer, BucketConfig


def load(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def frame_metrics(pred: np.ndarray, gt: np.ndarray, ids: np.ndarray, thres: int) -> dict:
    """Counts for one frame: regions right / total (all and >= thres px), pixels right / total."""
    right = (pred == gt).all(axis=2)
    region_ok = region_n = big_ok = big_n = 0
    for sid in np.unique(ids):
        if sid == 0:
            continue
        n, lab = cv2.connectedComponents((ids == sid).astype(np.uint8), connectivity=4)
        for r in range(1, n):
            m = lab == r
            cols, counts = np.unique(pred[m].reshape(-1, 3), axis=0, return_counts=True)
            ok = bool((cols[counts.argmax()] == gt[m][0]).all())
            region_ok += ok
            region_n += 1
            if m.sum() >= thres:
                big_ok += ok
                big_n += 1
    inside = ids > 0
    return {
        "regions_ok": region_ok,
        "regions": region_n,
        "big_ok": big_ok,
        "big": big_n,
        "pix_ok": int(right[inside].sum()),
        "pix": int(inside.sum()),
    }


def summarise(rows: list[dict]) -> dict:
    tot = {k: sum(r[k] for r in rows) for k in rows[0]}
    return {
        "frames": len(rows),
        "region_acc": tot["regions_ok"] / max(tot["regions"], 1),
        "region_acc_thres": tot["big_ok"] / max(tot["big"], 1),
        "pix_acc": tot["pix_ok"] / max(tot["pix"], 1),
        "mean_frame_region_acc": float(np.mean([r["regions_ok"] / max(r["regions"], 1) for r in rows])),
        "regions": tot["regions"],
    }


def evaluate(sample: Path, config: BucketConfig | None = None, save_dir: Path | None = None, thres: int = 10):
    meta = json.loads((sample / "shots.json").read_text())
    rows, rows_nonkey, per_frame = [], [], []
    t0 = time.perf_counter()
    for shot in meta["shots"]:
        start, end = shot["start"], shot["end"]
        ref = load(sample / shot["reference"])
        key = shot.get("keyframe", start)
        lines = [load(sample / "line" / f"{i:04d}.png") for i in range(start, end)]
        colorizer = BucketColorizer(config)
        for i, pred in zip(range(start, end), colorizer.colorize(ref, lines[key - start], lines)):
            gt, ids = load(sample / "gt" / f"{i:04d}.png"), load(sample / "ids" / f"{i:04d}.png")
            m = frame_metrics(pred, gt, ids, thres)
            rows.append(m)
            if i != key:
                rows_nonkey.append(m)
            per_frame.append(round(m["regions_ok"] / max(m["regions"], 1), 4))
            if save_dir is not None:
                save_dir.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pred).save(save_dir / f"{i:04d}.png")
    seconds = time.perf_counter() - t0
    return {
        "all": summarise(rows),
        "non_keyframes": summarise(rows_nonkey),
        "per_frame_region_acc": per_frame,
        "seconds": round(seconds, 2),
        "sample": str(sample),
        "size": meta["size"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=Path, default=ROOT / "lvcd" / "data" / "sample")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--save-dir", type=Path, default=None, help="write the coloured frames here (PNG)")
    ap.add_argument("--thres", type=int, default=10, help="min region size (px) for Acc-Thres")
    args = ap.parse_args(argv)
    res = evaluate(args.sample, save_dir=args.save_dir, thres=args.thres)
    for name in ("all", "non_keyframes"):
        s = res[name]
        print(
            f"{name:14s} frames={s['frames']:3d} regions={s['regions']:5d}  Acc={s['region_acc']:.4f}  "
            f"Acc-Thres={s['region_acc_thres']:.4f}  Pix-Acc={s['pix_acc']:.4f}"
        )
    print("per-frame Acc:", " ".join(f"{a:.2f}" for a in res["per_frame_region_acc"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
