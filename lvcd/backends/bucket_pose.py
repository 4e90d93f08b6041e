"""Pose fitting for the object tracker of the paint-bucket matcher (`bucket_objects`): where a keyframe object lies
in the current frame. An object's transform maps current-frame pixels to keyframe pixels: a rotation, an
area-preserving squash and a slowly changing size (characters drawn alike differ in size, so a size that jumps is
another character), and a shift. Fits start from a prediction and are refined by an exhaustive search of shifts,
small rotations and squashes scored on the object's own keyframe lines (closest points alone stay trapped within a
line spacing of where they start), then by closest points to those lines only. Split from bucket_objects.py to keep
files small. No torch.
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np

from . import bucket_track as track

_UIDS = itertools.count()
SQUASHES = [(1.0, 1.0), (1.04, 1 / 1.04), (1 / 1.04, 1.04), (1.015, 1.015), (1 / 1.015, 1 / 1.015)]
AREA_STEP = 0.015  # most a fit may change an object's size per frame (x its linear size)
MAX_POINTS = 2000  # current-frame line pixels used per object fit (sampled evenly)
LINE_SAMPLES = 600  # keyframe line pixels per object for the fit score
MIN_PAIRS = 12  # closest-point pairs a transform update needs
ITERS = 12  # closest-point iterations per fit
RIGIDITY = 0.05  # pull of the linear part towards the previous frame's (x the points' spread)
SHIFT = 0.012  # of the longer side: shifts searched around each starting transform
RADIUS = 0.004  # of the longer side: pairing radius of the first iteration (halved each one, down to 2 px)
SEARCH = 0.04  # of the longer side: shifts searched around the predicted place by correlation
SEEN = 0.3  # share of an object's in-frame lines that must be in view (not behind an object in front) to fit it
FIT = 0.4  # share of its visible keyframe lines an object's transform must lay on current lines to update it
ALIGN = 0.6  # outline share on an object's own lines for a region to take that object's votes
CLAIM = 2.5  # px: current line pixels this close to an object's own lines are its, not free for objects behind
_ROT = {a: np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) for a in (-0.05, 0.0, 0.05)}
_SHAPES = [(a, sx, sy) for a in _ROT for sx, sy in SQUASHES if not (a == 0.0 and sx == sy == 1.0)]  # tried per fit


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
        self.hint = None  # coasting: the best transform found on its visible lines, below `FIT` (hidden votes)
        self.attached = np.zeros(0, np.int64)  # keyframe part regions moving with it but not fitted (swinging arms)
        self.reach = None  # cached keyframe crops of where it and its attached parts may lie (bucket_objects)
        self.limb_parts = None  # cached moments of its keyframe parts (bucket_limbs)
        self._nearest_xy = None  # `nearest` as float (x, y) rows, built on first use

    def nearest_xy(self) -> np.ndarray:
        """float64 [h * w, 2] (x, y) of each crop pixel's nearest own line pixel (one gather per point)."""
        if self._nearest_xy is None:
            self._nearest_xy = np.stack([self.nearest[1].ravel(), self.nearest[0].ravel()], 1).astype(np.float64)
        return self._nearest_xy

    def pos(self, A=None) -> np.ndarray:
        """Where the keyframe centre lies in the current frame under A (default: the current transform)."""
        A = self.A if A is None else A
        return np.linalg.solve(A[:, :2], self.center - A[:, 2])


