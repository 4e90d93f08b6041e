"""`evaluate`: the LVCD §6.1 evaluation of a colorized clip against its ground truth, streamed frame by frame.

Per frame, on 256x256 frames in [0, 1]: PSNR, SSIM, LPIPS (weights given), EDMD, TC and the prediction's warp error
(pair t-1 -> t), and, when the lineart is given, BasicPBC's segment metrics on the lineart's own resolution. Over the
whole clip: FID (Inception weights given) and FVD (TorchScript I3D given, 16-frame clips). Only the current and the
previous frame, one feature batch and one FVD clip are held in memory.

Metrics whose networks were not given are listed in `EvalReport.unavailable`, never estimated; weights that were given
but cannot be loaded raise `WeightsUnavailableError` before any frame is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import zip_longest
from pathlib import Path

import numpy as np

from . import lineart_metrics
from ._frames import EVAL_SIZE, check_rgb, iter_frames, protocol_frame, resize, to_float01
from .frechet import FVD_CLIP_LENGTH, FeatureExtractor, RunningGaussian, frechet_distance
from .lineart_metrics import binarize_lineart, edmd, extract_lineart
from .pixel import psnr, ssim
from .report import EvalReport
from .segments import AREA_THRESHOLD, BACKGROUND_RGB, SEGMENT_METRICS, segment_metrics
from .temporal import TC_DEFINITION, opencv_dis_flow, temporal_consistency

# weight key -> (metric lost without it (None: optional), why it is unavailable, loader module, loader, path types)
_NETWORKS = {
    "lpips": ("lpips", "no LPIPS weights given (lpips alex.pth + torchvision AlexNet; --lpips-weights)",
              "lpips", "load_lpips", (str, Path, list, tuple)),  # lpips: its file and the AlexNet file, or a folder
    "inception": ("fid", "no Inception weights given (pytorch-fid pt_inception-2015-12-05; --inception-weights)",
                  "inception", "load_inception", (str, Path)),
    "i3d": ("fvd", "no I3D weights given (TorchScript i3d_torchscript.pt; --i3d-weights)", "i3d", "load_i3d",
            (str, Path)),
    "raft": (None, None, "temporal", "load_raft", (str, Path)),  # optional: TC falls back to OpenCV DIS flow
}
WEIGHT_KEYS = tuple(_NETWORKS)
_MISSING = object()


def _load_networks(weights: dict | None, device: str) -> tuple[dict[str, object], dict[str, str]]:
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
    fvd_clip_length: int = FVD_CLIP_LENGTH,
    batch_size: int = 8,
) -> EvalReport:
    """Evaluate predicted frames against ground-truth frames (and their lineart, optional); see the module docstring.

    Frames are uint8 HxWx3 RGB or float in [0, 1]; lineart frames may be greyscale, dark-on-light or light-on-dark
    (`lineart_polarity`). `weights` maps any of 'lpips', 'inception', 'i3d', 'raft' to a path (or a loaded network).
    """
    if size < 16:
        raise ValueError(f"`size` must be at least 16 pixels; got {size}. LVCD evaluates at 256.")
    if fvd_clip_length < 2:
        raise ValueError(f"`fvd_clip_length` must be at least 2; got {fvd_clip_length}. The reference FVD uses 16.")
    nets, unavailable = _load_networks(weights, device)
    lp, inception, i3d, raft = (nets.get(k) for k in WEIGHT_KEYS)
    flow_fn = raft if raft is not None else opencv_dis_flow
    fid = _SetFeatures(inception, batch_size) if inception is not None else None
    fvd = _SetFeatures(i3d, 2) if i3d is not None else None
    clip: dict[str, list[np.ndarray]] = {"pred": [], "gt": []}
    fvd_clips = 0

    names = ["psnr", "ssim", "lpips", "edmd", "tc", "warp_error", *SEGMENT_METRICS]
    per_frame: dict[str, list[float]] = {n: [] for n in names}
    has_lineart = lineart_frames is not None
    lineart_iter = iter(lineart_frames) if has_lineart else None
    prev: tuple[np.ndarray, np.ndarray] | None = None
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
        p = protocol_frame(pred_rgb, name=f"pred[{n}]", size=size)
        g = protocol_frame(gt_rgb, name=f"gt[{n}]", size=size)

        per_frame["psnr"].append(psnr(p, g))
        per_frame["ssim"].append(ssim(p, g))
        per_frame["lpips"].append(lp.distance(p, g) if lp is not None else float("nan"))

        out_lines = extract_lineart(p)
        if has_lineart:
            native_lines = _lineart_mask(lineart_raw, lineart_polarity)
            ref_lines = _resize_mask(native_lines, size)
        else:
            ref_lines = extract_lineart(g)
        per_frame["edmd"].append(edmd(out_lines, ref_lines))

        if prev is None:
            per_frame["tc"].append(float("nan"))
            per_frame["warp_error"].append(float("nan"))
        else:
            tc, we_pred, _ = temporal_consistency(prev[0], p, prev[1], g, flow_fn=flow_fn)
            per_frame["tc"].append(tc)
            per_frame["warp_error"].append(we_pred)
        prev = (p, g)

        if has_lineart:
            scores = segment_metrics(
                to_float01(pred_rgb), to_float01(gt_rgb), native_lines,
                area_threshold=area_threshold, background_rgb=background_rgb,
            )  # fmt: skip
            for k, v in scores.as_dict().items():
                per_frame[k].append(v)
        else:
            for k in SEGMENT_METRICS:
                per_frame[k].append(float("nan"))

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
    if not has_lineart:
        for k in SEGMENT_METRICS:
            del per_frame[k]
            unavailable[k] = "needs the lineart (--lineart): regions are the areas enclosed by the lines"
    if n < 2:
        for k in ("tc", "warp_error"):
            del per_frame[k]
            unavailable[k] = "needs at least 2 frames"
    if background_rgb is None and has_lineart:
        for k in ("pix_f_acc", "pix_b_miou"):
            del per_frame[k]
            unavailable[k] = "no background colour given (`background_rgb=None`)"
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

    lineart_impl = (
        "XDoG (lvcd.lineart.xdog)" if lineart_metrics._lvcd_lineart_xdog() is not None else "XDoG (lvcd.eval fallback)"
    )
    report.meta = {
        "num_frames": n,
        "protocol": f"LVCD §6.1: frames resized to {size}x{size}, values in [0, 1]",
        "tc_flow": (
            f"RAFT ({getattr(raft, 'name', type(raft).__name__)}) on the ground truth"
            if raft is not None
            else "OpenCV DIS optical flow on the ground truth (fallback: no RAFT weights given)"
        ),
        "tc_definition": TC_DEFINITION,
        "edmd_reference": "the given lineart"
        if has_lineart
        else f"lineart extracted from the ground truth ({lineart_impl})",
        "edmd_output_lineart": lineart_impl,
        "edmd_normalisation": f"RMSE of distance maps divided by the image diagonal ({np.hypot(size, size):.2f} px)",
    }
    if has_lineart:
        report.meta["segments"] = (
            f"BasicPBC metrics on connected non-line regions at the lineart's resolution; area threshold "
            f"{area_threshold} px; background colour {background_rgb}"
        )
    if fvd is not None:
        report.meta["fvd_clips"] = f"{fvd_clips} clips of {fvd_clip_length} frames (remainder dropped)"
    return report


def evaluate_paths(pred: str | Path, gt: str | Path, lineart: str | Path | None = None, **kwargs) -> EvalReport:
    """`evaluate` on videos or image folders (natural filename order); keyword arguments go to `evaluate`."""
    return evaluate(
        iter_frames(pred), iter_frames(gt), iter_frames(lineart) if lineart is not None else None, **kwargs
    )
