"""Votes of the paint-bucket matcher's object tracker (`bucket_objects`): the paints a fitted object lays on the
current regions.

A part region takes, from the object in view whose transform lays its outline best onto that object's keyframe lines
(share of outline samples on them, at least `ALIGN`), that object's keyframe paints under the transform, weighted by
`objects_weight` x alignment^2 (a farther keyframe's object less). A region only partly inside a footprint (a head a
pole hid in half at the keyframe, whole now) takes them when its outline there lands on the object's lines
(`PARTIAL`, `PARTIAL_ALIGN`), from the parts the object's whole motion places only (`PARTIAL_COVER`); its pixels are
then the object's (`bucket_veto`). An object coasting behind one in view votes for its first `HIDDEN_FRAMES`
frames (`_hidden_votes`) under the transform its visible lines give. Split from bucket_objects.py to keep files
small. No torch.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..lineart.regions import Regions
from . import bucket_track as track
from .bucket_match import NO_VOTE, _Key
from .bucket_pose import ALIGN, _apply

PARTIAL = 0.4  # outline share inside an object's keyframe footprint from which a region is partly its: a head that
#               a pole hid in half at the keyframe comes out whole, half its outline where the pole was
PARTIAL_ALIGN = 0.8  # ... when this share of those outline samples lands on the object's lines (stricter than ALIGN)
HIDDEN_FRAMES = 2  # frames a coasting object votes from its visible lines: later its pose is a guess (a hop)
HIDDEN_WEIGHT = 0.7  # alignment factor of a coasting object's votes (its transform is a guess)
PARTIAL_COVER = 0.4  # ... and its pixels land on that many of the object's placed parts: a sky region beside a roof
#                     that joined a character's object covered 30-39% of where the roof would be


class ObjectVotesMixin:
    """Needs `config`, `palette`, `_shape`, `_objs`, `_owned` (ObjectsMixin), `_count_votes` (MatchMixin),
    `_placed_parts` (LimbsMixin)."""

    def _region_alignment(self, regions: Regions, samples):
        """(float [n + 1] best share of each region's outline that a live object's transform lays on that object's
        own keyframe lines, int [n + 1] which object, -1 none, partial): `partial` is the same pair over the outline
        samples inside the object's footprint, for regions with `PARTIAL` of them there (for `_votes`)."""
        lab, xs, ys, _ = samples
        n = regions.n
        cnt = np.maximum(np.bincount(lab, minlength=n + 1), 1)
        best = np.zeros(n + 1)
        who = np.full(n + 1, -1)
        part = np.zeros(n + 1)  # the same over the outline samples inside the footprint, for regions partly in it
        part_who = np.full(n + 1, -1)
        p = np.stack([xs, ys], 1).astype(np.float64)
        for j, o in enumerate(self._objs):
            if not o.live or o.miss:  # lost, or coasting behind another: it explains nothing it does not see
                continue
            hit, inf = _landing(o, o.A, p)
            a = np.bincount(lab, weights=hit, minlength=n + 1) / cnt
            cin = np.bincount(lab, weights=inf, minlength=n + 1)
            a[cin / cnt < 0.8] = 0.0
            better = a > best
            best[better], who[better] = a[better], j
            pa = np.bincount(lab, weights=hit & inf, minlength=n + 1) / np.maximum(cin, 1)
            pa[(cin / cnt < PARTIAL) | (cin < 8)] = 0.0
            better = pa > part
            part[better], part_who[better] = pa[better], j
        best[0], who[0] = 0.0, -1
        part[0], part_who[0] = 0.0, -1
        return best, who, (part, part_who)

    def _votes(self, regions: Regions, align: np.ndarray, who: np.ndarray, partial, keys: list[_Key], near_cur):
        """(float32 [n + 1, K] per-area votes x weight, float32 [n + 1] weights) from the objects: regions they
        explain, and regions partly in an object's footprint whose outline there lands on its lines (`PARTIAL`;
        `partial` from `_region_alignment`). `near_cur`: bool [H, W] pixels by the current frame's lines."""
        cfg = self.config
        H, W = self._shape
        k = len(self.palette)
        n = regions.n
        part = (regions.area > 0) & (regions.area <= cfg.reid_part * H * W)
        use = part & (align >= ALIGN) & (who >= 0)
        votes = np.zeros((n + 1, k), np.float32)
        wsum = np.zeros(n + 1, np.float32)
        pa, pwho = partial
        partly = part & ~use & (align < ALIGN) & (pa >= PARTIAL_ALIGN) & (pwho >= 0)
        self._add_votes(regions, use, align, who, votes, wsum)
        self._add_votes(regions, partly, pa, pwho, votes, wsum, placed_in=(keys, near_cur))
        return votes, wsum

    def _add_votes(self, regions: Regions, use, align, who, votes, wsum, placed_in=None, hint=False) -> None:
        """Add to `votes`/`wsum` the paints each object `who` lays on the regions `use` (weighted by `align`), for
        regions at least half covered by them. `placed_in` (keys, near_cur), for regions partly in a footprint:
        `PARTIAL_COVER`, from the parts its whole motion places on `near_cur` only; those regions' pixels are then the
        object's, see `bucket_veto._owned_away`."""
        cfg = self.config
        area = np.maximum(regions.area, 1).astype(np.float32)
        k = len(self.palette)
        n = regions.n
        partial = placed_in is not None
        keys, near_cur = placed_in if partial else (None, None)
        for j in np.unique(who[use]):
            o = self._objs[j]
            ids = np.flatnonzero(use & (who == j))
            b = regions.bbox[ids]
            x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
            M = (o.hint if hint else o.A).copy()
            M[:, 2] += M[:, :2] @ (x0, y0) - (o.ox, o.oy)
            src = o.votes
            if partial:  # only parts whose own lines the whole motion lays on current lines: scenery that joined the
                #      object stayed where it was, and a region now there is not it
                key = next(kf for kf in keys if kf.index == o.key_index)
                h, w = src.shape
                lab = key.frame.regions.inner[o.oy : o.oy + h, o.ox : o.ox + w]
                placed = np.array(sorted(self._placed_parts(o, near_cur)), np.int64)
                src = np.where(np.isin(lab, placed), src, np.uint16(NO_VOTE)).astype(src.dtype)
            v = cv2.warpAffine(
                src,
                M.astype(np.float64),
                (int(x1 - x0), int(y1 - y0)),
                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=int(NO_VOTE),
            )
            c = self._count_votes(regions, np.minimum(v, k), box=(x0, y0, x1, y1))
            mine = np.zeros(n + 1, bool)
            mine[ids] = True
            cover = c.sum(axis=1) / area
            mine &= cover >= (PARTIAL_COVER if partial else 0.5)
            if partial and mine.any():
                self._owned.append((o, np.flatnonzero(mine)))
            near = getattr(self, "_near_w", {}).get(o.key_index, 1.0)  # a farther keyframe's object counts less
            wq = np.where(mine, cfg.objects_weight * near * align**2, 0.0).astype(np.float32)
            votes += wq[:, None] * c / area[:, None]
            wsum += wq

    def _hidden_votes(self, regions: Regions, samples, align: np.ndarray, front_pts: np.ndarray):
        """Votes of objects coasting behind one in front, for regions no object in view explains: a region takes
        them when its outline away from the front objects' lines lands on the coasting object's own lines under the
        best transform its visible lines gave (`hint`)."""
        cfg = self.config
        H, W = self._shape
        n = regions.n
        k = len(self.palette)
        votes = np.zeros((n + 1, k), np.float32)
        wsum = np.zeros(n + 1, np.float32)
        hidden = [j for j, o in enumerate(self._objs) if o.live and 0 < o.miss <= HIDDEN_FRAMES and o.hint is not None]
        if not hidden:
            return votes, wsum
        lab, xs, ys, _ = samples
        free = ~track.near_points(front_pts, H, W)[ys, xs]  # outline samples off the front objects' lines
        fcnt = np.bincount(lab, weights=free, minlength=n + 1)
        cnt = np.maximum(np.bincount(lab, minlength=n + 1), 1)
        p = np.stack([xs, ys], 1).astype(np.float64)
        best = np.zeros(n + 1)
        who = np.full(n + 1, -1)
        for j in hidden:
            hit, inf = _landing(self._objs[j], self._objs[j].hint, p)
            a = np.bincount(lab, weights=hit & free, minlength=n + 1) / np.maximum(fcnt, 1)
            cin = np.bincount(lab, weights=inf, minlength=n + 1) / cnt
            a[(cin < 0.8) | (fcnt < 8)] = 0.0
            better = a > best
            best[better], who[better] = a[better], j
        part = (regions.area > 0) & (regions.area <= cfg.reid_part * H * W)
        use = part & (best >= ALIGN) & (who >= 0) & (align < ALIGN)
        if self._in_view is not None:  # a part of the one in front its own fit misses (a swinging arm) is not it
            inside = np.bincount(regions.inner[self._in_view], minlength=n + 1)
            use &= inside < 0.5 * np.maximum(regions.area, 1)
        use[0] = False
        if use.any():
            self._add_votes(regions, use, best * HIDDEN_WEIGHT, who, votes, wsum, hint=True)
        return votes, wsum

    def _add_object_votes(self, score: np.ndarray, key_score: np.ndarray, weight_sum: np.ndarray) -> None:
        if getattr(self, "_obj_votes", None) is None:
            return
        votes, wsum = self._obj_votes
        score += votes
        key_score += votes
        weight_sum += wsum


def _landing(o, A: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bool [m] on the object's own keyframe lines, bool [m] inside its keyframe footprint) for points `p` [m, 2]
    (x, y) of the current frame under transform A."""
    h, w = o.near.shape
    q = np.rint(_apply(A, p) - (o.ox, o.oy)).astype(np.int64)
    ok = track.in_box(q[:, 0], q[:, 1], w, h)
    hit = np.zeros(len(p), bool)
    inf = np.zeros(len(p), bool)
    hit[ok] = o.near[q[ok, 1], q[ok, 0]]
    inf[ok] = o.foot[q[ok, 1], q[ok, 0]]
    return hit, inf
