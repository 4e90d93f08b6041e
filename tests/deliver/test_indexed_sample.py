"""`--format indexed` on the bundled sample (lvcd/data/sample, shot 1): the palette PNGs decode bit-exactly to the
RGB render of the same options, the palette holds exactly the keyframe's paints plus the line colour, and the
--layers sequences composite back to the RGB render."""

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvcd import api

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "lvcd" / "data" / "sample"
FRAMES = 12  # shot 1 starts at frame 0 with reference.png; 12 frames keep the test short


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("sample") / "line"
    d.mkdir()
    for i in range(FRAMES):
        shutil.copy(SAMPLE / "line" / f"{i:04d}.png", d / f"{i:04d}.png")
    return d


def render(clip, out, **opts):
    api.colorize_video(clip, SAMPLE / "reference.png", out, backend="bucket", quiet=True, drift=False, **opts)
    return out


def rgb_frames(folder):
    return [np.asarray(Image.open(f).convert("RGB")) for f in sorted(Path(folder).glob("frame_*.png"))]


def png_chunks(path):
    """PNG chunks (type, data), read from the PNG specification: 8-byte signature, then length / type / data / CRC."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        out.append((kind.decode(), body))
        pos += 12 + n
    return out


def keyframe_paints():
    """The keyframe's paints, computed here: the reference's colours wherever the keyframe's lineart is paper."""
    ref = np.asarray(Image.open(SAMPLE / "reference.png").convert("RGB"))
    line = np.asarray(Image.open(SAMPLE / "line" / "0000.png").convert("L"))
    return {tuple(c) for c in np.unique(ref[line > 127], axis=0).tolist()}


@pytest.fixture(scope="module")
def flat(clip, tmp_path_factory):
    d = tmp_path_factory.mktemp("flat")
    return render(clip, d / "rgb", fmt="png"), render(clip, d / "idx", fmt="indexed")


@pytest.fixture(scope="module")
def lined(clip, tmp_path_factory):
    d = tmp_path_factory.mktemp("lined")
    return (
        render(clip, d / "rgb", fmt="png", keep_lines=True),
        render(clip, d / "idx", fmt="indexed", keep_lines=True, layers=True),
    )


def test_indexed_decodes_bit_exactly_to_the_rgb_render(flat):
    rgb, idx = flat
    files = sorted(idx.glob("frame_*.png"))
    assert len(files) == FRAMES
    for f, want in zip(files, rgb_frames(rgb), strict=True):
        with Image.open(f) as im:
            assert im.mode == "P"
            got = np.asarray(im.convert("RGB"))
        np.testing.assert_array_equal(got, want)


def test_palette_is_the_keyframe_paints_and_the_line_colour(flat):
    _, idx = flat
    meta = json.loads((idx / "palette.json").read_text())
    cols = [tuple(e["rgb"]) for e in meta["entries"]]
    assert cols[0] == (0, 0, 0) and meta["entries"][0]["name"] == "line" and meta["line_index"] == 0
    assert set(cols[1:]) == keyframe_paints() and len(cols) == len(set(cols))
    assert cols[1:] == sorted(cols[1:])  # stable order: by value
    assert sum(e["pixels"] for e in meta["entries"]) == FRAMES * 256 * 192
    assert meta["fps"] == "24" and meta["frames"] == FRAMES
    # every frame carries exactly this palette (PLTE) as indices (IHDR colour type 3; Pillow packs <= 16 entries in
    # 4 bits a pixel)
    for f in sorted(idx.glob("frame_*.png"))[:3]:
        chunks = dict(png_chunks(f))
        w, h, depth, colour_type = struct.unpack(">IIBB", chunks["IHDR"][:10])
        assert (w, h, depth, colour_type) == (256, 192, 4 if len(cols) <= 16 else 8, 3)
        plte = np.frombuffer(chunks["PLTE"], np.uint8).reshape(-1, 3)
        assert [tuple(c) for c in plte.tolist()] == cols


