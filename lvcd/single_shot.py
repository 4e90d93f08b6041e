"""`lvcd colorize --reference-frame N|external [--reference-lineart IMAGE|N]`: one clip as one shot; and
`--reference A --reference-frame 0 --reference B --reference-frame 29`: several keyframes of one clip used together
(bucket backend; `colorize_from_keyframes`, a one-shot manifest with `references:`).

The manifest path already knows how to colour a clip from a keyframe in the middle (a forward and a backward pass)
or from an off-frame character sheet (an external reference with its own lineart); this renders a single clip that
way by building a one-shot manifest in memory and calling `lvcd.shots.render.render_shots`. Without `--work` the
per-shot frames go to a hidden temporary folder beside the output, removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["colorize_from_frame", "colorize_from_keyframes", "parse_reference_frame"]

EXTERNAL = "external"


def parse_reference_frame(value) -> int | str:
    """ "external", or a frame number (int); ValueError naming the option otherwise."""
    text = str(value).strip().lower()
    if text == EXTERNAL:
        return EXTERNAL
    try:
        n = int(text)
    except ValueError:
        raise ValueError(
            f"--reference-frame must be a frame number (0 = first frame) or `{EXTERNAL}` (a character "
            f"sheet that is no frame of the clip); got {value!r}."
        ) from None
    if n < 0:
        raise ValueError(f"--reference-frame must be >= 0 (got {n}).")
    return n


def colorize_from_frame(
    input,
    reference,
    output,
    *,
    reference_frame=None,
    reference_lineart=None,
    work=None,
    audio=None,
    extra_references=None,
    **options,
):
    """Colorize `input` from `reference`, which colours frame `reference_frame` (or is `external`). Returns the
    BatchResult of the one-shot render (`.output`, `.frames`, `.seconds`)."""
    from . import api
    from .video import probe

    rf = parse_reference_frame(
        reference_frame if reference_frame is not None else (EXTERNAL if reference_lineart is not None else 0)
    )
    if reference_lineart is not None and rf != EXTERNAL:
        raise ValueError(
            "--reference-lineart goes with --reference-frame external (the lineart of an off-frame "
            "reference); a frame of the clip already has its lineart."
        )
    if not reference:
        raise ValueError("--reference is required: the coloured keyframe.")
    info = probe(input)
    if isinstance(rf, int) and rf >= info.frame_count:
        raise ValueError(
            f"--reference-frame {rf} is past the end of {input} ({info.frame_count} frames: 0-{info.frame_count - 1})."
        )
    api.check_inputs_and_output(
        input,
        info,
        output,
        reference=reference,
        work=work,
        fmt=options.get("fmt"),
        polarity=options.get("polarity", "auto"),
    )
    shot = {
        "name": "clip",
        "start": 0,
        "end": info.frame_count,
        "reference": os.path.abspath(reference),
        "reference_frame": rf,
    }
    if reference_lineart is not None:
        rl = str(reference_lineart)
        shot["reference_lineart"] = int(rl) if rl.isdigit() else os.path.abspath(rl)
    return _render_clip(input, _with_extra(shot, extra_references), output, work, audio, options)


def colorize_from_keyframes(
    input,
    references,
    reference_frames,
    output,
    *,
    reference_lineart=None,
    work=None,
    audio=None,
    extra_references=None,
    **options,
):
    """Colorize `input` as one shot from several keyframes used together: `references[i]` colours frame
    `reference_frames[i]` (the CLI's repeated --reference / --reference-frame pairs). Bucket backend only."""
    from . import api
    from .backends import resolve_backend
    from .options import RenderOptions
    from .outputs import check_output
    from .video import probe

    references, reference_frames = list(references), list(reference_frames)
    if len(references) != len(reference_frames):
        raise ValueError(
            f"--reference is given {len(references)} times and --reference-frame {len(reference_frames)}"
            " times; give them in pairs, in order: --reference A --reference-frame 0 --reference B "
            "--reference-frame 29."
        )
    if reference_lineart is not None:
        raise ValueError(
            "--reference-lineart goes with one --reference and --reference-frame external, not with "
            "several keyframes (each is a frame of the clip, with its own lineart)."
        )
    backend = resolve_backend(RenderOptions.of(**options), strict=False)[0]
    if backend != "bucket":
        raise ValueError(
            f"several --reference keyframes are used together by the bucket backend only (this render "
            f"would use the {backend} backend); add --backend bucket, or give one --reference, or "
            "colour sub-shots from each keyframe with a shot manifest's `references:` (lvcd batch)."
        )
    info = probe(input)
    frames: dict[int, str] = {}
    for ref, raw in zip(references, reference_frames):
        rf = parse_reference_frame(raw)
        if rf == EXTERNAL:
            raise ValueError(
                f"--reference-frame external (for --reference {ref}) is for one off-frame reference; "
                "with several --reference, each colours a frame of the clip: give its frame number."
            )
        if rf >= info.frame_count:
            raise ValueError(
                f"--reference-frame {rf} is past the end of {input} ({info.frame_count} frames: "
                f"0-{info.frame_count - 1})."
            )
        if rf in frames:
            raise ValueError(
                f"--reference-frame {rf} is given twice ({frames[rf]} and {ref}); one keyframe per frame."
            )
        frames[rf] = ref
    api.check_inputs_and_output(
        input,
        info,
        output,
        reference=references[0],
        work=work,
        fmt=options.get("fmt"),
        polarity=options.get("polarity", "auto"),
    )
    check_output(output, inputs=[input, *references], work=work, fmt=options.get("fmt"))  # replaces no keyframe
    shot = {
        "name": "clip",
        "start": 0,
        "end": info.frame_count,
        "references": [{"frame": f, "image": os.path.abspath(r)} for f, r in sorted(frames.items())],
    }
    return _render_clip(input, _with_extra(shot, extra_references), output, work, audio, options)


def _with_extra(shot: dict, extra_references) -> dict:
    """`shot` with the CLI's extra references (pairs of image, mask, target_mask paths) used together."""
    if extra_references:
        shot["extra_references"] = [{k: os.path.abspath(v) for k, v in e.items()} for e in extra_references]
    return shot


def _render_clip(input, shot: dict, output, work, audio, options):
    """Render the one-shot manifest of `shot` over `input` (a temporary work folder beside the output when `work`
    is None, removed afterwards)."""
    from .shots.render import render_shots

    manifest = {"version": 1, "input": os.path.abspath(input), "shots": [shot]}
    temp = None
    if work is None:
        parent = Path(output).resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        temp = work = tempfile.mkdtemp(prefix=f".{Path(output).name}.shot-", dir=parent)
    try:
        return render_shots(manifest, work=work, output=output, audio=audio, allow_outside_paths=True, **options)
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
