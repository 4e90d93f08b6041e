"""Masks as files (issue 15: extra references' source and target masks): one image, a mask video or an image sequence,
read as uint8 [H, W] (255 = selected). No torch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .images import IMAGE_EXTENSIONS
from .probe import probe


def mask_frame_count(path: str) -> int | None:
    """Frames of a mask source: None for one image (used by every frame), else the video / sequence length."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS:
        return None
    return int(probe(path).frame_count)


def read_mask(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask image as uint8 [H, W] (white = selected; the alpha channel for images with transparency), resized
    (nearest) to `size` (W, H) when given."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.getchannel("A") if im.mode in ("RGBA", "LA") else im.convert("L")
        if size is not None and im.size != tuple(size):
            im = im.resize(tuple(size), Image.NEAREST)
        return np.asarray(im, dtype=np.uint8)


def target_mask_frames(path: str, num_frames: int, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The mask of each of `num_frames` frames, uint8 [H, W], streamed (one image: repeated)."""
    if mask_frame_count(path) is None:
        m = read_mask(path, size)
        for _ in range(num_frames):
            yield m
        return
    from .reader import read_frames

    for frame in read_frames(path, 0, num_frames):
        rgb = np.asarray(frame)
        m = rgb if rgb.ndim == 2 else rgb[..., :3].max(axis=-1)
        if size is not None and (m.shape[1], m.shape[0]) != tuple(size):
            from PIL import Image

            m = np.asarray(Image.fromarray(m).resize(tuple(size), Image.NEAREST))
        yield m.astype(np.uint8)


MASK_SIDE = 256  # target masks are held at most this many pixels on the longer side (routing needs no more)


class MaskFrames:
    """The target mask of each frame of one colorizer call, loaded once on first use and held small.

    `source`: one mask image (every frame), a mask video or image sequence (one mask per frame of the shot), or a
    uint8 / bool / float array [H, W] or [N, H, W]. `frames`: for each frame of the call, the index into the
    source's frames, or None for a frame outside the shot (an off-frame reference's lineart: all selected); default
    0..N-1. Items are uint8 [h, w] (255 = may take the reference's colours), at most `MASK_SIDE` on the longer side:
    callers resize to what they need.
    """

    def __init__(self, source, frames=None):
        self.source = source
        self.frames = None if frames is None else list(frames)
        self._masks: np.ndarray | None = None

    def _load(self) -> np.ndarray:
        if self._masks is None:
            src = self.source
            if isinstance(src, np.ndarray):
                rows = src[None] if src.ndim == 2 else src
                self._masks = np.stack([_small(_as_uint8(m)) for m in rows])
            elif mask_frame_count(str(src)) is None:
                self._masks = _small(read_mask(str(src)))[None]
            else:
                from .reader import open_reader

                with open_reader(str(src)) as reader:
                    self._masks = np.stack([_small(_as_uint8(np.asarray(f)[..., :3].max(axis=-1))) for f in reader])
        return self._masks

    @property
    def source_frames(self) -> int | None:
        """Masks in the source (None: one mask for every frame)."""
        n = len(self._load())
        return None if n == 1 else n

    def __len__(self) -> int:
        return len(self.frames) if self.frames is not None else len(self._load())

    def __getitem__(self, t: int) -> np.ndarray:
        masks = self._load()
        i = t if self.frames is None else self.frames[t]
        if i is None:
            return np.full(masks.shape[1:], 255, np.uint8)
        return masks[0] if len(masks) == 1 else masks[i]


def _as_uint8(m: np.ndarray) -> np.ndarray:
    if m.dtype == bool:
        return m.astype(np.uint8) * 255
    if np.issubdtype(m.dtype, np.floating):
        return np.clip(np.round(m * 255), 0, 255).astype(np.uint8)
    return m.astype(np.uint8)


def _small(m: np.ndarray) -> np.ndarray:
    """`m` area-reduced to at most MASK_SIDE on the longer side (soft edges kept as grey levels)."""
    h, w = m.shape
    s = MASK_SIDE / max(h, w)
    if s >= 1:
        return np.ascontiguousarray(m)
    import cv2

    return cv2.resize(m, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
