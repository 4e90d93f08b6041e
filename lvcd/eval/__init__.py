"""Evaluation of colorized animation: LVCD §6.1 metrics (PSNR, SSIM, LPIPS, FID, FVD, EDMD in pixels, TC per eq. 9,
on 256x256 frames in [0, 1]) and BasicPBC's segment metrics, streamed over frames; `evaluate` returns an `EvalReport`
(JSON, markdown, plot); `table` lays reports out as LVCD's Table 1; `suite` runs the soft vs binarized lineart
protocol with the repeat-keyframe and flow-warp baselines (`baselines`).

Networks (LPIPS, Inception for FID, I3D for FVD, RAFT for TC, informative-drawings for EDMD's lines) load only from
user-given paths; without them those metrics are reported unavailable, TC uses OpenCV DIS flow and EDMD uses XDoG
(each labelled in the report).
"""

from .evaluate import WEIGHT_KEYS, evaluate, evaluate_paths
from .frechet import (
    FeatureExtractor,
    RunningGaussian,
    WeightsUnavailableError,
    frechet_distance,
    frechet_distance_from_features,
)
from .lineart_metrics import binarize_lineart, distance_map, edmd, extract_lineart, load_line_extractor
from .pixel import psnr, ssim
from .report import METRIC_INFO, EvalReport
from .segments import SegmentScores, label_regions, segment_metrics
from .temporal import (
    TC_DEFINITION,
    WARP_ERROR_RATIO_DEFINITION,
    opencv_dis_flow,
    relative_warp_error,
    temporal_consistency,
    warp_error,
    warp_error_ratio,
)

__all__ = [
    "METRIC_INFO",
    "TC_DEFINITION",
    "WARP_ERROR_RATIO_DEFINITION",
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
    "load_line_extractor",
    "opencv_dis_flow",
    "psnr",
    "relative_warp_error",
    "segment_metrics",
    "ssim",
    "temporal_consistency",
    "warp_error",
    "warp_error_ratio",
]
