"""Lineart normalisation: every polarity and transparency convention gives the same line mask; hysteresis, thin /
thicken, sketch convention, compositing, and errors that name the fix. Generated drawings only."""

import cv2
import numpy as np
import pytest

from lvcd.lineart import (
    LineartConfig,
    composite_lines,
    detect_polarity,
    hysteresis_mask,
    line_strength,
    normalize_lineart,
    thicken_lines,
    thin_lines,
    to_sketch,
)


def drawing(h=96, w=128, thickness=1, aa=False) -> np.ndarray:
    """bool line mask of a small drawing: a circle, a rectangle and a diagonal stroke."""
    canvas = np.zeros((h, w), np.uint8)
    lt = cv2.LINE_AA if aa else cv2.LINE_8
    cv2.circle(canvas, (40, 48), 25, 255, thickness, lt)
    cv2.rectangle(canvas, (75, 15), (115, 80), 255, thickness, lt)
    cv2.line(canvas, (5, 90), (60, 60), 255, thickness, lt)
    return canvas if aa else canvas > 0


LINES = drawing()


def variants(lines: np.ndarray) -> dict[str, np.ndarray]:
    ink = lines.astype(np.uint8) * 255
    rgba = np.zeros(lines.shape + (4,), np.uint8)
    rgba[..., :3] = 255  # BasicPBC style: white, fully transparent background ...
    rgba[lines] = (0, 0, 0, 255)  # ... and opaque black lines
    return {
        "black-on-white rgb": np.repeat((255 - ink)[..., None], 3, axis=2),
        "black-on-white grey": 255 - ink,
        "white-on-black rgb": np.repeat(ink[..., None], 3, axis=2),
        "transparent rgba": rgba,
        "float black-on-white": 1.0 - lines.astype(np.float32),
        "uint16 white-on-black": lines.astype(np.uint16) * 65535,
        "grey paper, dark grey ink": np.where(lines, 60, 225).astype(np.uint8),
    }


@pytest.mark.parametrize("name", list(variants(LINES)))
def test_polarity_variants_give_the_same_mask(name):
    la = normalize_lineart(variants(LINES)[name])
    assert la.mask.dtype == bool and la.mask.shape == LINES.shape
    np.testing.assert_array_equal(la.mask, LINES)
    assert la.strength.dtype == np.float32 and 0.0 <= la.strength.min() and la.strength.max() <= 1.0


def test_detect_polarity():
    v = variants(LINES)
    assert detect_polarity(v["black-on-white rgb"]) == "black-on-white"
    assert detect_polarity(v["white-on-black rgb"]) == "white-on-black"
    assert detect_polarity(v["transparent rgba"]) == "alpha"
    opaque = np.dstack([v["black-on-white rgb"], np.full(LINES.shape, 255, np.uint8)])
    assert detect_polarity(opaque) == "black-on-white"  # an opaque RGBA is an RGB image


def test_antialiased_lines_match_the_hard_drawing():
    aa = drawing(aa=True)  # soft edges, the faint tails must not be lost nor become specks
    la = normalize_lineart(255 - aa)
    hard = drawing()
    # every hard line pixel is within 1 px of the normalised mask, and the mask stays thin
    near = cv2.dilate(la.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert near[hard].mean() > 0.98
    assert la.mask.sum() < 3 * hard.sum()


def test_hysteresis_keeps_tails_and_drops_isolated_noise():
    s = np.zeros((20, 20), np.float32)
    s[10, 2:12] = 0.9  # a line ...
    s[10, 12:16] = 0.3  # ... with a faint tail
    s[3, 3] = 0.3  # faint noise far from any line
    m = hysteresis_mask(s, low=0.2, high=0.5)
    assert m[10, 2:16].all() and not m[3, 3]


def test_thicken_and_thin():
    thick = thicken_lines(LINES, 2)
    assert thick.sum() > 3 * LINES.sum() and thick[LINES].all()
    thin = thin_lines(thick)
    assert thin.sum() < 0.6 * thick.sum()
    assert thin.sum() > 0.6 * LINES.sum()  # the drawing survives thinning
    # a closed outline stays closed: the circle's inside is still separated from the outside
    n_thick, _ = cv2.connectedComponents((~thick).astype(np.uint8), connectivity=4)
    n_thin, _ = cv2.connectedComponents((~thin).astype(np.uint8), connectivity=4)
    assert n_thin == n_thick
    cfg = LineartConfig(thicken=1)
    assert normalize_lineart(255 - LINES.astype(np.uint8) * 255, cfg).mask.sum() > LINES.sum()


def test_sketch_is_white_lines_on_black_three_channels():
    sk = to_sketch(variants(LINES)["black-on-white rgb"])
    assert sk.shape == LINES.shape + (3,) and sk.dtype == np.float32
    assert sk[LINES].min() == 1.0 and sk[~LINES].max() == 0.0
    np.testing.assert_array_equal(sk, to_sketch(variants(LINES)["transparent rgba"]))


def test_coloured_trace_lines_are_detected_and_painted_over():
    img = np.full(LINES.shape + (3,), 255, np.uint8)
    img[LINES] = 0
    red = np.zeros_like(LINES)
    red[40:42, 80:110] = True
    img[red] = (255, 0, 0)
    la = normalize_lineart(img)
    assert la.mask[red].all()  # a red line is a line (it bounds a shadow region) ...
    assert la.colored is not None and la.colored[red].all() and not la.colored[LINES].any()
    flat = np.full(LINES.shape + (3,), (200, 180, 160), np.uint8)
    out = composite_lines(flat, la)
    assert (out[LINES] == 0).all()  # black lines drawn
    assert (out[red] == (200, 180, 160)).all()  # ... colour-trace lines painted over (finished cel)
    kept = composite_lines(flat, la, keep_colored=True)
    assert (kept[red] == (255, 0, 0)).all()


def test_line_strength_is_what_the_diffusion_path_needs():
    s = line_strength(variants(LINES)["white-on-black rgb"], "white-on-black")
    np.testing.assert_array_equal(s > 0.5, LINES)


def test_errors_teach():
    with pytest.raises(ValueError, match="polarity"):
        LineartConfig(polarity="dark")
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        normalize_lineart(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="divide 8-bit data by 255"):
        normalize_lineart(np.full((4, 4), 255.0))
    with pytest.raises(ValueError, match="RGBA"):
        line_strength(np.zeros((4, 4), np.uint8), "alpha")
    with pytest.raises(ValueError, match="low"):
        LineartConfig(low=0.8, high=0.5)
