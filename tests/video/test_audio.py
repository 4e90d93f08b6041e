"""`lvcd.video.audio`: audio tracks joined from pieces of several files (exact lengths, timing, silence, atomicity)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from video_clips import ffmpeg, make_clip, requires_ffmpeg

from lvcd.video import VideoReadError, VideoWriteError, open_reader, open_writer, probe
from lvcd.video import audio as audio_mod
from lvcd.video.audio import AudioPiece, audio_stream_info, build_audio_track, temporary_audio_track

pytestmark = requires_ffmpeg

# a tone at 1000 Hz for its first second, 2000 Hz after: where the switch lands tells the timing
SWITCH = "sin(2*PI*if(lt(t\\,1)\\,1000\\,2000)*t)"


def tone_clip(path: Path, seconds: float, expr: str, *, rate: int = 48000, fps: str = "24", layout: str = "mono"):
    """A small video with an `aevalsrc` sound of exactly `seconds`."""
    n = round(seconds * Fraction(fps))
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=32x24:rate={fps}",
        "-f",
        "lavfi",
        "-t",
        f"{seconds:.6f}",
        "-i",
        f"aevalsrc={expr}:s={rate}:c={layout}",
        "-frames:v",
        str(n),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        path,
    )
    return path


def decode_mono(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        x = np.concatenate(
            [
                f.to_ndarray().reshape(len(f.layout.channels), -1).mean(0)
                if f.format.is_planar
                else f.to_ndarray().reshape(-1, len(f.layout.channels)).mean(1)
                for f in c.decode(s)
            ]
        )
        return x.astype(np.float64), s.sample_rate


def container_audio_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return float(s.duration * s.time_base)


def dominant(x: np.ndarray, rate: int, a: float, b: float) -> tuple[float, float]:
    """(dominant frequency, RMS) of x over seconds [a, b)."""
    w = x[int(a * rate) : int(b * rate)]
    spec = np.abs(np.fft.rfft(w * np.hanning(len(w))))
    return float(np.fft.rfftfreq(len(w), 1 / rate)[spec.argmax()]), float(np.sqrt(np.mean(w**2)))


def test_pieces_silence_and_timing(tmp_path):
    a = tone_clip(tmp_path / "a.mp4", 1.0, "sin(2*PI*440*t)", rate=44100)
    b = tone_clip(tmp_path / "b.mp4", 2.0, SWITCH, layout="stereo")
    silent = make_clip(tmp_path / "silent.mp4", 12, fps="24", size=(32, 24))
    pieces = [
        (a, 0, Fraction(20, 24)),
        (a, Fraction(20, 24), Fraction(4, 24)),  # contiguous: merged
        (None, 0, Fraction(1, 2)),
        (silent, Fraction(2, 24), Fraction(6, 24)),  # silence: 0.75 s
        AudioPiece(str(b), Fraction(6, 24), Fraction(42, 24)),
    ]  # b from 0.25 s: the switch at 1 + .75 + .75
    out = build_audio_track(pieces, tmp_path / "t.m4a")
    assert out == tmp_path / "t.m4a" and probe_codec(out) == ("aac", 44100, 2, False)  # 1st rate, most channels
    total = 1 + 0.75 + 1.75
    assert abs(container_audio_seconds(out) - total) < 1e-3
    x, rate = decode_mono(out)
    assert abs(len(x) / rate - total) <= 1024 / rate + 1e-9  # decoded: at most one AAC frame of padding
    assert abs(dominant(x, rate, 0.1, 0.9)[0] - 440) < 5
    assert dominant(x, rate, 1.05, 1.7)[1] < 1e-3  # silence piece and silent video
    assert abs(dominant(x, rate, 1.8, 2.45)[0] - 1000) < 5
    assert abs(dominant(x, rate, 2.55, 3.45)[0] - 2000) < 5
    # the switch sits at 2.5 s within a few ms: 20 ms windows on either side
    assert abs(dominant(x, rate, 2.475, 2.495)[0] - 1000) < 60 and abs(dominant(x, rate, 2.505, 2.525)[0] - 2000) < 60
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def probe_codec(path):
    info = audio_stream_info(path)
    return info.codec, info.sample_rate, info.channels, info.has_video


def test_merging_contiguous_pieces():
    got = audio_mod._pieces(
        [
            ("x", 0, Fraction(1, 3)),
            ("x", Fraction(1, 3), Fraction(2, 3)),
            (None, 5, 1),
            (None, 0, 2),
            ("x", 3, 1),
            ("x", 0, 0),
        ]
    )
    assert got == [
        AudioPiece("x", Fraction(0), Fraction(1)),
        AudioPiece(None, Fraction(5), Fraction(3)),
        AudioPiece("x", Fraction(3), Fraction(1)),
    ]
    with pytest.raises(ValueError, match="duration must be >= 0"):
        audio_mod._pieces([("x", 0, -1)])


def test_no_audio_anywhere_writes_nothing(tmp_path):
    silent = make_clip(tmp_path / "silent.mp4", 12, fps="24", size=(32, 24))
    assert build_audio_track([(silent, 0, 0.5), (None, 0, 1)], tmp_path / "t.m4a") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.mp4"]


def test_missing_or_broken_input_is_named(tmp_path):
    a = tone_clip(tmp_path / "a.mp4", 0.5, "sin(2*PI*440*t)")
    with pytest.raises(FileNotFoundError, match="gone.mp4 does not exist"):
        build_audio_track([(a, 0, 0.5), (tmp_path / "gone.mp4", 0, 0.5)], tmp_path / "t.m4a")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoReadError, match=r"junk\.mp4: its audio cannot be read.*re-export"):
        build_audio_track([(a, 0, 0.5), (tmp_path / "junk.mp4", 0, 0.5)], tmp_path / "t.m4a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "junk.mp4"]


def test_ffmpeg_failure_leaves_no_temporary(tmp_path, monkeypatch):
    a = tone_clip(tmp_path / "a.mp4", 0.5, "sin(2*PI*440*t)")
    (tmp_path / "t.m4a").write_bytes(b"old")

    def failing(args, *, what):
        Path(args[-1]).write_bytes(b"half")
        raise VideoWriteError(f"{what} failed (ffmpeg exit status 1):\n    boom")

    monkeypatch.setattr(audio_mod._ffmpeg, "run", failing)
    with pytest.raises(VideoWriteError, match=r"a\.mp4(.|\n)*boom(.|\n)*-an -c copy"):
        build_audio_track([(a, 0, 0.5)], tmp_path / "t.m4a", channels=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "t.m4a"]
    assert (tmp_path / "t.m4a").read_bytes() == b"old"


def test_temporary_track_is_removed_and_the_writer_copies_it(tmp_path):
    a = tone_clip(tmp_path / "a.mp4", 1.0, "sin(2*PI*440*t)")
    frames = list(open_reader(a))
    with temporary_audio_track([(a, 0, 0.5), (None, 0, 0.5)], tmp_path / "work") as track:
        assert track is not None and track.parent == tmp_path / "work" and track.name.startswith(".lvcd-audio-")
        with open_writer(tmp_path / "o.mkv", 24, (32, 24), audio_from=track, preset="ultrafast") as w:
            for f in frames:
                w.write(f)
    assert list((tmp_path / "work").iterdir()) == []
    info = probe(tmp_path / "o.mkv")
    assert info.has_audio and info.audio_codec == "aac" and info.frame_count == 24
    x, rate = decode_mono(tmp_path / "o.mkv")
    assert abs(dominant(x, rate, 0.05, 0.45)[0] - 440) < 5 and dominant(x, rate, 0.55, 0.95)[1] < 1e-3
    with pytest.raises(RuntimeError, match="inside"), temporary_audio_track([(a, 0, 0.5)], tmp_path / "work"):
        raise RuntimeError("inside")
    assert list((tmp_path / "work").iterdir()) == []
