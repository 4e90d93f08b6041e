"""Synthetic cel-style clips for the lvcd.eval tests: flat colours, black outlines, white background, motion."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

CIRCLE_RGB = (200, 80, 80)
RECT_RGB = (60, 160, 60)


def draw_frame(t: int, h: int = 96, w: int = 128, *, line_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(colour uint8 HxWx3, lineart uint8 HxW black-on-white) of frame t; the circle moves 2 px per frame.

    `line_offset` moves only the outlines (not the fills) by that many pixels to the right.
    """
    s = h / 96
    cx, cy, r = int((40 + 2 * t) * s), int(48 * s), int(22 * s)
    x0, y0, x1, y1 = int(78 * s), int(20 * s), int(118 * s), int(76 * s)
    lw = max(1, round(2 * s))
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.rectangle(img, (x0, y0), (x1, y1), RECT_RGB, -1)
    cv2.circle(img, (cx, cy), r, CIRCLE_RGB, -1)
    lines = np.full((h, w), 255, np.uint8)
    for canvas, colour in ((img, (0, 0, 0)), (lines, 0)):
        cv2.rectangle(canvas, (x0 + line_offset, y0), (x1 + line_offset, y1), colour, lw)
        cv2.circle(canvas, (cx + line_offset, cy), r, colour, lw)
    return img, lines


@pytest.fixture
def clip():
    """8 frames of 96x128: (colour frames, lineart frames)."""
    frames = [draw_frame(t) for t in range(8)]
    return [f for f, _ in frames], [la for _, la in frames]


@pytest.fixture
def make_frame():
    """`draw_frame(t, h, w, *, line_offset)` for tests that need other sizes or displaced lines."""
    return draw_frame
