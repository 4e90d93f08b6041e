"""`evaluate`: the LVCD §6.1 evaluation of a colorized clip against its ground truth, streamed frame by frame.

Per frame, on 256x256 frames in [0, 1]: PSNR, SSIM, LPIPS (weights given), EDMD (pixels), TC (LVCD eq. 9, pair
t-1 -> t; a shot cut breaks the chain), lvcd's earlier warp-error ratio and the prediction's warp error, and, when the
lineart is given, BasicPBC's segment metrics on the lineart's own resolution. Over the whole clip: FID (Inception
weights given) and FVD (TorchScript I3D given, 16-frame clips). Only the current and the previous frame, one feature
batch and one FVD clip are held in memory.

Frames of different sizes (prediction vs ground truth, lineart vs ground truth) are refused unless `resize=True`:
a mismatch usually means the wrong file, and resizing changes the scores.

Metrics whose networks were not given are listed in `EvalReport.unavailable`, never estimated; weights that were given
but cannot be loaded raise `WeightsUnavailableError` before any frame is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import zip_longest
from pathlib import Path

import numpy as np

from ._frames import EVAL_SIZE, check_rgb, iter_frames, lossy_colours, protocol_frame, resize, to_float01
from .frechet import FVD_CLIP_LENGTH, FeatureExtractor, RunningGaussian, frechet_distance
from .lineart_metrics import binarize_lineart, edmd, extract_lineart, extractor_name
from .pixel import psnr, ssim
from .report import EvalReport
from .segments import AREA_THRESHOLD, BACKGROUND_RGB, LOSSY_TOLERANCE, SEGMENT_METRICS, segment_metrics
from .temporal import (
    TC_DEFINITION,
    TC_STATIC_EPS,
    WARP_ERROR_RATIO_DEFINITION,
    flow_pair,
    occlusion_mask,
    opencv_dis_flow,
    relative_warp_error,
    tc_from_errors,
    warp_error,
)

# weight key -> (metric lost without it (None: optional), why it is unavailable, loader module, loader, path types)
_NETWORKS = {
    "lpips": (
        "lpips",
        "no LPIPS weights given (lpips alex.pth + torchvision AlexNet; --lpips-weights)",
        "lpips",
        "load_lpips",
        (str, Path, list, tuple),
    ),  # lpips: its file and the AlexNet file, or a folder
    "inception": (
        "fid",
        "no Inception weights given (pytorch-fid pt_inception-2015-12-05; --inception-weights)",
        "inception",
        "load_inception",
        (str, Path),
    ),
    "i3d": (
        "fvd",
        "no I3D weights given (TorchScript i3d_torchscript.pt; --i3d-weights)",
        "i3d",
        "load_i3d",
        (str, Path),
    ),
    "raft": (None, None, "temporal", "load_raft", (str, Path)),  # optional: TC falls back to OpenCV DIS flow
    # optional: EDMD's extractor falls back to XDoG
    "lineart": (None, None, "lineart_metrics", "load_line_extractor", (str, Path)),
}
WEIGHT_KEYS = tuple(_NETWORKS)
_MISSING = object()


def load_networks(weights: dict | None, device: str) -> tuple[dict[str, object], dict[str, str]]:
    """Build the networks named in `weights` (paths or ready objects); returns (networks, unavailable reasons)."""
    import importlib

    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(WEIGHT_KEYS))
    if unknown:
        raise ValueError(f"unknown `weights` keys {unknown}; use any of {list(WEIGHT_KEYS)} mapped to a path.")
    nets: dict[str, object] = {}
    unavailable: dict[str, str] = {}
    for key, (metric, reason, module, loader, path_types) in _NETWORKS.items():
        spec = weights.get(key)
        if spec is None:
            if metric is not None:
                unavailable[metric] = reason
        elif isinstance(spec, path_types):  # paths: load here (the module is imported only when needed)
            load = getattr(importlib.import_module(f".{module}", __package__), loader)
            nets[key] = load(list(spec) if isinstance(spec, list | tuple) else spec, device=device)
        else:  # a ready network object
            nets[key] = spec
    return nets, unavailable


class _SetFeatures:
    """Batches inputs for a FeatureExtractor and accumulates Gaussians for prediction and ground truth."""

    def __init__(self, extractor: FeatureExtractor, batch_size: int) -> None:
        self.extractor, self.batch_size = extractor, batch_size
        self.buffers: dict[str, list[np.ndarray]] = {"pred": [], "gt": []}
        self.stats = {"pred": RunningGaussian(), "gt": RunningGaussian()}

    def add(self, which: str, item: np.ndarray) -> None:
        self.buffers[which].append(item.astype(np.float32))
        if len(self.buffers[which]) >= self.batch_size:
            self.flush(which)

    def flush(self, which: str) -> None:
        if self.buffers[which]:
            self.stats[which].update(self.extractor(np.stack(self.buffers[which])))
            self.buffers[which] = []

    def distance(self) -> float:
        for which in self.buffers:
            self.flush(which)
        p, g = self.stats["pred"], self.stats["gt"]
        return frechet_distance(p.mean, p.cov, g.mean, g.cov)


def _lineart_mask(lineart: np.ndarray, polarity: str) -> np.ndarray:
    la = np.asarray(lineart)
    if la.ndim == 3 and la.shape[2] == 4:
        la = la[..., :3]
    return binarize_lineart(la, polarity)


def _resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Downscale a line mask keeping thin lines: a pixel is line when >= 1/4 of its area is covered."""
    if mask.shape == (size, size):
        return mask
    return resize(mask.astype(np.float64), size) >= 0.25


