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
