"""`lvcd.video.open_reader` / `read_frames`: exact counts, order, ranges, formats, rotation, VFR, image sequences."""

from __future__ import annotations

import subprocess
import warnings
from fractions import Fraction

import cv2
import numpy as np
import pytest
from video_clips import (
    FFMPEG,
    encode_frames,
    ffmpeg,
    level_frames,
    level_index,
    make_clip,
    requires_ffmpeg,
    smooth_frames,
    write_pyav,
)

from lvcd.video import allow_gaps, open_reader, probe, read_frames, read_image

pytestmark = requires_ffmpeg


def _ffmpeg_rgb(path, w, h) -> np.ndarray:
    """Reference decode by the ffmpeg CLI (autorotate, swscale honouring the colour tags)."""
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-nostdin", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)


@pytest.mark.parametrize("n", [1, 2, 13, 25, 100])
def test_counts_are_exact(tmp_path, n):
    clip = make_clip(tmp_path / "a.mp4", n, size=(32, 24))
    with open_reader(clip) as reader:
        assert len(reader) == n
        frames = list(reader)
    assert len(frames) == n == probe(clip).frame_count
    assert all(f.shape == (24, 32, 3) and f.dtype == np.uint8 and f.flags.c_contiguous for f in frames)


def test_frames_are_fresh_arrays_in_order(tmp_path):
    clip = write_pyav(tmp_path / "lv.mp4", level_frames(30), list(range(30)), Fraction(1, 24))
    frames = list(open_reader(clip))
    assert [level_index(f) for f in frames] == list(range(30))
    assert len({id(f) for f in frames}) == 30 and not np.shares_memory(frames[0], frames[1])


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_read_frames_ranges_are_frame_exact(tmp_path, ext):
    # keyframe every 10 frames with B-frames: seeking must land on the right frame, not the keyframe
    clip = make_clip(
        tmp_path / f"a.{ext}",
        60,
        size=(32, 24),
        vcodec=("-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "10", "-pix_fmt", "yuv420p"),
    )
    full = list(open_reader(clip))
    for start, stop in [(0, 60), (0, 1), (17, 23), (20, 21), (59, 60), (33, 60), (5, 5)]:
        got = list(read_frames(clip, start, stop))
        assert len(got) == stop - start, (start, stop)
        assert all(np.array_equal(a, b) for a, b in zip(got, full[start:stop], strict=True)), (start, stop)


def test_read_frames_rejects_out_of_range(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", 5)
    with pytest.raises(ValueError, match=r"outside .*a\.mp4.*0 <= start <= stop <= 5"):
        list(read_frames(clip, 3, 9))


def test_fast_yuv_path_matches_ffmpeg(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", 3, size=(64, 48))
    ours = np.stack(list(open_reader(clip))).astype(int)
    ref = _ffmpeg_rgb(clip, 64, 48).astype(int)
    assert np.abs(ours - ref).mean() < 1.0 and np.abs(ours - ref).max() <= 8


@pytest.mark.parametrize(
    "opts",
    [
        ("-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", "-colorspace", "bt709"),  # HD matrix
        ("-vf", "scale=out_range=pc,format=yuvj420p", "-color_range", "pc"),  # full range
        ("-pix_fmt", "yuv444p"),  # 4:4:4
        ("-pix_fmt", "yuv422p"),  # 4:2:2
        ("-pix_fmt", "yuv420p10le"),  # 10-bit
        ("-pix_fmt", "rgb24", "-c:v", "libx264rgb"),  # RGB
    ],
)
def test_tagged_and_other_pixel_formats_are_converted_right(tmp_path, opts):
    src = smooth_frames(2, (64, 48))
    codec = () if "-c:v" in opts else ("-c:v", "libx264")
    clip = encode_frames(tmp_path / "a.mkv", src, *codec, "-qp", "0", *opts)
    ours = np.stack(list(open_reader(clip))).astype(int)
    assert np.abs(ours - np.stack(src)).mean() < 3.0  # (4:2:0 chroma of a steep gradient costs ~2 levels)
    if "yuv420p10le" not in opts:  # (the ffmpeg CLI decodes >8-bit to rgb24 up to 2 levels dark: no oracle there)
        assert np.abs(ours - _ffmpeg_rgb(clip, 64, 48)).mean() < 1.5


def test_high_bit_depth_flat_levels_are_exact(tmp_path):
    frames = level_frames(6, (32, 24))
    for opts in (
        ("-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p10le"),
        ("-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le"),
    ):
        clip = encode_frames(tmp_path / "a.mov", frames, *opts)
        assert [level_index(f) for f in open_reader(clip)] == list(range(6))
        pairs = zip(open_reader(clip), frames, strict=True)
        assert max(abs(float(a.mean()) - float(b.mean())) for a, b in pairs) < 0.6


def test_rotation_is_applied(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", 2, size=(64, 32))
    upright = list(open_reader(clip))
    for deg in (90, -90, 180):
        rotated = tmp_path / f"r{deg}.mp4"
        ffmpeg("-display_rotation", str(deg), "-i", clip, "-c", "copy", rotated)
        frames = list(open_reader(rotated))
        info = probe(rotated)
        assert frames[0].shape == (info.height, info.width, 3)
        assert np.array_equal(frames[0], np.rot90(upright[0], (deg // 90) % 4))
        w, h = info.size
        assert np.abs(_ffmpeg_rgb(rotated, w, h)[0].astype(int) - frames[0]).mean() < 1.0  # as players show it


def test_odd_size_video(tmp_path):
    clip = make_clip(
        tmp_path / "odd.mp4",
        3,
        size=(41, 23),
        source="testsrc",
        vcodec=("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"),
    )
    frames = list(open_reader(clip))
    assert len(frames) == 3 and frames[0].shape == (23, 41, 3)


def test_gif_input(tmp_path):
    clip = make_clip(tmp_path / "a.gif", 7, fps="10", vcodec=())
    frames = list(open_reader(clip))
    assert len(frames) == 7 and frames[0].shape == (48, 64, 3)
    assert np.abs(frames[3].astype(int) - _ffmpeg_rgb(clip, 64, 48)[3]).mean() < 2.0
    assert [len(list(read_frames(clip, 2, 5)))] == [3]


def test_vfr_input_resampled_to_constant_rate_when_asked(tmp_path, caplog):
    n = 21  # timestamps 0, 3, 4, 7, 8, ... /24 s (durations 3, 1, 3, 1, ...): 12 fps on average
    clip = write_pyav(tmp_path / "vfr.mp4", level_frames(n), [2 * i + i % 2 for i in range(n)], Fraction(1, 24))
    assert [level_index(f) for f in open_reader(clip)] == list(range(n))  # default: every frame once
    with caplog.at_level("WARNING"):
        reader = open_reader(clip, fps=12)
    assert "variable frame rate" in caplog.text and "12" in caplog.text
    assert reader.info.is_vfr and reader.info.fps == 12
    frames = list(reader)
    assert len(frames) == reader.info.frame_count == 21
    idx = [level_index(f) for f in frames]
    # output j shows the latest frame whose timestamp rounds to slot <= j (slot = round(pts / 2))
    expected = [max(i for i in range(n) if (2 * i + i % 2 + 1) // 2 <= j) for j in range(21)]
    assert idx == expected
    assert idx == sorted(idx) and idx[0] == 0 and idx[-1] == n - 1
    sub = list(read_frames(clip, 5, 9, fps=12))
    assert [level_index(f) for f in sub] == expected[5:9]
    assert [level_index(f) for f in read_frames(clip, 5, 9)] == [5, 6, 7, 8]


def test_fps_override_resamples(tmp_path):
    clip = write_pyav(tmp_path / "a.mp4", level_frames(24), list(range(24)), Fraction(1, 24))
    frames = list(open_reader(clip, fps=12))
    assert [level_index(f) for f in frames] == [0] + [min(2 * j, 23) for j in range(1, 13)]


def test_image_folder_natural_order_and_conversions(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[..., 0] = 200
    cv2.imwrite(str(folder / "f1.png"), rgb[..., ::-1])  # 8-bit RGB
    gray16 = np.full((10, 12), 65535 // 3, np.uint16)
    cv2.imwrite(str(folder / "f2.png"), gray16)  # 16-bit grayscale
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[:, :6, 3] = 255  # left half opaque black, right half transparent
    cv2.imwrite(str(folder / "f10.png"), rgba)
    (folder / "notes.txt").write_text("not a frame")
    (folder / ".hidden.png").write_bytes(b"")
    with allow_gaps():  # 1, 2, 10: numbers 3-9 are missing, refused without it (tests/video/test_gaps.py)
        frames = list(open_reader(folder))
    assert len(frames) == 3
    assert frames[0][0, 0].tolist() == [200, 0, 0]
    assert frames[1][0, 0].tolist() == [85, 85, 85]
    assert frames[2][0, 0].tolist() == [0, 0, 0] and frames[2][0, -1].tolist() == [255, 255, 255]
    assert read_image(folder / "f10.png", mode="RGBA")[0, -1].tolist() == [0, 0, 0, 0]
    assert read_image(folder / "f2.png", mode="RGBA")[0, 0].tolist() == [85, 85, 85, 255]


def test_image_pattern_and_formats(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (16, 20, 3), np.uint8)
    names = []
    for i, ext in enumerate(["png", "png", "png"]):
        names.append(tmp_path / f"shot_{i:03d}.{ext}")
        cv2.imwrite(str(names[-1]), np.ascontiguousarray((img + i)[..., ::-1]))
    frames = list(open_reader(tmp_path / "shot_%03d.png", fps=12))
    assert [np.array_equal(f, img + i) for i, f in enumerate(frames)] == [True] * 3
    assert [len(list(read_frames(tmp_path / "shot_%03d.png", 1, 3)))] == [2]
    for ext in ("jpg", "tif", "webp"):
        p = tmp_path / f"one.{ext}"
        cv2.imwrite(str(p), img[..., ::-1])
        assert read_image(p).shape == (16, 20, 3)


def test_reader_closes_and_cannot_iterate_twice(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", 5)
    with open_reader(clip) as reader:
        it = iter(reader)
        next(it)
    assert reader._container is None
    with pytest.raises(RuntimeError, match="already iterated"):
        iter(reader)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gen = read_frames(clip, 0, 5)
        next(gen)
        gen.close()  # an abandoned range read releases its decoder
