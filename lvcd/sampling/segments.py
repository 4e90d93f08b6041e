"""Long-video segment planning for LVCD: which frames each 19-frame window sees, what it emits, how noise is recycled.

Follows the official `sample_video` (lvcd-reference.md §3.4) and extends it to any length:

* A window has `1 + overlap` reference-path frames (the reference, then `overlap` prev-reference frames) followed by
  `video_frames` video-path frames: 1 + 4 + 14 = 19 with the official values.
* Segment 0 colours frames 1..14 (frame 0 is the reference itself); each later segment starts `overlap` frames before
  the previous one ended and adds `video_frames - overlap` new frames (10).
* The official code drops a tail that does not fill a window and crashes below 15 frames. Here the sketch sequence is
  padded by holding its last frame until the last window is full, and the padded outputs are never emitted: every
  input frame comes out exactly once, in order (N = 1 needs no window: frame 0 is the reconstructed reference).
  Padding (rather than a shortened last window with a larger overlap) keeps every window exactly the layout the
  released weights were trained and tested with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SegmentConfig:
    video_frames: int = 14  # SVD img2vid generates 14 frames; LVCD's video path is that window
    overlap: int = 4  # official notebook value; also the number of prev-reference frames

    def __post_init__(self):
        if self.video_frames < 1:
            raise ValueError(f"`video_frames` must be >= 1 (got {self.video_frames}).")
        if not 0 <= self.overlap < self.video_frames:
            raise ValueError(
                f"`overlap` must be in [0, video_frames) (got {self.overlap} with video_frames={self.video_frames});"
                " try 4."
            )

    @property
    def reference_frames(self) -> int:
        """Frames of the reference path: the reference plus `overlap` prev-reference frames."""
        return 1 + self.overlap

    @property
    def window(self) -> int:
        return self.reference_frames + self.video_frames

    @property
    def stride(self) -> int:
        """New frames contributed by every segment after the first."""
        return self.video_frames - self.overlap


@dataclass(frozen=True)
class Segment:
    index: int
    start: int  # first source frame of the video path
    video: tuple[int, ...]  # source frame per video-path position (clamped to N-1 where padded)
    prev_ref: tuple[int, ...]  # source frames of the prev-reference positions (frame 0 repeated in segment 0)
    emit_start: int  # first source frame this segment emits (its outputs before that are the previous overlap)
    emit_stop: int  # one past the last real (non-padded) source frame it emits

    @property
    def hint_indices(self) -> list[int]:
        """Sketch index per window position: [reference, prev-refs..., video...] (official `get_indices`)."""
        return [0, *self.prev_ref, *self.video]

    @property
    def mode(self) -> str:
        """Reference-attention mode: plain reference attention first, prev-reference attention afterwards."""
        return "normal" if self.index == 0 else "prevref"

    @property
    def num_emitted(self) -> int:
        return max(0, self.emit_stop - self.emit_start)


def num_segments(num_frames: int, cfg: SegmentConfig = SegmentConfig()) -> int:
    """Windows needed to cover `num_frames` frames (0 for a single frame: it is the reference itself)."""
    if num_frames < 1:
        raise ValueError(f"a clip needs at least 1 frame (got {num_frames}).")
    if num_frames == 1:
        return 0
    first = 1 + cfg.video_frames  # frames covered by segment 0 (reference + video path)
    return 1 + max(0, math.ceil((num_frames - first) / cfg.stride))


def plan_segments(num_frames: int, cfg: SegmentConfig = SegmentConfig()) -> list[Segment]:
    """The window plan for a clip of `num_frames` frames, frame 0 being the coloured reference."""
    last = num_frames - 1
    segments: list[Segment] = []
    for s in range(num_segments(num_frames, cfg)):
        if s == 0:
            start = 1
            prev_ref = (0,) * cfg.overlap
            emit_start = 1
        else:
            start = segments[-1].start + cfg.video_frames - cfg.overlap
            prev_ref = tuple(min(f, last) for f in range(start, start + cfg.overlap))
            emit_start = start + cfg.overlap
        video = tuple(min(f, last) for f in range(start, start + cfg.video_frames))
        emit_stop = min(start + cfg.video_frames, num_frames)
        segments.append(Segment(s, start, video, prev_ref, emit_start, emit_stop))
    return segments


def recycle_noise(x_t: torch.Tensor, cfg: SegmentConfig = SegmentConfig()) -> torch.Tensor:
    """Next segment's unit noise from this one's (official noise recycling, lvcd-reference.md §3.4).

    [T, C, h, w] -> [T, C, h, w]: reference keeps its noise; prev-reference and overlap positions take the last
    `overlap` frames' noise; the new frames reuse the noise of video positions 0..stride-1.
    """
    r, ov = cfg.reference_frames, cfg.overlap
    tail = x_t[x_t.shape[0] - ov :]
    return torch.cat([x_t[:1], tail, tail, x_t[r : r + cfg.stride]], dim=0)


@dataclass(frozen=True)
class DecodeChunk:
    latent_indices: tuple[int, ...]  # latents fed to one temporal-decoder call (anchor first)
    keep_from: int  # outputs [keep_from:] of that call are emitted

    @property
    def emitted(self) -> tuple[int, ...]:
        return self.latent_indices[self.keep_from :]


def plan_decode_chunks(num_frames: int, chunk: int = 10, overlap: int = 3, anchor: int = 1) -> list[DecodeChunk]:
    """Official `decode_video` chunking (lvcd-reference.md §3.8): each call decodes the reference latent (the anchor)
    plus `chunk - anchor` consecutive latents; consecutive calls overlap by `overlap` frames, and each later call
    emits only its frames after the overlap. Every frame is emitted exactly once, in order.
    """
    if not 0 <= overlap < chunk - anchor:
        raise ValueError(f"decode `overlap` must be in [0, {chunk - anchor}) (got {overlap}).")
    if num_frames <= chunk:
        return [DecodeChunk(tuple(range(num_frames)), 0)]
    body = chunk - anchor
    step = body - overlap
    chunks = [DecodeChunk(tuple(range(chunk)), 0)]
    start = anchor + step
    while start + overlap <= num_frames - 1:
        idx = tuple(range(start, min(start + body, num_frames)))
        chunks.append(DecodeChunk((0, *idx), anchor + overlap))
        start += step
    return chunks
