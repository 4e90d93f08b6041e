"""Flat-colour palettes and palette snapping for any backend's output.

`extract_palette` finds the flat colours of a coloured reference (cel paint): colours of pixels inside regions (away
from lines), counted exactly, rare colours (anti-aliasing blends, stray pixels) dropped, near-duplicates (JPEG or
video noise) merged; a shaded reference with too many colours falls back to k-means.

`PaletteSnapper` makes a frame flat: it segments the frame's lineart into regions (`regions.py`), takes each region's
per-channel median colour (a few pixels next to the lines ignored, where diffusion output bleeds), snaps it to the
nearest palette entry and fills the region with it. It is stateful across the frames of a shot: a region keeps its
previous entry (looked up from the previous frame's snapped map at the same pixels) unless another entry is closer
by `switch_margin`, so a region whose colour sits between two entries does not flicker between them.

Deliberately not here: matching regions across frames by motion (the paint-bucket backend does that), colour
spaces other than RGB (palettes of cel paint are distinct enough in RGB), and drawing lines (`composite_lines`).
No torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .normalize import Lineart, LineartConfig, normalize_lineart
from .regions import RegionConfig, Regions, segment_regions


@dataclass
class PaletteConfig:
    """How a palette is extracted from a reference and how frames snap to it."""

    flat_tolerance: int = 6  # a pixel is "flat" when its 4 neighbours differ by <= this (per channel): skips AA
    min_share: float = 2e-4  # a colour must cover this share of the flat pixels (~40 px at 576x320)
    min_pixels: int = 8  # ... and at least this many pixels (tiny frames)
    merge_distance: float = 10.0  # RGB distance under which two colours are one paint (compression noise)
    max_colors: int = 96  # more flat colours than this = not a cel image: k-means to this many instead
    switch_margin: float = 12.0  # hysteresis (RGB units): change a region's entry only if the new one is this closer
    edge_ignore: int = 1  # px along lines left out of a region's median (bleed and anti-aliasing)
    regions: RegionConfig = field(default_factory=RegionConfig)
    lineart: LineartConfig = field(default_factory=LineartConfig)

    def __post_init__(self):
        if self.max_colors < 1 or self.switch_margin < 0 or self.merge_distance < 0:
            raise ValueError(
                f"`max_colors` must be >= 1 and `switch_margin`, `merge_distance` >= 0 (got {self.max_colors}, "
                f"{self.switch_margin}, {self.merge_distance})."
            )


def _rgb8(image: np.ndarray, name: str = "image") -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
        raise ValueError(f"`{name}` must be uint8 [H, W, 3] RGB or [H, W, 4] RGBA (got {img.dtype} {img.shape}).")
    if img.shape[2] == 4:  # transparent areas are paper
        a = img[..., 3:4].astype(np.float32) / 255.0
        img = np.round(img[..., :3] * a + 255.0 * (1.0 - a)).astype(np.uint8)
    return np.ascontiguousarray(img)


def rgb_codes(rgb: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] -> int32 [...] 0xRRGGBB (exact colour identity, cheap to count)."""
    c = rgb.astype(np.int32)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def codes_rgb(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, np.int64)
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], -1).astype(np.uint8)


def flat_pixels(rgb: np.ndarray, tolerance: int) -> np.ndarray:
    """bool [H, W]: pixels whose 4 neighbours are within `tolerance` per channel (inside a flat paint area)."""
    c = rgb.astype(np.int16)
    ok = np.ones(rgb.shape[:2], bool)
    dx = (np.abs(c[:, 1:] - c[:, :-1]) <= tolerance).all(axis=2)
    dy = (np.abs(c[1:] - c[:-1]) <= tolerance).all(axis=2)
    ok[:, 1:] &= dx
    ok[:, :-1] &= dx
    ok[1:] &= dy
    ok[:-1] &= dy
    return ok


