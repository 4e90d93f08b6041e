"""`lvcd colorize INPUT --reference REF -o OUTPUT`: parse options and call `lvcd.api.colorize_video`."""
from __future__ import annotations

import argparse
import logging
import sys


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 576x320 (got {text!r})") from None
    return w, h


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Render options shared by `colorize` and `batch` (they override the manifest's defaults by name)."""
    g = p.add_argument_group("model")
    g.add_argument("--backend", choices=["auto", "diffusion", "bucket"], default=None,
                   help="auto (default): diffusion when a converted model is found, else the weight-free bucket")
    g.add_argument("--model", help="pipeline folder from `lvcd convert` (default: $LVCD_MODEL, then the data dir)")
    g.add_argument("--steps", type=int, help="Euler steps per window (default 25, as released)")
    g.add_argument("--overlap", type=int, help="frames shared by consecutive windows (default 4, as released)")
    g.add_argument("--seed", type=int, help="noise seed (default 1234, the official notebook's)")
    g.add_argument("--size", type=parse_size, help="model resolution WxH, multiples of 64 (default: ~576x320 area)")
    g.add_argument("--device", help="cuda, cuda:1, cpu (default: cuda if available)")
    g.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="default bf16 on CUDA, fp32 on CPU")
    g.add_argument("--offload", choices=["none", "model", "sequential"], help="CPU offload tier (lower VRAM, slower)")
    g.add_argument("--decode-chunk", type=int, help="latents per VAE decoder call (default 10)")
    g.add_argument("--attention", choices=["sdpa", "xformers"], help="attention kernel (xformers: CUDA only)")
    g.add_argument("--compile", choices=["off", "default", "max-autotune-no-cudagraphs"],
                   help="torch.compile the UNet and ControlNet (fewer kernel launches; the first windows compile)")
    g = p.add_argument_group("look")
    g.add_argument("--polarity", choices=["auto", "black-on-white", "white-on-black", "alpha"],
                   help="lineart polarity (default: detected)")
    g.add_argument("--keep-lines", action="store_true", default=None,
                   help="draw the original lines over the colours (the bucket backend's default)")
    g.add_argument("--no-keep-lines", dest="keep_lines", action="store_false",
                   help="paint only, no lines on top (the diffusion backend's default)")
    g.add_argument("--bucket-mode", choices=["auto", "flat", "warp"],
                   help="bucket backend: flat fills, a dense-flow warp of the keyframe, or auto (default: warp when "
                        "the lineart is not cel lineart)")
    g.add_argument("--snap", action="store_true", default=None, help="snap flat regions to the reference's palette")
    g = p.add_argument_group("output")
    g.add_argument("--crf", type=int, help="x264 quality for mp4/mkv (default 18)")
    g.add_argument("--format", dest="fmt", choices=["mp4", "mkv", "mov", "png", "indexed"],
                   help="default: from the extension; indexed: palette PNGs + palette.json/.gpl/.aco in a folder")
    g.add_argument("--layers", action="store_true", default=None,
                   help="with --format indexed: per-palette-entry alpha-mask PNG sequences and a lines layer")
    g.add_argument("--palette", metavar="FILE", help="named colours (.gpl/.aco/palette.json): flat colours near one "
                   "snap to it, and it names the indexed palette's entries (manifests: `palette:`)")
    g.add_argument("--overwrite", action="store_true", default=None, help="replace an existing output")
    g.add_argument("--quiet", action="store_true", default=None, help="no progress bar")
    g.add_argument("--no-drift", dest="drift", action="store_false", default=None,
                   help="skip the per-window colour-drift measurement (sidecar `colour_drift`)")
    g.add_argument("--audio", metavar="FILE|none",
                   help="the output's sound: the audio of FILE (e.g. the colour clip the lineart was made from), "
                        "or `none`; default: the input's (a manifest's `audio:`)")
    g.add_argument("--allow-gaps", action="store_true",
                   help="render a frame sequence with holes in its numbering (refused by default: frames lost)")
    g.add_argument("--allow-outside-paths", action="store_true",
                   help="let a manifest's `output:` / `work:` point outside the manifest's folder")