def _check_size(name: str, frame: np.ndarray, gt: np.ndarray, index: int, resize_ok: bool) -> None:
    if resize_ok or frame.shape[:2] == gt.shape[:2]:
        return
    (h, w), (gh, gw) = frame.shape[:2], gt.shape[:2]
    raise ValueError(
        f"`{name}` frame {index} is {w}x{h} but the ground truth is {gw}x{gh}; evaluate frames of one size (a "
        "different size usually means the wrong file), or pass `resize=True` (`lvcd eval --resize`) to score them "
        "anyway, both resized to the protocol's square."
    )


def evaluate(
    pred_frames: Iterable[np.ndarray],
    gt_frames: Iterable[np.ndarray],
    lineart_frames: Iterable[np.ndarray] | None = None,
    *,
    weights: dict | None = None,
    device: str = "cpu",
    size: int = EVAL_SIZE,
    lineart_polarity: str = "auto",
    background_rgb: tuple[int, int, int] | None = BACKGROUND_RGB,
    area_threshold: int = AREA_THRESHOLD,
    colour_tolerance: int = 0,
    fvd_clip_length: int = FVD_CLIP_LENGTH,
    batch_size: int = 8,
    cuts: Iterable[int] = (),
    resize: bool = False,
    segments: bool = True,
) -> EvalReport:
    """Evaluate predicted frames against ground-truth frames (and their lineart, optional); see the module docstring.

    Frames are uint8 HxWx3 RGB or float in [0, 1]; lineart frames may be greyscale, dark-on-light or light-on-dark
    (`lineart_polarity`). `weights` maps any of 'lpips', 'inception', 'i3d', 'raft', 'lineart' (informative-drawings,
    EDMD's extractor) to a path (or a loaded network). `cuts`: frame indices that start a new shot (the TC pair
    across each is skipped). `colour_tolerance`: per-channel levels within which two region colours match (segment
    metrics; 0 = exact, as BasicPBC). `segments=False` skips the segment metrics.
    """
    if size < 16:
        raise ValueError(f"`size` must be at least 16 pixels; got {size}. LVCD evaluates at 256.")
    if fvd_clip_length < 2:
        raise ValueError(f"`fvd_clip_length` must be at least 2; got {fvd_clip_length}. The reference FVD uses 16.")
    if not 0 <= int(colour_tolerance) <= 255:
        raise ValueError(f"`colour_tolerance` must be 0..255 levels per channel; got {colour_tolerance}.")
    cut_set = {int(c) for c in cuts}
    nets, unavailable = load_networks(weights, device)
    lp, inception, i3d, raft, line_extractor = (nets.get(k) for k in WEIGHT_KEYS)
    flow_fn = raft if raft is not None else opencv_dis_flow
    fid = _SetFeatures(inception, batch_size) if inception is not None else None
    fvd = _SetFeatures(i3d, 2) if i3d is not None else None
    clip: dict[str, list[np.ndarray]] = {"pred": [], "gt": []}
    fvd_clips = 0

    names = ["psnr", "ssim", "lpips", "edmd", "tc", "warp_error_ratio", "warp_error", *SEGMENT_METRICS]
    per_frame: dict[str, list[float]] = {n: [] for n in names}
    has_lineart = lineart_frames is not None
    lineart_iter = iter(lineart_frames) if has_lineart else None
    prev: tuple[np.ndarray, np.ndarray] | None = None
    pairs = {"scored": 0, "cut": 0, "static_skipped": 0, "static_kept": 0}
    n = 0
    for item in zip_longest(pred_frames, gt_frames, fillvalue=_MISSING):
        pred_raw, gt_raw = item
        if pred_raw is _MISSING or gt_raw is _MISSING:
            short, long_ = ("pred", "gt") if pred_raw is _MISSING else ("gt", "pred")
            raise ValueError(
                f"`{short}` has {n} frames but `{long_}` has more; evaluate clips of equal length "
                "(trim the longer one)."
            )
        lineart_raw = next(lineart_iter, _MISSING) if has_lineart else None
        if lineart_raw is _MISSING:
            raise ValueError(f"`lineart` has {n} frames but `pred` and `gt` have more; give one lineart per frame.")
        pred_rgb = check_rgb(np.asarray(pred_raw), name=f"pred[{n}]")
        gt_rgb = check_rgb(np.asarray(gt_raw), name=f"gt[{n}]")
        _check_size("pred", pred_rgb, gt_rgb, n, resize)
        if has_lineart:
            _check_size("lineart", np.asarray(lineart_raw), gt_rgb, n, resize)
        p = protocol_frame(pred_rgb, name=f"pred[{n}]", size=size)
        g = protocol_frame(gt_rgb, name=f"gt[{n}]", size=size)

        per_frame["psnr"].append(psnr(p, g))
        per_frame["ssim"].append(ssim(p, g))
        per_frame["lpips"].append(lp.distance(p, g) if lp is not None else float("nan"))

        out_lines = extract_lineart(p, line_extractor)
        if has_lineart:
            native_lines = _lineart_mask(lineart_raw, lineart_polarity)
            ref_lines = _resize_mask(native_lines, size)
        else:
            ref_lines = extract_lineart(g, line_extractor)
        per_frame["edmd"].append(edmd(out_lines, ref_lines))

        nan = float("nan")
        if prev is None or n in cut_set:
            if prev is not None:
                pairs["cut"] += 1
            per_frame["tc"].append(nan)
            per_frame["warp_error_ratio"].append(nan)
            per_frame["warp_error"].append(nan)
        else:
            f_b, f_f = flow_pair(flow_fn, prev[1], g)
            e_pred, e_gt = relative_warp_error(prev[0], p, f_b), relative_warp_error(prev[1], g, f_b)
            tc = tc_from_errors(e_pred, e_gt)
            if np.isnan(tc):
                pairs["static_skipped"] += 1
            else:
                pairs["scored"] += 1
                pairs["static_kept"] += int(e_gt < TC_STATIC_EPS)
            per_frame["tc"].append(tc)
            mask = occlusion_mask(f_b, f_f)
            we_pred, we_gt = warp_error(prev[0], p, f_b, mask), warp_error(prev[1], g, f_b, mask)
            per_frame["warp_error_ratio"].append(float((1.0 - we_pred) / max(1.0 - we_gt, 1e-12)))
            per_frame["warp_error"].append(we_pred)
        prev = (p, g)

        if has_lineart and segments:
            scores = segment_metrics(
                to_float01(pred_rgb), to_float01(gt_rgb), native_lines,
                area_threshold=area_threshold, background_rgb=background_rgb, tolerance=int(colour_tolerance),
            )  # fmt: skip
            for k, v in scores.as_dict().items():
                per_frame[k].append(v)
        else:
            for k in SEGMENT_METRICS:
                per_frame[k].append(nan)

        if fid is not None:
            fid.add("pred", p)
            fid.add("gt", g)
        if fvd is not None:
            clip["pred"].append(p)
            clip["gt"].append(g)
            if len(clip["pred"]) == fvd_clip_length:
                fvd.add("pred", np.stack(clip["pred"]))
                fvd.add("gt", np.stack(clip["gt"]))
                clip = {"pred": [], "gt": []}
                fvd_clips += 1
        n += 1
    if has_lineart and next(lineart_iter, _MISSING) is not _MISSING:
        raise ValueError(f"`lineart` has more frames than `pred` and `gt` ({n}); give one lineart per frame.")
    if n == 0:
        raise ValueError("no frames to evaluate: `pred` and `gt` are empty.")

    report = EvalReport(unavailable=unavailable)
    if lp is None:
        del per_frame["lpips"]
    if not has_lineart or not segments:
        for k in SEGMENT_METRICS:
            del per_frame[k]
            unavailable[k] = (
                "needs the lineart (--lineart): regions are the areas enclosed by the lines"
                if not has_lineart
                else "segment metrics not requested"
            )
    if n < 2:
        for k in ("tc", "warp_error_ratio", "warp_error"):
            del per_frame[k]
            unavailable[k] = "needs at least 2 frames"
    elif pairs["scored"] == 0:
        for k in ("tc", "warp_error_ratio", "warp_error"):
            if all(np.isnan(per_frame[k])):
                del per_frame[k]
                unavailable[k] = "no consecutive pair inside a shot to score (cuts, or static original pairs only)"
    if has_lineart and segments:
        if background_rgb is None:
            for k in ("pix_f_acc", "pix_b_miou"):
                del per_frame[k]
                unavailable[k] = "no background colour given (`background_rgb=None`, `--background none`)"
        else:
            for k, what in (("pix_b_miou", "background"), ("pix_f_acc", "foreground")):
                if all(np.isnan(per_frame[k])):
                    del per_frame[k]
                    unavailable[k] = (
                        f"not applicable: no {what} region (background = colour {tuple(background_rgb)}) in any frame"
                        + (
                            " of the ground truth or the prediction"
                            if what == "background"
                            else " of the ground truth"
                        )
                        + "; set `--background R,G,B` if the background has another colour"
                    )
    report.per_frame = per_frame

    if fid is not None:
        if n < 2:
            unavailable["fid"] = "needs at least 2 frames for a covariance"
        else:
            report.dataset["fid"] = fid.distance()
    if fvd is not None:
        if fvd_clips < 2:
            unavailable["fvd"] = (
                f"needs at least 2 clips of {fvd_clip_length} frames ({2 * fvd_clip_length} frames); got {n} frames"
            )
        else:
            report.dataset["fvd"] = fvd.distance()

    lineart_impl = extractor_name(line_extractor)
    report.meta = {
        "num_frames": n,
        "protocol": f"LVCD §6.1: frames resized to {size}x{size}, values in [0, 1]"
        + ("; frames of other sizes resized (--resize)" if resize else ""),
        "tc_flow": (
            f"RAFT ({getattr(raft, 'name', type(raft).__name__)}) on the original (ground-truth) frames"
            if raft is not None
            else "OpenCV DIS optical flow (medium preset) on the original (ground-truth) frames (fallback: no RAFT "
            "weights given)"
        ),
        "tc_definition": TC_DEFINITION,
        "tc_pairs": (
            f"{pairs['scored']} consecutive pairs scored ({pairs['static_kept']} static in both), "
            f"{pairs['static_skipped']} static original pairs left out (the prediction moved there), "
            f"{pairs['cut']} pairs across shot cuts skipped; clip TC = mean over the scored pairs"
        ),
        "warp_error_ratio_definition": WARP_ERROR_RATIO_DEFINITION,
        "edmd_reference": "the given lineart"
        if has_lineart
        else f"lineart extracted from the ground truth ({lineart_impl})",
        "edmd_output_lineart": lineart_impl,
        "edmd_units": f"pixels at {size}x{size} (RMSE of the two distance maps)",
    }
    if cut_set:
        report.meta["cuts"] = sorted(cut_set)
    if has_lineart and segments:
        report.meta["segments"] = (
            f"BasicPBC metrics on connected non-line regions at the lineart's resolution; area threshold "
            f"{area_threshold} px; background colour {background_rgb}; colours match within "
            f"{int(colour_tolerance)} levels per channel" + (" (exact, as BasicPBC)" if not colour_tolerance else "")
        )
    if fvd is not None:
        report.meta["fvd_clips"] = f"{fvd_clips} clips of {fvd_clip_length} frames (remainder dropped)"
    return report


