"""`probe(path) -> VideoInfo`: exact frame count, exact fps, display size, rotation, audio, VFR detection.

Videos are opened with PyAV (libavformat in-process, no ffprobe subprocess). The frame count is always exact:

* MP4/MOV: the sample table is the index; counting its non-discarded entries costs no I/O, and an entry that points
  past the end of the file means the file was cut short (VideoTruncatedError, raised here, before any work is done);
* every other container (MKV, WebM, AVI, GIF, ...): the packets are demuxed and counted (no decoding; ~4 us a packet).

The timestamps found on the way decide whether the stream is variable-frame-rate: a frame duration that strays from
the median by more than a rounding tick and 2% makes it VFR. A VFR stream keeps every stored frame: `frame_count`
is the stored count, `timestamps` each frame's time (seconds after frame 0), `fps` the average rate (snapped to a
standard rate such as 24000/1001 when within 0.2%); writers given those timestamps reproduce the timing. Only when
`fps` is passed is it resampled to that constant rate (frames repeated or dropped by timestamp), `frame_count`
then being the resampled count. The first frame is decoded to learn the pixel format and the rotation.

Image sequences (a folder or a printf pattern, see `lvcd.video.images`) have no rate: 24 fps unless `fps` is given.
Results are cached per (path, mtime, size, fps), so probing again before every `read_frames` call is free.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import VideoReadError, VideoTruncatedError
from .images import IMAGE_EXTENSIONS, _decode, gaps_allowed, is_pattern, list_sequence

__all__ = ["DEFAULT_SEQUENCE_FPS", "STANDARD_RATES", "VideoInfo", "as_fps", "probe"]

logger = logging.getLogger(__name__)

DEFAULT_SEQUENCE_FPS = Fraction(24)  # image sequences carry no rate; 24 is the animation norm
STANDARD_RATES = tuple(
    Fraction(r)
    for r in (
        "24000/1001",
        "24",
        "25",
        "30000/1001",
        "30",
        "48000/1001",
        "48",
        "50",
        "60000/1001",
        "60",
        "12",
        "15",
        "8",
        "10",
        "6",
        "20",
        "100",
        "120000/1001",
        "120",
    )
)
SNAP_TOLERANCE = 0.002  # a measured rate within 0.2% of a standard one is that rate (mkv rounds pts to 1 ms)
VFR_TOLERANCE = 0.02  # frame durations straying more than 2% (and more than a tick) from the median mean VFR
MOV_FORMATS = ("mov", "mp4")  # containers whose index lists every sample


@dataclass(frozen=True)
class _Timing:
    """What the reader needs beyond the public fields (private; not part of the contract)."""

    time_base: Fraction | None = None
    first_pts: int | None = None  # presentation timestamp of frame 0
    resample: bool = False  # map frames to a constant-rate grid by pts (VFR input or an fps override)
    seekable: bool = False  # pts are regular, so frame i sits at first_pts + i / fps
    files: tuple[str, ...] = ()  # image sequences: the frames, in order


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` learnt about a video file or an image sequence. `frame_count` frames of `width`x`height` (the
    display size, after rotation) are what `open_reader` yields, at `fps`."""

    path: str
    kind: str  # "video" | "sequence"
    frame_count: int
    fps: Fraction
    width: int
    height: int
    rotation: int = 0  # degrees counter-clockwise the stored frames are turned for display (0, 90, 180, 270)
    has_audio: bool = False
    audio_codec: str | None = None
    audio_duration: float | None = None  # seconds, when the container says
    is_vfr: bool = False  # variable frame rate: read as constant `fps` (frames repeated / dropped by timestamp)
    duration: float = 0.0  # frame_count / fps, seconds
    pix_fmt: str = ""  # as decoded (e.g. yuv420p, bgra, rgb48 for a 16-bit PNG)
    codec: str = ""  # e.g. h264, prores, gif, png
    container: str = ""  # libavformat's name, or "image2" for sequences
    source_frame_count: int = 0  # frames stored in the stream (differs from frame_count only when resampled)
    # variable frame rate, not resampled: each frame's presentation time in seconds after frame 0 (else None)
    timestamps: tuple[Fraction, ...] | None = None
    _timing: _Timing = field(default_factory=_Timing, repr=False, compare=False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order `open_writer` takes."""
        return self.width, self.height


def as_fps(value, what: str = "fps") -> Fraction:
    """A frame rate as an exact Fraction: Fraction, int, "24000/1001", or a float (23.976 -> 24000/1001)."""
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError
            rate = snap_rate(Fraction(value).limit_denominator(1001), tolerance=1e-4)
        else:
            rate = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise ValueError(
            f"`{what}` must be a positive frame rate such as 24, 25 or '24000/1001' (got {value!r})."
        ) from None
    if rate <= 0:
        raise ValueError(f"`{what}` must be a positive frame rate such as 24, 25 or '24000/1001' (got {value!r}).")
    return rate


def snap_rate(rate: Fraction, tolerance: float = SNAP_TOLERANCE) -> Fraction:
    """The standard rate within `tolerance` (relative) of `rate`, else `rate` with a denominator of at most 1001."""
    for std in STANDARD_RATES:
        if abs(rate - std) <= tolerance * std:
            return std
    return rate.limit_denominator(1001)


def probe(path: str | os.PathLike, *, fps: Fraction | int | str | None = None) -> VideoInfo:
    """Probe a video file, an image folder, a printf pattern (`frames/frame_%04d.png`) or a single image.

    `fps` sets the rate of an image sequence (default 24); for a video it asks for resampling to that rate (frames
    repeated or dropped by timestamp), and `frame_count` is then the resampled count.
    Raises FileNotFoundError, VideoReadError (not a video, zero frames, ...) or VideoTruncatedError.
    """
    src = Path(path)
    rate = as_fps(fps) if fps is not None else None
    if is_pattern(src):
        folder = src.parent
        stamp = (folder.stat().st_mtime_ns, 0) if folder.is_dir() else None
        return _probe_cached(str(folder.resolve() / src.name), "pattern", stamp, rate, gaps_allowed())
    if not src.exists():
        raise FileNotFoundError(
            f"{src} does not exist; pass a video file, a folder of frames or a pattern like frames/frame_%04d.png."
        )
    st = src.stat()
    kind = "folder" if src.is_dir() else ("image" if src.suffix.lower() in IMAGE_EXTENSIONS else "video")
    return _probe_cached(str(src.resolve()), kind, (st.st_mtime_ns, st.st_size), rate, gaps_allowed())


@functools.lru_cache(maxsize=64)
def _probe_cached(path: str, kind: str, stamp, fps: Fraction | None, allow_gaps: bool = False) -> VideoInfo:
    if kind == "video":
        return _probe_video(Path(path), fps)
    files = [Path(path)] if kind == "image" else list_sequence(path)
    return _probe_sequence(path, files, fps)


def _probe_sequence(path: str, files: list[Path], fps: Fraction | None) -> VideoInfo:
    first = _decode(files[0])
    h, w = first.shape[:2]
    channels = 1 if first.ndim == 2 else first.shape[2]
    depth = {np.dtype(np.uint8): "", np.dtype(np.uint16): "16"}.get(first.dtype, "f")
    pix_fmt = {1: "gray", 2: "ya", 3: "rgb", 4: "rgba"}[channels] + (depth or ("24" if channels == 3 else ""))
    rate = fps or DEFAULT_SEQUENCE_FPS
    n = len(files)
    return VideoInfo(
        path=path,
        kind="sequence",
        frame_count=n,
        fps=rate,
        width=w,
        height=h,
        duration=float(n / rate),
        pix_fmt=pix_fmt,
        codec=files[0].suffix.lower().lstrip("."),
        container="image2",
        source_frame_count=n,
        _timing=_Timing(files=tuple(str(f) for f in files)),
    )


def _open(path: Path):
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise VideoReadError(
            f"{path} is not a readable video ({reason}). Check that it is a video file and was "
            "completely written (an MP4 cut short loses its index); re-export it, or pass a folder "
            "of frames."
        ) from None


def _describe_streams(container) -> str:
    kinds = [s.type for s in container.streams]
    return ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds)) or "no streams"


def _probe_video(path: Path, fps: Fraction | None) -> VideoInfo:
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise VideoReadError(
                f"{path} has no video stream (it holds {_describe_streams(container)}); pass the "
                "lineart video itself or a folder of frames."
            )
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base) if stream.time_base else None
        fmt_name = container.format.name
        ts, count, truncated_at, ts_kind, expected = _timestamps(container, stream, path)
        codec = stream.codec_context.name
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = audio.codec_context.name if audio is not None else None
        audio_duration = float(audio.duration * audio.time_base) if audio is not None and audio.duration else None
        native = _native_rate(stream, ts, time_base)
    if count == 0:
        raise VideoReadError(
            f"{path} has a video stream but zero frames (an encoder that failed, or an empty "
            "export); re-export the video."
        )
    if truncated_at is not None:
        raise VideoTruncatedError(path, truncated_at, max(expected, count))

    with _open(path) as container:  # decode frame 0: pixel format, rotation, first pts; proves the codec works
        stream = container.streams.video[0]
        try:
            frame0 = next(container.decode(stream), None)
        except av.FFmpegError as e:
            raise VideoReadError(
                f"{path}: the first frame cannot be decoded ({e}); the file is damaged or uses a "
                "codec this ffmpeg build lacks. Re-export it (H.264 MP4 or PNG frames)."
            ) from None
    if frame0 is None:
        raise VideoReadError(
            f"{path}: no frame could be decoded from {count} packets; the video data is damaged. Re-export it."
        )
    rotation = _rotation(frame0, path)
    w, h = (frame0.height, frame0.width) if rotation in (90, 270) else (frame0.width, frame0.height)

    is_vfr = ts is not None and _is_vfr(ts)
    rate = fps or native
    resample = fps is not None and (fps != native or is_vfr)  # only when asked: VFR frames are kept by default
    frame_count = count
    timestamps = None
    if is_vfr and not resample:
        pts = ts if ts_kind == "pts" else _demux_pts(path)
        if pts is not None and time_base is not None:
            timestamps = tuple((p - pts[0]) * time_base for p in pts)
            logger.warning(
                "%s has a variable frame rate (%d frames over %.3f s, %s fps on average): every frame is "
                "kept with its own timestamp, and a video output carries the same timing. Pass `fps` "
                "(--fps) to resample it to a constant rate instead.",
                path,
                count,
                float(timestamps[-1]),
                rate,
            )
        else:
            resample = True  # no usable timestamps: fall back to the average rate
    if resample:
        pts = ts if ts_kind == "pts" else _demux_pts(path)
        if pts is None or time_base is None:
            raise VideoReadError(
                f"{path} has no usable timestamps, so it cannot be resampled to {rate} fps; convert "
                f"it to a constant rate first (ffmpeg -i {path} -fps_mode cfr -r {rate} fixed.mp4)."
            )
        span = (max(pts) - min(pts)) * time_base
        frame_count = _slot(span, rate) + 1
        if is_vfr:
            logger.warning(
                "%s has a variable frame rate; it is resampled to constant %s fps (%.3f): %d stored "
                "frames -> %d frames, repeated or dropped by timestamp.",
                path,
                rate,
                float(rate),
                count,
                frame_count,
            )
    first_pts = frame0.pts
    seekable = (
        ts is not None
        and first_pts is not None
        and time_base is not None
        and not resample
        and not is_vfr
        and fmt_name not in ("gif", "image2", "apng")
    )
    return VideoInfo(
        path=str(path),
        kind="video",
        frame_count=frame_count,
        fps=rate,
        width=w,
        height=h,
        rotation=rotation,
        has_audio=audio is not None,
        audio_codec=audio_codec,
        audio_duration=audio_duration,
        is_vfr=is_vfr,
        duration=float(frame_count / rate) if timestamps is None else float(timestamps[-1] + 1 / rate),
        pix_fmt=frame0.format.name,
        codec=codec,
        container=fmt_name,
        source_frame_count=count,
        timestamps=timestamps,
        _timing=_Timing(time_base=time_base, first_pts=first_pts, resample=resample, seekable=seekable),
    )


def _slot(t: Fraction, rate: Fraction) -> int:
    """Index of the constant-rate output frame nearest to time `t` (seconds after frame 0); halves round up."""
    return math.floor(t * rate + Fraction(1, 2))


def _timestamps(container, stream, path: Path) -> tuple[list[int] | None, int, int | None, str, int]:
    """(timestamps of the frames, frame count, frame at which the data ends early or None, "pts" | "dts", frame
    count the container declares or implies by its duration, 0 if it says nothing)."""
    import av

    fmt = container.format.name
    declared = int(stream.frames or 0)
    if declared > 0 and any(f in fmt.split(",") for f in MOV_FORMATS):
        entries = stream.index_entries
        if len(entries) == declared:
            size = os.path.getsize(path)
            ts: list[int] = []
            truncated_at = None
            for e in entries:
                if e.is_discard:
                    continue
                if truncated_at is None and e.pos + e.size > size:
                    truncated_at = len(ts)
                ts.append(e.timestamp)
            return ts, len(ts), truncated_at, "dts", declared
    pts: list[int | None] = []
    truncated_at = None
    try:
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard:
                pts.append(packet.pts if packet.pts is not None else packet.dts)
    except av.FFmpegError:  # damaged data part-way: what came before is readable
        truncated_at = len(pts)
    count = len(pts)
    if declared > count:
        truncated_at = count
    known = None if any(p is None for p in pts) else sorted(pts)
    if truncated_at is None and known and count > 1 and stream.time_base:
        # Matroska/WebM declare no frame count, but a duration: data that stops well short of it was cut off
        declared_end = _declared_end(stream)
        if declared_end is not None:
            step = Fraction(int(np.median(np.diff(known))) or 1) * stream.time_base
            end = known[-1] * stream.time_base + step
            if declared_end - end > max(2 * step, Fraction(1, 10)):
                implied = round((declared_end - known[0] * stream.time_base) / step)
                return known, count, count, "pts", implied
    return known, count, truncated_at, "pts", declared


def _declared_end(stream) -> Fraction | None:
    """Where the container says the stream ends (seconds): `duration`, or Matroska's per-stream DURATION tag."""
    if stream.duration and stream.time_base:
        return (stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base
    tag = next((v for k, v in (stream.metadata or {}).items() if k.upper() == "DURATION"), None)
    m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", str(tag).strip()) if tag else None
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + Fraction(m.group(3))


def _demux_pts(path: Path) -> list[int] | None:
    with _open(path) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.size and not p.is_discard]
    return None if any(p is None for p in pts) else sorted(pts)


def _is_vfr(ts: list[int]) -> bool:
    if len(ts) < 3:
        return False
    d = np.diff(np.sort(np.asarray(ts, dtype=np.int64)))
    med = float(np.median(d))
    return bool(med <= 0 or np.any(np.abs(d - med) > max(1.5, VFR_TOLERANCE * med)))


def _native_rate(stream, ts: list[int] | None, time_base: Fraction | None) -> Fraction:
    """The stream's frame rate, exact: the container's rate when the timestamps agree with it, else the measured
    average snapped to a standard rate."""
    candidates = [Fraction(r) for r in (stream.average_rate, stream.guessed_rate) if r]
    measured = None
    if ts is not None and time_base and len(ts) >= 2 and max(ts) > min(ts):
        measured = Fraction(len(ts) - 1) / ((max(ts) - min(ts)) * time_base)
    if measured is None:
        if candidates:
            return snap_rate(candidates[0], tolerance=1e-4) if candidates[0].denominator > 1001 else candidates[0]
        raise VideoReadError(
            f"{stream.container.name if stream.container else 'the video'} declares no frame rate "
            "and has a single timestamp; pass `fps` explicitly."
        )
    for c in candidates:
        if abs(c - measured) <= 0.005 * measured:
            return c if c.denominator <= 1001 else snap_rate(c)
    return snap_rate(measured)


def _rotation(frame, path: Path) -> int:
    deg = float(getattr(frame, "rotation", 0) or 0)
    quarter = round(deg / 90)
    if abs(deg - 90 * quarter) > 1:
        logger.warning(
            "%s is rotated by %.1f degrees; only multiples of 90 are applied, it is read unrotated.", path, deg
        )
        return 0
    return (quarter % 4) * 90
