"""Object-level tracking for the paint-bucket matcher (`lvcd.backends.bucket`): identity through crossings and exits.

The position maps of `bucket_track` are per pixel: when two characters drawn alike cross (one passes behind the
other) or one leaves and re-enters the frame, the dense flow drags the occluder's keyframe positions onto the one that
emerges, and that one is painted with the other's paints from then on. Here each character keeps its identity by
motion continuity instead:

1. At each keyframe, objects are the connected groups of character-part-sized regions (regions larger than
   `OBJ_PART` of the frame are scenery, unless they are clear of the frame's edges, at most `BIG_PART` and move
   against the scene's median motion: a character large in the frame) that the position map moves alike over the
   next `WATCH` frames. Each keeps
   crops of its own keyframe lines, of the nearest own line pixel of every crop pixel (a Euclidean distance
   transform), of its footprint and of its paints.
2. Per frame, objects are fitted front first (where two footprints overlap, the one in front still shows its lines
   there). Each object's transform (current frame -> keyframe: rotation, area-preserving squash, slowly changing
   size, shift) starts from its constant-velocity prediction, from a masked correlation of its keyframe look around
   it and from the position map's own motion, each refined by an exhaustive search of shifts, small rotations and
   squashes scored on its keyframe lines, then by closest points to THAT object's lines only; a start that lands
   farther than `GATE` from the prediction is dropped (another character drawn alike). The fit is the share of its
   visible keyframe lines that land on current lines not already taken by an object in front; lines hidden behind
   one are neither seen nor missed. Regions whose lines stop following the object leave it, judged on their lines
   towards regions outside it where they have some (a roof the flow dragged along with the character in front of
   it shares most of its outline with the character; its own edges stay with the scenery).
3. An object fitting badly coasts on its mean velocity (hidden behind another) for `COAST` frames, then is lost; one
   whose prediction leaves the frame is dormant (one merely hidden behind an object in front keeps coasting). An
   object coasting, or found again, is also tried in its keyframe pose (no rotation, no squash) at the same place:
   the search moves a pose by small steps, and one found again in a wrong rotation stays trapped in it. Pieces of
   part regions that no object in view explains are matched against lost, dormant and coasting objects only (the
   object's keyframe look correlated around the piece, then the search and the fit), never against objects in view;
   of near ties, the object expected nearest takes it, and one lost for a few frames resumes with its mean motion
   since (a fast character outruns a stale prediction every frame otherwise).
4. Votes (`bucket_objvotes`): each part region takes, from the object in view whose transform lays its outline
   best onto that object's keyframe lines (share of outline pixels within `align_tolerance`, at least `ALIGN`),
   that object's keyframe paints under the transform, weighted by `objects_weight` x alignment^2. Regions no object
   explains (a swinging arm badly fitted by the whole-object motion, the background) keep the other sources' votes.
   An object coasting because it is mostly behind one in view (`HIDDEN` of its lines) votes, for its first
   `HIDDEN_FRAMES` frames, with the transform the lines it shows give (`hint`), for regions outside the objects in
   view whose outline away from their lines lands on its own (what shows of a character passing behind another).
   Keyframe votes that land on an object's keyframe pixels from where it no longer is are vetoed (`bucket_veto`);
   those pixels (revealed scenery) are first given the flow of the nearest scenery around them, which the dense
   flow had dragged along.

Memory: a few crops per keyframe object, constant in shot length. Work is on sampled line pixels, vectorised. No
torch.
"""

from __future__ import annotations

import cv2
import numpy as np
import scipy.ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..lineart.regions import Regions
from . import bucket_track as track
from .bucket_limbs import LimbsMixin
from .bucket_match import NO_VOTE, _Key
from .bucket_objvotes import HIDDEN_FRAMES, ObjectVotesMixin
from .bucket_pose import (
    ALIGN,
    CLAIM,
    FIT,
    LINE_SAMPLES,
    MIN_PAIRS,
    RADIUS,
    SEARCH,
    PoseMixin,
    _at_rest,
    _crop_hits,
    _Obj,
)
from .bucket_veto import VetoMixin

