"""Segment a lineart frame into paint-bucket regions: the areas a paint bucket would fill.

1. Regions are the 4-connected components of non-line pixels (4-connectivity, so a 1-px 8-connected line -- the
   BasicPBC convention -- separates the areas on its two sides).
2. Gap closing in the trapped-ball spirit (Zhang et al., "Trapped-ball segmentation", 2009): the line mask is dilated
   by a disk of radius `gap_radius`, which closes gaps up to ~2 * radius px (1 px by default, whatever the line
   width: a radius that grows with the pen no longer fits in thin parts); a region of the raw segmentation that holds
   two or more "balls" (components of the dilated segmentation) leaked through a gap and is split between
   them, each pixel going to its nearest ball. Regions holding one ball or none (thin strips, eye highlights) are
   left exactly as drawn, so gap closing never erases small regions the way a plain morphological closing does.
   Before both, with `hole_length` set: pinholes through a stroke (the pen lifted 1-4 px) are closed along the
   stroke (`gaps.py`), which needs no ball: a thin part whose outline has one (an ear rim) stays its own region.
3. Specks (a few pixels, typically holes inside thick or sketchy strokes) are treated as line (their ids stay unused).
4. Every line pixel is assigned to its nearest region (`labels`), so a colouring fills the whole frame; `interior`
   keeps the distinction for voting and for compositing lines back on top.

Per-region statistics (area, centroid, bounding box) come from the labelling itself; the adjacency graph is built on
first use. Deliberately not here: colours, matching between frames (see `lvcd.backends.bucket`), and line
extraction (see `normalize.py`, `xdog.py`). No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .gaps import stroke_holes
from .normalize import Lineart, LineartConfig, normalize_lineart

MAX_LINE_WIDTH = 8.0  # px: wider "strokes" are fills (caps `estimate_line_width`)
MAX_HOLE_SHARE = 0.25  # a "hole" closing more of its region than this is the region (a pupil), not a pinhole
AUTO_GAP_RADIUS = 1  # px, closes gaps up to ~3 px. It does not grow with the line width: a ball as wide as a
#                      thick pen never fits in thin parts (ear rims, stripes), so their leaks would never be split


@dataclass
class RegionConfig:
    """How a line mask becomes regions."""

    gap_radius: int | None = None  # None: `AUTO_GAP_RADIUS` (1 px) whatever the line width; 0 disables (pinholes
    #                                through a stroke are `hole_length`'s)
    min_ball_area: int | None = None  # a ball smaller than this (px) is no evidence of a region behind a gap;
    #                                   None: 6 * radius^2 (24 px for the 2-px radius)
    wide_gap_radius: int | None = None  # a second pass for what the first left joined (wide gaps of thick pens);
    #                                     None: 2 x the line width when that is > gap_radius, else none; 0 = none
    hole_length: int = 0  # > 0: close holes of up to this - 1 px through a stroke, along it (`gaps.py`): a thin
    #                       part whose outline has one holds no ball. 5 fits the hard benchmark's 2-4 px gaps; off
    #                       by default while the matcher is tuned on the segmentation without it (bucket-benchmark.md)
    speck_area: int = 1  # components smaller than this (px) are treated as line; 1 keeps all (BasicPBC)
    line_connectivity: int = 4  # 4: regions are 4-connected, so 8-connected 1-px lines close them (BasicPBC)

    def __post_init__(self):
        if (self.gap_radius is not None and self.gap_radius < 0) or self.speck_area < 0:
            raise ValueError(
                f"`gap_radius` and `speck_area` must be >= 0 (got {self.gap_radius}, {self.speck_area}); "
                "gap_radius=None picks it from the line width."
            )
        if self.min_ball_area is not None and self.min_ball_area < 1:
            raise ValueError(f"`min_ball_area` must be >= 1 or None (got {self.min_ball_area}).")
        if self.hole_length < 0 or self.hole_length == 1:
            raise ValueError(f"`hole_length` must be 0 (off) or >= 2 px (got {self.hole_length}).")
        if self.line_connectivity not in (4, 8):
            raise ValueError(f"`line_connectivity` must be 4 or 8 (got {self.line_connectivity}).")

    def resolved(self, mask: np.ndarray) -> RegionConfig:
        """This config with `gap_radius` / `min_ball_area` filled in for lineart like `mask` (a bool line mask).
        Resolve once per shot so every frame is segmented alike."""
        r = self.gap_radius
        if r is None:
            r = AUTO_GAP_RADIUS
        a = self.min_ball_area if self.min_ball_area is not None else max(1, 6 * r * r)
        wide = self.wide_gap_radius
        if wide is None:
            wide = round(2.0 * estimate_line_width(mask)) if r > 0 else 0
            wide = wide if wide > r else 0
        return replace(self, gap_radius=r, min_ball_area=a, wide_gap_radius=wide)


def _passes(cfg: RegionConfig) -> list[tuple[int, int]]:
    """(radius, min ball area) per gap-closing pass: the small radius first (it fits thin parts), then the wide one
    splits only regions the small one left joined."""
    out = [(cfg.gap_radius, cfg.min_ball_area)] if cfg.gap_radius > 0 else []
    if cfg.wide_gap_radius:
        out.append((cfg.wide_gap_radius, 6 * cfg.wide_gap_radius**2))
    return out


def estimate_line_width(mask: np.ndarray) -> float:
    """Typical stroke width (px) of a bool line mask: twice the median ridge height of the distance transform inside
    the strokes, minus one (1 for 1-px lines, 3 for 3-px lines; 2-px lines read as 1). 1 for an empty mask, at most
    `MAX_LINE_WIDTH`."""
    m = np.ascontiguousarray(mask, dtype=bool)
    if not m.any() or m.all():
        return 1.0
    d = cv2.distanceTransform(m.view(np.uint8), cv2.DIST_L2, 3)
    ridge = m & (d >= cv2.dilate(d, np.ones((3, 3), np.uint8)))
    # ink blobs (filled black hair, a solid frame border) are not strokes: cap what they can do to the estimate
    return float(np.clip(2.0 * float(np.median(d[ridge])) - 1.0, 1.0, MAX_LINE_WIDTH))


@dataclass
class Regions:
    """A segmentation: region ids 1..n on every pixel, plus per-region statistics over interior pixels."""

    labels: np.ndarray  # int32 [H, W], 1..n everywhere; line pixels carry their nearest region's id
    interior: np.ndarray  # bool [H, W], True on non-line pixels (the pixels that define each region)
    n: int  # largest region id (some ids may be unused: area 0, on no pixel)
    area: np.ndarray  # int64 [n + 1], interior pixels per region; [0] unused
    centroid: np.ndarray  # float64 [n + 1, 2] (x, y) of interior pixels
    bbox: np.ndarray  # int32 [n + 1, 4] (x0, y0, x1, y1), x1/y1 exclusive, of interior pixels
    inner: np.ndarray | None = None  # int32 [H, W], like `labels` but 0 on line pixels (None: derive from interior)
    _adjacency: list[np.ndarray] | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.inner is None:
            self.inner = np.where(self.interior, self.labels, 0).astype(np.int32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    def adjacency(self) -> list[np.ndarray]:
        """`adj[i]` = sorted ids of the regions touching region i (across a line counts as touching)."""
        if self._adjacency is None:
            lab = self.labels
            pairs = []
            for a, b in ((lab[:, :-1], lab[:, 1:]), (lab[:-1, :], lab[1:, :])):
                d = a != b
                pairs.append(np.stack([a[d], b[d]], axis=1))
            p = np.concatenate(pairs).astype(np.int64)
            p = np.sort(p, axis=1)
            key = np.unique(p[:, 0] * (self.n + 1) + p[:, 1])
            i, j = key // (self.n + 1), key % (self.n + 1)
            both = np.concatenate([np.stack([i, j], 1), np.stack([j, i], 1)])
            both = both[np.lexsort((both[:, 1], both[:, 0]))]
            splits = np.searchsorted(both[:, 0], np.arange(self.n + 2))
            self._adjacency = [both[splits[k] : splits[k + 1], 1] for k in range(self.n + 1)]
        return self._adjacency


def _line_mask(lineart, lineart_config: LineartConfig | None) -> np.ndarray:
    if isinstance(lineart, Lineart):
        return lineart.mask
    arr = np.asarray(lineart)
    if arr.dtype == bool and arr.ndim == 2:
        return arr
    return normalize_lineart(arr, lineart_config).mask


def _region_stats(inner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """area [n + 1], centroid [n + 1, 2] (x, y) and bbox [n + 1, 4] (x0, y0, x1, y1) of ids 1..n in `inner`
    (0 = not counted): three bincounts and one `find_objects`, whatever the number of regions."""
    from scipy import ndimage

    h, w = inner.shape
    flat = inner.ravel()
    area = np.bincount(flat, minlength=n + 1).astype(np.int64)
    rows = np.bincount(flat, weights=np.repeat(np.arange(h, dtype=np.float64), w), minlength=n + 1)
    cols = np.bincount(flat, weights=np.tile(np.arange(w, dtype=np.float64), h), minlength=n + 1)
    area[0] = 0
    a = np.maximum(area, 1)
    centroid = np.stack([cols / a, rows / a], 1)
    centroid[0] = 0.0
    bbox = np.zeros((n + 1, 4), np.int32)
    for i, sl in enumerate(ndimage.find_objects(inner, max_label=n), start=1):
        if sl is not None:
            bbox[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return area, centroid, bbox


def _part_stats(
    part: np.ndarray, reg: np.ndarray, k: int, x0: int, y0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """area [k], centroid [k, 2] (x, y) and bbox [k, 4] of the parts 0..k-1 of one split region, from its crop
    (`part`: part index per crop pixel, `reg`: the region's pixels, (x0, y0): the crop's corner). The split parts
    lie inside their region's crop, so nothing outside it is read: ~100x cheaper than statistics over the frame."""
    if k <= 16:  # a few parts (the usual split): C-speed moments and bounding box per part, no coordinate arrays
        area, centroid, bbox = np.zeros(k, np.int64), np.zeros((k, 2)), np.zeros((k, 4), np.int32)
        for j in range(k):
            m = ((part == j) & reg).view(np.uint8)
            mo = cv2.moments(m, binaryImage=True)
            if mo["m00"] > 0:
                area[j] = round(mo["m00"])
                centroid[j] = (mo["m10"] / mo["m00"] + x0, mo["m01"] / mo["m00"] + y0)
                bx, by, bw, bh = cv2.boundingRect(m)
                bbox[j] = (bx + x0, by + y0, bx + bw + x0, by + bh + y0)
        return area, centroid, bbox
    ys, xs = np.nonzero(reg)
    p = part[ys, xs]
    area = np.bincount(p, minlength=k).astype(np.int64)
    a = np.maximum(area, 1)
    centroid = np.stack(
        [np.bincount(p, weights=xs, minlength=k) / a + x0, np.bincount(p, weights=ys, minlength=k) / a + y0], 1
    )
    bbox = np.zeros((k, 4), np.int32)
    big = np.iinfo(np.int32).max
    lo_x, lo_y = np.full(k, big, np.int64), np.full(k, big, np.int64)
    hi_x, hi_y = np.full(k, -1, np.int64), np.full(k, -1, np.int64)
    np.minimum.at(lo_x, p, xs)
    np.minimum.at(lo_y, p, ys)
    np.maximum.at(hi_x, p, xs)
    np.maximum.at(hi_y, p, ys)
    ok = area > 0
    bbox[ok] = np.stack([lo_x + x0, lo_y + y0, hi_x + 1 + x0, hi_y + 1 + y0], 1)[ok]
    centroid[~ok] = 0.0
    return area, centroid, bbox


