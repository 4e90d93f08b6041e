"""XDoG extraction: lines at colour boundaries and at drawn ink, nothing on flat areas (dark ones included)."""

import cv2
import numpy as np
import pytest

from lvcd.lineart import XDoGConfig, extract_lineart, to_sketch, xdog


def test_xdog_draws_boundaries_and_ink_but_not_flat_paint():
    img = np.full((80, 100, 3), 255, np.uint8)
    cv2.rectangle(img, (10, 10), (50, 60), (30, 30, 30), -1)  # a dark flat area must not become ink
    cv2.circle(img, (75, 40), 15, (120, 120, 240), -1)
    cv2.line(img, (5, 75), (95, 75), (0, 0, 0), 1)
    s = xdog(img)
    assert s.dtype == np.float32 and s.shape == (80, 100) and 0 <= s.min() and s.max() <= 1
    assert s[25:45, 25:35].max() < 0.05  # inside the dark rectangle
    assert s[2:8, 2:98].max() < 0.05  # white paper
    assert s[74:77, 10:90].max(axis=0).min() > 0.5  # the drawn line
    assert s[8:13, 20:40].max(axis=0).min() > 0.5  # the rectangle's top edge
    la = extract_lineart(img)
    assert la.mask.dtype == bool and to_sketch(la).shape == (80, 100, 3)


def test_isoluminant_colour_edges_are_found():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, :20] = (180, 60, 60)
    img[:, 20:] = (60, 110, 60)  # about the same luminance as the left half
    assert xdog(img)[:, 18:22].max(axis=1).min() > 0.5
    assert xdog(img, XDoGConfig(colour_edges=False))[:, 18:22].max() < xdog(img)[:, 18:22].max()


def test_rgba_and_config_errors():
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[10:20, 10:20] = (200, 0, 0, 255)
    assert xdog(rgba)[9:11, 12:18].max() > 0.5
    with pytest.raises(ValueError, match="sigma"):
        XDoGConfig(sigma=0)
