"""`lvcd convert`: official svd.safetensors + lvcd.ckpt -> a diffusers-format LVCD pipeline folder.

Only parses arguments and calls `lvcd.convert.convert_checkpoints`; the conversion and its checks live there.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time

EPILOG = """examples:
  lvcd convert --svd checkpoints/svd.safetensors --lvcd checkpoints/lvcd.ckpt --out models/lvcd
  lvcd convert --svd stable-video-diffusion-img2vid/ --lvcd lvcd-fp16.safetensors --out models/lvcd --dtype fp16

The folder then loads with `LVCDPipeline.from_pretrained(OUT)`. Pickled .ckpt files are read with
torch.load(weights_only=True): a file holding anything but tensors is refused, no pickled code runs."""


def add_parser(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("--svd", required=True, metavar="SVD",
                   help="official SVD img2vid svd.safetensors (sgm naming), or a diffusers-format SVD folder")
    p.add_argument("--lvcd", required=True, metavar="LVCD",
                   help="LVCD weights: lvcd.ckpt (tensors-only Lightning checkpoint) or lvcd(-fp16).safetensors")
    p.add_argument("--out", required=True, metavar="DIR", help="pipeline folder to write (must not exist)")
    p.add_argument("--config", metavar="CONFIG.json",
                   help='diffusers configs for non-standard sizes: {"unet": {...}, "vae": {...}} (optional sections '
                        '"controlnet", "image_encoder", "feature_extractor", "scheduler"); default: the real SVD '
                        "img2vid configs (pipelines/lvcd-svd)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32",
                   help="dtype of the written weights (default fp32; fp16/bf16 inputs are upcast as needed)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists (only once the new one is done)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def run(args: argparse.Namespace) -> int:
    from ..convert import convert_checkpoints

    log = logging.getLogger("lvcd.convert")
    if not args.quiet and not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("lvcd convert: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    start = time.perf_counter()
    out = convert_checkpoints(args.svd, args.lvcd, args.out, config=args.config, dtype=args.dtype,
                              overwrite=args.overwrite)
    if not args.quiet:
        print(f"lvcd convert: done in {time.perf_counter() - start:.1f} s; load with "
              f"LVCDPipeline.from_pretrained({str(out)!r})")
    return 0
