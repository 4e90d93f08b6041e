"""EDMD, LVCD's lineart-fidelity metric (Huang et al., 2024, §6.1; docs/lvcd-reference.md §11): the RMSE between the
Euclidean distance maps of the lineart extracted from the generated frame and of the input lineart, in pixels at
256x256 ("the average pixel shift"; LVCD reports 4.34 / 6.46).

    DM(L)(x) = distance from pixel x to the nearest line pixel of L      (scipy.ndimage.distance_transform_edt)
    EDMD     = sqrt(mean_x (DM(extract(output))(x) - DM(input_lineart)(x))^2)      [pixels]

A frame without any line pixel has a distance map equal to the image diagonal everywhere (362 px at 256x256).

The extractor: the paper used informative-drawings (`lvcd.lineart.informative_drawings`, the LVCD/ControlNet
"lineart" generator) on the generated frames; lvcd uses it when its weights are given (`load_line_extractor`, lines
where its strength >= 0.5) and otherwise XDoG (Winnemöller et al., 2012: `lvcd.lineart.xdog.extract_lineart` when that
module is importable, else the small private fallback below). Every report names the extractor used. Without the
input lineart, the reference is the same extractor run on the ground truth (so EDMD is exactly 0 when the output
equals the ground truth).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt

from ._frames import to_float01, to_gray

# XDoG parameters for clean cel-shaded frames at 256x256 (lines are the dark side of strong edges)
XDOG_SIGMA = 0.8
XDOG_K = 1.6
XDOG_TAU = 0.98
XDOG_EPSILON = -0.02
XDOG_PHI = 200.0


def _xdog_fallback(frame: np.ndarray) -> np.ndarray:
    """Private XDoG: float RGB/grey frame in [0, 1] -> boolean line mask (True on lines)."""
    gray = to_gray(to_float01(frame)).astype(np.float32)
    g1 = cv2.GaussianBlur(gray, (0, 0), XDOG_SIGMA, borderType=cv2.BORDER_REFLECT)
    g2 = cv2.GaussianBlur(gray, (0, 0), XDOG_SIGMA * XDOG_K, borderType=cv2.BORDER_REFLECT)
    d = g1 - XDOG_TAU * g2
    e = np.where(d >= XDOG_EPSILON, 1.0, 1.0 + np.tanh(XDOG_PHI * (d - XDOG_EPSILON)))
    return e < 0.5


def _lvcd_lineart_xdog():
    """`lvcd.lineart.xdog.extract_lineart` when the lineart module provides it (returns a `Lineart` with a bool
    `.mask`), else None; any import failure falls back to the private XDoG."""
    try:
        from lvcd.lineart.xdog import extract_lineart as fn
    except Exception:  # noqa: BLE001 - a missing or broken optional module means "use the fallback"
        return None
    return fn if callable(fn) else None


def extract_lineart(frame: np.ndarray, extractor=None) -> np.ndarray:
    """Boolean line mask (True on line pixels) of a colour frame (uint8 or float [0, 1]): `extractor` (a callable
    frame -> mask, e.g. `load_line_extractor(...)`) when given, else XDoG."""
    if extractor is not None:
        return np.asarray(extractor(frame), bool)
    fn = _lvcd_lineart_xdog()
    if fn is None:
        return _xdog_fallback(frame)
    out = fn(to_float01(np.asarray(frame)).astype(np.float32))
    mask = np.asarray(getattr(out, "mask", out))
    return mask if mask.dtype == bool else np.asarray(mask) >= 0.5


def binarize_lineart(lineart: np.ndarray, polarity: str = "auto") -> np.ndarray:
    """Boolean line mask from a lineart image (uint8 or float [0, 1], HxW or HxWx3).

    `polarity`: 'dark' for dark lines on a light ground (paper), 'light' for white-on-black (ControlNet condition),
    'auto' picks by the mean (lines are the minority of pixels). Boolean input is returned as is.
    """
    lineart = np.asarray(lineart)
    if lineart.dtype == bool:
        return lineart if lineart.ndim == 2 else lineart.any(axis=-1)
    gray = to_gray(to_float01(lineart, name="lineart")) if lineart.ndim == 3 else to_float01(lineart, name="lineart")
    if polarity == "auto":
        polarity = "dark" if gray.mean() >= 0.5 else "light"
    if polarity == "dark":
        return gray < 0.5
    if polarity == "light":
        return gray >= 0.5
    raise ValueError(f"`polarity` must be 'auto', 'dark' or 'light'; got {polarity!r}.")


def distance_map(lines: np.ndarray) -> np.ndarray:
    """Euclidean distance (pixels) from each pixel to the nearest line pixel; the diagonal where there is none."""
    if not lines.any():
        return np.full(lines.shape, float(np.hypot(*lines.shape)))
    return distance_transform_edt(~lines)


def edmd(output_lines: np.ndarray, input_lines: np.ndarray) -> float:
    """EDMD in pixels between two boolean line masks of one size (evaluate them at 256x256 to compare with LVCD)."""
    if output_lines.shape != input_lines.shape:
        raise ValueError(
            f"line masks differ in size: output {output_lines.shape} vs input {input_lines.shape}; resize the lineart "
            "to the frame size first."
        )
    diff = distance_map(output_lines) - distance_map(input_lines)
    return float(np.sqrt(np.mean(diff**2)))


class LearnedLineExtractor:
    """Boolean line masks from a learned extractor returning line strength in [0, 1] (informative-drawings)."""

    threshold = 0.5

    def __init__(self, strength_fn, name: str) -> None:
        self.strength_fn, self.name = strength_fn, name

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        rgb = np.clip(np.rint(to_float01(np.asarray(frame)) * 255.0), 0, 255).astype(np.uint8)
        return np.asarray(self.strength_fn(rgb)) >= self.threshold


def load_line_extractor(path, device: str = "cpu") -> LearnedLineExtractor:
    """informative-drawings generator weights (e.g. ControlNet's annotator sk_model.pth) -> a line-mask extractor."""
    from lvcd.lineart.informative_drawings import InformativeDrawingsConfig, InformativeDrawingsExtractor

    extractor = InformativeDrawingsExtractor(path, InformativeDrawingsConfig(device=device))
    return LearnedLineExtractor(extractor, f"informative-drawings ({path}), lines where strength >= 0.5")


def extractor_name(extractor=None) -> str:
    """How EDMD's lines are extracted, for the report."""
    if extractor is not None:
        return getattr(extractor, "name", type(extractor).__name__)
    if _lvcd_lineart_xdog() is not None:
        return "XDoG (lvcd.lineart.xdog; no informative-drawings weights given)"
    return "XDoG (lvcd.eval fallback; no informative-drawings weights given)"
