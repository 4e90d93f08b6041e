"""`lvcd eval-suite` and its parts on generated cel clips: the two baselines, clip discovery, the soft vs binarized
protocols, and the printed table with the baselines beside the backend."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from lvcd.cli import main
from lvcd.eval.baselines import flow_warp_keyframe, repeat_keyframe
from lvcd.eval.suite import find_clips, make_linearts, run_suite


def _write_clip(draw_frame, folder, n=5, h=96, w=128):
    folder.mkdir(parents=True)
    for t in range(n):
        Image.fromarray(draw_frame(t, h, w)[0]).save(folder / f"{t:03d}.png")


def test_repeat_and_flow_warp_baselines(make_frame):
    draw_frame = make_frame
    colour = [draw_frame(t, 96, 128)[0] for t in range(5)]
    lines = [np.repeat(draw_frame(t, 96, 128)[1][..., None], 3, -1) for t in range(5)]
    repeat = list(repeat_keyframe(lines, colour[0]))
    assert len(repeat) == 5 and all((f == colour[0]).all() for f in repeat)
    warped = list(flow_warp_keyframe(lines, colour[0]))
    assert len(warped) == 5 and (warped[0] == colour[0]).all()
    err_repeat = np.abs(repeat[4].astype(int) - colour[4]).mean()
    err_warp = np.abs(warped[4].astype(int) - colour[4]).mean()
    assert err_warp < err_repeat  # following the lines' motion beats standing still
    with pytest.raises(ValueError, match="one size"):
        list(flow_warp_keyframe([lines[0], lines[1][:50]], colour[0]))


def test_linearts_soft_and_binarized(make_frame):
    draw_frame = make_frame
    frames = [draw_frame(t, 96, 128)[0] for t in range(2)]
    la = make_linearts(frames)
    soft, binary = la["soft"][0], la["binarized"][0]
    assert soft.shape == binary.shape == (96, 128, 3)
    assert set(np.unique(binary)) <= {0, 255}
    assert len(np.unique(soft)) > 2  # grey levels: the paper's soft sketch
    assert (binary[..., 0] == 0).sum() > 100


def test_find_clips(tmp_path, make_frame):
    _write_clip(make_frame, tmp_path / "a")
    (tmp_path / "b.mp4").write_bytes(b"")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "still.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "shot.mp4").write_bytes(b"")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "v" / "design.png")
    clips, skipped = find_clips(tmp_path)
    assert [name for name, _ in clips] == ["a", "b", "v/shot"]  # a folder with a video and one image: the video
    assert any("single image" in s for s in skipped) and any("empty/" in s for s in skipped)
    assert find_clips(tmp_path / "a") == ([("a", tmp_path / "a")], [])  # a frame folder on its own
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_clips(tmp_path / "nope")


def test_run_suite_rows_means_gaps(tmp_path, make_frame):
    _write_clip(make_frame, tmp_path / "c1")
    _write_clip(make_frame, tmp_path / "c2", n=4)
    methods = {"repeat": (repeat_keyframe, "repeat"), "flow-warp": (flow_warp_keyframe, "flow")}
    result = run_suite(tmp_path, methods, max_frames=4)
    kinds = [(r.kind, r.labels["method"], r.labels["protocol"]) for r in result.table.rows]
    assert kinds[:4] == [("clip", "repeat", "soft"), ("clip", "repeat", "binarized"),
                         ("clip", "flow-warp", "soft"), ("clip", "flow-warp", "binarized")]  # fmt: skip
    assert sum(k == "mean" for k, _, _ in kinds) == 4 and sum(k == "gap" for k, _, _ in kinds) == 2
    rep = result.reports[("c1", "repeat", "soft")]
    assert rep.num_frames == 3  # 4 frames read, the keyframe not scored
    gap = next(r for r in result.table.rows if r.kind == "gap" and r.labels["method"] == "repeat")
    assert gap.values["psnr"] == 0.0  # the repeat baseline ignores the lineart
    md = result.table.render("md")
    assert "frame 0 is the keyframe" in md and "soft = grey line strength" in md and "XDoG" in md
    with pytest.raises(FileNotFoundError, match="no clip"):
        run_suite(tmp_path / "c1" / "000.png", methods)


def test_eval_suite_cli_prints_two_protocol_table_with_baselines(tmp_path, capsys, make_frame):
    _write_clip(make_frame, tmp_path / "clips" / "circle")
    out = tmp_path / "table.json"
    code = main(["eval-suite", str(tmp_path / "clips"), "--max-frames", "4", "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    for method in ("repeat", "flow-warp", "bucket"):
        for protocol in ("soft", "binarized"):
            assert f"| circle | {method} | {protocol} |" in text
        assert f"| **gap** | **{method}** | **binarized - soft** |" in text
    assert "FID↓ | FVD↓ | LPIPS↓ | PSNR↑ | SSIM↑ | EDMD↓ | TC↓" in text
    code = main(["eval-suite", str(tmp_path / "clips"), "--max-frames", "3", "--methods", "repeat",
                 "--format", "json", "-o", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    assert {r["method"] for r in data["rows"]} == {"repeat"} and json.loads(capsys.readouterr().out) == data
    assert main(["eval-suite", str(tmp_path / "clips"), "--methods", "paint"]) == 2
    assert "--methods" in capsys.readouterr().err
    assert main(["eval-suite", str(tmp_path / "clips"), "--backend", "diffusion"]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["eval-suite", str(tmp_path / "clips"), "-o", str(tmp_path / "no" / "t.md")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_video_clip_is_read_and_scaled(tmp_path, make_frame):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 192))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG")
    for t in range(4):
        writer.write(cv2.cvtColor(make_frame(t, 192, 256)[0], cv2.COLOR_RGB2BGR))
    writer.release()
    result = run_suite(path, {"repeat": (repeat_keyframe, "repeat")}, max_frames=4, work_size=128)
    assert "128x96" in result.table.notes[0]


def test_eval_suite_diffusion_backend_with_a_model(tmp_path, capsys, make_frame, tiny_pipeline_dir):
    _write_clip(make_frame, tmp_path / "clips" / "circle", n=3)
    args = ["eval-suite", str(tmp_path / "clips"), "--model", str(tiny_pipeline_dir), "--steps", "1",
            "--size", "64x64", "--methods", "backend", "--max-frames", "3", "--quiet"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "| circle | diffusion | soft |" in text and "| circle | diffusion | binarized |" in text
    assert "backend='diffusion'" in text and "steps 1" in text


def test_eval_suite_informative_drawings_extractor(tmp_path, capsys, make_frame):
    torch = pytest.importorskip("torch")
    from lvcd.lineart.informative_drawings import Generator

    torch.manual_seed(0)
    torch.save(Generator(3, 1, 3).state_dict(), tmp_path / "sk_model.pth")
    _write_clip(make_frame, tmp_path / "clips" / "circle", n=3)
    args = ["eval-suite", str(tmp_path / "clips"), "--lineart-weights", str(tmp_path / "sk_model.pth"),
            "--methods", "repeat", "--max-frames", "3", "--quiet"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Lineart extracted from the colour frames by informative-drawings" in text
    assert "EDMD lines of the outputs: informative-drawings" in text
