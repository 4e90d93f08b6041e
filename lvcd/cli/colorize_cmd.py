"""`lvcd colorize INPUT --reference REF -o OUTPUT`: parse options and call `lvcd.api.colorize_video`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .options import add_render_options, options_from_args


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input",
        help="lineart video (mp4/mov/mkv/webm/avi/gif), image folder, pattern frame_%%04d.png, "
        "or a shot manifest (.yaml: every shot from its own keyframe, as `lvcd batch`)",
    )
    p.add_argument(
        "--reference",
        "-r",
        action="append",
        help="the coloured version of the first frame (not needed with a manifest); repeat it, each with "
        "its --reference-frame, for several keyframes used together (bucket backend): -r A "
        "--reference-frame 0 -r B --reference-frame 29",
    )
    p.add_argument(
        "--work",
        help="work folder: with a manifest, the per-shot frames (default: beside the manifest); "
        "with a video and the diffusion backend, per-window checkpoints, so re-running the same command "
        "after an interruption resumes (default: none)",
    )
    p.add_argument("--output", "-o", required=True, help="output video (.mp4/.mkv/.mov) or folder/pattern for PNGs")
    p.add_argument(
        "--reference-frame",
        metavar="N|external",
        action="append",
        help="which frame the reference colours: a frame number (default 0), or `external` for a "
        "character sheet / design that is no frame of the clip",
    )
    p.add_argument(
        "--reference-lineart",
        metavar="IMAGE|N",
        help="with --reference-frame external: the reference's lineart (an image, or a frame number); "
        "default: lines extracted from the reference",
    )
    p.add_argument(
        "--fps",
        help="resample the input to this constant rate (e.g. 24 or 24000/1001); default: every "
        "frame as it is, a variable-frame-rate clip keeping each frame's time",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and a resource estimate; load no weights")
    p.add_argument(
        "--extra-reference",
        action="append",
        metavar="IMAGE",
        help="another coloured reference used together with --reference by every frame (a model sheet, "
        "a background painting, a prop that enters later); repeat for more",
    )
    p.add_argument(
        "--extra-reference-mask",
        action="append",
        metavar="MASK|-",
        help="the part of the i-th --extra-reference to use (white); paired in order, - skips one",
    )
    p.add_argument(
        "--extra-target-mask",
        action="append",
        metavar="MASKS|-",
        help="which pixels of each frame may take the i-th --extra-reference's colours: a mask video, "
        "image sequence or one image; paired in order, - skips one",
    )
    add_render_options(p)


def run(args) -> int:
    from .. import api
    from ..options import RenderOptions

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="lvcd: %(message)s")
    opts = options_from_args(args)
    RenderOptions.of(**opts)  # every given flag checked now, before any input is read or weights load
    extra = extra_references_from_args(args)
    if str(args.input).lower().endswith((".yaml", ".yml")):  # a shot manifest: one keyframe per shot
        from ..shots.render import render_shots

        if extra:
            raise ValueError(
                f"{args.input} is a shot manifest: give its shots `extra_references:` (or in `defaults`) "
                "instead of --extra-reference."
            )
        if args.reference:
            raise ValueError(
                f"{args.input} is a shot manifest: its shots name their own references; drop --reference "
                "(or pass the lineart video instead of the manifest)."
            )
        if args.dry_run:
            from ..shots.plan import format_plans, plan_shots

            _, work, plans = plan_shots(args.input, work=args.work, **opts)
            print(format_plans(plans))
            print(f"work folder: {work}")
            return 0
        res = render_shots(
            args.input,
            work=args.work,
            output=args.output,
            audio=args.audio,
            allow_outside_paths=args.allow_outside_paths,
            **opts,
        )
        if res.unchanged:
            print(f"{len(res.shots)} shots up to date, output unchanged: {res.output}", file=sys.stderr)
        elif not args.quiet:
            print(f"wrote {res.output} ({len(res.shots)} shots, {res.seconds:.1f} s)", file=sys.stderr)
        return 0
    if not args.reference:
        raise ValueError("--reference is required: the coloured version of the first lineart frame.")
    if args.dry_run:
        plan = api.plan_render(args.input, extra_references=extra, **opts)
        print(api.format_plan(plan))
        return 0
    refs, frames = args.reference, args.reference_frame or []
    if len(refs) > 1 or len(frames) > 1 or frames or args.reference_lineart is not None:
        from ..single_shot import colorize_from_frame, colorize_from_keyframes

        if len(refs) > 1 or len(frames) > 1:  # several keyframes used together
            res = colorize_from_keyframes(
                args.input,
                refs,
                frames,
                args.output,
                reference_lineart=args.reference_lineart,
                work=args.work,
                audio=args.audio,
                extra_references=extra,
                **opts,
            )
        else:
            res = colorize_from_frame(
                args.input,
                refs[0],
                args.output,
                reference_frame=frames[0] if frames else None,
                reference_lineart=args.reference_lineart,
                work=args.work,
                audio=args.audio,
                extra_references=extra,
                **opts,
            )
        if not args.quiet:
            print(f"wrote {res.output} ({res.frames} frames, {res.seconds:.1f} s)", file=sys.stderr)
            _confidence_lines([s.confidence for s in res.shots])
        return 0
    res = api.colorize_video(
        args.input,
        refs[0],
        args.output,
        work=args.work,
        audio=args.audio,
        fps=args.fps,
        extra_references=extra,
        **opts,
    )
    if not args.quiet:
        print(f"wrote {res.output} ({res.frames} frames, {res.backend} backend, {res.seconds:.1f} s)", file=sys.stderr)
        if res.confidence is not None:  # flat fills: a palette drift check cannot fail on them; this one can
            _confidence_lines([res.confidence])
        elif res.drift is not None:
            from ..eval.drift import format_drift

            print(format_drift(res.drift), file=sys.stderr)
    return 0


def _confidence_lines(summaries) -> None:
    """The bucket confidence line of each summary whose frames were all confident (those with frames to check were
    logged as warnings already)."""
    from ..backends.bucket_confidence import format_line

    for conf in summaries:
        if conf is not None and not conf["frames_to_check"]:
            print(format_line(conf), file=sys.stderr)


def extra_references_from_args(args) -> list[dict]:
    """`--extra-reference` / `--extra-reference-mask` / `--extra-target-mask`, paired in order, checked before any
    work: files exist, a mask has its reference's size, a target mask one mask per input frame (or one image)."""
    from ..shots.extra_refs import ExtraReferenceSpec, check_extra_reference, pair_cli_extra_references

    extra = pair_cli_extra_references(args.extra_reference, args.extra_reference_mask, args.extra_target_mask)
    flags = {"image": "--extra-reference", "mask": "--extra-reference-mask", "target_mask": "--extra-target-mask"}
    for entry in extra:
        for key, path in entry.items():
            if key != "target_mask" and not os.path.exists(path):
                raise FileNotFoundError(f"{flags[key]} {path}: no such file")
    if extra and not str(args.input).lower().endswith((".yaml", ".yml")):
        from ..video import probe

        frames, problems = probe(args.input, fps=args.fps).frame_count, []
        for i, entry in enumerate(extra):
            check_extra_reference(
                ExtraReferenceSpec(**entry), frames, f"--extra-reference #{i + 1}: `extra_references[{i}]", problems
            )
        if problems:
            raise ValueError("; ".join(problems))
    return extra
