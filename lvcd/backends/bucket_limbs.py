"""Swinging parts of tracked objects for the paint-bucket matcher (`lvcd.backends.bucket_objects`).

An object's transform is one motion for the whole character: a part that turns on its own (an arm swinging on the
body, a tail, a raised ear) is laid beside its keyframe lines, its outline misses, and it takes no object votes. The
dense flow cannot follow it either (a thin part turning 0.5 rad in a few frames), so its paint came from the previous
frame or a guess, and a wrong guess stayed. Here each such region near a fitted object is matched to the object's
keyframe parts one by one: the region's centroid is laid on the part's and its long axis turned onto the part's
(both ways round), a few px of shift refine it, and the part whose outline it lands on best, with its interior
inside that part, gives the region its paint. Only parts that the whole motion does not place already (their own
lines miss, no current region it explains lies on them), of similar area, width and length, within reach of where the
object puts them are tried; each part goes to one region (the best fitting first: a pocket of sky between the arm and
the body is shaped like the arm too), and a tie between two parts of different paints gives nothing. A part given
to a region is taken for this frame, as one the object's fit lays a region on: no other region takes it by shape
(`_rigid_rescue`; two characters drawn alike have arms of one shape); and that region is recorded as the part
(`obj_src`) for the next frame's matches against this one.

Memory: per object, the keyframe parts' moments (a few floats each). No torch.
"""

from __future__ import annotations

import numpy as np

from ..lineart.regions import Regions
from . import bucket_track as track
from .bucket_match import _Key
from .bucket_pose import ALIGN, FIT, _apply, _Obj

LIMB_MIN = 30  # px: smaller regions have no stable axis (pupils, eye glints): the whole-object votes serve them
LIMB_ALIGN = 0.7  # outline share on the keyframe lines: stricter than the object's own `ALIGN`, as the turn and the
#                  shift are fitted to this one region (a long sky pocket fits some long part loosely)
LIMB_IOU = 0.6  # overlap (intersection over union) of the region laid on the part with the part: a pocket of sky
#               beside a character, or a body band beside the shadow, lines up along one side only
LIMB_TIE = 0.1  # outline share within which two parts of different paints are a tie: neither is taken
LIMB_TURN = 1.0  # rad: largest turn of a part against the object (arms swing +-0.5 rad about a posed angle)
LIMB_AREA = 1.8  # area ratio (either way) beyond which a part is not the region (occlusion changes the visible area)
LIMB_WIDTH = 1.3  # short-axis spread ratio (either way): an arm keeps its width when it swings behind the body
LIMB_LENGTH = 1.5  # long-axis spread ratio (either way): ... and loses some length; a body band is longer
LIMB_ROUND = 1.4  # axis ratio under which a region is round: its axis is noise, it is laid on the part unturned
LIMB_PLACED = 0.6  # share of a keyframe part's lines the whole motion lays on current lines: it moved with the body
LIMB_NEIGHBOUR = 0.015  # of the frame: keyframe regions touching an object's, up to this size, are tried too: an arm
#                        swinging during the watch frames joined neither its body's object nor its attached parts
#                        (it was glued to pieces of hill it touched, into an object of scenery)
SHIFT = 3  # px: the centroids of a part seen behind another differ by this much


