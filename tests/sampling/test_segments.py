"""Segment planning for any length, noise recycling and decode chunking (official values and generalisations)."""

import pytest
import torch

from lvcd.sampling import SegmentConfig, num_segments, plan_decode_chunks, plan_segments, recycle_noise

LENGTHS = [1, 2, 13, 14, 15, 16, 24, 25, 26, 75, 85, 100, 199, 200]


def emitted(n, cfg=SegmentConfig()):
    frames = [0] if n >= 1 else []
    for s in plan_segments(n, cfg):
        frames += list(range(s.emit_start, s.emit_stop))
    return frames


@pytest.mark.parametrize("n", LENGTHS)
def test_every_frame_emitted_once_in_order(n):
    assert emitted(n) == list(range(n))


@pytest.mark.parametrize("n", range(1, 201))
def test_every_length_1_to_200(n):
    assert emitted(n) == list(range(n))
    for s in plan_segments(n):
        assert len(s.hint_indices) == 19
        assert max(s.hint_indices) <= n - 1


def test_official_plan_for_25_frames():
    segs = plan_segments(25)
    assert [s.hint_indices for s in segs] == [
        [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
        [0, 11, 12, 13, 14, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24],
    ]
    assert [s.mode for s in segs] == ["normal", "prevref"]


def test_official_segment_counts_where_official_code_works():
    # official: n_samples = (N - 15) // 10 + 1 for N = 15 + 10k (demo clips: 75 -> 7, 85 -> 8)
    for n in (15, 25, 75, 85):
        assert num_segments(n) == (n - 15) // 10 + 1


def test_tail_is_padded_by_holding_the_last_sketch():
    segs = plan_segments(13)
    assert len(segs) == 1
    assert segs[0].video == tuple(range(1, 13)) + (12, 12)
    assert (segs[0].emit_start, segs[0].emit_stop) == (1, 13)


def test_small_windows_generalise():
    cfg = SegmentConfig(video_frames=4, overlap=1)
    for n in range(1, 40):
        assert emitted(n, cfg) == list(range(n))
        for s in plan_segments(n, cfg):
            assert len(s.hint_indices) == cfg.window == 6


def test_bad_overlap_teaches():
    with pytest.raises(ValueError, match="overlap"):
        SegmentConfig(video_frames=14, overlap=14)
    with pytest.raises(ValueError, match="at least 1 frame"):
        plan_segments(0)


def test_noise_recycling_matches_official_positions():
    x = torch.arange(19).float().view(19, 1, 1, 1)
    nxt = recycle_noise(x)
    assert nxt.flatten().int().tolist() == [0, 15, 16, 17, 18, 15, 16, 17, 18, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]


def test_official_decode_chunks_for_25_frames():
    chunks = plan_decode_chunks(25)
    assert [list(c.latent_indices) for c in chunks] == [
        list(range(10)),
        [0, *range(7, 16)],
        [0, *range(13, 22)],
        [0, *range(19, 25)],
    ]
    assert [c.keep_from for c in chunks] == [0, 4, 4, 4]


@pytest.mark.parametrize("n", range(1, 120))
def test_decode_chunks_emit_every_frame_once(n):
    out = [f for c in plan_decode_chunks(n) for f in c.emitted]
    assert out == list(range(n))
    for c in plan_decode_chunks(n):
        assert len(c.latent_indices) <= 10 and c.latent_indices[0] == 0
