"""BasicPBC segment metrics on a synthetic frame, checked against hand counts and against BasicPBC's `eval_json`
formulas applied to per-region colour lists."""

import numpy as np
import pytest

from lvcd.eval import evaluate, label_regions, segment_metrics

WHITE, RED, GREEN, BLUE, BLACK = (255, 255, 255), (220, 40, 40), (40, 200, 40), (40, 40, 220), (0, 0, 0)


@pytest.fixture
def scene():
    """40x40: a 1-px line cross (4 quadrant regions) + a closed 2x2 speck region in the top-left quadrant."""
    lines = np.zeros((40, 40), bool)
    lines[20, :] = lines[:, 20] = True
    lines[2:6, 2:6] = True
    lines[3:5, 3:5] = False  # 4-px region inside a ring
    gt = np.zeros((40, 40, 3), np.uint8)
    gt[:20, :20], gt[:20, 21:], gt[21:, :20], gt[21:, 21:] = WHITE, RED, GREEN, BLUE  # top-left is background
    gt[3:5, 3:5] = RED
    gt[lines] = BLACK
    return lines, gt


def _basicpbc_eval(pred_cols, gt_cols, sizes, threshold=10, bg=WHITE):
    """BasicPBC paint/utils.py eval_json, on lists of region colours and sizes (background = `bg`)."""
    acc = pix = pix_fg = fg_max = acc_t = acc_t_max = bm = bm_max = 0
    for p, g, s in zip(pred_cols, gt_cols, sizes):
        if g != bg:
            fg_max += s
            pix_fg += s if p == g else 0
        if p == g:
            acc += 1
            pix += s
            acc_t += 1 if s > threshold else 0
        acc_t_max += 1 if s > threshold else 0
        if p == bg or g == bg:
            bm_max += s
        if p == bg and g == bg:
            bm += s
    return {"acc": acc / len(sizes), "acc_thres": acc_t / acc_t_max, "pix_acc": pix / sum(sizes),
            "pix_f_acc": pix_fg / fg_max, "pix_b_miou": bm / bm_max if bm_max else 1.0}  # fmt: skip


def test_regions_are_4_connected_components(scene):
    lines, _ = scene
    labels, n = label_regions(lines)
    assert n == 5
    assert labels[lines].max() == 0 and (labels[~lines] > 0).all()
    assert sorted(np.bincount(labels.ravel())[1:]) == [4, 361, 380, 380, 384]


def test_perfect_prediction_scores_one(scene):
    lines, gt = scene
    s = segment_metrics(gt, gt, lines)
    assert s.as_dict() == {"acc": 1.0, "acc_thres": 1.0, "pix_acc": 1.0, "pix_f_acc": 1.0, "pix_b_miou": 1.0}
    assert s.num_regions == 5


def test_wrong_regions_match_basicpbc_formulas(scene):
    lines, gt = scene
    pred = gt.copy()
    pred[3:5, 3:5] = GREEN  # small region wrong (below the 10-px threshold)
    pred[:20, 21:] = WHITE  # red region painted as background
    pred[lines] = BLACK
    rng = np.random.default_rng(0)
    noisy_line = pred.copy()
    noisy_line[lines] = rng.integers(0, 256, (int(lines.sum()), 3))  # line pixels are never scored
    s = segment_metrics(noisy_line, gt, lines)
    labels, n = label_regions(lines)
    sizes = np.bincount(labels.ravel())[1:]
    gt_cols = [tuple(gt[labels == i][0]) for i in range(1, n + 1)]
    pred_cols = [tuple(pred[labels == i][0]) for i in range(1, n + 1)]
    expected = _basicpbc_eval(pred_cols, gt_cols, sizes)
    assert s.as_dict() == pytest.approx(expected)
    assert s.acc == pytest.approx(3 / 5) and s.acc_thres == pytest.approx(3 / 4)
    assert s.pix_b_miou == pytest.approx(384 / (384 + 380))


def test_dominant_colour_tolerance_and_resizing(scene):
    lines, gt = scene
    pred = gt.astype(int)
    pred[25:27, 25:27] += 3  # a few off pixels do not change a region's dominant colour
    pred = np.clip(pred, 0, 255).astype(np.uint8)
    assert segment_metrics(pred, gt, lines).acc == 1.0
    tinted = np.clip(gt.astype(int) + 2, 0, 255).astype(np.uint8)
    assert segment_metrics(tinted, gt, lines).acc < 1.0
    assert segment_metrics(tinted, gt, lines, tolerance=2).acc == 1.0
    big = np.repeat(np.repeat(gt, 2, axis=0), 2, axis=1)  # frames at 2x the lineart size are sampled back exactly
    assert segment_metrics(big, big, lines).acc == 1.0
    no_bg = segment_metrics(gt, gt, lines, background_rgb=None)
    assert np.isnan(no_bg.pix_f_acc) and np.isnan(no_bg.pix_b_miou)


def test_evaluate_reports_segments_only_with_lineart(clip):
    frames, linearts = clip
    with_lineart = evaluate(frames, frames, linearts)
    for k in ("acc", "acc_thres", "pix_acc", "pix_f_acc", "pix_b_miou"):
        assert with_lineart.per_frame[k] == [1.0] * len(frames)
    wrong = [f.copy() for f in frames]
    for f in wrong:
        f[np.all(f == (200, 80, 80), axis=-1)] = (80, 80, 200)  # the circle painted blue
    worse = evaluate(wrong, frames, linearts).summary()
    assert worse["acc"]["mean"] < 1.0 and worse["pix_f_acc"]["mean"] < 1.0
    without = evaluate(frames, frames)
    assert "acc" not in without.per_frame and "lineart" in without.unavailable["acc"]