def _moments(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """(centroid (x, y), long-axis angle (rad), long/short axis ratio, short-axis spread (px)) of a pixel set."""
    c = np.array([xs.mean(), ys.mean()])
    dx, dy = xs - c[0], ys - c[1]
    mxx, myy, mxy = (dx * dx).mean(), (dy * dy).mean(), (dx * dy).mean()
    ang = 0.5 * np.arctan2(2 * mxy, mxx - myy)
    tr, det = mxx + myy, mxx * myy - mxy * mxy
    disc = np.sqrt(max(tr * tr / 4 - det, 0.0))
    l1, l2 = tr / 2 + disc, max(tr / 2 - disc, 1e-9)
    return c, float(ang), float(np.sqrt(l1 / l2)), float(np.sqrt(l2))


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


class LimbsMixin:
    """Needs `config`, `_shape`, `_objs` (ObjectsMixin)."""

    def _part_moments(self, o: _Obj, key: _Key) -> dict:
        """Per keyframe part of `o` (its regions, attached ones and part-sized ones touching them, >= `LIMB_MIN` px):
        centroid, axis, ratio, paint, area, size, width; cached on the object."""
        if o.limb_parts is not None:
            return o.limb_parts
        reg = key.frame.regions
        out = {}
        ids = np.concatenate([o.ids, o.attached]).astype(np.int64)
        H, W = self._shape
        adj = reg.adjacency()
        nb = set(np.concatenate([adj[r] for r in ids]).tolist()) if len(ids) else set()
        nb -= set(ids.tolist()) | {0}
        nb = [r for r in nb if reg.area[r] <= LIMB_NEIGHBOUR * H * W]  # and the part-sized regions touching it
        for r in np.concatenate([ids, np.array(sorted(nb), np.int64)]):
            if reg.area[r] < LIMB_MIN:
                continue
            x0, y0, x1, y1 = reg.bbox[r]
            ys, xs = np.nonzero(reg.inner[y0:y1, x0:x1] == r)
            c, ang, ratio, width = _moments(xs + x0 + 0.5, ys + y0 + 0.5)
            out[int(r)] = (c, ang, ratio, int(key.frame.color[r]), float(reg.area[r]), max(x1 - x0, y1 - y0), width)
        o.limb_parts = out
        return out

    def _limb_votes(self, regions: Regions, samples, align, keys: list[_Key], align_min: float, near_cur: np.ndarray):
        """(float32 [n + 1, K] votes x weight, float32 [n + 1] weights) for part regions no object's whole motion
        explains (`align` < `align_min`) that one of a fitted object's keyframe parts, turned and shifted on its own,
        lays on its lines."""
        cfg = self.config
        H, W = self._shape
        n = regions.n
        votes = np.zeros((n + 1, len(self.palette)), np.float32)
        wsum = np.zeros(n + 1, np.float32)
        objs = [o for o in self._objs if o.live and o.miss == 0 and o.fit >= FIT]
        if not objs:
            return votes, wsum
        lab, xs, ys, starts = samples
        todo = (regions.area >= LIMB_MIN) & (regions.area <= cfg.reid_part * H * W) & (align < align_min)
        todo[0] = False
        best = {}  # region -> list of (outline share, paint, keyframe part, overlap, object uid)
        for o in objs:
            key = next((k for k in keys if k.index == o.key_index), None)
            if key is None:
                continue
            parts = self._part_moments(o, key)
            if not parts:
                continue
            det = abs(np.linalg.det(o.A[:, :2]))
            claimed = self._claimed_parts(o, key, regions, align >= align_min) | self._placed_parts(o, near_cur)
            parts = {p: v for p, v in parts.items() if p not in claimed}
            if not parts:
                continue
            pc = np.array([p[0] for p in parts.values()])
            reach = np.array([0.75 * p[5] + SHIFT for p in parts.values()])
            cand = np.flatnonzero(todo)
            mapped = _apply(o.A, regions.centroid[cand])
            dist = np.hypot(*(mapped[:, None, :] - pc[None]).transpose(2, 0, 1))
            near = (dist <= reach[None]).any(axis=1)
            for r in cand[near]:
                self._limb_try(o, key, regions, r, parts, det, lab, xs, ys, starts, best)
        taken = set()  # (object, keyframe part): one part is one region (a pocket of sky beside an arm loses to it)
        for r in sorted(best, key=lambda r: -max(f[0] + f[3] for f in best[r])):  # best outline + overlap first
            found = [f for f in best[r] if (f[4], f[2]) not in taken]
            if not found:
                continue
            found.sort(key=lambda f: -f[0])
            share, paint = found[0][:2]
            if any(f[0] >= share - LIMB_TIE and f[1] != paint for f in found[1:]):
                continue  # two parts of different paints fit alike
            ki, kp = found[0][5], found[0][2]  # the keyframe and its part this region is
            taken.add((found[0][4], kp))
            self._claims.setdefault(ki, []).append(np.array([[r, kp]], np.int64))
            # that part is here already: no other region takes it by shape (`_taken_in_keys` ran just before), and
            # this region is that part for the next frame's matches against this one
            if ki not in self._key_taken:
                key = next(k for k in keys if k.index == ki)
                self._key_taken[ki] = np.zeros(key.frame.regions.n + 1, bool)
            self._key_taken[ki][kp] = True
            self._obj_src[0][r], self._obj_src[1][r] = ki, kp
            wq = np.float32(cfg.objects_weight * getattr(self, "_near_w", {}).get(ki, 1.0) * share**2)
            votes[r, paint] += wq
            wsum[r] += wq
        return votes, wsum

    def _placed_parts(self, o: _Obj, near_cur: np.ndarray) -> set:
        """Keyframe regions of `o` whose own sampled lines the object's whole motion lays on current lines (at least
        `LIMB_PLACED` of >= 5 samples): they move with the body; only the others (and the attached parts) may have
        turned on their own."""
        cnt, share = self._part_line_share(o, near_cur)
        return set(o.ids[(cnt >= 5) & (share >= LIMB_PLACED)].tolist())

    def _taken_in_prev(self, prev) -> np.ndarray | None:
        """bool [m + 1]: regions of the previous frame that an object laid on a keyframe part which a current region
        lies on now (`_taken_in_keys`): no other region is matched to them by shape; None when nothing is known."""
        if prev.obj_src is None or not getattr(self, "_key_taken", None):
            return None
        sk, sr = prev.obj_src
        taken = np.zeros(prev.regions.n + 1, bool)
        for ki, got in self._key_taken.items():
            m = sk == ki
            taken[m] = got[sr[m]]
        return taken

    def _claimed_parts(self, o: _Obj, key: _Key, regions: Regions, good: np.ndarray) -> set:
        """The keyframe regions of `_claimed_pairs`."""
        return set(self._claimed_pairs(o, key, regions, good)[:, 1].tolist())

    def _claimed_pairs(self, o: _Obj, key: _Key, regions: Regions, good: np.ndarray) -> np.ndarray:
        """[P, 2] (current region in `good`, keyframe part of `o` it lands on under the object's whole motion: the
        keyframe region under most of that region's pixels, every third row and column). Parts so claimed are not
        limb candidates: a band of the body between two stripes is
        as long and as wide as an arm, and a crescent of shadow as a pocket of sky beside it, but they are where the
        body's motion puts them, so a swinging arm (or the pocket) is not them."""
        H, W = self._shape
        good = good.copy()
        good[0] = False
        if not good.any():
            return np.zeros((0, 2), np.int64)
        sub = regions.inner[::3, ::3]
        ys, xs = np.nonzero(good[sub])
        lab = sub[ys, xs]
        q = np.rint(_apply(o.A, np.stack([xs * 3.0, ys * 3.0], 1))).astype(np.int64)
        ok = track.in_box(q[:, 0], q[:, 1], W, H)
        kl = key.frame.regions.inner[q[ok, 1], q[ok, 0]]
        lab = lab[ok]
        m = key.frame.regions.n + 1
        code, cnt = np.unique(lab.astype(np.int64) * m + kl, return_counts=True)  # sorted by (lab, kl)
        pairs = np.stack([code // m, code % m], 1)
        tot = np.bincount(lab, minlength=regions.n + 1)
        return pairs[cnt >= 0.5 * tot[pairs[:, 0]]]  # [P, 2] (current region, keyframe region)

    def _limb_try(self, o, key, regions, r, parts, det, lab, xs, ys, starts, best) -> None:
        """Lay region `r` on each of `o`'s keyframe parts within reach; record those its outline lands on."""
        x0, y0, x1, y1 = regions.bbox[r]
        iy, ix = np.nonzero(regions.inner[y0:y1, x0:x1] == r)
        c_r, ang_r, ratio_r, width_r = _moments(ix + x0 + 0.5, iy + y0 + 0.5)
        step = max(1, len(ix) // 200)
        inner = np.stack([ix[::step] + x0, iy[::step] + y0], 1).astype(np.float64)
        s0, s1 = starts[r], starts[r + 1]
        outline = np.stack([xs[s0:s1], ys[s0:s1]], 1).astype(np.float64)
        if len(outline) < 8:
            return
        L = o.A[:, :2]
        ax = L @ np.array([np.cos(ang_r), np.sin(ang_r)])
        ang_k = np.arctan2(ax[1], ax[0])  # the region's axis laid into the keyframe by the object's motion
        c_k = _apply(o.A, c_r[None])[0]
        area_k = regions.area[r] * det
        size_k = max(x1 - x0, y1 - y0) * np.sqrt(det)
        fr = key.frame
        H, W = self._shape
        laid = _apply(o.A, outline) - c_k  # [m, 2] the outline laid into the keyframe, about the region's centre
        laid_in = _apply(o.A, inner) - c_k
        sh = np.arange(-SHIFT, SHIFT + 1)
        sx, sy = np.meshgrid(sh, sh)
        shifts = np.stack([sx.ravel(), sy.ravel()], 1).astype(np.float64)  # [S, 2]
        for p, (c_p, ang_p, ratio_p, paint, area_p, size_p, width_p) in parts.items():
            if not (1 / LIMB_AREA <= area_k / area_p <= LIMB_AREA):
                continue
            wk, lk, lp = width_r * np.sqrt(det), width_r * ratio_r * np.sqrt(det), width_p * ratio_p
            if not (1 / LIMB_WIDTH <= wk / width_p <= LIMB_WIDTH and 1 / LIMB_LENGTH <= lk / lp <= LIMB_LENGTH):
                continue  # not its width, or far off its length
            if np.hypot(*(c_k - c_p)) > 0.75 * min(size_p, size_k) + SHIFT:
                continue
            if min(ratio_r, ratio_p) < LIMB_ROUND:
                turns = [0.0]
            else:
                d = float(_wrap(np.array(ang_p - ang_k)))
                turns = [t for t in (d, float(_wrap(np.array(d + np.pi)))) if abs(t) <= LIMB_TURN]
            for t in turns:
                cs, sn = np.cos(t), np.sin(t)
                R = np.array([[cs, -sn], [sn, cs]])
                q = laid @ R.T + c_p  # [m, 2] keyframe px, before the shift
                qi = laid_in @ R.T + c_p
                qq = np.rint(q[None] + shifts[:, None]).astype(np.int64)  # [S, m, 2]
                ok = track.in_box(qq[..., 0], qq[..., 1], W, H)
                hit = ok & fr.near[np.clip(qq[..., 1], 0, H - 1), np.clip(qq[..., 0], 0, W - 1)]
                share = hit.mean(axis=1)
                j = int(share.argmax())
                if share[j] < LIMB_ALIGN:
                    continue
                qi = np.rint(qi + shifts[j]).astype(np.int64)
                ok = track.in_box(qi[:, 0], qi[:, 1], W, H)
                ins = ok & (fr.regions.inner[np.clip(qi[:, 1], 0, H - 1), np.clip(qi[:, 0], 0, W - 1)] == p)
                inter = ins.mean() * area_k
                iou = inter / (area_k + area_p - inter)
                if iou < LIMB_IOU:
                    continue
                best.setdefault(int(r), []).append((float(share[j]), paint, p, iou, o.uid, o.key_index))

    def _taken_in_keys(self, regions: Regions, align: np.ndarray, who: np.ndarray, keys: list[_Key]) -> dict:
        """{keyframe index: bool [m + 1]} keyframe regions that a current region an object in view explains lies on
        (through that object's transform): they are here already, so no other region is matched to them by shape."""
        out = {}
        src_key = np.full(regions.n + 1, -(1 << 30), np.int64)
        src_reg = np.zeros(regions.n + 1, np.int64)
        for j, o in enumerate(self._objs):
            good = (align >= ALIGN) & (who == j)
            key = next((k for k in keys if k.index == o.key_index), None)
            if key is None or not o.live or o.miss or o.fit < FIT or not good.any():
                continue
            got = out.setdefault(o.key_index, np.zeros(key.frame.regions.n + 1, bool))
            pairs = self._claimed_pairs(o, key, regions, good)
            got[pairs[:, 1]] = True
            got[0] = False
            self._claims.setdefault(o.key_index, []).append(pairs)
            src_key[pairs[:, 0]], src_reg[pairs[:, 0]] = o.key_index, pairs[:, 1]
        self._obj_src = (src_key, src_reg)  # per current region: the keyframe region its object lays it on
        return out

    def _behind(self, samples, regions: Regions):
        """`samples` without, for regions that no object explains (scenery behind a character), the outline pixels on
        lines an object in view lays its own lines on: a cloud cut by a character's head is outlined partly by the
        head, which moves with the character, not with the cloud, so the cloud's own motion would never align there.
        A region left with fewer than a quarter of its samples (or 8) keeps them all."""
        got = getattr(self, "_front_lines", None)
        if got is None or not len(got[0]):
            return samples
        lines, align = got
        lab, xs, ys, _ = samples
        H, W = self._shape
        front = np.zeros((H, W), bool)
        front[lines[:, 1].astype(np.int64), lines[:, 0].astype(np.int64)] = True
        n = regions.n
        drop = front[ys, xs] & (align[lab] < ALIGN)
        cnt = np.bincount(lab, minlength=n + 1)
        left = np.bincount(lab, weights=~drop, minlength=n + 1)
        drop &= (left >= np.maximum(8, 0.25 * cnt))[lab]
        if not drop.any():
            return samples
        keep = ~drop
        lab, xs, ys = lab[keep], xs[keep], ys[keep]
        starts = np.concatenate([[0], np.cumsum(np.bincount(lab, minlength=n + 1))])
        return lab, xs, ys, starts
