"""The region-graph fallback of the paint-bucket matcher (lvcd/backends/bucket_match.py) on hand-built frames: a
region no source explains takes the paint of the best-matching source region, and not, when another fits nearly as
well, a paint a decided neighbour already has (a line parts two paints)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from disc_frames import disc_frame  # noqa: E402

from lvcd.backends.bucket import BucketColorizer, BucketConfig  # noqa: E402
from lvcd.lineart import normalize_lineart  # noqa: E402
from lvcd.lineart.regions import segment_regions  # noqa: E402

RED, BLUE = (200, 30, 30), (30, 30, 200)


def _frame(discs):
    """(lineart, colours) of discs (x, colour) of radius 15."""
    return disc_frame([(x, 15, colour) for x, colour in discs])


@pytest.mark.parametrize("left, expected", [(RED, BLUE), (BLUE, RED)])
def test_the_fallback_avoids_a_decided_neighbours_paint(left, expected):
    """The keyframe has a red disc at x = 66 and a blue one at x = 122, apart. The current frame has two touching
    discs at x = 60 (decided: `left`) and x = 90 (undecided, no votes). By shape and place the undecided disc is
    nearer the red keyframe disc, but when its neighbour is red it takes blue: the two discs are parted by a line."""
    colorizer = BucketColorizer(BucketConfig())
    line0, rgb0 = _frame([(66, RED), (122, BLUE)])
    (key,) = colorizer.prepare_keyframes([(0, rgb0, line0)])
    paint = {c: int(key.frame.color[key.frame.regions.inner[48, x]]) for x, c in [(66, RED), (122, BLUE)]}
    assert paint[RED] != paint[BLUE]
    red, blue = (int(key.frame.regions.inner[48, x]) for x in (66, 122))
    assert red not in key.frame.regions.adjacency()[blue]  # the neighbour colours of both are the ground's alone
    line1, _ = _frame([(60, left), (90, left)])
    regions = segment_regions(normalize_lineart(line1, colorizer.config.lineart), colorizer._regions_cfg)
    a, b, ground = (int(regions.inner[48, x]) for x in (60, 90, 5))
    assert len({a, b, ground}) == 3 and a in regions.adjacency()[b]
    color = np.zeros(regions.n + 1, np.int32)
    color[ground] = int(key.frame.color[key.frame.regions.inner[5, 5]])
    color[a] = paint[left]
    undecided = np.zeros(regions.n + 1, bool)
    undecided[b] = True
    score = np.zeros((regions.n + 1, len(colorizer.palette)), np.float32)
    out = colorizer._graph_fallback(regions, color.copy(), undecided, score, [key.frame], None)
    assert out[b] == paint[expected]
    assert out[a] == paint[left] and out[ground] == color[ground]  # decided regions keep their paints
