"""Re-identification for the paint-bucket matcher (`lvcd.backends.bucket`): regions that no keyframe position map
explains (a character entering or re-entering the frame, a part revealed from behind another, a chain that lost a
fast limb) are searched for in the keyframes as whole parts.

Only part-sized regions take part (a sky or a ground touching a character would make every cluster the size of the
frame, which matches nowhere): they are grouped into clusters (connected across the lines between them), and a
cluster holding lost regions is searched for in every keyframe by masked normalised correlation of distance-to-line
images (`bucket_track.reidentify`). Places in a keyframe that confident regions of this frame already continue are
"claimed" and cost score, so a look-alike does not take the colours of the character it resembles while that one is
in view. A shift is used only where it lays a region's outline onto keyframe lines (`reid_align`), and it re-seeds
the keyframe's position map only when half of the cluster agrees with it (`reid_agree`): one piece matched at a wrong
shift no longer drags the map of a whole body with it.

Lost part regions beside regions the map still places are tried at their neighbours' motion (`_neighbour_votes`):
revealed scenery moves as the scenery around it. Split from bucket.py to keep files small. No torch.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..lineart.regions import Regions
from . import bucket_track as track
from .bucket_match import _Frame, _Key
from .bucket_pose import ALIGN

NUDGE = 2  # px searched around each neighbour's shift when placing a lost region by it


class ReidMixin:
    """Needs `config`, `palette`, `_shape`, `_flow_size`, `_identity`, `_affine_alignment`, `_hits` (MatchMixin),
    `_front_lines` (ObjectsMixin), `_near_view`, `_owned_parts`, `_claim_pairs` (VetoMixin)."""

    def _shifted_votes(self, regions: Regions, shift: np.ndarray, src: _Frame, ids: np.ndarray) -> np.ndarray:
        """Like `_dense_votes` under one constant flow `shift` (px), counted only over the bounding box of regions
        `ids` (their rows are exact; other rows may be partial)."""
        H, W = self._shape
        k = len(self.palette)
        ids = ids[(ids > 0) & (regions.area[ids] > 0)]
        counts = np.zeros((regions.n + 1, k), np.float32)
        if len(ids) == 0:
            return counts
        b = regions.bbox[ids]
        x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
        dx, dy = int(np.floor(shift[0] + 0.5)), int(np.floor(shift[1] + 0.5))  # INTER_NEAREST's rounding
        votes = np.full((y1 - y0, x1 - x0), k, np.int64)
        sx0, sy0, sx1, sy1 = max(x0 + dx, 0), max(y0 + dy, 0), min(x1 + dx, W), min(y1 + dy, H)
        if sx1 > sx0 and sy1 > sy0:
            votes[sy0 - dy - y0 : sy1 - dy - y0, sx0 - dx - x0 : sx1 - dx - x0] = np.minimum(
                src.votes_map[sy0:sy1, sx0:sx1], k
            )
        return self._count_votes(regions, votes, box=(x0, y0, x1, y1))

    def _unplaced(self, regions: Regions, keys: list[_Key], i: int) -> np.ndarray:
        """float [n + 1]: share of each region's pixels that no keyframe position map places (entered the frame,
        revealed, or no map yet)."""
        fw, fh = self._flow_size()
        placed = np.zeros((fh, fw), bool)
        for key in keys:
            if key.chain is not None and key.index < i:
                placed |= track.valid(key.chain)
        H, W = self._shape
        up = cv2.resize((~placed).view(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
        n = regions.n + 1
        cnt = np.bincount(regions.inner.ravel(), weights=up.ravel(), minlength=n)
        return cnt / np.maximum(regions.area, 1)

    def _small(self, per_region: np.ndarray, regions: Regions) -> np.ndarray:
        """bool [h, w] at flow resolution: pixels (lines included, they carry their nearest region) of the regions
        flagged in `per_region`."""
        fw, fh = self._flow_size()
        px = np.take(per_region, regions.labels).view(np.uint8)
        return cv2.resize(px, (fw, fh), interpolation=cv2.INTER_NEAREST).view(bool)

    def _claimed(self, key: _Key, sure_small: np.ndarray) -> np.ndarray | None:
        """bool [h, w]: keyframe places (flow resolution) that this frame's confident part regions continue
        through `key`'s position map; None when the map places nothing."""
        if key.chain is None or not sure_small.any():
            return None
        pos = key.chain[sure_small]
        ok = (pos[:, 0] > -1) & (pos[:, 1] > -1)
        if not ok.any():
            return None
        h, w = sure_small.shape
        xs = np.clip(np.round(pos[ok, 0]).astype(np.int64), 0, w - 1)
        ys = np.clip(np.round(pos[ok, 1]).astype(np.int64), 0, h - 1)
        out = np.zeros((h, w), np.uint8)
        out[ys, xs] = 1
        return cv2.dilate(out, np.ones((3, 3), np.uint8)).view(bool)

    def _groups(self, regions: Regions, keys: list[_Key], i: int) -> tuple[np.ndarray, np.ndarray]:
        """Parts of this frame, grouped: (int [n + 1] group per region, 0 = not a part; int32 [h, w] the groups at
        flow resolution). Touching part regions join; a group whose regions the nearest keyframe's position map moves
        in two tight bunches at least `reid_split` px apart is split in two (two characters crossing: one cluster by
        contact, two by motion)."""
        cached = getattr(self, "_group_cache", None)
        if cached is not None and cached[0] is regions:
            return cached[1], cached[2]
        cfg = self.config
        H, W = self._shape
        n = regions.n
        part = (regions.area > 0) & (regions.area <= cfg.reid_part * H * W)
        part[0] = False
        adj = regions.adjacency()
        src = np.repeat(np.arange(n + 1), [len(a) for a in adj])
        dst = np.concatenate(adj) if n else np.zeros(0, np.int64)
        keep = part[src] & part[dst]
        g = coo_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n + 1, n + 1))
        _, comp = connected_components(g, directed=False)
        gid = np.where(part, comp + 1, 0).astype(np.int32)
        chained = [k for k in keys if k.chain is not None and k.index < i]
        if chained and cfg.reid_split > 0:
            key = min(chained, key=lambda k: abs(i - k.index))
            fw, fh = self._flow_size()
            lab = cv2.resize(regions.inner, (fw, fh), interpolation=cv2.INTER_NEAREST)
            ok = track.valid(key.chain) & (lab > 0)
            disp = key.chain[ok] - self._identity()[ok]
            cnt = np.bincount(lab[ok], minlength=n + 1).astype(np.float64)
            d = np.stack([np.bincount(lab[ok], weights=disp[:, j], minlength=n + 1) for j in (0, 1)], 1)
            d /= np.maximum(cnt, 1)[:, None]
            nxt = int(gid.max()) + 1
            for c in np.unique(gid[gid > 0]):
                ids = np.flatnonzero((gid == c) & (cnt >= 3))
                if len(ids) >= 4 and _split2(d[ids], cnt[ids], cfg.reid_split) is not None:
                    gid[ids[_split2(d[ids], cnt[ids], cfg.reid_split)]] = nxt
                    nxt += 1
        fw, fh = self._flow_size()
        small = cv2.resize(np.take(gid, regions.labels), (fw, fh), interpolation=cv2.INTER_NEAREST)
        self._group_cache = (regions, gid, small)
        return gid, small

    def _reidentify(self, regions, samples, cur_img, keys, lost, score, key_score, weight_sum, beat, i) -> np.ndarray:
        """Search each cluster of part-sized regions holding `lost` regions in every keyframe; a shift whose outlines
        land on keyframe lines gives those regions that keyframe's votes (and re-seeds that keyframe's position map
        there when most of the cluster agrees, so the next frames follow it)."""
        cfg = self.config
        fw, fh = self._flow_size()
        H, W = self._shape
        sx, sy = fw / W, fh / H
        gid, gsmall = self._groups(regions, keys, i)
        part = gid > 0
        seeds = lost & part
        taken = np.zeros(regions.n + 1, bool)
        self._background_votes(regions, keys, lost & ~part & (regions.area > 0), score, key_score, weight_sum, i)
        if not seeds.any():
            return taken
        key_conf = key_score.max(axis=1) / max(cfg.keyframe_weight, 1e-9)
        todo = np.unique(gid[seeds])
        sure_small = self._small(part & ~lost & (key_conf >= cfg.reid_sure), regions)
        claimed = {id(key): self._claimed(key, sure_small) for key in keys}
        area = np.maximum(regions.area, 1).astype(np.float32)
        near_lost = (
            None
            if cfg.reid_whole
            else cv2.dilate(self._small(seeds, regions).view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
        )
        for c in todo:
            m = gsmall == c
            if near_lost is not None:
                m &= near_lost
            if m.sum() < 64:
                continue
            best = None
            for key in keys:
                r = track.reidentify(cur_img, key.frame.flow_img, m, cfg.reid_score, claimed[id(key)])
                if r is not None and (best is None or r[1] > best[1]):
                    best = (r[0], r[1], key)
            if best is None:
                continue
            (dx, dy), _, key = best
            mine = gid == c
            shift = np.array([dx / sx, dy / sy], np.float32)
            counts = self._shifted_votes(regions, shift, key.frame, np.flatnonzero(mine))
            align = self._affine_alignment(regions, samples, np.broadcast_to(shift, (H, W, 2)), key.frame)
            take = mine & lost & (align >= np.maximum(cfg.reid_align, beat + 0.05 * (beat > 0)))
            if not take.any():
                continue
            wq = np.where(take, cfg.keyframe_weight * align**2, 0.0).astype(np.float32)
            part_votes = wq[:, None] * counts / area[:, None]
            score += part_votes
            key_score += part_votes
            weight_sum += wq
            taken |= take
            agree = regions.area[mine & (align >= cfg.reid_align)].sum() / max(regions.area[mine].sum(), 1)
            if agree < cfg.reid_agree or (key.chain is None and key.index >= 0):
                continue  # a few pieces at this shift: votes only, the map is not re-seeded from them
            if key.chain is None:
                key.chain = np.full_like(self._identity(), track.INVALID)
            took = self._small(take, regions)
            free = m & (~track.valid(key.chain) | took)  # keep positions the chain follows well
            key.chain[free] = self._identity()[free] + np.array([dx, dy], np.float32)
            if key.seeded is not None:  # positions of this search now, not of a neighbour's motion
                key.seeded[free] = False
        return taken

    def _neighbour_votes(self, regions, samples, keys, lost, key_conf, score, key_score, weight_sum, i) -> np.ndarray:
        """bool [n + 1]: lost part regions placed by the motion of a neighbour that the nearest keyframe's map
        places (keyframe confidence `reid_below` or more). Revealed scenery moves as the scenery beside it: a roof
        uncovered by a character's arm as its house does. The dense flow had dragged what was hidden along with
        whatever hid it, so the map kept placing such a roof on the arm in the keyframe.

        Each neighbour's median shift is tried (nudged up to `NUDGE` px). It counts when it lays the region's outline
        on keyframe lines (`reid_align`), judged without the outline shared with that neighbour (it moves with the
        neighbour whatever the region does) and without lines of a character in front; and when it lays the inside
        mostly on one keyframe paint (`min_share`; keyframe parts another current region is do not count,
        `_region_shift_votes`): a roof's outline also fits a look-alike arm, but its inside then spills onto the sky.
        That paint must be one the keyframe's scenery has: a character's part is found by its object. The best shift,
        by alignment x that share, gives the region that keyframe's votes there and re-seeds the map on it, away from
        where the characters in view may swing (`_near_view`: the objects' tracker predicts them from the map under
        them). The re-seeded positions are marked (`_Key.seeded`, carried with the map) for `_unseeded`. Nothing is
        placed so before the keyframe's characters are built (`_pending`): until then which paints are scenery is
        not known, and a roof revealed by an arm took the arm's paint."""
        cfg = self.config
        taken = np.zeros(regions.n + 1, bool)
        chained = [k for k in keys if k.chain is not None and k.index < i]
        H, W = self._shape
        cand = lost & (regions.area > 0) & (regions.area <= cfg.reid_part * H * W)
        cand[0] = False
        if not chained or not cand.any():
            return taken
        key = min(chained, key=lambda k: abs(i - k.index))
        if key.index in getattr(self, "_pending", {}):  # its characters are not known yet, nor so its scenery
            return taken
        fw, fh = self._flow_size()
        lab_small = cv2.resize(regions.inner, (fw, fh), interpolation=cv2.INTER_NEAREST)
        ok = track.valid(key.chain) & (lab_small > 0)
        n = regions.n + 1
        cnt = np.bincount(lab_small[ok], minlength=n)
        sure = (key_conf >= cfg.reid_below) & ~lost & (cnt >= 16)
        front = getattr(self, "_front_lines", None)
        if front is not None and len(front[1]) == n:  # a character in view lends no motion: it passes in front
            sure &= front[1] < ALIGN
        sure[0] = False
        if not sure.any():
            return taken
        _, xs, ys, starts = samples
        adj = regions.adjacency()
        near = {j for r in np.flatnonzero(cand) for j in adj[r] if sure[j]}
        if not near:
            return taken
        lent = np.zeros(n, bool)
        lent[list(near)] = True
        at = np.flatnonzero((ok & lent[lab_small]).ravel())  # map pixels of the neighbours that may lend motion
        lab_at = lab_small.ravel()[at]
        order = np.argsort(lab_at, kind="stable")
        disp = (key.chain.reshape(-1, 2)[at] - self._identity().reshape(-1, 2)[at])[order]  # [m, 2] flow px
        first = np.concatenate([[0], np.cumsum(np.bincount(lab_at, minlength=n))])
        scale = np.array([W / fw, H / fh])
        shift = {}  # neighbour -> its median shift, full px (the median: a few stale positions do not pull it)
        for j in near:
            shift[j] = np.median(disp[first[j] : first[j + 1]], axis=0) * scale
        scenery = np.zeros(len(self.palette), bool)
        scenery[key.frame.color[~self._owned_parts(key)]] = True  # paints the keyframe's scenery has
        best = {}  # region -> (fit, shift, outline alignment, votes)
        claims = self._claim_pairs(key.index, key.frame.regions, regions)
        nudge = np.arange(-NUDGE, NUDGE + 1)
        ex, ey = (a.ravel() for a in np.meshgrid(nudge, nudge, indexing="ij"))  # [S] nudges, dx-major
        for r in np.flatnonzero(cand):
            on = np.arange(starts[r], starts[r + 1])  # its outline samples (grouped by region)
            if len(on) < 8:
                continue
            for j in (j for j in adj[r] if sure[j]):
                # the outline it shares with the neighbour moves with it whatever the region does: judged without it
                rest = on[~self._touches(regions, xs[on], ys[on], j)]
                if len(rest) < max(8, 0.25 * len(on)):
                    continue
                dx0, dy0 = int(np.floor(shift[j][0] + 0.5)), int(np.floor(shift[j][1] + 0.5))
                hit = self._hits(key.frame, xs[rest][None] + (dx0 + ex)[:, None], ys[rest][None] + (dy0 + ey)[:, None])
                on_lines = hit.mean(axis=1)  # [S]
                top = max(  # a part moves not quite as its neighbour does; on a tie, as it does
                    (float(on_lines[s]), -abs(int(ex[s])) - abs(int(ey[s])), (dx0 + int(ex[s]), dy0 + int(ey[s])))
                    for s in range(len(ex))
                )
                top = (top[0], top[2])
                if top[0] < cfg.reid_align:
                    continue
                counts = self._region_shift_votes(regions, r, top[1], key, claims)
                pure = counts.max() / max(regions.area[r], 1)  # its inside lands in one keyframe paint
                fit = top[0] * pure
                if not scenery[counts.argmax()]:  # a character's part is found by its object, not this way
                    continue
                if pure >= cfg.min_share and (r not in best or fit > best[r][0]):
                    best[r] = (fit, top[1], top[0], counts)
        area = np.maximum(regions.area, 1).astype(np.float32)
        g = self._identity()
        clear = np.zeros((fh, fw), bool)
        swing = self._near_view()
        if swing is not None:
            clear = cv2.resize(swing.view(np.uint8), (fw, fh), interpolation=cv2.INTER_NEAREST).view(bool)
        moved = np.zeros((n, 2), np.float32)  # the shift each placed region re-seeds the map with, flow px
        for r, (_, (dx, dy), align, counts) in best.items():
            w = cfg.keyframe_weight * align**2
            votes = w * counts / area[r]
            score[r] += votes
            key_score[r] += votes
            weight_sum[r] += w
            taken[r] = True
            moved[r] = (dx * fw / W, dy * fh / H)
        if best:
            here = taken[lab_small] & ~clear  # an object's footprint keeps the positions its motion carries
            key.chain[here] = g[here] + moved[lab_small[here]]
            if key.seeded is None:
                key.seeded = np.zeros((fh, fw), bool)
            key.seeded |= here
        return taken

    def _unseeded(self, key: _Key, flow: np.ndarray) -> np.ndarray:
        """`flow` (current -> keyframe `key`, full size) without the positions `_neighbour_votes` set that now lie in
        a character's footprint: they were right for the scenery they were set on, and the dense flow hands them to
        a fast arm that swings over it, whose motion it does not carry."""
        near = self._near_view()
        if near is None:
            return flow
        H, W = self._shape
        bad = cv2.resize(key.seeded.view(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST).view(bool) & near
        if bad.any():
            flow = flow.copy()
            flow[bad] = track.INVALID
        return flow

    @staticmethod
    def _touches(regions: Regions, xs: np.ndarray, ys: np.ndarray, j: int, reach: int = 3) -> np.ndarray:
        """bool per outline point (`xs`, `ys`, inside the frame): region `j` lies within `reach` px of it (the line
        it shares with j). One dilation over the points' bounding box."""
        if not len(xs):
            return np.zeros(0, bool)
        H, W = regions.inner.shape
        x0, y0 = max(int(xs.min()) - reach, 0), max(int(ys.min()) - reach, 0)
        x1, y1 = min(int(xs.max()) + reach + 1, W), min(int(ys.max()) + reach + 1, H)
        m = (regions.inner[y0:y1, x0:x1] == j).view(np.uint8)
        m = cv2.dilate(m, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
        return m[ys - y0, xs - x0].view(bool)

    def _region_shift_votes(self, regions: Regions, r: int, shift, key: _Key, claims) -> np.ndarray:
        """float32 [K]: the paints keyframe `key` shows under region `r` moved by `shift` (dx, dy px), without the
        keyframe parts another current region is (`claims`, from `_claim_pairs`; a region no larger than what those
        leave of a part is a fragment of it and keeps it): a pocket of sky by an arm is not the arm, which is here."""
        H, W = self._shape
        x0, y0, x1, y1 = regions.bbox[r]
        ys, xs = np.nonzero(regions.inner[y0:y1, x0:x1] == r)
        xs, ys = xs + x0 + shift[0], ys + y0 + shift[1]
        inside = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
        xs, ys = xs[inside], ys[inside]
        votes = key.frame.votes_map[ys, xs].astype(np.int64)
        k = len(self.palette)
        if claims is not None:
            pairs, free = claims
            part = key.frame.regions.inner[ys, xs].astype(np.int64)
            mine = pairs[pairs[:, 0] == r, 1]
            others = np.setdiff1d(pairs[pairs[:, 0] != r, 1], mine)
            away = np.isin(part, others) & (regions.area[r] > free[part])
            votes = votes[~away]
        return np.bincount(votes[votes < k], minlength=k).astype(np.float32)

    def _background_votes(self, regions, keys, big, score, key_score, weight_sum, i) -> None:
        """Lost regions too large to be parts (a strip of sky cut off by a passing pole, ground revealed at the
        frame edge) vote with the nearest keyframe under the camera's motion: the median shift of its position map,
        at `reid_background` of a keyframe vote's weight."""
        cfg = self.config
        chained = [k for k in keys if k.chain is not None and k.index < i]
        if not big.any() or not chained or cfg.reid_background <= 0:
            return
        key = min(chained, key=lambda k: abs(i - k.index))
        chain = key.chain[::4, ::4]  # a sparse grid is plenty for a median
        ok = track.valid(key.chain)[::4, ::4]  # (positions are checked against the whole map's bounds)
        if ok.sum() < 0.25 * ok.size:
            return
        fw, fh = self._flow_size()
        H, W = self._shape
        d = np.median(chain[ok] - self._identity()[::4, ::4][ok], axis=0) * np.array([W / fw, H / fh])
        counts = self._shifted_votes(regions, d.astype(np.float32), key.frame, np.flatnonzero(big))
        w = np.where(big, cfg.reid_background, 0.0).astype(np.float32)
        votes = w[:, None] * counts / np.maximum(regions.area, 1)[:, None].astype(np.float32)
        score += votes
        key_score += votes
        weight_sum += w

    def _misplaced(self, regions: Regions, cur_img: np.ndarray, keys: list[_Key], i: int) -> np.ndarray:
        """bool [n + 1]: part regions whose cluster a keyframe's position map places clearly worse than the best
        place the cluster's lines find in that keyframe (two look-alike characters crossed and the map now takes
        one for the other). Checked every frame, for every cluster: a map that drifted onto the wrong character is
        caught even while its outlines still land on (that character's) lines."""
        cfg = self.config
        H, W = self._shape
        out = np.zeros(regions.n + 1, bool)
        chained = [k for k in keys if k.chain is not None and k.index < i]
        if not chained or cfg.reid_margin <= 0:
            return out
        gid, gsmall = self._groups(regions, keys, i)
        g = self._identity()
        for key in chained:
            ok = track.valid(key.chain)
            small = track.shrink(cur_img, key.frame.flow_img)
            dx, dy = key.chain[..., 0] - g[..., 0], key.chain[..., 1] - g[..., 1]  # [fh, fw] each: medians per plane
            for c in np.unique(gid[gid > 0]):
                m = gsmall == c
                size = int(m.sum())
                mv = m & ok
                if size < 64 or mv.sum() < 0.5 * size:
                    continue
                d = np.array([np.median(dx[mv]), np.median(dy[mv])])
                r = track.shift_scores(cur_img, key.frame.flow_img, m, d, small=small)
                if r is None:
                    continue
                best, (bx, by), at = r
                if best < cfg.reid_score or best - at < cfg.reid_margin or np.hypot(bx - d[0], by - d[1]) < 4.0:
                    continue
                out |= gid == c
        return out


def _split2(d: np.ndarray, w: np.ndarray, min_gap: float) -> np.ndarray | None:
    """bool mask of the second of two motion groups among points `d` [m, 2] weighted by `w`, when 2-means finds two
    groups at least `min_gap` apart, each with a quarter of the weight and tight (spread < 0.3 x the gap); else
    None."""
    a = d[np.argmax(np.hypot(*(d - np.average(d, axis=0, weights=w)).T))]
    b = d[np.argmax(np.hypot(*(d - a).T))]
    for _ in range(8):
        side = np.hypot(*(d - b).T) < np.hypot(*(d - a).T)
        if side.all() or not side.any():
            return None
        a = np.average(d[~side], axis=0, weights=w[~side])
        b = np.average(d[side], axis=0, weights=w[side])
    gap = float(np.hypot(*(a - b)))
    share = w[side].sum() / w.sum()
    spread = np.sqrt(np.average(np.where(side, np.hypot(*(d - b).T), np.hypot(*(d - a).T)) ** 2, weights=w))
    if gap < min_gap or not 0.25 <= share <= 0.75 or spread > 0.3 * gap:
        return None
    return side
