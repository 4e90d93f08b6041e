"""The non-cel detector (issue 11, item 5): unclosed lines on a shaded keyframe are not cel; a flat-painted keyframe
is cel even when its ground covers most of the frame (a few small characters on a plain background)."""

from __future__ import annotations

import cv2
import numpy as np

from lvcd.backends.bucket import BucketColorizer
from lvcd.backends.bucket_warp import looks_like_cel


def test_small_characters_on_a_plain_ground_are_cel():
    line = np.full((90, 160, 3), 255, np.uint8)
    cv2.circle(line, (30, 40), 8, (0, 0, 0), 1)
    cv2.rectangle(line, (100, 50), (112, 62), (0, 0, 0), 1)
    ref = line.copy()
    ref[(line == 255).all(-1)] = (200, 220, 240)
    cv2.floodFill(ref, None, (30, 40), (220, 60, 60))
    cv2.floodFill(ref, None, (106, 56), (60, 160, 60))
    c = BucketColorizer()
    c.prepare_keyframes([(0, ref, line)])
    assert c.cel["largest_share"] > 0.9 and c.cel["flat_share"] > 0.98
    assert c.used_mode == "flat"
    # the rule: flat enough, and either no region covers most of the frame or the keyframe is almost all exact paints
    assert not looks_like_cel({"regions": 3, "largest_share": 0.95, "flat_share": 0.9})
    assert looks_like_cel({"regions": 3, "largest_share": 0.5, "flat_share": 0.9})
    assert not looks_like_cel({"regions": 60, "largest_share": 0.5, "flat_share": 0.12})  # shaded (anidoc-like)
