"""Region-level pieces of the paint-bucket matcher (`lvcd.backends.bucket`): dense votes through a flow, outline
alignment of a motion, the rigid-shift rescue of weak regions and the region-graph fallback. Split from bucket.py to
keep files small; `BucketColorizer` mixes `MatchMixin` in. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..lineart.normalize import Lineart
from ..lineart.regions import Regions
from . import bucket_track as track

NO_VOTE = np.uint16(65535)  # palette index meaning "this pixel has no colour to give" (lines, outside the frame)
SAME_AS_NEIGHBOUR = 1.0  # graph-fallback cost of a paint a decided neighbour has: a line parts two paints (in the
#                          benchmark's truth 91-98% of adjacent region pairs differ; the rest are pieces of one part
#                          split by a closed gap). A house sliver revealed beside the character that had hidden it
#                          copied that character's body paint. A cost, not a ban: at 2.0 it lost on a tuning set


BANNED = 10.0  # graph-fallback cost of a paint barred from a region (scenery revealed where a character was)


@dataclass
class _Frame:
    """What the colorizer keeps of a coloured frame: enough to vote from it and to match regions against it."""

    lineart: Lineart
    regions: Regions
    color: np.ndarray  # int32 [n + 1] palette index per region
    votes_map: np.ndarray  # uint16 [H, W] palette index on interior pixels, NO_VOTE elsewhere
    flow_img: np.ndarray  # uint8 [h, w] softened lines at flow resolution
    near: np.ndarray  # bool [H, W]: within `align_tolerance` px of a line (scores how well a motion aligns lines)
    conf: np.ndarray | None = None  # float32 [n + 1] confidence of each region's colour (None: all certain)
    obj_src: tuple[np.ndarray, np.ndarray] | None = None  # per region: (keyframe index, keyframe region) an object
    #                                                       laid it on (bucket_objects), -2^30 / 0 none
    feet: tuple[np.ndarray, list[int]] | None = None  # (int16 [H, W] index of the fitted object whose footprint
    #                                                     covers each pixel, front first, -1 none; their uids)
    banned: np.ndarray | None = None  # bool [n + 1, K] paints a region may not be guessed (revealed where an
    #                                   object was: `VetoMixin._left_in_prev`)
    _neighbour_colors: list[set[int]] | None = None

    def neighbour_colors(self) -> list[set[int]]:
        if self._neighbour_colors is None:
            adj = self.regions.adjacency()
            self._neighbour_colors = [set(self.color[a].tolist()) for a in adj]
        return self._neighbour_colors


@dataclass
class _Key:
    """A keyframe of the shot: its frame index (-1: off-frame, before frame 0), its state, and where each pixel of
    the current frame lies in it (`chain`, flow resolution; None until the shot reaches it)."""

    index: int
    frame: _Frame
    chain: np.ndarray | None = None
    seeded: np.ndarray | None = None  # bool [h, w] (flow size): positions neighbour votes set, carried with `chain`


def _group_median(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[G, C] per-group median of `values` [P, C] whose rows are grouped contiguously (group g = rows
    starts[g]:starts[g + 1]); 0 for empty groups. One sort per column instead of one `np.median` per group."""
    g = len(starts) - 1
    counts = np.diff(starts)
    grp = np.repeat(np.arange(g), counts)
    out = np.zeros((g, values.shape[1]), np.float64)
    has = counts > 0
    lo = starts[:-1] + (counts - 1) // 2
    hi = starts[:-1] + counts // 2
    for c in range(values.shape[1]):
        v = values[np.lexsort((values[:, c], grp)), c].astype(np.float64)
        out[has, c] = 0.5 * (v[lo[has]] + v[hi[has]])
    return out


