"""`colorize_frames(..., keyframes=[(frame_index, image), ...])`: several coloured keyframes of one shot used
together (the paint-bucket backend matches every frame against all of them, nearest in time first).

`prepare_keyframes` checks the list (indices are positions in the lineart stream, distinct, inside it when its length
is known), loads every image at the frames' size (paths as `lvcd.frames.load_reference` reads them, arrays as given)
and finds each keyframe's lineart: an entry may give it as a third item; otherwise it is the stream's own frame at
that index, read ahead (frames up to the last keyframe are held, then replayed: memory grows with the last keyframe's
index, not the shot's length). `reference`, when given, is one more keyframe: the one of frame 0. Diffusion takes one
reference per run: `colorize_frames` refuses several keyframes for it (a manifest's `references:` gives it sub-shots).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from .errors import LVCDError
from .frames import load_reference

__all__ = ["prepare_keyframes"]

ONE_REFERENCE = (
    "several keyframes used together need the bucket backend (--backend bucket); the {name} backend "
    "takes one reference per run: use a shot manifest with `references:`, which colours one sub-shot "
    "from each keyframe"
)


def prepare_keyframes(
    keyframes: Sequence, reference, first: np.ndarray, rest: Iterator[np.ndarray], opts, num_frames: int | None = None
) -> tuple[list[tuple[int, np.ndarray, np.ndarray]], Iterator]:
    """-> ([(index, RGB at the frames' size, lineart frame), ...] sorted by index, the whole frame stream again)."""
    h, w = first.shape[:2]
    items = list(keyframes)
    if reference is not None and not any(_index(k, i) == 0 for i, k in enumerate(items)):
        items.insert(0, (0, reference))
    keys, seen = [], {}
    for i, item in enumerate(items):
        index = _index(item, i)
        if num_frames is not None and num_frames >= 0 and index >= num_frames:
            raise LVCDError(
                f"keyframes[{i}]: frame {index} is past the end of the shot ({num_frames} frames: 0-{num_frames - 1})."
            )
        if index in seen:
            raise LVCDError(
                f"keyframes[{i}]: frame {index} already has a keyframe (keyframes[{seen[index]}]); keep one of them."
            )
        seen[index] = i
        image = item[1]
        rgb = (
            image
            if isinstance(image, np.ndarray)
            else load_reference(image, (w, h), opts.reference_fit, opts.reference_background)
        )
        if rgb.shape[:2] != (h, w):
            raise LVCDError(f"keyframes[{i}]: the image is {rgb.shape[1]}x{rgb.shape[0]} but the frames are {w}x{h}.")
        keys.append((index, rgb, item[2] if len(item) > 2 else None))
    keys.sort(key=lambda k: k[0])
    need = max((k[0] for k in keys if k[2] is None), default=-1)
    held = [first]
    while len(held) <= need:  # read ahead to the last keyframe whose lineart is the stream's own frame
        nxt = next(rest, None)
        if nxt is None:
            raise LVCDError(f"a keyframe is given for frame {need} but the lineart stream has {len(held)} frames.")
        held.append(nxt)
    keys = [(i, rgb, held[i] if la is None else la) for i, rgb, la in keys]

    def replay():
        yield from held
        yield from rest

    return keys, replay()


def _index(item, i: int) -> int:
    if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
        raise LVCDError(
            f"keyframes[{i}] must be (frame_index, image) or (frame_index, image, lineart) "
            f"(got {type(item).__name__})."
        )
    index = item[0]
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise LVCDError(f"keyframes[{i}]: the frame index must be an int >= 0 (got {index!r}).")
    return int(index)
