"""`lvcd recolour`: an edited palette entry changes exactly the pixels of that index, nothing else."""

import numpy as np
import pytest
from PIL import Image

from lvcd.cli import main
from lvcd.deliver import IndexedWriter, build_palette
from lvcd.deliver.swatches import aco_bytes, gpl_text, read_gpl

PAINTS = np.array([[200, 60, 60], [110, 170, 90], [250, 220, 80], [90, 60, 40]], np.uint8)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A 5-frame indexed render of random flat cels with black lines."""
    rng = np.random.default_rng(0)
    pal = build_palette(PAINTS)
    out = tmp_path_factory.mktemp("render") / "idx"
    with IndexedWriter(out, 12, (40, 24), palette=pal) as w:
        for _ in range(5):
            idx = rng.integers(0, len(pal), (24, 40))
            w.write(pal.colours[idx])
    return out


def frames(folder):
    return [np.asarray(Image.open(f).convert("RGB")) for f in sorted(folder.glob("frame_*.png"))]


def indices(folder):
    return [np.asarray(Image.open(f)) for f in sorted(folder.glob("frame_*.png"))]


@pytest.mark.parametrize("kind", ["gpl", "aco"])
def test_one_entry_changed_changes_exactly_its_pixels(indexed, tmp_path, kind):
    cols, names = read_gpl(indexed / "palette.gpl")
    k = 3
    cols[k] = (255, 0, 255)
    edited = build_palette(PAINTS).with_colours(cols)
    path = tmp_path / f"edited.{kind}"
    if kind == "gpl":
        path.write_text(gpl_text(edited), encoding="utf-8")
    else:
        path.write_bytes(aco_bytes(edited))
    out = tmp_path / "out"
    assert main(["recolour", str(indexed), "--palette", str(path), "-o", str(out), "--quiet"]) == 0
    before, after, idx = frames(indexed), frames(out), indices(indexed)
    assert len(after) == len(before) == 5
    for b, a, i in zip(before, after, idx, strict=True):
        changed = (a != b).any(-1)
        np.testing.assert_array_equal(changed, i == k)
        assert (a[i == k] == (255, 0, 255)).all()


def test_video_output_and_unchanged_palette(indexed, tmp_path):
    out = tmp_path / "same"
    assert main(["recolour", str(indexed), "--palette", str(indexed / "palette.json"), "-o", str(out), "--quiet"]) == 0
    for a, b in zip(frames(out), frames(indexed), strict=True):
        np.testing.assert_array_equal(a, b)
    mp4 = tmp_path / "re.mp4"
    assert main(["recolour", str(indexed), "--palette", str(indexed / "palette.aco"), "-o", str(mp4), "--quiet"]) == 0
    from lvcd.video import probe

    info = probe(mp4)
    assert (info.frame_count, info.width, info.height, str(info.fps)) == (5, 40, 24, "12")


def test_wrong_palette_size_teaches(indexed, tmp_path, capsys):
    bad = tmp_path / "short.gpl"
    bad.write_text("GIMP Palette\n0 0 0 line\n1 2 3 x\n")
    assert main(["recolour", str(indexed), "--palette", str(bad), "-o", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "has 2 entries" in err and "in place" in err
    assert main(["recolour", str(tmp_path / "nowhere"), "--palette", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "--format indexed" in capsys.readouterr().err
