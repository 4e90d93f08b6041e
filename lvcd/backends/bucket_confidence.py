"""What the paint-bucket colorizer knows about its own mistakes: per-frame confidence and a paint-share check.

* Low-confidence share: per frame, the share of regions whose colour was decided with confidence below a threshold
  (confidence = the share of the region's pixels that well-aligned keyframe votes bring with the chosen paint, or a
  decayed copy of the previous frame's confidence when only the previous frame explains it; graph guesses are low).
  Frames above `frame_share` are named "to check": an animator fixes those by hand.
* Paint-share check: the keyframe's per-paint area shares against each output frame's (total variation distance).
  A flat fill cannot leave the keyframe's palette, so a palette-distance check (lvcd.eval.drift) always passes; this
  one fails when, say, the ground colour swallows the characters or one paint covers a near-blank result.

The sidecar takes `summary()`; the CLI prints `format_line()`. No torch.
"""

from __future__ import annotations

import numpy as np

FRAME_SHARE = 0.10  # a frame with more low-confidence regions than this is "to check"
PAINT_DISTANCE = 0.35  # total variation distance of paint area shares from the keyframe's that fails the check


def area_shares(frame, k: int) -> np.ndarray:
    """float [k]: share of the frame's interior pixels per paint."""
    v = frame.votes_map.ravel()
    c = np.bincount(v[v < k], minlength=k).astype(np.float64)
    return c / max(c.sum(), 1.0)


class ConfidenceLog:
    """Per-frame confidence of one shot, constant memory per frame (a few numbers)."""

    def __init__(self, low: float, key_shares: np.ndarray, frame_share: float = FRAME_SHARE,
                 paint_distance: float = PAINT_DISTANCE):
        self.low, self.key_shares = low, key_shares
        self.frame_share, self.paint_distance = frame_share, paint_distance
        self.frames: list[int] = []
        self.low_share: list[float] = []
        self.paint_tv: list[float] = []

    def add(self, index: int, regions, conf: np.ndarray, color: np.ndarray, k: int) -> None:
        used = regions.area > 0
        used[0] = False
        n = max(int(used.sum()), 1)
        self.frames.append(index)
        self.low_share.append(float(np.count_nonzero(conf[used] < self.low)) / n)
        shares = np.bincount(color[used], weights=regions.area[used], minlength=k)[:k]
        shares = shares / max(shares.sum(), 1.0)
        self.paint_tv.append(float(0.5 * np.abs(shares - self.key_shares[:k]).sum()))

    def to_check(self) -> list[int]:
        return [f for f, s, d in zip(self.frames, self.low_share, self.paint_tv)
                if s > self.frame_share or d > self.paint_distance]

    def summary(self) -> dict:
        bad_paint = [f for f, d in zip(self.frames, self.paint_tv) if d > self.paint_distance]
        return {
            "frames": len(self.frames),
            "low_confidence_threshold": self.low,
            "frame_share_to_check": self.frame_share,
            "mean_low_confidence_share": round(float(np.mean(self.low_share)), 4) if self.frames else 0.0,
            "low_confidence_share": [round(s, 4) for s in self.low_share],
            "paint_share_distance": [round(d, 4) for d in self.paint_tv],
            "paint_share_limit": self.paint_distance,
            "paint_check_failed": bad_paint,
            "frames_to_check": self.to_check(),
        }


def format_line(summary: dict, offset: int = 0) -> str:
    """One line for the log, like the drift monitor's: which frames an animator should look at."""
    frames = [f + offset for f in summary.get("frames_to_check", [])]
    n = summary.get("frames", 0)
    mean = summary.get("mean_low_confidence_share", 0.0)
    if not frames:
        return f"bucket confidence: all {n} frames confident ({mean:.0%} of regions uncertain on average)"
    shown = ", ".join(str(f) for f in frames[:20]) + (f" and {len(frames) - 20} more" if len(frames) > 20 else "")
    failed = summary.get("paint_check_failed", [])
    extra = f"; paint areas far from the keyframe's on {len(failed)}" if failed else ""
    return (f"bucket confidence: {len(frames)} of {n} frames to check ({mean:.0%} of regions uncertain on average"
            f"{extra}): frames {shown}")
