"""`evaluate` streams iterables and checks lengths; `EvalReport` writes JSON, markdown and a PNG plot."""

import json

import numpy as np
import pytest
from PIL import Image

from lvcd.eval import EvalReport, evaluate


def test_streams_generators_and_reports_per_frame_values(clip):
    frames, linearts = clip
    pred = (np.clip(f.astype(int) + 5 * (t % 3), 0, 255).astype(np.uint8) for t, f in enumerate(frames))
    report = evaluate(pred, iter(frames), (la for la in linearts))
    assert report.num_frames == len(frames)
    for name in ("psnr", "ssim", "edmd", "tc", "warp_error", "acc", "pix_b_miou"):
        assert len(report.per_frame[name]) == len(frames), name
    s = report.summary()
    assert s["psnr"]["count"] == len(frames) and s["tc"]["count"] == len(frames) - 1
    assert set(report.unavailable) == {"lpips", "fid", "fvd"}


def test_float_frames_and_greyscale_lineart_accepted(clip):
    frames, linearts = clip
    as_float = [f / 255.0 for f in frames[:3]]
    r = evaluate(as_float, frames[:3], [la / 255.0 for la in linearts[:3]])
    assert r.per_frame["ssim"] == pytest.approx([1.0] * 3)


def test_length_mismatch_and_bad_frames_teach(clip):
    frames, linearts = clip
    with pytest.raises(ValueError, match="`pred` has 3 frames but `gt` has more"):
        evaluate(frames[:3], frames)
    with pytest.raises(ValueError, match="`gt` has 3 frames"):
        evaluate(frames, frames[:3])
    with pytest.raises(ValueError, match="`lineart` has 2 frames"):
        evaluate(frames[:3], frames[:3], linearts[:2])
    with pytest.raises(ValueError, match="`lineart` has more frames"):
        evaluate(frames[:3], frames[:3], linearts[:4])
    with pytest.raises(ValueError, match="empty"):
        evaluate([], [])
    with pytest.raises(ValueError, match=r"pred\[0\].*HxWx3"):
        evaluate([np.zeros((4, 4, 2), np.uint8)], [frames[0]])


def test_single_frame_marks_temporal_metrics_unavailable(clip):
    frames, _ = clip
    r = evaluate(frames[:1], frames[:1])
    assert "tc" not in r.per_frame and "2 frames" in r.unavailable["tc"]


def test_json_markdown_and_plots(tmp_path, clip):
    frames, linearts = clip
    report = evaluate(frames, frames, linearts)
    data = json.loads(report.to_json(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text()) == data
    assert data["summary"]["psnr"]["mean"] == "inf"  # identical frames; JSON has no infinity
    assert data["per_frame"]["tc"][0] is None  # NaN -> null
    assert data["meta"]["num_frames"] == len(frames) and "fid" in data["unavailable"]
    md = report.to_markdown(tmp_path / "r.md")
    assert md.startswith("| Metric |") and "| TC | 1.0000 |" in md and "| Pix-B-MIoU |" in md
    assert "**Unavailable:**" in md and (tmp_path / "r.md").read_text() == md
    for backend in ("pillow", "auto"):
        out = report.plot(tmp_path / f"plot_{backend}.png", backend=backend)
        with Image.open(out) as im:
            assert im.format == "PNG" and im.size[0] > 200
    with pytest.raises(ValueError, match="backend"):
        report.plot(tmp_path / "x.png", backend="svg")


def test_matplotlib_plot_when_installed(tmp_path, clip):
    pytest.importorskip("matplotlib")
    frames, _ = clip
    out = evaluate(frames[:3], frames[:3]).plot(tmp_path / "mpl.png", backend="matplotlib")
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_empty_report_still_renders(tmp_path):
    report = EvalReport()
    assert report.to_markdown().startswith("| Metric |")
    report.plot(tmp_path / "empty.png", backend="pillow")
    assert json.loads(report.to_json())["per_frame"] == {}