def options_from_args(args) -> dict:
    """Only the options the user actually gave (None = keep the default / the manifest's value)."""
    keys = ["backend", "model", "steps", "overlap", "seed", "size", "device", "dtype", "offload", "decode_chunk",
            "attention", "polarity", "keep_lines", "bucket_mode", "snap", "crf", "fmt", "overwrite", "quiet", "drift",
            "compile", "layers"]
    opts = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if getattr(args, "palette", None):
        from ..deliver.swatches import named_palette_file

        opts["palette"] = named_palette_file(args.palette)
    if getattr(args, "reference_fit", None):
        opts["reference_fit"] = args.reference_fit
    if getattr(args, "reference_background", None):
        opts["reference_background"] = args.reference_background
    return opts


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="lineart video (mp4/mov/mkv/webm/avi/gif), image folder, pattern frame_%%04d.png, "
                   "or a shot manifest (.yaml: every shot from its own keyframe, as `lvcd batch`)")
    p.add_argument("--reference", "-r", help="the coloured version of the first frame (not needed with a manifest)")
    p.add_argument("--work", help="work folder: with a manifest, the per-shot frames (default: beside the manifest); "
                   "with a video and the diffusion backend, per-window checkpoints, so re-running the same command "
                   "after an interruption resumes (default: none)")
    p.add_argument("--output", "-o", required=True, help="output video (.mp4/.mkv/.mov) or folder/pattern for PNGs")
    p.add_argument("--reference-fit", choices=["error", "stretch", "crop", "pad"],
                   help="what to do with a reference of another aspect ratio (default: error)")
    p.add_argument("--reference-background", metavar="COLOUR",
                   help="flatten a reference with transparent pixels onto this colour (white, black, #rrggbb)")
    p.add_argument("--reference-frame", metavar="N|external",
                   help="which frame the reference colours: a frame number (default 0), or `external` for a "
                        "character sheet / design that is no frame of the clip")
    p.add_argument("--reference-lineart", metavar="IMAGE|N",
                   help="with --reference-frame external: the reference's lineart (an image, or a frame number); "
                        "default: lines extracted from the reference")
    p.add_argument("--fps", help="resample the input to this constant rate (e.g. 24 or 24000/1001); default: every "
                   "frame as it is, a variable-frame-rate clip keeping each frame's time")
    p.add_argument("--dry-run", action="store_true", help="print the plan and a resource estimate; load no weights")
    add_common_options(p)


def run(args) -> int:
    from .. import api

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="lvcd: %(message)s")
    opts = options_from_args(args)
    if str(args.input).lower().endswith((".yaml", ".yml")):  # a shot manifest: one keyframe per shot
        from ..shots.render import render_shots

        if args.reference:
            raise ValueError(f"{args.input} is a shot manifest: its shots name their own references; drop --reference "
                             "(or pass the lineart video instead of the manifest).")
        if args.dry_run:
            from ..shots.render import plan_shots
            from .batch_cmd import format_plans

            _, work, plans = plan_shots(args.input, work=args.work, **opts)
            print(format_plans(plans))
            print(f"work folder: {work}")
            return 0
        res = render_shots(args.input, work=args.work, output=args.output, audio=args.audio,
                           allow_outside_paths=args.allow_outside_paths, **opts)
        if res.unchanged:
            print(f"{len(res.shots)} shots up to date, output unchanged: {res.output}", file=sys.stderr)
        elif not args.quiet:
            print(f"wrote {res.output} ({len(res.shots)} shots, {res.seconds:.1f} s)", file=sys.stderr)
        return 0
    if not args.reference:
        raise ValueError("--reference is required: the coloured version of the first lineart frame.")
    if args.dry_run:
        plan = api.plan_render(args.input, **opts)
        print(api.format_plan(plan))
        return 0
    if args.reference_frame is not None or args.reference_lineart is not None:
        from ..single_shot import colorize_from_frame

        res = colorize_from_frame(args.input, args.reference, args.output, reference_frame=args.reference_frame,
                                  reference_lineart=args.reference_lineart, work=args.work, audio=args.audio, **opts)
        if not args.quiet:
            print(f"wrote {res.output} ({res.frames} frames, {res.seconds:.1f} s)", file=sys.stderr)
        return 0
    res = api.colorize_video(args.input, args.reference, args.output, work=args.work, audio=args.audio,
                             fps=args.fps, **opts)
    if not args.quiet:
        print(f"wrote {res.output} ({res.frames} frames, {res.backend} backend, {res.seconds:.1f} s)", file=sys.stderr)
        if res.drift is not None:
            from ..eval.drift import format_drift

            print(format_drift(res.drift), file=sys.stderr)
    return 0
