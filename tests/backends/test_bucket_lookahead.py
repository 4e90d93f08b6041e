"""Look-ahead revision of weakly backed colours (lvcd/backends/bucket_lookahead.py): frames come out in order, each
once, `frames` frames late; a region no keyframe backed takes the colour a later frame's keyframe-backed region
hands back along the regions that continue it; a region backed with another colour stops that walk; regions that
make up a small share of the one they joined are not linked."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from eval_bucket import colorize_clip  # noqa: E402
from make_cel_bench import CLIPS, make_clip  # noqa: E402

from lvcd.backends.bucket import BucketConfig  # noqa: E402
from lvcd.backends.bucket_lookahead import Held, Lookahead  # noqa: E402
from lvcd.lineart.palette import rgb_codes  # noqa: E402
from lvcd.lineart.regions import Regions, _region_stats  # noqa: E402


def _regions(inner: np.ndarray) -> Regions:
    n = int(inner.max())
    area, centroid, bbox = _region_stats(inner, n)
    return Regions(labels=inner, interior=inner > 0, n=n, area=area, centroid=centroid, bbox=bbox, inner=inner)


TWO = np.zeros((20, 30), np.int32)
TWO[:, :15], TWO[:, 15:] = 1, 2  # region 1 on the left, 2 on the right


def _held(i, color, backed, inner=TWO):
    return Held(
        i,
        None,
        _regions(inner),
        np.array(color, np.int32),
        np.full(len(color), 0.3, np.float32),
        np.array(backed, np.float32),
    )


def _still(inner=TWO):
    return inner.astype(np.int64)  # the previous frame's region under each pixel: nothing moved


def test_frames_come_out_in_order_once_and_late():
    ahead = Lookahead(3)
    out = []
    for i in range(7):
        ready = ahead.push(_held(i, [0, 1, 2], [1, 1, 1]), _still() if i else None)
        assert len(ready) == (1 if i >= 3 else 0)
        out += ready
    out += ahead.flush()
    assert [h.index for h in out] == list(range(7))
    assert ahead.flush() == []
    none = Lookahead(0)
    assert [h.index for h in none.push(_held(0, [0, 1, 2], [1, 0, 0]), None)] == [0]


def test_a_weak_colour_takes_the_one_a_later_frame_backs():
    ahead = Lookahead(4)
    ahead.push(_held(0, [0, 1, 2], [1, 0.1, 1]), None)  # region 1: a guess
    ahead.push(_held(1, [0, 1, 2], [1, 0.2, 1]), _still())  # still carried, still unbacked
    ahead.push(_held(2, [0, 3, 2], [1, 0.9, 1]), _still())  # found again: the keyframe backs paint 3
    f0, f1, f2 = ahead.flush()
    assert f0.color.tolist() == [0, 3, 2] and f1.color.tolist() == [0, 3, 2] and f2.color.tolist() == [0, 3, 2]
    assert f1.conf[1] > f0.conf[1] > 0.3  # the nearer the evidence, the surer
    assert f0.conf[2] == pytest.approx(0.3)  # backed regions are left alone


def test_a_region_backed_with_another_colour_stops_the_walk():
    ahead = Lookahead(4)
    ahead.push(_held(0, [0, 1, 2], [1, 0.1, 1]), None)
    ahead.push(_held(1, [0, 4, 2], [1, 0.75, 1]), _still())  # backed, if not surely, with paint 4
    ahead.push(_held(2, [0, 3, 2], [1, 0.9, 1]), _still())
    f0, f1, _ = ahead.flush()
    assert f1.color[1] == 4 and f0.color[1] == 1


def test_a_region_that_makes_up_a_small_share_of_the_one_it_joined_is_not_linked():
    strip = np.full_like(TWO, 2)
    strip[:, :3] = 1  # region 1: a strip, a tenth of the frame
    one = np.ones_like(TWO)  # the two merged into one (a gap closed): region 2 makes up most of it, region 1 a tenth
    ahead = Lookahead(4)
    ahead.push(_held(0, [0, 1, 2], [1, 0.1, 0.1], inner=strip), None)
    ahead.push(_held(1, [0, 3], [1, 1.0], inner=one), _still(strip))
    f0, _ = ahead.flush()
    assert f0.color.tolist() == [0, 1, 3]


def test_a_region_that_joined_a_larger_one_still_takes_its_colour_back():
    fifth = np.full_like(TWO, 2)
    fifth[:, :6] = 1  # region 1: a fifth of the frame
    grown = np.full_like(TWO, 2)
    grown[:, :24] = 1  # region 1 grown to four times its size (a piece revealed beside it joined it)
    ahead = Lookahead(4)
    ahead.push(_held(0, [0, 1, 2], [1, 0.1, 1], inner=fifth), None)
    ahead.push(_held(1, [0, 3, 2], [1, 1.0, 1], inner=grown), _still(fifth))
    f0, _ = ahead.flush()
    assert f0.color.tolist() == [0, 3, 2]


def test_negative_lookahead_is_refused():
    with pytest.raises(ValueError, match="lookahead"):
        Lookahead(-1)


def test_a_character_found_again_repaints_the_frames_it_was_lost_in():
    """`fast_squash` seed 1: character 0 hops down behind character 1, its tracker loses it at the bottom of the hop
    (frames 29-32) and finds it again at frame 33. Meanwhile its head, a region no keyframe backs, carries a wrong
    paint from the chained map. Held back 8 frames, those frames take the head paint its object backs at frame 33,
    handed back along the regions that continue the head. (This was the hair until the twenty-fourth session, when
    the hair stopped being lost there.)"""
    frames = 36
    clip = make_clip(replace({c.name: c for c in CLIPS}["fast_squash"], frames=frames), seed=1)
    head = next(i for i, n in clip["names"].items() if n == "c0.head")

    def head_right(lookahead: int) -> list[float]:
        gen, _ = colorize_clip(clip, BucketConfig(lookahead=lookahead))
        right = []
        for t in range(frames):
            pred = next(gen)
            m = clip["ids"][t] == head
            if 30 <= t <= 32:
                right.append(float((rgb_codes(pred)[m] == rgb_codes(clip["gt"][t])[m]).mean()))
        return right

    assert max(head_right(0)) < 0.1, "the head is no longer lost in frames 30-32: this test checks nothing"
    assert min(head_right(8)) > 0.9
