"""Paint-bucket regions: enclosed areas, gap closing that keeps small regions, specks, line pixels assigned,
adjacency. Generated drawings only."""

import cv2
import numpy as np
import pytest

from lvcd.lineart import RegionConfig, extract_lineart, segment_regions


def shapes(h=120, w=160, gap=0, thickness=1):
    """Lines of a circle (with an eye inside) and a rectangle; `gap` px opened in the rectangle's left side."""
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (45, 60), 30, 1, thickness)
    cv2.circle(m, (45, 60), 4, 1, 1)  # a small closed region: 4-px-radius eye
    cv2.rectangle(m, (90, 20), (150, 100), 1, thickness)
    if gap:
        m[60 : 60 + gap, 88:93] = 0
    return m.astype(bool)


def region_at(reg, x, y):
    return int(reg.labels[y, x])


def test_regions_of_a_drawn_shape():
    lines = shapes()
    reg = segment_regions(lines)
    outside, circle, eye, rect = (
        region_at(reg, 2, 2),
        region_at(reg, 30, 60),
        region_at(reg, 45, 60),
        region_at(reg, 120, 60),
    )
    assert len({outside, circle, eye, rect}) == 4
    assert len(np.unique(reg.labels)) == 4
    assert 0 < reg.area[eye] < 60 and reg.area[circle] > 2000 and reg.area[rect] == 59 * 79
    # every pixel has a region; interior excludes exactly the lines
    assert reg.labels.min() >= 1
    np.testing.assert_array_equal(reg.interior, ~lines)
    # line pixels take a neighbouring region
    ys, xs = np.nonzero(lines)
    for y, x in zip(ys[::25], xs[::25]):
        nb = reg.inner[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3]
        assert reg.labels[y, x] in nb[nb > 0]
    np.testing.assert_allclose(reg.centroid[rect], (120, 60), atol=0.5)
    assert tuple(reg.bbox[rect]) == (91, 21, 150, 100)
    adj = reg.adjacency()
    assert outside in adj[circle] and circle in adj[eye] and eye not in adj[outside]


@pytest.mark.parametrize("gap", [2, 3, 4])
def test_gaps_are_closed_without_losing_small_regions(gap):
    lines = shapes(gap=gap)
    leaky = segment_regions(lines, RegionConfig(gap_radius=0))
    assert region_at(leaky, 120, 60) == region_at(leaky, 2, 2)  # without gap closing the paint leaks
    reg = segment_regions(lines, RegionConfig(gap_radius=2))
    assert region_at(reg, 120, 60) != region_at(reg, 2, 2)
    inside = reg.labels[25:96, 95:146]
    assert (inside == region_at(reg, 120, 60)).all()  # the rectangle is one region ...
    assert (reg.labels[5:15, 5:150] == region_at(reg, 2, 2)).all()  # ... and so is the outside
    assert region_at(reg, 45, 60) not in (region_at(reg, 30, 60), region_at(reg, 2, 2))  # the eye survives


def test_thin_strips_and_specks():
    lines = shapes(thickness=3)
    lines[10:13, 10:13] = True
    lines[11, 11] = False  # a 1-px hole inside a blob of ink: a speck, not a region
    lines[110:119, 5:150] = True
    lines[112:117, 8:147] = False  # a 3-px-high strip region, narrower than a closing ball
    lines[112:117, 8] = True
    reg = segment_regions(lines, RegionConfig(gap_radius=2, speck_area=3))
    assert not reg.interior[11, 11] and reg.labels[11, 11] == reg.labels[5, 5]
    assert reg.labels[114, 60] != reg.labels[105, 60]  # the strip is its own region


def test_all_line_and_blank_frames():
    reg = segment_regions(np.ones((10, 12), bool))
    assert reg.n == 1 and (reg.labels == 1).all() and not reg.interior.any()
    reg = segment_regions(np.zeros((10, 12), bool))
    assert (reg.labels == 1).all() and reg.interior.all() and reg.area[1] == 120