def _apply(A: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ A[:, :2].T + A[:, 2]


def _invert(A: np.ndarray) -> np.ndarray:
    """The inverse of the affine map A (2x3)."""
    Li = np.linalg.inv(A[:, :2])
    return np.concatenate([Li, (-Li @ A[:, 2])[:, None]], axis=1)


def _crop_hits(crop: np.ndarray, o: _Obj, A: np.ndarray, p: np.ndarray) -> np.ndarray:
    """bool [len(p)]: current-frame points `p` that transform A (current -> keyframe) lays on True pixels of
    `crop`, one of object `o`'s keyframe crops (its footprint, its lines)."""
    h, w = crop.shape
    q = np.rint(_apply(A, p) - (o.ox, o.oy)).astype(np.int64)
    ok = track.in_box(q[:, 0], q[:, 1], w, h)
    ok[ok] = crop[q[ok, 1], q[ok, 0]]
    return ok


def _solve(p: np.ndarray, q: np.ndarray, L0: np.ndarray, lam: float) -> np.ndarray:
    """Affine A (2x3) minimising sum |A p - q|^2 + mu |L - L0|^2 (L the linear part, mu = `lam` x the points'
    spread): the translation is free, the linear part stays near the previous one. The 2x2 algebra is written out
    (called ~1000 times a shot; numpy's small-matrix calls cost more than the arithmetic)."""
    m, qm = p.mean(axis=0), q.mean(axis=0)
    pc, qc = p - m, q - qm
    (a, b), (_, d) = pc.T @ pc  # S = [[a, b], [b, d]]
    (c00, c01), (c10, c11) = qc.T @ pc
    mu = lam * (a + d) / 2 + 1e-6
    a, d = a + mu, d + mu
    det = a * d - b * b
    i00, i01, i11 = d / det, -b / det, a / det  # (S + mu I)^-1, symmetric
    n00, n01 = c00 + mu * L0[0, 0], c01 + mu * L0[0, 1]
    n10, n11 = c10 + mu * L0[1, 0], c11 + mu * L0[1, 1]
    l00, l01 = n00 * i00 + n01 * i01, n00 * i01 + n01 * i11
    l10, l11 = n10 * i00 + n11 * i01, n10 * i01 + n11 * i11
    return np.array(
        [
            [l00, l01, qm[0] - l00 * m[0] - l01 * m[1]],
            [l10, l11, qm[1] - l10 * m[0] - l11 * m[1]],
        ]
    )


def _at_rest(o: _Obj, A: np.ndarray) -> np.ndarray:
    """A with its linear part made a plain scale of the same area (no rotation, no squash), the keyframe centre of
    object `o` staying where A puts it: characters swing back to their keyframe pose, and a fit trapped in a wrong
    rotation or squash (the search moves it by small steps) starts again from there."""
    s = np.sqrt(abs(np.linalg.det(A[:, :2])))
    return np.concatenate([s * np.eye(2), (o.center - s * o.pos(A))[:, None]], axis=1)


def _constrain(A: np.ndarray, L0: np.ndarray) -> np.ndarray:
    """A with its linear part made a rotation times an axis-aligned scale (squash and stretch, no shear), scales
    within [0.7, 1.4], the rotation within 0.5 rad and the area within `AREA_STEP` of L0's (characters drawn alike
    differ in size: a size that jumps is another character). The rotation is L's polar factor (the SVD's U V^T),
    written out for 2x2; a mirrored L (det < 0) is left as it is."""
    (l00, l01), (l10, l11) = A[:, :2].tolist()
    det = l00 * l11 - l01 * l10
    if det < 0:
        return A
    a0, a = math.sqrt(abs(L0[0, 0] * L0[1, 1] - L0[0, 1] * L0[1, 0])), math.sqrt(det)
    if a > 0:
        f = min(max(a, a0 * (1 - AREA_STEP)), a0 * (1 + AREA_STEP)) / a
        l00, l01, l10, l11 = l00 * f, l01 * f, l10 * f, l11 * f
    ang = min(max(math.atan2(l10 - l01, l00 + l11), -0.5), 0.5)
    co, si = math.cos(ang), math.sin(ang)
    sx = min(max(co * l00 + si * l10, 0.7), 1.4)  # diag(R^T L)
    sy = min(max(-si * l01 + co * l11, 0.7), 1.4)
    return np.array([[co * sx, -si * sy, A[0, 2]], [si * sx, co * sy, A[1, 2]]])


class PoseMixin:
    """Needs `config`, `_shape`, `_flow_size`; `_occl` (bool [H, W] or None): pixels hidden behind objects in front."""

    def _on_lines(self, o: _Obj, p: np.ndarray) -> np.ndarray:
        """bool [len(p)]: points that the object's transform lays on its own keyframe lines."""
        foot, d = self._line_distance(o, p)
        return foot & (d <= CLAIM)

    def _off_lines(self, o: _Obj, p: np.ndarray, r: float) -> np.ndarray:
        """bool [len(p)]: points that the object's transform lays inside its footprint and farther than r px from
        its own keyframe lines."""
        foot, d = self._line_distance(o, p)
        return foot & (d > r)

    def _line_distance(self, o: _Obj, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bool [len(p)] points `p` the object's transform lays inside its footprint, float [len(p)] their distance
        (keyframe px) to its nearest own line pixel, inf outside its crop)."""
        h, w = o.foot.shape
        f = _apply(o.A, p) - (o.ox, o.oy)
        q = np.rint(f).astype(np.int64)
        ok = track.in_box(q[:, 0], q[:, 1], w, h)
        flat = q[ok, 1] * w + q[ok, 0]
        e = o.nearest_xy()[flat] - f[ok]
        d = np.full(len(p), np.inf)
        d[ok] = np.hypot(e[:, 0], e[:, 1])
        ok[ok] = o.foot.ravel()[flat]
        return ok, d

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
        self._in_frame = int(inside.sum())
        front = getattr(self, "_occl", None)
        if front is not None:  # hidden behind an object in front: neither seen nor missed
            q = np.rint(p[inside]).astype(np.int64)
            inside[inside] = ~front[np.minimum(q[:, 1], H - 1), np.minimum(q[:, 0], W - 1)]
        return inside, p

    def _part_line_share(self, o: _Obj, near_cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(int [len(o.ids)] sampled keyframe line pixels of each of the object's regions in view under its
        transform, float [len(o.ids)] share of them on current lines)."""
        return self._part_line_shares(o, near_cur, [None])[0]

    def _part_line_shares(self, o: _Obj, near_cur: np.ndarray, masks: list) -> list[tuple[np.ndarray, np.ndarray]]:
        """`_part_line_share` for each of `masks` (bool [samples] or None: all), from one projection of the lines."""
        H, W = self._shape
        inside, p = self._visible(o, o.A)
        q = np.rint(p[inside]).astype(np.int64)
        hit = near_cur[np.minimum(q[:, 1], H - 1), np.minimum(q[:, 0], W - 1)]
        part = o.line_part[inside]
        out = []
        for m in masks:
            pm, hm = (part, hit) if m is None else (part[m[inside]], hit[m[inside]])
            cnt = np.bincount(pm, minlength=len(o.ids))
            out.append((cnt, np.bincount(pm, weights=hm, minlength=len(o.ids)) / np.maximum(cnt, 1)))
        return out

    def _fit(self, o: _Obj, A: np.ndarray, near_cur: np.ndarray, seen: int | None = None) -> tuple[float, int]:
        """(share of the object's visible keyframe lines that A lays on current lines, visible count). `seen`: the
        fewest visible lines judged (default: `SEEN` of those in the frame)."""
        inside, p = self._visible(o, A)
        nv = int(inside.sum())
        least = max(MIN_PAIRS, SEEN * self._in_frame) if seen is None else seen
        if nv < least:  # mostly behind objects in front: too little to judge
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
        foot, nearest = o.foot.ravel(), o.nearest_xy()
        offset = np.array([o.ox, o.oy], np.float64)
        for _ in range(ITERS):
            q = _apply(A, p) - offset
            qi = np.rint(q).astype(np.int64)
            ok = track.in_box(qi[:, 0], qi[:, 1], w, h)
            flat = qi[ok, 1] * w + qi[ok, 0]
            on = foot[flat]
            ok[ok] = on
            if np.count_nonzero(ok) < MIN_PAIRS:
                return None
            tgt = nearest[flat[on]]
            e = tgt - q[ok]
            d = np.hypot(e[:, 0], e[:, 1])
            k = len(d) // 2  # the median, as np.median takes it
            mid = np.partition(d, k)[k] if len(d) % 2 else 0.5 * np.sum(np.partition(d, [k - 1, k])[k - 1 : k + 1])
            keep = d <= max(1.5, min(r, 2.5 * mid))
            if np.count_nonzero(keep) < MIN_PAIRS:
                return None
            pk = p[ok][keep]
            A_prev = A
            A = _solve(pk, tgt[keep] + offset, L0, RIGIDITY)
            c = pk.mean(axis=0)
            B = _constrain(A, L0)
            B[:, 2] += _apply(A, c[None])[0] - _apply(B, c[None])[0]
            done = r <= 2.0 and np.abs(B - A_prev).max() < 0.02  # converged at the finest radius
            A = B
            if done:
                break
            r = max(2.0, 0.5 * r)
        return A

    def _chain_guess(self, o: _Obj, chain: np.ndarray | None) -> np.ndarray | None:
        """The affine motion the keyframe's position map gives the object: least squares over the current pixels
        (flow resolution) it places inside the object's keyframe footprint."""
        if chain is None:
            return None
        H, W = self._shape
        fh, fw = chain.shape[:2]
        cached = getattr(self, "_chain_px", None)  # the same map serves every object of its keyframe
        if cached is None or cached[0] is not chain:
            gy, gx = np.mgrid[0:fh:2, 0:fw:2]
            grid = np.stack([gx.ravel(), gy.ravel()], 1) * (W / fw, H / fh)  # [P, 2] where each sample is, full px
            cached = self._chain_px = (chain, chain[::2, ::2].reshape(-1, 2) * (W / fw, H / fh), grid)
        c = cached[1]
        h, w = o.foot.shape
        q = np.rint(c - (o.ox, o.oy)).astype(np.int64)
        ok = track.in_box(q[:, 0], q[:, 1], w, h)
        ok[ok] = o.foot[q[ok, 1], q[ok, 0]]
        if np.count_nonzero(ok) < MIN_PAIRS:
            return None
        p, q = cached[2][ok], c[ok].astype(np.float64)
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
        res = track.masked_ncc(warped, o.tmpl, o.tmask)
        if res is None:
            return None
        yy, xx = np.mgrid[0 : res.shape[0], 0 : res.shape[1]]
        res -= 0.1 * np.hypot(xx - m, yy - m) / m
        ey, ex = np.unravel_index(int(np.argmax(res)), res.shape)
        out = A.copy()
        out[:, 2] -= ((ex - m) / sx, (ey - m) / sy)
        return out

    def _chamfer(self, o: _Obj, A: np.ndarray, near: np.ndarray, shapes: bool = True) -> np.ndarray:
        """A refined by exhaustive search: shifts within `SHIFT` of the longer side, then small rotations and
        squashes about the object's centre (`shapes`; shifts only without), each scored by the share of the object's
        visible keyframe lines that land on (free) current lines. Closest points alone stay trapped within a line
        spacing of where they start."""
        H, W = self._shape
        inside, p = self._visible(o, A)
        if inside.sum() < MIN_PAIRS:
            return A
        p = p[inside]
        c = p.mean(axis=0)
        r = max(2, round(SHIFT * max(H, W)))
        st = max(1, (r + 2) // 6)  # coarse grid, then +-st px around its best
        d = np.arange(-(r // st), r // st + 1) * st  # holds 0: the prediction itself
        sh = np.stack(np.meshgrid(d, d), -1).reshape(-1, 2).astype(np.float64)

        # integer shifts of rounded points, looked up in the lines padded with misses: one flat gather per shift
        reach = r + st + 2  # the largest shift searched, and then some
        pad = 2 * reach
        cached = getattr(self, "_padded", None)  # the same lines serve every start of every fit of an object
        if cached is None or cached[0] is not near or cached[1] != pad:
            cached = self._padded = (near, pad, np.pad(near, pad).ravel())
        flat = cached[2]
        wp = W + 2 * pad

        def place(Ms):  # [J, 2, 2] shapes -> [J, m] flat index of each rounded point in the padded lines
            q = np.rint((p - c)[None] @ Ms.transpose(0, 2, 1) + c).astype(np.int64)  # [J, m, 2]
            lo = -(pad - reach)  # farther out: a miss shifted or not
            qx = np.minimum(np.maximum(q[..., 0], lo), W - 1 - lo) + pad
            qy = np.minimum(np.maximum(q[..., 1], lo), H - 1 - lo) + pad
            return qy * wp + qx

        def score(at, shifts):  # [J, m] placed points, [S, 2] shifts -> [J, S] share of points on lines
            s = np.rint(shifts).astype(np.int64)
            hit = np.take(flat, at[:, None] + (s[:, 1] * wp + s[:, 0])[None, :, None])  # [J, S, m]
            return hit.view(np.uint8).sum(axis=2, dtype=np.int32) / max(len(p), 1)

        as_is = place(np.eye(2)[None])
        s0 = score(as_is, sh)[0]
        s0 -= 0.05 * np.hypot(*sh.T) / r  # ties go to the prediction
        best_t = sh[int(np.argmax(s0))]
        fine = np.stack(np.meshgrid(np.arange(-st, st + 1), np.arange(-st, st + 1)), -1).reshape(-1, 2) + best_t
        sc = score(as_is, fine.astype(np.float64))[0]  # the shape as it is first: ties stay with it
        j = int(np.argmax(sc))
        best = (float(sc[j]), np.eye(2), fine[j].astype(np.float64))
        near1 = np.stack(np.meshgrid(np.arange(-1, 2), np.arange(-1, 2)), -1).reshape(-1, 2) + best[2]
        if shapes:  # squash and stretch keep the area: a size change is another character
            Ms = np.stack([_ROT[ang] @ np.diag([sx, sy]) for ang, sx, sy in _SHAPES])
            scs = score(place(Ms), near1)  # [J, 9]: +-1 px around the best shift of the shape as it is
            for M, sc in zip(Ms, scs):  # in order: the first of equal fits stays
                j = int(np.argmax(sc))
                if sc[j] > best[0] + 1e-6:
                    best = (float(sc[j]), M, near1[j])
        _, M, t = best
        # key -> current was G0 = A^-1; now G = c + M (G0 - c) + t, and A = G^-1
        Ai = _invert(A)
        G = np.concatenate([M @ Ai[:, :2], (M @ (Ai[:, 2] - c) + c + t)[:, None]], axis=1)
        return _invert(G)

    def _locate(self, o: _Obj, cur_img: np.ndarray, box, avoid=None) -> np.ndarray | None:
        """Where the object's keyframe look (its distance-to-line image, masked to its footprint) best correlates
        with the current frame around `box` (flow resolution; the object may stick out of the frame), leaving out
        places within r px of each (centre, r) in `avoid`: a transform with its last linear part, or None when
        nothing correlates `reid_score`."""
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
        res = track.masked_ncc(win, o.tmpl, o.tmask)
        if res is None:
            return None
        sx, sy = fw / W, fh / H
        kx0, ky0 = o.flow_crop[:2]
        if avoid:  # where another object in view stands: a character drawn alike correlates as well there
            res = res.copy()
            rh, rw = res.shape
            gy, gx = np.mgrid[0:rh, 0:rw]
            cx = o.center[0] + (x0 - tw + gx - kx0) / sx  # the object's centre (px) for each place
            cy = o.center[1] + (y0 - th + gy - ky0) / sy
            for p, r in avoid:
                res[np.hypot(cx - p[0], cy - p[1]) < r] = -1.0
        _, score, _, (lx, ly) = cv2.minMaxLoc(res)
        if score < self.config.reid_score:
            return None
        shift = np.array([(x0 - tw + lx - kx0) / sx, (y0 - th + ly - ky0) / sy])  # keyframe -> current (px)
        L = o.A[:, :2]
        c_key = o.center
        c_cur = c_key + shift
        return np.concatenate([L, (c_key - L @ c_cur)[:, None]], axis=1)
