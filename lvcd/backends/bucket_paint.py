"""Output of the paint-bucket colorizer (`lvcd.backends.bucket`): a decided frame's regions painted flat, colour-trace
lines given the side the keyframe taught, the original lines on top when asked. No torch."""

from __future__ import annotations

import cv2
import numpy as np

from ..lineart.normalize import Lineart, composite_lines
from ..lineart.palette import rgb_codes
from ..lineart.regions import Regions
from .bucket_lookahead import Held

__all__ = ["PaintMixin"]


class PaintMixin:
    """Needs `config`, `palette` (uint8 [K, 3]), `_rank` (luminance rank per paint), `_trace_rule` (ink code ->
    whether colour-trace lines of that ink take the darker side) and `confidence` (a `ConfidenceLog`)."""

    def _emit(self, held: Held) -> np.ndarray:
        """Paint a decided (and maybe revised) frame; log its confidence."""
        cfg, la, regions, color = self.config, held.payload, held.regions, held.color
        out = self._paint(regions, color)
        if not cfg.keep_colored_lines:
            self._paint_trace_lines(out, la, regions, color)
        if cfg.keep_lines:
            out = composite_lines(out, la, keep_colored=cfg.keep_colored_lines)
        self.confidence.add(held.index, regions, held.conf, color, len(self.palette))
        return out

    def _paint(self, regions: Regions, color: np.ndarray) -> np.ndarray:
        """[H, W, 3] uint8 flat colours: one gather of packed RGBA words instead of three channel gathers."""
        rgb = self.palette[color]  # [n + 1, 3]
        packed = np.zeros((len(rgb), 4), np.uint8)
        packed[:, :3] = rgb
        words = np.take(packed.view(np.uint32).ravel(), regions.labels)  # [H, W] uint32
        return cv2.cvtColor(words.view(np.uint8).reshape(*regions.shape, 4), cv2.COLOR_RGBA2RGB)

    def _trace_sides(self, regions: Regions, color: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Paints of the darkest and lightest region touching each `where` pixel (3x3): [m, 3] uint8 each."""
        rank = self._rank[color].astype(np.uint16)  # [n + 1] luminance rank of each region's paint
        rank[0], k = 65535, np.ones((3, 3), np.uint8)  # `inner` is 0 on line pixels: no paint there
        lo = cv2.erode(np.take(rank, regions.inner), k)[where]
        rank[0] = 0
        hi = cv2.dilate(np.take(rank, regions.inner), k)[where]
        by_rank = np.argsort(self._rank)  # rank -> palette index
        lo = np.where(lo == 65535, hi, lo)  # no paint nearby on one side: use the other
        return self.palette[by_rank[np.minimum(lo, len(by_rank) - 1)]], self.palette[by_rank[hi]]

    def _paint_trace_lines(self, out: np.ndarray, la: Lineart, regions: Regions, color: np.ndarray) -> None:
        """Paint colour-trace line pixels with the side the keyframe taught (in place)."""
        if la.colored is None:
            return
        dark, light = self._trace_sides(regions, color, la.colored)
        default = sum(self._trace_rule.values()) * 2 >= len(self._trace_rule)  # unseen inks: majority rule
        ink = rgb_codes(la.ink[la.colored])
        use_dark = np.array([self._trace_rule.get(int(c), default) for c in np.unique(ink)])
        use_dark = use_dark[np.searchsorted(np.unique(ink), ink)]
        out[la.colored] = np.where(use_dark[:, None], dark, light)
