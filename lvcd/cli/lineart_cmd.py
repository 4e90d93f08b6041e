"""`lvcd lineart INPUT -o OUTPUT`: turn a colour video or image sequence into a lineart one (same frames, fps, size),
black lines on white, with the classical XDoG extractor or the learned informative-drawings one (user weights)."""

from __future__ import annotations

import argparse
import sys


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="colour video, image folder or pattern")
    p.add_argument("--output", "-o", required=True, help="output video or folder/pattern for PNGs")
    p.add_argument(
        "--method",
        choices=["xdog", "informative-drawings"],
        default="xdog",
        help="xdog (classical, no weights; default) or the learned extractor LVCD used (needs --weights)",
    )
    p.add_argument(
        "--weights", help="informative-drawings generator weights (sk_model.pth) for --method informative-drawings"
    )
    p.add_argument("--binary", action="store_true", help="write a clean binary line mask instead of soft lines")
    p.add_argument("--crf", type=int, default=18)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.add_argument(
        "--allow-gaps",
        action="store_true",
        help="read a frame sequence with holes in its numbering (refused by default: frames lost)",
    )


def run(args) -> int:
    from .. import api

    n = api.extract_lineart_video(
        args.input,
        args.output,
        method=args.method,
        weights=args.weights,
        binary=args.binary,
        crf=args.crf,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    if not args.quiet:
        print(f"wrote {args.output} ({n} frames of lineart)", file=sys.stderr)
    return 0
