"""The colour-drift monitor on generated cels: CIEDE2000 against Sharma's reference pairs, the reference scores ~0,
hue drift scores far above codec noise, the summary flags exactly the corrupted window, line masks keep ink out of the
score, garbage frames cannot hide behind the edge test, JSON round trip, empty and one-frame runs."""

import ast
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lvcd.eval.drift import DEFAULT_THRESHOLD, DriftMonitor, ciede2000, format_drift
from lvcd.lineart import normalize_lineart

PALETTE = np.array(
    [[170, 210, 240], [250, 215, 180], [200, 60, 60], [60, 120, 220], [110, 170, 90], [240, 160, 40]], np.uint8
)  # sky background, skin, red, blue, green, orange: no black, no grey (hue shifts move every paint)


def cartoon(t: int = 0, h: int = 180, w: int = 240, line_px: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB flat paint with anti-aliased black outlines, bool line mask) of frame t (shapes move with t)."""
    idx = np.zeros((h, w), np.uint8)
    shapes = [
        (lambda c, v, th: cv2.rectangle(c, (20 + t, 30), (110 + t, 150), v, th, cv2.LINE_AA), 1),
        (lambda c, v, th: cv2.circle(c, (65 + t, 70), 28, v, th, cv2.LINE_AA), 2),
        (lambda c, v, th: cv2.circle(c, (175 - t, 95), 45, v, th, cv2.LINE_AA), 3),
        (lambda c, v, th: cv2.ellipse(c, (175 - t, 85), (18, 10), 0, 0, 360, v, th, cv2.LINE_AA), 4),
        (lambda c, v, th: cv2.rectangle(c, (140, 150 - t // 2), (230, 172), v, th, cv2.LINE_AA), 5),
    ]
    for draw, k in shapes:
        draw(idx, int(k), -1)
    ink = np.zeros((h, w), np.uint8)
    for draw, _ in shapes:
        draw(ink, 255, line_px)
    a = ink.astype(np.float32)[..., None] / 255.0
    rgb = np.round(PALETTE[idx].astype(np.float32) * (1 - a)).astype(np.uint8)
    return rgb, ink > 0


def jpeg(rgb: np.ndarray, quality: int = 90) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def hue_shift(rgb: np.ndarray, degrees: float, keep: np.ndarray | None = None) -> np.ndarray:
    hsv = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + degrees) % 360
    out = np.round(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255).astype(np.uint8)
    if keep is not None:
        out[keep] = rgb[keep]
    return out


@pytest.fixture(scope="module")
def reference():
    return cartoon(0)


# ------------------------------------------------------------------------------------------------ colour maths
@pytest.mark.parametrize("dtype,tol", [(np.float64, 5e-5), (np.float32, 1e-3)])
def test_ciede2000_matches_sharma_reference_pairs(dtype, tol):
    pairs = [  # Sharma, Wu & Dalal (2005) test data: pairs 1, 7, 13, 17, 25 (hue wrap, achromatic, large L)
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.49, -0.001), (50.0, -2.49, 0.0009), 7.1792),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ]
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    want = np.array([p[2] for p in pairs])
    np.testing.assert_allclose(ciede2000(a, b, dtype), want, atol=tol)
    np.testing.assert_allclose(ciede2000(b, a, dtype), want, atol=tol)  # symmetric
    assert ciede2000(a, a, dtype).max() < 1e-3


# ------------------------------------------------------------------------------------------------ frame scores
def test_palette_comes_from_the_reference(reference):
    rgb, lines = reference
    mon = DriftMonitor(rgb, reference_lineart=lines)
    assert {tuple(c) for c in mon.palette} == {tuple(c) for c in PALETTE}


def test_reference_against_itself_scores_zero(reference):
    rgb, lines = reference
    mon = DriftMonitor(rgb)
    assert mon.update(rgb, 0) < 0.05  # anti-aliased outlines are edges: not scored
    assert mon.update(rgb, 1, lines) < 0.05
    moved, moved_lines = cartoon(12)  # same paint, shapes moved: still on the palette
    assert mon.update(moved, 2, moved_lines) < 0.05


def test_hue_shift_scores_clearly_higher_than_codec_noise(reference):
    rgb, lines = reference
    mon = DriftMonitor(rgb)
    noisy = mon.update(jpeg(rgb), 0, lines)
    grain = np.clip(rgb + np.random.default_rng(0).normal(0, 2, rgb.shape), 0, 255).astype(np.uint8)
    grainy = mon.update(grain, 1, lines)
    shifted = mon.update(jpeg(hue_shift(rgb, 12, lines)), 2, lines)
    assert 0 < noisy < 1.0 and grainy < 1.5  # mild noise stays well under the default threshold
    assert shifted > DEFAULT_THRESHOLD > max(noisy, grainy)
    assert shifted > 3 * max(noisy, grainy)
    more = mon.update(hue_shift(rgb, 25, lines), 3, lines)
    assert more > shifted  # monotone in the amount of drift


def test_line_pixels_are_excluded_when_a_mask_is_given(reference):
    rgb, _ = reference
    mon = DriftMonitor(rgb)
    thick, thick_lines = cartoon(0, line_px=9)  # same paint, 9 px black ink: flat inside, so the edge test keeps it
    clean = mon.update(thick, 0, thick_lines)
    assert clean < 0.05
    unmasked = mon.update(thick, 1)
    assert unmasked > clean + 3  # without the mask the black ink is scored (black is not a paint)
    # a Lineart works too, and so does the normalised lineart image of the frame
    assert mon.update(thick, 2, normalize_lineart(np.where(thick_lines, 0, 255).astype(np.uint8))) < 0.05


def test_garbage_frame_cannot_hide_behind_the_edge_test(reference):
    rgb, lines = reference
    mon = DriftMonitor(rgb)
    noise = np.random.default_rng(1).integers(0, 256, rgb.shape, dtype=np.uint8)  # every sample is an "edge"
    assert mon.update(noise, 0, lines) > 2 * DEFAULT_THRESHOLD
    assert mon.windows()[0]["coverage"] > 0.8


def test_float_rgba_and_other_sizes(reference):
    rgb, lines = reference
    mon = DriftMonitor(rgb)
    drift = hue_shift(rgb, 15, lines)
    u8 = mon.update(drift, 0, lines)
    assert mon.update(drift.astype(np.float32) / 255.0, 1, lines) == pytest.approx(u8, abs=1e-3)
    rgba = np.dstack([drift, np.full(rgb.shape[:2], 255, np.uint8)])
    assert mon.update(rgba, 2, lines) == pytest.approx(u8, abs=1e-6)
    big = cv2.resize(drift, (480, 360), interpolation=cv2.INTER_NEAREST)  # the palette does not care about size
    assert mon.update(big, 3) == pytest.approx(u8, rel=0.2)


def test_sampling_is_a_fixed_grid():
    rgb, _ = cartoon(0)
    mon = DriftMonitor(rgb)
    frame = cv2.resize(hue_shift(rgb, 15), (1920, 1080), interpolation=cv2.INTER_NEAREST)
    d1 = mon.distances(frame, np.zeros(frame.shape[:2], bool))
    d2 = mon.distances(frame.copy(), np.zeros(frame.shape[:2], bool))
    np.testing.assert_array_equal(d1, d2)  # deterministic
    assert 8000 < d1.size <= 16384  # ~16k samples at 1080p, whatever the frame size


def test_bad_inputs_raise_helpful_errors(reference):
    rgb, lines = reference
    mon = DriftMonitor(rgb)
    with pytest.raises(ValueError, match="normalize_lineart"):
        mon.update(rgb, 0, np.where(lines, 0, 255).astype(np.uint8))  # a lineart image, not a mask
    with pytest.raises(ValueError, match="is 120x90 but the frame is 240x180"):
        mon.update(rgb, 0, lines[::2, ::2])
    with pytest.raises(ValueError, match="frame_rgb"):
        mon.update(rgb[..., 0], 0)
    with pytest.raises(ValueError, match="window"):
        DriftMonitor(rgb, window=0)


# ------------------------------------------------------------------------------------------------ summaries
def run_sequence(n=40, corrupt=range(20, 30), degrees=15.0, window=10, start=0):
    ref, _ = cartoon(0)
    mon = DriftMonitor(ref, window=window)
    for t in range(n):
        rgb, lines = cartoon(t)
        if t in corrupt:
            rgb = hue_shift(rgb, degrees, lines)
        mon.update(jpeg(rgb), start + t, lines)  # every frame through a codec, as a render is
    return mon


def test_summary_flags_exactly_the_corrupted_windows():
    mon = run_sequence()
    s = mon.summary()
    assert [w["window"] for w in s["over_threshold"]] == [2]
    assert (s["worst_window"]["start"], s["worst_window"]["end"]) == (20, 29)
    spans = [(w["start"], w["end"], w["frames"]) for w in s["windows"]]
    assert spans == [(0, 9, 10), (10, 19, 10), (20, 29, 10), (30, 39, 10)]
    assert 20 <= s["worst_frame"] <= 29 and s["frames"] == 40
    assert all(w["max"] < 1.0 for w in s["windows"] if w["window"] != 2)
    assert s["worst_window"]["far_share"] > 0.5
    line = format_drift(s)
    assert line.startswith("colour drift: worst frames 20-29 (mean dE ") and line.endswith(" > 3.0)")
    # a window straddling the corruption (frames 15-24 corrupt half of windows 1 and 2) flags both
    both = run_sequence(corrupt=range(15, 25), degrees=25.0).summary()
    assert [w["window"] for w in both["over_threshold"]] == [1, 2]
    assert "2 of 4 windows over: 10-19, 20-29" in format_drift(both)


def test_clean_sequence_is_within_threshold():
    s = run_sequence(corrupt=()).summary()
    assert s["over_threshold"] == [] and s["max"] < 1.0
    assert format_drift(s).startswith("colour drift: within 3.0 dE of the reference palette (worst frames ")


def test_summary_json_round_trip():
    s = run_sequence(n=23, start=105).summary()
    back = json.loads(json.dumps(s))
    assert back == s

    def plain(x):
        if isinstance(x, dict):
            return all(isinstance(k, str) and plain(v) for k, v in x.items())
        if isinstance(x, list):
            return all(plain(v) for v in x)
        return x is None or type(x) in (bool, int, float, str)

    assert plain(s)  # no numpy scalars anywhere
    assert [(w["start"], w["end"]) for w in s["windows"]] == [(105, 114), (115, 124), (125, 127)]  # from the 1st


def test_empty_and_single_frame(reference):
    rgb, lines = reference
    mon = DriftMonitor(rgb, window=10)
    s = mon.summary()
    assert s["frames"] == 0 and s["windows"] == [] and s["worst_window"] is None and s["over_threshold"] == []
    assert s["mean"] is None and s["worst_frame"] is None
    assert json.loads(json.dumps(s)) == s
    assert format_drift(s) == "colour drift: no frames measured"

    mon.update(hue_shift(rgb, 20, lines), 7, lines)
    s = mon.summary()
    assert s["frames"] == 1 and len(s["windows"]) == 1 and s["worst_frame"] == 7
    assert (s["windows"][0]["start"], s["windows"][0]["end"]) == (7, 7)
    assert format_drift(s).startswith("colour drift: worst frames 7 (mean dE ")
    mon.update(rgb, 7, lines)  # re-scoring a frame replaces it
    assert len(mon) == 1 and mon.summary()["over_threshold"] == []
    mon.reset()
    assert mon.summary()["frames"] == 0


def test_out_of_order_updates_give_the_same_summary():
    ordered = run_sequence(n=25, corrupt=range(10, 20))
    ref, _ = cartoon(0)
    shuffled = DriftMonitor(ref, window=10)
    for t in np.random.default_rng(0).permutation(25):
        rgb, lines = cartoon(int(t))
        if 10 <= t < 20:
            rgb = hue_shift(rgb, 15.0, lines)
        shuffled.update(jpeg(rgb), int(t), lines)
    assert shuffled.summary() == ordered.summary()


def test_module_imports_no_torch():
    tree = ast.parse(Path(__file__).resolve().parents[2].joinpath("lvcd/eval/drift.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module)
    assert names <= {"__future__", "math", "cv2", "numpy", "lvcd.lineart.normalize", "lvcd.lineart.palette"}
