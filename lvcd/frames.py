"""Frames between the files and the models: the letterbox that fits a source frame into the model size and undoes it,
the reference keyframe read with errors that teach, the one-pass frame pairing that --keep-lines / --snap need, and
the per-frame finishing steps shared by every backend. numpy (+ OpenCV / PIL on first use); no torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LVCDError
from .options import RenderOptions, parse_colour

logger = logging.getLogger("lvcd")

__all__ = ["Letterbox", "load_reference", "parse_colour", "FramePairing", "finishing"]


@dataclass(frozen=True)
class Letterbox:
    """Fit a source frame into the model size keeping its aspect (pad the rest), and undo it exactly."""

    src: tuple[int, int]  # (W, H) of the source
    dst: tuple[int, int]  # (W, H) of the model

    @property
    def inner(self) -> tuple[int, int, int, int]:
        sw, sh = self.src
        dw, dh = self.dst
        scale = min(dw / sw, dh / sh)
        w, h = max(1, round(sw * scale)), max(1, round(sh * scale))
        x, y = (dw - w) // 2, (dh - h) // 2
        return x, y, w, h

    def fit(self, frame: np.ndarray, fill: int | tuple = 0) -> np.ndarray:
        import cv2

        x, y, w, h = self.inner
        interp = cv2.INTER_AREA if w < frame.shape[1] else cv2.INTER_CUBIC
        inner = cv2.resize(frame, (w, h), interpolation=interp) if (w, h) != frame.shape[1::-1] else frame
        out = np.empty((self.dst[1], self.dst[0], *frame.shape[2:]), dtype=frame.dtype)
        out[...] = fill
        out[y : y + h, x : x + w] = inner
        return out

    def unfit(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        x, y, w, h = self.inner
        crop = frame[y : y + h, x : x + w]
        if (w, h) == tuple(self.src):
            return np.ascontiguousarray(crop)
        return cv2.resize(crop, self.src, interpolation=cv2.INTER_CUBIC)


def load_reference(
    path: str | os.PathLike, size: tuple[int, int], fit: str = "error", background: str | None = None
) -> np.ndarray:
    """Read the coloured keyframe as uint8 RGB at `size` (W, H) of the lineart, with errors that teach. A reference
    with transparent pixels is refused unless `background` names a colour to flatten it onto."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"reference image {p} does not exist; pass the coloured version of the first frame.")
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError) as e:
        raise LVCDError(f"reference {p} is not a readable image ({e}); export it as PNG or JPEG.") from None
    if arr[..., 3].min() < 255:
        if background is None:
            raise LVCDError(
                f"reference {p} has transparent pixels; a colour keyframe must be opaque. Flatten it onto the"
                " background colour in your paint program (or export without alpha), or pass"
                " --reference-background white (or #rrggbb) to flatten it here."
            )
        alpha = arr[..., 3:].astype(np.float32) / 255.0
        bg = np.array(parse_colour(background), np.float32)
        arr = np.concatenate([(arr[..., :3] * alpha + bg * (1 - alpha)).round().astype(np.uint8), arr[..., 3:]], -1)
    rgb = np.ascontiguousarray(arr[..., :3])
    if mode in ("L", "LA", "1", "I", "I;16", "F") or (np.ptp(rgb.astype(np.int16), axis=-1).max() <= 2):
        ink_or_paper = ((rgb.min(-1) > 235) | (rgb.max(-1) < 20)).mean()
        if ink_or_paper > 0.9:  # black lines on white (or the reverse): the lineart, not a painted keyframe
            raise LVCDError(
                f"reference {p} is grayscale lineart; it must be the *coloured* version of the first lineart frame"
                " (did you pass the lineart itself?)."
            )
        logger.warning("reference %s has no colour (grey paints only); the output will be grey too", p)
    w, h = size
    rh, rw = rgb.shape[:2]
    if (rw, rh) != (w, h):
        if abs(rw / rh - w / h) > 0.01 * (w / h) and fit == "error":
            raise LVCDError(
                f"reference {p} is {rw}x{rh} but the lineart is {w}x{h} (another aspect ratio). Crop it to the frame,"
                " or choose how to fit it with --reference-fit stretch|crop|pad."
            )
        rgb = _fit_image(rgb, (w, h), "stretch" if fit == "error" else fit)
    return rgb


def _fit_image(img: np.ndarray, size: tuple[int, int], how: str) -> np.ndarray:
    import cv2

    w, h = size
    if how == "stretch":
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    ih, iw = img.shape[:2]
    scale = max(w / iw, h / ih) if how == "crop" else min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    r = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    if how == "crop":
        x, y = (nw - w) // 2, (nh - h) // 2
        return np.ascontiguousarray(r[y : y + h, x : x + w])
    out = np.full((h, w, 3), 255, np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    out[y : y + nh, x : x + nw] = r
    return out


class FramePairing:
    """One pass over the lineart frames shared by two readers: the backend (iterating) and the output pairing
    (`next_line()`, for --keep-lines / --snap). Whichever is ahead reads from the source; a frame is dropped once both
    have passed it, so at most the backend's look-ahead (one window + one decode chunk) is held. A resumed diffusion
    render emits its checkpointed frames before the backend reads any input: pairing then reads ahead for it."""

    def __init__(self, frames: Iterable[np.ndarray]):
        import threading
        from collections import deque

        self._lock = threading.Lock()  # the backend may read from its prefetch thread while the caller pairs
        self._it = iter(frames)
        self._buf = deque()
        self._base = 0  # source index of self._buf[0]
        self._backend = 0  # next index the backend will read
        self._pair = 0  # next index the pairing will read

    def _get(self, index: int) -> np.ndarray | None:
        while self._base + len(self._buf) <= index:
            frame = next(self._it, None)
            if frame is None:
                return None
            self._buf.append(frame)
        return self._buf[index - self._base]

    def _trim(self) -> None:
        while self._buf and self._base < min(self._backend, self._pair):
            self._buf.popleft()
            self._base += 1

    def __iter__(self):
        while True:
            with self._lock:
                frame = self._get(self._backend)
                if frame is None:
                    return
                self._backend += 1
                self._trim()
            yield frame

    def next_line(self) -> np.ndarray:
        with self._lock:
            frame = self._get(self._pair)
            if frame is None:
                raise LVCDError(f"the backend produced more frames than the {self._pair} lineart frames given.")
            self._pair += 1
            self._trim()
        return frame


def finishing(opts: RenderOptions, reference_rgb: np.ndarray, polarity: str, keep_lines: bool | None = None):
    """Per-frame finishing steps (palette snap, original lines on top) shared by every backend. `keep_lines`: the
    resolved switch (`lvcd.options.keeps_lines`); None = `opts.keep_lines`."""
    steps = []
    if opts.snap:
        from .lineart.palette import PaletteSnapper

        snapper = PaletteSnapper.from_reference(reference_rgb)
        steps.append(lambda out, line: snapper.snap(out, line))
    if opts.keep_lines if keep_lines is None else keep_lines:
        from .lineart import composite_lines

        steps.append(lambda out, line: composite_lines(out, line, polarity=polarity))

    def run(out: np.ndarray, line: np.ndarray) -> np.ndarray:
        for step in steps:
            out = step(out, line)
        return out

    return run
