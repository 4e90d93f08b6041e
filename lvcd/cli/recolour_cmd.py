"""`lvcd recolour INDEXED_DIR --palette edited.gpl -o out.mp4`: parse options and call `lvcd.deliver.recolour`."""

from __future__ import annotations

import argparse
import logging
import sys


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("indexed", help="folder written by `lvcd colorize/batch --format indexed` (frame_*.png + palette)")
    p.add_argument(
        "--palette",
        "-p",
        required=True,
        help="the edited palette: palette.gpl (GIMP/Krita), palette.aco (Photoshop) or palette.json from "
        "that folder, colours changed in place (entries are applied by position)",
    )
    p.add_argument("--output", "-o", required=True, help="output video (.mp4/.mkv/.mov) or folder/pattern for PNGs")
    p.add_argument("--fps", help="frame rate (default: the render's, from its palette.json), e.g. 24 or 24000/1001")
    p.add_argument("--crf", type=int, default=18, help="x264 quality for mp4/mkv (default 18)")
    p.add_argument("--format", dest="fmt", choices=["mp4", "mkv", "mov", "png"], help="default: from the extension")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..deliver import recolour

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="lvcd: %(message)s")
    res = recolour(
        args.indexed,
        args.palette,
        args.output,
        fps=args.fps,
        crf=args.crf,
        fmt=args.fmt,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    if not args.quiet:
        print(
            f"wrote {res.output} ({res.frames} frames; {len(res.changed)} palette entries changed: "
            f"{', '.join(map(str, res.changed)) or 'none'})",
            file=sys.stderr,
        )
    return 0
