"""The episode as one frame axis: the manifest's inputs read lazily by global frame number (forwards, or backwards
in bounded chunks), the lossless PNG frames a shot is rendered into, and a shot's reference frames (the keyframe at
the model input size, the lineart standing for an external reference, the shot's polarity)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..frames import load_reference
from ..resume import atomic_write_bytes
from .plan import Pass, ShotPlan
from .shot import Manifest

REVERSE_CHUNK_BYTES = 256 << 20  # frames held at once while reading a backward pass from the end (~40 1080p frames)


class EpisodeSource:
    """The manifest's inputs as one frame axis: read any [start, stop) range lazily, or backwards in chunks."""

    def __init__(self, manifest: Manifest):
        self.inputs = manifest.inputs
        self.frame_count = manifest.frame_count

    def read(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames start..stop-1 in order, streamed (one decoder open per input touched)."""
        from ..video import read_frames

        if not 0 <= start <= stop <= self.frame_count:
            raise ValueError(f"frames {start}-{stop} are outside the input (0-{self.frame_count})")
        for inp in self.inputs:
            a, b = max(start, inp.offset), min(stop, inp.offset + inp.frame_count)
            if a >= b:
                continue
            n = 0
            for frame in read_frames(inp.path, a - inp.offset, b - inp.offset):
                yield frame
                n += 1
            if n != b - a:
                raise ValueError(
                    f"{inp.path}: expected frames {a - inp.offset}-{b - inp.offset - 1} but read {n};"
                    " the input is shorter than probed (damaged file?)"
                )

    def read_reversed(self, start: int, stop: int, chunk: int | None = None) -> Iterator[np.ndarray]:
        """Frames stop-1 down to start: chunks read forwards from the end and reversed (at most `chunk` held)."""
        hi = stop
        while hi > start:
            if chunk is None:
                first = next(self.read(hi - 1, hi))
                chunk = max(1, REVERSE_CHUNK_BYTES // max(first.nbytes, 1))
            lo = max(start, hi - chunk)
            buf = list(self.read(lo, hi))
            while buf:
                yield buf.pop()
            hi = lo

    def frames(self, p: Pass) -> Iterator[np.ndarray]:
        if p.step == 1:
            return self.read(p.start, p.stop)
        return self.read_reversed(p.stop + 1, p.start + 1)

    def frame(self, i: int) -> np.ndarray:
        return next(self.read(i, i + 1))


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Lossless, deterministic PNG of a uint8 RGB frame, written atomically."""
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path.name} as PNG")
    atomic_write_bytes(path, buf.tobytes())


def read_png(path: Path) -> np.ndarray:
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(
            f"shot frame {path} is missing or unreadable; delete its shot's .json to re-render it."
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------------------------------------------- references
def reference_rgb(plan: ShotPlan, size: tuple[int, int]) -> np.ndarray:
    return load_reference(plan.shot.reference, size, plan.options.reference_fit, plan.options.reference_background)


def shot_polarity(plan: ShotPlan, source: EpisodeSource) -> str:
    pol = plan.options.polarity
    if pol != "auto":
        return pol
    from ..lineart.normalize import detect_polarity

    return detect_polarity(source.frame(plan.shot.start))


def reference_lineart_frame(plan: ShotPlan, ref_rgb: np.ndarray, source: EpisodeSource, polarity: str) -> np.ndarray:
    """The lineart frame that stands for an external reference: the given frame of the input, the given lineart
    image, or XDoG lines of the reference, as a uint8 RGB frame in the shot's polarity and size."""
    import cv2

    from ..lineart.normalize import normalize_lineart

    h, w = ref_rgb.shape[:2]
    rl = plan.shot.reference_lineart
    if isinstance(rl, int):
        return source.frame(rl)
    if rl is not None:
        from ..video import read_image

        arr = read_image(rl, "RGB")  # transparent areas composited over white paper
        if arr.shape[:2] != (h, w):
            arr = cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA)
        strength = normalize_lineart(arr).strength
    else:
        from ..lineart.xdog import extract_lineart

        strength = extract_lineart(ref_rgb).strength
    ink = strength if polarity == "white-on-black" else 1.0 - strength
    g = np.clip(np.round(ink * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)
