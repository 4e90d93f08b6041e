"""Streaming frame readers: `open_reader(source)` and `read_frames(source, start, stop)`.

Frames come out one at a time as uint8 HxWx3 RGB arrays (a fresh array each, the caller may keep or modify it);
nothing but the decoder's own look-ahead is held, so memory does not grow with the clip.

Backend, chosen by measurement (`scripts/bench_video_io.py`, 576x320 H.264, 2 cores): PyAV decodes in-process with
frame threading, and the YUV -> RGB step, where the time goes, is OpenCV's SIMD `COLOR_YUV2RGB_I420` whenever it
is exact for the stream (8-bit 4:2:0, BT.601 or untagged matrix, limited range, even size: what H.264 exports and
our own writer produce). Everything else (BT.709 or full-range tags, 4:2:2/4:4:4, 10-bit, RGB, palette, alpha) goes
through libswscale via PyAV, which honours the colour tags. Against `ffmpeg -i clip -f null -` (which converts
nothing) the fast path runs at 1.05x (median; 1.2x best) of ffmpeg's own speed, an ffmpeg rawvideo rgb24 pipe read
into numpy at 0.83x (0.96x) and PyAV's swscale rgb24 at 0.33x (0.42x): benchmarks/video_io.json.

Behaviour:
* rotation metadata is applied (the frames come out as players show them);
* alpha (RGBA PNG-in-MOV, GIF transparency, ...) is composited over white, as for image sequences;
* variable-frame-rate input comes out frame by frame, every stored frame once, in presentation order (their times
  are `info.timestamps`); only with `fps` is it resampled to that constant rate, a frame for every slot of the
  grid (the latest frame whose timestamp rounds to the slot or before it);
* the count is exact: the reader yields `probe(source).frame_count` frames, and a stream that ends early raises
  VideoTruncatedError after the frames that were there (a damaged file fails loudly, it never drops frames silently).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import VideoReadError, VideoTruncatedError
from .images import _decode, composite_over_white, to_rgb
from .probe import VideoInfo, _slot, probe

__all__ = ["FrameReader", "open_reader", "read_frames"]

logger = logging.getLogger(__name__)

DECODER_THREADS = "AUTO"  # frame + slice threading in libavcodec
SEEK_MARGIN_FRAMES = 8  # seek this far before the first wanted frame (deeper than any B-pyramid's reordering)
_BT601 = {0, 2, 5, 6}  # AVCOL_SPC_RGB(never 4:2:0)/UNSPECIFIED/BT470BG/SMPTE170M: the matrix cv2's I420 path uses
_LIMITED = {0, 1}  # AVCOL_RANGE_UNSPECIFIED / MPEG (16-235)


@functools.cache
def _sws_flags():
    from av.video.reformatter import Interpolation

    return Interpolation.BILINEAR | Interpolation.FULL_CHR_H_INT


def _frame_to_rgb(frame) -> np.ndarray:
    """A decoded av.VideoFrame -> HxWx3 uint8 RGB, without applying rotation."""
    import cv2

    fmt = frame.format
    if (
        fmt.name == "yuv420p"
        and frame.colorspace in _BT601
        and frame.color_range in _LIMITED
        and frame.width % 2 == 0
        and frame.height % 2 == 0
    ):
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)  # [H*3/2, W] I420 -> [H, W, 3]
    # libswscale, with the frame's matrix (PyAV's default) and range (which PyAV would otherwise take as unspecified);
    # full horizontal chroma interpolation: without it, >8-bit input comes out up to 2 levels dark (ffmpeg CLI too)
    kwargs = {"interpolation": _sws_flags()}
    if frame.color_range in (1, 2):
        kwargs["src_color_range"] = frame.color_range
    if any(c.is_alpha for c in fmt.components):
        return composite_over_white(frame.to_ndarray(format="rgba", **kwargs))
    return frame.to_ndarray(format="rgb24", **kwargs)


def _rotate(rgb: np.ndarray, rotation: int) -> np.ndarray:
    if rotation == 0:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, rotation // 90))  # counter-clockwise, as the display matrix says


class FrameReader:
    """Iterator over the frames of a video file or image sequence; a context manager that closes the decoder.

    Use `open_reader(source)`. `len(reader)` is the number of frames it yields; `reader.info` is the probe result.
    Iterate once; a second iteration raises.
    """

    def __init__(
        self,
        source: str | os.PathLike,
        *,
        fps: Fraction | int | str | None = None,
        start: int = 0,
        stop: int | None = None,
    ):
        self.info: VideoInfo = probe(source, fps=fps)
        self.path = self.info.path
        n = self.info.frame_count
        stop = n if stop is None else stop
        if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop <= n):
            raise ValueError(
                f"frame range `start`={start!r}, `stop`={stop!r} is outside {self.path} "
                f"(frames 0..{n - 1}); pass 0 <= start <= stop <= {n}."
            )
        self.start, self.stop = start, stop
        self._container = None
        self._iter = None  # the running generator
        self._started = False
        self._closed = False

    def __len__(self) -> int:
        return self.stop - self.start

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._started:
            raise RuntimeError(f"this reader of {self.path} was already iterated; open a new one with open_reader().")
        if self._closed:
            raise RuntimeError(f"this reader of {self.path} is closed; open a new one with open_reader().")
        self._started = True
        if self.start == self.stop:
            gen = iter(())
        else:
            gen = self._sequence_frames() if self.info.kind == "sequence" else self._video_frames()
        self._iter = gen
        return gen

    def close(self) -> None:
        """Release the decoder (safe to call twice; iteration stops)."""
        self._closed = True
        if self._iter is not None:
            if hasattr(self._iter, "close"):
                self._iter.close()
            self._iter = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def __del__(self):  # pragma: no cover - depends on the garbage collector
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------------------------------------ sequences
    def _sequence_frames(self) -> Iterator[np.ndarray]:
        w, h = self.info.width, self.info.height
        for f in self.info._timing.files[self.start : self.stop]:
            img = _decode(Path(f))
            if img.shape[:2] != (h, w):
                raise VideoReadError(
                    f"{f} is {img.shape[1]}x{img.shape[0]} but the sequence {self.path} is {w}x{h} "
                    "(from its first frame); every frame must have one size. Re-export it."
                )
            yield to_rgb(img, f)

    # ------------------------------------------------------------------------------------------------ videos
    def _open_stream(self):
        import av

        try:
            self._container = av.open(self.path, metadata_errors="ignore")
        except av.FFmpegError as e:  # the file changed since probe
            raise VideoReadError(f"{self.path} can no longer be opened ({e}); was it moved or rewritten?") from None
        stream = self._container.streams.video[0]
        stream.thread_type = DECODER_THREADS
        return stream

    def _decoded(self, stream, seek_pts: int | None = None) -> Iterator:
        """av.VideoFrames in presentation order, damaged data turned into our errors."""
        import av

        if seek_pts is not None:
            self._container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
        it = self._container.decode(stream)
        k = 0
        while True:
            try:
                frame = next(it)
            except StopIteration:
                return
            except av.FFmpegError as e:
                raise VideoReadError(
                    f"{self.path}: decoding failed after {k} frames ({e}); the file is damaged. Re-export it."
                ) from None
            k += 1
            yield frame

    def _video_frames(self) -> Iterator[np.ndarray]:
        t = self.info._timing
        stream = self._open_stream()
        if t.resample:
            yield from self._resampled(stream)
        else:
            yield from self._constant_rate(stream)

    def _index_of(self, frame) -> int | None:
        t = self.info._timing
        if frame.pts is None or t.first_pts is None:
            return None
        return _slot((frame.pts - t.first_pts) * t.time_base, self.info.fps)

    def _constant_rate(self, stream) -> Iterator[np.ndarray]:
        info, t = self.info, self.info._timing
        rot = info.rotation
        frames = None
        index = 0
        if self.start > 0 and t.seekable:
            # Aim a few frames early: a keyframe's leading pictures (open GOP) then fall before `start`.
            back = max(0, self.start - SEEK_MARGIN_FRAMES)
            target = t.first_pts + math.floor(Fraction(back) / info.fps / t.time_base)
            frames = self._decoded(stream, seek_pts=target)
            first = next(frames, None)
            index = self._index_of(first) if first is not None else None
            if index is None or index > self.start:  # seek landed past the frame (no keyframe index): start over
                logger.debug(
                    "%s: seek to frame %d overshot (landed at %s); decoding from the start",
                    self.path,
                    self.start,
                    index,
                )
                self._container.close()
                stream = self._open_stream()
                frames, index = None, 0
            else:
                frames = _chain(first, frames)
        if frames is None:
            frames = self._decoded(stream)
        produced = index
        for frame in frames:
            if produced >= self.stop:
                return
            if produced >= self.start:
                yield _rotate(_frame_to_rgb(frame), rot)
            produced += 1
        if produced < self.stop:
            raise VideoTruncatedError(self.path, produced, info.frame_count)

    def _resampled(self, stream) -> Iterator[np.ndarray]:
        """Constant-rate frames from timestamps: output j shows the latest input frame whose slot is <= j."""
        info, t = self.info, self.info._timing
        rot, n = info.rotation, info.frame_count
        first_pts = None
        pending = None  # (slot, av.VideoFrame) waiting for the next frame to know how long it lasts
        out = 0  # next output index
        decoded = 0
        for frame in self._decoded(stream):
            decoded += 1
            if frame.pts is None:
                raise VideoReadError(
                    f"{self.path}: frame {decoded - 1} has no timestamp, so the variable-rate "
                    "video cannot be resampled; convert it to a constant rate first (ffmpeg "
                    "-fps_mode cfr)."
                )
            if first_pts is None:
                first_pts = frame.pts
            slot = _slot((frame.pts - first_pts) * t.time_base, info.fps)
            if pending is not None and slot > pending[0]:
                yield from self._emit(pending[1], min(slot, n), out, rot)
                out = max(out, min(slot, n))
                if out >= self.stop:
                    return
            if pending is None or slot >= pending[0]:
                pending = (max(slot, out), frame)
        if decoded < info.source_frame_count:
            raise VideoTruncatedError(self.path, decoded, info.source_frame_count)
        if pending is not None:
            yield from self._emit(pending[1], n, out, rot)

    def _emit(self, frame, until: int, out: int, rot: int) -> Iterator[np.ndarray]:
        """Yield `frame` for outputs out..until-1 that fall inside [start, stop)."""
        a, b = max(out, self.start), min(until, self.stop)
        if a >= b:
            return
        rgb = _rotate(_frame_to_rgb(frame), rot)
        yield rgb
        for _ in range(a + 1, b):
            yield rgb.copy()


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def open_reader(source: str | os.PathLike, *, fps: Fraction | int | str | None = None) -> FrameReader:
    """Open a video file (mp4, mov, mkv, webm, avi, gif, ...), an image folder, a printf pattern
    (`frames/frame_%04d.png`) or a single image for streaming: iterate it for uint8 HxWx3 RGB frames.

    `fps` sets an image sequence's rate (default 24) or resamples a video to that constant rate.
    Use as a context manager: `with open_reader(path) as reader: for frame in reader: ...`.
    """
    return FrameReader(source, fps=fps)


def read_frames(
    source: str | os.PathLike, start: int = 0, stop: int | None = None, *, fps: Fraction | int | str | None = None
) -> Iterator[np.ndarray]:
    """Frames `start`..`stop`-1 of a source, frame-exact: seeks to the keyframe before `start` when the timestamps
    are regular (decode-and-skip otherwise) and stops after `stop`-1. A generator; the decoder closes when it ends.
    """
    reader = FrameReader(source, fps=fps, start=start, stop=stop)
    with reader:
        yield from reader
