"""Bad inputs: each error names the input and the fix, and is a type the CLI prints without a traceback."""

from __future__ import annotations

import dataclasses
import os

import cv2
import numpy as np
import pytest
from video_clips import make_clip, requires_ffmpeg

from lvcd.video import (
    VideoReadError,
    VideoTruncatedError,
    allow_gaps,
    open_reader,
    open_writer,
    probe,
    read_frames,
    read_image,
)

pytestmark = requires_ffmpeg


def test_missing_file(tmp_path):
    for source in (tmp_path / "nope.mp4", tmp_path / "nope", tmp_path / "missing" / "f_%04d.png"):
        with pytest.raises(FileNotFoundError, match=r"does not exist.*(pass a video file|check the)"):
            probe(source)
        with pytest.raises(FileNotFoundError):
            open_reader(source)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_not_a_video(tmp_path):
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is a text file, not a video\n" * 20)
    with pytest.raises(VideoReadError, match=r"notes\.mp4 is not a readable video.*re-export"):
        open_reader(fake)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoReadError, match="empty.mp4"):
        probe(empty)
    bad_png = tmp_path / "frames" / "f1.png"
    bad_png.parent.mkdir()
    bad_png.write_bytes(b"\x89PNG garbage")
    with pytest.raises(VideoReadError, match=r"f1\.png is not a readable image.*re-export"):
        probe(bad_png.parent)


def test_audio_only_file_has_no_video_stream(tmp_path):
    from video_clips import ffmpeg

    wav = tmp_path / "a.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.2", "-c:a", "aac", wav)
    with pytest.raises(VideoReadError, match=r"a\.m4a has no video stream \(it holds 1 audio\)"):
        probe(wav)


def test_zero_frames(tmp_path):
    import av

    # a Matroska file with a declared video track and no frames (an export that failed before the first frame)
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as out:
        v = out.add_stream("mjpeg", rate=24)
        v.width, v.height, v.pix_fmt = 64, 48, "yuvj420p"
        a = out.add_stream("pcm_s16le", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        for p in a.encode(frame):
            out.mux(p)
    with pytest.raises(VideoReadError, match=r"empty\.mkv has a video stream but zero frames.*re-export"):
        probe(empty)
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "readme.txt").write_text("no frames here")
    with pytest.raises(VideoReadError, match="holds no images.*zero frames"):
        open_reader(tmp_path / "nothing")
    with pytest.raises(VideoReadError, match=r"no file matches the frame pattern .*f_%04d\.png"):
        open_reader(tmp_path / "nothing" / "f_%04d.png")


@pytest.mark.parametrize("ext", ["mp4", "mkv"])
def test_truncated_file(tmp_path, ext):
    extra = ("-movflags", "+faststart") if ext == "mp4" else ()
    clip = make_clip(
        tmp_path / f"full.{ext}",
        50,
        size=(64, 48),
        extra=extra,
        vcodec=("-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p"),
    )
    cut = tmp_path / f"cut.{ext}"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])  # an interrupted copy
    with pytest.raises(
        VideoTruncatedError,
        match=rf"cut\.{ext} is truncated: it declares 50 frames but its data ends "
        r"at frame \d+.*Re-export",
    ) as e:
        with open_reader(cut) as reader:  # detected by probe, before any frame is handed out...
            for _ in reader:
                pass
    assert 0 < e.value.frames_read < 50 and e.value.frames_expected == 50
    assert isinstance(e.value, ValueError)


def test_truncation_found_while_decoding_raises_after_the_good_frames(tmp_path, monkeypatch):
    # ... and if only the decoder finds out (a container that declares nothing), the reader still refuses to
    # pretend: it yields what is there and raises instead of ending quietly
    clip = make_clip(tmp_path / "a.mp4", 10, size=(32, 24))
    reader = open_reader(clip)
    reader.info = dataclasses.replace(reader.info, frame_count=12)  # as if the container had declared 12
    reader.stop = 12
    got = []
    with pytest.raises(VideoTruncatedError, match="ends at frame 10"):
        for f in reader:
            got.append(f)
    assert len(got) == 10


def test_sequence_problems(tmp_path):
    img = np.zeros((10, 12, 3), np.uint8)
    gap = tmp_path / "gap"
    gap.mkdir()
    for i in (1, 2, 4):
        cv2.imwrite(str(gap / f"f_{i:03d}.png"), img)
    with pytest.raises(VideoReadError, match=r"1 of 4 frames are missing \(003\).*--allow-gaps"):
        probe(gap / "f_%03d.png")
    with pytest.raises(VideoReadError, match=r"frame folder .* 1 of 4 frames are missing \(003\)"):
        probe(gap)  # a numbered folder too (issue 10: frames were lost silently)
    with allow_gaps():
        assert probe(gap).frame_count == 3
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    cv2.imwrite(str(mixed / "a.png"), img)
    cv2.imwrite(str(mixed / "b.png"), img)
    cv2.imwrite(str(mixed / "thumb.jpg"), img)
    with pytest.raises(VideoReadError, match=r"mixes image formats \(2 \.png, 1 \.jpg\).*pattern"):
        probe(mixed)
    sizes = tmp_path / "sizes"
    sizes.mkdir()
    cv2.imwrite(str(sizes / "1.png"), img)
    cv2.imwrite(str(sizes / "2.png"), np.zeros((20, 12, 3), np.uint8))
    with pytest.raises(VideoReadError, match=r"2\.png is 12x20 but the sequence .* is 12x10"):
        list(open_reader(sizes))


def test_unknown_extension_and_bad_mode(tmp_path):
    with pytest.raises(ValueError, match=r"unknown extension '\.avi'; supported: \.mp4, \.mkv, \.mov"):
        open_writer(tmp_path / "out.avi", 24, (32, 24))
    with pytest.raises(ValueError, match="mode"):
        read_image(tmp_path / "x.png", mode="BGR")
    assert os.listdir(tmp_path) == []


def test_bad_range(tmp_path):
    clip = make_clip(tmp_path / "a.mp4", 4)
    with pytest.raises(ValueError, match="start"):
        next(read_frames(clip, -1, 2))
