"""`lvcd.video.probe`: exact frame counts and rates in every container, rotation, audio, VFR, image sequences."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from video_clips import make_clip, requires_ffmpeg, write_pyav

from lvcd.video import DEFAULT_SEQUENCE_FPS, as_fps, probe

pytestmark = requires_ffmpeg


def test_importing_lvcd_video_does_not_import_torch():
    code = "import sys, lvcd.video; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("fps", ["24000/1001", "25"])
def test_mp4_count_rate_size_audio(tmp_path, fps):
    clip = make_clip(tmp_path / "a.mp4", 13, fps=fps, size=(64, 48), audio=True)
    info = probe(clip)
    assert info.kind == "video" and info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.frame_count == info.source_frame_count == 13
    assert info.fps == Fraction(fps) and isinstance(info.fps, Fraction)
    assert (info.width, info.height) == info.size == (64, 48)
    assert info.has_audio and info.audio_codec == "aac"
    assert not info.is_vfr and info.rotation == 0
    assert info.duration == pytest.approx(13 / float(Fraction(fps)))


@pytest.mark.parametrize(
    "ext, vcodec",
    [
        ("mkv", ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")),
        ("webm", ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p")),
        ("avi", ("-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p")),
        ("mov", ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")),
    ],
)
def test_other_containers_count_exactly(tmp_path, ext, vcodec):
    clip = make_clip(tmp_path / f"a.{ext}", 17, fps="24000/1001", vcodec=vcodec)
    info = probe(clip)
    assert info.frame_count == 17
    assert info.fps == Fraction(24000, 1001)
    assert info.size == (64, 48)
    assert not info.has_audio and not info.is_vfr


def test_gif_counts_frames(tmp_path):
    clip = make_clip(tmp_path / "a.gif", 7, fps="10", vcodec=())
    info = probe(clip)
    assert (info.frame_count, info.fps, info.size, info.codec) == (7, Fraction(10), (64, 48), "gif")


def test_rotation_swaps_display_size(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", 3, size=(64, 32))
    rotated = tmp_path / "r.mp4"
    from video_clips import ffmpeg

    ffmpeg("-display_rotation", "90", "-i", clip, "-c", "copy", rotated)
    info = probe(rotated)
    assert info.rotation == 90
    assert info.size == (32, 64)


def test_vfr_detected_and_counted_at_average_rate(tmp_path, caplog):
    # frames at 0, 3, 4, 7, 8, ... /24 s: durations alternate 3 and 1 ticks, average 2/24 s -> 12 fps
    n = 21
    frames = [np.full((48, 64, 3), 16 + 8 * i, np.uint8) for i in range(n)]
    clip = write_pyav(tmp_path / "vfr.mkv", frames, [2 * i + i % 2 for i in range(n)], Fraction(1, 24))
    with caplog.at_level("WARNING"):
        info = probe(clip)
    assert info.is_vfr and info.fps == 12
    assert info.source_frame_count == info.frame_count == n  # every frame kept (issue 10), with its time
    ms = [round(t * 1000) for t in info.timestamps[:4]]  # Matroska keeps milliseconds
    assert ms == [0, 125, 167, 292]
    assert "variable frame rate" in caplog.text and "kept with its own timestamp" in caplog.text
    info = probe(clip, fps=12)  # resampling only when asked
    assert info.timestamps is None and info.frame_count == 21  # slots 0..20 of the 12 fps grid over 40/24 s


def test_fps_override_resamples_a_video(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", 24, fps="24")
    assert probe(clip, fps=12).frame_count == 13  # 23/24 s at 12 fps: slots 0..12
    assert probe(clip, fps=24).frame_count == 24


def test_image_sequence_default_and_override_fps(tmp_path):
    import cv2

    for i in (1, 2, 3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.zeros((10, 12, 3), np.uint8))
    info = probe(tmp_path)
    assert (info.kind, info.frame_count, info.size, info.fps) == ("sequence", 3, (12, 10), DEFAULT_SEQUENCE_FPS)
    assert probe(tmp_path, fps="24000/1001").fps == Fraction(24000, 1001)
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(1, 5):
        cv2.imwrite(str(seq / f"frame_{i:04d}.png"), np.zeros((10, 12, 3), np.uint8))
    assert probe(seq / "frame_%04d.png").frame_count == 4
    assert probe(seq / "frame_0003.png").frame_count == 1  # a single image is a one-frame sequence


def test_as_fps_keeps_rates_exact():
    assert as_fps("24000/1001") == Fraction(24000, 1001)
    assert as_fps(23.976) == Fraction(24000, 1001)
    assert as_fps(29.97) == Fraction(30000, 1001)
    assert as_fps(25) == 25
    for bad in (0, -1, "fast", float("nan")):
        with pytest.raises(ValueError, match="fps"):
            as_fps(bad)
