"""PSNR / SSIM agree with scikit-image to 1e-6 and fall as the prediction degrades."""

import numpy as np
import pytest

from lvcd.eval import psnr, ssim

skm = pytest.importorskip("skimage.metrics")


def _fixtures():
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:80, 0:90]
    smooth = np.stack([np.sin(xx / 9.0), np.cos(yy / 7.0), np.sin((xx + yy) / 13.0)], -1) * 0.5 + 0.5
    yield noisy, np.clip(noisy.astype(int) + rng.integers(-40, 41, noisy.shape), 0, 255).astype(np.uint8)
    yield smooth, np.clip(smooth + rng.normal(0, 0.05, smooth.shape), 0, 1)
    yield smooth[..., 0], np.clip(smooth[..., 0] * 0.9 + 0.03, 0, 1)  # greyscale
    yield smooth[:13, :11], smooth[:13, :11][::-1]  # small odd size


@pytest.mark.parametrize("pair", list(_fixtures()), ids=["uint8-noise", "float-smooth", "grey", "odd-small"])
def test_psnr_ssim_match_skimage(pair):
    pred, gt = pair
    g = gt / 255.0 if gt.dtype == np.uint8 else gt.astype(np.float64)
    p = pred / 255.0 if pred.dtype == np.uint8 else pred.astype(np.float64)
    ch = -1 if g.ndim == 3 else None
    assert abs(ssim(pred, gt) - skm.structural_similarity(g, p, channel_axis=ch, data_range=1.0)) < 1e-6
    assert abs(psnr(pred, gt) - skm.peak_signal_noise_ratio(g, p, data_range=1.0)) < 1e-6


def test_identical_frames():
    x = np.random.default_rng(1).random((32, 32, 3))
    assert psnr(x, x) == float("inf")
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)


def test_degradation_lowers_psnr_and_ssim(clip):
    gt = clip[0][0] / 255.0
    rng = np.random.default_rng(2)
    values = []
    for sigma in (0.01, 0.05, 0.15):
        pred = np.clip(gt + rng.normal(0, sigma, gt.shape), 0, 1)
        values.append((psnr(pred, gt), ssim(pred, gt)))
    assert values[0][0] > values[1][0] > values[2][0]
    assert values[0][1] > values[1][1] > values[2][1]
    shifted = np.clip(gt + np.array([0.1, -0.05, 0.0]), 0, 1)  # colour shift
    assert psnr(shifted, gt) < psnr(np.clip(gt + np.array([0.02, -0.01, 0.0]), 0, 1), gt)


def test_errors_teach():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        psnr(np.full((8, 8, 3), 2.0), np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(np.zeros((5, 5, 3)), np.zeros((5, 5, 3)))