def test_recolour_round_trip_on_the_sample(flat, tmp_path):
    """The README's round trip: render indexed, edit one entry of palette.gpl, recolour."""
    from lvcd.cli import main

    _, idx = flat
    lines = (idx / "palette.gpl").read_text().splitlines()
    k = next(
        i for i, e in enumerate(json.loads((idx / "palette.json").read_text())["entries"]) if e["hex"] == "#aad2f0"
    )  # the sky
    row = lines.index(next(r for r in lines if r.endswith("#aad2f0")))
    lines[row] = "255 128   0\tsky"
    (tmp_path / "edited.gpl").write_text("\n".join(lines) + "\n")
    assert (
        main(["recolour", str(idx), "--palette", str(tmp_path / "edited.gpl"), "-o", str(tmp_path / "re"), "--quiet"])
        == 0
    )
    for f, g in zip(sorted(idx.glob("frame_*.png")), sorted((tmp_path / "re").glob("frame_*.png")), strict=True):
        i = np.asarray(Image.open(f))
        before, after = np.asarray(Image.open(f).convert("RGB")), np.asarray(Image.open(g).convert("RGB"))
        np.testing.assert_array_equal((before != after).any(-1), i == k)
        assert (after[i == k] == (255, 128, 0)).all() and (i == k).any()


def test_keep_lines_decodes_exactly_and_layers_composite_back(lined):
    rgb, idx = lined
    want = rgb_frames(rgb)
    for f, w in zip(sorted(idx.glob("frame_*.png")), want, strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(f).convert("RGB")), w)  # the sample's lines are binary
    meta = json.loads((idx / "palette.json").read_text())
    assert meta["entries"][0]["pixels"] > 0  # the ink went to the line entry
    layers = sorted(p for p in (idx / "layers").iterdir() if p.name != "lines")
    assert layers and all(len(list(p.glob("frame_*.png"))) == FRAMES for p in layers)
    assert len(list((idx / "layers" / "lines").glob("frame_*.png"))) == FRAMES
    for n in (0, FRAMES - 1):
        name = f"frame_{n:06d}.png"
        acc = np.zeros((192, 256, 3), np.float32)
        cover = np.zeros((192, 256), np.float32)
        for layer in layers + [idx / "layers" / "lines"]:
            im = np.asarray(Image.open(layer / name).convert("RGBA")).astype(np.float32)
            a = im[..., 3:] / 255.0
            acc = acc * (1 - a) + im[..., :3] * a
            cover = np.maximum(cover, a[..., 0])
        assert (cover == 1).all()  # the paint layers leave no hole, under the lines included
        assert np.abs(np.round(acc) - want[n]).max() <= 1


def test_snap_renders_index_too(clip, tmp_path):
    rgb = render(clip, tmp_path / "rgb", fmt="png", snap=True)
    idx = render(clip, tmp_path / "idx", fmt="indexed", snap=True)
    for f, w in zip(sorted(idx.glob("frame_*.png")), rgb_frames(rgb), strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(f).convert("RGB")), w)
    from lvcd.lineart.palette import extract_palette

    ref = np.asarray(Image.open(SAMPLE / "reference.png").convert("RGB"))
    cols = [tuple(e["rgb"]) for e in json.loads((idx / "palette.json").read_text())["entries"]]
    assert set(cols) == {tuple(c) for c in extract_palette(ref).tolist()} | {(0, 0, 0)}


def test_named_palette_snaps_and_names(clip, tmp_path):
    # the keyframe's sky is (170, 210, 240) and its hair (90, 60, 40): name them with slightly different values
    named = {"sky": "#abd3ef", "hair": "#5a3c28", "unused": "#0000ff"}
    idx = render(clip, tmp_path / "idx", fmt="indexed", palette=named)
    meta = json.loads((idx / "palette.json").read_text())
    e = meta["entries"]
    assert [x["name"] for x in e[:4]] == ["line", "sky", "hair", "unused"]
    assert e[1]["hex"] == "#abd3ef" and e[1]["pixels"] > 0 and e[3]["pixels"] == 0
    assert (170, 210, 240) not in {tuple(x["rgb"]) for x in e}
    frame = np.asarray(Image.open(idx / "frame_000000.png").convert("RGB"))
    assert (frame == (0xAB, 0xD3, 0xEF)).all(-1).sum() > 1000  # the sky, at the named value
    assert not (frame == (170, 210, 240)).all(-1).any()
    assert "sky" in (idx / "palette.gpl").read_text()


