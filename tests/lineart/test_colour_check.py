"""A colour clip given as the lineart is refused with a pointer to `lvcd lineart` (issue 10)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import colour_reference, colour_video, lineart_frames, lineart_video, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.lineart.colour_check import looks_like_colour  # noqa: E402


def test_measures():
    line = lineart_frames(1, size=(128, 96))[0]
    assert not looks_like_colour(line)[0]
    assert not looks_like_colour(255 - line)[0]  # white on black
    blue_pencil = line.copy()
    blue_pencil[40:42, :] = (60, 90, 230)  # coloured construction lines over a small area
    assert not looks_like_colour(blue_pencil)[0]
    assert looks_like_colour(colour_reference(line))[0]  # a painted frame
    shaded = np.tile(np.linspace(40, 220, 128).astype(np.uint8), (96, 1))[..., None].repeat(3, 2)
    assert looks_like_colour(shaded)[0]  # grey shading, no lines


def test_colorize_refuses_a_colour_clip(tmp_path, capsys):
    clip = colour_video(tmp_path / "colour.mp4", 8)
    ref = write_png(tmp_path / "ref.png", colour_reference(lineart_frames(1)[0]))
    rc = main(
        ["colorize", str(clip), "-r", str(ref), "-o", str(tmp_path / "out.mp4"), "--backend", "bucket", "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "looks like a colour video, not lineart" in err and f"lvcd lineart {clip}" in err
    assert not (tmp_path / "out.mp4").exists()
    line = lineart_video(tmp_path / "line.mp4", 8)
    assert (
        main(["colorize", str(line), "-r", str(ref), "-o", str(tmp_path / "ok.mp4"), "--backend", "bucket", "--quiet"])
        == 0
    )
