"""Confidence out (issue 11, item 4): in flat mode `lvcd colorize` prints the bucket confidence line, not the palette
drift line (a flat fill never leaves the keyframe's palette); the sidecar keeps the per-frame numbers; a flat fill of
a shaded keyframe, or a near-blank single-paint result, is flagged (a check that can fail)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import colour_reference, lineart_frames, write_png  # noqa: E402

from lvcd.backends.bucket_confidence import ConfidenceLog, format_line, merge_summaries  # noqa: E402
from lvcd.cli import main  # noqa: E402
from lvcd.video.writer import sidecar_path  # noqa: E402


def _cel(tmp_path):
    frames = lineart_frames(8)
    for i, f in enumerate(frames):
        write_png(tmp_path / "line" / f"{i:04d}.png", f)
    return tmp_path / "line", write_png(tmp_path / "ref.png", colour_reference(frames[0]))


def _shaded(tmp_path, n=5):
    """A shaded colour clip panning right and its XDoG lines: no flat paints, lines that do not close."""
    from lvcd.lineart.xdog import extract_lineart

    h, w = 96, 160
    yy, xx = np.mgrid[0:h, 0 : w + 6 * n].astype(np.float32)
    world = (
        np.stack(
            [
                128 + 90 * np.sin(xx / 13.0) * np.cos(yy / 19.0),
                120 + 60 * np.cos(xx / 9.0 + yy / 23.0),
                140 + 80 * np.sin((xx + yy) / 27.0),
            ],
            -1,
        )
        .clip(0, 255)
        .astype(np.uint8)
    )
    colour = [np.ascontiguousarray(world[:, 6 * t : 6 * t + w]) for t in range(n)]
    for i, c in enumerate(colour):
        ink = (255 * (1 - extract_lineart(c).strength)).astype(np.uint8)
        write_png(tmp_path / "line" / f"{i:04d}.png", np.repeat(ink[..., None], 3, 2))
    return tmp_path / "line", write_png(tmp_path / "ref.png", colour[0])


def test_flat_mode_prints_the_confidence_line_not_the_drift_line(tmp_path, capsys):
    line, ref = _cel(tmp_path)
    out = tmp_path / "out.mp4"
    assert main(["colorize", str(line), "-r", str(ref), "-o", str(out), "--backend", "bucket"]) == 0
    err = capsys.readouterr().err
    assert "bucket confidence: all 8 frames confident" in err and "colour drift" not in err
    side = json.loads(sidecar_path(out).read_text())
    conf = side["bucket_confidence"]
    assert conf["frames"] == 8 and conf["frames_to_check"] == [] and len(conf["paint_share_distance"]) == 8


def test_flat_fill_of_a_shaded_keyframe_is_flagged(tmp_path, capsys, caplog):
    line, ref = _shaded(tmp_path)
    out = tmp_path / "flat.mp4"
    assert (
        main(["colorize", str(line), "-r", str(ref), "-o", str(out), "--backend", "bucket", "--bucket-mode", "flat"])
        == 0
    )
    text = capsys.readouterr().err + caplog.text
    assert "frames to check" in text and "paint areas far from the keyframe's" in text
    caplog.clear()
    auto = tmp_path / "auto.mp4"  # auto: not cel lineart, warped; no flat-fill confidence, the drift line instead
    assert main(["colorize", str(line), "-r", str(ref), "-o", str(auto), "--backend", "bucket"]) == 0
    text = capsys.readouterr().err + caplog.text
    assert "does not look like cel lineart" in text and "bucket confidence" not in text and "colour drift" in text


class _Regions:
    def __init__(self, area):
        self.area = np.asarray(area, np.int64)


def test_single_paint_fails_whatever_the_keyframe_background():
    """A keyframe 70% ground: a frame all ground is only 0.3 away in total variation (under the 0.35 limit), but one
    paint covering the frame is near-blank and fails."""
    log = ConfidenceLog(0.5, np.array([0.7, 0.3]))
    regions = _Regions([0, 70, 30])
    log.add(0, regions, np.ones(3, np.float32), np.array([0, 0, 1]), 2)  # as the keyframe
    log.add(1, regions, np.ones(3, np.float32), np.array([0, 0, 0]), 2)  # all ground
    s = log.summary()
    assert s["paint_check_failed"] == [1] and s["frames_to_check"] == [1]
    both = ConfidenceLog(0.5, [(0, np.array([0.7, 0.3])), (9, np.array([0.2, 0.8]))])
    both.add(5, regions, np.ones(3, np.float32), np.array([0, 1, 1]), 2)  # one paint: near-blank for both
    both.add(6, regions, np.ones(3, np.float32), np.array([0, 1, 0]), 2)  # 0.3 / 0.7: close to the second one
    assert both.summary()["paint_check_failed"] == [5]


def test_passes_merge_on_global_frames():
    fwd = {
        "low_confidence_threshold": 0.5,
        "frame_share_to_check": 0.1,
        "paint_share_limit": 0.35,
        "low_confidence_share": [0.0, 0.3, 0.0],
        "paint_share_distance": [0.0, 0.0, 0.5],
    }
    bwd = dict(fwd, low_confidence_share=[0.0, 0.0, 0.2], paint_share_distance=[0.0, 0.0, 0.0])
    s = merge_summaries([([5, 6, 7], fwd), ([None, 4, 3], bwd)])
    assert s["frames"] == 5 and s["frames_to_check"] == [3, 6, 7]
    assert "frames 3, 6, 7" in format_line(s)
