"""lvcd.colorize_frames(extra_references=[...]) through both backends (issue 15)."""
import numpy as np
import pytest
from test_api import colour_of, lineart_clip

from lvcd import api
from lvcd.api import ColorizeOptions, DiffusionBackend
from lvcd.backends.extra_refs import as_items, bucket_keyframes
from lvcd.pipelines.tiny import SHORT_OVERLAP

TINY_SHORT = dict(steps=1, size=(64, 64), overlap=SHORT_OVERLAP)
N = 7  # two windows of the short layout


@pytest.fixture(scope="module")
def backend(tiny_pipe_short):
    return DiffusionBackend(tiny_pipe_short, ColorizeOptions(**TINY_SHORT))


def _extras(frames):
    h, w = frames[0].shape[:2]
    sheet = colour_of(frames[3])
    left = np.zeros((N, h, w), np.float32)
    left[:, :, : w // 2] = 1
    sel = np.zeros((h, w), bool)
    sel[8:40, 8:60] = True
    return [{"image": sheet, "mask": sel, "target_mask": left, "lineart": frames[3]},
            {"image": colour_of(frames[5]), "target_mask": 1 - left[0]}]  # no lineart: XDoG


def test_diffusion_two_extra_references_deterministic_exact_count(backend):
    frames = lineart_clip(N)
    ref = colour_of(frames[0])
    a = list(api.colorize_frames(frames, ref, backend=backend, extra_references=_extras(frames), **TINY_SHORT))
    b = list(api.colorize_frames(frames, ref, backend=backend, extra_references=_extras(frames), **TINY_SHORT))
    plain = list(api.colorize_frames(frames, ref, backend=backend, **TINY_SHORT))
    assert len(a) == N and all(x.shape == frames[0].shape and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, y) for x, y in zip(a, plain))


def test_bucket_extra_references_are_more_keyframes():
    frames = lineart_clip(N)
    ref = colour_of(frames[0])
    extras = [{"image": colour_of(frames[4]), "lineart": frames[4]}]
    out = list(api.colorize_frames(frames, ref, backend="bucket", extra_references=extras))
    again = list(api.colorize_frames(frames, ref, backend="bucket", extra_references=extras))
    assert len(out) == N and all(np.array_equal(x, y) for x, y in zip(out, again))
    keys = bucket_keyframes(ref, frames[0], extras, (frames[0].shape[1], frames[0].shape[0]))
    assert [k[0] for k in keys] == [-1, -2] and keys[1][2] is not None


def test_items_validate():
    assert as_items(["a.png"]) == [{"image": "a.png", "mask": None, "target_mask": None, "lineart": None}]
    with pytest.raises(ValueError, match="extra_references\\[0\\]: unknown key"):
        as_items([{"image": "a.png", "colour": 1}])
    with pytest.raises(ValueError, match="extra_references\\[1\\] must be"):
        as_items(["a.png", {"mask": "m.png"}])
