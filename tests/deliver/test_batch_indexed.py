"""`lvcd batch --format indexed`: one palette for the whole manifest (shots merged in order, the manifest's named
palette first), shot frames decode exactly to the shots' RGB renders, frames in no shot are the lineart."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from lvcd.shots.render import render_shots

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "lvcd" / "data" / "sample"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    manifest = {
        "version": 1,
        "input": str(SAMPLE / "line" / "%04d.png"),
        "defaults": {"backend": "bucket"},
        "palette": {"sky": "#aad2f0", "hair": "#5b3d29"},  # the episode palette; hair is off by one per channel
        "shots": [
            {"name": "a", "start": 0, "end": 4, "reference": str(SAMPLE / "reference.png")},
            {
                "name": "b",
                "start": 24,
                "end": 28,
                "reference": str(SAMPLE / "reference_shot2.png"),
                "palette": {"coat": "#3c78dc"},
            },
        ],
    }
    path = d / "shots.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))  # the palette order is the index order
    res = render_shots(path, work=d / "work", output=d / "ep", fmt="indexed", layers=True, quiet=True, drift=False)
    return res, d / "ep"


def test_one_merged_palette_with_names(batch):
    _, out = batch
    meta = json.loads((out / "palette.json").read_text())
    names = [e["name"] for e in meta["entries"]]
    assert names[:3] == ["line", "sky", "hair"]
    assert "coat" in names and "paper" in names  # shot b's own name; frames in no shot need white paper
    assert meta["entries"][2]["hex"] == "#5b3d29"
    shots = {s["name"]: s for s in meta["shots"]}
    assert shots["a"]["indices"][:3] == [0, 1, 2] and shots["b"]["start"] == 24
    assert len(set(shots["b"]["indices"])) == len(shots["b"]["indices"])
    assert meta["frames"] == 48


def test_frames_decode_to_shot_renders_and_lineart(batch):
    res, out = batch
    files = sorted(out.glob("frame_*.png"))
    assert len(files) == 48
    work = {s.name: s.folder for s in res.shots}
    for g in (0, 3, 24, 27):
        shot = "a" if g < 24 else "b"
        want = np.asarray(Image.open(work[shot] / f"{g:06d}.png").convert("RGB"))
        got = np.asarray(Image.open(files[g]).convert("RGB"))
        np.testing.assert_array_equal(got, want)
        assert not (want == (0x5A, 0x3C, 0x28)).all(-1).any()  # hair snapped to the named value in the render
    a0 = np.asarray(Image.open(work["a"] / "000000.png").convert("RGB"))
    assert (a0 == (0x5B, 0x3D, 0x29)).all(-1).any()
    for g in (10, 40):  # no shot: the lineart itself
        want = np.asarray(Image.open(SAMPLE / "line" / f"{g:04d}.png").convert("RGB"))
        np.testing.assert_array_equal(np.asarray(Image.open(files[g]).convert("RGB")), want)
    assert len(list((out / "layers" / "lines").glob("*.png"))) == 48
