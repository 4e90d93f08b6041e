"""Helpers for the `lvcd.video` tests: every clip is generated inside the test (ffmpeg lavfi sources from the binary
that imageio-ffmpeg ships, or PyAV for exact per-frame timestamps), small enough to keep the suite fast."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

try:
    from lvcd.video._ffmpeg import ffmpeg_exe

    FFMPEG = ffmpeg_exe()
except (ImportError, FileNotFoundError):  # pragma: no cover - imageio-ffmpeg is a dependency
    FFMPEG = None

requires_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="no ffmpeg binary (pip install imageio-ffmpeg)")


def ffmpeg(*args: str) -> None:
    """Run the ffmpeg binary; fail the test with its stderr."""
    if FFMPEG is None:
        pytest.skip("no ffmpeg binary (pip install imageio-ffmpeg)")
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def make_clip(
    path: Path,
    frames: int,
    *,
    fps: str = "25",
    size: tuple[int, int] = (64, 48),
    audio: bool = False,
    source: str = "testsrc2",
    vcodec: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    acodec: tuple[str, ...] = ("-c:a", "aac"),
    extra: tuple[str, ...] = (),
) -> Path:
    """A `frames`-frame clip of a lavfi test pattern at `fps`, optionally with a 440 Hz sine track as long as it."""
    w, h = size
    args: list[str] = ["-f", "lavfi", "-i", f"{source}=size={w}x{h}:rate={fps}"]
    if audio:
        seconds = float(Fraction(frames) / Fraction(fps))
        args += ["-f", "lavfi", "-t", f"{seconds:.6f}", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-frames:v", str(frames), *vcodec]
    if audio:
        args += [*acodec]
    ffmpeg(*args, *extra, str(path))
    return path


def smooth_frames(n: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    """Smooth moving gradients with a per-frame brightness offset (frame order is visible in the mean)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        r = 128 + 80 * np.sin(2 * np.pi * (xx / w + i / 50))
        g = 128 + 80 * np.cos(2 * np.pi * (yy / h + i / 70))
        b = 40 + 2 * i % 160 + 0 * xx
        out.append(np.stack([r, g, b], -1).clip(0, 255).round().astype(np.uint8))
    return out


def level_frames(n: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    """Flat frames whose gray level encodes the index (16 + 4*i, so up to 59 frames stay distinct)."""
    assert n <= 59
    w, h = size
    return [np.full((h, w, 3), 16 + 4 * i, np.uint8) for i in range(n)]


def level_index(frame: np.ndarray) -> int:
    """Inverse of `level_frames` (robust to compression noise)."""
    return int(round((float(frame.mean()) - 16) / 4))


def encode_frames(path: Path, frames: list[np.ndarray], *args: str, fps: str = "25") -> Path:
    """Encode RGB frames with the ffmpeg CLI (rawvideo on stdin), `args` being the output options."""
    if FFMPEG is None:
        pytest.skip("no ffmpeg binary (pip install imageio-ffmpeg)")
    h, w = frames[0].shape[:2]
    cmd = [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{w}x{h}",
        "-framerate",
        fps,
        "-i",
        "-",
        *map(str, args),
        str(path),
    ]
    proc = subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return path


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def write_pyav(
    path: Path, frames: list[np.ndarray], pts: list[int], time_base: Fraction, codec: str = "libx264", rate: int = 24
) -> Path:
    """Encode frames with explicit timestamps (for variable-frame-rate inputs)."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.time_base = time_base
        s.codec_context.time_base = time_base
        if codec == "libx264":
            s.options = {"preset": "ultrafast", "bf": "0", "crf": "12"}
        for f, p in zip(frames, pts, strict=True):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = p, time_base
            for pkt in s.encode(vf):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)
    return path


def leftovers(folder: Path) -> list[str]:
    """Names of temporary files/folders our writer could have left in `folder` (recursively)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial-" in p.name or ".old-" in p.name)