def evaluate_paths(
    pred: str | Path,
    gt: str | Path,
    lineart: str | Path | None = None,
    *,
    colour_tolerance: int | None = None,
    **kwargs,
) -> EvalReport:
    """`evaluate` on videos or image folders (natural filename order); keyword arguments go to `evaluate`.

    `colour_tolerance=None` picks it from the inputs: 0 (exact, as BasicPBC) when the prediction and the ground truth
    are stored losslessly, else `LOSSY_TOLERANCE` levels per channel; the report says which inputs were lossy.
    """
    lossy = {name: why for name, path in (("pred", pred), ("gt", gt)) if (why := lossy_colours(path))}
    if colour_tolerance is None:
        colour_tolerance = LOSSY_TOLERANCE if lossy else 0
    report = evaluate(
        iter_frames(pred), iter_frames(gt), iter_frames(lineart) if lineart is not None else None,
        colour_tolerance=colour_tolerance, **kwargs,
    )  # fmt: skip
    if lossy:
        segments = (
            f"the segment metrics match region colours within {colour_tolerance} levels per channel; "
            if lineart is not None and kwargs.get("segments", True)
            else ""
        )
        report.meta["lossy_inputs"] = (
            "; ".join(f"{name} {why}" for name, why in lossy.items())
            + f": exact colours are not kept, so {segments}PSNR/SSIM include the compression error. Evaluate PNG "
            "frames for exact numbers."
        )
    return report
