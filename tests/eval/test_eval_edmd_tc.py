"""EDMD is 0 and TC is 1.0 for a perfect prediction; EDMD grows when the lines move, TC drops with flicker."""

import numpy as np
import pytest

from lvcd.eval import (
    TC_DEFINITION,
    binarize_lineart,
    distance_map,
    edmd,
    evaluate,
    extract_lineart,
    temporal_consistency,
    warp_error,
)
from lvcd.eval.lineart_metrics import _xdog_fallback
from lvcd.eval.temporal import _sample, warp_with_mask


def test_edmd_zero_for_prediction_equal_to_ground_truth(clip, make_frame):
    frames, _ = clip
    report = evaluate(frames, frames)  # reference = lineart extracted from the ground truth
    assert report.per_frame["edmd"] == [0.0] * len(frames)
    frames = [make_frame(t, 256, 256)[0] for t in range(3)]  # at the protocol size, so no resizing is involved
    masks = [extract_lineart(f / 255.0) for f in frames]  # the same lines given as the input lineart
    given = evaluate(frames, frames, [m.astype(np.uint8) * 255 for m in masks], lineart_polarity="light")
    assert given.per_frame["edmd"] == pytest.approx([0.0] * len(frames), abs=1e-12)


@pytest.mark.parametrize("extract", [extract_lineart, _xdog_fallback], ids=["lvcd-extractor", "fallback-xdog"])
def test_edmd_grows_with_lineart_displacement(extract, make_frame):
    gt, _ = make_frame(0, 256, 256)
    ref = extract(gt / 255.0)
    values = [edmd(extract(make_frame(0, 256, 256, line_offset=dx)[0] / 255.0), ref) for dx in (0, 2, 5, 10)]
    assert values[0] == 0.0
    assert values[0] < values[1] < values[2] < values[3]


def test_edmd_normalisation_and_empty_frames():
    lines = np.zeros((30, 40), bool)
    np.testing.assert_allclose(distance_map(lines), 50.0)  # no line: the diagonal everywhere
    one = lines.copy()
    one[0, 0] = True
    assert 0 < edmd(one, lines) <= 1.0  # scale-free: divided by the diagonal
    big, small = np.zeros((200, 200), bool), np.zeros((100, 100), bool)
    big[:, 100], small[:, 50] = True, True
    big_moved, small_moved = np.roll(big, 20, axis=1), np.roll(small, 10, axis=1)
    assert edmd(big_moved, big) == pytest.approx(edmd(small_moved, small), rel=0.05)
    with pytest.raises(ValueError, match="differ in size"):
        edmd(big, small)


def test_binarize_lineart_polarity():
    paper = np.full((8, 8), 255, np.uint8)
    paper[4] = 0
    assert binarize_lineart(paper).sum() == 8
    assert (binarize_lineart(255 - paper) == binarize_lineart(paper)).all()  # white-on-black detected
    assert binarize_lineart(paper, "light").sum() == 56
    with pytest.raises(ValueError, match="polarity"):
        binarize_lineart(paper, "sideways")


def test_tc_is_one_for_perfect_prediction(clip):
    frames, _ = clip
    report = evaluate(frames, frames)
    assert np.isnan(report.per_frame["tc"][0])
    assert report.per_frame["tc"][1:] == [1.0] * (len(frames) - 1)
    assert report.meta["tc_definition"] == TC_DEFINITION and "OpenCV" in report.meta["tc_flow"]


def test_tc_drops_with_temporal_flicker(clip):
    frames, _ = clip
    scores = []
    for amp in (0, 6, 20):
        flicker = [
            np.clip(f.astype(int) + (amp if t % 2 else -amp), 0, 255).astype(np.uint8) for t, f in enumerate(frames)
        ]
        r = evaluate(flicker, frames)
        scores.append((np.nanmean(r.per_frame["tc"]), np.nanmean(r.per_frame["warp_error"])))
    assert scores[0][0] == pytest.approx(1.0)
    assert scores[0][0] > scores[1][0] > scores[2][0]
    assert scores[0][1] < scores[1][1] < scores[2][1]


def test_steady_colour_shift_is_temporally_consistent(clip):
    # a constant colour error is not flicker: TC stays ~1 while PSNR drops
    frames, _ = clip
    shifted = [np.clip(f.astype(int) + np.array([0, -20, 10]), 0, 255).astype(np.uint8) for f in frames]
    r = evaluate(shifted, frames)
    assert np.nanmean(r.per_frame["tc"]) == pytest.approx(1.0, abs=0.01)


def test_warp_follows_known_translation_and_masks_out_of_frame():
    rng = np.random.default_rng(0)
    a = rng.random((40, 50, 3))

    def const_flow(src, dst, d=3.0):
        flow = np.zeros(src.shape[:2] + (2,), np.float32)
        # src == frame t+1 when asked for the backward flow: content came from 3 px to the left
        flow[..., 0] = -d if src is b else d
        return flow

    b = np.roll(a, 3, axis=1)  # frame t+1 = frame t moved 3 px right
    flow_b, mask = warp_with_mask(const_flow, a, b)
    assert not mask[:, :3].any() and mask[:, 3:].all()  # pixels whose source lies outside the frame are excluded
    np.testing.assert_allclose(_sample(a, flow_b)[:, 3:], b[:, 3:], atol=1e-5)
    assert warp_error(a, b, flow_b, mask) == pytest.approx(0.0, abs=1e-6)
    tc, we_pred, we_gt = temporal_consistency(a, b, a, b, flow_fn=const_flow)
    assert (tc, we_pred) == (1.0, we_gt)
