"""A numbering gap in a frame sequence is an error listing the missing numbers; --allow-gaps renders what is there
(issue 10)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import lineart_frames, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.video import VideoReadError, allow_gaps, list_sequence, probe  # noqa: E402


def _seq(folder: Path, numbers, name="frame_{:04d}.png") -> Path:
    frames = lineart_frames(max(numbers) + 1)
    for n in numbers:
        write_png(folder / name.format(n), frames[n])
    return folder


def test_folder_gap_refused_with_missing_numbers(tmp_path):
    seq = _seq(tmp_path / "seq", [n for n in range(24) if n not in (5, 11, 12)])
    with pytest.raises(VideoReadError) as e:
        probe(seq)
    msg = str(e.value)
    assert "3 of 24 frames are missing (0005, 0011-0012)" in msg and "--allow-gaps" in msg


def test_pattern_gap_refused_with_missing_numbers(tmp_path):
    seq = _seq(tmp_path / "seq", [1, 2, 3, 7, 8])
    with pytest.raises(VideoReadError, match=r"3 of 8 frames are missing \(0004-0006\)"):
        list_sequence(seq / "frame_%04d.png")


def test_allow_gaps_reads_what_is_there(tmp_path, caplog):
    seq = _seq(tmp_path / "seq", [0, 1, 2, 5, 6])
    with allow_gaps():
        info = probe(seq)
        files = list_sequence(seq / "frame_%04d.png")
    assert info.frame_count == 5 and len(files) == 5
    assert "2 frame numbers are missing (0003-0004)" in caplog.text
    with pytest.raises(VideoReadError):  # the setting does not outlive the block (nor the probe cache)
        probe(seq)


def test_unnumbered_or_contiguous_folders_pass(tmp_path):
    _seq(tmp_path / "a", [3, 4, 5])
    assert probe(tmp_path / "a").frame_count == 3
    b = tmp_path / "b"
    for name, f in zip(["intro.png", "middle.png", "end.png"], lineart_frames(3), strict=True):
        write_png(b / name, f)
    assert probe(b).frame_count == 3


def test_cli_gap_and_allow_gaps(tmp_path, capsys):
    seq = _seq(tmp_path / "seq", [0, 1, 2, 4])
    assert main(["lineart", str(seq), "-o", str(tmp_path / "l.mp4"), "--quiet"]) == 2
    assert "missing (0003)" in capsys.readouterr().err and not (tmp_path / "l.mp4").exists()
    assert main(["lineart", str(seq), "-o", str(tmp_path / "l.mp4"), "--quiet", "--allow-gaps"]) == 0
    assert probe(tmp_path / "l.mp4").frame_count == 4
