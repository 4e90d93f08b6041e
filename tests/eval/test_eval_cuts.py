"""`--shots` cut lists (frame lists and manifests, sub-shots of one shot are no cut) and the output-path check."""

import numpy as np
import pytest
from PIL import Image

from lvcd.eval.cuts import check_writable, cuts_from


def test_frame_lists():
    assert cuts_from("57, 24,24") == [24, 57]
    assert cuts_from("0,10") == [10]  # frame 0 starts the clip anyway
    with pytest.raises(ValueError, match=">= 0"):
        cuts_from("-3")
    with pytest.raises(ValueError, match="neither a manifest"):
        cuts_from("ten")


def test_manifest_cuts_ignore_keyframe_subshots_and_mark_gaps(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(30):
        Image.fromarray(np.full((16, 16, 3), 255, np.uint8)).save(frames / f"{t:04d}.png")
    manifest = tmp_path / "shots.yaml"
    manifest.write_text(
        "version: 1\n"
        f"input: {frames}/%04d.png\n"
        "shots:\n"
        "  - {name: a, start: 0, end: 10}\n"
        "  - name: b\n"
        "    start: 10\n"
        "    end: 20\n"
        "    references: [{frame: 10, image: k1.png}, {frame: 15, image: k2.png}]\n"  # one shot, two sub-shots
        "  - {name: c, start: 24, end: 30}\n"  # a gap 20..23 before it
    )
    assert cuts_from(manifest) == [10, 20, 24]
    with pytest.raises(FileNotFoundError, match="lvcd shots"):
        cuts_from(tmp_path / "missing.yaml")


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "r.json", "--json") == tmp_path / "r.json"
    assert not list(tmp_path.iterdir())  # the probe leaves nothing
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_writable(tmp_path / "no" / "r.json", "--json")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_writable(tmp_path, "--plot")
