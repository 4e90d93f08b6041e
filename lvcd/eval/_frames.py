"""Frame conversion for the evaluation protocol of LVCD (Huang et al., 2024, §6.1): frames are resized to 256x256 and
compared as float values in [0, 1].

Inputs are HxWx3 RGB frames, either `uint8` (0..255) or floating point already in [0, 1]; HxW greyscale frames
(lineart) are accepted where noted. Nothing here knows torch. This module also holds the private frame-source helper
that the CLI uses until `lvcd.video.open_reader` exists (image folders in natural order, single images, and videos
through OpenCV).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

EVAL_SIZE = 256  # LVCD §6.1: "all frames are resized to 256x256" before computing the metrics
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def to_float01(frame: np.ndarray, *, name: str = "frame") -> np.ndarray:
    """Return `frame` as float64 in [0, 1]: uint8 is divided by 255; float input must already lie in [0, 1]."""
    frame = np.asarray(frame)
    if frame.dtype == np.uint8:
        return frame.astype(np.float64) / 255.0
    if np.issubdtype(frame.dtype, np.floating):
        if frame.size and (np.nanmin(frame) < -1e-6 or np.nanmax(frame) > 1 + 1e-6):
            raise ValueError(
                f"`{name}` is floating point with values in [{float(np.nanmin(frame)):.3g}, "
                f"{float(np.nanmax(frame)):.3g}]; float frames must be in [0, 1]. Pass uint8 frames (0..255) or "
                "divide by 255 first."
            )
        return frame.astype(np.float64)
    if frame.dtype == bool:
        return frame.astype(np.float64)
    raise ValueError(f"`{name}` has dtype {frame.dtype}; pass uint8 (0..255) or float in [0, 1] frames.")


def to_uint8(frame: np.ndarray, *, name: str = "frame") -> np.ndarray:
    """Return `frame` as uint8 (float [0, 1] input is scaled by 255 and rounded)."""
    frame = np.asarray(frame)
    if frame.dtype == np.uint8:
        return frame
    return np.clip(np.rint(to_float01(frame, name=name) * 255.0), 0, 255).astype(np.uint8)


def check_rgb(frame: np.ndarray, *, name: str = "frame") -> np.ndarray:
    """Require an HxWx3 frame (HxWx4 loses its alpha, HxW greyscale is repeated to 3 channels)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    elif frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    elif frame.ndim == 3 and frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"`{name}` must be an HxWx3 RGB frame; got shape {tuple(frame.shape)}.")
    return frame


def resize(frame: np.ndarray, size: int | tuple[int, int] = EVAL_SIZE, *, nearest: bool = False) -> np.ndarray:
    """Resize an HxW[xC] float frame to `size` (int for a square, or (height, width)).

    Area averaging when shrinking (no aliasing), bicubic when enlarging (clipped back to [0, 1]); `nearest=True` keeps
    label and colour values exact (segment metrics).
    """
    h, w = (size, size) if isinstance(size, int) else size
    if frame.shape[:2] == (h, w):
        return frame
    if nearest:
        interp = cv2.INTER_NEAREST
    elif h <= frame.shape[0] and w <= frame.shape[1]:
        interp = cv2.INTER_AREA
    else:
        interp = cv2.INTER_CUBIC
    src = frame.astype(np.float32) if frame.dtype == np.float64 else frame
    out = cv2.resize(src, (w, h), interpolation=interp)
    if frame.ndim == 3 and out.ndim == 2:  # cv2 drops a trailing singleton channel
        out = out[:, :, None]
    if np.issubdtype(out.dtype, np.floating):
        out = np.clip(out.astype(np.float64), 0.0, 1.0)
    return out


def protocol_frame(frame: np.ndarray, *, name: str = "frame", size: int = EVAL_SIZE) -> np.ndarray:
    """LVCD §6.1 protocol: RGB float64 in [0, 1] at `size` x `size`."""
    return resize(to_float01(check_rgb(frame, name=name), name=name), size)


def to_gray(frame: np.ndarray) -> np.ndarray:
    """HxWx3 (or HxW) float [0, 1] -> HxW luma (ITU-R BT.601 weights, as OpenCV's RGB2GRAY)."""
    if frame.ndim == 2:
        return frame
    return frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114


# ---------------------------------------------------------------------------------------------------------------------
# Frame sources for the CLI (private). Switches to `lvcd.video.open_reader` as soon as that module provides it.


def _natural_key(path: Path) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", path.name)]


def _image_folder(folder: Path) -> list[Path]:
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=_natural_key
    )
    if not files:
        raise FileNotFoundError(
            f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); pass a folder of frames or a video file."
        )
    return files


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _read_video_cv2(path: Path) -> Iterator[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(
            f"cannot open {path} as a video (OpenCV could not decode it); pass a folder of frames."
        )
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _video_open_reader():
    """`lvcd.video.open_reader` when the video module provides it, else None."""
    try:
        from lvcd import video
    except ImportError:  # pragma: no cover - the package always has lvcd.video
        return None
    return getattr(video, "open_reader", None)


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield uint8 HxWx3 RGB frames from a folder of images (natural order), one image, or a video file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass a video file or a folder of frames.")
    if path.is_dir():
        for file in _image_folder(path):
            yield _read_image(file)
        return
    if path.suffix.lower() in IMAGE_SUFFIXES:
        yield _read_image(path)
        return
    open_reader = _video_open_reader()
    if open_reader is not None:
        with open_reader(path) as reader:
            yield from reader
        return
    yield from _read_video_cv2(path)


LOSSLESS_CODECS = {
    "png",
    "apng",
    "ffv1",
    "rawvideo",
    "huffyuv",
    "ffvhuff",
    "utvideo",
    "qtrle",
    "bmp",
    "tiff",
    "gif",
    "r210",
    "v210",
    "zlib",
    "magicyuv",
}
LOSSY_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".webp")


def lossy_colours(path: str | Path) -> str | None:
    """Why the colours stored at `path` are not exact (a lossy codec, JPEG frames, or RGB converted to YUV), or None.

    Decided from the file names and, for videos, `lvcd.video.probe`'s codec and pixel format."""
    path = Path(path)
    if path.is_dir():
        files = [f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
        lossy = [f for f in files if f.suffix.lower() in LOSSY_IMAGE_SUFFIXES]
        return f"is a folder of lossy images ({lossy[0].suffix})" if lossy else None
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return f"is a lossy image ({path.suffix})" if path.suffix.lower() in LOSSY_IMAGE_SUFFIXES else None
    try:
        from lvcd.video import probe

        info = probe(path)
    except Exception:  # noqa: BLE001 - unprobeable: reading it will raise the real error
        return None
    codec, pix_fmt = (info.codec or "").lower(), (info.pix_fmt or "").lower()
    if codec not in LOSSLESS_CODECS:
        return f"is {codec or 'an unknown codec'} video ({path.suffix or path.name})"
    if pix_fmt.startswith(("yuv", "nv")):
        return f"is stored as {pix_fmt} (RGB converted to YUV)"
    return None
