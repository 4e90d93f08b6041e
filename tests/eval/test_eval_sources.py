"""Frame sources of the CLI (image folders in natural order, single images, videos through OpenCV) and the swap points
to `lvcd.lineart`: the private fallbacks give the same results as the shared modules' interfaces expect."""

import cv2
import numpy as np
import pytest
from PIL import Image

from lvcd.eval import evaluate, label_regions, lineart_metrics, segments
from lvcd.eval._frames import _read_video_cv2, iter_frames, protocol_frame


def test_image_folder_natural_order_and_single_image(tmp_path):
    for i in (10, 2, 1):
        Image.fromarray(np.full((4, 6, 3), i, np.uint8)).save(tmp_path / f"f{i}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [int(f[0, 0, 0]) for f in iter_frames(tmp_path)] == [1, 2, 10]
    (single,) = list(iter_frames(tmp_path / "f2.png"))
    assert single.shape == (4, 6, 3) and single.dtype == np.uint8
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        list(iter_frames(empty))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(iter_frames(tmp_path / "nope"))


def test_opencv_video_fallback(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG")
    for i in range(5):
        writer.write(np.full((24, 32, 3), (0, 0, 40 * i), np.uint8))  # BGR: red rises
    writer.release()
    frames = list(_read_video_cv2(path))
    assert len(frames) == 5 and frames[0].shape == (24, 32, 3)
    assert frames[4][..., 0].mean() > frames[0][..., 0].mean() + 100  # RGB order: red channel first
    with pytest.raises(FileNotFoundError, match="cannot open"):
        (tmp_path / "bad.avi").write_bytes(b"xx")
        list(_read_video_cv2(tmp_path / "bad.avi"))


def test_protocol_resizes_to_256_float():
    f = protocol_frame(np.zeros((100, 300, 3), np.uint8))
    assert f.shape == (256, 256, 3) and f.dtype == np.float64
    up = protocol_frame(np.full((40, 40, 3), 1.0))
    assert up.max() <= 1.0 and up.min() >= 0.0


def test_fallback_extractor_and_labelling(monkeypatch, clip):
    frames, _ = clip
    lines = np.zeros((30, 30), bool)
    lines[10, :] = lines[:, 15] = True
    shared = label_regions(lines)
    monkeypatch.setattr(segments, "_regions_fn", lambda: None)
    monkeypatch.setattr(lineart_metrics, "_lvcd_lineart_xdog", lambda: None)
    fallback = label_regions(lines)
    assert shared[1] == fallback[1] == 4
    assert len(np.unique(np.stack([shared[0].ravel(), fallback[0].ravel()], 1), axis=0)) == 5  # same partition
    report = evaluate(frames[:3], frames[:3])
    assert report.per_frame["edmd"] == [0.0, 0.0, 0.0]
    assert "fallback" in report.meta["edmd_output_lineart"]
