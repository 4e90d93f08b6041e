"""Object-level tracking for the paint-bucket matcher (`lvcd.backends.bucket`): identity through crossings and exits.

The position maps of `bucket_track` are per pixel: when two characters drawn alike cross (one passes behind the
other) or one leaves and re-enters the frame, the dense flow drags the occluder's keyframe positions onto the one that
emerges, and that one is painted with the other's paints from then on. Here each character keeps its identity by
motion continuity instead:

1. At each keyframe, objects are the connected groups of character-part-sized regions (regions larger than
   `OBJ_PART` of the frame are scenery) that the position map moves alike over the next `WATCH` frames. Each keeps
   crops of its own keyframe lines, of the nearest own line pixel of every crop pixel (a Euclidean distance
   transform), of its footprint and of its paints.
2. Per frame, each object's affine transform (current frame -> keyframe) is predicted with constant velocity, then
   refined by iterated closest points: the current frame's line pixels inside the predicted footprint are paired
   with the nearest line of THAT object only, pairs farther than a shrinking radius (and than 2.5 x their median)
   are dropped, so occluding or foreign lines fall out; the linear part is pulled towards the previous one (sizes
   and shears change slowly), so a look-alike of another size is not taken for this one. The fit is the share of
   the object's visible keyframe lines that the transform lays on current lines.
3. An object fitting badly coasts on its prediction (hidden behind another) for `objects_coast` frames, then is
   lost; one whose footprint leaves the frame is dormant. A cluster of part regions that no live object explains is
   matched against lost and dormant objects only (masked correlation in the object's keyframe crop, then the fit),
   never against objects in view.
4. Votes: each part region takes, from the live object whose transform lays its outline best onto that object's
   keyframe lines (share of outline pixels within `align_tolerance`), that object's keyframe paints under the
   transform, weighted by `objects_weight` x alignment^2. Regions no object explains (a swinging arm badly fitted by
   the whole-object motion, the background) keep the other sources' votes.

Memory: a few crops per keyframe object, constant in shot length. Work is on sampled line pixels, vectorised. No
torch.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import scipy.ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..lineart.regions import Regions
from . import bucket_track as track
from .bucket_match import NO_VOTE, _Key

_UIDS = itertools.count()
SQUASHES = [(1.0, 1.0), (1.04, 1 / 1.04), (1 / 1.04, 1.04), (1.015, 1.015), (1 / 1.015, 1 / 1.015)]
AREA_STEP = 0.015  # most a fit may change an object's size per frame (x its linear size)
MAX_POINTS = 4000  # current-frame line pixels used per object fit (sampled evenly)
LINE_SAMPLES = 600  # keyframe line pixels per object for the fit score
MIN_PAIRS = 12  # closest-point pairs a transform update needs
OBJ_PART = 0.015  # of the frame: larger regions (clouds, houses, sky, ground) are scenery, never in an object: a
#                  character's parts are smaller, and scenery between two characters would glue them into one
MIN_AREA = 0.002  # of the frame: smaller groups of parts are not tracked as objects
ITERS = 12  # closest-point iterations per fit
RIGIDITY = 0.05  # pull of the linear part towards the previous frame's (x the points' spread)
SHIFT = 0.012  # of the longer side: shifts searched around each starting transform
RADIUS = 0.004  # of the longer side: pairing radius of the first iteration (halved each one, down to 2 px)
SEARCH = 0.04  # of the longer side: shifts searched around the predicted place by correlation
FIT = 0.4  # share of its visible keyframe lines an object's transform must lay on current lines to update it
RESUME = 0.6  # ... and to take it up again after coasting
PRUNE = 0.3  # running share of a region's lines on current lines under which it leaves its object
COAST = 8  # frames an object fitting badly follows its prediction before it is lost
MOTION_GAP = 0.006  # of the longer side: touching part regions moving apart more than this (or 30% of their
#                    shift) in any of the first `WATCH` frames after the keyframe are two objects
WATCH = 4  # frames after a keyframe watched before its objects are built
GATE = 0.04  # of the longer side: farthest a fit may land from the constant-velocity prediction
JUMP_COST = 0.1  # fit traded per RADIUS of distance from the constant-velocity prediction
CLAIM = 2.5  # px: current line pixels this close to an object's own lines are its, not free for objects behind
ALIGN = 0.6  # outline share on an object's own lines for a region to take that object's votes


class _Obj:
    """One keyframe object: crops of its keyframe state and its current transform (current -> keyframe px)."""

    def __init__(self, key_index, ids, ox, oy, near, foot, nearest, votes, line_pts, flow_crop):
        self.key_index = key_index
        self.ids = ids  # keyframe region ids
        self.ox, self.oy = ox, oy  # crop origin in the keyframe (px)
        self.near = near  # bool crop: within align tolerance of its own lines
        self.foot = foot  # bool crop: its regions and lines, dilated
        self.nearest = nearest  # int16 [2, h, w] (y, x) in the crop of the nearest own line pixel
        self.votes = votes  # uint16 crop: its paints on its interior, NO_VOTE elsewhere
        self.line_pts = line_pts  # float [m, 2] (x, y) keyframe coords of sampled own line pixels
        self.flow_crop = flow_crop  # (x0, y0, x1, y1) at flow resolution
        self.center = line_pts.mean(axis=0)
        self.uid = next(_UIDS)  # kept when regions are pruned from it
        self.A = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        self.vel = np.zeros(2)  # px / frame in the current frame
        self.vmean = np.zeros(2)  # its running mean
        self.fit = 1.0
        self.miss = 0
        self.live = True

    def pos(self, A=None) -> np.ndarray:
        """Where the keyframe centre lies in the current frame under A (default: the current transform)."""
        A = self.A if A is None else A
        return np.linalg.solve(A[:, :2], self.center - A[:, 2])


def _apply(A: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ A[:, :2].T + A[:, 2]


def _solve(p: np.ndarray, q: np.ndarray, L0: np.ndarray, lam: float) -> np.ndarray:
    """Affine A (2x3) minimising sum |A p - q|^2 + mu |L - L0|^2 (L the linear part, mu = `lam` x the points'
    spread): the translation is free, the linear part stays near the previous one."""
    m = p.mean(axis=0)
    pc, qc = p - m, q - q.mean(axis=0)
    S = pc.T @ pc
    mu = lam * np.trace(S) / 2 + 1e-6
    L = (qc.T @ pc + mu * L0) @ np.linalg.inv(S + mu * np.eye(2))
    return np.concatenate([L, (q.mean(axis=0) - L @ m)[:, None]], axis=1)


def _constrain(A: np.ndarray, L0: np.ndarray) -> np.ndarray:
    """A with its linear part made a rotation times an axis-aligned scale (squash and stretch, no shear), scales
    within [0.7, 1.4], the rotation within 0.5 rad and the area within `AREA_STEP` of L0's (characters drawn alike
    differ in size: a size that jumps is another character)."""
    L = A[:, :2]
    a0, a = np.sqrt(abs(np.linalg.det(L0))), np.sqrt(abs(np.linalg.det(L)))
    if a > 0:
        L = L * np.clip(a, a0 * (1 - AREA_STEP), a0 * (1 + AREA_STEP)) / a
    U, _, Vt = np.linalg.svd(L)
    R = U @ Vt
    if np.linalg.det(R) < 0:
        return A
    ang = float(np.clip(np.arctan2(R[1, 0], R[0, 0]), -0.5, 0.5))
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    sc = np.clip(np.diag(R.T @ L), 0.7, 1.4)
    out = A.copy()
    out[:, :2] = R * sc[None, :]
    return out


class ObjectsMixin:
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
            adj = reg.adjacency()
            src = np.repeat(np.arange(reg.n + 1), [len(a) for a in adj])
            dst = np.concatenate(adj) if reg.n else np.zeros(0, np.int64)
            keep = part[src] & part[dst] & (src < dst)
            state.update(src=src[keep], dst=dst[keep], part=part, ratio=np.zeros(int(keep.sum())), n=0, seen=None)
        d, cnt = self._key_motion(key)
        src, dst = state["src"], state["dst"]
        gap = np.hypot(*(d[src] - d[dst]).T)
        scale = np.maximum(MOTION_GAP * max(H, W), 0.3 * np.maximum(np.hypot(*d[src].T), np.hypot(*d[dst].T)))
        both = (cnt[src] >= 3) & (cnt[dst] >= 3)
        state["ratio"] = np.maximum(state["ratio"], np.where(both, gap / scale, 0.0))
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
        part, seen = state["part"], state["seen"]
        keep = state["ratio"] <= 1.0
        src, dst = state["src"][keep], state["dst"][keep]
        g = coo_matrix((np.ones(len(src)), (src, dst)), shape=(n + 1, n + 1))
        _, comp = connected_components(g, directed=False)
        comp = np.where(part & seen, comp, -1)
        adj = reg.adjacency()
        for r in np.flatnonzero(part & ~seen):  # too small for the flow (pupils): with their largest neighbour
            nb = [j for j in adj[r] if comp[j] >= 0]
            if nb:
                comp[r] = comp[max(nb, key=lambda j: reg.area[j])]
        fw, fh = self._flow_size()
        med, prev_d = state["d"], state["prev_d"]
        objs = []
        for c in np.unique(comp[comp >= 0]):
            ids = np.flatnonzero(comp == c)
            if reg.area[ids].sum() < MIN_AREA * H * W or len(ids) < 2:
                continue
            o = self._new_obj(key, ids)
            if o is None:
                continue
            wts = (reg.area[ids] * seen[ids])[:, None]
            shift = (med[ids] * wts).sum(axis=0) / max(wts.sum(), 1)
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
        o.part_hit = np.ones(len(ids))  # running share of each region's lines the transform lays on current lines
        o.tmpl = fr.flow_img[fc[1] : fc[3], fc[0] : fc[2]]
        o.tmask = cv2.resize(foot.view(np.uint8), (o.tmpl.shape[1], o.tmpl.shape[0]), interpolation=cv2.INTER_NEAREST)
        return o

    def _prune(self, o: _Obj, near_cur: np.ndarray, keys: list[_Key]) -> _Obj:
        """Regions that stop following the object (scenery it touched while both stood still at the keyframe) leave
        it: their lines miss under the object's transform while most of its lines land."""
        H, W = self._shape
        inside, p = self._visible(o, o.A)
        q = np.rint(p[inside]).astype(np.int64)
        hit = near_cur[np.minimum(q[:, 1], H - 1), np.minimum(q[:, 0], W - 1)]
        part = o.line_part[inside]
        cnt = np.bincount(part, minlength=len(o.ids))
        share = np.bincount(part, weights=hit, minlength=len(o.ids)) / np.maximum(cnt, 1)
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
        new.part_hit = o.part_hit[~bad]
        return new

    # ---------------------------------------------------------------------------------------------- tracking
    def _track_objects(self, la, regions: Regions, cur_img: np.ndarray, keys: list[_Key], i: int, own) -> None:
        """Advance every object one frame (build those of a keyframe reached now); store their votes for `_match`."""
        if i == 0 or not hasattr(self, "_objs"):
            self._objs = []
        self._obj_votes = None
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
        pruned = []
        self._occl = None
        for o in self._front_first(near_cur):
            if not o.live or any(o is b for b in built) or (own is not None and o.key_index == own.index):
                continue  # its own keyframe: identity
            key = next((k for k in keys if k.index == o.key_index), None)
            free, near = pts, near_cur
            if claimed.any():
                free = pts[~claimed]
                img = np.zeros((H, W), np.uint8)
                img[free[:, 1].astype(np.int64), free[:, 0].astype(np.int64)] = 1
                near = cv2.dilate(img, np.ones((3, 3), np.uint8)).view(bool)
            self._step(o, free, near, None if key is None or key.index >= i else key.chain, cur_img)
            if o.live and o.miss == 0:
                claimed |= self._on_lines(o, pts)
                if o.fit >= FIT:
                    pruned.append((o, self._prune(o, near_cur, keys)))
                M = o.A.copy()
                M[:, 2] -= (o.ox, o.oy)
                fp = cv2.warpAffine(o.foot.view(np.uint8), M, (W, H), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
                self._occl = fp.view(bool) if self._occl is None else self._occl | fp.view(bool)
        front, self._occl = self._occl, None
        samples = self._samples(la, regions)
        align, best = self._region_alignment(regions, samples)
        swap = {id(a): b for a, b in pruned}
        self._objs = [swap.get(id(o), o) for o in self._objs] + built
        self._occl = front  # a character found again may still be half behind one in view
        self._reacquire(la, regions, cur_img, keys, i, pts, near_cur, align)
        self._occl = None
        if own is None:
            align, best = self._region_alignment(regions, samples)
            self._obj_votes = self._votes(regions, align, best)

    def _front_first(self, near_cur: np.ndarray) -> list[_Obj]:
        """Live objects, those in front first: where two footprints overlap, the one in front still shows its lines
        there (at last frame's transforms) and the one behind does not."""
        H, W = self._shape
        live = [o for o in self._objs if o.live]
        front = {}
        for o in live:
            inside, p = self._visible(o, o.A)
            p = p[inside]
            score = 1.0
            for k in live:
                if k is o or len(p) == 0:
                    continue
                h, w = k.foot.shape
                q = np.rint(_apply(k.A, p) - (k.ox, k.oy)).astype(np.int64)
                ok = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
                ok[ok] = k.foot[q[ok, 1], q[ok, 0]]
                if ok.sum() >= MIN_PAIRS:
                    c = np.rint(p[ok]).astype(np.int64)
                    score = min(score, float(near_cur[np.minimum(c[:, 1], H - 1), np.minimum(c[:, 0], W - 1)].mean()))
            front[id(o)] = score
        return sorted(live, key=lambda o: (-round(front[id(o)], 1), -o.fit))

    def _on_lines(self, o: _Obj, p: np.ndarray) -> np.ndarray:
        """bool [len(p)]: points that the object's transform lays on its own keyframe lines."""
        h, w = o.near.shape
        f = _apply(o.A, p) - (o.ox, o.oy)
        q = np.rint(f).astype(np.int64)
        ok = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
        qy, qx = q[ok, 1], q[ok, 0]
        ok[ok] = o.foot[qy, qx] & (np.hypot(o.nearest[1][qy, qx] - f[ok, 0], o.nearest[0][qy, qx] - f[ok, 1]) <= CLAIM)
        return ok

    def _predict(self, o: _Obj) -> np.ndarray:
        """Constant velocity: A_pred(p) = A(p - vel); an object coasting (hidden) moves with its mean velocity over
        the last frames instead (hops and bounces average out)."""
        A = o.A.copy()
        A[:, 2] -= A[:, :2] @ (o.vel if o.miss == 0 else o.vmean)
        return A

    def _visible(self, o: _Obj, A: np.ndarray) -> np.ndarray:
        """bool [m]: the object's sampled keyframe line pixels that A places inside the current frame, and where."""
        H, W = self._shape
        p = (o.line_pts - A[:, 2]) @ np.linalg.inv(A[:, :2]).T
        inside = (p[:, 0] >= 0) & (p[:, 0] < W) & (p[:, 1] >= 0) & (p[:, 1] < H)
        front = getattr(self, "_occl", None)
        if front is not None:  # hidden behind an object in front: neither seen nor missed
            q = np.rint(p[inside]).astype(np.int64)
            inside[inside] = ~front[np.minimum(q[:, 1], H - 1), np.minimum(q[:, 0], W - 1)]
        return inside, p

    def _fit(self, o: _Obj, A: np.ndarray, near_cur: np.ndarray) -> tuple[float, int]:
        """(share of the object's visible keyframe lines that A lays on current lines, visible count)."""
        inside, p = self._visible(o, A)
        nv = int(inside.sum())
        if nv < MIN_PAIRS:
            return 0.0, nv
        H, W = self._shape
        q = np.rint(p[inside]).astype(np.int64)
        q[:, 0] = np.minimum(q[:, 0], W - 1)
        q[:, 1] = np.minimum(q[:, 1], H - 1)
        return float(near_cur[q[:, 1], q[:, 0]].mean()), nv

    def _icp(self, o: _Obj, pts: np.ndarray, A: np.ndarray, radius: float) -> np.ndarray | None:
        h, w = o.foot.shape
        L0 = A[:, :2].copy()
        # current line pixels inside the footprint predicted by A (a box first, cheap)
        corners = np.array([[o.ox, o.oy], [o.ox + w, o.oy], [o.ox, o.oy + h], [o.ox + w, o.oy + h]], np.float64)
        cc = (corners - A[:, 2]) @ np.linalg.inv(A[:, :2]).T
        lo, hi = cc.min(axis=0) - radius, cc.max(axis=0) + radius
        sel = (pts[:, 0] >= lo[0]) & (pts[:, 0] < hi[0]) & (pts[:, 1] >= lo[1]) & (pts[:, 1] < hi[1])
        p = pts[sel]
        if len(p) > MAX_POINTS:
            p = p[:: len(p) // MAX_POINTS + 1]
        if len(p) < MIN_PAIRS:
            return None
        r = radius
        for _ in range(ITERS):
            q = _apply(A, p) - (o.ox, o.oy)
            qi = np.rint(q).astype(np.int64)
            ok = (qi[:, 0] >= 0) & (qi[:, 0] < w) & (qi[:, 1] >= 0) & (qi[:, 1] < h)
            ok[ok] = o.foot[qi[ok, 1], qi[ok, 0]]
            if ok.sum() < MIN_PAIRS:
                return None
            qy, qx = o.nearest[0][qi[ok, 1], qi[ok, 0]], o.nearest[1][qi[ok, 1], qi[ok, 0]]
            tgt = np.stack([qx, qy], 1).astype(np.float64)
            d = np.hypot(*(tgt - q[ok]).T)
            keep = d <= max(1.5, min(r, 2.5 * np.median(d)))
            if keep.sum() < MIN_PAIRS:
                return None
            pk = p[ok][keep]
            A = _solve(pk, tgt[keep] + (o.ox, o.oy), L0, RIGIDITY)
            c = pk.mean(axis=0)
            B = _constrain(A, L0)
            B[:, 2] += _apply(A, c[None])[0] - _apply(B, c[None])[0]
            A = B
            r = max(2.0, 0.5 * r)
        return A

    def _chain_guess(self, o: _Obj, chain: np.ndarray | None) -> np.ndarray | None:
        """The affine motion the keyframe's position map gives the object: least squares over the current pixels
        (flow resolution) it places inside the object's keyframe footprint."""
        if chain is None:
            return None
        H, W = self._shape
        fh, fw = chain.shape[:2]
        c = chain[::2, ::2].reshape(-1, 2) * (W / fw, H / fh)
        h, w = o.foot.shape
        q = np.rint(c - (o.ox, o.oy)).astype(np.int64)
        ok = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
        ok[ok] = o.foot[q[ok, 1], q[ok, 0]]
        if ok.sum() < MIN_PAIRS:
            return None
        gy, gx = np.mgrid[0:fh:2, 0:fw:2]
        p = np.stack([gx.ravel(), gy.ravel()], 1)[ok] * (W / fw, H / fh)
        p, q = p.astype(np.float64), c[ok].astype(np.float64)
        A = _solve(p, q, o.A[:, :2], RIGIDITY)
        B = _constrain(A, o.A[:, :2])
        m = p.mean(axis=0)
        B[:, 2] += _apply(A, m[None])[0] - _apply(B, m[None])[0]
        return B

    def _search(self, o: _Obj, A: np.ndarray, cur_img: np.ndarray) -> np.ndarray | None:
        """A corrected by the shift that best aligns the current frame, warped into the keyframe by A, with the
        object's keyframe distance-to-line image (masked correlation within `SEARCH` of the longer side, flow
        resolution; nearer shifts are preferred). Dense line drawings trap closest points within a line spacing of
        where they start: this brings them within it."""
        H, W = self._shape
        fh, fw = cur_img.shape
        sx, sy = fw / W, fh / H
        x0, y0, x1, y1 = o.flow_crop
        m = max(2, round(SEARCH * max(fw, fh)))
        S = np.diag([sx, sy])
        Ai = np.linalg.inv(A[:, :2])
        # dst (u, v) -> key flow (u + x0 - m, v + y0 - m) -> key full -> cur full (A^-1) -> cur flow
        L = S @ Ai @ np.linalg.inv(S)
        t = S @ (Ai @ (np.linalg.inv(S) @ np.array([x0 - m, y0 - m]) - A[:, 2]))
        M = np.concatenate([L, t[:, None]], axis=1)
        size = (x1 - x0 + 2 * m, y1 - y0 + 2 * m)
        warped = cv2.warpAffine(cur_img, M, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0)
        if o.tmask.sum() < 16 or o.tmpl.shape[0] > size[1] or o.tmpl.shape[1] > size[0]:
            return None
        try:
            res = cv2.matchTemplate(warped, o.tmpl, cv2.TM_CCOEFF_NORMED, mask=o.tmask)
        except cv2.error:
            return None
        res = np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)
        yy, xx = np.mgrid[0 : res.shape[0], 0 : res.shape[1]]
        res -= 0.1 * np.hypot(xx - m, yy - m) / m
        ey, ex = np.unravel_index(int(np.argmax(res)), res.shape)
        out = A.copy()
        out[:, 2] -= ((ex - m) / sx, (ey - m) / sy)
        return out

    def _chamfer(self, o: _Obj, A: np.ndarray, near: np.ndarray) -> np.ndarray:
        """A refined by exhaustive search: shifts within `SHIFT` of the longer side, then small rotations and
        squashes about the object's centre, each scored by the share of the object's visible keyframe lines that land
        on (free) current lines. Closest points alone stay trapped within a line spacing of where they start."""
        H, W = self._shape
        inside, p = self._visible(o, A)
        if inside.sum() < MIN_PAIRS:
            return A
        p = p[inside]
        c = p.mean(axis=0)
        r = max(2, round(SHIFT * max(H, W)))
        st = max(1, r // 8)
        d = np.arange(-r, r + 1, st)
        sh = np.stack(np.meshgrid(d, d), -1).reshape(-1, 2).astype(np.float64)

        def score(M, shifts):
            q = (p - c) @ M.T + c  # [m, 2]
            x = np.rint(q[None, :, 0] + shifts[:, None, 0]).astype(np.int64)
            y = np.rint(q[None, :, 1] + shifts[:, None, 1]).astype(np.int64)
            ok = (x >= 0) & (x < W) & (y >= 0) & (y < H)
            hit = ok & near[np.clip(y, 0, H - 1), np.clip(x, 0, W - 1)]
            return hit.sum(axis=1) / max(len(p), 1)

        s0 = score(np.eye(2), sh)
        s0 -= 0.05 * np.hypot(*sh.T) / r  # ties go to the prediction
        best_t = sh[int(np.argmax(s0))]
        fine = np.stack(np.meshgrid(np.arange(-st, st + 1), np.arange(-st, st + 1)), -1).reshape(-1, 2) + best_t
        best = (-1.0, np.eye(2), best_t)
        for ang in (-0.05, 0.0, 0.05):
            R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
            for sx, sy in SQUASHES:  # squash and stretch keep the area: a size change is another character
                M = R @ np.diag([sx, sy])
                sc = score(M, fine.astype(np.float64))
                j = int(np.argmax(sc))
                if sc[j] > best[0] + 1e-6:
                    best = (float(sc[j]), M, fine[j].astype(np.float64))
        _, M, t = best
        # key -> current was G0 = A^-1; now G = c + M (G0 - c) + t, and A = G^-1
        Ai = np.concatenate([np.linalg.inv(A[:, :2]), (-np.linalg.inv(A[:, :2]) @ A[:, 2])[:, None]], axis=1)
        G = np.concatenate([M @ Ai[:, :2], (M @ (Ai[:, 2] - c) + c + t)[:, None]], axis=1)
        Gi = np.linalg.inv(G[:, :2])
        return np.concatenate([Gi, (-Gi @ G[:, 2])[:, None]], axis=1)

    def _step(self, o: _Obj, pts, near_cur, chain, cur_img) -> None:
        H, W = self._shape
        pred = self._predict(o)
        radius = RADIUS * max(H, W)
        best = None
        guess = self._chain_guess(o, chain)
        found = self._search(o, pred, cur_img)
        p0 = o.pos(pred)
        for A0 in [a for a in (pred, found, guess) if a is not None]:
            A = self._icp(o, pts, self._chamfer(o, A0, near_cur), radius)
            if A is None:
                continue
            if np.hypot(*(o.pos(A) - p0)) > GATE * max(H, W):
                continue  # a jump no motion explains: another character drawn alike, not this one
            f, nv = self._fit(o, A, near_cur)
            s = f - JUMP_COST * np.hypot(*(o.pos(A) - p0)) / (SEARCH * max(H, W))  # motion continuity
            if best is None or s > best[3] + 0.02:
                best = (f, A, nv, s)
        old = o.pos()
        if best is not None and best[0] >= (FIT if o.miss == 0 else RESUME):
            o.fit, o.A = best[0], best[1]
            o.vel = o.pos() - old
            o.vmean = o.vel if o.miss else 0.8 * o.vmean + 0.2 * o.vel
            o.miss = 0
            o.live = True
            return
        o.A = pred  # hidden or lost: coast on the prediction
        o.fit = 0.0 if best is None else best[0]
        o.miss += 1
        inside, _ = self._visible(o, pred)
        gone = inside.mean() < 0.2  # (almost) out of the frame: dormant until a new cluster there matches it
        if o.miss > COAST or gone:
            o.live = False
            o.vel = np.zeros(2) if gone else o.vel

    # ---------------------------------------------------------------------------------------------- voting
    def _region_alignment(self, regions: Regions, samples) -> tuple[np.ndarray, np.ndarray]:
        """(float [n + 1] best share of each region's outline that a live object's transform lays on that object's
        own keyframe lines, int [n + 1] which object, -1 none)."""
        lab, xs, ys, _ = samples
        n = regions.n
        cnt = np.maximum(np.bincount(lab, minlength=n + 1), 1)
        best = np.zeros(n + 1)
        who = np.full(n + 1, -1)
        p = np.stack([xs, ys], 1).astype(np.float64)
        for j, o in enumerate(self._objs):
            if not o.live or o.miss:  # lost, or coasting behind another: it explains nothing it does not see
                continue
            h, w = o.near.shape
            q = np.rint(_apply(o.A, p) - (o.ox, o.oy)).astype(np.int64)
            ok = (q[:, 0] >= 0) & (q[:, 0] < w) & (q[:, 1] >= 0) & (q[:, 1] < h)
            qy, qx = q[ok, 1], q[ok, 0]
            hit = np.zeros(len(p), bool)
            hit[ok] = o.near[qy, qx]
            inf = np.zeros(len(p), bool)
            inf[ok] = o.foot[qy, qx]
            a = np.bincount(lab, weights=hit, minlength=n + 1) / cnt
            a[np.bincount(lab, weights=inf, minlength=n + 1) / cnt < 0.8] = 0.0
            better = a > best
            best[better], who[better] = a[better], j
        best[0], who[0] = 0.0, -1
        return best, who

    def _votes(self, regions: Regions, align: np.ndarray, who: np.ndarray):
        """(float32 [n + 1, K] per-area votes x weight, float32 [n + 1] weights) from the objects."""
        cfg = self.config
        H, W = self._shape
        k = len(self.palette)
        n = regions.n
        part = (regions.area > 0) & (regions.area <= cfg.reid_part * H * W)
        use = part & (align >= ALIGN) & (who >= 0)
        votes = np.zeros((n + 1, k), np.float32)
        wsum = np.zeros(n + 1, np.float32)
        area = np.maximum(regions.area, 1).astype(np.float32)
        for j in np.unique(who[use]):
            o = self._objs[j]
            ids = np.flatnonzero(use & (who == j))
            b = regions.bbox[ids]
            x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
            M = o.A.copy()
            M[:, 2] += M[:, :2] @ (x0, y0) - (o.ox, o.oy)
            v = cv2.warpAffine(
                o.votes,
                M.astype(np.float64),
                (int(x1 - x0), int(y1 - y0)),
                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=int(NO_VOTE),
            )
            v = np.minimum(v, k).astype(np.int64)
            keys = regions.inner[y0:y1, x0:x1].astype(np.int64) * (k + 1) + v
            c = np.bincount(keys.ravel(), minlength=(n + 1) * (k + 1)).reshape(n + 1, k + 1)[:, :k]
            mine = np.zeros(n + 1, bool)
            mine[ids] = True
            cover = c.sum(axis=1) / area
            mine &= cover >= 0.5
            wq = np.where(mine, cfg.objects_weight * align**2, 0.0).astype(np.float32)
            votes += wq[:, None] * c.astype(np.float32) / area[:, None]
            wsum += wq
        return votes, wsum

    def _add_object_votes(self, score: np.ndarray, key_score: np.ndarray, weight_sum: np.ndarray) -> None:
        if getattr(self, "_obj_votes", None) is None:
            return
        votes, wsum = self._obj_votes
        score += votes
        key_score += votes
        weight_sum += wsum

    # ---------------------------------------------------------------------------------------------- re-entry
    def _locate(self, o: _Obj, cur_img: np.ndarray, box) -> np.ndarray | None:
        """Where the object's keyframe look (its distance-to-line image, masked to its footprint) best correlates
        with the current frame around `box` (flow resolution; the object may stick out of the frame): a transform
        with its last linear part, or None when nothing correlates `reid_score`."""
        H, W = self._shape
        fh, fw = cur_img.shape
        th, tw = o.tmpl.shape
        if o.tmask.sum() < 16:
            return None
        bx, by, bw, bh = box
        pad = cv2.copyMakeBorder(cur_img, th, th, tw, tw, cv2.BORDER_CONSTANT, value=0)
        x0, y0 = max(bx - tw, -tw) + tw, max(by - th, -th) + th  # window in padded coordinates
        x1, y1 = min(bx + bw + tw, fw + tw) + tw, min(by + bh + th, fh + th) + th
        win = pad[y0:y1, x0:x1]
        if win.shape[0] < th or win.shape[1] < tw:
            return None
        try:
            res = cv2.matchTemplate(win, o.tmpl, cv2.TM_CCOEFF_NORMED, mask=o.tmask)
        except cv2.error:
            return None
        res = np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)
        _, score, _, (lx, ly) = cv2.minMaxLoc(res)
        if score < self.config.reid_score:
            return None
        sx, sy = fw / W, fh / H
        kx0, ky0 = o.flow_crop[:2]
        shift = np.array([(x0 - tw + lx - kx0) / sx, (y0 - th + ly - ky0) / sy])  # keyframe -> current (px)
        L = o.A[:, :2]
        c_key = o.center
        c_cur = c_key + shift
        return np.concatenate([L, (c_key - L @ c_cur)[:, None]], axis=1)

    def _reacquire(self, la, regions, cur_img, keys, i, pts, near_cur, align) -> None:
        """Lost and dormant objects are searched for among the clusters of part regions no live object explains."""
        cfg = self.config
        lost = [o for o in self._objs if not o.live or o.miss]
        if not lost:
            return
        H, W = self._shape
        part = (regions.area > 0) & (regions.area <= cfg.reid_part * H * W) & (align < ALIGN)
        part[0] = False
        if not part.any():
            return
        fw, fh = self._flow_size()
        # the part regions no live object explains, in connected pieces (across the lines between them)
        small = cv2.dilate(self._small(part, regions).view(np.uint8), np.ones((3, 3), np.uint8))
        n, comp, stats, _ = cv2.connectedComponentsWithStats(small, connectivity=8)
        for c in range(1, n):
            if stats[c, cv2.CC_STAT_AREA] < max(32, MIN_AREA * fw * fh):
                continue
            bx, by, bw, bh = stats[c, :4]
            best = None
            for o in lost:
                if not o.live or o.miss:  # one cluster per object per frame
                    A0 = self._locate(o, cur_img, (bx, by, bw, bh))
                    if A0 is None:
                        continue
                    A = self._icp(o, pts, self._chamfer(o, A0, near_cur), RADIUS * max(H, W))
                    if A is None:
                        continue
                    f, _ = self._fit(o, A, near_cur)
                    if f >= RESUME and (best is None or f > best[0]):
                        best = (f, A, o)
            if best is not None:
                f, A, o = best
                o.A, o.fit, o.vel, o.miss, o.live = A, f, np.zeros(2), 0, True
