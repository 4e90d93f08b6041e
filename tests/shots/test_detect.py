"""Cut detection on generated lineart clips with known cuts (tests/shots/shots_synth.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scenedetect.common import FrameTimecode
from shots_synth import make_clip, scene

from lvcd.shots.detect import DetectConfig, LineartDetector, cuts_to_ranges, detect_cuts, line_change, line_map


def _match(found: list[int], truth: list[int], tol: int = 1) -> tuple[list[int], list[int]]:
    missed = [t for t in truth if not any(abs(f - t) <= tol for f in found)]
    false = [f for f in found if not any(abs(f - t) <= tol for t in truth)]
    return missed, false


@pytest.mark.parametrize("size", [(320, 180), (640, 360)])
def test_every_cut_found_within_one_frame_and_no_false_cut(size):
    frames, truth = make_clip(size=size)
    found = detect_cuts(frames, DetectConfig())
    missed, false = _match(found, truth)
    assert not missed, f"missed cuts {missed} (found {found})"
    assert not false, f"false cuts {false} (truth {truth})"


def test_slow_pan_alone_is_one_shot():
    frames = list(scene("pan", 60, seed=2, size=(320, 180), speed=1.5))
    assert detect_cuts(frames) == []


def test_white_on_black_lineart():
    frames, truth = make_clip(size=(320, 180))
    inverted = [255 - f for f in frames]
    missed, false = _match(detect_cuts(inverted), truth)
    assert not missed and not false


def test_cut_scores_stand_far_above_motion():
    frames, truth = make_clip(size=(320, 180))
    maps = [line_map(f) for f in frames]
    scores = [0.0] + [line_change(maps[i - 1], maps[i]) for i in range(1, len(maps))]
    assert min(scores[t] for t in truth) > 0.4
    assert max(s for i, s in enumerate(scores) if i not in truth) < 0.15


def test_pyscenedetect_interface_and_frame_offsets():
    # a detector started at frame 100 reports cuts in the same timecode base
    frames, truth = make_clip(size=(320, 180))
    det = LineartDetector()
    first = 100
    for i, f in enumerate(frames):
        assert det.process_frame(FrameTimecode(first + i, 24.0), f) == []
    cuts = [int(c.frame_num) - first for c in det.post_process(FrameTimecode(first + len(frames) - 1, 24.0))]
    assert cuts == detect_cuts(frames)
    assert len(det.scores) == len(frames)


def test_min_shot_len_keeps_the_stronger_cut():
    a = list(scene("shapes", 10, seed=1))
    b = list(scene("shapes", 2, seed=2))  # a 2-frame flash
    c = list(scene("shapes", 10, seed=3))
    assert detect_cuts(a + b + c, DetectConfig(min_shot_len=1)) == [10, 12]
    assert len(detect_cuts(a + b + c, DetectConfig(min_shot_len=6))) == 1


def test_blank_frames_and_ranges():
    blank = [np.full((90, 160, 3), 255, np.uint8)] * 8
    drawn = list(scene("shapes", 8, seed=1, size=(160, 90)))
    assert detect_cuts(blank + drawn, DetectConfig(min_shot_len=2)) == [8]
    assert cuts_to_ranges([8], 16) == [(0, 8), (8, 16)]
    assert cuts_to_ranges([], 5) == [(0, 5)]


@pytest.mark.parametrize("method", ["hash", "content", "adaptive"])
def test_pyscenedetect_methods_run(method):
    frames, truth = make_clip(size=(320, 180))
    found = detect_cuts(frames, DetectConfig(method=method))
    assert all(0 < f < len(frames) for f in found)


def test_config_errors_teach():
    with pytest.raises(ValueError, match="`method`"):
        DetectConfig(method="histogram")
    with pytest.raises(ValueError, match="min_shot_len"):
        DetectConfig(min_shot_len=0)


def test_detect_shots_on_an_encoded_video(tmp_path):
    """Through lvcd.video: an H.264 file (compression noise on the lines), frame numbers exact."""
    from fractions import Fraction

    from lvcd.shots.detect import detect_shots
    from lvcd.video import open_writer

    frames, truth = make_clip(size=(320, 180))
    path = tmp_path / "clip.mp4"
    with open_writer(path, Fraction(24), (320, 180)) as w:
        for f in frames:
            w.write(f)
    found = detect_shots(path, progress=False)
    assert found.cuts == truth and found.frame_count == len(frames) and found.fps == 24
    assert found.ranges[0] == (0, truth[0]) and found.ranges[-1][1] == len(frames)
    assert len(found.scores) == len(frames)
