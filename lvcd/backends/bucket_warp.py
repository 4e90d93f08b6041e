"""Lineart that is not cel lineart, and what the bucket backend does with it: a dense-flow warp of the keyframe.

Lines extracted from shaded anime (XDoG, `lvcd lineart`) rarely close into paintable regions: a frame falls into a
few regions, the largest covering most of it, and the reference's colours are shaded, not flat paints per region.
Flat fills are the wrong model there. `looks_like_cel` tells the two apart from the keyframe; `WarpColorizer` then
carries the keyframe's colours along dense optical flow: a map from each frame's pixels to keyframe positions is
composed frame to frame and re-anchored on the keyframe each frame (`bucket_track`), and the keyframe is sampled
through it, so the output keeps the keyframe's shading and does not blur as a frame-to-frame warp would. No torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from ..lineart.normalize import LineartConfig, composite_lines, normalize_lineart
from ..lineart.palette import rgb_codes
from ..lineart.regions import Regions
from . import bucket_track as track

CEL_MAX_LARGEST = 0.9  # a cel's largest region (sky, paper) leaves room for anything else
CEL_MIN_FLAT = 0.75  # this share of a cel keyframe's pixels carry their region's most common colour exactly: a region
#                      spanning several paints (unclosed lines) or shading (a rendered frame) brings it down
CEL_FLAT = 0.98  # ... and a keyframe this flat is cel whatever its largest region covers (a few small characters on a
#                  plain ground): flat fills reproduce it; decoded shaded video never has exact colours this widely


def cel_report(regions: Regions, reference_rgb: np.ndarray) -> dict:
    """Facts that tell cel lineart from unclosed lines on a shaded reference."""
    inside = regions.interior
    total = max(int(inside.sum()), 1)
    used = regions.area[1:]
    used = used[used > 0]
    codes = rgb_codes(reference_rgb[..., :3])
    lab = regions.labels[inside].astype(np.int64)
    pairs, counts = np.unique(lab << 24 | codes[inside], return_counts=True)
    best = np.zeros(regions.n + 1, np.int64)
    np.maximum.at(best, pairs >> 24, counts)
    return {
        "regions": int(len(used)),
        "largest_share": float(used.max() / total) if len(used) else 1.0,
        "flat_share": float(best.sum() / total),
    }


def looks_like_cel(report: dict) -> bool:
    flat = report["flat_share"]
    return flat >= CEL_MIN_FLAT and (report["largest_share"] < CEL_MAX_LARGEST or flat >= CEL_FLAT)


def describe(report: dict) -> str:
    return (
        f"{report['regions']} regions, the largest covering {report['largest_share']:.0%} of the frame, "
        f"{report['flat_share']:.0%} of the keyframe flat-painted"
    )


class WarpColorizer:
    """Keyframe colours carried along dense flow (keyframe = the frame before the first one given, or frame 0 when
    its lines are the keyframe's)."""

    def __init__(self, flow_side: int = 512, lineart: LineartConfig | None = None, keep_lines: bool = False):
        self.flow_side = flow_side
        self.lineart = lineart or LineartConfig()
        self.keep_lines = keep_lines
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def _img(self, strength: np.ndarray, size) -> np.ndarray:
        s = cv2.resize(strength, size, interpolation=cv2.INTER_AREA)
        s = cv2.GaussianBlur(s, (0, 0), 1.5)
        return np.clip(s * 255.0 * 2.0, 0, 255).astype(np.uint8)

    def colorize(
        self, reference_rgb: np.ndarray, reference_lineart, frames: Iterable[np.ndarray]
    ) -> Iterator[np.ndarray]:
        ref = np.ascontiguousarray(reference_rgb[..., :3])
        H, W = ref.shape[:2]
        s = min(1.0, self.flow_side / max(H, W))
        size = (max(8, round(W * s)), max(8, round(H * s)))
        key_la = normalize_lineart(reference_lineart, self.lineart)
        key_img = self._img(key_la.strength, size)
        g = track.grid(size[1], size[0])
        chain, prev_img = g.copy(), key_img
        flow = lambda a, b: self._dis.calc(a, b, None)  # noqa: E731
        big = track.grid(H, W)
        for raw in frames:
            la = normalize_lineart(raw, self.lineart)
            img = self._img(la.strength, size)
            chain = track.compose(chain, flow(img, prev_img), g)
            chain = track.refine(chain, img, key_img, flow, g)
            full = cv2.resize(chain, (W, H), interpolation=cv2.INTER_LINEAR)
            full[..., 0] *= W / size[0]
            full[..., 1] *= H / size[1]
            ok = track.valid(chain)
            full[..., 0] = np.where(cv2.resize(ok.view(np.uint8), (W, H)).view(bool), full[..., 0], big[..., 0])
            full[..., 1] = np.where(cv2.resize(ok.view(np.uint8), (W, H)).view(bool), full[..., 1], big[..., 1])
            out = cv2.remap(ref, full[..., 0], full[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            if self.keep_lines:
                out = composite_lines(out, la)
            prev_img = img
            yield out
