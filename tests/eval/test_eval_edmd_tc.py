"""EDMD (pixels at 256x256) and TC (LVCD eq. 9) against hand-computed values: identical clips give TC 1.0 and EDMD 0,
a known shift gives the expected EDMD in pixels, flicker gives TC > 1; a cut resets the pair chain."""

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
    warp_error_ratio,
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


def test_edmd_known_shift_in_pixels():
    # a vertical line at column 100 vs the same line at column 105, 256x256: the distance maps differ by -5 left of
    # both lines, +5 right of both, and -3, -1, 1, 3 on the four columns between -> RMSE sqrt((252 * 25 + 20) / 256)
    a, b = np.zeros((256, 256), bool), np.zeros((256, 256), bool)
    a[:, 100], b[:, 105] = True, True
    assert edmd(b, a) == pytest.approx(np.sqrt((252 * 25 + 20) / 256), abs=1e-12)  # 4.9687 px
    assert edmd(a, a) == 0.0
    one = np.zeros((30, 40), bool)
    np.testing.assert_allclose(distance_map(one), 50.0)  # no line: the diagonal everywhere
    one[0, 0] = True
    assert edmd(one, np.zeros((30, 40), bool)) > 1.0  # pixels, not a fraction of the diagonal
    with pytest.raises(ValueError, match="differ in size"):
        edmd(a, one)


def test_edmd_of_a_shifted_prediction_through_evaluate():
    # a 256x256 prediction whose outline sits 4 px right of the given lineart's: EDMD comes out in pixels, ~4
    frame = np.full((256, 256, 3), 255, np.uint8)
    frame[:, 124:128] = 0  # a 4-px black line at columns 124..127
    lineart = np.full((256, 256), 255, np.uint8)
    lineart[:, 120:124] = 0
    r = evaluate([frame], [frame], [lineart], segments=False)
    assert 3.0 < r.per_frame["edmd"][0] < 4.5
    assert "pixels at 256x256" in r.meta["edmd_units"]


def test_binarize_lineart_polarity():
    paper = np.full((8, 8), 255, np.uint8)
    paper[4] = 0
    assert binarize_lineart(paper).sum() == 8
    assert (binarize_lineart(255 - paper) == binarize_lineart(paper)).all()  # white-on-black detected
    assert binarize_lineart(paper, "light").sum() == 56
    with pytest.raises(ValueError, match="polarity"):
        binarize_lineart(paper, "sideways")


def _zero_flow(src, dst):
    return np.zeros(src.shape[:2] + (2,), np.float32)


def test_tc_hand_computed_eq9():
    # zero flow: E(x) = ||x_t - x_t+1|| / ||x_t+1||. GT 0.5 -> 0.6: E = 0.1 / 0.6; prediction 0.5 -> 0.8: E = 0.3 / 0.8
    gt_t, gt_t1 = np.full((8, 8, 3), 0.5), np.full((8, 8, 3), 0.6)
    pr_t, pr_t1 = np.full((8, 8, 3), 0.5), np.full((8, 8, 3), 0.8)
    tc, e_pred, e_gt = temporal_consistency(pr_t, pr_t1, gt_t, gt_t1, flow_fn=_zero_flow)
    assert (e_pred, e_gt) == pytest.approx((0.3 / 0.8, 0.1 / 0.6))
    assert tc == pytest.approx((0.3 / 0.8) / (0.1 / 0.6)) and tc == pytest.approx(2.25)  # flicker: TC > 1
    assert temporal_consistency(gt_t, gt_t1, gt_t, gt_t1, flow_fn=_zero_flow)[0] == 1.0


def test_tc_static_original_pair():
    still = np.full((8, 8, 3), 0.5)
    assert temporal_consistency(still, still, still, still, flow_fn=_zero_flow)[0] == 1.0  # 0/0, both static
    moved = np.full((8, 8, 3), 0.7)
    assert np.isnan(temporal_consistency(still, moved, still, still, flow_fn=_zero_flow)[0])  # undefined, left out
    r = evaluate([still, moved, still], [still, still, moved])
    assert "1 static original pairs left out" in r.meta["tc_pairs"]


def test_tc_is_one_for_perfect_prediction(clip):
    frames, _ = clip
    report = evaluate(frames, frames)
    assert np.isnan(report.per_frame["tc"][0])
    assert report.per_frame["tc"][1:] == [1.0] * (len(frames) - 1)
    assert report.per_frame["edmd"] == [0.0] * len(frames)
    assert report.meta["tc_definition"] == TC_DEFINITION and "OpenCV" in report.meta["tc_flow"]
    assert "eq. 9" in TC_DEFINITION


def test_tc_rises_above_one_with_temporal_flicker(clip):
    frames, _ = clip
    scores = []
    for amp in (0, 6, 20):
        flicker = [
            np.clip(f.astype(int) + (amp if t % 2 else -amp), 0, 255).astype(np.uint8) for t, f in enumerate(frames)
        ]
        r = evaluate(flicker, frames)
        scores.append(
            (np.nanmean(r.per_frame["tc"]), np.nanmean(r.per_frame["warp_error_ratio"]),
             np.nanmean(r.per_frame["warp_error"]))
        )  # fmt: skip
    assert scores[0][0] == pytest.approx(1.0)
    assert 1.0 < scores[1][0] < scores[2][0]  # eq. 9: lower is better
    assert scores[0][1] > scores[1][1] > scores[2][1]  # the earlier ratio: higher is better
    assert scores[0][2] < scores[1][2] < scores[2][2]


def test_cut_resets_the_pair_chain(clip, make_frame):
    frames, _ = clip
    other = [np.ascontiguousarray(f[::-1, ::-1]) for f in frames[:4]]  # a different shot
    video = frames[:4] + other
    pred = [np.clip(f.astype(int) + 3, 0, 255).astype(np.uint8) for f in video]
    plain = evaluate(pred, video)
    assert np.isfinite(plain.per_frame["tc"][4])  # the pair across the cut is scored (and may spike)
    cut = evaluate(pred, video, cuts=[4])
    assert np.isnan(cut.per_frame["tc"][4]) and np.isnan(cut.per_frame["warp_error_ratio"][4])
    assert cut.per_frame["tc"][5:] == plain.per_frame["tc"][5:]
    assert "1 pairs across shot cuts skipped" in cut.meta["tc_pairs"] and cut.meta["cuts"] == [4]
    assert "tc" in evaluate(pred[:2], video[:2], cuts=[1]).unavailable  # no pair left inside a shot


def test_steady_colour_shift_keeps_warp_error_ratio_near_one(clip):
    # a constant colour error is not flicker for the masked L1 ratio (eq. 9 divides by the frame's norm, so it moves)
    frames, _ = clip
    shifted = [np.clip(f.astype(int) + np.array([0, -20, 10]), 0, 255).astype(np.uint8) for f in frames]
    r = evaluate(shifted, frames)
    assert np.nanmean(r.per_frame["warp_error_ratio"]) == pytest.approx(1.0, abs=0.01)


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
    ratio, we_pred, we_gt = warp_error_ratio(a, b, a, b, flow_fn=const_flow)
    assert (ratio, we_pred) == (1.0, we_gt)
    tc, e_pred, e_gt = temporal_consistency(a, b, a, b, flow_fn=const_flow)
    assert tc == 1.0 and e_pred == e_gt > 0  # no mask in eq. 9: the 3 border columns count
