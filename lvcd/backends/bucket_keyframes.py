"""The bucket backend's way into `BucketColorizer`: one coloured keyframe (the first frame's), or several used
together (`keyframes`: every frame matched against all of them, nearest in time first; see
`BucketColorizer.colorize_keyframes`), and the keyframe paint shares the confidence check compares with.

The confidence check's keyframe shares are taken from the keyframe's own pixels (`bucket_confidence.reference_shares`),
set before the first frame is coloured: the colorizer prepares its keyframes when the call is made, and its
frames are a generator, so nothing has been counted yet. No torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .bucket import BucketColorizer
from .bucket_confidence import reference_shares

__all__ = ["colorize_shot"]


def colorize_shot(colorizer: BucketColorizer, reference_rgb: np.ndarray, lineart_frames: Iterable[np.ndarray],
                  keyframes: Sequence[tuple] | None = None) -> Iterator[np.ndarray]:
    """Frames coloured from `reference_rgb` (it colours the first frame), or from `keyframes` = [(position in
    `lineart_frames`, reference RGB, its lineart or None = the frame at that position), ...] used together."""
    frames = iter(lineart_frames)
    if keyframes:
        keys = [(int(i), rgb, lineart) for i, rgb, lineart in keyframes]
        out = colorizer.colorize_keyframes(keys, frames)
    else:
        first = next(frames)

        def chain():
            yield first
            yield from frames

        out = colorizer.colorize(reference_rgb, first, chain())
        keys = [(-1, reference_rgb, None)]
    target = colorizer.__dict__.get("_inner") or colorizer  # a reduced working copy keeps its own statistics
    if getattr(target, "used_mode", None) == "flat":  # each frame is checked against its nearest keyframe
        shares = [(i, reference_shares(np.asarray(rgb), target.palette)) for i, rgb, _ in keys]
        target.key_paint_share = shares[0][1] if len(shares) == 1 else shares
    return out
