"""`--overwrite` on an indexed output folder replaces only what an indexed render writes (issue 10, item 1)."""

import numpy as np

from lvcd.deliver.indexed import IndexedWriter
from lvcd.deliver.paints import build_palette


def _render(path, colour, overwrite=False, frames=2):
    pal = build_palette(np.array([[200, 30, 30], [30, 200, 30]], np.uint8))
    with IndexedWriter(path, 24, (8, 6), palette=pal, overwrite=overwrite, layers=True) as w:
        for _ in range(frames):
            w.write(np.full((6, 8, 3), colour, np.uint8))


def test_overwrite_keeps_files_lvcd_did_not_write(tmp_path):
    out = tmp_path / "cels"
    _render(out, (200, 30, 30), frames=3)
    (out / "thesis.txt").write_text("mine")
    (out / "notes").mkdir()
    (out / "notes" / "a.txt").write_text("also mine")
    _render(out, (30, 200, 30), overwrite=True, frames=2)
    assert (out / "thesis.txt").read_text() == "mine"
    assert (out / "notes" / "a.txt").read_text() == "also mine"
    frames = sorted(p.name for p in out.glob("frame_*.png"))
    assert frames == ["frame_000000.png", "frame_000001.png"]  # the old third frame is gone with the old render
    assert (out / "palette.json").is_file() and (out / "layers").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left beside it
