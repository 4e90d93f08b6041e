"""Catch a colour clip given where lineart belongs (`lvcd colorize colour.mp4 ...`), before any rendering.

Lineart is paper and ink: almost every pixel is either the paper tone or a line, and lines cover a small part of
the frame. A coloured (or shaded) frame has large areas of saturated colour or of mid tones. `colour_stats(frame)`
measures both on a downsampled copy; `looks_like_colour` says yes when more than `COLOURED_AREA` of the frame is
saturated colour, more than `MIDTONE_AREA` is neither paper nor ink (a shaded or photographic image), or the two
together exceed `COMBINED_AREA` (a coloured character on white paper). Measured on real material: lineart frames
0.1-4.5% combined; coloured keyframes and clips 19-63%. Coloured construction lines (blue pencil, red shadow lines)
cover a few percent of a frame and pass. Transparent
lineart (alpha) is composited over white by the readers, so it passes too. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "COLOURED_AREA",
    "COMBINED_AREA",
    "MIDTONE_AREA",
    "ColourStats",
    "check_lineart_input",
    "colour_stats",
    "looks_like_colour",
]

COLOURED_AREA = 0.10  # fraction of pixels with chroma (max - min channel) over CHROMA_MIN
MIDTONE_AREA = 0.30  # fraction of pixels whose luma is far from both paper and ink
COMBINED_AREA = 0.15  # the two together
CHROMA_MIN = 48  # 8-bit levels; antialiased black or grey lines stay well below
SAMPLE_WIDTH = 256  # frames are measured at this width (area-averaged: thin lines fade, fills do not)


@dataclass(frozen=True)
class ColourStats:
    coloured: float  # fraction of the frame in saturated colour
    midtone: float  # fraction neither near the paper tone nor near the ink tone


def colour_stats(frame: np.ndarray) -> ColourStats:
    """Colour and mid-tone area of one uint8 HxWx3 RGB frame."""
    import cv2

    h, w = frame.shape[:2]
    if w > SAMPLE_WIDTH:
        frame = cv2.resize(frame, (SAMPLE_WIDTH, max(1, round(h * SAMPLE_WIDTH / w))), interpolation=cv2.INTER_AREA)
    rgb = frame.astype(np.int16)
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.int16)
    paper = int(np.median(gray))  # most of a lineart frame is paper (white, or black for white-on-black)
    ink = 255 - paper if abs(paper - 128) > 32 else 0
    far = (np.abs(gray - paper) > 48) & (np.abs(gray - ink) > 80)
    return ColourStats(float((chroma > CHROMA_MIN).mean()), float(far.mean()))


def looks_like_colour(frame: np.ndarray) -> tuple[bool, ColourStats]:
    """(is this a colour / shaded frame rather than lineart?, the measurements)."""
    s = colour_stats(frame)
    return s.coloured > COLOURED_AREA or s.midtone > MIDTONE_AREA or s.coloured + s.midtone > COMBINED_AREA, s


def check_lineart_input(source, frames, what: str = "input") -> None:
    """Raise ValueError when the first frames of `source` (an iterable of a few RGB frames) look like colour: the
    message suggests `lvcd lineart`. The caller skips this when the user stated the polarity explicitly."""
    seen = []
    for frame in frames:
        bad, s = looks_like_colour(frame)
        seen.append(s)
        if not bad:
            return
    if seen:
        s = seen[0]
        raise ValueError(
            f"{what} {source} looks like a colour video, not lineart ({s.coloured:.0%} of its first frame is "
            f"coloured, {s.midtone:.0%} mid tones; lineart is paper and lines). Make lineart from it first: "
            f"`lvcd lineart {source} -o lineart.mp4`, then colorize that. If it really is lineart, pass its "
            "--polarity (e.g. --polarity black-on-white) to skip this check."
        )
