"""Generated data for the data-safety tests (issue 10): small lineart clips (black outlines on white paper), a
colour clip, with or without sound."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "video"))
from video_clips import encode_frames, ffmpeg, make_clip  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def lineart_frames(n: int, size=(64, 48)) -> list[np.ndarray]:
    """Black rectangle and circle outlines on white, moving a pixel a frame."""
    w, h = size
    out = []
    for i in range(n):
        img = np.full((h, w, 3), 255, np.uint8)
        cv2.rectangle(img, (4 + i % 20, 6), (24 + i % 20, 30), (0, 0, 0), 1)
        cv2.circle(img, (w - 16, h // 2 + (i % 8) - 4), 9, (0, 0, 0), 1)
        out.append(img)
    return out


BACKGROUND, INSIDE = (250, 220, 200), (200, 40, 40)


def colour_reference(frame: np.ndarray) -> np.ndarray:
    """A coloured version of a lineart frame: the paper outside the shapes one flat colour, their insides another,
    lines kept."""
    ref = frame.copy()
    cv2.floodFill(ref, None, (0, 0), BACKGROUND)
    ref[(ref == 255).all(axis=2)] = INSIDE
    return ref


def lineart_video(path: Path, n: int = 12, *, audio: bool = False, fps: str = "24") -> Path:
    frames = lineart_frames(n)
    if not audio:
        return encode_frames(
            path, frames, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-crf", "10", fps=fps
        )
    silent = encode_frames(
        path.with_name("_silent_" + path.name),
        frames,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-crf",
        "10",
        fps=fps,
    )
    seconds = n / float(fps)
    ffmpeg(
        "-i",
        silent,
        "-f",
        "lavfi",
        "-t",
        f"{seconds:.4f}",
        "-i",
        "sine=frequency=330:sample_rate=48000",
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-shortest",
        path,
    )
    silent.unlink()
    return path


def colour_video(path: Path, n: int = 12, *, audio: bool = False) -> Path:
    return make_clip(path, n, fps="24", audio=audio)


def write_png(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def has_audio(path: Path) -> bool:
    from lvcd.video.audio import audio_stream_info

    return audio_stream_info(path) is not None
