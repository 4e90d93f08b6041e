"""The bucket backend's way into `BucketColorizer`: one coloured keyframe (the first frame's), or several used
together (`keyframes`: every frame matched against all of them, nearest in time first; see
`BucketColorizer.colorize_keyframes`), and the keyframe paint shares the confidence check compares with.

Lineart that is not cel lineart (the colorizer's warp mode) with several keyframes: each keyframe's colours are
carried along dense flow over its own stretch of the shot (`warp_together`).

The confidence check's keyframe shares are taken from the keyframe's own pixels (`bucket_confidence.reference_shares`),
set before the first frame is coloured: the colorizer prepares its keyframes when the call is made, and its
frames are a generator, so nothing has been counted yet. No torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .bucket import BucketColorizer, BucketConfig
from .bucket_confidence import reference_shares
from .bucket_warp import WarpColorizer

__all__ = ["colorize_shot", "warp_together"]


def colorize_shot(
    colorizer: BucketColorizer,
    reference_rgb: np.ndarray,
    lineart_frames: Iterable[np.ndarray],
    keyframes: Sequence[tuple] | None = None,
) -> Iterator[np.ndarray]:
    """Frames coloured from `reference_rgb` (it colours the first frame), or from `keyframes` = [(position in
    `lineart_frames`, reference RGB, its lineart or None = the frame at that position), ...] used together."""
    frames = iter(lineart_frames)
    if keyframes:
        keys = sorted(((int(i), rgb, lineart) for i, rgb, lineart in keyframes), key=lambda k: k[0])
        out = colorizer.colorize_keyframes(keys, frames)
    else:
        first = next(frames)

        def chain():
            yield first
            yield from frames

        out = colorizer.colorize(reference_rgb, first, chain())
        keys = [(-1, reference_rgb, None)]
    target = colorizer.__dict__.get("_inner") or colorizer  # a reduced working copy keeps its own mode and statistics
    if len(keys) > 1 and getattr(target, "used_mode", None) == "warp":
        out = warp_together(colorizer.config, keys, frames)  # the colorizer's own warp takes one keyframe
    if getattr(target, "used_mode", None) == "flat":  # a frame fails only when far from every keyframe
        shares = [(i, reference_shares(np.asarray(rgb), target.palette)) for i, rgb, _ in keys]
        target.key_paint_share = shares[0][1] if len(shares) == 1 else shares
    return out


def warp_together(config: BucketConfig, keys: list, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Lineart that is not cel lineart, several keyframes: each keyframe's colours are warped along dense flow over
    the frames from it up to the next keyframe (the first one also over the frames before it, by direct flow), so
    every keyframe colours its own stretch exactly instead of only the first keyframe being used. `keys` sorted,
    with their lineart."""
    it = enumerate(frames)
    stops = [k[0] for k in keys[1:]] + [None]
    for (_, rgb, lineart), stop in zip(keys, stops):

        def stretch(stop=stop):
            for i, frame in it:
                yield frame
                if stop is not None and i + 1 >= stop:
                    return

        warp = WarpColorizer(config.flow_side, config.lineart, config.keep_lines)
        yield from warp.colorize(np.asarray(rgb)[..., :3], lineart, stretch())
