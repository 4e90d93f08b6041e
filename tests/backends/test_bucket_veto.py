"""Vetoes of the paint-bucket matcher (lvcd/backends/bucket_veto.py) on hand-built frames: keyframe votes that land
on a keyframe part an object lays another current region on are dropped (`_claimed_away`), and so are the previous
frame's votes from a region laid on such a part (`_claimed_in_prev`); slivers, lines and fragments claim or lose
nothing. On a generated clip: scenery revealed where a character stood last frame takes none of its paints
(`_left_in_prev`)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
from disc_frames import disc_frame  # noqa: E402
from eval_bucket import colorize_clip  # noqa: E402
from make_cel_bench import CLIPS, make_clip  # noqa: E402

from lvcd.backends.bucket import BucketColorizer, BucketConfig  # noqa: E402
from lvcd.lineart import normalize_lineart  # noqa: E402
from lvcd.lineart.palette import rgb_codes  # noqa: E402
from lvcd.lineart.regions import segment_regions  # noqa: E402


def _discs(discs):
    """(lineart, colours) of red discs (x, radius)."""
    return disc_frame([(x, r, (200, 30, 30)) for x, r in discs])


def _claimed(claims):
    """The keyframe has a disc at x = 40. In the current frame that disc stands at x = 100 (its pixels map back onto
    the keyframe disc), a pocket a little smaller opened where it was (its pixels map onto the keyframe disc too: no
    motion; the ground around it onto the keyframe disc's outline), and a small disc stands at x = 135.
    `claims(ids, keyframe disc)` gives the (current region, keyframe part) pairs. Returns (bool [H, W] from
    `_claimed_away` or None, {name: current region}, the current regions)."""
    colorizer = BucketColorizer(BucketConfig())
    line0, rgb0 = _discs([(40, 15)])
    (key,) = colorizer.prepare_keyframes([(0, rgb0, line0)])
    line1, _ = _discs([(40, 13), (100, 15), (135, 6)])
    regions = segment_regions(normalize_lineart(line1, colorizer.config.lineart), colorizer._regions_cfg)
    ids = {
        "pocket": int(regions.inner[48, 40]),
        "moved": int(regions.inner[48, 100]),
        "small": int(regions.inner[48, 135]),
        "ground": int(regions.inner[5, 5]),
    }
    k_disc = int(key.frame.regions.inner[48, 40])
    flow = np.zeros(regions.shape + (2,), np.float32)  # current -> keyframe
    flow[regions.inner == ids["moved"], 0] = -60.0
    colorizer._claims = {key.index: [np.array(p, np.int64).reshape(-1, 2) for p in claims(ids, k_disc)]}
    return colorizer._claimed_away(key, flow, regions), ids, regions


def test_votes_on_a_part_an_object_shows_elsewhere_are_dropped():
    """A tracked object lays the moved disc on the keyframe disc: the pocket where the disc stood at the keyframe
    is not the disc (a roof revealed where an arm was, a pocket of sky between an arm and the body), so its votes
    there go; the moved disc's own votes and the ground's stay."""
    away, ids, regions = _claimed(lambda ids, k: [[ids["moved"], k]])
    assert away is not None
    pocket = regions.inner == ids["pocket"]
    assert pocket.sum() > 400 and away[pocket].mean() > 0.95
    assert not away[regions.inner == ids["moved"]].any()
    assert not away[regions.inner == ids["ground"]].any()


def test_a_sliver_or_the_lines_claim_nothing():
    """A region under half the keyframe part's size does not show where the whole part is, and keyframe line
    pixels (region 0) are never a part: neither claim drops a vote."""
    away, ids, _ = _claimed(lambda ids, k: [[ids["small"], k]])
    assert away is None
    away, ids, _ = _claimed(lambda ids, k: [[ids["moved"], 0]])
    assert away is None or not away.any()


def test_a_fragment_of_a_claimed_part_keeps_its_votes():
    """A line drawn across the disc in the current frame splits off a cap: the larger piece claims the keyframe disc,
    and the cap, no larger than what of the disc that piece leaves uncovered, is a fragment of it, not a pocket
    where the disc was: its votes stay."""
    colorizer = BucketColorizer(BucketConfig())
    line0, rgb0 = _discs([(40, 15)])
    (key,) = colorizer.prepare_keyframes([(0, rgb0, line0)])
    line1, _ = _discs([(40, 15)])
    cv2.line(line1, (49, 30), (49, 66), 0, 1)
    regions = segment_regions(normalize_lineart(line1, colorizer.config.lineart), colorizer._regions_cfg)
    piece, cap = int(regions.inner[48, 38]), int(regions.inner[48, 52])
    assert piece != cap and 0 < regions.area[cap] < regions.area[piece]
    k_disc = int(key.frame.regions.inner[48, 40])
    colorizer._claims = {key.index: [np.array([[piece, k_disc]], np.int64)]}
    away = colorizer._claimed_away(key, np.zeros(regions.shape + (2,), np.float32), regions)
    assert away is None or not away[regions.inner == cap].any()


def test_previous_frame_votes_from_where_a_claimed_part_stood_are_dropped():
    """Last frame an object laid its region at x = 40 on the keyframe disc; now the disc stands at x = 100 and claims
    it, and a pocket opened at x = 40. The pocket's previous-frame votes (no motion: they come from last frame's disc)
    are dropped; the moved disc's (pulled from last frame's disc too) and the ground's are not."""
    colorizer = BucketColorizer(BucketConfig())
    line0, rgb0 = _discs([(40, 15)])
    (key,) = colorizer.prepare_keyframes([(0, rgb0, line0)])
    cfg = colorizer.config.lineart
    before = segment_regions(normalize_lineart(line0, cfg), colorizer._regions_cfg)  # last frame: the keyframe's look
    line1, _ = _discs([(40, 13), (100, 15)])
    regions = segment_regions(normalize_lineart(line1, cfg), colorizer._regions_cfg)
    pocket, moved, ground = int(regions.inner[48, 40]), int(regions.inner[48, 100]), int(regions.inner[5, 5])
    k_disc, was = int(key.frame.regions.inner[48, 40]), int(before.inner[48, 40])
    sk = np.full(before.n + 1, -(1 << 30), np.int64)
    sr = np.zeros(before.n + 1, np.int64)
    sk[was], sr[was] = key.index, k_disc
    prev = SimpleNamespace(regions=before, obj_src=(sk, sr))
    flow = np.zeros(regions.shape + (2,), np.float32)  # current -> previous frame
    flow[regions.inner == moved, 0] = -60.0
    colorizer._claims = {key.index: [np.array([[moved, k_disc]], np.int64)]}
    gone = colorizer._claimed_in_prev([key], prev, flow, regions)
    assert gone is not None and gone[regions.inner == pocket].mean() > 0.95
    assert not gone[regions.inner == moved].any() and not gone[regions.inner == ground].any()
    colorizer._claims = {}
    assert colorizer._claimed_in_prev([key], prev, flow, regions) is None


