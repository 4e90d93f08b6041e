"""Object-level tracking in the paint-bucket matcher (lvcd/backends/bucket_objects.py) on short generated cel clips
(scripts/make_cel_bench.py, benchmark size, few frames): objects are built per character (one character each, not
one blob of every part that touches), a
tracked character's keyframe paints land on it frame after frame, and a character that leaves the frame goes dormant
and is found again when it comes back. Each check measures the object's own paints warped by its transform against
the ground truth, so a tracker that stays put, drifts or swaps characters fails it."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from eval_bucket import colorize_clip  # noqa: E402
from make_cel_bench import CLIPS, make_clip  # noqa: E402

from lvcd.backends.bucket import BucketConfig  # noqa: E402
from lvcd.backends.bucket_match import NO_VOTE  # noqa: E402
from lvcd.backends.bucket_objects import OBJ_PART, _strays  # noqa: E402
from lvcd.lineart.palette import rgb_codes  # noqa: E402

SPEC = {c.name: c for c in CLIPS}


def _paint_accuracy(colorizer, obj, gt: np.ndarray, ids: np.ndarray) -> float:
    """Share of the object's keyframe paints, warped into this frame by its transform, that the ground truth has."""
    h, w = ids.shape
    M = obj.A.copy()
    M[:, 2] -= (obj.ox, obj.oy)
    v = cv2.warpAffine(obj.votes, M, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=int(NO_VOTE))
    m = (v != NO_VOTE) & (ids > 0)
    if m.sum() < 50:
        return -1.0
    codes = rgb_codes(colorizer.palette)
    return float((codes[v[m]] == rgb_codes(gt)[m]).mean())


def _run(clip, frames):
    """Colour `frames` frames; per frame {object uid: (object, transform, live, frames coasting)}. No look-ahead:
    the tracker's state read after each yielded frame is that frame's."""
    gen, colorizer = colorize_clip(clip, BucketConfig(objects=True, lookahead=0))
    states = []
    for _ in range(frames):
        next(gen)
        states.append({o.uid: (o, o.A.copy(), o.live, o.miss) for o in getattr(colorizer, "_objs", [])})
    return colorizer, states


def _spied(clip, frames: int, each=None):
    """Colour `frames` frames with the object tracker on; (colorizer, {'regions', 'keys'} of the last matched frame).
    `each(colorizer)` runs after every frame (no look-ahead: the state it reads is that frame's)."""
    gen, colorizer = colorize_clip(clip, BucketConfig(objects=True, lookahead=0))
    seen = {}
    match = colorizer._match

    def spy(la, regions, cur_img, keys, prev, i):
        seen.update(regions=regions, keys=keys)
        return match(la, regions, cur_img, keys, prev, i)

    colorizer._match = spy
    for _ in range(frames):
        next(gen)
        if each is not None:
            each(colorizer)
    return colorizer, seen


def _moved_away(colorizer, key, flow, regions):
    """The veto's pieces under a given flow (no scenery flow filled in): (away, region owners, in reach)."""
    owner, region_owner, in_reach, reach = colorizer._veto_maps(key, regions)
    return colorizer._away(owner, reach, flow), region_owner, in_reach


def _characters(colorizer, clip) -> list:
    """Objects holding at least 10 regions (the characters; scenery objects are smaller)."""
    return [o for o in colorizer._objs if len(o.ids) >= 10]


