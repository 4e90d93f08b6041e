"""Evaluation of colorized animation: LVCD §6.1 metrics (PSNR, SSIM, LPIPS, FID, FVD, EDMD, TC on 256x256 frames in
[0, 1]) and BasicPBC's segment metrics, streamed over frames; `evaluate` returns an `EvalReport` (JSON, markdown,
plot).

Networks (LPIPS, Inception for FID, I3D for FVD, RAFT for TC) load only from user-given paths; without them those
metrics are reported unavailable and TC uses OpenCV flow (labelled in the report).
"""

from .evaluate import WEIGHT_KEYS, evaluate, evaluate_paths
from .frechet import (
    FeatureExtractor,
    RunningGaussian,
    WeightsUnavailableError,
    frechet_distance,
    frechet_distance_from_features,
)
from .lineart_metrics import binarize_lineart, distance_map, edmd, extract_lineart
from .pixel import psnr, ssim
from .report import METRIC_INFO, EvalReport
from .segments import SegmentScores, label_regions, segment_metrics
from .temporal import TC_DEFINITION, opencv_dis_flow, temporal_consistency, warp_error

__all__ = [
    "METRIC_INFO",
    "TC_DEFINITION",
    "WEIGHT_KEYS",
    "EvalReport",
    "FeatureExtractor",
    "RunningGaussian",
    "SegmentScores",
    "WeightsUnavailableError",
    "binarize_lineart",
    "distance_map",
    "edmd",
    "evaluate",
    "evaluate_paths",
    "extract_lineart",
    "frechet_distance",
    "frechet_distance_from_features",
    "label_regions",
    "opencv_dis_flow",
    "psnr",
    "segment_metrics",
    "ssim",
    "temporal_consistency",
    "warp_error",
]