def test_scenery_revealed_where_a_character_stood_takes_none_of_its_paints():
    """`occlusion` seed 10: at the keyframe character 1 stands in front of a small cloud, which shows only as two
    slivers beside its head. As it walks on, the cloud behind its head comes out piece by piece; no keyframe position
    or shape match places those pieces, and the dense flow from the previous frame brings them the head's and the
    shadow's paints from where the character no longer is. Those votes go, and the pieces, guessed from the region
    graph, may take none of the character's paints (nor those of the characters far away): they stay cloud."""
    frames = 24
    clip = make_clip(replace(next(c for c in CLIPS if c.name == "occlusion"), frames=frames), seed=10)
    names = clip["names"]
    cloud = next(i for i, n in names.items() if n == "cloud")
    c1 = [i for i, n in names.items() if n.startswith("c1.")]
    gen, _ = colorize_clip(clip, BucketConfig(objects=True))
    right = []
    for t in range(frames):
        pred = next(gen)
        m = (clip["ids"][t] == cloud) & np.isin(clip["ids"][0], c1)  # cloud now, character 1 at the keyframe
        if t >= 14:
            assert m.sum() > 700
            right.append(float((rgb_codes(pred)[m] == rgb_codes(clip["gt"][t])[m]).mean()))
    assert min(right) > 0.9, right
