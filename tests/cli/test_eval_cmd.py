"""`lvcd eval` on generated PNG folders (prediction, ground truth, lineart): the paper-style table in three formats,
--shots, and the checks that keep an evaluation from misleading (size mismatch, unwritable outputs, lossy
predictions, no background)."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from lvcd.cli import main


def _write_clip(root, n=6, brightness=0, size=(72, 96), background=255):
    gt_dir, pred_dir, line_dir = root / "gt", root / "pred", root / "lineart"
    for d in (gt_dir, pred_dir, line_dir):
        d.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        img = np.full((*size, 3), background, np.uint8)
        cv2.circle(img, (30 + 2 * t, 36), 16, (200, 80, 80), -1)
        cv2.circle(img, (30 + 2 * t, 36), 16, (0, 0, 0), 1)
        lines = np.full(size, 255, np.uint8)
        cv2.circle(lines, (30 + 2 * t, 36), 16, 0, 1)
        flicker = brightness if t % 2 else 0
        Image.fromarray(img).save(gt_dir / f"frame_{t}.png")  # unpadded names: read in natural order
        Image.fromarray(np.clip(img.astype(int) + flicker, 0, 255).astype(np.uint8)).save(pred_dir / f"{t:04d}.png")
        Image.fromarray(lines).save(line_dir / f"l{t}.png")
    return pred_dir, gt_dir, line_dir


def test_eval_cli_writes_table_json_markdown_plot(tmp_path, capsys):
    pred, gt, lineart = _write_clip(tmp_path, brightness=10)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["eval", "--pred", str(pred), "--gt", str(gt), "--lineart", str(lineart),
                 "--json", str(out / "r.json"), "--markdown", str(out / "r.md"),
                 "--plot", str(out / "r.png")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| PSNR (dB) |" in printed and "| EDMD (px) |" in printed and "| Acc |" in printed
    assert "| Clip | FID↓ | FVD↓ | LPIPS↓ | PSNR↑ | SSIM↑ | EDMD↓ | TC↓ |" in printed  # LVCD Table 1 order
    assert "mean over its consecutive pairs" in printed  # how pairs and clips were averaged
    data = json.loads((out / "r.json").read_text())
    assert data["meta"]["num_frames"] == 6
    assert data["summary"]["tc"]["mean"] > 1.0  # the prediction flickers: eq. 9 rises above 1
    assert set(data["unavailable"]) == {"lpips", "fid", "fvd"}
    assert (out / "r.md").read_text() == printed
    with Image.open(out / "r.png") as im:
        assert im.format == "PNG"


def test_eval_cli_errors_exit_2(tmp_path, capsys):
    pred, gt, _ = _write_clip(tmp_path)
    assert main(["eval", "--pred", str(tmp_path / "missing"), "--gt", str(gt)]) == 2
    assert "`--pred`" in capsys.readouterr().err
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--background", "red"]) == 2
    assert "R,G,B" in capsys.readouterr().err
    (tmp_path / "weights.pth").write_bytes(b"not a checkpoint")
    assert (
        main(["eval", "--pred", str(pred), "--gt", str(gt), "--inception-weights", str(tmp_path / "weights.pth")]) == 2
    )
    assert "state dict" in capsys.readouterr().err


def test_eval_help_lists_weight_flags(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--lpips-weights",
        "--inception-weights",
        "--i3d-weights",
        "--raft-weights",
        "--lineart-weights",
        "--plot",
        "--shots",
        "--resize",
        "--format",
        "--colour-tolerance",
    ):
        assert flag in text


def test_eval_formats_json_and_csv(tmp_path, capsys):
    pred, gt, _ = _write_clip(tmp_path, brightness=10)
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["table"]["columns"] == ["fid", "fvd", "lpips", "psnr", "ssim", "edmd", "tc"]
    assert data["table"]["rows"][0]["tc"] == pytest.approx(data["report"]["summary"]["tc"]["mean"])
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "kind,clip,fid,fvd,lpips,psnr,ssim,edmd,tc" and lines[1].startswith("clip,pred,,,,")


def test_eval_shots_reset_the_pair_chain(tmp_path, capsys):
    pred, gt, _ = _write_clip(tmp_path, brightness=10)
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--shots", "3", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert report["per_frame"]["tc"][3] is None and report["per_frame"]["tc"][4] is not None
    assert report["meta"]["cuts"] == [3] and "1 pairs across shot cuts" in report["meta"]["tc_pairs"]
    manifest = tmp_path / "shots.yaml"
    manifest.write_text(
        f"version: 1\ninput: {gt}\nshots:\n  - {{name: a, start: 0, end: 2}}\n  - {{name: b, start: 2, end: 6}}\n"
    )
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--shots", str(manifest), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["meta"]["cuts"] == [2]
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--shots", "two,five"]) == 2
    assert "frame numbers" in capsys.readouterr().err


def test_eval_refuses_size_mismatch_unless_resize(tmp_path, capsys):
    _, gt, line = _write_clip(tmp_path / "a")
    big, _, _ = _write_clip(tmp_path / "b", size=(144, 192))
    assert main(["eval", "--pred", str(big), "--gt", str(gt)]) == 2
    err = capsys.readouterr().err
    assert "`pred` frame 0 is 192x144 but the ground truth is 96x72" in err and "--resize" in err
    assert main(["eval", "--pred", str(gt), "--gt", str(gt), "--lineart", str(tmp_path / "b" / "lineart")]) == 2
    assert "`lineart` frame 0 is 192x144" in capsys.readouterr().err
    assert main(["eval", "--pred", str(big), "--gt", str(gt), "--lineart", str(line), "--resize"]) == 0
    assert "frames of other sizes resized (--resize)" in capsys.readouterr().out


def test_eval_checks_output_paths_before_computing(tmp_path, capsys, monkeypatch):
    import lvcd.eval

    pred, gt, _ = _write_clip(tmp_path)

    def fail(*a, **k):
        raise AssertionError("evaluated before checking the output path")

    monkeypatch.setattr(lvcd.eval, "evaluate_paths", fail)
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(tmp_path / "missing" / "r.json")]) == 2
    assert "`--json`" in (err := capsys.readouterr().err) and "does not exist" in err
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--plot", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*check*"))  # the write probe leaves nothing behind


def test_eval_lossy_prediction_says_so_and_matches_within_tolerance(tmp_path, capsys):
    from lvcd.video import open_writer

    pred, gt, line = _write_clip(tmp_path, n=4, size=(96, 128))
    mp4 = tmp_path / "pred.mp4"
    with open_writer(mp4, 24, (128, 96), crf=18) as writer:
        for f in sorted(pred.iterdir()):
            writer.write(np.asarray(Image.open(f).convert("RGB")))
    args = ["eval", "--pred", str(mp4), "--gt", str(gt), "--lineart", str(line), "--format", "json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)["report"]
    assert "pred is h264 video" in captured.err and "within 12 levels" in captured.err
    assert "within 12 levels per channel" in report["meta"]["segments"]
    assert report["summary"]["pix_acc"]["mean"] > 0.99  # same render as the PNGs: matched despite compression
    assert main([*args, "--colour-tolerance", "0"]) == 0
    exact = json.loads(capsys.readouterr().out)["report"]
    assert exact["summary"]["pix_acc"]["mean"] < report["summary"]["pix_acc"]["mean"]  # exact match fails on mp4
    recoloured = tmp_path / "recoloured.mp4"
    with open_writer(recoloured, 24, (128, 96), crf=18) as writer:
        for f in sorted(pred.iterdir()):
            writer.write(np.asarray(Image.open(f).convert("RGB"))[..., ::-1].copy())  # red circle painted blue
    assert main(["eval", "--pred", str(recoloured), "--gt", str(gt), "--lineart", str(line), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["report"]["summary"]["acc"]["mean"] < 1.0  # wrong colours still fail


def test_eval_background_metrics_not_applicable_without_background(tmp_path, capsys):
    pred, gt, line = _write_clip(tmp_path, background=90)  # no white region anywhere
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--lineart", str(line), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert "pix_b_miou" not in report["summary"] and "no background region" in report["unavailable"]["pix_b_miou"]
    assert report["summary"]["pix_acc"]["mean"] == 1.0
