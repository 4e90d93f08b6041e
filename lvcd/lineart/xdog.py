"""XDoG lineart extraction from colour frames (Winnemoeller et al., "XDoG: An eXtended difference-of-Gaussians
compendium including advanced image stylization", Computers & Graphics 2012, eq. 4-5 in the edge-only form).

Used for references that come without their own lineart, for evaluation on colour clips, and as the classical
counterpart of the learned extractor in `informative_drawings.py`. On flat cel colours every colour boundary becomes a
line, which is what the paint-bucket regions need; on shaded footage it also draws shading edges.

Output follows `normalize.py`: a line-strength map in [0, 1] (1 = line), so `normalize_lineart` / `to_sketch` apply
unchanged. Deliberately not here: the stylisation variant that fills dark areas (it turns dark cel colours into ink),
flow-guided (FDoG) smoothing, and any learned model. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .normalize import Lineart, LineartConfig, hysteresis_mask


@dataclass
class XDoGConfig:
    """Edge-only XDoG: D = G(sigma) - gamma * G(k * sigma) on luminance in [0, 1]; lines where D < -eps."""

    sigma: float = 0.7  # inner Gaussian (px): thin cel lines stay 1-2 px wide
    k: float = 1.6  # outer/inner sigma ratio, the DoG's classic Laplacian-of-Gaussian approximation
    gamma: float = 0.98  # < 1 leaves a small positive response on flat areas, so they never turn into lines
    eps: float = 0.01  # response below -eps is ink; ~1% of full contrast ignores JPEG noise and soft gradients
    phi: float = 60.0  # tanh steepness: contrast 0.1 edges already saturate to full strength
    colour_edges: bool = True  # also take the max response over R, G, B: isoluminant cel colours still get a line

    def __post_init__(self):
        if self.sigma <= 0 or self.k <= 1:
            raise ValueError(f"XDoG needs `sigma` > 0 and `k` > 1 (got sigma={self.sigma}, k={self.k}); try 0.7, 1.6.")


def _response(channel: np.ndarray, cfg: XDoGConfig) -> np.ndarray:
    g1 = cv2.GaussianBlur(channel, (0, 0), cfg.sigma)
    g2 = cv2.GaussianBlur(channel, (0, 0), cfg.sigma * cfg.k)
    d = g1 - cfg.gamma * g2
    # dark side of an edge: d < -eps -> strength tanh(phi * (-d - eps)) in (0, 1)
    return np.tanh(np.maximum(-d - cfg.eps, 0.0) * cfg.phi)


def xdog(image_rgb: np.ndarray, config: XDoGConfig | None = None) -> np.ndarray:
    """Line strength float32 [H, W] in [0, 1] (1 = line) from a uint8 RGB / RGBA / grey colour image."""
    cfg = config or XDoGConfig()
    img = np.asarray(image_rgb)
    if img.ndim == 3 and img.shape[2] == 4:  # composite over white: transparent areas are paper
        a = img[..., 3:4].astype(np.float32) / 255.0
        img = img[..., :3].astype(np.float32) / 255.0 * a + (1.0 - a)
    elif img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    else:
        img = img.astype(np.float32)
    if img.ndim == 2:
        return _response(img, cfg).astype(np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"`image_rgb` must be [H, W], [H, W, 3] or [H, W, 4] (got shape {img.shape}).")
    lum = img @ np.array([0.299, 0.587, 0.114], np.float32)
    s = _response(np.ascontiguousarray(lum), cfg)
    if cfg.colour_edges:
        for c in range(3):
            s = np.maximum(s, _response(np.ascontiguousarray(img[..., c]), cfg))
    return s.astype(np.float32)


def extract_lineart(
    image_rgb: np.ndarray, config: XDoGConfig | None = None, lineart_config: LineartConfig | None = None
) -> Lineart:
    """XDoG lines of a colour image as a `Lineart` (strength + hysteresis mask), ready for `segment_regions`."""
    lcfg = lineart_config or LineartConfig()
    strength = xdog(image_rgb, config)
    mask = hysteresis_mask(strength, lcfg.low, lcfg.high)
    if lcfg.thicken:
        from .normalize import thicken_lines

        mask = thicken_lines(mask, lcfg.thicken)
    return Lineart(strength=strength, mask=mask, colored=None, ink=None, polarity="white-on-black")