OBJ_PART = 0.015  # of the frame: larger regions (clouds, houses, sky, ground) are scenery, never in an object: a
#                  character's parts are smaller, and scenery between two characters would glue them into one
BIG_PART = 0.05  # of the frame: regions up to this size, clear of the frame's edges, are parts too when they move
#                  against the scene (`MOVED`): a character large in the frame (a close-up, a small frame) has parts
#                  above `OBJ_PART`; scenery moves with the camera, and a foreground pole spans the frame
MOVED = 0.012  # of the longer side: how far against the scene's median motion over the `WATCH` frames that is
MIN_REGIONS = 4  # an object is a character of several parts: a lone blob (a ball, a leaf) is matched by its shape
#                  well enough elsewhere, and a simple outline fits onto any other simple outline
MIN_AREA = 0.002  # of the frame: smaller groups of parts are not tracked as objects
RESUME = 0.6  # ... and to take it up again after coasting
PRUNE = 0.3  # running share of a region's lines on current lines under which it leaves its object
COAST = 8  # frames an object fitting badly follows its prediction before it is lost
MOTION_GAP = 0.006  # of the longer side: touching part regions moving apart more than this (or 30% of their
#                    shift) in `APART` of the first `WATCH` frames after the keyframe are two objects
WATCH = 4  # frames after a keyframe watched before its objects are built
APART = 2  # frames of those that must see two touching parts move apart: in one alone it may be the flow (a pole
#            passing in front cut a character into fragments that each fit anywhere)
STRAY = 0.05  # of a group's area: a scenery piece the group's motion does not explain leaves it from this size
GATE = 0.04  # of the longer side: farthest a fit may land from the constant-velocity prediction
JUMP_COST = 0.1  # fit traded per RADIUS of distance from the constant-velocity prediction
ATTACH = 0.5  # share of an object's motion a touching part must follow to be attached to it (owned, not fitted)
PLACE = 0.5  # share of an object's lines inside another's predicted footprint that makes a fit take its place
REST = 0.05  # fit by which a re-found object's keyframe pose must beat the pose it was last seen in (else the
#             last one: a tie between the two flips the pose frame to frame)
HIDDEN = 0.3  # share of its in-frame lines behind objects in view for a coasting object to be hidden, not lost
HINT = 0.2  # fit of a coasting object's best transform for it to vote where nothing in front explains
TIE = 0.1  # fit within which two places an object's search lands on are a tie: the nearer the prediction is tried
#           first (a look-alike, or the character in front, may fit as well as the right place)


def _weighted_median(v: np.ndarray, w: np.ndarray) -> float:
    """The value of `v` at half the total weight `w` (0 when nothing weighs)."""
    order = np.argsort(v)
    c = np.cumsum(w[order])
    return float(v[order][min(int(np.searchsorted(c, 0.5 * c[-1])), len(v) - 1)]) if c[-1] > 0 else 0.0


def _strays(d: np.ndarray, w: np.ndarray, xy: np.ndarray, gap: float) -> np.ndarray:
    """bool [k]: members of one group of touching parts whose motion `d` [k, 2] (from the keyframe) the group's own
    motion does not explain. Pairs of touching parts join when they move alike, so scenery the dense flow dragged
    part of the way along (a cloud piece beside a head, a house behind a body) joins through a chain of small
    differences; against the whole group it is far off. The group's motion is affine in the part centroids `xy`
    [k, 2] (a turn or a squash moves parts apart smoothly), fitted on the parts near its weighted median motion
    (weights `w` [k], the root of each part's area: a large scenery piece cannot pull the fit its way). A part is a
    stray beyond `gap` px or 30% of the motion the fit gives it, as for a touching pair."""
    k = len(d)
    if k < 3 or w.sum() <= 0:
        return np.zeros(k, bool)
    med = np.array([_weighted_median(d[:, j], w) for j in (0, 1)])
    pred = np.broadcast_to(med, d.shape)
    for _ in range(2):
        tol = np.maximum(gap, 0.3 * np.hypot(*pred.T))
        ok = (np.hypot(*(d - pred).T) <= tol) & (w > 0)
        if ok.sum() < 3:
            break
        X = np.column_stack([xy - xy[ok].mean(axis=0), np.ones(k)])  # [k, 3]
        sw = np.sqrt(w[ok])[:, None]
        M = np.linalg.lstsq(X[ok] * sw, d[ok] * sw, rcond=None)[0]  # [3, 2]: d ~ X @ M
        pred = X @ M
    tol = np.maximum(gap, 0.3 * np.hypot(*pred.T))
    return (np.hypot(*(d - pred).T) > tol) & (w > 0)