def test_raw_lineart_input_and_xdog_regions_of_flat_colours():
    img = np.full((80, 100, 3), 255, np.uint8)
    cv2.rectangle(img, (10, 10), (50, 60), (200, 40, 40), -1)
    cv2.circle(img, (75, 40), 15, (40, 90, 220), -1)
    la = extract_lineart(img)
    reg = segment_regions(la)
    assert len({reg.labels[35, 30], reg.labels[40, 75], reg.labels[2, 2]}) == 3
    # raw lineart (black on white) goes through the normaliser
    raw = np.where(la.mask, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(segment_regions(raw).labels, reg.labels)


def test_config_errors():
    with pytest.raises(ValueError, match="gap_radius"):
        RegionConfig(gap_radius=-1)
    with pytest.raises(ValueError, match="connectivity"):
        RegionConfig(line_connectivity=6)


def test_gap_radius_stays_small_with_thick_lines():
    from lvcd.lineart.regions import estimate_line_width

    assert estimate_line_width(shapes(thickness=1)) == 1.0
    assert 2.5 <= estimate_line_width(shapes(thickness=3)) <= 5.0  # OpenCV's thick circles are 3-5 px wide
    assert estimate_line_width(np.zeros((8, 8), bool)) == estimate_line_width(np.ones((8, 8), bool)) == 1.0
    # the first pass's radius does not grow with the pen (its ball must fit in thin parts); a second, wide pass does
    thin, thick = RegionConfig().resolved(shapes(thickness=1)), RegionConfig().resolved(shapes(thickness=3))
    assert thin.gap_radius == thick.gap_radius == 1 and thin.min_ball_area == 6
    assert thin.wide_gap_radius == 2 and thick.wide_gap_radius >= 5
    fixed3 = RegionConfig(gap_radius=3, wide_gap_radius=0).resolved(shapes(thickness=3))
    assert fixed3 == RegionConfig(gap_radius=3, min_ball_area=54, wide_gap_radius=0)
    # full-HD-like lineart: 3-px pen, a 9-px gap in the rectangle's left side
    lines = np.zeros((240, 320), np.uint8)
    cv2.rectangle(lines, (180, 40), (300, 200), 1, 3)
    lines[110:119, 176:185] = 0
    lines = lines.astype(bool)
    auto = segment_regions(lines)
    assert auto.labels[120, 240] != auto.labels[5, 5]
    fixed = segment_regions(lines, RegionConfig(gap_radius=2, wide_gap_radius=0))
    assert fixed.labels[120, 240] == fixed.labels[5, 5]


@pytest.mark.parametrize("cells", [3, 6])  # 9 and 36 parts: both ways of `_part_stats` (few parts / many)
def test_split_regions_statistics_match_a_full_recount(cells):
    """Split regions get their area, centroid and bbox from their crop only; they must equal a recount of the frame."""
    from lvcd.lineart.regions import _region_stats

    h, w = 180, 240
    ch, cw = h // cells, w // cells
    m = np.zeros((h, w), bool)
    for i in range(1, cells):  # a grid whose every wall has a 2-px gap: one leaked region, split into its cells
        m[:, i * cw] = True
        m[i * ch, :] = True
        for j in range(cells):
            m[j * ch + ch // 2 : j * ch + ch // 2 + 2, i * cw] = False
            m[i * ch, j * cw + cw // 2 : j * cw + cw // 2 + 2] = False
    assert (segment_regions(m, RegionConfig(gap_radius=0)).area > 0).sum() == 1
    reg = segment_regions(m, RegionConfig(gap_radius=2))
    assert (reg.area > 0).sum() == cells * cells  # every cell its own region
    area, centroid, bbox = _region_stats(reg.inner, reg.n)
    np.testing.assert_array_equal(reg.area, area)
    np.testing.assert_allclose(reg.centroid, centroid)
    np.testing.assert_array_equal(reg.bbox[area > 0], bbox[area > 0])


def _gapped_stripe_keyframe():
    """A box split by a horizontal line with a 6-px gap no gap closing here: one region,
    painted in two paints (red above the line, blue below), plus a 1-px green fringe along the top outline."""
    h, w = 60, 80
    line = np.full((h, w), 255, np.uint8)
    line[[5, 54], 5:75] = 0
    line[5:55, [5, 74]] = 0
    line[36, 5:37] = 0
    line[36, 43:75] = 0  # gap at x = 37..42
    rgb = np.full((h, w, 3), 255, np.uint8)
    rgb[6:36, 6:74] = (200, 30, 30)  # the larger paint: the region keeps its id
    rgb[37:54, 6:74] = (30, 30, 200)
    rgb[6, 6:74] = (30, 200, 30)  # a fringe one pixel thick: not a paint
    return line, rgb


def test_split_by_paint_splits_a_joined_paint_and_keeps_fringes():
    from lvcd.lineart.palette import rgb_codes
    from lvcd.lineart.regions import RegionConfig, segment_regions, split_by_paint

    line, rgb = _gapped_stripe_keyframe()
    regions = segment_regions(line, RegionConfig(gap_radius=0, wide_gap_radius=0))
    codes = rgb_codes(rgb)
    inside = regions.inner[20, 40]
    assert regions.inner[40, 40] == inside  # the gap joined both halves: one region
    split = split_by_paint(regions, codes, min_area=20)
    assert split.inner[20, 40] != split.inner[40, 40]  # two paints, two regions
    red, blue = codes[20, 40], codes[40, 40]
    for y, x in ((20, 40), (40, 40)):
        held = set(np.unique(codes[split.inner == split.inner[y, x]]).tolist())
        assert not {red, blue} <= held  # no region holds both paints any more
    assert split.n == regions.n + 1  # the 1-px green fringe (68 px) is not a paint: it stays with its region
    assert split.inner[6, 40] == split.inner[20, 40]
    assert split.area.sum() == regions.area.sum()
    assert (split.labels > 0).all()
    assert split_by_paint(split, codes, min_area=20) is split  # nothing left to split


def test_split_by_paint_leaves_one_paint_regions_alone():
    from lvcd.lineart.palette import rgb_codes
    from lvcd.lineart.regions import RegionConfig, segment_regions, split_by_paint

    line, rgb = _gapped_stripe_keyframe()
    rgb[37:54, 6:74] = (200, 30, 30)
    regions = segment_regions(line, RegionConfig(gap_radius=0, wide_gap_radius=0))
    assert split_by_paint(regions, rgb_codes(rgb), min_area=20) is regions


def test_pair_counts_and_the_most_common_value_of_each_group():
    """`pair_counts` counts each (a, b) pair of two label images (optionally where a mask says); `rank_pairs` puts
    each group's most common value first, ties to the smaller value, whatever order the pairs come in."""
    from lvcd.lineart.regions import pair_counts, rank_pairs

    a = np.array([[1, 1, 1, 2], [1, 2, 2, 2], [3, 3, 0, 0]])
    b = np.array([[5, 5, 7, 9], [7, 4, 4, 9], [6, 2, 6, 6]])
    ga, gb, cnt = pair_counts(a, b)
    assert list(zip(ga.tolist(), gb.tolist(), cnt.tolist())) == [
        (0, 6, 2),
        (1, 5, 2),
        (1, 7, 2),
        (2, 4, 2),
        (2, 9, 2),
        (3, 2, 1),
        (3, 6, 1),
    ]
    sel = np.zeros(a.shape, bool)
    sel[0] = True
    ga, gb, cnt = pair_counts(a, b, sel)
    assert list(zip(ga.tolist(), gb.tolist(), cnt.tolist())) == [(1, 5, 2), (1, 7, 1), (2, 9, 1)]
    group = np.array([4, 1, 4, 1, 4, 2])
    value = np.array([8, 3, 2, 9, 5, 7])
    count = np.array([3, 5, 3, 6, 1, 2])
    order, first = rank_pairs(group, value, count)
    assert group[order].tolist() == [1, 1, 2, 4, 4, 4]
    assert value[order].tolist() == [9, 3, 7, 2, 8, 5]  # most common first; 4's tie (3, 3) goes to the smaller value
    assert value[order[first]].tolist() == [9, 7, 2]
    perm = np.array([5, 3, 0, 4, 2, 1])  # the same pairs in another order: the same winners
    order, first = rank_pairs(group[perm], value[perm], count[perm])
    assert value[perm][order[first]].tolist() == [9, 7, 2]
