"""Pinholes through strokes: closed along the stroke, so a thin part whose outline has one stays its own region, while
the paint strip between two parallel strokes and small closed regions are left as drawn. Generated drawings only."""

import cv2
import numpy as np
import pytest

from lvcd.lineart import RegionConfig, segment_regions
from lvcd.lineart.gaps import stroke_holes


def rim(hole: int, angle: float = 0.0, line: int = 3, strip: int = 2, size: int = 160):
    """A closed band (a thin 'rim' `strip` px wide between two outlines `line` px thick) around a square, drawn at
    `angle` degrees; the outer outline has a pinhole `hole` px wide right through it on the top side. Returns the line
    mask and the points (x, y) of the outside, the rim and the inside."""
    c, half = size / 2, 30.0
    a = np.deg2rad(angle)
    ys, xs = np.mgrid[0:size, 0:size] + 0.5 - c
    u, v = np.cos(a) * xs + np.sin(a) * ys, -np.sin(a) * xs + np.cos(a) * ys  # the square's own axes
    d = np.maximum(np.abs(u), np.abs(v))  # 'radius' of the square through each pixel
    inner = (d > half) & (d <= half + line)
    outer = (d > half + line + strip) & (d <= half + 2 * line + strip)
    if hole:
        outer &= ~((v < 0) & (np.abs(u) < hole / 2))
    r = half + line + strip / 2  # the rim's middle, on the bottom side
    on_rim = (round(c - np.sin(a) * r), round(c + np.cos(a) * r))
    return inner | outer, (2, 2), on_rim, (int(c), int(c))


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0])
@pytest.mark.parametrize("hole", [2, 3])
def test_a_thin_rim_with_a_pinhole_in_its_outline_stays_its_own_region(hole, angle):
    lines, outside, on_rim, inside = rim(hole, angle)
    joined = segment_regions(lines)  # the default: no hole closing
    assert joined.inner[outside[1], outside[0]] == joined.inner[on_rim[1], on_rim[0]], "the drawing must leak"
    reg = segment_regions(lines, RegionConfig(hole_length=5))
    ids = {int(reg.inner[y, x]) for x, y in (outside, on_rim, inside)}
    assert 0 not in ids and len(ids) == 3
    rim_id = int(reg.inner[on_rim[1], on_rim[0]])
    # the rim is whole: one region around the square, with nearly all of the band's area (what the closing takes is
    # the pinhole and a few jagged pixels of the turned lines)
    band = segment_regions(rim(0, angle)[0], RegionConfig(hole_length=0))
    full = int(band.area[int(band.inner[on_rim[1], on_rim[0]])])
    assert 0.95 * full <= int(reg.area[rim_id]) <= full


def test_the_strip_between_parallel_strokes_and_small_regions_stay_open():
    m = np.zeros((80, 120), np.uint8)
    cv2.line(m, (5, 30), (115, 30), 1, 2)  # two parallel strokes with a 2-px strip between them
    cv2.line(m, (5, 34), (115, 34), 1, 2)
    cv2.circle(m, (60, 60), 3, 1, 1)  # a pupil-sized closed region, 5 px across
    ys, xs = stroke_holes(m.astype(bool), 5)
    assert not ((ys >= 31) & (ys < 34) & (xs >= 10) & (xs < 110)).any()
    reg = segment_regions(m.astype(bool), RegionConfig(hole_length=5))
    assert reg.area[reg.inner[32, 60]] > 100
    pupil = int(reg.inner[60, 60])
    assert pupil and pupil != int(reg.inner[5, 5]) and reg.area[pupil] >= 9


def test_hole_length_is_validated():
    with pytest.raises(ValueError, match="hole_length"):
        RegionConfig(hole_length=1)
    with pytest.raises(ValueError, match="hole_length"):
        RegionConfig(hole_length=-2)


def test_a_clean_drawing_is_segmented_as_drawn():
    """Hole closing only splits: on closed outlines (no pinhole) it changes no pixel, corners and notches included."""
    m = np.zeros((120, 160), np.uint8)
    cv2.circle(m, (45, 60), 30, 1, 1)
    cv2.circle(m, (45, 60), 4, 1, 1)
    cv2.rectangle(m, (90, 20), (150, 100), 1, 1)
    cv2.ellipse(m, (120, 60), (20, 8), 30, 0, 360, 1, 2)
    plain = segment_regions(m.astype(bool))
    closed = segment_regions(m.astype(bool), RegionConfig(hole_length=5))
    np.testing.assert_array_equal(plain.labels, closed.labels)
    np.testing.assert_array_equal(plain.interior, closed.interior)
