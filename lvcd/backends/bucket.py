"""The paint-bucket colorizer: weight-free, CPU-only colouring of lineart from one or more coloured keyframes.

Cel animation is painted region by region with flat colours, so colouring a shot is a matching problem: which region
of a keyframe does each region of this frame continue? (BasicPBC, Dai et al., CVPR 2024, learn this matching; this
file does it with classical tools.) Per frame:

1. Normalise the lineart (`lvcd.lineart.normalize_lineart`; "auto" polarity is settled on the first frame) and
   segment it into regions (`segment_regions`: enclosed areas, gaps closed by a small ball that fits thin parts,
   then a wide pass for what it left joined).
2. Keyframe votes. For every keyframe already passed, a position map (`bucket_track`) says where each pixel lies in
   that keyframe: composed with the dense flow to the previous frame, then re-anchored on the keyframe's own lines
   by a residual flow. Positions are chained, colours are not. Keyframes not reached yet are matched by direct
   flow. Each keyframe's paints are warped through its map and counted per region, weighted by the square of how
   well the affine motion fitted along the region's outline lays that outline onto the keyframe's lines, and by
   nearness in time (nearest keyframe first).
   Objects (`bucket_objects`): part regions that move alike become one object per character, fitted to each frame's
   lines (front to back), dormant out of view and found again; a fitted object votes its paints onto the regions
   its lines explain (weighted as its keyframe's votes are) and vetoes votes (and rescues) that put its paints
   where it no longer is, or on a keyframe part it lays another region on.
3. Regions that no map places (entered the frame, revealed) or that no keyframe explains are searched for as a
   cluster of part-sized regions in the keyframes (`bucket_reid`: masked correlation of distance-to-line images,
   keyframe places other confident parts continue cost score); a shift whose outlines land on keyframe lines gives
   their votes, and re-seeds the map only when most of the cluster agrees. Every frame, each cluster's mapped place
   is also checked against its best place: a map that took one character for another loses its votes when a
   re-identification fits the outlines better. Weak regions also get a rigid-shift region-to-region search
   (`MatchMixin._rigid_rescue`).
4. Previous-frame votes count with the confidence of the region that cast them: a guess never confirms itself, and
   a colour carried only by the previous frame keeps at most `prev_decay` of its confidence (no compounding). A
   vote from where a fitted object stood last frame, for its own paint, is dropped where it no longer is: that is
   scenery it revealed (`bucket_veto._left_in_prev`).
5. Regions still undecided are matched on the region graph; their confidence is low. Revealed scenery may not be
   guessed the paints of the object that hid it, nor of objects far from it.
   Decided frames wait `lookahead` frames before they are painted (`bucket_lookahead`): a colour no keyframe
   backed takes the one a later frame's keyframe-backed region hands back along the regions that continue it.
6. Output: flat palette colours, line pixels included (colour-trace lines take the side the keyframe shows);
   `keep_lines` draws the original lines on top. Per frame, the share of low-confidence regions and a per-paint
   area check against the keyframe go to `self.confidence` (`bucket_confidence`).

Lineart that is not cel lineart (the keyframe's regions are not flat-painted: unclosed extracted lines on a shaded
frame) is detected and, in mode "auto", coloured by a dense-flow warp of the keyframe (`bucket_warp`).

Memory is constant in the shot length: the keyframes' states, one position map per keyframe, the previous frame
and the `lookahead` frames held back (their lineart, regions and colours).
A `BucketColorizer` colours one shot at a time. Deliberately not here: shot splitting and frame ordering (the caller
passes frames in order; a keyframe is given with its index), shading or gradients in flat mode, and any learned
model. No torch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..lineart import regions as rg
from ..lineart.normalize import Lineart, LineartConfig, normalize_lineart
from ..lineart.palette import codes_rgb, rgb_codes
from ..lineart.regions import RegionConfig, Regions, estimate_line_width, segment_regions, split_by_paint
from ..lineart.xdog import XDoGConfig, extract_lineart
from . import bucket_track as track
from .bucket_confidence import ConfidenceLog, area_shares
from .bucket_flow import DIS_PRESETS, FlowMixin
from .bucket_lookahead import Held, Lookahead
from .bucket_match import NO_VOTE, MatchMixin, _Frame, _Key, nearness
from .bucket_objects import ObjectsMixin
from .bucket_paint import PaintMixin
from .bucket_reid import ReidMixin
from .bucket_warp import WarpColorizer, cel_report, describe, looks_like_cel

logger = logging.getLogger(__name__)

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
KEY_TIE_BREAK = 1e-3  # share of the keyframe's own score added when picking the winner: breaks (near-)ties its way
VETO = 0.3  # share of a region a moved-away object's paint must cover to veto that paint's previous-frame votes
MAX_PALETTE = 1024  # distinct paints in a keyframe; cels use tens, and votes cost regions x paints memory
_INNER_STATE = ("confidence", "palette", "cel", "used_mode", "key_paint_share")  # read from a reduced run


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
    prev_weight: float = 1.0  # previous-frame votes x the confidence each voting region had (never above 1)
    prev_decay: float = 0.9  # a colour carried only by the previous frame keeps at most this x its confidence
    low_confidence: float = 0.5  # regions decided with less confidence than this are reported as "to check"
    reid_below: float = 0.5  # regions with keyframe confidence below this are searched for in the keyframes
    reid_score: float = 0.45  # masked correlation a re-identified cluster needs
    reid_align: float = 0.6  # share of a re-identified region's outline that must land on keyframe lines
    reid_part: float = 0.1  # of the frame area: larger regions (sky, ground) are not parts and are never searched
    reid_sure: float = 0.7  # keyframe confidence of a region whose keyframe place is claimed (not free to others)
    reid_margin: float = 0.15  # correlation by which a cluster's best keyframe place must beat its mapped place
    #                             for its map to be distrusted (0 = never checked)
    reid_split: float = 0.0  # px at flow size: a group whose map moves it in two bunches this far apart splits
    #                           (two characters crossing); 0 = by contact only (24: dev +0.002, sample -0.013)
    reid_whole: bool = False  # search a cluster by all its parts (True) or by its lost parts only
    reid_background: float = 0.5  # weight of the camera-motion votes for lost regions larger than parts
    reid_agree: float = 0.5  # share of a cluster's area a shift must align to re-seed a keyframe's position map
    #                          (dev: 0.5 fast_squash 0.813 -> 0.819, exit_reentry 0.862 -> 0.868 vs 0.6)
    key_split_area: int = 20  # px: a keyframe region's second paint covering this much (3 px thick) becomes its own
    #                           region (an unclosed gap joined a stripe to a body); 0 = one paint per region
    sliver_area: int = 12  # px: regions this small pick their paint from keyframe votes over their voted pixels
    min_share: float = 0.5  # a region is decided by votes when its top colour holds this share of its vote mass
    min_support: float = 0.2  # ... and the votes cover this fraction of its pixels
    keep_lines: bool = False  # composite the original lines over the flat colours
    keep_colored_lines: bool = False  # colour-trace lines (red/blue shadow boundaries) are painted over in cels
    work_line_width: float = 3.0  # px: lines at least twice this wide let the colorizer work on a copy scaled
    #                               down until they are this wide (segmentation, flow, votes); the result is scaled
    #                               back up. 0 = always full size.
    work_min_side: int = 320  # px: the working copy's longer side never goes below this
    objects: bool = True  # track keyframe characters as whole objects (bucket_objects): identity through crossings
    #                       and exits, where per-pixel flow drags one character's positions onto the other (dev
    #                       seeds 1, 3, 4: mean region Acc 0.897 -> 0.937, worst clip 0.708 -> 0.892)
    objects_weight: float = 2.0  # object votes relative to a keyframe's (x outline alignment^2)
    lookahead: int = 8  # frames a colour no keyframe backed waits for a later keyframe-backed one to revise it
    #                     (`bucket_lookahead`; output latency, ~30 MB per frame at 1080p; 0 = none, as before)
    mode: str = "auto"  # "flat": paint regions; "warp": carry the keyframe's colours along dense flow (lineart that
    #                     does not close into regions, shaded references); "auto": warp when the keyframe is not cel

    def __post_init__(self):
        if self.flow_preset not in DIS_PRESETS:
            raise ValueError(f"`flow_preset` must be one of {', '.join(DIS_PRESETS)} (got {self.flow_preset!r}).")
        if self.flow_side < 32:
            raise ValueError(f"`flow_side` must be >= 32 px (got {self.flow_side}); 512 is a good default.")
        if not 0.0 < self.min_share <= 1.0 or not 0.0 <= self.min_support <= 1.0:
            raise ValueError(
                f"`min_share` must be in (0, 1] and `min_support` in [0, 1] "
                f"(got {self.min_share}, {self.min_support})."
            )
        if self.mode not in ("auto", "flat", "warp"):
            raise ValueError(f"`mode` must be auto, flat or warp (got {self.mode!r}).")
        if self.keyframe_weight < 0 or self.lookahead < 0:
            raise ValueError(
                f"`keyframe_weight` and `lookahead` must be >= 0 (got {self.keyframe_weight}, {self.lookahead})."
            )
        if self.work_line_width < 0 or self.work_min_side < 32:
            raise ValueError(
                f"`work_line_width` must be >= 0 and `work_min_side` >= 32 (got "
                f"{self.work_line_width}, {self.work_min_side})."
            )


class BucketColorizer(PaintMixin, ObjectsMixin, ReidMixin, FlowMixin, MatchMixin):
    """Colour a shot's lineart frames from one coloured keyframe with flat palette colours.

    >>> colorizer = BucketColorizer(BucketConfig(keep_lines=True))
    >>> for frame in colorizer.colorize(reference_rgb, reference_lineart, lineart_frames):
    ...     writer.write(frame)
    """

    def __init__(self, config: BucketConfig | None = None):
        self.config = config or BucketConfig()
        self._dis = None
        self._to_prev = None

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
        return self.colorize_keyframes([(-1, reference_rgb, reference_lineart)], lineart_frames)

    def colorize_keyframes(self, keyframes, lineart_frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Like `colorize` with several coloured keyframes used together: `keyframes` = [(frame index in
        `lineart_frames`, reference_rgb, reference_lineart or None), ...]; -1 = an off-frame reference placed before
        frame 0. Every frame is matched against every keyframe, the nearest in time weighing most; a frame that is a
        keyframe gets its paints exactly."""
        if not keyframes:
            raise ValueError("`keyframes` is empty; give at least one (frame index, reference_rgb, lineart).")
        scale = self.work_scale(keyframes)
        if scale < 1.0:
            return self._run_reduced(keyframes, lineart_frames, scale)
        self._inner = None
        keys = self.prepare_keyframes(keyframes)  # validate before the first frame is read
        if keys is None:  # not cel lineart: the keyframe nearest the start, warped along dense flow
            index, rgb, lineart = min(keyframes, key=lambda kf: abs(int(kf[0])))
            ref = np.asarray(rgb)[..., :3]
            lines = lineart if lineart is not None else extract_lineart(ref, self.config.xdog, self.config.lineart)
            warp = WarpColorizer(self.config.flow_side, self.config.lineart, self.config.keep_lines)
            return warp.colorize(ref, lines, lineart_frames)
        return self._run(keys, lineart_frames)

    def work_scale(self, keyframes) -> float:
        """Scale of the working copy: <= 0.5 when the first keyframe's lines (given as an array) are at least twice
        `work_line_width`, so that they end up that wide; never below `work_min_side` px on the longer side;
        else 1."""
        cfg = self.config
        _, rgb, lineart = keyframes[0]
        if not cfg.work_line_width or not isinstance(lineart, np.ndarray) or lineart.ndim not in (2, 3):
            return 1.0
        width = estimate_line_width(normalize_lineart(lineart, cfg.lineart).mask)
        longest = max(lineart.shape[:2])
        scale = max(cfg.work_line_width / width, cfg.work_min_side / longest)
        # only for lines at least twice that wide: a milder reduction cost accuracy on 4.7 px lines (benchmark clip
        # `occlusion`, held-out Acc 0.78 -> 0.66) for little speed
        return float(scale) if scale <= 0.5 else 1.0

    def _run_reduced(self, keyframes, lineart_frames: Iterable[np.ndarray], scale: float) -> Iterator[np.ndarray]:
        """Colour a scaled-down copy of the shot (thick lines: nothing a region needs is lost) and scale each result
        back up (nearest: flat paints stay flat; region borders lie under the lines). Statistics (`confidence`,
        `palette`, `used_mode`) are the working copy's."""
        h0, w0 = np.asarray(keyframes[0][1]).shape[:2]
        size = (max(8, round(w0 * scale)), max(8, round(h0 * scale)))

        f = int(1.0 / scale)  # integer-factor area averaging is ~5x cheaper than a fractional one
        mid = (max(8, round(w0 / f)), max(8, round(h0 / f)))

        def down(a, interp=cv2.INTER_AREA):
            a = np.asarray(a)
            if a.shape[:2] != (h0, w0):
                raise ValueError(
                    f"a frame is {a.shape[1]}x{a.shape[0]} but the reference is {w0}x{h0}; every frame "
                    "of a shot must have the reference's size."
                )
            if interp != cv2.INTER_AREA or f < 2:
                return cv2.resize(a, size, interpolation=interp)
            a = cv2.resize(a, mid, interpolation=cv2.INTER_AREA)
            return a if mid == size else cv2.resize(a, size, interpolation=cv2.INTER_LINEAR)

        small = [(i, down(rgb, cv2.INTER_NEAREST), None if la is None else down(la)) for i, rgb, la in keyframes]
        self._inner = inner = BucketColorizer(replace(self.config, work_line_width=0.0))
        for name in _INNER_STATE:
            self.__dict__.pop(name, None)
        frames = inner.colorize_keyframes(small, (down(x) for x in lineart_frames))
        return (cv2.resize(out, (w0, h0), interpolation=cv2.INTER_NEAREST) for out in frames)

    def __getattr__(self, name):
        inner = self.__dict__.get("_inner")
        if name in _INNER_STATE and inner is not None:
            return getattr(inner, name)
        raise AttributeError(name)

    def prepare_reference(self, reference_rgb: np.ndarray, reference_lineart) -> _Frame:
        """The keyframe's regions and paints; sets this colorizer's palette for the shot."""
        return self.prepare_keyframes([(-1, reference_rgb, reference_lineart)])[0].frame

    def prepare_keyframes(self, keyframes) -> list[_Key]:
        """Regions and paints of every keyframe, one palette for the shot (the union of their paints)."""
        prepared, idx = [], set()
        for i, (index, rgb, lineart) in enumerate(keyframes):
            if int(index) in idx:
                raise ValueError(f"two keyframes are given for frame {index}; keep one of them.")
            idx.add(int(index))
            prepared.append((int(index), *self._key_regions(rgb, lineart, i)))
        self.used_mode = self.config.mode
        if self.config.mode == "auto":
            self.used_mode = "flat" if looks_like_cel(self.cel) else "warp"
        if self.used_mode == "warp":
            if self.config.mode == "auto":
                logger.warning(
                    "the keyframe does not look like cel lineart (%s): colouring by a dense-flow warp of "
                    "the keyframe instead of flat fills (--bucket-mode flat forces fills)",
                    describe(self.cel),
                )
            return None
        shapes = {p[1].shape for p in prepared}
        if len(shapes) > 1:
            raise ValueError(f"the keyframes have different sizes ({sorted(shapes)}); a shot has one frame size.")
        palette_codes = np.unique(np.concatenate([p[3][1:] for p in prepared]))
        if len(palette_codes) > MAX_PALETTE:
            raise ValueError(
                f"the keyframes have {len(palette_codes)} distinct region colours (more than {MAX_PALETTE}); the "
                "paint-bucket backend expects flat cel paints. Check that `reference_rgb` is the coloured version of "
                "`reference_lineart`, or snap a shaded reference to a palette first (lvcd.lineart.PaletteSnapper)."
            )
        self.palette = codes_rgb(palette_codes)  # uint8 [K, 3]
        la0 = prepared[0][1]
        self._shape = la0.shape
        self._grid = None
        self._g = None
        self._rank = np.argsort(np.argsort(self.palette.astype(np.float32) @ _LUMA, kind="stable"), kind="stable")
        self._trace_rule: dict[int, bool] = {}  # ink code -> True: the darker side's paint, False: the lighter one
        keys = []
        for index, la, regions, region_code, ref in prepared:
            codes = rgb_codes(ref)
            color = np.concatenate([[0], np.searchsorted(palette_codes, region_code[1:])]).astype(np.int32)
            if la.colored is not None:  # colour-trace lines are painted over with one side's paint: learn which
                dark, light = self._trace_sides(regions, color, la.colored)
                ink, truth = rgb_codes(la.ink[la.colored]), codes[la.colored]
                for code in np.unique(ink):
                    sel = ink == code
                    d = np.count_nonzero(rgb_codes(dark)[sel] == truth[sel])
                    li = np.count_nonzero(rgb_codes(light)[sel] == truth[sel])
                    self._trace_rule.setdefault(int(code), d >= li)
            keys.append(_Key(index, self._make_frame(la, regions, color)))
        self.key_paint_share = area_shares(keys[0].frame, len(self.palette))
        return sorted(keys, key=lambda k: k.index)

    def _key_regions(self, reference_rgb, reference_lineart, i: int):
        ref = np.asarray(reference_rgb)
        if ref.ndim != 3 or ref.shape[2] not in (3, 4) or ref.dtype != np.uint8:
            raise ValueError(
                f"`reference_rgb` (keyframe {i}) must be a uint8 [H, W, 3] RGB (or RGBA) image "
                f"(got {ref.dtype} {ref.shape})."
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
                f"{ref.shape[0]} (keyframe {i}); they must show the same frame at the same size (or pass None to "
                "extract lines)."
            )
        if i == 0:
            self._regions_cfg = self.config.regions.resolved(la.mask)  # one segmentation setting per shot
        regions = segment_regions(la, self._regions_cfg)
        # each region's colour = the most common reference colour over its interior pixels (exact paint values); a
        # region holding a second paint (a gap joined two shapes) is split first, so no paint of the keyframe is lost
        codes = rgb_codes(ref)
        if i == 0:  # cel or not is judged on the regions the lines close (split by paint, tone bands would pass)
            self.cel = cel_report(regions, ref)
        if self.config.key_split_area and (self.config.mode == "flat" or looks_like_cel(self.cel)):
            split = split_by_paint(regions, codes, self.config.key_split_area)
            region_code = rg.region_paints(split, codes)
            if len(np.unique(region_code[1:])) <= MAX_PALETTE:  # else shading bands: fills of the unsplit regions
                return la, split, region_code, ref
        return la, regions, rg.region_paints(regions, codes), ref

    # ------------------------------------------------------------------------------------------------ internals
    def _run(self, keys: list[_Key], lineart_frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        cfg = self.config
        line_cfg = cfg.lineart  # "auto" polarity is settled on the first frame: one convention per shot
        prev: _Frame | None = None
        self.confidence = ConfidenceLog(cfg.low_confidence, self.key_paint_share)
        ahead = Lookahead(cfg.lookahead, decay=cfg.prev_decay)
        for k in keys:
            if k.index < 0:  # an off-frame reference: taken as the frame just before the first one
                k.chain = self._identity().copy()
        for i, raw in enumerate(lineart_frames):
            la = normalize_lineart(raw, line_cfg)
            if la.shape != self._shape:
                raise ValueError(
                    f"lineart frame {i} is {la.shape[1]}x{la.shape[0]} but the reference is {self._shape[1]}x"
                    f"{self._shape[0]}; every frame of a shot must have the reference's size."
                )
            if line_cfg.polarity == "auto":
                line_cfg = replace(line_cfg, polarity=la.polarity)
            own = next((k for k in keys if k.index == i), None)
            if own is None and i == 0:
                own = next((k for k in keys if k.index < 0 and np.array_equal(la.mask, k.frame.lineart.mask)), None)
            if own is not None:  # the keyframe itself: same segmentation, exact colours
                regions, color = own.frame.regions, own.frame.color.copy()
                conf = np.ones(regions.n + 1, np.float32)
                cur_img = own.frame.flow_img
                self._advance_chains(keys, cur_img, prev, i)
                own.chain, own.seeded = self._identity().copy(), None
            else:
                regions = segment_regions(la, self._regions_cfg)
                cur_img = self._flow_image(la)
                self._advance_chains(keys, cur_img, prev, i)
            if cfg.objects:
                self._near_w = nearness(keys, i)  # an object's votes count as its keyframe's do
                self._track_objects(la, regions, cur_img, keys, i, own)
            if own is None:
                color, conf, backed = self._match(la, regions, cur_img, keys, prev, i)
            else:
                backed = conf  # the keyframe itself: every colour is its own
            pulled = None
            if prev is not None and cfg.lookahead:  # the previous frame's region under each pixel
                flow = self._full_flow(cur_img, prev, prev=True)
                pulled = self._prev_labels(flow, prev).astype(np.int64)
            self._prev_labels_of = None  # the previous frame's labels: not kept past this frame
            prev = self._make_frame(la, regions, color, conf, cur_img)
            prev.obj_src = getattr(self, "_obj_src", None) if own is None else None
            prev.feet = getattr(self, "_feet", None) if own is None else None
            prev.banned = self._banned if own is None else None
            yield from map(self._emit, ahead.push(Held(i, la, regions, color.copy(), conf.copy(), backed), pulled))
        yield from map(self._emit, ahead.flush())

    def _make_frame(
        self,
        la: Lineart,
        regions: Regions,
        color: np.ndarray,
        conf: np.ndarray | None = None,
        flow_img: np.ndarray | None = None,
    ) -> _Frame:
        lut = color.astype(np.uint16)
        lut[0] = NO_VOTE
        votes_map = np.take(lut, regions.inner)  # [H, W] palette index on interior pixels, NO_VOTE on lines
        t = self.config.align_tolerance
        near = (
            cv2.dilate(la.mask.view(np.uint8), np.ones((2 * t + 1, 2 * t + 1), np.uint8)).view(bool) if t else la.mask
        )
        img = self._flow_image(la) if flow_img is None else flow_img
        f = _Frame(la, regions, color, votes_map, img, near)
        if conf is not None:
            f.conf = conf
        return f

    def _match(
        self, la: Lineart, regions: Regions, cur_img: np.ndarray, keys: list[_Key], prev: _Frame | None, i: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Colour, confidence and how surely the keyframes (or their objects) back that colour, per region.

        Keyframe votes come through each keyframe's position map (or a direct flow for keyframes not reached yet),
        weighted by how well the region's outline lands on keyframe lines and by nearness in time; previous-frame
        votes are weighted by the confidence of the region that cast them, so a guess never confirms itself; what
        no source explains is re-identified in the keyframes as a cluster."""
        cfg = self.config
        k = len(self.palette)
        n = regions.n
        area = np.maximum(regions.area, 1).astype(np.float32)
        samples = self._samples(la, regions)
        if cfg.objects:
            samples = self._behind(samples, regions)  # lines of a character in front are not a region's outline
        score = np.zeros((n + 1, k), np.float32)
        key_score = np.zeros((n + 1, k), np.float32)
        weight_sum = np.zeros(n + 1, np.float32)
        near_w = nearness(keys, i)
        misplaced = self._misplaced(regions, cur_img, keys, i)
        chain_part = chain_w = None
        chain_align = np.zeros(n + 1)
        vetoed = None  # [n + 1, K] votes dropped as their object's paints now lie elsewhere
        for key in keys:
            w = cfg.keyframe_weight * near_w[key.index]
            if key.chain is not None and key.index < i:
                flow = track.to_full_flow(key.chain, self._identity(), self._shape)
                if key.seeded is not None and cfg.objects:
                    flow = self._unseeded(key, flow)
            else:
                flow = self._full_flow(cur_img, key.frame)
            flow, veto = self._vetoed_flow(key, flow, regions) if cfg.objects else (flow, None)
            drop = veto and veto[0]
            claim = self._claimed_away(key, flow, regions) if cfg.objects else None
            if claim is not None:  # keyframe parts another current region is: not this one's
                drop = claim if drop is None else drop | claim
            if drop is not None and drop.any():  # paints of objects now elsewhere: the previous frame's too
                counts, gone = self._dense_votes_split(regions, flow, key.frame, drop)
                vetoed = gone if vetoed is None else vetoed + gone
            else:
                counts = self._dense_votes(regions, flow, key.frame)
            align = self._affine_alignment(regions, samples, flow, key.frame)
            taken = getattr(self, "_key_taken", {}).get(key.index)  # parts an object shows here: no shape match
            self._rigid_rescue(regions, samples, flow, key.frame, counts, align, veto and veto[1:], taken)
            wq = (w * align**2).astype(np.float32)
            part = wq[:, None] * counts / area[:, None]
            pick = wq[:, None] * counts / self._vote_area(area, counts)[:, None]  # slivers: over voted pixels
            score += pick
            key_score += part  # confidence stays per area: two pixels never make a sure colour
            weight_sum += wq
            if key.chain is not None and key.index < i and misplaced.any():  # kept to drop if re-identified
                chain_part = (part, pick) if chain_part is None else (chain_part[0] + part, chain_part[1] + pick)
                chain_w = wq if chain_w is None else chain_w + wq
                chain_align = np.maximum(chain_align, align)
        if cfg.objects:
            self._add_object_votes(score, key_score, weight_sum)
        key_conf = key_score.max(axis=1) / max(cfg.keyframe_weight, 1e-9)
        # clusters the keyframes' maps do not explain (entered, revealed, lost by the chain): search them whole
        lost = (key_conf < cfg.reid_below) & (regions.area > 0)
        lost &= (self._unplaced(regions, keys, i) >= 0.5) | (key_conf < 0.5 * cfg.reid_below)
        lost |= misplaced
        lost[0] = False
        if lost.any():
            beat = np.where(misplaced, chain_align, 0.0)  # a misplaced map's outline fit a re-identification must beat
            taken = self._reidentify(regions, samples, cur_img, keys, lost, score, key_score, weight_sum, beat, i)
            rest = lost & ~taken & ~misplaced
            if rest.any():
                self._neighbour_votes(regions, samples, keys, rest, key_conf, score, key_score, weight_sum, i)
            drop = taken & misplaced
            if chain_part is not None and drop.any():  # the map took this cluster for another: its votes go
                score[drop] -= chain_part[1][drop]
                key_score[drop] -= chain_part[0][drop]
                weight_sum[drop] -= chain_w[drop]
        prev_part = np.zeros((n + 1, k), np.float32)
        ban = None
        if prev is not None and cfg.prev_weight > 0:
            flow = self._full_flow(cur_img, prev, prev=True)
            gone = self._claimed_in_prev(keys, prev, flow, regions) if cfg.objects else None
            left = self._left_in_prev(keys, prev, flow, regions) if cfg.objects else None
            if left is not None:
                if left[0] is not None:
                    gone = left[0] if gone is None else gone | left[0]
                ban = left[1]
            counts = self._dense_votes(regions, flow, prev, weights=prev.conf, drop=gone)
            align = self._affine_alignment(regions, samples, flow, prev)
            self._rigid_rescue(regions, samples, flow, prev, counts, align, None, self._taken_in_prev(prev))
            if vetoed is not None:  # the previous frame took them from the same moved-away object: not confirmed
                counts[vetoed >= VETO * area[:, None]] = 0.0
            wq = (cfg.prev_weight * align**2).astype(np.float32)
            prev_part = wq[:, None] * counts / area[:, None]
            score += prev_part
            weight_sum += wq
        mass = score.sum(axis=1)
        color = (score + np.float32(KEY_TIE_BREAK) * key_score).argmax(axis=1).astype(np.int32)
        rows = np.arange(n + 1)
        kc = key_score[rows, color] / max(cfg.keyframe_weight, 1e-9)
        pc = prev_part[rows, color] / max(cfg.prev_weight, 1e-9)
        conf = np.clip(np.maximum(kc, cfg.prev_decay * pc), 0.0, 1.0).astype(np.float32)  # never above its sources
        share = score.max(axis=1) / np.maximum(mass, 1e-9)
        support = mass / np.maximum(weight_sum, 1e-9)
        undecided = (share < cfg.min_share) | (support < cfg.min_support)
        undecided[0] = False
        self._banned = ban if ban is not None and ban.any() else None
        if undecided.any():
            color = self._graph_fallback(regions, color, undecided, score, [key.frame for key in keys], prev, ban)
            conf[undecided] = np.minimum(conf[undecided], 0.25)  # a graph guess is never confident
        color[0] = 0
        conf[0] = 1.0
        backed = np.clip(key_score[rows, color] / max(cfg.keyframe_weight, 1e-9), 0.0, 1.0).astype(np.float32)
        backed[undecided] = 0.0  # a graph guess is backed by nothing
        backed[0] = 1.0
        return color, conf, backed