def segment_regions(
    lineart: Lineart | np.ndarray,
    config: RegionConfig | None = None,
    *,
    lineart_config: LineartConfig | None = None,
) -> Regions:
    """Regions enclosed by lines. `lineart` is a `Lineart`, a bool line mask, or raw lineart (normalised first).

    Region ids are the connected-component ids (plus appended ids for split regions); ids of specks stay unused
    (area 0, on no pixel), which saves relabelling the frame.
    """
    mask = np.ascontiguousarray(_line_mask(lineart, lineart_config), dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"a line mask must be [H, W] (got shape {mask.shape}).")
    cfg = (config or RegionConfig()).resolved(mask)
    h, w = mask.shape
    if cfg.hole_length:  # 1a. pinholes through strokes become line where they split a region
        mask = _close_holes(mask, *stroke_holes(mask, cfg.hole_length), cfg.line_connectivity)
    # 1. raw regions: 4-connected components of non-line pixels (label 0 = line)
    n0, labels, stats, cents = cv2.connectedComponentsWithStats(
        (~mask).view(np.uint8), connectivity=cfg.line_connectivity, ltype=cv2.CV_32S
    )
    area = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
    area[0] = 0
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    bbox = np.stack([x0, y0, x0 + stats[:, cv2.CC_STAT_WIDTH], y0 + stats[:, cv2.CC_STAT_HEIGHT]], 1).astype(np.int32)
    bbox[0] = 0
    centroid = cents.astype(np.float64)
    centroid[0] = 0.0
    # 3. specks -> line (their ids stay, empty)
    speck = (area < max(cfg.speck_area, 1)) & (area > 0)
    if area.sum() - area[speck].sum() == 0:  # nothing but lines (or specks): one region covering the frame
        labels = np.ones((h, w), np.int32)
        return Regions(
            labels,
            np.zeros((h, w), bool),
            1,
            np.zeros(2, np.int64),
            np.array([[0, 0], [w / 2, h / 2]]),
            np.array([[0, 0, 0, 0], [0, 0, w, h]], np.int32),
        )
    if speck.any():
        labels = np.where(speck[labels], 0, labels).astype(np.int32)
        area[speck] = 0
    n = n0 - 1
    # 2. gap closing: split raw regions that hold two or more balls
    for r, min_ball in _passes(cfg):
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        closed = cv2.dilate(mask.view(np.uint8), disk)
        nb, lb = cv2.connectedComponents(1 - closed, connectivity=4, ltype=cv2.CV_32S)
        big = np.bincount(lb.ravel(), minlength=nb) >= min_ball
        big[0] = False
        parts = []
        if big.sum() >= 2:
            ball_raw = np.zeros(nb, np.int32)
            ball_raw[lb] = labels  # every ball lies inside one raw region (entry 0 is meaningless: unused)
            per_region = np.bincount(ball_raw[big], minlength=n + 1)
            per_region[0] = 0
            for s in np.flatnonzero(per_region >= 2):
                bx0, by0, bx1, by1 = bbox[s]
                crop = labels[by0:by1, bx0:bx1]
                reg = crop == s
                balls = lb[by0:by1, bx0:bx1]
                seed = reg & np.take(big, balls)
                # nearest seed pixel for every pixel of the crop (zeros of `src` are the seeds)
                _, near = cv2.distanceTransformWithLabels(
                    (~seed).view(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
                )
                seed_ball = balls[seed]  # raster order == DIST_LABEL_PIXEL numbering
                # compact the owning balls to parts 0..k-1 (part 0 keeps the region's id, the others get new ids).
                # Every seed lies in the region and owns itself, so the balls owning its pixels are the seeds' balls
                present = np.bincount(seed_ball, minlength=nb) > 0
                ids = np.flatnonzero(present)
                seed_part = np.concatenate([[0], (np.cumsum(present) - 1)[seed_ball]]).astype(np.int32)
                part = np.take(seed_part, near)  # [h, w] part of every crop pixel's nearest seed (only `reg` matters)
                new_ids = np.concatenate([[s], np.arange(n + 1, n + len(ids))]).astype(np.int32)
                np.copyto(crop, np.take(new_ids, part), where=reg)
                parts.append((new_ids, *_part_stats(part, reg, len(ids), bx0, by0)))
                n += len(ids) - 1
            if parts:  # the split parts' statistics, from their crops (the other regions' are unchanged)
                grow = n + 1 - len(area)
                area = np.concatenate([area, np.zeros(grow, area.dtype)])
                centroid = np.concatenate([centroid, np.zeros((grow, 2))])
                bbox = np.concatenate([bbox, np.zeros((grow, 4), bbox.dtype)])
                for new_ids, a, c, b in parts:
                    area[new_ids], centroid[new_ids], bbox[new_ids] = a, c, b
    inner = labels
    interior = inner > 0
    # 4. every line (and speck) pixel takes its nearest region's id
    labels = _fill_lines(inner, interior)
    return Regions(labels=labels, interior=interior, n=n, area=area, centroid=centroid, bbox=bbox, inner=inner)


def _close_holes(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, connectivity: int) -> np.ndarray:
    """`mask` with the pinhole pixels (ys, xs) made line where they split a region in two (a thin part from what
    leaked into it). Left as drawn: fills that only shave a notch off a region's edge or a corner (they split nothing),
    and fills taking more than `MAX_HOLE_SHARE` of a region (a pupil a few pixels across is a region, not a hole)."""
    if not len(ys):
        return mask
    n_raw, raw = cv2.connectedComponents((~mask).view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)
    at = raw[ys, xs]
    lost = np.bincount(at, minlength=n_raw)
    ok = (lost <= MAX_HOLE_SHARE * np.bincount(raw.ravel(), minlength=n_raw))[at]
    ys, xs, at = ys[ok], xs[ok], at[ok]
    if not len(ys):
        return mask
    filled = mask.copy()
    filled[ys, xs] = True
    _, lab = cv2.connectedComponents((~filled).view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)
    # the regions of the filled frame next to each raw region's fills: two or more -> the fills split it
    h, w = mask.shape
    pairs = np.concatenate(
        [
            np.stack([at, lab[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)]], 1)
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0))
        ]
    )  # [4N, 2] (raw region, filled region next to a fill pixel)
    pairs = np.unique(pairs[pairs[:, 1] > 0], axis=0)
    split = np.bincount(pairs[:, 0], minlength=n_raw) >= 2
    keep = split[at]
    if keep.all():
        return filled
    out = mask.copy()
    out[ys[keep], xs[keep]] = True
    return out