class ObjectsMixin(VetoMixin, PoseMixin, LimbsMixin, ObjectVotesMixin):
    """Needs `config`, `_shape`, `_flow_size`, `_samples` (MatchMixin)."""

    # ---------------------------------------------------------------------------------------------- building
    def _key_motion(self, key: _Key) -> tuple[np.ndarray, np.ndarray]:
        """(float [n + 1, 2] mean motion (px) of each keyframe region from the keyframe to this frame through the
        keyframe's position map, int [n + 1] how many flow pixels measured it)."""
        reg = key.frame.regions
        H, W = self._shape
        fw, fh = self._flow_size()
        if getattr(key, "_small_lab", None) is None:
            key._small_lab = cv2.resize(reg.inner, (fw, fh), interpolation=cv2.INTER_NEAREST)
        c = key.chain
        ok = track.valid(c)
        kx = np.clip(np.rint(c[..., 0][ok]), 0, fw - 1).astype(np.int64)
        ky = np.clip(np.rint(c[..., 1][ok]), 0, fh - 1).astype(np.int64)
        lab = key._small_lab[ky, kx]
        d = (self._identity()[ok] - c[ok]) * (W / fw, H / fh)
        cnt = np.bincount(lab, minlength=reg.n + 1)
        m = np.stack([np.bincount(lab, weights=d[:, j], minlength=reg.n + 1) for j in (0, 1)], 1)
        return m / np.maximum(cnt, 1)[:, None], cnt

    def _watch(self, key: _Key, state: dict) -> bool:
        """Accumulate, over the first frames after keyframe `key`, how far apart its touching part regions move;
        True when enough frames were seen to build its objects."""
        reg = key.frame.regions
        H, W = self._shape
        if "src" not in state:
            part = (reg.area > 0) & (reg.area <= OBJ_PART * H * W)
            part[0] = False
            b = reg.bbox  # larger regions clear of the frame's edges may be parts too, if they move (`_build_objects`)
            inner = (b[:, 0] > 0) & (b[:, 1] > 0) & (b[:, 2] < W) & (b[:, 3] < H)
            cand = part | ((reg.area > 0) & (reg.area <= BIG_PART * H * W) & inner)
            cand[0] = False
            adj = reg.adjacency()
            src = np.repeat(np.arange(reg.n + 1), [len(a) for a in adj])
            dst = np.concatenate(adj) if reg.n else np.zeros(0, np.int64)
            keep = cand[src] & cand[dst] & (src < dst)
            apart = np.zeros(int(keep.sum()), np.int64)  # per touching pair: frames seen moving apart
            state.update(src=src[keep], dst=dst[keep], part=part, cand=cand, apart=apart, n=0, seen=None)
        d, cnt = self._key_motion(key)
        src, dst = state["src"], state["dst"]
        gap = np.hypot(*(d[src] - d[dst]).T)
        scale = np.maximum(MOTION_GAP * max(H, W), 0.3 * np.maximum(np.hypot(*d[src].T), np.hypot(*d[dst].T)))
        both = (cnt[src] >= 3) & (cnt[dst] >= 3)
        state["apart"] += both & (gap > scale)  # frames seen moving apart (one is a flow glitch: a pole passing)
        state["seen"] = cnt >= 3 if state["seen"] is None else state["seen"] | (cnt >= 3)
        state["n"] += 1
        state["prev_d"], state["d"] = state.get("d"), d
        return state["n"] >= WATCH

    def _build_objects(self, key: _Key, state: dict) -> list[_Obj]:
        """Objects of keyframe `key`, built `WATCH` frames after it: touching part regions join when the position map
        moved them alike all along (a character standing in front of a house is not one object with it)."""
        fr = key.frame
        reg = fr.regions
        H, W = self._shape
        n = reg.n
        part, seen = state["part"].copy(), state["seen"]
        big = state["cand"] & ~part & seen
        if big.any():  # a large part of a character big in the frame moves against the scene (the median motion)
            d, w = state["d"], reg.area.astype(np.float64) * seen
            scene = np.array([_weighted_median(d[:, j], w) for j in (0, 1)])
            part |= big & (np.hypot(*(d - scene).T) > MOVED * max(H, W))
        keep = (state["apart"] < APART) & part[state["src"]] & part[state["dst"]]
        src, dst = state["src"][keep], state["dst"][keep]
        g = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n + 1, n + 1))
        _, comp = connected_components(g, directed=False)
        comp = np.where(part & seen, comp, -1)
        # scenery dragged along leaves the group, neither in its object nor attached to it: a stray in a paint
        # that regions too large for a part have, touching one, and large in the group (its lines would pull the
        # fit to the cloud as the camera pans). A stray in a character's own paint is a swinging limb; a small one
        # a pocket of sky beside the head, whose lines are the head's too.
        gap = MOTION_GAP * max(H, W)
        big = (reg.area > 0) & ~state["part"]
        scenery_paint = np.zeros(int(fr.color.max()) + 1, bool)
        scenery_paint[fr.color[big]] = True
        adj = reg.adjacency()

        def scenery(rs: np.ndarray, group_area: float) -> np.ndarray:  # bool per region of `rs`
            out = scenery_paint[fr.color[rs]] & (reg.area[rs] >= STRAY * group_area)
            out[out] = [bool(big[adj[r]].any()) for r in rs[out]]
            return out

        stray = np.zeros(n + 1, bool)
        for c in np.unique(comp[comp >= 0]):
            ids = np.flatnonzero(comp == c)
            out = _strays(state["d"][ids], np.sqrt(reg.area[ids]), reg.centroid[ids], gap)
            out[out] = scenery(ids[out], reg.area[ids].sum())
            stray[ids[out]] = True
        comp[stray] = -1
        for r in np.flatnonzero(part & ~seen):  # too small for the flow (pupils): with their largest neighbour
            nb = [j for j in adj[r] if comp[j] >= 0]
            if nb:
                comp[r] = comp[max(nb, key=lambda j: reg.area[j])]
        fw, fh = self._flow_size()
        med, prev_d = state["d"], state["prev_d"]
        objs = []
        s_all, d_all = state["src"], state["dst"]
        for c in np.unique(comp[comp >= 0]):
            ids = np.flatnonzero(comp == c)
            if reg.area[ids].sum() < MIN_AREA * H * W or len(ids) < MIN_REGIONS:
                continue
            o = self._new_obj(key, ids)
            if o is None:
                continue
            wts = (reg.area[ids] * seen[ids])[:, None]
            shift = (med[ids] * wts).sum(axis=0) / max(wts.sum(), 1)
            # parts touching it that moved along with it, if not alike (arms swinging on a body; scenery stays put)
            inobj = comp == c
            touch = np.union1d(d_all[inobj[s_all]], s_all[inobj[d_all]])
            touch = touch[part[touch] & seen[touch] & ~inobj[touch] & ~stray[touch]]
            touch = touch[~scenery(touch, reg.area[ids].sum())]  # a hill piece the flow dragged half along is no arm
            if np.hypot(*shift) >= MOTION_GAP * max(H, W):
                along = med[touch] @ shift / (shift @ shift)
                o.attached = touch[along >= ATTACH]
            o.A[:, 2] = -shift
            guess = self._chain_guess(o, key.chain)
            if guess is not None:
                o.A = guess
            if prev_d is not None:
                o.vel = shift - (prev_d[ids] * wts).sum(axis=0) / max(wts.sum(), 1)
                o.vmean = shift / WATCH
            objs.append(o)
        return objs

    def _new_obj(self, key: _Key, ids: np.ndarray) -> _Obj | None:
        """An object of keyframe `key` made of its regions `ids` (crops of its lines, footprint and paints)."""
        fr = key.frame
        reg = fr.regions
        H, W = self._shape
        margin = max(4, round(0.02 * max(H, W)))
        t = self.config.align_tolerance
        fw, fh = self._flow_size()
        b = reg.bbox[ids]
        x0, y0 = max(int(b[:, 0].min()) - margin, 0), max(int(b[:, 1].min()) - margin, 0)
        x1, y1 = min(int(b[:, 2].max()) + margin, W), min(int(b[:, 3].max()) + margin, H)
        inobj = np.zeros(reg.n + 1, bool)
        inobj[ids] = True
        lab = reg.labels[y0:y1, x0:x1]
        pix = inobj[lab]
        lines = pix & fr.lineart.mask[y0:y1, x0:x1]
        if lines.sum() < MIN_PAIRS:
            return None
        k = np.ones((2 * t + 1, 2 * t + 1), np.uint8)
        near = cv2.dilate(lines.view(np.uint8), k).view(bool) if t else lines
        foot = cv2.dilate(pix.view(np.uint8), np.ones((5, 5), np.uint8)).view(bool)
        _, nearest = ndi.distance_transform_edt(~lines, return_indices=True)
        votes = np.where(inobj[reg.inner[y0:y1, x0:x1]], fr.votes_map[y0:y1, x0:x1], NO_VOTE).astype(np.uint16)
        ly, lx = np.nonzero(lines)
        step = max(1, len(lx) // LINE_SAMPLES)
        ly, lx = ly[::step], lx[::step]
        line_pts = np.stack([lx + x0, ly + y0], 1).astype(np.float64)
        sx, sy = fw / W, fh / H
        fc = (int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy)))
        o = _Obj(key.index, ids, x0, y0, near, foot, nearest.astype(np.int16), votes, line_pts, fc)
        o.line_part = np.searchsorted(ids, lab[ly, lx])  # which of `ids` each line sample outlines
        # samples on a line towards a region outside the object: a roof the flow dragged along with the character
        # in front of it shares its lower lines with the character, but its own edges stay with the scenery
        inner = reg.inner[y0:y1, x0:x1]
        out = ((inner > 0) & ~inobj[inner]).view(np.uint8)
        r = t + 2
        o.line_ext = cv2.dilate(out, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).view(bool)[ly, lx]
        o.part_hit = np.ones(len(ids))  # running share of each region's lines the transform lays on current lines
        o.tmpl = fr.flow_img[fc[1] : fc[3], fc[0] : fc[2]]
        o.tmask = cv2.resize(foot.view(np.uint8), (o.tmpl.shape[1], o.tmpl.shape[0]), interpolation=cv2.INTER_NEAREST)
        return o

    def _prune(self, o: _Obj, near_cur: np.ndarray, keys: list[_Key]) -> _Obj:
        """Regions that stop following the object (scenery it touched while both stood still at the keyframe) leave
        it: their lines miss under the object's transform while most of its lines land."""
        (cnt, share), (cnt_e, share_e) = self._part_line_shares(o, near_cur, [None, o.line_ext])
        ext = cnt_e >= 5
        cnt, share = np.where(ext, cnt_e, cnt), np.where(ext, share_e, share)
        seen = cnt >= 5
        o.part_hit[seen] = 0.7 * o.part_hit[seen] + 0.3 * share[seen]
        bad = o.part_hit < PRUNE
        key = next((k for k in keys if k.index == o.key_index), None)
        area = key.frame.regions.area[o.ids] if key is not None else None
        if not bad.any() or key is None or area[bad].sum() > 0.5 * area.sum():
            return o
        new = self._new_obj(key, o.ids[~bad])
        if new is None:
            return o
        new.A, new.vel, new.fit, new.miss, new.live, new.uid = o.A, o.vel, o.fit, o.miss, o.live, o.uid
        new.vmean = o.vmean
        new.attached = o.attached
        new.part_hit = o.part_hit[~bad]
        return new

    # ---------------------------------------------------------------------------------------------- tracking
    def _track_objects(self, la, regions: Regions, cur_img: np.ndarray, keys: list[_Key], i: int, own) -> None:
        """Advance every object one frame (build those of a keyframe reached now); store their votes for `_match`."""
        if i == 0 or not hasattr(self, "_objs"):
            self._objs = []
        self._obj_votes = None
        self._owned = []  # (object, current regions its votes reach): their pixels are its, not the chain's
        self._in_view = None
        self._key_taken = {}
        self._claims = {}  # keyframe index -> [(current region, keyframe part it is)]: see `bucket_veto`
        self._obj_src = None
        self._front_lines = None
        self._covers = []
        self._feet = None
        self._reach_frame = {}  # id(object) -> its reach in this frame (`bucket_veto._reach_here`)
        self._padded = self._chain_px = None  # per-frame caches of the pose fits (bucket_pose)
        if i == 0:
            self._pending = {}
        if own is not None:  # a keyframe: its objects are built after watching how its regions move
            self._objs = [o for o in self._objs if o.key_index != own.index]
            self._pending[own.index] = {}
        built = []
        for k in keys:
            if k.index in self._pending and k.index < i and k.chain is not None:
                if self._watch(k, self._pending[k.index]):
                    built += self._build_objects(k, self._pending.pop(k.index))
        if not self._objs and not built:
            return
        H, W = self._shape
        ys, xs = np.nonzero(la.mask)
        pts = np.stack([xs, ys], 1).astype(np.float64)
        near_cur = cv2.dilate(la.mask.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
        # best-fitting first; the lines an object lays its own lines on are its, not free for the others: the one in
        # front keeps its lines, the one behind fits what is left (or coasts) and cannot take the front one's place
        claimed = np.zeros(len(pts), bool)
        pruned, covers = [], []
        self._placed = [(k, self._predict(k)) for k in self._objs if k.live and k.miss == 0 and k.fit >= FIT]
        self._occl = None
        for o in self._front_first(near_cur):
            if not o.live or any(o is b for b in built) or (own is not None and o.key_index == own.index):
                continue  # its own keyframe: identity
            key = next((k for k in keys if k.index == o.key_index), None)
            free, near = pts, near_cur
            if claimed.any():
                free = pts[~claimed]
                near = track.near_points(free, H, W)
            self._step(o, free, near, None if key is None or key.index >= i else key.chain, cur_img)
            if o.live and o.miss == 0:
                claimed |= self._on_lines(o, pts)
                if o.fit >= FIT:
                    pruned.append((o, self._prune(o, near_cur, keys)))
                fp = self._in_frame_of(o.foot.view(np.uint8), o.A, o.ox, o.oy)
                self._occl = fp if self._occl is None else self._occl | fp
                if o.fit >= FIT:
                    covers.append(o)
        front, self._occl = self._occl, None
        self._in_view = front  # bool [H, W] footprints of the objects fitted in this frame (None: none)
        samples = self._samples(la, regions)
        align, best, partial = self._region_alignment(regions, samples)
        swap = {id(a): b for a, b in pruned}
        self._objs = [swap.get(id(o), o) for o in self._objs] + built
        self._covers = [swap.get(id(o), o) for o in covers]
        if self._covers:  # where each one's footprint lies now (front first): the next frame's `_left_in_prev`
            feet = np.full((H, W), -1, np.int16)
            for j, o in enumerate(self._covers):
                feet[self._in_frame_of(o.foot.view(np.uint8), o.A, o.ox, o.oy) & (feet < 0)] = j
            self._feet = (feet, [o.uid for o in self._covers])
        self._occl = front  # a character found again may still be half behind one in view
        found = self._reacquire(la, regions, cur_img, keys, i, pts, near_cur, align)
        self._occl = None
        self._front_lines = (pts[claimed], align)  # current line pixels that objects in view lay their lines on
        if own is None:
            if found or built or any(a is not b for a, b in pruned):  # else: the objects it was computed for
                align, best, partial = self._region_alignment(regions, samples)
                self._front_lines = (pts[claimed], align)
            self._obj_votes = self._votes(regions, align, best, partial, keys, near_cur)
            self._key_taken = self._taken_in_keys(regions, align, best, keys)
            lv, lw = self._limb_votes(regions, samples, align, keys, ALIGN, near_cur)  # parts turning on their own
            self._obj_votes = (self._obj_votes[0] + lv, self._obj_votes[1] + lw)
            hv, hw = self._hidden_votes(regions, samples, align, pts[claimed])
            self._obj_votes = (self._obj_votes[0] + hv, self._obj_votes[1] + hw)

    def _front_first(self, near_cur: np.ndarray) -> list[_Obj]:
        """Live objects, those in front first (`_front_scores`, ties by last frame's fit)."""
        live = [o for o in self._objs if o.live]
        front = self._front_scores(live, near_cur)
        return sorted(live, key=lambda o: (-round(front[id(o)], 1), -o.fit))

    def _front_scores(self, live: list[_Obj], near_cur: np.ndarray) -> dict[int, float]:
        """{id(object): how much it is in front} for `live`: where two footprints overlap, the one in front shows its
        lines there (at last frame's transforms) and the one behind does not; the score is the smallest share, over
        the others, of its lines inside another's footprint that lie on current lines (1.0 where it overlaps none).
        Only lines away from the other's own lines count: two characters drawn alike, nearly on top of each other,
        lay half their lines on each other's, and those said "in front" of both alike (the one behind came out at
        ~0.6, was fitted first and took the front one's lines)."""
        H, W = self._shape
        front = {}
        for o in live:
            inside, p = self._visible(o, o.A)
            p = p[inside]
            score = 1.0
            for k in live:
                if k is o or len(p) == 0:
                    continue
                ok = self._off_lines(k, p, 2 * CLAIM)
                if ok.sum() >= MIN_PAIRS:
                    c = np.rint(p[ok]).astype(np.int64)
                    score = min(score, float(near_cur[np.minimum(c[:, 1], H - 1), np.minimum(c[:, 0], W - 1)].mean()))
            front[id(o)] = score
        return front

    def _step(self, o: _Obj, pts, near_cur, chain, cur_img) -> None:
        H, W = self._shape
        pred = self._predict(o)
        radius = RADIUS * max(H, W)
        best = None
        guess = self._chain_guess(o, chain)
        found = self._search(o, pred, cur_img)
        p0 = o.pos(pred)

        def judged(A):  # (fit, A, lines in view, fit less the cost of the jump), None for a jump no motion explains
            if np.hypot(*(o.pos(A) - p0)) > GATE * max(H, W):
                return None  # another character drawn alike, not this one
            if self._takes_place(o, A, pred):
                return None
            f, nv = self._fit(o, A, near_cur)
            return f, A, nv, f - JUMP_COST * np.hypot(*(o.pos(A) - p0)) / (SEARCH * max(H, W))

        # every starting guess gets a shift search (cheap; guesses that land together once); the best (of near ties,
        # the nearest the prediction) goes on to the rotation/squash search and closest points, the costly steps
        # (the next one if those fail)
        starts, shifted, cands = [], [], []
        rest = _at_rest(o, pred) if o.miss else None  # coasting: maybe stuck in a wrong rotation or squash
        for A0 in (pred, found, guess, rest):
            if A0 is None or any(np.abs(A0 - B).max() < 0.5 for B in starts):
                continue
            starts.append(A0)
            shifted.append(self._chamfer(o, A0, near_cur, shapes=False))
            c = judged(shifted[-1])
            if c is not None:
                cands.append(c)
        top = max((x[0] for x in cands), default=0.0)
        ties = sorted((x for x in cands if x[0] >= top - TIE), key=lambda x: np.hypot(*(o.pos(x[1]) - p0)))
        for c in ties + sorted((x for x in cands if x[0] < top - TIE), key=lambda x: -x[3]):
            A = self._icp(o, pts, self._chamfer(o, c[1], near_cur), radius)
            best = judged(A) if A is not None else None
            if best is not None:
                break
        old = o.pos()
        if best is not None and best[0] >= (FIT if o.miss == 0 else RESUME):
            o.fit, o.A = best[0], best[1]
            o.hint = None
            o.vel = o.pos() - old
            o.vmean = o.vel if o.miss else 0.8 * o.vmean + 0.2 * o.vel
            o.miss = 0
            o.live = True
            return
        o.A = pred  # hidden or lost: coast on the prediction
        o.fit = 0.0 if best is None else best[0]
        hint = None  # hidden behind one in front: its place is taken, and the lines it shows place it
        for A in shifted if o.miss < HIDDEN_FRAMES else ():  # (votes only in its first coasting frames)
            if np.hypot(*(o.pos(A) - p0)) <= GATE * max(H, W):
                f, nv = self._fit(o, A, near_cur, seen=MIN_PAIRS)
                if nv <= (1.0 - HIDDEN) * self._in_frame and (hint is None or f > hint[0]):
                    hint = (f, A)
        o.hint = hint[1] if hint is not None and hint[0] >= HINT else None
        o.miss += 1
        self._visible(o, pred)  # sets self._in_frame: its lines inside the frame, hidden or not
        gone = self._in_frame < 0.2 * len(o.line_pts)  # (almost) out of the frame, not hidden behind one in front:
        #                                                dormant until a new cluster there matches it
        if o.miss > COAST or gone:
            o.live = False
            o.vel = np.zeros(2) if gone else o.vel

    def _takes_place(self, o: _Obj, A: np.ndarray, pred: np.ndarray) -> bool:
        """Whether transform A puts `o` where another object, fitted last frame, is predicted to be now, and not
        where `o` itself is predicted (anywhere, for an object coasting): characters drawn alike swap identities that
        way when they cross."""
        cur = (o.line_pts - A[:, 2]) @ np.linalg.inv(A[:, :2]).T  # its keyframe lines, in this frame

        def share(k, Ak):  # of those lines, inside k's footprint placed by Ak
            return _crop_hits(k.foot, k, Ak, cur).mean()

        others = [(k, Ak) for k, Ak in self._placed if k is not o]
        if not any(share(k, Ak) > PLACE for k, Ak in others):
            return False
        return o.miss > 0 or share(o, pred) <= PLACE  # one coasting never resumes on a tracked one's place

    def _in_frame_of(self, crop: np.ndarray, A: np.ndarray, x0: int, y0: int) -> np.ndarray:
        """bool [H, W]: a uint8 keyframe crop at (x0, y0) brought into the current frame by A (current -> keyframe)."""
        H, W = self._shape
        M = A.copy()
        M[:, 2] -= (x0, y0)
        return cv2.warpAffine(crop, M, (W, H), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP).view(bool)

    # ---------------------------------------------------------------------------------------------- re-entry
    def _reacquire(self, la, regions, cur_img, keys, i, pts, near_cur, align) -> bool:
        """Lost and dormant objects are searched for among the clusters of part regions no live object explains;
        True when one was found."""
        cfg = self.config
        lost = [o for o in self._objs if not o.live or o.miss]
        if not lost:
            return False
        H, W = self._shape
        part = (regions.area > 0) & (regions.area <= cfg.reid_part * H * W) & (align < ALIGN)
        part[0] = False
        if not part.any():
            return False
        fw, fh = self._flow_size()
        # the part regions no live object explains, in connected pieces (across the lines between them)
        small = cv2.dilate(self._small(part, regions).view(np.uint8), np.ones((3, 3), np.uint8))
        n, comp, stats, _ = cv2.connectedComponentsWithStats(small, connectivity=8)
        taken = False
        shown = [k for k in self._objs if k.live and not k.miss and k.fit >= FIT]
        for c in range(1, n):
            if stats[c, cv2.CC_STAT_AREA] < max(32, MIN_AREA * fw * fh):
                continue
            bx, by, bw, bh = stats[c, :4]
            cands = {}  # object -> (fit less its pose's margin, fit, transform)
            for o in lost:
                if not o.live or o.miss:  # one cluster per object per frame
                    # not where an object in view stands: a character drawn alike correlates as well there
                    avoid = [(k.pos(), 0.25 * max(o.foot.shape)) for k in shown if k is not o]
                    A0 = self._locate(o, cur_img, (bx, by, bw, bh), avoid)
                    if A0 is None:
                        continue
                    for S, margin in ((A0, 0.0), (_at_rest(o, A0), REST)):  # as last seen; keyframe pose
                        A = self._icp(o, pts, self._chamfer(o, S, near_cur), RADIUS * max(H, W))
                        if A is None:
                            continue
                        f, _ = self._fit(o, A, near_cur)
                        if f - margin >= RESUME and (o not in cands or f - margin > cands[o][0]):
                            cands[o] = (f - margin, f, A)
            if not cands:
                continue
            # characters drawn alike fit a cluster alike: of near ties, the one expected nearest (coasting on its
            # prediction, or where it left the frame) is the one that came back
            top = max(v[0] for v in cands.values())
            ties = [k for k, v in cands.items() if v[0] >= top - TIE]
            o = min(ties, key=lambda k: np.hypot(*(k.pos(cands[k][2]) - k.pos())))
            _, f, A = cands[o]
            vel = np.zeros(2)  # one back from outside the frame: its motion before it left says nothing now
            if o.live and o.miss:  # lost for a few frames (moved farther than `GATE` from a stale prediction): its
                vel = o.vmean + (o.pos(A) - o.pos()) / o.miss  # mean motion since, or the next frame loses it again
                o.vmean = vel
            o.A, o.fit, o.vel, o.miss, o.live = A, f, vel, 0, True
            taken = True
            shown.append(o)  # a later cluster (a piece of the same character) is not located on it again
        return taken
