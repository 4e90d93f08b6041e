"""Vetoes of the paint-bucket matcher's object tracker (`bucket_objects`): keyframe votes an object now elsewhere
rules out.

A fitted object knows where its keyframe pixels now lie. A keyframe vote that the position map takes onto one of
them from outside that place (and outside the reach of a part attached to it, such as a swinging arm) is a vote from
where the object no longer is: a roof revealed where a character's arm was in the keyframe, or the character behind
one that crossed it. Such votes are dropped, and rescues from such places refused (`_vetoed_flow`). Before that, the
pixels so taken are given the flow of the nearest scenery around them (`_scenery_flow`): the dense flow runs on
distance-to-line images whose field moves with a character, so it drags the scenery beside it along, and revealed
scenery moves as the scenery around it, not as the character that hid it. Votes that land on a keyframe part an
object lays another current region on are dropped too (`_claimed_away`): that part is here already; so are the
previous frame's votes from a region laid on such a part (`_claimed_in_prev`).

The previous frame's votes are checked against the objects too (`_left_in_prev`): each fitted object's footprint is
kept a frame (`_Frame.feet`), and a pixel the previous-frame flow takes into it, now outside the object's reach, is
scenery the object revealed: its vote for the object's paint is dropped, and the region it lies in, when mostly so
revealed, may not be guessed that object's paints (nor those of objects far away) for as long as it continues.

Memory: a cached keyframe crop per object, one footprint map and one per-region bar table of the previous frame.
No torch.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..lineart.regions import Regions, pair_counts, rank_pairs
from . import bucket_track as track
from .bucket_match import NO_VOTE, _Key
from .bucket_pose import _Obj

SWING = 0.02  # of the longer side: how far an attached part may swing from where the object's fit puts it
FAR = 0.08  # of the longer side: an object this far from a revealed region lends it none of its paints

__all__ = ["SWING", "VetoMixin"]


class VetoMixin:
    """Needs `config`, `_shape`, `_pull`, `_pull_labels`, `_prev_labels` (MatchMixin), `_in_frame_of`, `_covers`,
    `_in_view`, `_claims` (ObjectsMixin)."""

    def _vetoed_flow(self, key: _Key, flow: np.ndarray, regions: Regions):
        """(flow, veto): `flow` (current -> keyframe `key`) with what its objects now elsewhere hid given the
        scenery's flow around it; `veto` what they then still rule out, or None: (bool [H, W] current pixels the flow
        takes to a keyframe pixel of such an object or a part attached to it, outside where its fit puts them;
        int [m + 1] the object owning each keyframe region, -1 none; bool [n + 1, J] current regions mostly within
        each object's reach). A roof revealed where a character's arm was in the keyframe, or the character behind
        one that crossed it, takes no votes (nor rescues) from that object."""
        maps = self._veto_maps(key, regions)
        if maps is None:
            return flow, None
        owner, region_owner, in_reach, reach = maps
        away = self._away(owner, reach, flow)
        if away.any():
            flow = self._scenery_flow(flow, away)
            away = self._away(owner, reach, flow)
        away |= self._owned_away(key, owner, regions, flow)
        return flow, (away, region_owner, in_reach)

    def _claimed_away(self, key: _Key, flow: np.ndarray, regions: Regions) -> np.ndarray | None:
        """bool [H, W] or None: current pixels `flow` takes onto a keyframe part that an object (or a limb match)
        lays another current region on (`_claims`). That part is here already: a roof revealed where an arm lay in
        the keyframe, or a pocket of sky between an arm and the body, is not the arm. A claim counts for parts up to
        `reid_part` of the frame and at most twice the claiming region's area (a sliver on a large part does not
        show where the whole part is); a region no larger than what the claimants leave uncovered of the part is a
        fragment of it (a gap split the part here) and keeps its votes."""
        src = self._pull_labels(key.frame.regions, flow)
        return self._claim_mask(key.index, key.frame.regions, src, regions)

    def _claimed_in_prev(self, keys: list[_Key], prev, flow: np.ndarray, regions: Regions) -> np.ndarray | None:
        """bool [H, W] or None: current pixels `flow` (current -> previous frame) takes onto a previous-frame region
        that an object laid on a keyframe part which another current region is now (`_claim_mask`): the arm moved
        on, and the pocket of sky that opened where it stood last frame is not it. `prev` is the previous `_Frame`
        (its `obj_src`: per region, the keyframe and part its object laid it on)."""
        if prev.obj_src is None or not getattr(self, "_claims", None):
            return None
        sk, sr = prev.obj_src
        pr = self._prev_labels(flow, prev)
        out = None
        for key in keys:
            if key.index not in self._claims:
                continue
            part = np.where(sk == key.index, sr, 0)[pr]  # [H, W] the keyframe part under each pixel's last region
            m = self._claim_mask(key.index, key.frame.regions, part, regions)
            if m is not None:
                out = m if out is None else out | m
        return out

    def _left_in_prev(self, keys: list[_Key], prev, flow: np.ndarray, regions: Regions):
        """(bool [H, W] or None, bool [n + 1, K]) or None. First: current pixels `flow` (current -> previous frame)
        takes into the footprint an object had in the previous frame (`prev.feet`), outside where its fit puts it now
        (and its attached parts' reach), onto one of its own paints: the cloud its head hid there is revealed, and
        the head's paint there comes from where the head no longer is. Second: per current region, the paints the
        graph fallback may not guess for it. A region revealed by an object (mostly such pixels, whatever their
        paint, and no part that moved: what stood there last frame was at least twice its size) may not take that
        object's own paints, nor those of any object fitted farther than `FAR` from it; a region that is mostly one
        so barred last frame (`prev.banned`) keeps its bars: a revealed cloud grows piece by piece."""
        if prev.feet is None and prev.banned is None:
            return None
        H, W = self._shape
        n, k = regions.n, len(self.palette)
        area = np.maximum(regions.area, 1)
        banned = np.zeros((n + 1, k), bool)
        pr = self._prev_labels(flow, prev)
        if prev.banned is not None:
            cur, was, cnt = pair_counts(regions.inner, pr, prev.banned.any(axis=1)[pr] & (regions.inner > 0))
            most = cnt >= 0.5 * area[cur]
            for c, w in zip(cur[most], was[most]):
                banned[c] |= prev.banned[w]
        now = {o.uid: o for o in getattr(self, "_covers", []) if o.live}
        fitted = [(j, now[u]) for j, u in enumerate(prev.feet[1] if prev.feet is not None else []) if u in now]
        out = None
        revealed = np.zeros(n + 1, bool)
        if fitted:
            src = self._pull(prev.feet[0], flow, -1)
            paint = self._pull(prev.votes_map, flow, int(NO_VOTE))
        paints_of = {}  # uid -> the object's own paints
        for j, o in fitted:
            key = next((kk for kk in keys if kk.index == o.key_index), None)
            if key is None:
                continue
            gone = (src == j) & ~self._reach_here(o, key)
            paints = paints_of[o.uid] = self._object_paints(key, o)
            own = np.zeros(int(NO_VOTE) + 1, bool)
            own[paints] = True
            m = gone & own[paint]
            out = m if out is None else out | m
            by = np.bincount(regions.inner[gone], minlength=n + 1) >= 0.5 * area
            by[0] = False
            if by.any():
                by &= self._grown(regions, pr, prev, by)
                banned[np.ix_(by, paints)] = True
                revealed |= by
        if revealed.any():  # nor the paints of the objects fitted far from it
            r = max(3, round(FAR * max(H, W)))
            for o in now.values():
                key = next((kk for kk in keys if kk.index == o.key_index), None)
                if key is None:
                    continue
                there = self._reach_here(o, key).view(np.uint8)
                close = cv2.dilate(there, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).view(bool)
                far = revealed & (np.bincount(regions.inner[close], minlength=n + 1) == 0)
                paints = paints_of[o.uid] if o.uid in paints_of else self._object_paints(key, o)
                banned[np.ix_(far, paints)] = True
        if out is None and not banned.any():
            return None
        return out, banned

    def _grown(self, regions: Regions, pr: np.ndarray, prev, which: np.ndarray) -> np.ndarray:
        """bool [n + 1]: for the regions in `which`, whether what most of their pixels were last frame (`pr`, the
        previous frame's region under each pixel) was at least twice their size, or no region at all (a line): not a
        part that moved on, but something that opened where a larger thing stood."""
        cur, was, cnt = pair_counts(regions.inner, pr, which[regions.inner] & (pr > 0))
        out = which.copy()
        if len(cur):
            order, first = rank_pairs(cur, was, cnt)
            c, w = cur[order[first]], was[order[first]]
            out[c] = prev.regions.area[w] >= 2 * np.maximum(regions.area[c], 1)
        return out

    def _owned_parts(self, key: _Key) -> np.ndarray:
        """bool [m + 1]: the regions of keyframe `key` that belong to one of its objects (their parts and attached
        parts), and its lines (0): what is not scenery."""
        owned = np.zeros(key.frame.regions.n + 1, bool)
        for b in getattr(self, "_objs", []):
            if b.key_index == key.index:
                owned[b.ids] = owned[b.attached] = True
        owned[0] = True  # the lines
        return owned

    def _object_paints(self, key: _Key, o: _Obj) -> np.ndarray:
        """int [P] the paints of object `o`'s keyframe parts (`key`) that no keyframe region outside every object of
        that keyframe has: a character's own paints, not the sky's."""
        kc = key.frame.color
        return np.setdiff1d(kc[np.concatenate([o.ids, o.attached]).astype(np.int64)], kc[~self._owned_parts(key)])

    def _claim_pairs(self, k_index: int, k_regions: Regions, regions: Regions):
        """(int [P, 2] (current region, keyframe part), float [m + 1] what the claimants leave of each part) of the
        claims on keyframe `k_index` (`_claims`) that count, by the rules of `_claimed_away`; None when none does."""
        pairs = getattr(self, "_claims", {}).get(k_index)
        if not pairs:
            return None
        pairs = np.concatenate(pairs)  # [P, 2] (current region, keyframe part)
        H, W = self._shape
        k_area = k_regions.area[pairs[:, 1]]
        big = self.config.reid_part * H * W
        pairs = pairs[(pairs[:, 1] > 0) & (k_area <= 2 * regions.area[pairs[:, 0]]) & (k_area <= big)]
        if not len(pairs):
            return None
        free = k_regions.area - np.bincount(pairs[:, 1], regions.area[pairs[:, 0]], minlength=k_regions.n + 1)
        return pairs, free

    def _claim_mask(self, k_index: int, k_regions: Regions, src: np.ndarray, regions: Regions) -> np.ndarray | None:
        """bool [H, W] or None: current pixels whose part of keyframe `k_index` (`src`, int [H, W], 0 none) a
        current region other than theirs claims, by the rules of `_claimed_away`."""
        got = self._claim_pairs(k_index, k_regions, regions)
        if got is None:
            return None
        pairs, free = got
        m = k_regions.n + 1
        claimed = np.zeros(m, bool)
        claimed[pairs[:, 1]] = True
        hit = claimed[src] & (regions.inner > 0)
        if not hit.any():
            return None
        cur, part = regions.inner[hit], src[hit]
        own = np.isin(cur.astype(np.int64) * m + part, pairs[:, 0] * m + pairs[:, 1])
        fragment = regions.area[cur] <= free[part]  # what the claimants leave of the part, split off by a gap
        away = np.zeros(hit.shape, bool)
        away[hit] = ~own & ~fragment
        return away

    def _owned_away(self, key: _Key, owner: np.ndarray, regions: Regions, flow: np.ndarray) -> np.ndarray:
        """bool [H, W]: pixels of the regions an object's votes reach, inside its footprint, that `flow` takes to a
        keyframe pixel no object owns: a head that a crossing hid comes out where the chained map lost it (onto the
        keyframe's sky); the object in view says whose it is."""
        H, W = self._shape
        away = np.zeros((H, W), bool)
        owned = [(o, ids) for o, ids in getattr(self, "_owned", []) if o.key_index == key.index]
        if not owned:
            return away
        src = self._pull(owner, flow, -1)
        for o, ids in owned:
            sel = np.zeros(regions.n + 1, bool)
            sel[ids] = True
            away |= sel[regions.inner] & self._in_frame_of(o.foot.view(np.uint8), o.A, o.ox, o.oy) & (src < 0)
        return away

    def _veto_maps(self, key: _Key, regions: Regions):
        """(int16 [H, W] keyframe pixel -> index of the object in view owning it, -1 none; its region owners; current
        regions within each one's reach; bool [H, W] reach of each), or None when no object of `key` is in view."""
        covers = [o for o in getattr(self, "_covers", []) if o.key_index == key.index and o.live]
        if not covers:
            return None
        H, W = self._shape
        reg = key.frame.regions
        owner = np.full((H, W), -1, np.int16)
        region_owner = np.full(reg.n + 1, -1, np.int64)
        area = np.maximum(regions.area, 1)
        in_reach = np.zeros((regions.n + 1, len(covers)), bool)
        reach = []
        for j, o in enumerate(covers):
            x0, y0, own, near = self._reach(o, key)
            h, w = own.shape
            owner[y0 : y0 + h, x0 : x0 + w][own] = j
            region_owner[o.ids] = j
            region_owner[o.attached] = j
            r = self._reach_here(o, key)
            in_reach[:, j] = np.bincount(regions.inner[r], minlength=regions.n + 1) >= 0.5 * area
            reach.append(r)
        return owner, region_owner, in_reach, reach

    def _away(self, owner: np.ndarray, reach: list, flow: np.ndarray) -> np.ndarray:
        """bool [H, W]: current pixels `flow` takes onto a keyframe pixel of an object from outside its reach."""
        src = self._pull(owner, flow, -1)
        away = np.zeros(owner.shape, bool)
        for j, r in enumerate(reach):
            away |= (src == j) & ~r
        return away

    def _scenery_flow(self, flow: np.ndarray, away: np.ndarray) -> np.ndarray:
        """`flow` (current -> keyframe) with the pixels it takes onto an object now elsewhere (`away`) moved as the
        nearest scenery around them (not within `SWING` of an object fitted here): what such an object hid in the
        keyframe is revealed scenery, dragged along by the dense flow."""
        source = ~away
        near = self._near_view()
        if near is not None:
            source &= ~near
        return track.fill_flow(flow, away, source)

    def _near_view(self) -> np.ndarray | None:
        """bool [H, W]: within `SWING` of the footprints of the objects fitted in this frame (`_in_view`), where
        their attached parts may swing; None when none is. Cached for the frame."""
        front = getattr(self, "_in_view", None)
        if front is None:
            return None
        got = getattr(self, "_near_view_of", None)
        if got is None or got[0] is not front:
            H, W = self._shape
            m = max(3, round(SWING * max(H, W)))
            near = cv2.dilate(front.view(np.uint8), np.ones((2 * m + 1, 2 * m + 1), np.uint8)).view(bool)
            got = self._near_view_of = (front, near)
        return got[1]

    def _reach(self, o: _Obj, key: _Key):
        """(x0, y0, owned, reach) keyframe crops of object `o`, cached: `owned` its and its attached parts' interior
        pixels, `reach` (uint8) where they may lie under the object's transform (attached parts swing: dilated)."""
        if o.reach is None:
            reg = key.frame.regions
            H, W = self._shape
            ids = np.concatenate([o.ids, o.attached]).astype(np.int64)
            m = max(4, round(SWING * max(H, W)))
            b = reg.bbox[ids]
            x0, y0 = max(int(b[:, 0].min()) - m, 0), max(int(b[:, 1].min()) - m, 0)
            x1, y1 = min(int(b[:, 2].max()) + m, W), min(int(b[:, 3].max()) + m, H)
            sel = np.zeros(reg.n + 1, bool)
            sel[ids] = True
            own = sel[reg.inner[y0:y1, x0:x1]]
            att = own & ~np.isin(reg.inner[y0:y1, x0:x1], o.ids)
            near = cv2.dilate(att.view(np.uint8), np.ones((2 * m + 1, 2 * m + 1), np.uint8))
            h, w = o.foot.shape
            near[o.oy - y0 : o.oy - y0 + h, o.ox - x0 : o.ox - x0 + w] |= o.foot.view(np.uint8)
            o.reach = (x0, y0, own, near)
        return o.reach

    def _reach_here(self, o: _Obj, key: _Key) -> np.ndarray:
        """bool [H, W]: `_reach` brought into the current frame by the object's transform: where it and its attached
        parts may lie now. Cached for the frame (`_reach_frame`, reset by `_track_objects`; keyed by the transform
        too), as the keyframe vetoes and the previous frame's both ask."""
        cache = getattr(self, "_reach_frame", None)
        if cache is None:
            cache = self._reach_frame = {}
        tag = o.A.tobytes()
        got = cache.get(id(o))
        if got is None or got[0] is not o or got[1] != tag:
            x0, y0, _, near = self._reach(o, key)
            got = cache[id(o)] = (o, tag, self._in_frame_of(near, o.A, x0, y0))
        return got[2]
