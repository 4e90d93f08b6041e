"""Exceptions raised by `lvcd.video`.

Every message names the input and says what to do about it. Read errors subclass `ValueError` so the CLI prints them
without a traceback (see `lvcd.cli.main`); an encoder failure is a `RuntimeError` carrying ffmpeg's stderr tail.
"""

from __future__ import annotations

import os

__all__ = ["VideoReadError", "VideoTruncatedError", "VideoWriteError"]


class VideoReadError(ValueError):
    """The input exists but cannot be read as frames: not a video, no video stream, zero frames, a damaged file."""


class VideoTruncatedError(VideoReadError):
    """The file ends before the frame count its container declares (an interrupted copy, render or download)."""

    def __init__(self, path: str | os.PathLike, frames_read: int, frames_expected: int):
        self.path = str(path)
        self.frames_read = frames_read
        self.frames_expected = frames_expected
        super().__init__(
            f"{self.path} is truncated: it declares {frames_expected} frames but its data ends at frame "
            f"{frames_read} (an interrupted copy, download or export?). Re-export or re-copy the file; to salvage the "
            f"frames that are there, remux them first, e.g. "
            f"`ffmpeg -i {self.path} -c copy -frames:v {frames_read} fixed.mkv`."
        )


class VideoWriteError(RuntimeError):
    """ffmpeg failed while encoding or muxing an output (the message carries the tail of its stderr)."""