def _group_median_of(values: np.ndarray, starts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """`_group_median(values, starts)[groups]` (`groups` sorted, unique) from those groups' rows only."""
    sizes = np.diff(starts)
    chosen = np.zeros(len(sizes), bool)
    chosen[groups] = True
    return _group_median(values[np.repeat(chosen, sizes)], np.concatenate([[0], np.cumsum(sizes[groups])]))


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[len(a), len(b)] Euclidean distances between 2-D points."""
    return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])


def nearness(keys: list[_Key], i: int) -> dict[int, float]:
    """Keyframe index -> weight of its votes at frame `i`, 1 for the nearest in time: a keyframe twice as far (in
    frames beyond the nearest's distance) counts 1 / (1 + 0.5 x extra / nearest)."""
    dists = {key.index: abs(i - max(key.index, -1)) for key in keys}
    nearest = min(dists.values())
    return {k: 1.0 / (1.0 + 0.5 * (d - nearest) / max(nearest, 1)) for k, d in dists.items()}


class MatchMixin:
    """Matching steps shared by every source (keyframe or previous frame); needs `config`, `palette`, `_shape`."""

    def _pull(self, img: np.ndarray, flow: np.ndarray, fill: int) -> np.ndarray:
        """`img` (a source frame's per-pixel map) brought into the current frame: out(x) = img(x + flow(x)), nearest
        pixel, `fill` outside the source."""
        H, W = self._shape
        if self._grid is None:
            self._grid = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        return cv2.remap(
            img,
            self._grid[0] + flow[..., 0],
            self._grid[1] + flow[..., 1],
            cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=fill,
        )

    def _pull_labels(self, regions: Regions, flow: np.ndarray) -> np.ndarray:
        """int32 [H, W]: the source's region label under each current pixel along `flow`, 0 outside (through
        float32: `cv2.remap` takes no int32, and labels stay far below 2**24)."""
        return self._pull(regions.inner.astype(np.float32), flow, 0).astype(np.int32)

    def _prev_labels(self, flow: np.ndarray, prev: _Frame) -> np.ndarray:
        """int32 [H, W]: the previous frame's region under each current pixel along `flow` (current -> `prev`, the
        frame's one previous-frame flow), 0 for none; computed once a frame (the claim veto and the look-ahead)."""
        cached = getattr(self, "_prev_labels_of", None)
        if cached is None or cached[0] is not prev:
            cached = (prev, self._pull_labels(prev.regions, flow))
            self._prev_labels_of = cached
        return cached[1]

    def _dense_votes(
        self,
        regions: Regions,
        flow: np.ndarray,
        src: _Frame,
        weights: np.ndarray | None = None,
        drop: np.ndarray | None = None,
    ) -> np.ndarray:
        """float32 [n + 1, K]: per region, how many of its interior pixels the flow brings from each colour
        (each vote x `weights` of the source region that cast it, when given: the previous frame's confidence;
        pixels in `drop`, bool [H, W], cast none)."""
        votes = self._flow_votes(flow, src)
        if drop is not None:
            votes[drop] = len(self.palette)
        wmap = None
        if weights is not None:
            lut = np.round(np.clip(weights, 0, 1) * 255).astype(np.uint8)
            wmap = self._pull(np.take(lut, src.regions.inner), flow, 0).ravel() * np.float32(1 / 255)
        return self._count_votes(regions, votes, wmap)

    def _dense_votes_split(
        self, regions: Regions, flow: np.ndarray, src: _Frame, drop: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """`_dense_votes` (no weights) counted apart for the pixels outside `drop` and those inside it."""
        votes = self._flow_votes(flow, src)
        k = len(self.palette)
        gone = np.where(drop, votes, np.uint16(k))
        votes[drop] = k
        return self._count_votes(regions, votes), self._count_votes(regions, gone)

    def _flow_votes(self, flow: np.ndarray, src: _Frame) -> np.ndarray:
        """uint16 [H, W]: the source's palette index the flow brings to each pixel, K for none."""
        votes = self._pull(src.votes_map, flow, int(NO_VOTE))
        np.minimum(votes, len(self.palette), out=votes)
        return votes

    def _count_votes(
        self, regions: Regions, votes: np.ndarray, wmap: np.ndarray | None = None, box: tuple | None = None
    ) -> np.ndarray:
        """float32 [n + 1, K] votes per region and paint (column K collects "no vote", row 0 the current frame's
        line pixels: both dropped after one bincount). `box` (x0, y0, x1, y1): `votes` covers only that crop."""
        k = len(self.palette)
        inner = regions.inner if box is None else regions.inner[box[1] : box[3], box[0] : box[2]]
        big = (regions.n + 1) * (k + 1) >= 2**31
        keys = (inner.astype(np.int64) if big else inner) * (k + 1) + votes
        counts = np.bincount(keys.ravel(), weights=wmap, minlength=(regions.n + 1) * (k + 1))
        counts = counts.reshape(regions.n + 1, k + 1)
        counts = counts[:, :k].astype(np.float32)
        counts[0] = 0.0
        return counts

    def _samples(self, la: Lineart, regions: Regions):
        """Up to `align_points` line pixels per region (lines belong to their nearest region): the region's outline,
        used to score how well a motion lays it onto the source's lines. Cached for the frame's last call."""
        cached = getattr(self, "_samples_of", None)
        if cached is not None and cached[0] is la and cached[1] is regions:
            return cached[2]
        out = self._outline_samples(la, regions)
        self._samples_of = (la, regions, out)
        return out

    def _outline_samples(self, la: Lineart, regions: Regions):
        ys, xs = np.nonzero(la.mask)
        lab = regions.labels[ys, xs]
        order = np.argsort(lab.astype(np.uint16) if regions.n < 65536 else lab, kind="stable")  # 16 bit: radix sort
        lab, xs, ys = lab[order], xs[order], ys[order]
        counts = np.bincount(lab, minlength=regions.n + 1)
        starts = np.concatenate([[0], np.cumsum(counts)])
        step = np.maximum(1, -(-counts // self.config.align_points))
        keep = (np.arange(len(lab)) - starts[lab]) % step[lab] == 0
        lab, xs, ys = lab[keep], xs[keep], ys[keep]
        starts = np.concatenate([[0], np.cumsum(np.bincount(lab, minlength=regions.n + 1))])
        return lab, xs.astype(np.int32), ys.astype(np.int32), starts

    def _hits(self, src: _Frame, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """bool: which points (integer arrays, any shape) lie within `align_tolerance` of a source line."""
        H, W = self._shape
        inside = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
        return inside & src.near[np.clip(ys, 0, H - 1), np.clip(xs, 0, W - 1)]

    def _affine_alignment(self, regions: Regions, samples, flow: np.ndarray, src: _Frame) -> np.ndarray:
        """float [n + 1]: per region, the share of its outline that lands on source lines under the affine motion
        fitted (least squares) to the flow along that outline.

        Scoring the raw flow would be too kind: DIS on distance images pulls any outline onto whatever lines are
        near, so a region whose flow is wrong still "lands on lines". Through one affine map per region a wrong,
        incoherent flow no longer does, while a right one (translation, rotation, squash) still does.
        """
        lab, xs, ys, _ = samples
        n = regions.n
        if len(lab) == 0:
            return np.ones(n + 1)
        counts = np.bincount(lab, minlength=n + 1)
        f = flow[ys, xs].astype(np.float64)
        # coordinates centred on each region's outline mean and scaled by its spread: well conditioned at any size
        cx = np.bincount(lab, weights=xs, minlength=n + 1) / np.maximum(counts, 1)
        cy = np.bincount(lab, weights=ys, minlength=n + 1) / np.maximum(counts, 1)
        dx, dy = xs - cx[lab], ys - cy[lab]
        spread = np.sqrt(np.bincount(lab, weights=dx * dx + dy * dy, minlength=n + 1) / np.maximum(counts, 1)) + 1.0
        x, y = dx / spread[lab], dy / spread[lab]
        X = np.stack([x, y, np.ones_like(x)], 1)  # [P, 3]
        T = np.stack([x + f[:, 0] / spread[lab], y + f[:, 1] / spread[lab]], 1)  # [P, 2]
        M = np.zeros((n + 1, 3, 3))
        B = np.zeros((n + 1, 3, 2))
        for i in range(3):
            for j in range(3):
                M[:, i, j] = np.bincount(lab, weights=X[:, i] * X[:, j], minlength=n + 1)
            for j in range(2):
                B[:, i, j] = np.bincount(lab, weights=X[:, i] * T[:, j], minlength=n + 1)
        # a small ridge towards "translation only" keeps tiny or straight outlines well posed
        ridge = 1e-3 * counts + 1e-6
        M[:, 0, 0] += ridge
        M[:, 1, 1] += ridge
        M[:, 2, 2] += 1e-6
        B[:, 0, 0] += ridge
        B[:, 1, 1] += ridge
        A = np.linalg.solve(M, B)  # [n + 1, 3, 2]
        fit = np.einsum("pi,pij->pj", X, A[lab]) * spread[lab][:, None]  # [P, 2] fitted source positions - centre
        px, py = fit[:, 0] + cx[lab], fit[:, 1] + cy[lab]
        hit = self._hits(src, np.round(px).astype(np.int32), np.round(py).astype(np.int32))
        overall = float(hit.mean())
        return np.where(counts > 0, np.bincount(lab, weights=hit, minlength=n + 1) / np.maximum(counts, 1), overall)

    def _vote_area(self, area: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Pixels a region's keyframe votes are shared over when picking its paint: its area, or for slivers
        (<= `sliver_area` px) the pixels that got a vote (at least half the area, and 2 px): a 1-px error of the
        position map lands half a sliver on keyframe lines, and the previous frame's votes then outweigh the
        keyframe's."""
        voted = counts.sum(axis=1)
        share_over = np.maximum(voted, np.minimum(np.maximum(0.5 * area, 2.0), area))
        return np.where(area <= self.config.sliver_area, share_over, area).astype(np.float32)

    def _rigid_rescue(
        self,
        regions: Regions,
        samples,
        flow: np.ndarray,
        src: _Frame,
        counts: np.ndarray,
        align: np.ndarray,
        forbid: tuple[np.ndarray, np.ndarray] | None = None,
        taken: np.ndarray | None = None,
    ) -> None:
        """Re-match regions whose dense votes are weak (badly aligned outline, few or split votes) region to region.

        Typical case: a small shape moving fast over static lines, whose blank interior DIS fills with the
        background's motion. Candidates are the source regions of similar area whose centroid lies within
        `search_radius` of the region's centroid (as is, or moved by the flow's median over the region); each is
        tried at the shift that aligns the centroids, refined by +-`refine` px, and scored by the IoU of the shifted
        region with it. The best match with IoU >= `rescue_iou` replaces the region's dense votes by its colour.
        `forbid` (owner of each source region, -1 none; [n + 1, J] whether each region lies within each owner's
        reach): a source region owned by an object that is elsewhere is no candidate (characters drawn alike).
        """
        cfg = self.config
        _, xs, ys, starts = samples
        H, W = self._shape
        area = np.maximum(regions.area, 1)
        coverage = counts.sum(axis=1) / area
        share = counts.max(axis=1) / np.maximum(counts.sum(axis=1), 1)
        weak = (align < cfg.rescue_below) | (coverage < 0.5) | (share < 0.8)
        weak[0] = False
        if not weak.any():
            return
        radius = cfg.search_radius * max(H, W)
        rr = np.arange(-cfg.refine, cfg.refine + 1)
        fine = np.stack(np.meshgrid(rr, rr), -1).reshape(-1, 2)  # [F, 2] (dx, dy)
        todo = np.flatnonzero(weak & (regions.area > 0))
        # candidates of every weak region at once: [R, S] area ratio and centroid distance (as is, or moved by the
        # flow's median along the region's outline)
        a_r = regions.area[todo].astype(np.float64)
        c_r = regions.centroid[todo]
        moved = c_r + _group_median_of(flow[ys, xs], starts, todo)
        s_area = np.maximum(src.regions.area[1:].astype(np.float64), 0.5)  # unused ids (area 0): never candidates
        s_cent = src.regions.centroid[1:]
        ratio = np.abs(np.log(s_area[None] / a_r[:, None]))
        near = np.minimum(_distances(c_r, s_cent), _distances(moved, s_cent))
        ok = (ratio < np.log(cfg.area_ratio)) & (near < radius)
        if taken is not None:  # source regions a tracked object shows elsewhere in this frame
            ok &= ~taken[1:][None]
        if forbid is not None:
            owner, in_reach = forbid
            o = owner[1:]
            ok &= (o[None] < 0) | in_reach[todo][:, np.maximum(o, 0)]
        src_flat = src.regions.inner.ravel()
        for row in np.flatnonzero(ok.any(axis=1)):
            r = todo[row]
            cand = np.flatnonzero(ok[row]) + 1
            x0, y0, x1, y1 = regions.bbox[r]
            st = max(1, int(np.sqrt(a_r[row] / (4 * cfg.align_points))))  # strided crop: ~4x the points needed
            iy, ix = np.nonzero(regions.inner[y0:y1:st, x0:x1:st] == r)
            if len(ix) == 0:
                continue
            ix, iy = ix * st, iy * st
            c = c_r[row]
            step = max(1, len(ix) // cfg.align_points)
            ix, iy = ix[::step] + x0, iy[::step] + y0
            shift = np.round(src.regions.centroid[cand] - c).astype(np.int64)  # [S, 2]
            t = (shift[:, None, :] + fine[None]).reshape(-1, 2)  # [S * F, 2]
            target = np.repeat(cand, len(fine))
            tx, ty = ix[None] + t[:, :1], iy[None] + t[:, 1:]  # [S * F, P]
            inside = track.in_box(tx, ty, W, H)
            got = np.take(src_flat, ty * W + tx, mode="clip")  # outside points: any id, masked by `inside`
            hit = np.count_nonzero((got == target[:, None]) & inside, axis=1)
            inter = hit / tx.shape[1] * a_r[row]  # estimated overlap (px)
            iou = inter / (a_r[row] + src.regions.area[target] - inter)
            # prefer matches near where the flow says the region went: tiny regions overlap any tiny region fully
            cy, cx = min(int(c[1]), H - 1), min(int(c[0]), W - 1)
            off = np.hypot(*(t - flow[cy, cx]).T)
            j = int(np.argmax(iou - cfg.rescue_distance_cost * off / radius))
            if iou[j] < cfg.rescue_iou:
                continue
            counts[r] = 0.0
            counts[r, src.color[target[j]]] = a_r[row]
            align[r] = float(iou[j])

    def _graph_fallback(
        self,
        regions: Regions,
        color: np.ndarray,
        undecided: np.ndarray,
        score: np.ndarray,
        keys: list[_Frame],
        prev: _Frame | None,
        ban: np.ndarray | None = None,
    ) -> np.ndarray:
        """Colour undecided regions by their best match among the keyframe's and the previous frame's regions.

        Cost of matching region i to source region j (lower is better), each term ~1 for a clear mismatch:
        |log area ratio| + 0.5 |log aspect ratio| + |extent difference| + centroid distance / (10% of the diagonal)
        + (1 - Jaccard of the colour sets of decided neighbours) - 2 * (share of i's own weak votes for j's colour)
        + `SAME_AS_NEIGHBOUR` if a decided neighbour of i already has j's colour.
        Regions are decided largest first, so later ones see more decided neighbours.
        """
        h, w = regions.shape
        diag = float(np.hypot(h, w))
        adj = regions.adjacency()
        feats = []
        for src in keys + ([prev] if prev is not None else []):
            r = src.regions
            idx = np.flatnonzero(r.area > 0)
            idx = idx[idx > 0]
            bw = np.maximum(r.bbox[idx, 2] - r.bbox[idx, 0], 1)
            bh = np.maximum(r.bbox[idx, 3] - r.bbox[idx, 1], 1)
            feats.append(
                (src, idx, np.log(r.area[idx] + 1.0), r.centroid[idx], np.log(bw / bh), r.area[idx] / (bw * bh))
            )
        mass = score.sum(axis=1)
        decided = ~undecided
        todo = np.flatnonzero(undecided & (regions.area > 0))
        for i in todo[np.argsort(-regions.area[todo], kind="stable")]:
            bw = max(regions.bbox[i, 2] - regions.bbox[i, 0], 1)
            bh = max(regions.bbox[i, 3] - regions.bbox[i, 1], 1)
            la_i, asp_i, ext_i = np.log(regions.area[i] + 1.0), np.log(bw / bh), regions.area[i] / (bw * bh)
            nb_cols = set(color[[j for j in adj[i] if decided[j]]].tolist())
            vote_share = score[i] / mass[i] if mass[i] > 0 else np.zeros(len(self.palette), np.float32)
            best, best_cost = color[i], np.inf
            for src, idx, la_s, cen_s, asp_s, ext_s in feats:
                if len(idx) == 0:
                    continue
                cols = src.color[idx]
                cost = (
                    np.abs(la_s - la_i)
                    + 0.5 * np.abs(asp_s - asp_i)
                    + np.abs(ext_s - ext_i)
                    + np.linalg.norm(cen_s - regions.centroid[i], axis=1) / (0.1 * diag)
                    - 2.0 * vote_share[cols]
                )
                top = np.argsort(cost, kind="stable")[:32]  # neighbour sets only for the plausible few
                if nb_cols:
                    ncs = src.neighbour_colors()
                    cost_top = cost[top] + np.array(
                        [1.0 - len(nb_cols & ncs[idx[j]]) / max(len(nb_cols | ncs[idx[j]]), 1) for j in top]
                    )
                    cost_top += SAME_AS_NEIGHBOUR * np.isin(cols[top], list(nb_cols))
                else:
                    cost_top = cost[top] + 0.5
                if ban is not None:
                    cost_top += BANNED * ban[i, cols[top]]
                j = int(np.argmin(cost_top))
                if cost_top[j] < best_cost:
                    best, best_cost = cols[top[j]], cost_top[j]
            color[i] = best
            decided[i] = True
        return color
