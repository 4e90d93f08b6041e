#!/usr/bin/env python3
"""Write the tiny random-weight LVCD pipeline (real layout, tiny widths) as a diffusers folder.

    python scripts/make_tiny_pipeline.py --out pipelines/tiny-random

The folder's configs are committed; its weights are not (they are a deterministic function of --seed).
"""

import argparse

from lvcd.pipelines.tiny import make_tiny_pipeline

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="pipelines/tiny-random")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    make_tiny_pipeline(a.seed).save_pretrained(a.out, safe_serialization=True)
    print(f"wrote {a.out}")
