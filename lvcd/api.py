"""The Python API: colorize a lineart video or image sequence from a coloured reference keyframe.

`colorize_video(input, reference, output, **options)` reads frames as a stream, colours them with a backend (the
diffusion pipeline when a converted model is found, otherwise the weight-free paint-bucket colorizer) and writes
them as they are produced to a temporary file renamed at the end. `colorize_frames(...)` is the same streaming core
over an iterable of frames; `plan_render` is the dry run (`lvcd.dry_run`). The options are
`lvcd.options.RenderOptions` fields, given as keywords. The CLI only parses arguments and calls these.

Memory stays constant in the video's length: only the current window, its overlap and one decode chunk are held.
The pieces live one floor down: options (`lvcd.options`), model lookup (`lvcd.model_dir`), letterbox / reference /
finishing (`lvcd.frames`), checkpoints, keys and the sidecar record (`lvcd.resume`), backends (`lvcd.backends`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from .backends import make_backend
from .backends.extra_refs import as_items
from .dry_run import format_plan, plan_render
from .errors import LVCDError
from .frames import FramePairing, finishing, load_reference
from .model_dir import find_model, model_fingerprint, model_size_for
from .options import ColorizeOptions, RenderOptions, keeps_lines
from .outputs import check_output
from .prefetch import background
from .resume import SegmentStore, checkpoint_folder, sidecar_record, timing_record
from .video.audio import choose_audio

logger = logging.getLogger("lvcd")

__all__ = [
    "ColorizeOptions",
    "LVCDError",
    "RenderOptions",
    "RenderResult",
    "colorize_frames",
    "colorize_video",
    "extract_lineart_video",
    "find_model",
    "format_plan",
    "load_reference",
    "make_backend",
    "plan_render",
]


def colorize_frames(
    frames: Iterable[np.ndarray],
    reference: np.ndarray | str | os.PathLike,
    *,
    num_frames: int | None = None,
    backend=None,
    checkpoint_dir: str | os.PathLike | None = None,
    options: RenderOptions | None = None,
    keyframes=None,
    extra_references=None,
    **kwargs,
) -> Iterator[np.ndarray]:
    """Streaming API: colour an iterable of lineart frames (uint8 HxWx3, frame 0 is the one `reference` colours) and
    yield exactly one coloured uint8 RGB frame per input frame, in order, as soon as each is ready.

    `num_frames` is needed by the diffusion backend when `frames` has no len() (its window plan pads the tail).
    `backend` reuses an already loaded backend (see `make_backend`); `checkpoint_dir` makes a diffusion render
    resumable window by window. Options: `RenderOptions` fields as keywords, or `options` (an object; keywords then
    change it). `keyframes=[(frame_index, image), ...]`: several keyframes used together (bucket backend; `reference`
    may then be None; see `lvcd.keyframes_together`). `extra_references`: references used together with the
    keyframe(s) by every frame, each an image (path or uint8 array) or a mapping {image, mask?, target_mask?,
    lineart?} (`lvcd.backends.extra_refs`; any backend).
    """
    if isinstance(backend, str):  # a backend name, as in RenderOptions.backend
        kwargs["backend"], backend = backend, None
    opts = RenderOptions.of(options, **kwargs)
    if num_frames is None and hasattr(frames, "__len__"):
        num_frames = len(frames)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise LVCDError("the lineart stream is empty; it needs at least one frame.")
    h, w = first.shape[:2]
    extra = {}
    if keyframes:
        from .keyframes_together import prepare_keyframes

        extra["keyframes"], it = prepare_keyframes(keyframes, reference, first, it, opts, num_frames)
        first, reference = next(it), extra["keyframes"][0][1]
    ref = (
        reference
        if isinstance(reference, np.ndarray)
        else load_reference(reference, (w, h), opts.reference_fit, opts.reference_background)
    )
    if ref.shape[:2] != (h, w):
        raise LVCDError(f"`reference` is {ref.shape[1]}x{ref.shape[0]} but the frames are {w}x{h}.")
    if backend is None:
        backend, _ = make_backend(opts)
    if extra and backend.name != "bucket":  # (checked before the extra references join `extra`)
        from .keyframes_together import ONE_REFERENCE

        raise LVCDError(ONE_REFERENCE.format(name=backend.name))
    if backend.name == "diffusion" and num_frames is None:
        raise LVCDError("the diffusion backend needs `num_frames` for a frame iterator without len().")
    from .lineart import detect_polarity

    polarity = detect_polarity(first) if opts.polarity == "auto" else opts.polarity
    keep = keeps_lines(opts, backend.name)  # cels keep their ink: on for the bucket unless --no-keep-lines
    finish = finishing(opts, ref, polarity, keep)
    if opts.palette:  # named colours (lvcd.deliver): paints near one become it, drawn ink kept
        from .deliver.shots import with_named_palette

        finish = with_named_palette(finish, opts.palette, backend, ref, opts.snap)

    def chained():
        yield first
        yield from it

    n = num_frames if num_frames is not None else -1
    if extra_references:  # references used together (issue 15); none: backends called exactly as before
        extra["extra_references"] = as_items(extra_references)
    if not (keep or opts.snap or opts.palette):  # nothing to pair outputs with: no buffering at all
        yield from backend.colorize(
            ref, chained(), n, polarity=polarity, checkpoint_dir=checkpoint_dir, options=opts, **extra
        )
        return
    tee = FramePairing(chained())
    for out in backend.colorize(ref, tee, n, polarity=polarity, checkpoint_dir=checkpoint_dir, options=opts, **extra):
        yield finish(out, tee.next_line())


@dataclass
class RenderResult:
    output: Path
    frames: int
    seconds: float
    backend: str
    sidecar: Path | None = None
    drift: dict | None = None  # lvcd.eval.drift summary: per-window colour distance to the reference palette
    confidence: dict | None = None  # flat bucket fills: per-frame confidence and paint-share check (frames to check)


def colorize_video(
    input,
    reference,
    output,
    *,
    work: str | os.PathLike | None = None,
    audio: str | os.PathLike | None = None,
    fps=None,
    options: RenderOptions | None = None,
    **kwargs,
) -> RenderResult:
    """Colorize a lineart video file or image sequence and write the result (same frame count, fps, size and audio).

    Options: `RenderOptions` fields as keywords (or `options`, an object). The output is written as frames are
    produced to a temporary file renamed at the end; a failed or interrupted run leaves no output behind. With `work`
    (a folder), a diffusion render keeps every finished window's latents there: running the same command again after
    an interruption re-decodes those and samples only the windows that were not finished, giving the same frames; the
    checkpoints are removed once the output is written. The work folder is locked while the render runs
    (`lvcd.lock`). `audio`: None = the input's sound, "none" = silent, a path = the sound of that file (e.g. the colour
    clip the lineart came from). `fps`: resample a video to this constant rate (a variable-rate input otherwise keeps
    every frame and its time). `extra_references`: as in `colorize_frames` (references used together).
    """
    from .lock import WorkLock

    if work is None:
        return _colorize_video(input, reference, output, work=None, audio=audio, fps=fps, options=options, **kwargs)
    with WorkLock(work):
        return _colorize_video(input, reference, output, work=work, audio=audio, fps=fps, options=options, **kwargs)


def _colorize_video(
    input, reference, output, *, work, audio, fps=None, options: RenderOptions | None = None, **kwargs
) -> RenderResult:
    from tqdm.auto import tqdm

    from .video import check_output_path, open_reader, open_writer, probe, write_sidecar
    from .video.writer import output_format

    extra = kwargs.pop("extra_references", None)
    opts = RenderOptions.of(options, **kwargs)
    t0 = time.perf_counter()
    info = probe(input, fps=fps)
    check_inputs_and_output(input, info, output, reference=reference, work=work, fmt=opts.fmt, polarity=opts.polarity)
    audio_from = choose_audio(audio, input if info.has_audio else None)
    check_output_path(output, overwrite=opts.overwrite, fmt=opts.fmt)
    ref = load_reference(reference, (info.width, info.height), opts.reference_fit, opts.reference_background)
    backend, model_dir = make_backend(opts, opts.size or model_size_for(info.width, info.height))
    if output_format(output, opts.fmt) == "indexed":  # palette PNGs + palette files instead of a video
        from .deliver.shots import indexed_writer_for

        open_writer = indexed_writer_for(backend, ref, opts)  # noqa: F811 (same call below, another writer)
    fingerprint = model_fingerprint(model_dir)
    ckpt = None
    if work is not None and backend.name == "diffusion":
        pipe = backend.pipe  # checkpoints hold latents: keyed by the loaded device class and dtype too
        ckpt = checkpoint_folder(
            Path(work),
            input,
            ref,
            info.frame_count,
            opts,
            backend=backend.name,
            fingerprint=fingerprint,
            device=pipe._execution_device.type,
            dtype=str(pipe.unet.dtype),
            extra_references=extra,
        )
        done = SegmentStore(ckpt).finished()
        if done:
            logger.warning("resuming from %s: %d finished windows are re-decoded, not sampled again", ckpt, done)
    elif work is not None:
        logger.info("--work keeps diffusion checkpoints; the %s backend renders from the start", backend.name)
    n = info.frame_count
    written = 0
    monitor = None
    if opts.drift:
        from .eval.drift import DriftMonitor

        monitor = DriftMonitor(ref)
    colorize = partial(colorize_frames, extra_references=extra)
    with (
        open_reader(input, fps=fps) as reader,
        background(reader, maxsize=8, name="lvcd-read") as frames,
        open_writer(
            output,
            info.fps,
            (info.width, info.height),
            audio_from=audio_from,
            crf=opts.crf,
            overwrite=opts.overwrite,
            fmt=opts.fmt,
            timestamps=info.timestamps,  # a VFR input's timing, kept
        ) as writer,
        tqdm(total=n, unit="frame", disable=opts.quiet, desc=f"colorize ({backend.name})") as bar,
    ):
        for frame in colorize(frames, ref, num_frames=n, backend=backend, checkpoint_dir=ckpt, options=opts):
            writer.write(frame)
            if monitor is not None:
                monitor.update(frame, written)
            written += 1
            bar.update()
        if written != n:
            raise LVCDError(f"{input}: expected {n} frames but colorized {written}; the output was not kept.")
    seconds = time.perf_counter() - t0
    side = sidecar_record(
        input=input,
        reference=reference,
        output=output,
        frames=written,
        fps=info.fps,
        size=(info.width, info.height),
        backend=backend.name,
        options=opts,
        model_dir=model_dir,
        fingerprint=fingerprint,
        seconds=seconds,
    )
    side["timing"] = timing_record(info)
    drift = None
    if monitor is not None:
        from .eval.drift import format_drift

        drift = side["colour_drift"] = monitor.summary()
        if drift["over_threshold"]:
            logger.warning("%s: %s", output, format_drift(drift))
    conf = backend.confidence() if backend.name == "bucket" else None
    if conf is not None:  # the check a flat fill can fail (the palette drift above cannot)
        from .backends.bucket_confidence import format_line

        side["bucket_confidence"] = conf
        if conf["frames_to_check"]:
            logger.warning("%s: %s", output, format_line(conf))
    sidecar = write_sidecar(output, side)
    if ckpt is not None:
        import shutil

        shutil.rmtree(ckpt, ignore_errors=True)  # the output is complete: its checkpoints are no longer needed
    return RenderResult(Path(output), written, seconds, backend.name, sidecar, drift, conf)


def check_inputs_and_output(input, info, output, *, reference=None, work=None, fmt=None, polarity="auto") -> None:
    """Before any work: the output must not replace an input or lie in the work folder (`lvcd.outputs`), and a
    colour clip given as the lineart is refused with the fix (skipped when the polarity is stated explicitly)."""
    check_output(output, inputs=[input] + ([reference] if reference is not None else []), work=work, fmt=fmt)
    if polarity == "auto":
        from .lineart.colour_check import check_lineart_input
        from .video import read_frames

        picks = sorted({0, min(info.frame_count, info.source_frame_count or info.frame_count) // 2})
        check_lineart_input(input, (next(read_frames(input, k, k + 1)) for k in picks), what="the lineart input")


# ---------------------------------------------------------------------------------------------------- lineart
def extract_lineart_video(
    input,
    output,
    *,
    method: str = "xdog",
    weights=None,
    binary: bool = False,
    crf: int = 18,
    overwrite: bool = False,
    quiet: bool = False,
) -> int:
    """Write the lineart of a colour video / sequence (black lines on white, same frame count, fps and size)."""
    from tqdm.auto import tqdm

    from .lineart import XDoGConfig, hysteresis_mask, xdog
    from .video import check_output_path, open_reader, open_writer, probe

    info = probe(input)
    check_output(output, inputs=[input])
    check_output_path(output, overwrite=overwrite)
    if method == "informative-drawings":
        if not weights:
            raise LVCDError(
                "--method informative-drawings needs --weights (the generator's sk_model.pth); or use "
                "--method xdog, which needs none."
            )
        from .lineart.informative_drawings import InformativeDrawingsExtractor

        extract = InformativeDrawingsExtractor(weights)
    elif method == "xdog":
        cfg = XDoGConfig()
        extract = lambda frame: xdog(frame, cfg)  # noqa: E731
    else:
        raise LVCDError(f"unknown lineart method {method!r}; choose xdog or informative-drawings.")
    n = 0
    with (
        open_reader(input) as reader,
        background(reader, maxsize=8, name="lvcd-read") as frames,
        open_writer(
            output,
            info.fps,
            (info.width, info.height),
            crf=crf,
            overwrite=overwrite,
            audio_from=input if info.has_audio else None,  # the clip's sound goes along
            timestamps=info.timestamps,
        ) as writer,
    ):
        for frame in tqdm(frames, total=info.frame_count, unit="frame", disable=quiet, desc="lineart"):
            strength = extract(frame)  # float [H, W], 1 = line
            if binary:
                strength = hysteresis_mask(strength, 0.3, 0.6).astype(np.float32)
            gray = (255.0 * (1.0 - np.clip(strength, 0, 1))).round().astype(np.uint8)
            writer.write(np.repeat(gray[..., None], 3, axis=-1))
            n += 1
    return n
