"""`lvcd shots --export-keyframes DIR [--colour-from VIDEO]` (issue 10)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import lineart_frames, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.video import read_frames, read_image  # noqa: E402


def test_export_keyframes_and_colour_references(tmp_path):
    frames = lineart_frames(12)
    colour = [np.roll(f, 3, axis=2) // 2 + 60 for f in frames]  # a "colour" twin of the same length
    for i, (f, c) in enumerate(zip(frames, colour, strict=True)):
        write_png(tmp_path / "line" / f"{i:04d}.png", f)
        write_png(tmp_path / "colour" / f"{i:04d}.png", c)
    (tmp_path / "cuts.csv").write_text("name,start,end\nopen,0,5\nrest,5,12\n")
    out = tmp_path / "shots.yaml"
    keys = tmp_path / "keys"
    assert (
        main(
            [
                "shots",
                str(tmp_path / "line"),
                "-o",
                str(out),
                "--from-csv",
                str(tmp_path / "cuts.csv"),
                "--export-keyframes",
                str(keys),
                "--colour-from",
                str(tmp_path / "colour"),
                "--quiet",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in keys.iterdir()) == ["open.png", "open_colour.png", "rest.png", "rest_colour.png"]
    assert np.array_equal(read_image(keys / "rest.png"), frames[5])
    assert np.array_equal(read_image(keys / "rest_colour.png"), next(read_frames(tmp_path / "colour", 5, 6)))
    m = yaml.safe_load(out.read_text())
    assert [s["reference"] for s in m["shots"]] == ["keys/open_colour.png", "keys/rest_colour.png"]
    # exporting again does not replace painted keyframes without --overwrite
    assert (
        main(
            [
                "shots",
                str(tmp_path / "line"),
                "-o",
                str(tmp_path / "s2.yaml"),
                "--from-csv",
                str(tmp_path / "cuts.csv"),
                "--export-keyframes",
                str(keys),
                "--quiet",
            ]
        )
        != 0
    )
