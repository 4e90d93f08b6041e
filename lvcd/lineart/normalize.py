"""Normalise user lineart: polarity, transparency and soft lines -> a float line-strength map and a binary line mask.

Users bring lineart in every convention: black ink on white paper, white lines on black (the diffusion model's own
convention), lines on a transparent background (BasicPBC, most drawing apps' line layers), anti-aliased or soft
pencil lines, and "colour-trace" lines (red/blue lines that bound shadow and highlight areas and are painted over in
the finished cel). This file turns all of them into one representation, `Lineart`:

* `strength` float32 [H, W] in [0, 1], 1 = full line. Background level is estimated per frame, so grey paper or a
  slightly lifted black still maps to 0.
* `mask` bool [H, W]: hysteresis threshold of `strength` (pixels above `high` seed lines that grow through pixels
  above `low`), so the faint tails of anti-aliased lines join their line but isolated faint noise does not.
* `colored` bool [H, W]: line pixels whose ink is saturated (colour-trace lines).

It also builds the diffusion model's sketch (`to_sketch`: white lines on black, [0, 1], 3 channels) and composites the
original lines over a coloured frame (`composite_lines`).

Deliberately not here: extraction of lines from colour images (`xdog.py`, `informative_drawings.py`) and region
segmentation (`regions.py`). No torch: this runs in the weight-free backend and in the video path.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

POLARITIES = ("auto", "black-on-white", "white-on-black", "alpha")


@dataclass
class LineartConfig:
    """How raw lineart becomes a line-strength map and a binary mask."""

    polarity: str = "auto"  # "auto" | "black-on-white" | "white-on-black" | "alpha"; auto looks at alpha + median
    high: float = 0.5  # strength that seeds a line: a 1-px anti-aliased line still has a pixel >= 0.5 along it
    low: float = 0.2  # strength a seeded line may grow through: keeps anti-aliased tails, drops paper noise
    min_contrast: float = 0.25  # smallest ink-to-background contrast trusted when normalising by the background
    chroma: float = 0.25  # (max - min) / 255 of the ink above which a line is a colour-trace line (red/blue)
    thicken: int = 0  # dilate the mask by this many px (sketchy lines with pinholes); 0 = as drawn
    thin: bool = False  # skeletonise the mask to 1 px (very thick brush lines that swallow small regions)

    def __post_init__(self):
        if self.polarity not in POLARITIES:
            raise ValueError(f"`polarity` must be one of {', '.join(POLARITIES)} (got {self.polarity!r}).")
        if not 0.0 <= self.low <= self.high <= 1.0:
            raise ValueError(
                f"hysteresis thresholds need 0 <= `low` <= `high` <= 1 (got low={self.low}, high={self.high}); "
                "try low=0.2, high=0.5."
            )
        if self.thicken < 0:
            raise ValueError(f"`thicken` must be >= 0 pixels (got {self.thicken}).")


@dataclass
class Lineart:
    """One normalised lineart frame."""

    strength: np.ndarray  # float32 [H, W] in [0, 1], 1 = line
    mask: np.ndarray  # bool [H, W], binary line mask
    colored: np.ndarray | None  # bool [H, W] colour-trace line pixels, None when the input has no coloured ink
    ink: np.ndarray | None  # uint8 [H, W, 3] ink colour (only meaningful on lines), None = black ink
    polarity: str  # the polarity that was used (never "auto")

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape


# ---------------------------------------------------------------------------------------------------- input checks
def _as_array(frame) -> np.ndarray:
    if isinstance(frame, Lineart):
        raise TypeError("got a `Lineart`; pass it on as is instead of normalising it again.")
    arr = np.asarray(frame)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(
            f"lineart must be [H, W] grey, [H, W, 3] RGB or [H, W, 4] RGBA (got shape {arr.shape}); "
            "frames from lvcd.video readers are [H, W, 3] uint8."
        )
    if arr.size == 0:
        raise ValueError(f"lineart frame is empty (shape {arr.shape}).")
    return arr


def _to_unit(arr: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / bool / float in [0, 1] -> float32 in [0, 1]."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) * (1.0 / 255.0)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) * (1.0 / 65535.0)
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32, copy=False)
        hi = float(out.max()) if out.size else 0.0
        if hi > 1.0 + 1e-3:
            raise ValueError(
                f"float lineart must lie in [0, 1] (max is {hi:g}); divide 8-bit data by 255 or pass it as uint8."
            )
        return np.clip(out, 0.0, 1.0)
    raise ValueError(f"lineart dtype {arr.dtype} is not supported; use uint8, uint16, bool or float in [0, 1].")


def _subsample(a: np.ndarray, n: int = 65536) -> np.ndarray:
    step = max(1, int(np.sqrt(a.shape[0] * a.shape[1] / n)))
    return a[::step, ::step]


def _has_alpha_background(arr: np.ndarray) -> bool:
    """RGBA whose transparent pixels dominate: lines on a transparent layer."""
    if arr.ndim != 3 or arr.shape[2] != 4:
        return False
    alpha = _to_unit(_subsample(arr[..., 3]))
    return bool((alpha < 0.5).mean() >= 0.5)


def _over_white(arr: np.ndarray) -> np.ndarray:
    """RGBA (mostly opaque) -> RGB composited over white, float32 in [0, 1]."""
    rgba = _to_unit(arr)
    a = rgba[..., 3:4]
    return rgba[..., :3] * a + (1.0 - a)


# ---------------------------------------------------------------------------------------------------- polarity
def detect_polarity(frame: np.ndarray) -> str:
    """ "alpha" for lines on a transparent background, else "black-on-white" or "white-on-black" by which side the
    (background-dominated) median brightness falls on."""
    arr = _as_array(frame)
    if _has_alpha_background(arr):
        return "alpha"
    if arr.ndim == 3 and arr.shape[2] == 4:
        rgb = _over_white(_subsample(arr))
    else:
        rgb = _to_unit(_subsample(arr))
    grey = rgb if rgb.ndim == 2 else rgb.mean(axis=2)
    return "black-on-white" if float(np.median(grey)) >= 0.5 else "white-on-black"


def _ink_value(rgb: np.ndarray, dark_ink: bool) -> np.ndarray:
    """Per-pixel value that moves towards the ink: min channel for dark ink (so red and blue trace lines count as
    fully as black ones), max channel for light ink."""
    if rgb.ndim == 2:
        return rgb
    return rgb.min(axis=2) if dark_ink else rgb.max(axis=2)


def line_strength(frame: np.ndarray, polarity: str = "auto", *, min_contrast: float = 0.25) -> np.ndarray:
    """Float32 [H, W] line strength in [0, 1] (1 = line) from lineart in any polarity."""
    if polarity not in POLARITIES:
        raise ValueError(f"`polarity` must be one of {', '.join(POLARITIES)} (got {polarity!r}).")
    arr = _as_array(frame)
    if polarity == "auto":
        polarity = detect_polarity(arr)
    if polarity == "alpha":
        if arr.ndim != 3 or arr.shape[2] != 4:
            raise ValueError(
                f"`polarity`='alpha' needs an RGBA frame (got shape {arr.shape}); use 'auto' or 'black-on-white'."
            )
        return _to_unit(np.ascontiguousarray(arr[..., 3]))
    dark_ink = polarity == "black-on-white"
    if arr.dtype == np.uint8 and (arr.ndim == 2 or arr.shape[2] == 3):
        # fast path for what video readers yield: channel min/max in uint8 with OpenCV (one pass, no float copy)
        if arr.ndim == 2:
            v8 = arr
        else:
            r, g, b = cv2.split(arr)
            v8 = cv2.min(cv2.min(r, g), b) if dark_ink else cv2.max(cv2.max(r, g), b)
        # every step below is elementwise: run it on the 256 levels and look the frame up (one pass)
        levels = np.arange(256, dtype=np.float32)
        levels *= 1.0 / 255.0
        bg = float(np.median(levels[_subsample(v8)]))  # background dominates a lineart frame
        return cv2.LUT(np.ascontiguousarray(v8), _strength(levels, bg, dark_ink, min_contrast))
    rgb = _over_white(arr) if arr.ndim == 3 and arr.shape[2] == 4 else _to_unit(arr)
    v = _ink_value(rgb, dark_ink)
    return _strength(v, float(np.median(_subsample(v))), dark_ink, min_contrast)  # background dominates a frame


def _strength(v: np.ndarray, bg: float, dark_ink: bool, min_contrast: float) -> np.ndarray:
    """Line strength in [0, 1] of ink values `v` on a background of value `bg`."""
    if dark_ink:
        s = (bg - v) * (1.0 / max(bg, min_contrast))
    else:
        s = (v - bg) * (1.0 / max(1.0 - bg, min_contrast))
    return np.clip(s, 0.0, 1.0, out=s).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------------- masks
def hysteresis_mask(strength: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels >= `high`, plus every pixel >= `low` 8-connected to one of them (Canny-style hysteresis)."""
    weak = strength >= low
    if low >= high:
        return weak
    strong = strength >= high
    if np.count_nonzero(weak) == np.count_nonzero(strong):  # hard (binary) lines: nothing to grow
        return strong
    n, lab = cv2.connectedComponents(weak.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    keep = np.zeros(n, bool)
    keep[lab[strong]] = True
    keep[0] = False
    return keep[lab]


def thicken_lines(mask: np.ndarray, px: int) -> np.ndarray:
    """Dilate a line mask by `px` pixels (disk)."""
    if px <= 0:
        return mask.astype(bool, copy=True)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def thin_lines(mask: np.ndarray, max_iter: int = 64) -> np.ndarray:
    """Zhang-Suen thinning of a line mask to 1-px 8-connected curves (vectorised; a few ms per 1080p frame).

    Thinning can open a closed outline only where the line was thinner than a pixel to begin with; it is meant for
    brush lines several pixels wide.
    """
    img = np.pad(mask.astype(np.uint8), 1)
    for _ in range(max_iter):
        changed = False
        for step in (0, 1):
            p2, p3, p4 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:]
            p5, p6, p7 = img[2:, 2:], img[2:, 1:-1], img[2:, :-2]
            p8, p9 = img[1:-1, :-2], img[:-2, :-2]
            nb = [p2, p3, p4, p5, p6, p7, p8, p9]
            b = sum(x.astype(np.int32) for x in nb)
            a = sum(((nb[i] == 0) & (nb[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            c = img[1:-1, 1:-1] == 1
            if step == 0:
                cond = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                cond = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            rm = c & (b >= 2) & (b <= 6) & (a == 1) & cond
            if rm.any():
                img[1:-1, 1:-1][rm] = 0
                changed = True
        if not changed:
            break
    return img[1:-1, 1:-1].astype(bool)


# ---------------------------------------------------------------------------------------------------- the one entry
def normalize_lineart(frame: np.ndarray | Lineart, config: LineartConfig | None = None) -> Lineart:
    """Raw lineart (grey/RGB/RGBA, any polarity) -> `Lineart`. A `Lineart` is returned unchanged."""
    if isinstance(frame, Lineart):
        return frame
    cfg = config or LineartConfig()
    arr = _as_array(frame)
    polarity = detect_polarity(arr) if cfg.polarity == "auto" else cfg.polarity
    strength = line_strength(arr, polarity, min_contrast=cfg.min_contrast)
    mask = hysteresis_mask(strength, cfg.low, cfg.high)
    if cfg.thin:
        mask = thin_lines(mask)
    if cfg.thicken:
        mask = thicken_lines(mask, cfg.thicken)
    colored = ink = None
    if arr.ndim == 3:
        # colour-trace lines: saturated ink on line pixels
        rgb = arr[..., :3]
        if rgb.dtype == np.uint8:  # what video readers yield: channel max - min over the frame in one OpenCV pass
            rgb = np.ascontiguousarray(rgb)
            r, g, b = cv2.split(rgb)
            chroma = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
            sat_px = mask & (chroma >= cfg.chroma * 255.0)
            if sat_px.any():
                colored = sat_px
                ink = cv2.bitwise_and(rgb, rgb, mask=mask.view(np.uint8))  # the ink on line pixels, 0 elsewhere
        else:
            ys, xs = np.nonzero(mask)
            on8 = np.round(_to_unit(rgb[ys, xs]) * 255.0).astype(np.uint8)
            sat = on8.max(axis=1).astype(np.int16) - on8.min(axis=1) >= cfg.chroma * 255.0
            if sat.any():
                colored = np.zeros(mask.shape, bool)
                colored[ys[sat], xs[sat]] = True
                ink = np.zeros(mask.shape + (3,), np.uint8)
                ink[ys, xs] = on8
    return Lineart(strength=strength, mask=mask, colored=colored, ink=ink, polarity=polarity)


def to_sketch(lineart: np.ndarray | Lineart, config: LineartConfig | None = None) -> np.ndarray:
    """The diffusion model's sketch convention: float32 [H, W, 3] in [0, 1], white lines on black."""
    la = normalize_lineart(lineart, config)
    return np.repeat(la.strength[..., None], 3, axis=2)


def composite_lines(
    frame_rgb: np.ndarray,
    lineart: np.ndarray | Lineart,
    *,
    polarity: str = "auto",
    keep_colored: bool = False,
    config: LineartConfig | None = None,
) -> np.ndarray:
    """Draw the original lines over a coloured uint8 RGB frame, weighted by line strength (anti-aliasing kept).

    Black (or white) ink is drawn as black; colour-trace lines are left to the colours underneath unless
    `keep_colored`, in which case they are drawn in their own ink colour.
    """
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
        raise ValueError(f"`frame_rgb` must be uint8 [H, W, 3] (got {frame_rgb.dtype} {frame_rgb.shape}).")
    if config is None:
        config = LineartConfig(polarity=polarity)
    la = normalize_lineart(lineart, config)
    if la.shape != frame_rgb.shape[:2]:
        raise ValueError(
            f"lineart is {la.shape[1]}x{la.shape[0]} but the frame is {frame_rgb.shape[1]}x{frame_rgb.shape[0]}; "
            "composite lines at the frame's own size."
        )
    a = la.strength.copy()
    if la.colored is not None and not keep_colored:
        a[la.colored] = 0.0
    # Pixels outside the binary mask keep their faint anti-aliasing weight; strength 0 pixels are untouched.
    ink = np.zeros_like(frame_rgb, dtype=np.float32)
    if la.colored is not None and keep_colored:
        ink[la.colored] = la.ink[la.colored]
    out = frame_rgb.astype(np.float32) * (1.0 - a[..., None]) + ink * a[..., None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
