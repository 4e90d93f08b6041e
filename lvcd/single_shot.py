"""`lvcd colorize --reference-frame N|external [--reference-lineart IMAGE|N]`: one clip as one shot.

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

__all__ = ["colorize_from_frame", "parse_reference_frame"]

EXTERNAL = "external"


def parse_reference_frame(value) -> int | str:
    """"external", or a frame number (int); ValueError naming the option otherwise."""
    text = str(value).strip().lower()
    if text == EXTERNAL:
        return EXTERNAL
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"--reference-frame must be a frame number (0 = first frame) or `{EXTERNAL}` (a character "
                         f"sheet that is no frame of the clip); got {value!r}.") from None
    if n < 0:
        raise ValueError(f"--reference-frame must be >= 0 (got {n}).")
    return n


def colorize_from_frame(input, reference, output, *, reference_frame=None, reference_lineart=None, work=None,
                        audio=None, extra_references=None, **options):
    """Colorize `input` from `reference`, which colours frame `reference_frame` (or is `external`). Returns the
    BatchResult of the one-shot render (`.output`, `.frames`, `.seconds`)."""
    from . import api
    from .shots.render import render_shots
    from .video import probe

    rf = parse_reference_frame(reference_frame if reference_frame is not None else
                               (EXTERNAL if reference_lineart is not None else 0))
    if reference_lineart is not None and rf != EXTERNAL:
        raise ValueError("--reference-lineart goes with --reference-frame external (the lineart of an off-frame "
                         "reference); a frame of the clip already has its lineart.")
    if not reference:
        raise ValueError("--reference is required: the coloured keyframe.")
    info = probe(input)
    if isinstance(rf, int) and rf >= info.frame_count:
        raise ValueError(f"--reference-frame {rf} is past the end of {input} ({info.frame_count} frames: "
                         f"0-{info.frame_count - 1}).")
    api.check_inputs_and_output(input, info, output, reference=reference, work=work, fmt=options.get("fmt"),
                                polarity=options.get("polarity", "auto"))
    shot = {"name": "clip", "start": 0, "end": info.frame_count, "reference": os.path.abspath(reference),
            "reference_frame": rf}
    if reference_lineart is not None:
        rl = str(reference_lineart)
        shot["reference_lineart"] = int(rl) if rl.isdigit() else os.path.abspath(rl)
    if extra_references:  # references used together (CLI pairs: image, mask, target_mask as paths)
        shot["extra_references"] = [{k: os.path.abspath(v) for k, v in e.items()} for e in extra_references]
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
