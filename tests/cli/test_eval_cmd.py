"""`lvcd eval` smoke test on generated PNG folders (prediction, ground truth, lineart)."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from lvcd.cli import main


def _write_clip(root, n=6, brightness=0):
    gt_dir, pred_dir, line_dir = root / "gt", root / "pred", root / "lineart"
    for d in (gt_dir, pred_dir, line_dir):
        d.mkdir(parents=True, exist_ok=True)
    for t in range(n):
        img = np.full((72, 96, 3), 255, np.uint8)
        cv2.circle(img, (30 + 2 * t, 36), 16, (200, 80, 80), -1)
        cv2.circle(img, (30 + 2 * t, 36), 16, (0, 0, 0), 1)
        lines = np.full((72, 96), 255, np.uint8)
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
    assert "| PSNR (dB) |" in printed and "| EDMD |" in printed and "| Acc |" in printed
    data = json.loads((out / "r.json").read_text())
    assert data["meta"]["num_frames"] == 6
    assert data["summary"]["tc"]["mean"] < 1.0  # the prediction flickers
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
    for flag in ("--lpips-weights", "--inception-weights", "--i3d-weights", "--raft-weights", "--plot"):
        assert flag in text
