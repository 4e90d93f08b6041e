"""`lvcd colorize --reference-frame N|external [--reference-lineart]` (issue 10)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import colour_reference, lineart_frames, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.video import read_image  # noqa: E402


def _clip(tmp_path):
    frames = lineart_frames(10)
    for i, f in enumerate(frames):
        write_png(tmp_path / "line" / f"{i:04d}.png", f)
    return tmp_path / "line", frames


def test_reference_at_a_middle_frame(tmp_path):
    line, frames = _clip(tmp_path)
    ref = write_png(tmp_path / "ref6.png", colour_reference(frames[6]))
    out = tmp_path / "out"
    assert (
        main(
            [
                "colorize",
                str(line),
                "-r",
                str(ref),
                "--reference-frame",
                "6",
                "-o",
                str(out),
                "--backend",
                "bucket",
                "--quiet",
            ]
        )
        == 0
    )
    got = sorted(out.glob("frame_*.png"))
    assert len(got) == 10
    for i in (6, 2, 9):  # the keyframe itself, a frame of the backward pass, one of the forward pass
        same = (read_image(got[i]) == colour_reference(frames[i])).all(axis=2)
        lines = frames[i].min(axis=2) < 128
        assert same[~lines].mean() > 0.95, i  # every region in its keyframe colour (lines may be painted over)
    assert not list(tmp_path.glob(".out.shot-*"))  # the temporary work folder is gone


def test_external_reference_with_its_lineart(tmp_path):
    line, frames = _clip(tmp_path)
    sheet = write_png(tmp_path / "sheet.png", colour_reference(frames[3]))
    sheet_line = write_png(tmp_path / "sheet_line.png", frames[3])
    out = tmp_path / "out.mp4"
    assert (
        main(
            [
                "colorize",
                str(line),
                "-r",
                str(sheet),
                "--reference-frame",
                "external",
                "--reference-lineart",
                str(sheet_line),
                "-o",
                str(out),
                "--backend",
                "bucket",
                "--quiet",
            ]
        )
        == 0
    )
    assert out.exists()


def test_bad_reference_frame_values(tmp_path, capsys):
    line, frames = _clip(tmp_path)
    ref = write_png(tmp_path / "ref.png", colour_reference(frames[0]))
    base = ["colorize", str(line), "-r", str(ref), "-o", str(tmp_path / "o.mp4"), "--backend", "bucket", "--quiet"]
    assert main(base + ["--reference-frame", "99"]) == 2
    assert "past the end" in capsys.readouterr().err
    assert main(base + ["--reference-frame", "last"]) == 2
    assert "frame number (0 = first frame) or `external`" in capsys.readouterr().err
    assert main(base + ["--reference-frame", "2", "--reference-lineart", str(ref)]) == 2
    assert "--reference-lineart goes with --reference-frame external" in capsys.readouterr().err
