"""Sound survives the documented path: `lvcd lineart` keeps it; `--audio FILE|none` on colorize and batch, and the
manifest's `audio:` (issue 10)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import colour_reference, colour_video, has_audio, lineart_frames, lineart_video, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.video import probe  # noqa: E402


def test_lineart_keeps_the_audio(tmp_path):
    src = colour_video(tmp_path / "colour.mp4", 12, audio=True)
    assert main(["lineart", str(src), "-o", str(tmp_path / "line.mp4"), "--quiet"]) == 0
    assert has_audio(tmp_path / "line.mp4") and probe(tmp_path / "line.mp4").frame_count == 12


def test_colorize_audio_from_another_file_and_none(tmp_path, capsys):
    line = lineart_video(tmp_path / "line.mp4", 12)
    sound = colour_video(tmp_path / "colour.mp4", 12, audio=True)
    ref = write_png(tmp_path / "ref.png", colour_reference(lineart_frames(1)[0]))
    base = ["colorize", str(line), "-r", str(ref), "--backend", "bucket", "--quiet"]
    assert main(base + ["-o", str(tmp_path / "a.mp4"), "--audio", str(sound)]) == 0
    assert has_audio(tmp_path / "a.mp4")
    assert main(base + ["-o", str(tmp_path / "b.mp4"), "--audio", "none"]) == 0
    assert not has_audio(tmp_path / "b.mp4")
    assert main(base + ["-o", str(tmp_path / "c.mp4"), "--audio", str(line)]) == 2  # silent file: refused now
    assert "has no audio stream" in capsys.readouterr().err and not (tmp_path / "c.mp4").exists()


def test_batch_audio_flag_and_manifest_key(tmp_path):
    frames = lineart_frames(12)
    for i, f in enumerate(frames):
        write_png(tmp_path / "line" / f"{i:04d}.png", f)
    write_png(tmp_path / "ref.png", colour_reference(frames[0]))
    colour_video(tmp_path / "colour.mp4", 12, audio=True)
    m = {
        "input": "line",
        "output": "out.mp4",
        "audio": "colour.mp4",
        "defaults": {"backend": "bucket"},
        "shots": [{"name": "a", "start": 0, "end": 12, "reference": "ref.png"}],
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(m))
    assert main(["batch", str(tmp_path / "m.yaml"), "--quiet"]) == 0
    assert has_audio(tmp_path / "out.mp4")
    assert (
        main(["batch", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "silent.mp4"), "--audio", "none", "--quiet"])
        == 0
    )
    assert not has_audio(tmp_path / "silent.mp4")
