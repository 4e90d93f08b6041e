"""Shot palettes, the named-palette snap and the RGB -> (paint beneath, ink) decomposition on synthetic cels with
anti-aliased lines drawn by lvcd.lineart.composite_lines (the --keep-lines step)."""

import numpy as np
import pytest

from lvcd.deliver.paints import (
    NamedSnap,
    Palette,
    PaletteError,
    build_palette,
    decompose,
    merge_palettes,
    parse_named_palette,
    to_indices,
)
from lvcd.lineart import composite_lines

PAINTS = np.array([[200, 60, 60], [110, 170, 90], [250, 220, 80]], np.uint8)


def cel(h=48, w=64):
    """Three flat paints in vertical bands; an anti-aliased black line (strength ramps 0..1..0) along each border."""
    flat = np.empty((h, w, 3), np.uint8)
    flat[:, :20], flat[:, 20:44], flat[:, 44:] = PAINTS
    strength = np.zeros((h, w), np.float32)
    for x in (20, 44):
        for dx, s in zip(range(-2, 3), (0.25, 0.7, 1.0, 0.55, 0.2), strict=True):
            strength[:, x + dx] = s
    line = np.repeat(np.round(255 * (1 - strength))[..., None], 3, axis=2).astype(np.uint8)  # black on white
    return flat, line, strength


def test_decompose_recovers_paint_and_ink_coverage():
    flat, line, strength = cel()
    out = composite_lines(flat, line, polarity="black-on-white")
    pal = build_palette(PAINTS)
    under, alpha, foreign = decompose(out, pal)
    assert foreign == 0
    idx_of = {tuple(c): i for i, c in enumerate(pal.colours.tolist())}
    truth = np.vectorize(lambda x: idx_of[tuple(PAINTS[0 if x < 20 else 1 if x < 44 else 2].tolist())])(
        np.arange(flat.shape[1])
    )
    partial = (strength > 0) & (strength < 1)
    # the paint beneath is right wherever it shows at all; fully inked pixels take a neighbouring paint
    assert (under[partial] == np.broadcast_to(truth, under.shape)[partial]).all()
    assert (under[strength == 0] == np.broadcast_to(truth, under.shape)[strength == 0]).all()
    assert not (under == pal.line_index).any()
    assert np.abs(alpha - strength).max() <= 1.5 / 255 * 3  # rounding of the 8-bit composite
    idx, *_ = to_indices(out, pal)
    assert ((idx == 0) == (strength >= 0.5)).all()
    # paints + ink layer recompose the composite within rounding
    recomposed = pal.colours[under].astype(np.float32) * (1 - np.round(alpha * 255)[..., None] / 255)
    assert np.abs(np.round(recomposed) - out).max() <= 1


def test_flat_frames_are_exact_lookups():
    flat, _, _ = cel()
    pal = build_palette(PAINTS)
    idx, under, alpha, foreign = to_indices(flat, pal)
    assert foreign == 0 and not alpha.any()
    np.testing.assert_array_equal(pal.colours[idx], flat)


def test_foreign_colours_are_counted():
    flat, _, _ = cel()
    flat[0, 0] = (0, 0, 255)
    *_, foreign = to_indices(flat, build_palette(PAINTS))
    assert foreign == 1


def test_named_snap_moves_only_near_paints_and_keeps_ink():
    flat, line, strength = cel()
    out = composite_lines(flat, line, polarity="black-on-white")
    named = parse_named_palette({"hair": "#c93e3b", "far": [0, 0, 255]})  # (201, 62, 59) ~ (200, 60, 60)
    snapped = NamedSnap(PAINTS, named)(out)
    band = np.zeros(flat.shape[:2], bool)
    band[:, :18] = True  # red paint, away from the line
    assert (snapped[band] == (201, 62, 59)).all()
    other = np.zeros_like(band)
    other[:, 23:42] = True  # green paint: untouched, bit for bit
    np.testing.assert_array_equal(snapped[other], out[other])
    # the anti-aliased edge of the red band is recomposed over the new red with the same ink
    a = strength[:, 19][0]
    want = np.round(np.array([201, 62, 59]) * (1 - a))
    assert np.abs(snapped[0, 19].astype(int) - want).max() <= 1
    pal = build_palette(PAINTS, named)
    assert pal.names == ["line", "hair", "far", "#6eaa5a", "#fadc50"]
    _, _, _, foreign = to_indices(snapped, pal)
    assert foreign == 0


def test_merge_keeps_first_indices_and_adds_new_colours():
    a = build_palette(PAINTS, parse_named_palette({"red": "#c83c3c"}))
    b = build_palette(np.array([[110, 170, 90], [1, 1, 1]], np.uint8), parse_named_palette({"red": "#c83c3c"}))
    m = merge_palettes([a, b])
    assert m.colours[: len(a)].tolist() == a.colours.tolist()
    assert m.colours[len(a) :].tolist() == [[1, 1, 1]]
    assert m.index_of((200, 60, 60)) == 1


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"hair": "d03c4"}, "#rrggbb"),
        ({"hair": [1, 2, 300]}, "0-255"),
        ({"a": "#000001", "b": "#000001"}, "same colour"),
        (["#000000"], "mapping"),
    ],
)
def test_named_palette_errors_teach(bad, match):
    with pytest.raises(PaletteError, match=match):
        parse_named_palette(bad)


def test_options_validate_palette():
    from lvcd.api import ColorizeOptions

    with pytest.raises(ValueError, match="quoted in YAML"):
        ColorizeOptions(palette={"hair": 12})
    assert ColorizeOptions(palette={"hair": "#d03c40"}).palette == {"hair": "#d03c40"}


def test_palette_needs_names_per_colour():
    with pytest.raises(ValueError, match="one name per colour"):
        Palette(np.zeros((2, 3), np.uint8), ["x"])


def test_decompose_in_chunks_gives_the_same_result(monkeypatch):
    import lvcd.deliver.paints as paints

    flat, line, _ = cel()
    out = composite_lines(flat, line, polarity="black-on-white")
    pal = build_palette(PAINTS)
    whole = decompose(out, pal)
    monkeypatch.setattr(paints, "DECOMPOSE_CHUNK", 7)
    parts = decompose(out, pal)
    np.testing.assert_array_equal(whole[0], parts[0])
    np.testing.assert_array_equal(whole[1], parts[1])
    assert whole[2] == parts[2]