def _fill_lines(inner: np.ndarray, interior: np.ndarray) -> np.ndarray:
    """`inner` with every non-interior pixel given its nearest interior pixel's id."""
    if interior.all():
        return inner
    _, near = cv2.distanceTransformWithLabels(
        interior.view(np.uint8) ^ 1, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    # raster order == DIST_LABEL_PIXEL numbering (from 1); an interior pixel is its own nearest, so one gather
    seeds = np.concatenate([np.zeros(1, np.int32), inner[interior]])
    return np.take(seeds, near)


def pair_counts(a: np.ndarray, b: np.ndarray, sel: np.ndarray | None = None):
    """(a value, b value, pixel count) of each pair of values that the pixels (all, or those in `sel`, bool [H, W])
    have in the label images `a` and `b` (int [H, W], non-negative), sorted by a then b."""
    x, y = (a, b) if sel is None else (a[sel], b[sel])
    x, y = x.astype(np.int64).ravel(), y.astype(np.int64).ravel()
    m = int(y.max()) + 1 if len(y) else 1
    u, c = np.unique(x * m + y, return_counts=True)
    return u // m, u % m, c


def rank_pairs(group: np.ndarray, value: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, first) over distinct (group, value) pairs with their counts (int [P] each): `order` sorts them by
    group, then most common first (ties: the smaller value first); `first` (bool [P], along `order`) marks each
    group's most common value. The one place "which value does each region mostly hold" is decided."""
    order = np.lexsort((value, -count, group))
    g = group[order]
    first = np.ones(len(order), bool)
    first[1:] = g[1:] != g[:-1]
    return order, first


def _paints_by_region(regions: Regions, codes: np.ndarray):
    """(region, paint, pixel count) of every (region, paint) pair on interior pixels, the pairs' order with each
    region's most common paint first, and which of that order are the firsts (`rank_pairs`)."""
    lab = regions.inner[regions.interior].astype(np.int64)
    pairs, counts = np.unique(lab << 24 | codes[regions.interior].astype(np.int64), return_counts=True)
    reg, col = pairs >> 24, pairs & 0xFFFFFF
    order, first = rank_pairs(reg, col, counts)
    return reg, col, counts, order, first


def region_paints(regions: Regions, codes: np.ndarray) -> np.ndarray:
    """int64 [n + 1]: each region's most common paint code over its interior (ids on no pixel: any used paint)."""
    reg, col, _, order, first = _paints_by_region(regions, codes)
    region_code = np.full(regions.n + 1, -1, np.int64)
    region_code[reg[order][first]] = col[order][first]
    used = region_code >= 0  # ids that lie on no pixel (specks, blank frames) get any used paint
    region_code[~used] = region_code[used][0] if used.any() else 0xFFFFFF
    return region_code


def split_by_paint(regions: Regions, codes: np.ndarray, min_area: int = 20) -> Regions:
    """Split regions of a coloured keyframe that hold more than one paint.

    A gap the segmentation could not close joins two shapes (a stripe and the body it crosses) into one region, and
    one colour per region would drop the smaller paint from the keyframe for the whole shot. Every 4-connected piece
    of a region's minority paint that covers `min_area` px and is 2 px thick somewhere becomes a region of its own
    (the 1-px blended fringe anti-aliasing leaves along a straight line never is). `codes`: int [H, W] packed
    RGB of the keyframe. Returns `regions` itself when nothing splits."""
    inner, interior, n = regions.inner, regions.interior, regions.n
    reg, pc, counts, order, first = _paints_by_region(regions, codes)
    minority = order[~first & (counts[order] >= min_area)]
    if len(minority) == 0:
        return regions
    out = inner.copy()
    nxt = n + 1
    for j in minority:
        r, paint = int(reg[j]), int(pc[j])
        x0, y0, x1, y1 = regions.bbox[r]
        m = ((inner[y0:y1, x0:x1] == r) & (codes[y0:y1, x0:x1] == paint)).view(np.uint8)
        k, comp, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=4)
        core = cv2.erode(m, np.ones((2, 2), np.uint8), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT, borderValue=0)
        thick = np.bincount(comp[core > 0], minlength=k) > 0  # holds a 2x2 block: not a 1-px fringe
        for c in range(1, k):
            if stats[c, cv2.CC_STAT_AREA] >= min_area and thick[c]:
                out[y0:y1, x0:x1][comp == c] = nxt
                nxt += 1
    if nxt == n + 1:
        return regions
    area, centroid, bbox = _region_stats(out, nxt - 1)
    return Regions(
        labels=_fill_lines(out, interior),
        interior=interior,
        n=nxt - 1,
        area=area,
        centroid=centroid,
        bbox=bbox,
        inner=out,
    )
