"""The paint-bucket colorizer: weight-free, CPU-only colouring of lineart from one coloured keyframe.

Cel animation is painted region by region with flat colours, so colouring a shot is a matching problem: which region
of the keyframe does each region of this frame continue? (BasicPBC, Dai et al., CVPR 2024, learn this matching; this
file does it with classical tools.) Per frame:

1. Normalise the lineart (`lvcd.lineart.normalize_lineart`; "auto" polarity is settled on the first frame) and
   segment it into regions (`segment_regions`: enclosed areas, small gaps closed, line pixels given to a region).
2. Dense optical flow (OpenCV DIS) from this frame to the previous frame and to the keyframe, computed at a reduced
   resolution on distance-to-line images (blank areas between strokes get a gradient DIS can follow).
3. Each source's per-pixel palette index (its regions' paints; nothing on lines) is warped into this frame and
   counted per region: a majority vote. A source's votes for a region are weighted by the square of how well the
   affine motion fitted to the flow along the region's outline lays that outline onto the source's lines, so the
   keyframe anchors the colours where the pose still matches it (errors do not accumulate over a long shot) and
   fades out where it does not. Where both sources vote equally (a small region both see perfectly), the keyframe's
   paint wins: the previous frame's may be an earlier mistake (on the sample: region Acc 0.962 -> 0.969).
4. Regions with weak votes (outline badly aligned, votes sparse or split) are re-matched region to region: the
   source region of similar area nearby with the best overlap (IoU) under a rigid shift gives its paint. This
   catches small shapes moving fast over static lines, whose blank interior the dense flow drags along with the
   background.
5. Regions still undecided (no clear majority) are matched on the region graph -- area, position, bounding-box
   shape and the paints of decided neighbours -- against the keyframe's and the previous frame's regions.
6. Output: flat palette colours, line pixels included (a line pixel takes its nearest region's paint; colour-trace
   lines take the darker or lighter side's paint, whichever the keyframe shows); `keep_lines` draws the original
   black lines on top.

Memory is constant in the shot length: the keyframe's state and the previous frame's state are all that is kept.
A `BucketColorizer` colours one shot at a time. Deliberately not here: shot splitting and frame ordering (the caller
passes the frames starting next to the keyframe, reversed if the keyframe is the last frame), more than one keyframe
per shot, shading or gradients (colours are the reference's flat paints), colours for regions that appear in no
source frame (they get the best graph match, which can be wrong: a mouth opening for the first time), and any
learned model. No torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..lineart.normalize import Lineart, LineartConfig, composite_lines, normalize_lineart
from ..lineart.palette import codes_rgb, rgb_codes
from ..lineart.regions import RegionConfig, Regions, segment_regions
from ..lineart.xdog import XDoGConfig, extract_lineart

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
KEY_TIE_BREAK = 1e-3  # share of the keyframe's own score added when picking the winner: breaks (near-)ties its way
NO_VOTE = np.uint16(65535)  # palette index meaning "this pixel has no colour to give" (lines, outside the frame)
MAX_PALETTE = 1024  # distinct paints in a keyframe; cels use tens, and votes cost regions x paints memory
_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


@dataclass
class BucketConfig:
    """Knobs of the paint-bucket colorizer. Defaults were tuned on the bundled sample and BasicPBC clips."""

    lineart: LineartConfig = field(default_factory=LineartConfig)
    regions: RegionConfig = field(default_factory=RegionConfig)
    xdog: XDoGConfig = field(default_factory=XDoGConfig)  # only for a reference given without its lineart
    flow_side: int = 512  # flow runs on a copy this long (px): lineart motion is smooth; full-HD DIS costs ~10x
    flow_preset: str = "medium"  # DIS preset: "medium" follows fast limbs; "ultrafast" is ~3x cheaper, less exact
    flow_slope: float = 4.0  # grey levels per px of distance to the nearest line in the flow image (64 px reach)
    align_tolerance: int = 1  # px (chessboard): an outline pixel landing this close to a source line is aligned
    align_points: int = 96  # outline pixels sampled per region to score a motion
    rescue_below: float = 0.9  # regions aligned worse than this by the dense flow get a rigid-shift search
    rescue_iou: float = 0.7  # overlap with one source region needed for a shift to replace the flow's votes
    area_ratio: float = 2.0  # source regions more than this factor larger or smaller are not candidates
    refine: int = 2  # px searched around the centroid-aligning shift (rotation and deformation move centroids)
    rescue_distance_cost: float = 0.5  # IoU traded per `search_radius` of distance from the flow's own guess
    search_radius: float = 0.15  # of the longer side: how far a region's match may have moved (38 px at 256 px)
    keyframe_weight: float = 1.0  # keyframe votes relative to previous-frame votes (before alignment weighting)
    min_share: float = 0.5  # a region is decided by votes when its top colour holds this share of its vote mass
    min_support: float = 0.2  # ... and the votes cover this fraction of its pixels
    keep_lines: bool = False  # composite the original lines over the flat colours
    keep_colored_lines: bool = False  # colour-trace lines (red/blue shadow boundaries) are painted over in cels

    def __post_init__(self):
        if self.flow_preset not in _DIS_PRESETS:
            raise ValueError(f"`flow_preset` must be one of {', '.join(_DIS_PRESETS)} (got {self.flow_preset!r}).")
        if self.flow_side < 32:
            raise ValueError(f"`flow_side` must be >= 32 px (got {self.flow_side}); 512 is a good default.")
        if not 0.0 < self.min_share <= 1.0 or not 0.0 <= self.min_support <= 1.0:
            raise ValueError(
                f"`min_share` must be in (0, 1] and `min_support` in [0, 1] "
                f"(got {self.min_share}, {self.min_support})."
            )
        if self.keyframe_weight < 0:
            raise ValueError(f"`keyframe_weight` must be >= 0 (got {self.keyframe_weight}).")


@dataclass
class _Frame:
    """What the colorizer keeps of a coloured frame: enough to vote from it and to match regions against it."""

    lineart: Lineart
    regions: Regions
    color: np.ndarray  # int32 [n + 1] palette index per region
    votes_map: np.ndarray  # uint16 [H, W] palette index on interior pixels, NO_VOTE elsewhere
    flow_img: np.ndarray  # uint8 [h, w] softened lines at flow resolution
    near: np.ndarray  # bool [H, W]: within `align_tolerance` px of a line (scores how well a motion aligns lines)
    _neighbour_colors: list[set[int]] | None = None

    def neighbour_colors(self) -> list[set[int]]:
        if self._neighbour_colors is None:
            adj = self.regions.adjacency()
            self._neighbour_colors = [set(self.color[a].tolist()) for a in adj]
        return self._neighbour_colors


class BucketColorizer:
    """Colour a shot's lineart frames from one coloured keyframe with flat palette colours.

    >>> colorizer = BucketColorizer(BucketConfig(keep_lines=True))
    >>> for frame in colorizer.colorize(reference_rgb, reference_lineart, lineart_frames):
    ...     writer.write(frame)
    """

    def __init__(self, config: BucketConfig | None = None):
        self.config = config or BucketConfig()
        self._dis = None

    # ------------------------------------------------------------------------------------------------ public API
    def colorize(
        self,
        reference_rgb: np.ndarray,
        reference_lineart: np.ndarray | Lineart | None,
        lineart_frames: Iterable[np.ndarray],
    ) -> Iterator[np.ndarray]:
        """Yield exactly one uint8 [H, W, 3] RGB frame per lineart frame, in order, streaming.

        `reference_rgb` (uint8 RGB or RGBA, transparent = white) colours `reference_lineart`, which may be any frame
        of the shot or none of them (an off-frame reference); None extracts its lines with XDoG. Frames are
        processed in the order given: pass them starting next to the keyframe (reversed when the keyframe is last).
        """
        key = self.prepare_reference(reference_rgb, reference_lineart)  # validate before the first frame is read
        return self._run(key, lineart_frames)

    def prepare_reference(self, reference_rgb: np.ndarray, reference_lineart) -> _Frame:
        """The keyframe's regions and paints; sets this colorizer's palette for the shot (`colorize` calls it)."""
        ref = np.asarray(reference_rgb)
        if ref.ndim != 3 or ref.shape[2] not in (3, 4) or ref.dtype != np.uint8:
            raise ValueError(
                f"`reference_rgb` must be a uint8 [H, W, 3] RGB (or RGBA) image (got {ref.dtype} {ref.shape})."
            )
        if ref.shape[2] == 4:  # transparent areas are paper
            a = ref[..., 3:4].astype(np.float32) / 255.0
            ref = np.round(ref[..., :3] * a + 255.0 * (1.0 - a)).astype(np.uint8)
        if reference_lineart is None:
            la = extract_lineart(ref, self.config.xdog, self.config.lineart)
        else:
            la = normalize_lineart(reference_lineart, self.config.lineart)
        if la.shape != ref.shape[:2]:
            raise ValueError(
                f"`reference_lineart` is {la.shape[1]}x{la.shape[0]} but `reference_rgb` is {ref.shape[1]}x"
                f"{ref.shape[0]}; they must show the same frame at the same size (or pass None to extract lines)."
            )
        self._regions_cfg = self.config.regions.resolved(la.mask)  # e.g. gap radius from the line width, per shot
        regions = segment_regions(la, self._regions_cfg)
        # each region's colour = the most common reference colour over its interior pixels (exact paint values)
        codes = rgb_codes(ref)
        lab = regions.labels[regions.interior].astype(np.int64)
        pairs, counts = np.unique(lab << 24 | codes[regions.interior], return_counts=True)
        reg, col = pairs >> 24, pairs & 0xFFFFFF
        order = np.lexsort((-counts, reg))  # per region, most common colour first
        first = np.ones(len(order), bool)
        first[1:] = reg[order][1:] != reg[order][:-1]
        region_code = np.full(regions.n + 1, -1, np.int64)
        region_code[reg[order][first]] = col[order][first]
        used = region_code >= 0  # ids that lie on no pixel (specks, blank frames) get any used paint
        region_code[~used] = region_code[used][0] if used.any() else 0xFFFFFF
        palette_codes, color = np.unique(region_code[1:], return_inverse=True)
        if len(palette_codes) > MAX_PALETTE:
            raise ValueError(
                f"the reference has {len(palette_codes)} distinct region colours (more than {MAX_PALETTE}); the "
                "paint-bucket backend expects flat cel paints. Check that `reference_rgb` is the coloured version of "
                "`reference_lineart`, or snap a shaded reference to a palette first (lvcd.lineart.PaletteSnapper)."
            )
        self.palette = codes_rgb(palette_codes)  # uint8 [K, 3]
        color = np.concatenate([[0], color]).astype(np.int32)
        self._shape = la.shape
        self._grid = None
        # colour-trace lines are painted over with the paint on one of their sides: learn which from the keyframe
        self._rank = np.argsort(np.argsort(self.palette.astype(np.float32) @ _LUMA, kind="stable"), kind="stable")
        self._trace_rule: dict[int, bool] = {}  # ink code -> True: the darker side's paint, False: the lighter one
        if la.colored is not None:
            dark, light = self._trace_sides(regions, color, la.colored)
            ink, truth = rgb_codes(la.ink[la.colored]), codes[la.colored]
            for code in np.unique(ink):
                sel = ink == code
                d = np.count_nonzero(rgb_codes(dark)[sel] == truth[sel])
                li = np.count_nonzero(rgb_codes(light)[sel] == truth[sel])
                self._trace_rule[int(code)] = d >= li
        return self._make_frame(la, regions, color)

    def _trace_sides(self, regions: Regions, color: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Paints of the darkest and lightest region touching each `where` pixel (3x3): [m, 3] uint8 each."""
        rank = self._rank[color].astype(np.uint16)  # [n + 1] luminance rank of each region's paint
        k = np.ones((3, 3), np.uint8)
        lo = np.where(regions.interior, np.take(rank, regions.labels), np.uint16(65535)).astype(np.uint16)
        hi = np.where(regions.interior, np.take(rank, regions.labels), np.uint16(0)).astype(np.uint16)
        lo, hi = cv2.erode(lo, k)[where], cv2.dilate(hi, k)[where]
        by_rank = np.argsort(self._rank)  # rank -> palette index
        lo = np.where(lo == 65535, hi, lo)  # no paint nearby on one side: use the other
        return self.palette[by_rank[np.minimum(lo, len(by_rank) - 1)]], self.palette[by_rank[hi]]

    def _paint_trace_lines(self, out: np.ndarray, la: Lineart, regions: Regions, color: np.ndarray) -> None:
        """Paint colour-trace line pixels with the side the keyframe taught (in place)."""
        if la.colored is None:
            return
        dark, light = self._trace_sides(regions, color, la.colored)
        default = sum(self._trace_rule.values()) * 2 >= len(self._trace_rule)  # unseen inks: majority rule
        ink = rgb_codes(la.ink[la.colored])
        use_dark = np.array([self._trace_rule.get(int(c), default) for c in np.unique(ink)])
        use_dark = use_dark[np.searchsorted(np.unique(ink), ink)]
        out[la.colored] = np.where(use_dark[:, None], dark, light)

    # ------------------------------------------------------------------------------------------------ internals
    def _run(self, key: _Frame, lineart_frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        cfg = self.config
        line_cfg = cfg.lineart  # "auto" polarity is settled on the first frame: one convention per shot
        prev: _Frame | None = None
        for i, raw in enumerate(lineart_frames):
            la = normalize_lineart(raw, line_cfg)
            if la.shape != self._shape:
                raise ValueError(
                    f"lineart frame {i} is {la.shape[1]}x{la.shape[0]} but the reference is {self._shape[1]}x"
                    f"{self._shape[0]}; every frame of a shot must have the reference's size."
                )
            if line_cfg.polarity == "auto":
                line_cfg = replace(line_cfg, polarity=la.polarity)
            regions = segment_regions(la, self._regions_cfg)
            if np.array_equal(la.mask, key.lineart.mask):
                color = key.color.copy()  # the keyframe itself: same segmentation, exact colours
            else:
                color = self._match(la, regions, key, prev)
            out = self._paint(regions, color)
            if not cfg.keep_colored_lines:
                self._paint_trace_lines(out, la, regions, color)
            if cfg.keep_lines:
                out = composite_lines(out, la, keep_colored=cfg.keep_colored_lines)
            prev = self._make_frame(la, regions, color)
            yield out

    def _make_frame(self, la: Lineart, regions: Regions, color: np.ndarray) -> _Frame:
        lut = color.astype(np.uint16)
        lut[0] = NO_VOTE
        votes_map = np.take(lut, regions.inner)  # [H, W] palette index on interior pixels, NO_VOTE on lines
        t = self.config.align_tolerance
        near = (
            cv2.dilate(la.mask.view(np.uint8), np.ones((2 * t + 1, 2 * t + 1), np.uint8)).view(bool) if t else la.mask
        )
        return _Frame(la, regions, color, votes_map, self._flow_image(la), near)

    def _paint(self, regions: Regions, color: np.ndarray) -> np.ndarray:
        """[H, W, 3] uint8 flat colours: one gather of packed RGBA words instead of three channel gathers."""
        rgb = self.palette[color]  # [n + 1, 3]
        packed = np.zeros((len(rgb), 4), np.uint8)
        packed[:, :3] = rgb
        words = np.take(packed.view(np.uint32).ravel(), regions.labels)  # [H, W] uint32
        return cv2.cvtColor(words.view(np.uint8).reshape(*regions.shape, 4), cv2.COLOR_RGBA2RGB)

    def _flow_size(self) -> tuple[int, int]:
        h, w = self._shape
        s = min(1.0, self.config.flow_side / max(h, w))
        return max(8, round(w * s)), max(8, round(h * s))

    def _flow_image(self, la: Lineart) -> np.ndarray:
        """Lines -> a distance-to-line image at flow resolution. Raw lineart is blank between strokes, where DIS has
        nothing to match; the distance transform gives every pixel a gradient pointing at its nearest lines, which
        lifts the share of keyframe regions whose flow votes are right on the bundled sample from ~0.6 to ~0.87."""
        size = self._flow_size()
        s = la.strength
        if size != (s.shape[1], s.shape[0]):
            s = cv2.resize(s, size, interpolation=cv2.INTER_AREA)  # a 1-px line keeps >= 1/scale^2 of its ink
            scale = la.shape[1] / size[0]
            lines = s >= min(0.5, 0.5 / scale**2)
        else:
            lines = la.mask
        d = cv2.distanceTransform((~lines).astype(np.uint8), cv2.DIST_L2, 3)
        return np.clip(255.0 - d * self.config.flow_slope, 0, 255).astype(np.uint8)

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.config.flow_preset])
        return self._dis.calc(a, b, None)

    def _full_flow(self, cur_img: np.ndarray, src: _Frame) -> np.ndarray:
        """Flow from the current frame into `src` at full resolution, in px: cur(x) ~ src(x + flow(x))."""
        fwd = self._flow(cur_img, src.flow_img)
        h, w = cur_img.shape
        H, W = self._shape
        if (w, h) == (W, H):
            return fwd
        flow = cv2.resize(fwd, (W, H), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= W / w
        flow[..., 1] *= H / h
        return flow

    def _dense_votes(self, regions: Regions, flow: np.ndarray, src: _Frame) -> np.ndarray:
        """float32 [n + 1, K]: per region, how many of its interior pixels the flow brings from each colour."""
        H, W = self._shape
        if self._grid is None:
            self._grid = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        votes = cv2.remap(
            src.votes_map,
            self._grid[0] + flow[..., 0],
            self._grid[1] + flow[..., 1],
            cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=int(NO_VOTE),
        )
        k = len(self.palette)
        # column k collects "no vote", row 0 the current frame's line pixels: both dropped after one bincount
        np.minimum(votes, k, out=votes)
        big = (regions.n + 1) * (k + 1) >= 2**31
        keys = (regions.inner.astype(np.int64) if big else regions.inner) * (k + 1) + votes
        counts = np.bincount(keys.ravel(), minlength=(regions.n + 1) * (k + 1)).reshape(regions.n + 1, k + 1)
        counts = counts[:, :k].astype(np.float32)
        counts[0] = 0.0
        return counts

    def _samples(self, la: Lineart, regions: Regions):
        """Up to `align_points` line pixels per region (lines belong to their nearest region): the region's outline,
        used to score how well a motion lays it onto the source's lines."""
        ys, xs = np.nonzero(la.mask)
        lab = regions.labels[ys, xs]
        order = np.argsort(lab, kind="stable")
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

    def _rigid_rescue(
        self, regions: Regions, samples, flow: np.ndarray, src: _Frame, counts: np.ndarray, align: np.ndarray
    ) -> None:
        """Re-match regions whose dense votes are weak (badly aligned outline, few or split votes) region to region.

        Typical case: a small shape moving fast over static lines, whose blank interior DIS fills with the
        background's motion. Candidates are the source regions of similar area whose centroid lies within
        `search_radius` of the region's centroid (as is, or moved by the flow's median over the region); each is
        tried at the shift that aligns the centroids, refined by +-`refine` px, and scored by the IoU of the shifted
        region with it. The best match with IoU >= `rescue_iou` replaces the region's dense votes by its colour.
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
        s_area = src.regions.area[1:].astype(np.float64)
        s_cent = src.regions.centroid[1:]
        for r in np.flatnonzero(weak & (regions.area > 0)):
            a_r, c_r = float(regions.area[r]), regions.centroid[r]
            x0, y0, x1, y1 = regions.bbox[r]
            st = max(1, int(np.sqrt(a_r / (4 * cfg.align_points))))  # strided crop: ~4x the points needed
            iy, ix = np.nonzero(regions.inner[y0:y1:st, x0:x1:st] == r)
            if len(ix) == 0:
                continue
            ix, iy = ix * st, iy * st
            moved = c_r
            if starts[r + 1] > starts[r]:
                px, py = xs[starts[r] : starts[r + 1]], ys[starts[r] : starts[r + 1]]
                moved = c_r + np.median(flow[py, px], axis=0)
            ratio = np.abs(np.log(np.maximum(s_area, 0.5) / a_r))  # unused ids have area 0: never candidates
            near = np.minimum(np.linalg.norm(s_cent - c_r, axis=1), np.linalg.norm(s_cent - moved, axis=1))
            cand = np.flatnonzero((ratio < np.log(cfg.area_ratio)) & (near < radius)) + 1
            if len(cand) == 0:
                continue
            step = max(1, len(ix) // cfg.align_points)
            ix, iy = ix[::step] + x0, iy[::step] + y0
            shift = np.round(src.regions.centroid[cand] - c_r).astype(np.int64)  # [S, 2]
            t = (shift[:, None, :] + fine[None]).reshape(-1, 2)  # [S * F, 2]
            target = np.repeat(cand, len(fine))
            tx, ty = ix[None] + t[:, :1], iy[None] + t[:, 1:]  # [S * F, P]
            inside = (tx >= 0) & (tx < W) & (ty >= 0) & (ty < H)
            got = np.where(inside, src.regions.inner[np.clip(ty, 0, H - 1), np.clip(tx, 0, W - 1)], 0)
            inter = (got == target[:, None]).mean(axis=1) * a_r  # estimated overlap (px)
            iou = inter / (a_r + src.regions.area[target] - inter)
            # prefer matches near where the flow says the region went: tiny regions overlap any tiny region fully
            cy, cx = min(int(c_r[1]), H - 1), min(int(c_r[0]), W - 1)
            off = np.linalg.norm(t - flow[cy, cx], axis=1)
            j = int(np.argmax(iou - cfg.rescue_distance_cost * off / radius))
            if iou[j] < cfg.rescue_iou:
                continue
            counts[r] = 0.0
            counts[r, src.color[target[j]]] = a_r
            align[r] = float(iou[j])

    def _match(self, la: Lineart, regions: Regions, key: _Frame, prev: _Frame | None) -> np.ndarray:
        cfg = self.config
        k = len(self.palette)
        cur_img = self._flow_image(la)
        samples = self._samples(la, regions)
        score = np.zeros((regions.n + 1, k), np.float32)
        key_score = np.zeros((regions.n + 1, k), np.float32)
        weight_sum = np.zeros(regions.n + 1, np.float32)
        sources = [(key, cfg.keyframe_weight)] + ([(prev, 1.0)] if prev is not None else [])
        for src, w in sources:
            if w <= 0:
                continue
            flow = self._full_flow(cur_img, src)
            counts = self._dense_votes(regions, flow, src)
            align = self._affine_alignment(regions, samples, flow, src)
            self._rigid_rescue(regions, samples, flow, src, counts, align)
            wq = (w * align**2).astype(np.float32)  # [n + 1]
            part = wq[:, None] * counts / np.maximum(regions.area, 1)[:, None]
            score += part
            weight_sum += wq
            if src is key:
                key_score = part
        mass = score.sum(axis=1)
        # ties go to the keyframe: its paints are the truth, the previous frame's may carry an earlier mistake (a
        # small region both sources see perfectly aligned and fully covered would otherwise take the lower index)
        color = (score + np.float32(KEY_TIE_BREAK) * key_score).argmax(axis=1).astype(np.int32)
        share = score.max(axis=1) / np.maximum(mass, 1e-9)
        support = mass / np.maximum(weight_sum, 1e-9)
        undecided = (share < cfg.min_share) | (support < cfg.min_support)
        undecided[0] = False
        if undecided.any():
            color = self._graph_fallback(regions, color, undecided, score, key, prev)
        color[0] = 0
        return color

    def _graph_fallback(
        self,
        regions: Regions,
        color: np.ndarray,
        undecided: np.ndarray,
        score: np.ndarray,
        key: _Frame,
        prev: _Frame | None,
    ) -> np.ndarray:
        """Colour undecided regions by their best match among the keyframe's and the previous frame's regions.

        Cost of matching region i to source region j (lower is better), each term ~1 for a clear mismatch:
        |log area ratio| + 0.5 |log aspect ratio| + |extent difference| + centroid distance / (10% of the diagonal)
        + (1 - Jaccard of the colour sets of decided neighbours) - 2 * (share of i's own weak votes for j's colour).
        Regions are decided largest first, so later ones see more decided neighbours.
        """
        h, w = regions.shape
        diag = float(np.hypot(h, w))
        adj = regions.adjacency()
        feats = []
        for src in [key] + ([prev] if prev is not None else []):
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
                else:
                    cost_top = cost[top] + 0.5
                j = int(np.argmin(cost_top))
                if cost_top[j] < best_cost:
                    best, best_cost = cols[top[j]], cost_top[j]
            color[i] = best
            decided[i] = True
        return color