def test_objects_are_characters_not_scenery():
    clip = make_clip(replace(SPEC["hop_pan"], frames=6), seed=1)
    colorizer, _ = _run(clip, 6)
    chars = _characters(colorizer, clip)
    assert len(chars) == 3, [len(o.ids) for o in colorizer._objs]
    ids0 = clip["ids"][0]
    area = np.bincount(ids0.ravel())
    small = (area < 0.015 * ids0.size)[ids0] & (ids0 > 0)  # body parts (sky, ground, clouds, house are larger)
    closed = cv2.morphologyEx(small.view(np.uint8), cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    n, who = cv2.connectedComponents(closed)  # one blob per character (they stand apart at the keyframe)
    owners = set()
    for o in chars:  # each object holds one character, and a different one from the other objects
        h, w = o.votes.shape
        mine = (o.votes != NO_VOTE) & small[o.oy : o.oy + h, o.ox : o.ox + w]
        got = who[o.oy : o.oy + h, o.ox : o.ox + w][mine]
        top = np.bincount(got[got > 0]).argmax()
        assert (got == top).mean() > 0.95, np.bincount(got)
        owners.add(int(top))
    assert len(owners) == 3


def test_tracked_characters_keep_their_paints():
    frames = 14
    clip = make_clip(replace(SPEC["hop_pan"], frames=frames), seed=1)
    colorizer, states = _run(clip, frames)
    for o in _characters(colorizer, clip):
        accs = []
        for t in range(1, frames):
            if o.uid not in states[t]:  # not built yet
                continue
            o.A = states[t][o.uid][1]
            accs.append(_paint_accuracy(colorizer, o, clip["gt"][t], clip["ids"][t]))
        assert len(accs) >= 8 and min(accs) >= 0.85, accs


def _character_of(obj, clip) -> int:
    """Index of the generated character whose keyframe pixels hold most of the object's keyframe paints."""
    h, w = obj.votes.shape
    ids = clip["ids"][0][obj.oy : obj.oy + h, obj.ox : obj.ox + w][obj.votes != NO_VOTE]
    names = [clip["names"].get(int(i), "") for i in ids]
    chars = [int(n[1 : n.index(".")]) for n in names if n[:1] == "c" and "." in n and n[1 : n.index(".")].isdigit()]
    return int(np.bincount(chars).argmax())


def test_character_leaving_the_frame_is_found_again():
    """Character 0 walks out past the right edge and back, crossing behind character 1 both ways: its object goes
    dormant while it is out and is found again, with its own paints, when it is back in view. Judged on the frames
    the object is fitted in after that (not those it coasts through, hidden), on the character's own visible pixels
    (character 1 walks in front of it) and against where the generator put the character."""
    clip = make_clip(SPEC["exit_reentry"], seed=1)
    frames = len(clip["line"])
    colorizer, states = _run(clip, frames)
    H, W = clip["ids"][0].shape
    back = []
    for o in _characters(colorizer, clip):
        lives = [states[t][o.uid][2] if o.uid in states[t] else None for t in range(frames)]
        out = [t for t, v in enumerate(lives) if v is False]
        if not out:
            continue
        ci = _character_of(o, clip)
        mine = [k for k, v in clip["names"].items() if v.startswith(f"c{ci}.")]
        for t in range(out[0] + 1, frames):
            _, A, live, miss = states[t][o.uid]
            if not live or miss:
                continue
            o.A = A
            truth = o.center + np.subtract(clip["pos"][t][ci], clip["pos"][0][ci])
            err = float(np.hypot(*(o.pos() - truth)))
            own = np.where(np.isin(clip["ids"][t], mine), clip["ids"][t], 0)
            back.append((t, err, _paint_accuracy(colorizer, o, clip["gt"][t], own)))
    assert back, "no character object went dormant and came back"
    good = [err <= 0.01 * max(H, W) and acc >= 0.9 for _, err, acc in back]
    assert len(back) >= 10 and np.mean(good) >= 0.8, back


def test_keyframe_votes_of_a_character_that_moved_away_are_vetoed():
    """Character 0 hops away from where it stood at the keyframe. Keyframe votes that land on its keyframe pixels
    from where it no longer is (revealed scenery, another character) are vetoed; where it still is, and where
    scenery was at the keyframe, nothing is."""
    frames = 12
    clip = make_clip(replace(SPEC["fast_squash"], frames=frames), seed=1)
    colorizer, seen = _spied(clip, frames)
    H, W = clip["ids"][0].shape
    still = np.zeros((H, W, 2), np.float32)  # every pixel votes for the keyframe pixel at the same place
    away, owner, in_reach = _moved_away(colorizer, seen["keys"][0], still, seen["regions"])
    names = clip["names"]
    chars = [i for i, n in names.items() if n.startswith("c")]
    c0 = [i for i, n in names.items() if n.startswith("c0.")]
    then = np.isin(clip["ids"][0], c0)
    now = cv2.dilate(np.isin(clip["ids"][frames - 1], c0).view(np.uint8), np.ones((9, 9), np.uint8)).view(bool)
    left = then & ~now  # where it stood and no longer is
    assert left.sum() > 2000 and away[left].mean() > 0.8, (int(left.sum()), float(away[left].mean()))
    scenery = ~cv2.dilate(np.isin(clip["ids"][0], chars).view(np.uint8), np.ones((15, 15), np.uint8)).view(bool)
    # scenery stays out, but for small pieces the flow dragged along while the object was built (here the roof's tip
    # under the arm, ~0.35% of the frame): a known flaw of object building, see docs/bucket-benchmark.md
    assert away[scenery].mean() < 0.005, (int(away[scenery].sum()), int(scenery.sum()))
    if (then & now).sum() > 200:
        assert away[then & now].mean() < 0.1


def _late_paint_accuracy(clip) -> dict:
    """Run the whole clip; {object uid: paint accuracies over the last 10 frames it is live in (fitted or coasting)}
    for the character objects live then. An object that took another character's place scores ~0 (its paints on the
    other's pixels)."""
    frames = len(clip["line"])
    colorizer, states = _run(clip, frames)
    out = {}
    for o in _characters(colorizer, clip):
        accs = []
        for t in range(frames - 10, frames):
            if o.uid in states[t] and states[t][o.uid][2]:
                o.A = states[t][o.uid][1]
                accs.append(_paint_accuracy(colorizer, o, clip["gt"][t], clip["ids"][t]))
        if accs:  # (one that walked out of the pan is dormant)
            out[o.uid] = accs
    return out


def test_crossing_characters_drawn_alike_keep_their_identities():
    """Characters 0 and 1 (one design, other paints) cross while character 0 hops out of its fit: it must not resume
    on character 1's place (which character 1's own object holds), or the two swap paints for the rest of the shot."""
    late = _late_paint_accuracy(make_clip(SPEC["hop_pan"], seed=6))
    assert len(late) >= 2
    for uid, accs in late.items():  # character 0's pose after its hop is rough (~0.67), not swapped
        assert np.median(accs) >= 0.5, (uid, accs)


@pytest.mark.parametrize("seed", [13, 19])
def test_character_back_in_the_frame_is_not_taken_for_one_drawn_alike_that_left(seed):
    """Both characters (one design, other paints) walk out past the right edge; character 0 comes back fast (~50 px
    a frame) and stops where it stood at the keyframe, character 1 stays out. Character 1's dormant object fits the
    one that came back as well as character 0's does, so the tracker has to tell them apart by where each is
    expected: character 0's object outruns its prediction each frame and is found again by re-entry (seed 13: with
    no motion kept it fell behind until character 1's took its place), and a second piece of the same character must
    not go to character 1's object once character 0's holds the first (seed 19). Either way the returning character
    took character 1's paints for the rest of the shot."""
    late = _late_paint_accuracy(make_clip(SPEC["exit_reentry"], seed=seed))
    assert late, "no character object in view at the end"
    for uid, accs in late.items():
        assert np.median(accs) >= 0.5, (uid, accs)


def test_of_two_characters_drawn_alike_crossing_the_one_behind_is_judged_behind():
    """Characters 0 and 2 (one design, other paints; 2 drawn in front) cross. Which one is in front (fitted first,
    keeping its lines from the one behind) is judged by the lines each shows inside the other's footprint. With the
    two nearly on top of each other, half of each one's lines lie on the other's, which says nothing: counted there,
    the one behind scored ~0.6 against ~1.0, too close to hold once last frame's transforms lag a moving character
    (in the tracker the one behind then came out in front, took the front one's lines, and the two swapped paints).
    Here both objects are placed where the generator put the characters (no squash, no turn: a shift), so the
    tracker's own fits do not enter, and the judgement must be clear: behind < 0.3, in front > 0.7."""
    clip = make_clip(replace(SPEC["hop_pan"], squash=0.0, rotate=0.0), seed=5)
    gen, colorizer = colorize_clip(clip, BucketConfig(objects=True, lookahead=0))
    seen = {}
    track = colorizer._track_objects

    def spy(la, *a, **kw):
        seen["la"] = la
        return track(la, *a, **kw)

    colorizer._track_objects = spy
    W = clip["ids"][0].shape[1]
    pos = clip["pos"]
    judged = []
    for t in range(len(clip["line"])):
        next(gen)
        if 0 not in pos[t] or 2 not in pos[t] or abs(pos[t][0][0] - pos[t][2][0]) > 0.08 * W:
            continue  # not crossing
        objs = {_character_of(o, clip): o for o in _characters(colorizer, clip) if o.live}
        if 0 not in objs or 2 not in objs:
            continue
        kept = {c: objs[c].A for c in (0, 2)}
        for c in (0, 2):  # current -> keyframe: back by the character's shift since the keyframe
            objs[c].A = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            objs[c].A[:, 2] = np.subtract(pos[0][c], pos[t][c])
        near = cv2.dilate(seen["la"].mask.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
        front = colorizer._front_scores([objs[0], objs[2]], near)
        judged.append((t, round(front[id(objs[0])], 2), round(front[id(objs[2])], 2)))
        for c in (0, 2):
            objs[c].A = kept[c]
    # (fully on top of each other, no line of either lies off the other's: no evidence, 1.0 both)
    clear = [behind < 0.3 and ahead > 0.7 for _, behind, ahead in judged]
    assert len(judged) >= 6 and np.mean(clear) >= 0.8, judged


def test_object_coasting_in_a_wrong_rotation_is_fitted_again_in_its_keyframe_pose():
    """The pose search moves a rotation by small steps: an object found again in a rotation far off (here 0.3 rad)
    would stay trapped in it. Coasting, it is also tried in its keyframe pose at the same place, and fits again."""
    frames = 6
    clip = make_clip(replace(SPEC["hop_pan"], frames=frames), seed=1)
    gen, colorizer = colorize_clip(clip, BucketConfig(objects=True, lookahead=0))
    calls = {}
    step = colorizer._step

    def spy(o, pts, near, chain, cur_img):
        calls[o.uid] = (pts, near, chain, cur_img)
        return step(o, pts, near, chain, cur_img)

    colorizer._step = spy
    for _ in range(frames):
        next(gen)
    o = max(_characters(colorizer, clip), key=lambda k: k.fit)
    assert o.fit >= 0.9 and o.uid in calls
    pts, near, chain, cur_img = calls[o.uid]
    here = o.pos()
    ang = 0.3
    R = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    L = R @ o.A[:, :2]
    bad = np.concatenate([L, (o.center - L @ here)[:, None]], axis=1)  # same place, turned by 0.3 rad
    colorizer._placed, colorizer._occl = [], None
    for miss in (0, 1):  # fitted last frame / coasting; no position map to guess from (lost in a crossing)
        o.A, o.miss, o.live, o.vel, o.vmean = bad.copy(), miss, True, np.zeros(2), np.zeros(2)
        step(o, pts, near, None, cur_img)
        if miss == 0:
            trapped = o.fit
            assert trapped < 0.7, trapped  # a search near the pose it has stays trapped
    assert o.miss == 0 and o.fit >= max(0.8, trapped + 0.15), (trapped, o.fit)  # coasting: keyframe pose tried too
    assert np.hypot(*(o.pos() - here)) <= 0.01 * max(clip["ids"][0].shape)  # where it was, not on another


def test_character_large_in_the_frame_is_one_object_with_its_large_parts():
    """A close-up: the frame cropped around character 0, whose body, shadow, head and hair each cover more than
    `OBJ_PART` of it. Parts that large are scenery in a wide shot, but these move against the scene and are clear of
    the frame's edges: the character is one object holding its body (without that, two fragments of small parts)."""
    frames = 8
    clip = make_clip(replace(SPEC["hop_pan"], frames=frames), seed=1)
    names = clip["names"]
    mine = [k for k, v in names.items() if v.startswith("c0.")]
    ys, xs = np.nonzero(np.isin(np.stack(clip["ids"][:frames]), mine).any(axis=0))
    y0, y1, x0, x1 = max(ys.min() - 12, 0), ys.max() + 12, max(xs.min() - 12, 0), xs.max() + 12
    close = dict(clip, **{k: [a[y0:y1, x0:x1] for a in clip[k][:frames]] for k in ("line", "gt", "ids")})
    ids0 = close["ids"][0]
    body = [k for k in mine if names[k] == "c0.body"]
    assert (np.isin(ids0, body)).sum() > OBJ_PART * ids0.size  # the premise: a part above the scenery size
    gen, colorizer = colorize_clip(close, BucketConfig(objects=True))
    for _ in range(frames):
        next(gen)
    held = []
    for o in colorizer._objs:
        h, w = o.votes.shape
        crop = np.isin(ids0[o.oy : o.oy + h, o.ox : o.ox + w], body)
        held.append(float((crop & (o.votes != NO_VOTE)).sum() / max(np.isin(ids0, body).sum(), 1)))
    assert max(held, default=0.0) >= 0.9, held


def _object_and_look():
    """A hop_pan character object after its watch frames, and the colorizer."""
    clip = make_clip(replace(SPEC["hop_pan"], frames=6), seed=1)
    gen, colorizer = colorize_clip(clip, BucketConfig(objects=True, lookahead=0))
    for _ in range(6):
        next(gen)
    chars = sorted(_characters(colorizer, clip), key=lambda k: -k.fit)
    return colorizer, chars


def _pasted(o, fw, fh, x, y):
    """A blank flow-size image with the object's keyframe look pasted at (x, y)."""
    img = np.zeros((fh, fw), np.uint8)
    t = o.tmpl
    img[y : y + t.shape[0], x : x + t.shape[1]] = t
    return img


def _expected(colorizer, o, x, y) -> np.ndarray:
    fw, fh = colorizer._flow_size()
    H, W = colorizer._shape
    kx0, ky0 = o.flow_crop[:2]
    return o.center + np.array([(x - kx0) * W / fw, (y - ky0) * H / fh])


def test_a_character_is_not_located_where_another_drawn_alike_stands():
    """Searching for a lost character, the correlation finds any character of its design; places where another
    object in view stands are left out (`avoid`), so the one correlating elsewhere is found."""
    colorizer, chars = _object_and_look()
    o = chars[0]
    fw, fh = colorizer._flow_size()
    th, tw = o.tmpl.shape
    img = np.maximum(_pasted(o, fw, fh, 4, 4), _pasted(o, fw, fh, fw - tw - 4, 4))  # two alike, left and right
    A = colorizer._locate(o, img, (0, 0, fw, fh))
    left, right = _expected(colorizer, o, 4, 4), _expected(colorizer, o, fw - tw - 4, 4)
    first = min((left, right), key=lambda p: np.hypot(*(o.pos(A) - p)))
    other = right if first is left else left
    assert np.hypot(*(o.pos(A) - first)) < 3
    A = colorizer._locate(o, img, (0, 0, fw, fh), avoid=[(first, 0.25 * max(o.foot.shape))])
    assert A is not None and np.hypot(*(o.pos(A) - other)) < 3


def test_scenery_dragged_into_a_character_leaves_it_when_the_character_moves_on():
    """At the keyframe of `fast_squash` seed 3 a character stands in front of a roof; the flow drags the roof along
    while the objects are built, and the roof joins the character's object. Most of its outline is the character's
    (those lines keep landing); its own edges, towards sky and house, stay with the scenery: judged on those, it
    leaves the object within a few frames of the character hopping on."""
    frames = 10
    clip = make_clip(replace(SPEC["fast_squash"], frames=frames), seed=3)
    roof = next(int(i) for i, n in clip["names"].items() if n == "roof")
    states = []
    _, seen = _spied(clip, frames, lambda c: states.append([o.ids for o in getattr(c, "_objs", [])]))
    reg = seen["keys"][0].frame.regions
    labs, cnt = np.unique(reg.labels[clip["ids"][0] == roof], return_counts=True)
    r = int(labs[np.argmax(cnt)])
    assert any(r in ids for ids in states[4]), "the roof no longer joins an object: this test checks nothing"
    assert not any(r in ids for ids in states[-1])


def test_revealed_scenery_moves_as_the_scenery_around_it():
    """Where character 0 stood at the keyframe and no longer stands, a flow that dragged those pixels along with it
    is replaced by the flow of the scenery around them (here still: no camera motion), not the character's."""
    frames = 12
    clip = make_clip(replace(SPEC["fast_squash"], frames=frames), seed=1)
    colorizer, seen = _spied(clip, frames)
    H, W = clip["ids"][0].shape
    key = seen["keys"][0]
    away = _moved_away(colorizer, key, np.zeros((H, W, 2), np.float32), seen["regions"])[0]
    assert away.sum() > 2000
    dragged = np.zeros((H, W, 2), np.float32)
    dragged[away] = (6.0, -4.0)  # as if the dense flow had carried them along with the character
    fixed = colorizer._scenery_flow(dragged, away)
    assert (np.abs(fixed[away]).max(axis=1) < 0.5).mean() > 0.95


def test_a_part_the_keyframe_showed_in_part_takes_its_objects_paint_when_whole():
    """`occlusion` seed 5: character 0 stands half behind the pole at the keyframe, passes behind another character
    and comes out whole. Its head's outline now lies only partly where the keyframe showed the head (the rest was
    the pole), so it is no region the object explains, and the chained map, lost in the crossing, takes it onto the
    keyframe's sky. Once its object is found again (frame 32), the head takes the object's paint: the part of its
    outline inside the footprint lands on the object's lines, and the chained map's votes there are dropped."""
    frames = 36
    clip = make_clip(replace(SPEC["occlusion"], frames=frames), seed=5)
    head = next(i for i, n in clip["names"].items() if n == "c0.head")
    gen, colorizer = colorize_clip(clip, BucketConfig(objects=True))
    right = []
    for t in range(frames):
        pred = next(gen)
        m = clip["ids"][t] == head
        if t >= 33:
            assert m.sum() > 800  # the whole head is in view
            right.append(float((rgb_codes(pred)[m] == rgb_codes(clip["gt"][t])[m]).mean()))
    assert min(right) > 0.9, right


def test_a_character_hidden_behind_another_still_paints_what_shows_of_it():
    """`fast_squash` seed 4: character 0 passes behind character 1 in the last frames, and too little of it shows to
    fit it (it coasts). The pieces that still show beside the one in front (head, shadow, ears) had no object's
    votes and took the sky's. Now its transform from the lines it shows votes for regions outside the one in front
    whose outline lands on its lines, for the first frames it coasts; those votes must mostly be the truth's paint."""
    clip = make_clip(SPEC["fast_squash"], seed=4)
    gen, colorizer = colorize_clip(clip, BucketConfig(objects=True, lookahead=0))
    voted = []
    hidden = colorizer._hidden_votes

    def spy(regions, *a):
        v, w = hidden(regions, *a)
        voted.append((regions, v, w))
        return v, w

    colorizer._hidden_votes = spy
    right = total = 0
    for t in range(len(clip["gt"])):
        seen = len(voted)
        next(gen)
        codes, truth = rgb_codes(colorizer.palette), rgb_codes(clip["gt"][t])
        for regions, v, w in voted[seen:]:
            for r in np.flatnonzero(w > 0):
                vals, cnt = np.unique(truth[regions.inner == r], return_counts=True)
                right += int(codes[int(v[r].argmax())] == vals[cnt.argmax()])
                total += 1
    assert total >= 5, total
    assert right >= 0.75 * total, (right, total)


def test_a_scenery_piece_the_group_motion_does_not_explain_is_a_stray():
    """`_strays`: parts of a character turning and squashing move apart smoothly (an affine motion of their
    centroids), which explains them all; a cloud piece the dense flow dragged half the way along does not fit it,
    however large it is (the motion is fitted near the median, not pulled by area)."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 120, (12, 2))
    A = np.array([[0.05, -0.1], [0.1, -0.08]])  # a turn and a squash, on a 14 px shift
    d = (xy - xy.mean(axis=0)) @ A.T + (12.0, 8.0)
    w = np.sqrt(rng.uniform(20, 800, 12))
    assert not _strays(d, w, xy, gap=3.5).any()
    d2, w2 = d.copy(), w.copy()
    d2[3] *= 0.4  # dragged part of the way
    w2[3] = np.sqrt(4000.0)  # and larger than any part
    assert np.flatnonzero(_strays(d2, w2, xy, gap=3.5)).tolist() == [3]


def test_a_character_standing_in_front_of_a_cloud_is_not_one_object_with_it():
    """`hop_pan` seed 28: at the keyframe character 1 stands in front of a cloud, and its head cuts two large cloud
    pieces off it. The dense flow drags them along with the head over the first frames, a little less each pair,
    so they joined its object; their outlines then stayed with the panning cloud, the character's fit fell below
    `FIT` by frame 10 and it was lost for the rest of the shot (0.62 at frame 13). Each character's object now holds
    little scenery, and the one in front of the cloud still fits well ten frames on."""
    frames = 14
    clip = make_clip(replace(SPEC["hop_pan"], frames=frames), seed=28)
    colorizer, _ = _run(clip, frames)
    ids0 = clip["ids"][0]
    scenery = {i for i, n in clip["names"].items() if "." not in n}  # characters' parts are "c1.head" and such
    chars = _characters(colorizer, clip)
    assert len(chars) == 3
    for o in chars:
        h, w = o.votes.shape
        mine = o.votes != NO_VOTE
        truth = ids0[o.oy : o.oy + h, o.ox : o.ox + w][mine]
        share = np.isin(truth, list(scenery)).mean()
        assert share < 0.1, (o.uid, share)
        assert o.live and o.miss == 0 and o.fit >= 0.8, (o.uid, o.fit, o.miss)
