"""Palette extraction and the flat-colour snapper: noisy frames snap back to exact palette colours, and hysteresis
keeps a region on one entry across a flickering sequence. Generated frames only."""

import cv2
import numpy as np
import pytest

from lvcd.lineart import PaletteConfig, PaletteSnapper, extract_palette

PALETTE = np.array([[250, 215, 180], [200, 60, 60], [60, 120, 220], [245, 245, 245], [110, 170, 90]], np.uint8)


def cel(h=96, w=128, aa=True):
    """(flat colour frame with anti-aliased black lines, its lineart, region colour index map)."""
    idx = np.full((h, w), 4, np.uint8)
    cv2.rectangle(idx, (10, 10), (60, 80), 1, -1)
    cv2.circle(idx, (35, 35), 15, 0, -1)
    cv2.circle(idx, (95, 50), 25, 2, -1)
    cv2.ellipse(idx, (95, 45), (8, 5), 0, 0, 360, 3, -1)
    lines = np.zeros((h, w), np.uint8)
    lt = cv2.LINE_AA if aa else cv2.LINE_8
    cv2.rectangle(lines, (10, 10), (60, 80), 255, 1, lt)
    cv2.circle(lines, (35, 35), 15, 255, 1, lt)
    cv2.circle(lines, (95, 50), 25, 255, 1, lt)
    cv2.ellipse(lines, (95, 45), (8, 5), 0, 0, 360, 255, 1, lt)
    a = lines.astype(np.float32)[..., None] / 255.0
    rgb = np.round(PALETTE[idx] * (1 - a)).astype(np.uint8)  # black ink, anti-aliased onto the paint
    return rgb, 255 - lines, idx


def test_palette_is_the_flat_colours_without_antialiasing_blends():
    rgb, lineart, _ = cel()
    for pal in (extract_palette(rgb, lineart), extract_palette(rgb)):
        assert {tuple(c) for c in pal} == {tuple(c) for c in PALETTE}


def test_palette_merges_compression_noise():
    rgb, lineart, _ = cel(aa=False)
    noisy = np.clip(rgb.astype(int) + np.random.default_rng(0).integers(-2, 3, rgb.shape), 0, 255).astype(np.uint8)
    pal = extract_palette(noisy, lineart)
    assert len(pal) == len(PALETTE)
    assert np.abs(pal.astype(int)[:, None] - PALETTE.astype(int)[None]).sum(2).min(1).max() <= 6


def test_shaded_reference_falls_back_to_kmeans():
    gx, gy = np.meshgrid(np.linspace(0, 255, 64), np.linspace(0, 255, 48))
    grad = np.dstack([gx, gy, np.full((48, 64), 128.0)])
    pal = extract_palette(grad.astype(np.uint8), config=PaletteConfig(max_colors=8, flat_tolerance=8))
    assert 1 <= len(pal) <= 8 and pal.dtype == np.uint8


def test_noisy_frame_snaps_back_to_exact_palette_colours():
    rgb, lineart, idx = cel()
    snapper = PaletteSnapper(PALETTE)
    noisy = np.clip(rgb.astype(np.float32) + np.random.default_rng(1).normal(0, 12, rgb.shape), 0, 255)
    out = snapper.snap(noisy.astype(np.uint8), lineart)
    lines = (255 - lineart) > 0
    np.testing.assert_array_equal(out[~lines], PALETTE[idx][~lines])
    assert {tuple(c) for c in out.reshape(-1, 3)} <= {tuple(c) for c in PALETTE}  # lines too: flat everywhere


def test_hysteresis_on_a_flickering_sequence():
    a, b = PALETTE[0].astype(float), PALETTE[3].astype(float)  # skin vs eye white: 70 RGB units apart
    mid = (a + b) / 2
    towards_b = (b - a) / np.linalg.norm(b - a)
    rgb, lineart, idx = cel()
    lines = cv2.dilate(((255 - lineart) > 0).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    region = (idx == 0) & ~lines  # the face circle's paint
    frames = []
    for t in range(10):  # the face's colour wobbles across the midpoint between the two entries
        f = rgb.copy()
        f[region] = np.round(mid + (4 if t % 2 else -4) * towards_b)
        frames.append(f)
    sticky = PaletteSnapper(PALETTE)
    outs = [sticky.snap(f, lineart) for f in frames]
    first = outs[0][region][0]
    assert all((o[region] == first).all() for o in outs)  # no flicker ...
    fresh = [PaletteSnapper(PALETTE).snap(f, lineart)[region][0] for f in frames]
    assert len({tuple(c) for c in fresh}) == 2  # ... where a memoryless snap would flicker every frame
    # a real change (beyond the margin) does switch, and reset() forgets the past
    f = rgb.copy()
    f[region] = b
    assert (sticky.snap(f, lineart)[region] == b).all()
    sticky.reset()
    assert sticky._prev is None


def test_errors_teach():
    with pytest.raises(ValueError, match="palette"):
        PaletteSnapper(np.zeros((0, 3)))
    rgb, lineart, _ = cel()
    with pytest.raises(ValueError, match="own lineart"):
        PaletteSnapper(PALETTE).snap(rgb, lineart[:50])
    with pytest.raises(ValueError, match="uint8"):
        extract_palette(rgb.astype(np.float32))
