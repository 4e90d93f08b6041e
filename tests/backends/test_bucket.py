"""The paint-bucket colorizer on generated cels: exact keyframe, moving / rotating shapes, frame count and streaming,
RGBA inputs, large frames, references without lineart, and errors that teach."""

import math

import cv2
import numpy as np
import pytest

from lvcd.backends import BucketColorizer, BucketConfig

PAINT = np.array(
    [
        [255, 255, 255],
        [235, 225, 200],
        [200, 60, 60],
        [60, 120, 220],
        [250, 215, 180],
        [110, 170, 90],
        [30, 30, 80],
        [150, 40, 50],
    ],
    np.uint8,
)  # 0 unused (white paper); 7 is the shadow of 2


def rect(cx, cy, w, h, angle=0.0):
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    pts = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return np.stack([cx + c * pts[:, 0] - s * pts[:, 1], cy + s * pts[:, 0] + c * pts[:, 1]], 1)


def ellipse(cx, cy, rx, ry):
    a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)


def render(shapes, size=(160, 120)):
    """[(paint index, polygon)] in z-order over a background of paint 1 -> (lineart uint8 RGB, colour RGB, ids)."""
    w, h = size
    ids = np.ones((h, w), np.uint8)
    for k, pts in shapes:
        cv2.fillPoly(ids, [np.round(pts * 16).astype(np.int32)], int(k), cv2.LINE_8, shift=4)
    line = np.zeros((h, w), bool)
    line[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    line[:-1] |= ids[:-1] != ids[1:]
    gt = PAINT[ids]
    gt[line] = 0
    lineart = np.repeat(np.where(line, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return lineart, gt, np.where(line, 0, ids)


def scene(t, size=(160, 120)):
    """A character-ish shape translating right and a two-tone card rotating 8 degrees per frame."""
    w, h = size
    sx, sy = w / 160, h / 120
    x = (40 + 3 * t) * sx
    card = rect(115 * sx, 60 * sy, 40 * sx, 26 * sy, 8 * t)
    return render(
        [
            (2, rect(x, 70 * sy, 30 * sx, 40 * sy)),  # body
            (4, ellipse(x, 38 * sy, 14 * sx, 14 * sy)),  # head
            (6, ellipse(x + 5 * sx, 36 * sy, 3 * sx, 3 * sy)),  # eye (small region)
            (3, card),  # a card ...
            (5, card[[0, 1, 2]]),  # ... whose diagonal half has another paint
        ],
        size,
    )


def region_accuracy(pred, gt, ids, min_area=4):
    """Share of ground-truth regions (of at least `min_area` px: single pixels at junctions are not tracked) whose
    majority predicted colour is exactly right."""
    ok = n = 0
    for k in np.unique(ids[ids > 0]):
        cnt, lab = cv2.connectedComponents((ids == k).astype(np.uint8), connectivity=4)
        for r in range(1, cnt):
            m = lab == r
            if m.sum() < min_area:
                continue
            cols, counts = np.unique(pred[m], axis=0, return_counts=True)
            ok += bool((cols[counts.argmax()] == gt[m][0]).all())
            n += 1
    return ok / n


def test_reproduces_the_reference_on_the_reference_frame_exactly():
    lineart, gt, _ = scene(0)
    out = next(BucketColorizer(BucketConfig(keep_lines=True)).colorize(gt, lineart, [lineart]))
    np.testing.assert_array_equal(out, gt)
    flat = next(BucketColorizer().colorize(gt, lineart, [lineart]))
    lines = lineart[..., 0] == 0
    np.testing.assert_array_equal(flat[~lines], gt[~lines])
    assert {tuple(c) for c in flat.reshape(-1, 3)} <= {tuple(c) for c in PAINT[1:]}  # lines painted too


def test_follows_translated_and_rotated_shapes():
    frames = [scene(t) for t in range(10)]
    ref = frames[0][1]
    outs = list(BucketColorizer().colorize(ref, frames[0][0], [f[0] for f in frames]))
    for (_lineart, gt, ids), out in zip(frames, outs):
        assert region_accuracy(out, gt, ids) == 1.0
        inside = ids > 0
        assert (out[inside] == gt[inside]).all(axis=1).mean() > 0.995


def test_reference_at_the_end_of_the_shot_colours_backwards():
    frames = [scene(t) for t in range(6)]
    ref_line, ref = frames[-1][0], frames[-1][1]
    outs = list(BucketColorizer().colorize(ref, ref_line, [f[0] for f in frames[::-1]]))[::-1]
    for (_, gt, ids), out in zip(frames, outs):
        assert region_accuracy(out, gt, ids) == 1.0


def test_one_output_per_input_streaming():
    pulled = []

    def source(n):
        for t in range(n):
            pulled.append(t)
            yield scene(t % 3)[0]

    lineart, gt, _ = scene(0)
    colorizer = BucketColorizer(BucketConfig(lookahead=0))
    it = colorizer.colorize(gt, lineart, source(7))
    first = next(it)
    assert first.shape == gt.shape and first.dtype == np.uint8
    assert pulled == [0]  # streaming: one frame in, one frame out
    assert 1 + sum(1 for _ in it) == 7
    assert len(list(colorizer.colorize(gt, lineart, []))) == 0
    # with look-ahead revision a frame comes out `lookahead` frames late, and every frame still comes out
    pulled.clear()
    ahead = BucketColorizer(BucketConfig(lookahead=3))
    it = ahead.colorize(gt, lineart, source(7))
    next(it)
    assert pulled == [0, 1, 2, 3]
    assert 1 + sum(1 for _ in it) == 7
    with pytest.raises(ValueError, match="lookahead"):
        BucketConfig(lookahead=-1)


def test_rgba_lineart_and_reference():
    lineart, gt, ids = scene(2)
    rgba_line = np.zeros(lineart.shape[:2] + (4,), np.uint8)
    rgba_line[..., :3] = 255
    rgba_line[lineart[..., 0] == 0] = (0, 0, 0, 255)  # lines on a transparent layer (BasicPBC)
    rgba_ref = np.dstack([gt, np.full(gt.shape[:2], 255, np.uint8)])
    rgba_ref[ids == 1] = (255, 255, 255, 0)  # transparent background in the keyframe -> white paper
    out = list(BucketColorizer(BucketConfig(keep_lines=True)).colorize(rgba_ref, rgba_line, [rgba_line] * 2))
    expected = gt.copy()
    expected[ids == 1] = 255
    for o in out:
        np.testing.assert_array_equal(o, expected)


def test_reference_without_lineart_uses_xdog():
    frames = [scene(t) for t in range(3)]
    ref = frames[0][1]
    outs = list(BucketColorizer().colorize(ref, None, [f[0] for f in frames]))
    for (_, gt, ids), out in zip(frames, outs):
        assert region_accuracy(out, gt, ids) >= 0.8


def test_large_frame_does_not_crash():
    size = (1600, 1600)
    frames = [scene(t, size)[0] for t in (0, 1)]
    ref = scene(0, size)[1]
    outs = list(BucketColorizer().colorize(ref, frames[0], frames))
    assert len(outs) == 2 and outs[1].shape == (1600, 1600, 3)


def test_errors_teach():
    lineart, gt, _ = scene(0)
    with pytest.raises(ValueError, match="same size|same frame"):
        BucketColorizer().colorize(gt, lineart[:50], [lineart])
    with pytest.raises(ValueError, match="uint8"):
        BucketColorizer().colorize(gt.astype(np.float32), lineart, [lineart])
    with pytest.raises(ValueError, match="frame 1 is 160x50"):
        list(BucketColorizer().colorize(gt, lineart, [lineart, lineart[:50]]))
    with pytest.raises(ValueError, match="flow_preset"):
        BucketConfig(flow_preset="slow")


@pytest.mark.parametrize("dark_side", [True, False])
def test_colour_trace_lines_take_the_side_the_keyframe_shows(dark_side):
    """BasicPBC-style cels: a red line bounds a shadow inside a shape and is painted over with one side's paint."""

    def cel(dx):
        lineart, gt, ids = render([(2, rect(60 + dx, 60, 60, 50)), (7, rect(75 + dx, 60, 30, 50))])
        xb = np.flatnonzero(ids[60] == 7)[0] - 1  # the drawn boundary between base (left) and shadow (right)
        trace = np.zeros(ids.shape, bool)
        trace[:, xb] = (ids[:, xb - 1] == 2) & (ids[:, xb + 1] == 7)  # ... becomes a red trace line
        lineart[trace] = (255, 0, 0)
        gt[trace] = PAINT[7] if dark_side else PAINT[2]  # shadow is the darker paint
        return lineart, gt, trace

    frames = [cel(2 * t) for t in range(4)]
    outs = list(
        BucketColorizer(BucketConfig(keep_lines=True)).colorize(frames[0][1], frames[0][0], [f[0] for f in frames])
    )
    np.testing.assert_array_equal(outs[0], frames[0][1])  # keyframe reproduced exactly, trace line included
    for (_, gt, trace), out in zip(frames, outs):
        assert (out[trace] == gt[trace]).all(axis=1).mean() > 0.95


def test_keyframe_wins_against_a_confident_wrong_previous_frame():
    """A small region that the keyframe and the previous frame both see perfectly aligned and fully covered gets
    the keyframe's paint, not the previous frame's (which may carry an earlier mistake), even when the previous
    frame claims full confidence: previous-frame votes weigh less than the keyframe's, and ties go to the keyframe."""
    from lvcd.lineart.normalize import normalize_lineart
    from lvcd.lineart.regions import segment_regions

    lineart, gt, _ = render([(2, rect(60, 60, 50, 60)), (4, ellipse(60, 50, 6, 5))])  # body with a small patch
    moved = lineart.copy()
    moved[8:11, 140:152] = 0  # a stroke far away: not the keyframe's lines, so the frame is really matched
    colorizer = BucketColorizer()
    keys = colorizer.prepare_keyframes([(-1, gt, lineart)])
    key = keys[0].frame
    keys[0].chain = colorizer._identity().copy()
    patch, body = int(key.regions.labels[50, 60]), int(key.regions.labels[80, 60])
    assert (colorizer.palette[key.color[patch]] == PAINT[4]).all()
    wrong = key.color.copy()
    wrong[patch] = key.color[body]  # the previous frame painted the patch like the body around it
    prev = colorizer._make_frame(key.lineart, key.regions, wrong, np.ones(len(wrong), np.float32))
    la = normalize_lineart(moved, colorizer.config.lineart)
    regions = segment_regions(la, colorizer._regions_cfg)
    target = int(regions.labels[50, 60])
    color, conf, _ = colorizer._match(la, regions, colorizer._flow_image(la), keys, prev, 0)
    assert color[target] == key.color[patch]
    assert conf[target] > 0.5


def test_sliver_keyframe_votes_count_over_voted_pixels():
    """A 4-px sliver half of whose pixels a 1-px map error lands on lines keeps a full keyframe vote for its paint;
    a sliver with fewer votes than half its area (or than 2 px), and any larger region, still share their votes
    over their area."""
    c = BucketColorizer(BucketConfig(sliver_area=12))
    area = np.array([1, 2, 4, 6, 200], np.float32)
    counts = np.array([[1, 0], [1, 0], [2, 0], [1, 0], [50, 50]], np.float32)
    np.testing.assert_allclose(c._vote_area(area, counts), [1, 2, 2, 3, 200])
    np.testing.assert_allclose(BucketColorizer(BucketConfig(sliver_area=0))._vote_area(area, counts), area)
