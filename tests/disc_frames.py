"""Hand-built frames of outlined discs for the paint-bucket matcher's unit tests (tests/backends): small enough to
reason about region by region."""

from __future__ import annotations

import cv2
import numpy as np

SIZE = (96, 160)  # (h, w)
ROW = 48  # the discs' centre row


def disc_frame(discs, size=SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(lineart uint8 [h, w], colours uint8 [h, w, 3]) of discs (x, radius, rgb) at row `ROW`, filled with their colour
    and outlined 2 px black, on a light grey ground; all fills are drawn before any outline."""
    h, w = size
    line = np.full((h, w), 255, np.uint8)
    rgb = np.full((h, w, 3), 230, np.uint8)
    for x, r, colour in discs:
        cv2.circle(rgb, (x, ROW), r, colour, -1)
    for x, r, _ in discs:
        cv2.circle(line, (x, ROW), r, 0, 2)
    return line, rgb
