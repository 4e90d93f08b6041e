"""Look-ahead revision for the paint-bucket colorizer (`lvcd.backends.bucket`): a colour that no keyframe backed
waits a few frames for one that a keyframe does.

The matcher decides each frame from the keyframes and the previous frame only. A region that no keyframe explains
(a character half hidden behind another, a part the chained map lost, a region revealed a frame ago) takes the
previous frame's colour or a guess from the region graph, and a few frames later, once its character is found again,
the keyframe (or the character's object) backs its colour for sure. Here frames are held back `frames` frames before
they are painted: when a frame is decided, each of its regions whose colour a keyframe backs (`strong`) is followed
back through the held frames, region to the region it continues (the one holding most of its pixels along the
previous-frame flow, the overlap covering `mutual` of both), and a region there whose own colour no keyframe backed
(`weak`) takes that colour. The nearest later evidence wins. Followed regions that a keyframe backed with another
colour stop the walk.

Only the output changes: the matcher's next frame still sees the previous frame as it was decided, so nothing here
feeds back into the matching. Memory: `frames` frames' regions and colours (constant in the shot length); latency:
`frames` frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..lineart.regions import Regions, rank_pairs

__all__ = ["Held", "Lookahead"]

PAIR_TABLE = 1 << 22  # (current x previous) region pairs up to which they are counted in a dense table (32 MB)


@dataclass
class Held:
    """One decided frame waiting to be painted."""

    index: int
    payload: object  # what the caller needs to paint it (its lineart)
    regions: Regions
    color: np.ndarray  # int32 [n + 1] palette index per region, revised in place
    conf: np.ndarray  # float32 [n + 1] confidence per region, revised in place
    backed: np.ndarray  # float32 [n + 1] how surely the keyframes (or their objects) back each region's colour
    decided: np.ndarray = field(init=False)  # the colour as the matcher decided it
    succ: np.ndarray | None = None  # int [n + 1] the region continuing each region in the next frame, -1 none
    steps: np.ndarray = field(init=False)  # frames to the evidence that revised each region (inf: none yet)

    def __post_init__(self):
        self.decided = self.color.copy()
        self.steps = np.full(len(self.color), np.inf)


class Lookahead:
    """Holds decided frames back `frames` frames and revises their weakly backed colours from later frames."""

    def __init__(self, frames: int, strong: float = 0.8, weak: float = 0.7, mutual: float = 0.2, decay: float = 0.9):
        """`strong`: keyframe backing a colour needs to be handed back; `weak`: backing under which a held colour
        is revised (0.7, not 0.5: a part the chained map took onto the keyframe's sky is backed 0.6-0.7 by it; 0.5
        -> 0.7 gained 0.0004 / 0.0005 on seeds 1,3,4 / 5,6,7, no clip down); `mutual`: share of both regions the
        overlap must cover for one region (the one holding most of the other's pixels) to continue the other (0.2,
        not 0.6: a region links to the one holding most of its pixels even when one of them lost or gained much;
        0.6 / 0.5 / 0.4 / 0.3 / 0.2 / 0.1 / 0.0 gave 0.9569 / 0.9579 / 0.9585 / 0.9589 / 0.9594 / 0.9595 / 0.9577
        on seeds 1,3,4 and 0.9542 / 0.9553 / 0.9565 / 0.9576 / 0.9586 / 0.9593 / 0.9567 on 5,6,7: 0.2 keeps clear
        of the drop at 0, where any overlap links); `decay`: confidence kept per frame of distance from the
        evidence."""
        if frames < 0:
            raise ValueError(f"lookahead must be >= 0 frames, got {frames}")
        self.frames, self.strong, self.weak, self.mutual, self.decay = frames, strong, weak, mutual, decay
        self._held: deque[Held] = deque()

    def push(self, frame: Held, pulled: np.ndarray | None) -> list[Held]:
        """Add the next decided frame; the frames now ready to paint, oldest first. `pulled`: int [H, W] the
        previous frame's region under each pixel of this one (0: none; None: no previous frame or no flow)."""
        if self._held and pulled is not None:
            self._held[-1].succ = self._successors(self._held[-1].regions, frame.regions, pulled)
        self._revise_back(frame)
        self._held.append(frame)
        out = []
        while len(self._held) > self.frames:
            out.append(self._held.popleft())
        return out

    def flush(self) -> list[Held]:
        """The frames still held (the end of the shot), oldest first."""
        out = list(self._held)
        self._held.clear()
        return out

    def _successors(self, prev: Regions, cur: Regions, pulled: np.ndarray) -> np.ndarray:
        """int [prev.n + 1]: for each previous region, the current region holding most of the pixels that come
        from it, when that overlap covers `mutual` of both; -1 otherwise."""
        pn = prev.n + 1
        pairs = cur.inner.astype(np.int64).ravel() * pn + pulled.ravel()  # [H * W] (current, previous) region pair
        if (cur.n + 1) * pn <= PAIR_TABLE:  # a dense table: one bincount
            table = np.bincount(pairs, minlength=(cur.n + 1) * pn).reshape(cur.n + 1, pn)  # [cur n + 1, prev n + 1]
            table[0], table[:, 0] = 0, 0  # line pixels, pixels from nowhere
            s = table.argmax(axis=0)
            r = np.arange(pn)
            cnt = table[s, r]
        else:  # many regions: the pairs that occur
            m = (cur.inner.ravel() > 0) & (pulled.ravel() > 0)
            u, cnt = np.unique(pairs[m], return_counts=True)
            s, r = u // pn, u % pn
            order, first = rank_pairs(r, s, cnt)  # per previous region, its largest overlap
            s, r, cnt = s[order[first]], r[order[first]], cnt[order[first]]
        ok = (cnt > 0) & (cnt >= self.mutual * prev.area[r]) & (cnt >= self.mutual * cur.area[s])
        succ = np.full(pn, -1, np.int64)
        succ[r[ok]] = s[ok]
        return succ

    def _revise_back(self, frame: Held) -> None:
        strong = frame.backed >= self.strong
        strong[0] = False
        carry = np.where(strong, frame.color, -1)  # [n + 1] colour each region hands back, -1 none
        sure = np.where(strong, frame.backed, 0.0)
        for step, h in enumerate(reversed(self._held), 1):
            if h.succ is None or not (carry >= 0).any():
                return
            s = np.maximum(h.succ, 0)
            c = np.where(h.succ >= 0, carry[s], -1)  # [n + 1] the colour reaching each held region
            has = c >= 0
            weak = has & (h.backed < self.weak)
            take = weak & (step < h.steps)  # the nearest later evidence wins
            h.color[take] = c[take]
            h.conf[take] = np.maximum(h.conf[take], sure[s][take] * self.decay**step)
            h.steps[take] = step
            go_on = weak | (has & (h.decided == c))  # the walk stops at regions backed with another colour
            carry = np.where(go_on, c, -1)
            sure = np.where(go_on, sure[s], 0.0)
