"""Segment-level colour accuracy as in BasicPBC (Dai et al., 2024, "Learning Inclusion Matching for Animation Paint
Bucket Colorization"; `paint/utils.py::eval_json` of github.com/ykdai/BasicPBC), for colour frames with their lineart.

Regions are the connected components (4-connectivity) of the non-line pixels of the binarised lineart; line pixels are
not scored (BasicPBC's label 0). A region's colour is the most frequent exact RGB value of its pixels (a paint-bucket
output is flat, so this is its one colour; for a diffusion output it is the dominant one). With N regions of sizes s_i:

    Acc        = #{i: pred_i == gt_i} / N
    Acc-thres  = same, over regions with s_i > area_threshold (BasicPBC: 10 pixels)
    Pix-Acc    = sum of s_i over correct regions / sum of s_i
    Pix-F-Acc  = Pix-Acc over foreground regions (gt colour != background)          (BasicPBC `pix_acc_wobg`)
    Pix-B-MIoU = sum s_i [pred_i == bg and gt_i == bg] / sum s_i [pred_i == bg or gt_i == bg]   (`pix_bmiou`; NaN,
                 i.e. not applicable, when no region of either frame is background)

BasicPBC marks the background as transparent ([255, 255, 255, 0]); frames here are RGB, so the background is the
regions whose colour equals `background_rgb` (default white, how transparent renders in BasicPBC's PNGs); pass None
when frames have no background colour and Pix-F-Acc / Pix-B-MIoU are reported as NaN. `tolerance` (max per-channel
difference, 0..255) defaults to 0, BasicPBC's exact match; lossy inputs (mp4, JPEG) need a few levels (`evaluate`
picks `LOSSY_TOLERANCE` for them and says so). Regions come from `lvcd.lineart.regions.segment_regions` (gap
closing off) when that module is importable, else from scipy's connected-component labelling; both give the same
4-connected components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._frames import resize, to_uint8

SEGMENT_METRICS = ("acc", "acc_thres", "pix_acc", "pix_f_acc", "pix_b_miou")
AREA_THRESHOLD = 10  # BasicPBC eval_json(threshold=10): regions of more than 10 pixels count for Acc-thres
BACKGROUND_RGB = (255, 255, 255)
LOSSY_TOLERANCE = 12  # per-channel levels: x264 crf 18 / JPEG q90 keep a flat region's mode within a few levels


def _regions_fn():
    """`lvcd.lineart.regions.segment_regions` when importable (swap point), else None."""
    try:
        from lvcd.lineart.regions import RegionConfig, segment_regions
    except Exception:  # noqa: BLE001 - a missing or broken optional module means "use scipy"
        return None

    def fn(lines: np.ndarray) -> np.ndarray:
        # plain connected components, as BasicPBC: no gap closing, every component (even 1 px) is a region
        regions = segment_regions(lines, RegionConfig(gap_radius=0, speck_area=1))
        return np.where(regions.interior, regions.labels, 0)

    return fn


def label_regions(lines: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the connected non-line regions of a boolean line mask: (labels HxW int32 with 0 on lines, count)."""
    fn = _regions_fn()
    if fn is not None:
        labels = np.asarray(fn(lines), np.int32)
        uniq = np.unique(labels[labels > 0])
        lut = np.zeros(int(labels.max()) + 1, np.int32)
        lut[uniq] = np.arange(1, uniq.size + 1, dtype=np.int32)  # ids 1..n, no gaps
        return lut[labels], int(uniq.size)
    labels, n = ndimage.label(~lines)  # default structure = 4-connectivity, so thin diagonal lines still separate
    return labels.astype(np.int32), int(n)


def _region_colours(codes: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Most frequent colour code of each region 1..n (ties -> smallest code)."""
    keep = labels > 0
    keys = labels[keep].astype(np.int64) << 24 | codes[keep].astype(np.int64)
    uniq, counts = np.unique(keys, return_counts=True)
    lab, code = uniq >> 24, uniq & 0xFFFFFF
    order = np.lexsort((code, -counts, lab))  # by label, then count desc, then code asc
    lab_s, code_s = lab[order], code[order]
    first = np.ones(lab_s.shape, bool)
    first[1:] = lab_s[1:] != lab_s[:-1]
    out = np.full(n + 1, -1, np.int64)
    out[lab_s[first]] = code_s[first]
    return out[1:]


def _codes(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]


def _decode(codes: np.ndarray) -> np.ndarray:
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=-1)


@dataclass
class SegmentScores:
    acc: float
    acc_thres: float
    pix_acc: float
    pix_f_acc: float
    pix_b_miou: float
    num_regions: int

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in SEGMENT_METRICS}


def segment_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    lines: np.ndarray,
    *,
    area_threshold: int = AREA_THRESHOLD,
    background_rgb: tuple[int, int, int] | None = BACKGROUND_RGB,
    tolerance: int = 0,
) -> SegmentScores:
    """BasicPBC segment metrics of `pred` against `gt` (HxWx3 uint8 or float [0, 1]) on the regions of `lines`.

    Frames of another size than the line mask are resized to it with nearest-neighbour sampling (colours stay exact).
    """
    h, w = lines.shape
    pred_u8 = to_uint8(resize(np.asarray(pred), (h, w), nearest=True), name="pred")
    gt_u8 = to_uint8(resize(np.asarray(gt), (h, w), nearest=True), name="gt")
    labels, n = label_regions(lines)
    nan = float("nan")
    if n == 0:
        return SegmentScores(nan, nan, nan, nan, nan, 0)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.float64)
    pred_c = _decode(_region_colours(_codes(pred_u8), labels, n))
    gt_c = _decode(_region_colours(_codes(gt_u8), labels, n))
    correct = np.all(np.abs(pred_c - gt_c) <= tolerance, axis=-1)

    acc = float(correct.mean())
    big = sizes > area_threshold
    acc_thres = float(correct[big].mean()) if big.any() else nan
    pix_acc = float(sizes[correct].sum() / sizes.sum())
    if background_rgb is None:
        pix_f_acc = pix_b_miou = nan
    else:
        bg = np.asarray(background_rgb)
        gt_bg = np.all(np.abs(gt_c - bg) <= tolerance, axis=-1)
        pred_bg = np.all(np.abs(pred_c - bg) <= tolerance, axis=-1)
        fg_px = sizes[~gt_bg].sum()
        pix_f_acc = float(sizes[~gt_bg & correct].sum() / fg_px) if fg_px > 0 else nan
        union = sizes[gt_bg | pred_bg].sum()
        pix_b_miou = float(sizes[gt_bg & pred_bg].sum() / union) if union > 0 else nan
    return SegmentScores(acc, acc_thres, pix_acc, pix_f_acc, pix_b_miou, n)
