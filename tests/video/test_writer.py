"""`lvcd.video.open_writer`: exact counts, rates and sizes out, audio passthrough, quality, atomicity, sidecars."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest
from video_clips import (
    encode_frames,
    leftovers,
    level_frames,
    level_index,
    make_clip,
    psnr,
    requires_ffmpeg,
    smooth_frames,
)

from lvcd.video import (
    VideoWriteError,
    check_output_path,
    open_reader,
    open_writer,
    probe,
    read_image,
    sidecar_path,
    write_sidecar,
)

pytestmark = requires_ffmpeg


def _write(path, frames, fps=Fraction(25), **kw) -> Path:
    h, w = frames[0].shape[:2]
    with open_writer(path, fps, (w, h), **kw) as out:
        for f in frames:
            out.write(f)
    return Path(path)


@pytest.mark.parametrize("n", [1, 2, 13, 25, 100])
def test_mp4_round_trip_counts(tmp_path, n):
    out = _write(tmp_path / "o.mp4", [f for f in smooth_frames(n, (32, 24))], preset="ultrafast")
    assert probe(out).frame_count == n
    assert sum(1 for _ in open_reader(out)) == n


@pytest.mark.parametrize("fps", [Fraction(24000, 1001), Fraction(25)])
@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov"])
def test_rate_is_preserved_exactly(tmp_path, fps, ext):
    out = _write(tmp_path / f"o.{ext}", level_frames(13, (32, 24)), fps=fps, preset="ultrafast")
    info = probe(out)
    assert info.fps == fps and info.frame_count == 13 and not info.is_vfr
    assert [level_index(f) for f in open_reader(out)] == list(range(13))


@pytest.mark.parametrize("ext, codec", [("mp4", "h264"), ("mkv", "h264"), ("mov", "prores")])
def test_audio_is_copied_and_cut_to_the_video(tmp_path, ext, codec):
    fps = Fraction(25)
    src = make_clip(tmp_path / "src.mp4", 50, fps="25", size=(32, 24), audio=True)  # 2 s of video and sine
    for n in (50, 20):  # whole clip; a shorter render: the audio is cut to 0.8 s
        out = _write(tmp_path / f"o{n}.{ext}", list(open_reader(src))[:n], fps=fps, audio_from=src, preset="ultrafast")
        info = probe(out)
        assert info.codec == codec and info.frame_count == n
        assert info.has_audio and info.audio_codec == "aac"  # copied, not re-encoded
        audio_seconds = _audio_seconds(out)
        assert abs(audio_seconds - n / 25) <= 1 / 25 + 1e-6, audio_seconds


def _audio_seconds(path) -> float:
    import av

    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        pkts = [p for p in c.demux(a) if p.size]
        return float(sum(p.duration for p in pkts) * a.time_base)


def test_audio_that_cannot_be_copied_is_reencoded(tmp_path, caplog):
    src = make_clip(tmp_path / "src.mkv", 25, size=(32, 24), audio=True, acodec=("-c:a", "pcm_s16le"))  # PCM in MP4
    with caplog.at_level("WARNING"):
        out = _write(tmp_path / "o.mp4", list(open_reader(src)), audio_from=src, preset="ultrafast")
    assert probe(out).audio_codec == "aac" and "re-encoding it to AAC" in caplog.text


def test_no_audio_source_means_silent_output(tmp_path):
    src = make_clip(tmp_path / "src.mp4", 5, size=(32, 24))
    out = _write(tmp_path / "o.mp4", list(open_reader(src)), audio_from=src, preset="ultrafast")
    assert not probe(out).has_audio


@pytest.mark.parametrize("path", ["o.mp4", "o.mkv", "o.mov", "frames", "seq/f_%04d.png"])
def test_odd_size_is_restored_exactly(tmp_path, path, caplog):
    frames = smooth_frames(3, (641, 359))
    out = _write(tmp_path / path, frames, preset="ultrafast")
    info = probe(out)
    assert info.size == (641, 359) and info.frame_count == 3
    back = list(open_reader(out))
    assert back[0].shape == (359, 641, 3)
    assert psnr(back[1], frames[1]) > (99 if "png" in path or path == "frames" else 35)
    if path.endswith((".mp4", ".mkv")):
        assert "4:4:4" in caplog.text


def test_mp4_quality_on_smooth_pattern(tmp_path):
    frames = smooth_frames(10, (128, 96))
    out = _write(tmp_path / "o.mp4", frames, crf=18)
    info = probe(out)
    assert (info.pix_fmt, info.codec) == ("yuv420p", "h264")
    assert min(psnr(a, b) for a, b in zip(open_reader(out), frames, strict=True)) > 35


def test_png_folder_and_pattern_are_exact_and_readable(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (24, 32, 3), np.uint8) for _ in range(12)]
    folder = _write(tmp_path / "folder", frames)
    names = sorted(os.listdir(folder))
    assert names[:2] == ["frame_000000.png", "frame_000001.png"] and len(names) == 12
    assert all(np.array_equal(a, b) for a, b in zip(open_reader(folder), frames, strict=True))
    pattern = _write(tmp_path / "pat" / "f_%d.png", frames, start_number=1)
    assert (tmp_path / "pat" / "f_12.png").exists()
    got = list(open_reader(pattern))
    assert all(np.array_equal(a, b) for a, b in zip(got, frames, strict=True))
    assert np.array_equal(read_image(tmp_path / "pat" / "f_10.png"), frames[9])  # natural order: 1, 2, ..., 10


def test_overwrite(tmp_path):
    out = _write(tmp_path / "o.mp4", level_frames(3, (32, 24)), preset="ultrafast")
    with pytest.raises(FileExistsError, match=r"o\.mp4.*--overwrite"):
        open_writer(out, 25, (32, 24))
    assert probe(out).frame_count == 3  # untouched
    _write(out, level_frames(5, (32, 24)), overwrite=True, preset="ultrafast")
    assert probe(out).frame_count == 5
    # PNG pattern: stale frames of a longer earlier render do not survive an overwrite
    pat = tmp_path / "p" / "f_%03d.png"
    _write(pat, level_frames(5, (8, 8)))
    with pytest.raises(FileExistsError, match="--overwrite"):
        _write(pat, level_frames(2, (8, 8)))
    _write(pat, level_frames(2, (8, 8)), overwrite=True)
    assert sorted(os.listdir(pat.parent)) == ["f_000.png", "f_001.png"]
    folder = _write(tmp_path / "d", level_frames(4, (8, 8)))
    _write(folder, level_frames(2, (8, 8)), overwrite=True)
    assert len(os.listdir(folder)) == 2
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("path", ["o.mp4", "o.mov", "frames", "seq/f_%04d.png"])
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_nothing(tmp_path, path, exc):
    target = tmp_path / "out" / path
    with pytest.raises(exc):
        with open_writer(target, 25, (32, 24), preset="ultrafast", audio_from=None) as w:
            for f in level_frames(5, (32, 24)):
                w.write(f)
            proc = psutil.Process(w._proc.pid)
            raise exc("stop")
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    assert list(tmp_path.rglob("*")) == []  # not even the folders created for it


def test_writer_dropped_without_close_publishes_nothing(tmp_path):
    w = open_writer(tmp_path / "o.mp4", 25, (32, 24))
    w.write(level_frames(1, (32, 24))[0])
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_finished_output_appears_only_at_close(tmp_path):
    target = tmp_path / "o.mp4"
    with open_writer(target, 25, (32, 24), preset="ultrafast") as w:
        for f in level_frames(5, (32, 24)):
            w.write(f)
        assert not target.exists()
        assert [p.name.startswith(".o.mp4.partial-") for p in tmp_path.iterdir()] == [True]
    assert target.exists() and leftovers(tmp_path) == []


def test_bad_frames_and_empty_output(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(24, 32, 3\).*got float32"):
        with open_writer(tmp_path / "o.mp4", 25, (32, 24)) as w:
            w.write(np.zeros((24, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"shape \(24, 32, 3\).*\(48, 64, 3\)"):
        with open_writer(tmp_path / "o.mp4", 25, (32, 24)) as w:
            w.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames were written"):
        with open_writer(tmp_path / "o.mp4", 25, (32, 24)):
            pass
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"unknown extension '\.xyz'.*\.mp4, \.mkv, \.mov"):
        open_writer(tmp_path / "o.xyz", 25, (32, 24))
    with pytest.raises(ValueError, match="folder.*pattern"):
        open_writer(tmp_path / "o.png", 25, (32, 24))
    with pytest.raises(ValueError, match="size"):
        open_writer(tmp_path / "o.mp4", 25, (0, 24))
    with pytest.raises(ValueError, match="crf"):
        open_writer(tmp_path / "o.mp4", 25, (32, 24), crf=99)
    with pytest.raises(ValueError, match="fps"):
        open_writer(tmp_path / "o.mp4", 0, (32, 24))
    assert list(tmp_path.iterdir()) == []


def _unwritable_dir(tmp_path) -> Path:
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        return d
    for candidate in (Path("/sys"), Path("/proc/self")):  # root ignores permissions; read-only mounts still bind
        if candidate.is_dir() and not os.access(candidate, os.W_OK):
            return candidate
    pytest.skip("running as root without a read-only folder to test with")


def test_unwritable_directory(tmp_path):
    d = _unwritable_dir(tmp_path)
    with pytest.raises(PermissionError, match=str(d)):
        check_output_path(d / "o.mp4")
    with pytest.raises(PermissionError, match=str(d)):
        open_writer(d / "sub" / "o.mp4", 25, (32, 24))


def test_encoder_failure_reports_ffmpeg_stderr(tmp_path):
    with pytest.raises(VideoWriteError, match="ffmpeg"):
        with open_writer(tmp_path / "o.mp4", 25, (32, 24), codec="no_such_encoder") as w:
            w.write(np.zeros((24, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_sidecar_is_atomic_json(tmp_path):
    out = tmp_path / "o.mp4"
    assert sidecar_path(out) == tmp_path / "o.mp4.json"
    assert sidecar_path(tmp_path / "frames") == tmp_path / "frames.json"
    assert sidecar_path(tmp_path / "seq" / "frame_%04d.png") == tmp_path / "seq" / "frame.json"
    p = write_sidecar(out, {"fps": Fraction(24000, 1001), "seed": np.int64(3), "path": out, "steps": 25})
    assert json.loads(p.read_text()) == {"fps": "24000/1001", "seed": 3, "path": str(out), "steps": 25}
    with pytest.raises(TypeError, match="JSON"):
        write_sidecar(out, {"bad": object()})
    assert json.loads(p.read_text())["steps"] == 25  # the previous sidecar survives a failed write
    assert leftovers(tmp_path) == []


def test_encode_frames_helper_and_writer_agree(tmp_path):
    # our I420 conversion (OpenCV, BT.601) and ffmpeg's own must decode to nearly the same frames
    frames = smooth_frames(2, (64, 48))
    ours = _write(tmp_path / "a.mp4", frames, crf=0, preset="ultrafast")
    theirs = encode_frames(tmp_path / "b.mp4", frames, "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p")
    a, b = next(iter(open_reader(ours))), next(iter(open_reader(theirs)))
    assert psnr(a, frames[0]) >= psnr(b, frames[0]) - 0.5
