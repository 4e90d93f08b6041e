"""`lvcd shots INPUT -o shots.yaml`: detect the cuts of a lineart video (or import a CSV / OpenTimelineIO shot list)
and write a shot manifest with one entry per shot and an empty `reference:` slot to fill in."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input",
        nargs="+",
        help="lineart video(s), image folder(s) or frame_%%04d.png pattern(s); several = one episode",
    )
    p.add_argument("--output", "-o", required=True, help="the manifest to write (.yaml)")
    p.add_argument("--video-output", help="the manifest's `output:` (default: <input>_color.mp4 beside the input)")
    g = p.add_argument_group("detection")
    g.add_argument(
        "--detector",
        choices=["lines", "hash", "content", "adaptive"],
        default="lines",
        help="lines (default): line-map changes, made for lineart; the others are PySceneDetect's",
    )
    g.add_argument(
        "--threshold",
        type=float,
        help="cut threshold (lines: fraction of unexplained lines, default 0.3; hash 0.35; content 10; adaptive 3)",
    )
    g.add_argument("--min-shot-len", type=int, default=6, help="shortest shot in frames (default 6)")
    g.add_argument("--stats", metavar="CSV", help="also write every frame's change score (frame,score) for tuning")
    g = p.add_argument_group("import instead of detecting").add_mutually_exclusive_group()
    g.add_argument("--from-otio", metavar="FILE", help="shots = the clips of an OpenTimelineIO edit (.otio)")
    g.add_argument("--from-csv", metavar="FILE", help="shots from CSV rows name,start,end,reference[,reference_frame]")
    p.add_argument("--overwrite", action="store_true", help="replace an existing manifest")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--allow-gaps",
        action="store_true",
        help="read a frame sequence with holes in its numbering (refused by default: frames lost)",
    )
    p.add_argument(
        "--export-keyframes",
        metavar="DIR",
        help="write each shot's first lineart frame to DIR/<shot>.png, to paint the keyframes on",
    )
    p.add_argument(
        "--colour-from",
        metavar="VIDEO",
        help="with --export-keyframes: also write the colour frame of VIDEO at each shot start "
        "(DIR/<shot>_colour.png) and fill the manifest's `reference:` with it",
    )


def _default_video_output(first_input: str) -> str:
    p = Path(first_input)
    stem = p.parent.name if "%" in p.name else (p.name if p.is_dir() else p.stem)
    return str((p.parent.parent if "%" in p.name else p.parent) / f"{stem}_color.mp4")


def run(args) -> int:
    from ..shots.interchange import check_manifest_path, imported_shots, write_manifest
    from . import UserError

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="lvcd: %(message)s")
    out = check_manifest_path(args.output, args.overwrite)
    if args.from_otio or args.from_csv:
        from ..video import probe

        fps = probe(args.input[0]).fps
        entries, header = imported_shots(
            from_otio=args.from_otio, from_csv=args.from_csv, fps=fps, base=out.resolve().parent
        )
    else:
        from ..outputs import atomic_write_text
        from ..shots.detect import DetectConfig, detect_shots

        cfg = DetectConfig(method=args.detector, threshold=args.threshold, min_shot_len=args.min_shot_len)
        found = detect_shots(args.input, cfg, progress=not args.quiet)
        fps = found.fps
        if args.stats:
            cuts = set(found.cuts)
            atomic_write_text(
                args.stats,
                "frame,score,cut\n" + "".join(f"{i},{s:.4f},{int(i in cuts)}\n" for i, s in enumerate(found.scores)),
            )
        entries = [
            {"name": f"shot_{i + 1:03d}", "start": a, "end": b, "reference": None}
            for i, (a, b) in enumerate(found.ranges)
        ]
        header = (
            f"Cuts detected by `lvcd shots` (detector {cfg.method}, threshold {cfg.effective_threshold:g}, "
            f"min shot {cfg.min_shot_len} frames)."
        )
    video_out = args.video_output or _default_video_output(args.input[0])
    if args.colour_from and not args.export_keyframes:
        raise UserError("--colour-from goes with --export-keyframes DIR (where the colour keyframes are written).")
    if args.export_keyframes:
        from ..shots.interchange import relative_to, validate_entries
        from ..shots.keyframes import export_keyframes

        m = validate_entries(out, args.input, entries, output=video_out)  # a bad import exports nothing
        refs = export_keyframes(
            args.input,
            [(s.name, s.start) for s in m.shots if s.parent is None],
            args.export_keyframes,
            colour_from=args.colour_from,
            overwrite=args.overwrite,
        )
        for e in entries:
            if e["name"] in refs:
                e["reference"] = relative_to(refs[e["name"]], out.resolve().parent)
        if not args.quiet:
            print(
                f"wrote the first frame of {len(entries)} shots to {args.export_keyframes}"
                + (" (and their colour frames, filled in as `reference:`)" if refs else ""),
                file=sys.stderr,
            )
    write_manifest(out, args.input, entries, output=video_out, fps=fps, header=header)
    if not args.quiet:
        print(
            f"wrote {out}: {len(entries)} shots. Fill in each `reference:` (the coloured keyframe of the shot), then"
            f" run: lvcd batch {out}",
            file=sys.stderr,
        )
    return 0
