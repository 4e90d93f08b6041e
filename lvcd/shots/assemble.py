"""Assembling a batch: every frame of the episode in order (shot frames from the work folder, frames in no shot as
the lineart itself) with the inputs' sound, written atomically."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from .plan import PNG_NAME, ShotPlan, shot_status
from .shot import Manifest
from .source import EpisodeSource, read_png

logger = logging.getLogger("lvcd")

AudioPieceSpec = tuple[str | None, Fraction, Fraction]  # (input path or None = silence, start s, duration s)


def _audio_source(manifest: Manifest) -> str | None:
    """One input: its path when it has sound (the writer stream-copies that audio, no re-encode), else None. Several
    inputs: None here; their audio is rebuilt from pieces by `audio_pieces` (see `assemble_video`)."""
    ins = manifest.inputs
    if len(ins) == 1:
        return ins[0].path if ins[0].has_audio else None
    return None


def audio_pieces(manifest: Manifest, timeline: Sequence[tuple[int, int, object]]) -> list[AudioPieceSpec]:
    """The sound of an assembled video made of several inputs, as pieces for `lvcd.video.audio.build_audio_track`:
    for every stretch [a, b) of global frames in output order (a shot, or frames in no shot) and every input it
    overlaps, (that input's path, or None when it has no audio, start, duration) in seconds at the input's own rate
    (its frame / fps), so the sound lines up with the frames it belonged to."""
    pieces: list[AudioPieceSpec] = []
    for a, b, _ in timeline:
        for inp in manifest.inputs:
            lo, hi = max(a, inp.offset), min(b, inp.offset + inp.frame_count)
            if lo >= hi:
                continue
            fps = Fraction(inp.fps)
            pieces.append((inp.path if inp.has_audio else None, (lo - inp.offset) / fps, (hi - lo) / fps))
    return pieces


def assemble_video(
    manifest: Manifest,
    plans: Sequence[ShotPlan],
    output: str | os.PathLike,
    *,
    source: EpisodeSource,
    crf: int = 18,
    fmt: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    work: str | os.PathLike | None = None,
    audio: str | os.PathLike | None = None,
    layers: bool = False,
) -> Path:
    """Write the final video: every frame in order (shot frames from the work folder, frames in no shot as the
    lineart itself) with the inputs' sound, atomically.

    Sound: one input is stream-copied (no re-encode; the writer's `audio_from`). Several inputs: for every stretch of
    the output, the audio of the input its frames come from over the same frames ([start, end) / fps seconds of that
    input), concatenated in output order; an input without sound gives silence of the same length, so what follows
    stays in sync; no input with sound gives no audio stream. That track is re-encoded once, to AAC 192 kb/s
    (`lvcd.video.audio`), in MP4, MOV and MKV alike (what MP4/MOV players expect; MKV holds it too), built in a
    temporary file in `work` (default: the system's temporary folder) that the writer then copies in and that is
    deleted afterwards, whether the assembly succeeds or not. PNG frame outputs carry no sound.
    """
    from tqdm.auto import tqdm

    from ..video import open_writer
    from ..video.writer import output_format

    missing = [p.shot.name for p in plans if shot_status(p) != "done"]
    if missing:
        raise RuntimeError(f"cannot assemble: shots {missing} are not rendered")
    if output_format(output, fmt) == "indexed":  # palette PNGs with one merged palette (lvcd.deliver)
        from .indexed import assemble_indexed

        return assemble_indexed(
            manifest, plans, output, source=source, overwrite=overwrite, progress=progress, layers=layers
        )
    timeline: list[tuple[int, int, ShotPlan | None]] = []
    pos = 0
    for p in sorted(plans, key=lambda p: p.shot.start):
        if p.shot.start > pos:
            timeline.append((pos, p.shot.start, None))
        timeline.append((p.shot.start, p.shot.end, p))
        pos = p.shot.end
    if pos < manifest.frame_count:
        timeline.append((pos, manifest.frame_count, None))
    chosen, audio = audio, _audio_source(manifest)
    if chosen is not None:  # `--audio FILE|none` / the manifest's `audio:` replace the inputs' sound
        from ..video.audio import choose_audio

        audio = choose_audio(chosen, None)
    with contextlib.ExitStack() as stack:
        if chosen is None and len(manifest.inputs) > 1 and any(i.has_audio for i in manifest.inputs):
            if output_format(output, fmt) != "png":  # PNG frame outputs hold no sound
                from ..video.audio import temporary_audio_track

                logger.info("joining the audio of %d inputs for %s", len(manifest.inputs), output)
                audio = stack.enter_context(temporary_audio_track(audio_pieces(manifest, timeline), folder=work))
            else:
                logger.info("%s: PNG frames carry no audio; the inputs' sound is not written.", output)
        writer = stack.enter_context(
            open_writer(output, manifest.fps, manifest.size, audio_from=audio, crf=crf, overwrite=overwrite, fmt=fmt)
        )
        bar = stack.enter_context(
            tqdm(total=manifest.frame_count, unit="frame", desc="assemble", disable=not progress)
        )
        for a, b, p in timeline:
            frames = source.read(a, b) if p is None else (read_png(p.folder / PNG_NAME.format(i)) for i in range(a, b))
            for f in frames:
                writer.write(f)
                bar.update()
    return Path(output)
