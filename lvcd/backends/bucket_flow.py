"""Dense flow and keyframe position maps of the paint-bucket matcher (`lvcd.backends.bucket`).

Flow runs on distance-to-line images at a reduced size (`flow_side`): raw lineart is blank between strokes, where DIS
has nothing to match. Every keyframe already passed has a position map (`_Key.chain`, `bucket_track`), composed with
the flow into the previous frame each frame, then re-anchored on the keyframe's lines; keyframes not reached yet are
matched by a direct flow (`_full_flow`). No torch.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..lineart.normalize import Lineart
from . import bucket_track as track
from .bucket_match import _Frame, _Key

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}

__all__ = ["DIS_PRESETS", "FlowMixin"]


class FlowMixin:
    """Needs `config`, `_shape`, `_g`, `_dis`, `_to_prev`."""

    def _identity(self) -> np.ndarray:
        if self._g is None:
            w, h = self._flow_size()
            self._g = track.grid(h, w)
        return self._g

    def _advance_chains(self, keys: list[_Key], cur_img: np.ndarray, prev: _Frame | None, i: int) -> None:
        """Carry every passed keyframe's position map into this frame (compose with the flow to the previous frame,
        then re-anchor on the keyframe's lines). Positions, never colours, are chained."""
        g = self._identity()
        self._to_prev = None  # the flow into the previous frame at flow size, computed once per frame
        for k in keys:
            if k.chain is None or k.index >= i:
                continue
            if prev is not None:
                to_prev = self._prev_flow(cur_img, prev)
                k.chain = track.compose(k.chain, to_prev, g)
                if k.seeded is not None:
                    k.seeded = track.carry(k.seeded, to_prev, g)
            k.chain = track.refine(k.chain, cur_img, k.frame.flow_img, self._flow, g)

    def _flow_size(self) -> tuple[int, int]:
        h, w = self._shape
        s = min(1.0, self.config.flow_side / max(h, w))
        return max(8, round(w * s)), max(8, round(h * s))

    def _flow_lines(self, la: Lineart) -> np.ndarray:
        """bool [h, w]: the lines at flow resolution (a 1-px line keeps >= 1/scale^2 of its ink when shrunk)."""
        size = self._flow_size()
        s = la.strength
        if size == (s.shape[1], s.shape[0]):
            return la.mask
        s = cv2.resize(s, size, interpolation=cv2.INTER_AREA)
        scale = la.shape[1] / size[0]
        return s >= min(0.5, 0.5 / scale**2)

    def _flow_image(self, la: Lineart) -> np.ndarray:
        """Lines -> a distance-to-line image at flow resolution. Raw lineart is blank between strokes, where DIS has
        nothing to match; the distance transform gives every pixel a gradient pointing at its nearest lines, which
        lifts the share of keyframe regions whose flow votes are right on the bundled sample from ~0.6 to ~0.87."""
        return self._distance_image(self._flow_lines(la))

    def _distance_image(self, lines: np.ndarray) -> np.ndarray:
        d = cv2.distanceTransform((~lines).astype(np.uint8), cv2.DIST_L2, 3)
        return np.clip(255.0 - np.minimum(d, 1e4) * self.config.flow_slope, 0, 255).astype(np.uint8)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.config.flow_preset])
        return self._dis.calc(a, b, None)

    def _prev_flow(self, cur_img: np.ndarray, prev: _Frame) -> np.ndarray:
        if self._to_prev is None or self._to_prev[0] is not prev:
            self._to_prev = (prev, self._flow(cur_img, prev.flow_img))
        return self._to_prev[1]

    def _full_flow(self, cur_img: np.ndarray, src: _Frame, prev: bool = False) -> np.ndarray:
        """Flow from the current frame into `src` at full resolution, in px: cur(x) ~ src(x + flow(x)); `prev`:
        `src` is the previous frame, whose flow the position maps already computed."""
        fwd = self._prev_flow(cur_img, src) if prev else self._flow(cur_img, src.flow_img)
        h, w = cur_img.shape
        H, W = self._shape
        if (w, h) == (W, H):
            return fwd
        flow = cv2.resize(fwd, (W, H), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= W / w
        flow[..., 1] *= H / h
        return flow
