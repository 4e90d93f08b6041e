"""Close pinholes through strokes: where the pen lifted for a few pixels, the missing piece of line.

The ball passes of `regions.py` close a gap only where a ball fits on both sides of it: a thin part (an ear rim, a
stripe, an eyelid: 1-3 px of paint between two outlines) holds no ball, so a gap in its outline joins it to whatever is
outside, and any closing wide enough for the gap also fills the part itself. A pinhole differs from such a strip by
its direction: it runs across its stroke, the strip along it. So the line mask is closed by a short line element
(`length` px) along the stroke only:

1. the closing of the mask along each of 4 directions (0, 45, 90, 135 degrees);
2. at each pixel one of them fills, the stroke's direction there from the structure tensor of the mask (the gradient
   runs across the stroke; its Gaussian-weighted sums around the pixel, at those pixels only);
3. the pixel is a pinhole when the closing along the stroke fills it.

`regions.segment_regions` keeps the pinholes that split a region and drops those that would take much of one (a
pupil). No torch.
"""

from __future__ import annotations

import cv2
import numpy as np


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A 1-px line through the centre of a `length`-px square kernel at `angle_deg` (image axes, y down), `length` - 1
    px long end to end (Euclidean, rounded to pixels: 5 px across, 3 px along a diagonal): a longer diagonal reaches
    across the corner of a thin strip and cuts it."""
    k = np.zeros((length, length), np.uint8)
    c = (length - 1) / 2
    a = np.deg2rad(angle_deg)
    dx, dy = np.cos(a) * c, np.sin(a) * c
    cv2.line(k, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1, 1, cv2.LINE_8)
    return k


def _gauss_offsets(sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dy, dx, weight) of a Gaussian window of `sigma` px cut at 2 sigma, for sums at a few pixels."""
    r = int(np.ceil(2 * sigma))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    wgt = np.exp(-(dx**2 + dy**2) / (2.0 * sigma**2)).astype(np.float32)
    return dy.ravel(), dx.ravel(), wgt.ravel()


def stroke_holes(mask: np.ndarray, length: int = 5, sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(ys, xs) int64 [N] each: the background pixels inside a stroke's band where the pen lifted for up to
    `length` - 1 px, closed by a line element along the stroke (its tangent, from the structure tensor of the mask),
    never across it: the paint strip between two parallel strokes (an ear rim) stays open while a hole through its
    outline closes. Pixels, not a mask: there are few (~1e3 on a 1080p frame)."""
    m = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    none = np.zeros(0, np.int64), np.zeros(0, np.int64)
    # the closing along each of 4 directions (0, 45, 90, 135 deg; 45 runs down-right, y down): [4, H, W]
    closed = [cv2.morphologyEx(m, cv2.MORPH_CLOSE, _line_kernel(length, 45.0 * b)) for b in range(4)]
    filled = cv2.bitwise_or(cv2.bitwise_or(closed[0], closed[1]), cv2.bitwise_or(closed[2], closed[3]))
    pts = cv2.findNonZero(cv2.compare(filled, m, cv2.CMP_GT))  # filled by some direction, not line already
    if pts is None:
        return none
    xs, ys = pts.reshape(-1, 2).T.astype(np.int64)
    # structure tensor at those pixels only: its angle 2 phi (phi: the gradient's direction, across the stroke) from
    # (Jxx - Jyy, 2 Jxy), Gaussian-weighted sums of the Sobel gradients' products around each pixel
    f = m.astype(np.float32)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    dy, dx, wgt = _gauss_offsets(sigma)
    h, w = m.shape
    yy, xx = np.clip(ys[:, None] + dy, 0, h - 1), np.clip(xs[:, None] + dx, 0, w - 1)  # [N, K] window pixels
    wx, wy = gx[yy, xx], gy[yy, xx]  # [N, K]: the products are needed in these windows only
    a = (wx * wx - wy * wy) @ wgt  # [N]
    b = (2.0 * wx * wy) @ wgt
    # the tangent's bin: |2 phi| <= 45 deg -> gradient along x, the stroke runs along y (90 deg); 2 phi near 180 ->
    # along x (0); 2 phi near -90 -> down-right (45); near +90 -> up-right (135)
    tangent = np.where(np.abs(a) >= np.abs(b), np.where(a > 0, 2, 0), np.where(b > 0, 3, 1))
    keep = np.zeros(len(ys), bool)
    for k in range(4):
        sel = tangent == k
        keep[sel] = closed[k][ys[sel], xs[sel]] > 0
    return ys[keep], xs[keep]
