"""Variable frame rate: every decoded frame is kept with its timestamp, and the output carries the input's timing
(issue 10); resampling happens only when asked (`fps`)."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import colour_reference, lineart_frames, write_png  # noqa: E402
from video_clips import level_frames, level_index, write_pyav  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.video import open_reader, open_writer, probe  # noqa: E402

PTS = [0, 3, 4, 7, 8, 12, 13, 14, 20, 21, 22, 23, 30]  # uneven, in 1/24 s ticks (held drawings, then on ones)
TB = Fraction(1, 24)


def test_vfr_frames_all_kept_with_timestamps(tmp_path):
    clip = write_pyav(tmp_path / "vfr.mp4", level_frames(len(PTS)), PTS, TB)
    info = probe(clip)
    assert info.is_vfr and info.frame_count == len(PTS)
    assert info.timestamps == tuple(p * TB for p in PTS)
    assert [level_index(f) for f in open_reader(clip)] == list(range(len(PTS)))  # none dropped, none doubled


def test_writer_reproduces_the_timing(tmp_path):
    clip = write_pyav(tmp_path / "vfr.mp4", level_frames(len(PTS)), PTS, TB)
    info = probe(clip)
    for name in ("out.mp4", "out.mkv", "out.mov"):
        with (
            open_reader(clip) as r,
            open_writer(tmp_path / name, info.fps, info.size, timestamps=info.timestamps) as w,
        ):
            for f in r:
                w.write(f)
        back = probe(tmp_path / name)
        assert back.frame_count == len(PTS), name
        tick = Fraction(1, 1000) if name.endswith(".mkv") else 0  # Matroska stores milliseconds
        assert all(abs(a - b) <= tick for a, b in zip(back.timestamps, info.timestamps, strict=True)), name
        assert [level_index(f) for f in open_reader(tmp_path / name)] == list(range(len(PTS)))


def test_resampled_only_when_asked(tmp_path):
    clip = write_pyav(tmp_path / "vfr.mp4", level_frames(len(PTS)), PTS, TB)
    info = probe(clip, fps=24)
    assert info.timestamps is None and info.frame_count == 31  # the 24 fps grid over 30/24 s


def test_colorize_keeps_every_drawing_and_its_time(tmp_path):
    frames = lineart_frames(len(PTS))
    clip = write_pyav(tmp_path / "line.mp4", frames, PTS, TB)
    ref = write_png(tmp_path / "ref.png", colour_reference(frames[0]))
    out = tmp_path / "colour.mp4"
    assert main(["colorize", str(clip), "-r", str(ref), "-o", str(out), "--backend", "bucket", "--quiet"]) == 0
    back = probe(out)
    assert back.frame_count == len(PTS) and back.timestamps == tuple(p * TB for p in PTS)
    side = json.loads((tmp_path / "colour.mp4.json").read_text())
    assert side["timing"]["variable_frame_rate"] and side["timing"]["timestamps_s"][:3] == ["0", "1/8", "1/6"]


def test_colorize_fps_resamples_when_asked(tmp_path):
    frames = lineart_frames(len(PTS))
    clip = write_pyav(tmp_path / "line.mp4", frames, PTS, TB)
    ref = write_png(tmp_path / "ref.png", colour_reference(frames[0]))
    out = tmp_path / "cfr.mp4"
    assert (
        main(["colorize", str(clip), "-r", str(ref), "-o", str(out), "--backend", "bucket", "--fps", "24", "--quiet"])
        == 0
    )
    back = probe(out)
    assert back.frame_count == 31 and back.fps == 24 and not back.is_vfr