def test_indexed_refuses_unflat_output_before_rendering(clip, tmp_path):
    from lvcd.deliver.shots import IndexedFormatError, check_indexed

    with pytest.raises(IndexedFormatError, match="--snap"):
        check_indexed("diffusion", False)
    check_indexed("diffusion", True)
    check_indexed("bucket", False)
    with pytest.raises(ValueError, match="IndexedWriter"):
        from lvcd.video import open_writer

        open_writer(tmp_path / "x", 24, (8, 8), fmt="indexed")


@pytest.mark.slow
def test_diffusion_with_snap_renders_indexed(clip, tmp_path, tiny_pipeline_dir):
    tiny = {"backend": "diffusion", "model": str(tiny_pipeline_dir), "steps": 1, "size": (64, 64)}
    ref = SAMPLE / "reference.png"
    with pytest.raises(ValueError, match="--snap"):
        api.colorize_video(clip, ref, tmp_path / "no", fmt="indexed", quiet=True, **tiny)
    assert not (tmp_path / "no").exists()
    for fmt in ("png", "indexed"):
        api.colorize_video(
            clip, ref, tmp_path / fmt, fmt=fmt, snap=True, keep_lines=True, quiet=True, drift=False, **tiny
        )
    for f, w in zip(sorted((tmp_path / "indexed").glob("frame_*.png")), rgb_frames(tmp_path / "png"), strict=True):
        np.testing.assert_array_equal(np.asarray(Image.open(f).convert("RGB")), w)


def test_soft_lines_map_to_line_or_paint_and_layers_keep_the_antialiasing(tmp_path):
    """Anti-aliased lineart with --keep-lines: where the RGB render is a palette colour the indexed frame is that
    colour; an ink blend is the line entry when at least half ink, else the paint beneath; the layers (paints +
    lines with alpha) give back the RGB render within one level."""
    import cv2

    soft = tmp_path / "soft"
    soft.mkdir()
    for i in range(6):
        g = cv2.GaussianBlur(np.asarray(Image.open(SAMPLE / "line" / f"{i:04d}.png").convert("L")), (3, 3), 0.8)
        Image.fromarray(g).save(soft / f"{i:04d}.png")
    rgb = render(soft, tmp_path / "rgb", fmt="png", keep_lines=True)
    idx = render(soft, tmp_path / "idx", fmt="indexed", keep_lines=True, layers=True)
    meta = json.loads((idx / "palette.json").read_text())
    pal = np.array([e["rgb"] for e in meta["entries"]], np.uint8)
    codes = lambda a: (a[..., 0].astype(np.int64) << 16) | (a[..., 1].astype(np.int64) << 8) | a[..., 2]  # noqa: E731
    blends = 0
    for n, (f, want) in enumerate(zip(sorted(idx.glob("frame_*.png")), rgb_frames(rgb), strict=True)):
        i = np.asarray(Image.open(f))
        got = pal[i]
        exact = np.isin(codes(want), codes(pal))
        np.testing.assert_array_equal(got[exact], want[exact])
        blend = ~exact
        blends += int(blend.sum())
        # a blend's index is the line or a paint that, darkened towards black, gives the pixel
        dark = (want[blend].astype(int) <= got[blend].astype(int) + 1).all(-1) | (i[blend] == 0)
        assert dark.all()
        name = f"frame_{n:06d}.png"
        acc = np.zeros(want.shape, np.float32)
        for layer in sorted((idx / "layers").iterdir(), key=lambda p: p.name == "lines"):
            im = np.asarray(Image.open(layer / name).convert("RGBA")).astype(np.float32)
            acc = acc * (1 - im[..., 3:] / 255) + im[..., :3] * (im[..., 3:] / 255)
        assert np.abs(np.round(acc) - want).max() <= 1
    assert blends > 1000  # the lines really were soft
