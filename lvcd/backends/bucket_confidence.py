"""What the paint-bucket colorizer knows about its own mistakes: per-frame confidence and a paint-share check.

* Low-confidence share: per frame, the share of regions whose colour was decided with confidence below a threshold
  (confidence = the share of the region's pixels that well-aligned keyframe votes bring with the chosen paint, or a
  decayed copy of the previous frame's confidence when only the previous frame explains it; graph guesses are low).
  Frames above `frame_share` are named "to check": an animator fixes those by hand.
* Paint-share check: the keyframe's per-paint area shares against each output frame's (total variation distance).
  A flat fill cannot leave the keyframe's palette, so a palette-distance check (lvcd.eval.drift) always passes; this
  one fails when, say, the ground colour swallows the characters or one paint covers a near-blank result. The
  keyframe's shares are those of its own pixels (`reference_shares`): pixels of no paint (a shaded frame coloured
  flat anyway, `--bucket-mode flat` on extracted lines) count as distance too, so a flat fill of a shaded keyframe
  fails. A frame that one paint covers (>= `SINGLE_PAINT`) while no paint covers that much of the keyframe fails too.
  With several keyframes used together, a frame fails only when it is far from every one of them.

The sidecar takes `summary()`; the CLI prints `format_line()`; a shot rendered in passes (batch) merges the passes'
summaries on global frame numbers (`merge_summaries`). No torch.
"""

from __future__ import annotations

import numpy as np

from ..lineart.palette import rgb_codes

FRAME_SHARE = 0.10  # a frame with more low-confidence regions than this is "to check"
PAINT_DISTANCE = 0.35  # total variation distance of paint area shares from the keyframe's that fails the check
SINGLE_PAINT = 0.95  # one paint covering this share of a frame (but not of the keyframe): a near-blank result


def reference_shares(reference_rgb: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """float [k]: share of the keyframe's pixels (lines included: they are few) that carry each palette paint
    exactly; the rest (shading, texture, ink) is the mass a flat fill cannot reproduce."""
    rgb = np.ascontiguousarray(reference_rgb[..., :3])
    codes = rgb_codes(rgb).ravel()
    pal = rgb_codes(np.ascontiguousarray(palette.reshape(1, -1, 3))).ravel()
    order = np.argsort(pal)
    pos = np.clip(np.searchsorted(pal[order], codes), 0, len(pal) - 1)
    hit = pal[order][pos] == codes
    c = np.bincount(order[pos[hit]], minlength=len(pal)).astype(np.float64)
    ink = np.count_nonzero((rgb.max(-1).ravel() < 64) & ~hit)  # near-black ink is no paint, and no shading either
    return c / max(len(codes) - ink, 1)


def area_shares(frame, k: int) -> np.ndarray:
    """float [k]: share of the frame's interior pixels per paint."""
    v = frame.votes_map.ravel()
    c = np.bincount(v[v < k], minlength=k).astype(np.float64)
    return c / max(c.sum(), 1.0)


def _distance(shares: np.ndarray, key: np.ndarray) -> float:
    """Total variation distance of a frame's paint shares from a keyframe's (its pixels of no paint count as
    distance: a fill never has them); 1 when one paint covers the frame but not the keyframe (near-blank)."""
    other = max(0.0, 1.0 - float(key.sum()))
    tv = 0.5 * (float(np.abs(shares - key).sum()) + other)
    if shares.max(initial=0.0) >= SINGLE_PAINT and key.max(initial=0.0) < SINGLE_PAINT:
        tv = max(tv, 1.0)
    return tv


class ConfidenceLog:
    """Per-frame confidence of one shot, constant memory per frame (a few numbers)."""

    def __init__(
        self,
        low: float,
        key_shares: np.ndarray,
        frame_share: float = FRAME_SHARE,
        paint_distance: float = PAINT_DISTANCE,
    ):
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
        self.paint_tv.append(min(_distance(shares, key[:k]) for key in self._keys()))

    def _keys(self) -> list[np.ndarray]:
        """`key_shares` is one array, or [(keyframe index, shares), ...] for several keyframes used together."""
        if isinstance(self.key_shares, np.ndarray):
            return [self.key_shares]
        return [shares for _, shares in self.key_shares]

    def to_check(self) -> list[int]:
        return [
            f
            for f, s, d in zip(self.frames, self.low_share, self.paint_tv)
            if s > self.frame_share or d > self.paint_distance
        ]

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
    return (
        f"bucket confidence: {len(frames)} of {n} frames to check ({mean:.0%} of regions uncertain on average"
        f"{extra}): frames {shown}"
    )


def merge_summaries(parts) -> dict:
    """One summary from the passes of a shot: `parts` = [(global frame per pass output (None = dropped), summary)].
    Frames are the global frame numbers, each once (a frame two passes output keeps the first)."""
    rows: dict[int, tuple[float, float]] = {}
    low = frame_share = limit = None
    for outputs, s in parts:
        low, frame_share, limit = s["low_confidence_threshold"], s["frame_share_to_check"], s["paint_share_limit"]
        for j, (share, tv) in enumerate(zip(s["low_confidence_share"], s["paint_share_distance"])):
            g = outputs[j] if j < len(outputs) else None
            if g is not None:
                rows.setdefault(int(g), (share, tv))
    log = ConfidenceLog(
        low if low is not None else 0.5, np.zeros(0), frame_share or FRAME_SHARE, limit or PAINT_DISTANCE
    )
    for g in sorted(rows):
        log.frames.append(g)
        log.low_share.append(rows[g][0])
        log.paint_tv.append(rows[g][1])
    return log.summary()
