"""Palette files round-trip through readers written here from the formats' descriptions (not lvcd's own readers),
and through Pillow's GIMP palette reader."""

import json
import struct

import numpy as np
import pytest

from lvcd.deliver.paints import Palette, PaletteError, build_palette
from lvcd.deliver.swatches import (
    aco_bytes,
    gpl_text,
    named_palette_file,
    read_aco,
    read_gpl,
    read_palette_file,
    write_palette_files,
)


@pytest.fixture
def palette():
    paints = np.array([[250, 215, 180], [90, 60, 40], [170, 210, 240], [1, 2, 3]], np.uint8)
    named = [("hair", (92, 61, 40)), ("skin tone", (250, 215, 180)), ("ciel é", (10, 20, 30))]
    return build_palette(paints, named)


def parse_gpl(text: str):
    """GIMP palette, from its description: first line "GIMP Palette"; optional "Name:" and "Columns:" lines; lines
    starting with # are comments; each entry "R G B" (decimal, whitespace-separated) then an optional name."""
    lines = text.split("\n")
    assert lines[0] == "GIMP Palette"
    out = []
    for line in lines[1:]:
        if not line.strip() or line.startswith("#") or line.startswith("Name:") or line.startswith("Columns:"):
            continue
        fields = line.split()
        rgb = tuple(int(f) for f in fields[:3])
        name = line.split("\t", 1)[1] if "\t" in line else " ".join(fields[3:])
        out.append((rgb, name))
    return out


def parse_aco(data: bytes):
    """Photoshop Color Swatches, from Adobe's file-format description: big-endian 16-bit words; section 1 (version 1,
    count, count x [space, w, x, y, z]) then section 2 (version 2, count, count x [space, w, x, y, z, name]) where a
    name is a 32-bit length in UTF-16 code units *including* the terminating NUL, then those code units. RGB (space
    0) components are 0..65535."""
    words = lambda off, n: struct.unpack(f">{n}H", data[off : off + 2 * n])  # noqa: E731
    version, count = words(0, 2)
    assert version == 1
    v1 = [words(4 + 10 * i, 5) for i in range(count)]
    off = 4 + 10 * count
    version2, count2 = words(off, 2)
    assert (version2, count2) == (2, count)
    off += 4
    v2 = []
    for _ in range(count2):
        space, w, x, y, z = words(off, 5)
        off += 10
        (length,) = struct.unpack(">I", data[off : off + 4])
        off += 4
        units = data[off : off + 2 * length]
        off += 2 * length
        assert units[-2:] == b"\0\0", "the name ends in a NUL code unit counted in the length"
        v2.append(((space, w, x, y, z), units[:-2].decode("utf-16-be")))
    assert off == len(data), "nothing after section 2"
    return v1, v2


def test_palette_order_line_named_then_keyframe_by_value(palette):
    assert palette.names[:4] == ["line", "hair", "skin tone", "ciel é"]
    assert palette.kinds[:4] == ["line", "named", "named", "named"]
    # hair (92, 61, 40) is within the snap distance of the keyframe's (90, 60, 40): one entry, the named value
    assert palette.colours.tolist() == [
        [0, 0, 0],
        [92, 61, 40],
        [250, 215, 180],
        [10, 20, 30],
        [1, 2, 3],
        [170, 210, 240],
    ]
    assert palette.names[4:] == ["#010203", "#aad2f0"]


def test_gpl_round_trip_independent_parser(palette, tmp_path):
    text = gpl_text(palette, "episode 1")
    entries = parse_gpl(text)
    assert [list(c) for c, _ in entries] == palette.colours.tolist()
    assert [n for _, n in entries] == palette.names
    assert "Name: episode 1" in text.splitlines()
    (tmp_path / "p.gpl").write_text(text, encoding="utf-8")
    cols, names = read_gpl(tmp_path / "p.gpl")
    assert cols.tolist() == palette.colours.tolist() and names == palette.names


def test_gpl_read_by_pillow(palette, tmp_path):
    from PIL.GimpPaletteFile import GimpPaletteFile

    path = tmp_path / "p.gpl"
    path.write_text(gpl_text(palette), encoding="utf-8")
    with open(path, "rb") as fh:
        data, mode = GimpPaletteFile(fh).getpalette()
    assert mode == "RGB"
    got = np.frombuffer(bytes(data), np.uint8).reshape(-1, 3)[: len(palette)]
    assert got.tolist() == palette.colours.tolist()


def test_aco_round_trip_independent_parser(palette, tmp_path):
    data = aco_bytes(palette)
    v1, v2 = parse_aco(data)
    want = [[0, c[0] * 257, c[1] * 257, c[2] * 257, 0] for c in palette.colours.tolist()]
    assert [list(w) for w in v1] == want
    assert [list(w) for w, _ in v2] == want
    assert [n for _, n in v2] == palette.names
    (tmp_path / "p.aco").write_bytes(data)
    cols, names = read_aco(tmp_path / "p.aco")
    assert cols.tolist() == palette.colours.tolist() and names == palette.names


def test_aco_hand_made_bytes_read(tmp_path):
    # red then green, version 1 only, written by hand from the description (no names)
    data = struct.pack(">HH", 1, 2) + struct.pack(">5H", 0, 65535, 0, 0, 0) + struct.pack(">5H", 0, 0, 65535, 0, 0)
    (tmp_path / "v1.aco").write_bytes(data)
    cols, names = read_aco(tmp_path / "v1.aco")
    assert cols.tolist() == [[255, 0, 0], [0, 255, 0]] and names == ["", ""]
    (tmp_path / "cmyk.aco").write_bytes(struct.pack(">HH", 1, 1) + struct.pack(">5H", 2, 0, 0, 0, 0))
    with pytest.raises(PaletteError, match="not RGB"):
        read_aco(tmp_path / "cmyk.aco")
    (tmp_path / "cut.aco").write_bytes(data[:12])
    with pytest.raises(PaletteError, match="truncated"):
        read_aco(tmp_path / "cut.aco")


def test_palette_json_and_files(palette, tmp_path):
    counts = list(range(len(palette)))
    files = write_palette_files(tmp_path, palette, counts, "ep", fps="24")
    assert [f.name for f in files] == ["palette.json", "palette.gpl", "palette.aco"]
    js = json.loads((tmp_path / "palette.json").read_text())
    assert [e["index"] for e in js["entries"]] == list(range(len(palette)))
    assert [e["pixels"] for e in js["entries"]] == counts
    assert js["entries"][1] == {
        "index": 1,
        "rgb": [92, 61, 40],
        "hex": "#5c3d28",
        "name": "hair",
        "kind": "named",
        "pixels": 1,
    }
    for f in files:
        cols, names = read_palette_file(f)
        assert cols.tolist() == palette.colours.tolist() and names == palette.names
    assert named_palette_file(tmp_path / "palette.gpl") == {
        "line": "#000000",
        "hair": "#5c3d28",
        "skin tone": "#fad7b4",
        "ciel é": "#0a141e",
    }


def test_bad_files_teach(tmp_path):
    (tmp_path / "a.gpl").write_text("not a palette\n")
    with pytest.raises(PaletteError, match="first line"):
        read_gpl(tmp_path / "a.gpl")
    (tmp_path / "b.gpl").write_text("GIMP Palette\n300 0 0 red\n")
    with pytest.raises(PaletteError, match="line 2"):
        read_gpl(tmp_path / "b.gpl")
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(PaletteError, match="unknown type"):
        read_palette_file(tmp_path / "c.txt")
    with pytest.raises(PaletteError, match="at most 256"):
        Palette(np.zeros((257, 3), np.uint8), ["x"] * 257)
