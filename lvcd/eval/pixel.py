"""PSNR and SSIM, the frame-quality metrics of LVCD §6.1 (frames at 256x256, values in [0, 1]).

Written in numpy/scipy so the evaluation needs neither scikit-image nor torchmetrics, yet pinned to scikit-image's
`peak_signal_noise_ratio(gt, pred, data_range=1.0)` and `structural_similarity(gt, pred, channel_axis=-1,
data_range=1.0)` (Wang et al. 2004 with scikit-image's defaults: 7x7 uniform window, K1=0.01, K2=0.03, sample
covariance, borders cropped, mean over channels) to 1e-6 by `tests/eval/test_eval_pixel.py`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter

from ._frames import to_float01

SSIM_WIN_SIZE = 7  # scikit-image default (uniform window)
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = to_float01(pred, name="pred"), to_float01(gt, name="gt")
    if pred.shape != gt.shape:
        raise ValueError(f"`pred` and `gt` must have the same shape; got {pred.shape} and {gt.shape}. Resize first.")
    return pred, gt


def psnr(pred: np.ndarray, gt: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; `inf` when the frames are identical."""
    pred, gt = _pair(pred, gt)
    mse = float(np.mean((gt - pred) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def _ssim_channel(x: np.ndarray, y: np.ndarray, data_range: float, win_size: int) -> float:
    ndim = x.ndim
    n_px = win_size**ndim
    cov_norm = n_px / (n_px - 1.0)  # sample covariance, as scikit-image's use_sample_covariance=True
    ux = uniform_filter(x, size=win_size)
    uy = uniform_filter(y, size=win_size)
    uxx = uniform_filter(x * x, size=win_size)
    uyy = uniform_filter(y * y, size=win_size)
    uxy = uniform_filter(x * y, size=win_size)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    a1, a2 = 2 * ux * uy + c1, 2 * vxy + c2
    b1, b2 = ux**2 + uy**2 + c1, vx + vy + c2
    s = (a1 * a2) / (b1 * b2)
    pad = (win_size - 1) // 2
    return float(s[(slice(pad, -pad),) * ndim].mean())


def ssim(pred: np.ndarray, gt: np.ndarray, data_range: float = 1.0, win_size: int = SSIM_WIN_SIZE) -> float:
    """Mean structural similarity; HxWx3 frames are averaged over channels (HxW greyscale also accepted)."""
    pred, gt = _pair(pred, gt)
    if min(pred.shape[:2]) < win_size:
        raise ValueError(f"SSIM needs frames of at least {win_size}x{win_size} pixels; got {pred.shape[:2]}.")
    if pred.ndim == 2:
        return _ssim_channel(pred, gt, data_range, win_size)
    return float(
        np.mean([_ssim_channel(pred[..., c], gt[..., c], data_range, win_size) for c in range(pred.shape[-1])])
    )
