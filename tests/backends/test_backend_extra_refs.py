"""lvcd.colorize_frames(extra_references=[...]) through both backends (issue 15)."""

import cv2
import numpy as np
import pytest
from test_api import colour_of, lineart_clip

from lvcd import api
from lvcd.backends.diffusion import DiffusionBackend
from lvcd.backends.extra_refs import as_items
from lvcd.options import RenderOptions
from lvcd.pipelines.tiny import SHORT_OVERLAP

TINY_SHORT = dict(steps=1, size=(64, 64), overlap=SHORT_OVERLAP)
N = 7  # two windows of the short layout
GREEN = (40, 200, 60)


@pytest.fixture(scope="module")
def backend(tiny_pipe_short):
    return DiffusionBackend(tiny_pipe_short, RenderOptions.of(**TINY_SHORT))


def _extras(frames):
    h, w = frames[0].shape[:2]
    left = np.zeros((N, h, w), np.float32)
    left[:, :, : w // 2] = 1
    sel = np.zeros((h, w), bool)
    sel[8:40, 8:60] = True
    return [
        {"image": colour_of(frames[3]), "mask": sel, "target_mask": left, "lineart": frames[3]},
        {"image": colour_of(frames[5]), "target_mask": 1 - left[0]},
    ]  # no lineart: XDoG


def test_diffusion_two_extra_references_deterministic_exact_count(backend):
    frames = lineart_clip(N)
    ref = colour_of(frames[0])
    a = list(api.colorize_frames(frames, ref, backend=backend, extra_references=_extras(frames), **TINY_SHORT))
    b = list(api.colorize_frames(frames, ref, backend=backend, extra_references=_extras(frames), **TINY_SHORT))
    plain = list(api.colorize_frames(frames, ref, backend=backend, **TINY_SHORT))
    assert len(a) == N and all(x.shape == frames[0].shape and x.dtype == np.uint8 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, y) for x, y in zip(a, plain))


def _entering_clip(n=N, h=48, w=80):
    """A circle throughout; a square that enters at frame 3 (not in the keyframe), both as 2-px lines."""
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 255, np.uint8)
        cv2.circle(f, (14 + i, h // 2), 9, (0, 0, 0), 2)
        if i >= 3:
            cv2.rectangle(f, (46 + i, 12), (66 + i, 34), (0, 0, 0), 2)
        frames.append(f)
    return frames


def _painted(frame, seed_xy, paint):
    out = colour_of(frame)
    cv2.floodFill(out, np.zeros((frame.shape[0] + 2, frame.shape[1] + 2), np.uint8), seed_xy, paint)
    return out


def _green(frames):
    return [int((f == GREEN).all(-1).sum()) for f in frames]


def test_bucket_extra_reference_paints_follow_its_target_mask():
    frames = _entering_clip()
    ref = colour_of(frames[0])
    extra = {"image": _painted(frames[4], (60, 22), GREEN), "lineart": frames[4]}  # the square, painted green
    free = list(api.colorize_frames(frames, ref, backend="bucket", bucket_mode="flat", extra_references=[extra]))
    again = list(api.colorize_frames(frames, ref, backend="bucket", bucket_mode="flat", extra_references=[extra]))
    plain = list(api.colorize_frames(frames, ref, backend="bucket", bucket_mode="flat"))
    assert len(free) == N and all(np.array_equal(x, y) for x, y in zip(free, again))
    assert sum(_green(free)) > 0 and sum(_green(plain)) == 0  # the extra keyframe is matched against
    h, w = frames[0].shape[:2]
    nowhere = np.zeros((h, w), np.uint8)
    barred = list(
        api.colorize_frames(
            frames, ref, backend="bucket", bucket_mode="flat", extra_references=[{**extra, "target_mask": nowhere}]
        )
    )
    assert len(barred) == N and sum(_green(barred)) == 0  # its paints may go nowhere
    everywhere = list(
        api.colorize_frames(
            frames,
            ref,
            backend="bucket",
            bucket_mode="flat",
            extra_references=[{**extra, "target_mask": nowhere + 255}],
        )
    )
    assert all(np.array_equal(x, y) for x, y in zip(everywhere, free))  # an all-white mask restricts nothing


def test_items_validate():
    assert as_items(["a.png"]) == [{"image": "a.png", "mask": None, "target_mask": None, "lineart": None}]
    with pytest.raises(ValueError, match="extra_references\\[0\\]: unknown key"):
        as_items([{"image": "a.png", "colour": 1}])
    with pytest.raises(ValueError, match="extra_references\\[1\\] must be"):
        as_items(["a.png", {"mask": "m.png"}])
    frames = lineart_clip(3)
    with pytest.raises(ValueError, match="target_mask has 2 frames; the shot has 3"):
        list(
            api.colorize_frames(
                frames,
                colour_of(frames[0]),
                backend="bucket",
                bucket_mode="flat",
                extra_references=[{"image": colour_of(frames[1]), "target_mask": np.zeros((2, 48, 80), np.uint8)}],
            )
        )


def test_diffusion_resume_with_extra_references_is_identical(backend, tmp_path):
    """Every window restarts the side batch from its own noise: a render resumed after window 0 equals a whole one."""
    frames = lineart_clip(N)
    ref = colour_of(frames[0])
    extras = as_items(_extras(frames))
    full = list(backend.colorize(ref, iter(frames), N, checkpoint_dir=tmp_path / "a", extra_references=extras))
    ckpts = sorted((tmp_path / "a").glob("seg_*.safetensors"))
    assert len(ckpts) == 2
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / ckpts[0].name).write_bytes(ckpts[0].read_bytes())
    resumed = list(backend.colorize(ref, iter(frames), N, checkpoint_dir=tmp_path / "b", extra_references=extras))
    assert len(resumed) == N and all(np.array_equal(x, y) for x, y in zip(full, resumed))


def test_bucket_extra_references_join_the_shots_keyframes():
    """Keyframes used together (`keyframes=`) and extra references in one call: the shot's keyframes come first."""
    frames = _entering_clip()
    keys = [(0, colour_of(frames[0])), (2, colour_of(frames[2]))]  # neither shows the square
    extra = {"image": _painted(frames[4], (60, 22), GREEN), "lineart": frames[4]}
    out = list(
        api.colorize_frames(
            frames, None, keyframes=keys, backend="bucket", bucket_mode="flat", extra_references=[extra]
        )
    )
    plain = list(api.colorize_frames(frames, None, keyframes=keys, backend="bucket", bucket_mode="flat"))
    assert len(out) == N and np.array_equal(out[2], plain[2])  # a keyframe keeps its paints exactly
    assert sum(_green(out)) > 0 and sum(_green(plain)) == 0
