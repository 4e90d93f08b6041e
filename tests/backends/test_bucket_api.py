"""The bucket backend through lvcd.api: lines kept by default (the cel convention), `keep_lines=False` for paint
only, `bucket_mode` and `pinholes` validated and passed on, the confidence summary exposed for the sidecar."""

from __future__ import annotations

import numpy as np
import pytest

from lvcd import api
from lvcd.api import ColorizeOptions, LVCDError
from lvcd.backends import BucketBackend


def clip(n=4, h=48, w=80):
    frames = []
    for t in range(n):
        f = np.full((h, w, 3), 255, np.uint8)
        f[10:12, 5 + t : 60 + t] = 0
        f[10:40, 5 + t : 7 + t] = 0
        f[38:40, 5 + t : 60 + t] = 0
        f[10:40, 58 + t : 60 + t] = 0
        frames.append(f)
    ref = np.full((h, w, 3), 200, np.uint8)
    ref[12:38, 7:58] = (200, 40, 40)
    ref[(frames[0] == 0).all(-1)] = 0
    return frames, ref


def test_bucket_keeps_the_lines_by_default_and_paints_only_when_asked():
    frames, ref = clip()
    ink = [(f == 0).all(-1) for f in frames]
    out = list(api.colorize_frames(frames, ref, backend="bucket"))
    assert all((o[m] < 60).all() for o, m in zip(out, ink))
    bare = list(api.colorize_frames(frames, ref, backend="bucket", keep_lines=False))
    assert any((o[m] > 60).any() for o, m in zip(bare, ink))  # line pixels painted with a region's paint


def test_bucket_mode_option():
    with pytest.raises(LVCDError, match="bucket_mode"):
        ColorizeOptions(bucket_mode="paint")
    backend = BucketBackend(ColorizeOptions(bucket_mode="flat"))
    assert backend.colorizer.config.mode == "flat"
    frames, ref = clip()
    list(api.colorize_frames(frames, ref, backend=backend))
    conf = backend.confidence()
    assert conf["frames"] == len(frames) and "frames_to_check" in conf


def test_pinholes_option_is_validated_and_reaches_the_segmentation():
    for bad in (1, -2, 2.5, True):
        with pytest.raises(LVCDError, match="pinholes"):
            ColorizeOptions(pinholes=bad)
    assert BucketBackend(ColorizeOptions()).colorizer.config.regions.hole_length == 0  # off by default
    backend = BucketBackend(ColorizeOptions(pinholes=5, bucket_mode="flat"))
    assert backend.colorizer.config.regions.hole_length == 5
    frames, ref = clip()
    out = list(api.colorize_frames(frames, ref, backend=backend))  # runs through (its effect: tests/lineart)
    assert len(out) == len(frames) and all(tuple(o[25, 30]) == (200, 40, 40) for o in out)
