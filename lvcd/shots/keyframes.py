"""`lvcd shots ... --export-keyframes DIR [--colour-from VIDEO]`: the frames a painter needs, one per shot.

For every shot of a fresh manifest, the lineart of its first frame is written to `DIR/<shot>.png` (to paint the
coloured keyframe on). Given the colour clip the lineart was made from (`--colour-from`, same frame count), the
colour frame at each shot start is written to `DIR/<shot>_colour.png` and becomes that shot's `reference:`, so
colour -> lineart -> shots -> batch needs no hand work. PNGs are written atomically; an existing file is replaced
only with `overwrite`.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["export_keyframes"]


def _png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def _frame(sources: Sequence[tuple[str, int]], k: int) -> np.ndarray:
    """Global frame `k` of inputs given as (path, frame_count) in order."""
    from ..video import read_frames

    for path, n in sources:
        if k < n:
            return next(read_frames(path, k, k + 1))
        k -= n
    raise ValueError(f"frame {k} is past the end of the inputs")


def export_keyframes(inputs: Sequence[str | os.PathLike], shots: Sequence[tuple[str, int]], folder,
                     *, colour_from: str | os.PathLike | None = None, overwrite: bool = False) -> dict[str, Path]:
    """Write each shot's first lineart frame (and colour frame) into `folder`. `shots`: (name, start frame).
    Returns {shot name: colour keyframe path} when `colour_from` is given, else {}."""
    from ..outputs import atomic_write_bytes
    from ..video import probe

    folder = Path(folder)
    sources = [(os.fspath(p), probe(p).frame_count) for p in inputs]
    total = sum(n for _, n in sources)
    if colour_from is not None:
        info = probe(colour_from)
        if info.frame_count != total:
            raise ValueError(f"--colour-from {colour_from} has {info.frame_count} frames but the lineart has {total}; "
                             "give the colour clip the lineart was made from (same frames).")
    names = [f"{name}.png" for name, _ in shots] + ([f"{name}_colour.png" for name, _ in shots] if colour_from else [])
    clash = [n for n in names if (folder / n).exists()]
    if clash and not overwrite:
        raise FileExistsError(f"--export-keyframes {folder} already holds {', '.join(clash[:5])}"
                              f"{' ...' if len(clash) > 5 else ''}; pass --overwrite to replace them, or choose "
                              "another folder.")
    folder.mkdir(parents=True, exist_ok=True)
    refs: dict[str, Path] = {}
    for name, start in shots:
        atomic_write_bytes(folder / f"{name}.png", _png(_frame(sources, start)))
        if colour_from is not None:
            path = folder / f"{name}_colour.png"
            atomic_write_bytes(path, _png(_frame([(os.fspath(colour_from), total)], start)))
            refs[name] = path
    return refs