def _cluster_greedy(
    codes: np.ndarray, counts: np.ndarray, distance: float, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy leader clustering by count: each colour joins the first (more common) centre within `distance`, else
    founds a new one. Returns (centre codes, accumulated counts). Centres are exact colours of the image, so a
    clean cel reference keeps its exact paint values and a noisy one (JPEG, video) its most common value."""
    order = np.argsort(-counts, kind="stable")[:limit]
    cols = codes_rgb(codes[order]).astype(np.float32)
    centres = np.empty((0, 3), np.float32)
    founders: list[int] = []
    acc: list[int] = []
    for i, c in enumerate(cols):
        if len(centres):
            d = np.linalg.norm(centres - c, axis=1)
            j = int(np.argmin(d))
            if d[j] < distance:
                acc[j] += int(counts[order[i]])
                continue
        centres = np.vstack([centres, c])
        founders.append(order[i])
        acc.append(int(counts[order[i]]))
    return codes[np.asarray(founders, np.int64)], np.asarray(acc, np.int64)


def extract_palette(
    reference_rgb: np.ndarray, lineart: np.ndarray | Lineart | None = None, config: PaletteConfig | None = None
) -> np.ndarray:
    """The reference's flat colours, uint8 [K, 3], most common first. `lineart` (optional) excludes line pixels;
    without it, lines drawn into the reference are excluded only if thin (they are not flat)."""
    cfg = config or PaletteConfig()
    rgb = _rgb8(reference_rgb, "reference_rgb")
    valid = flat_pixels(rgb, cfg.flat_tolerance)
    if lineart is not None:
        la = normalize_lineart(lineart, cfg.lineart)
        if la.shape != rgb.shape[:2]:
            raise ValueError(
                f"reference lineart is {la.shape[1]}x{la.shape[0]} but the reference is "
                f"{rgb.shape[1]}x{rgb.shape[0]}; pass the lineart of the reference frame itself."
            )
        valid &= ~la.mask
    if not valid.any():
        valid[:] = True
    codes, counts = np.unique(rgb_codes(rgb)[valid], return_counts=True)
    need = max(cfg.min_pixels, int(cfg.min_share * valid.sum()))
    if cfg.merge_distance > 0:
        # colours beyond the 20 * max_colors most common are noise tails; they cannot found a palette entry
        codes, counts = _cluster_greedy(codes, counts, cfg.merge_distance, limit=20 * cfg.max_colors)
    strong = counts >= need
    if not strong.any():
        strong = counts == counts.max()
    kept = codes[strong][np.argsort(-counts[strong], kind="stable")]
    if len(kept) <= cfg.max_colors:
        return codes_rgb(kept)
    # shaded reference: k-means on (a subsample of) the valid pixels, most populous centre first
    pix = rgb[valid].astype(np.float32)
    pix = pix[:: max(1, len(pix) // 200_000)]
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)  # deterministic palettes
    _, lab, centres = cv2.kmeans(pix, cfg.max_colors, None, crit, 2, cv2.KMEANS_PP_CENTERS)
    order = np.argsort(-np.bincount(lab.ravel(), minlength=cfg.max_colors))
    return np.clip(np.round(centres[order]), 0, 255).astype(np.uint8)


def region_medians(rgb: np.ndarray, regions: Regions, edge_ignore: int = 1) -> np.ndarray:
    """float32 [n + 1, 3] per-channel median colour of each region over its interior (minus `edge_ignore` px along
    lines when the region keeps pixels after that). Histogram-based: O(pixels), no sort."""
    n = regions.n
    core = regions.interior
    if edge_ignore > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * edge_ignore + 1, 2 * edge_ignore + 1))
        eroded = cv2.erode(core.view(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
        has_core = np.bincount(regions.labels[eroded], minlength=n + 1) > 0
        core = eroded | (core & ~has_core[regions.labels])
    lab = regions.labels[core].astype(np.int64)
    if lab.size == 0:  # all lines: use every pixel
        lab, core = regions.labels.ravel().astype(np.int64), np.ones(regions.shape, bool)
    med = np.zeros((n + 1, 3), np.float32)
    for c in range(3):
        hist = np.bincount(lab * 256 + rgb[..., c][core], minlength=(n + 1) * 256).reshape(n + 1, 256)
        cum = np.cumsum(hist, axis=1)
        half = (cum[:, -1:] + 1) // 2
        med[:, c] = (cum < half).sum(axis=1)
    return med


class PaletteSnapper:
    """Snap each region of each frame to the nearest palette colour, with hysteresis across frames.

    >>> snapper = PaletteSnapper.from_reference(reference_rgb, reference_lineart)
    >>> flat = [snapper.snap(frame, line) for frame, line in zip(frames, lineart)]  # one shot, in order

    Call `reset()` (or make a new snapper) at a shot cut.
    """

    def __init__(self, palette: np.ndarray, config: PaletteConfig | None = None):
        pal = np.asarray(palette)
        if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) == 0:
            raise ValueError(f"`palette` must be a non-empty [K, 3] array of RGB colours (got shape {pal.shape}).")
        self.palette = np.clip(np.round(pal), 0, 255).astype(np.uint8)
        self.config = config or PaletteConfig()
        self._prev: np.ndarray | None = None  # int32 [H, W] palette index per pixel of the previous snapped frame

    @classmethod
    def from_reference(
        cls, reference_rgb: np.ndarray, reference_lineart=None, config: PaletteConfig | None = None
    ) -> PaletteSnapper:
        return cls(extract_palette(reference_rgb, reference_lineart, config), config)

    def reset(self) -> None:
        """Forget the previous frame (a new shot starts)."""
        self._prev = None

    def snap(self, frame_rgb: np.ndarray, lineart: np.ndarray | Lineart) -> np.ndarray:
        """uint8 [H, W, 3] frame with every region (line pixels included) filled with one palette colour."""
        cfg = self.config
        rgb = _rgb8(frame_rgb, "frame_rgb")
        la = normalize_lineart(lineart, cfg.lineart)
        if la.shape != rgb.shape[:2]:
            raise ValueError(
                f"lineart is {la.shape[1]}x{la.shape[0]} but the frame is {rgb.shape[1]}x{rgb.shape[0]};"
                " snap each frame with its own lineart."
            )
        regions = segment_regions(la, cfg.regions)
        med = region_medians(rgb, regions, cfg.edge_ignore)
        pal = self.palette.astype(np.float32)
        dist = np.linalg.norm(med[:, None, :] - pal[None, :, :], axis=2)  # [n + 1, K]
        choice = dist.argmin(axis=1)
        if self._prev is not None and self._prev.shape == regions.shape:
            k = len(pal)
            lab = regions.labels[regions.interior].astype(np.int64)
            votes = np.bincount(lab * k + self._prev[regions.interior], minlength=(regions.n + 1) * k)
            votes = votes.reshape(regions.n + 1, k)
            had = votes.sum(axis=1) > 0
            prev = votes.argmax(axis=1)
            rows = np.arange(regions.n + 1)
            keep = had & (dist[rows, prev] <= dist[rows, choice] + cfg.switch_margin)
            choice = np.where(keep, prev, choice)
        self._prev = choice[regions.labels].astype(np.int32)
        return self.palette[choice][regions.labels]
