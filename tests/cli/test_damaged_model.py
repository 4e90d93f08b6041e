"""A damaged model folder: `lvcd colorize` names the folder and points to `lvcd doctor` (issue 10), instead of
diffusers' raw "no file named config.json"."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from safety_clips import colour_reference, lineart_frames, lineart_video, write_png  # noqa: E402

from lvcd.cli import main  # noqa: E402


def test_damaged_model_folder_points_to_doctor(tmp_path, tiny_pipeline_dir, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_pipeline_dir, model)
    (model / "unet" / "config.json").unlink()
    line = lineart_video(tmp_path / "line.mp4", 4)
    ref = write_png(tmp_path / "ref.png", colour_reference(lineart_frames(1)[0]))
    rc = main(
        [
            "colorize",
            str(line),
            "-r",
            str(ref),
            "-o",
            str(tmp_path / "o.mp4"),
            "--backend",
            "diffusion",
            "--model",
            str(model),
            "--steps",
            "1",
            "--size",
            "64x64",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and f"the model folder {model} cannot be loaded" in err and "lvcd doctor --model" in err
    assert "Traceback" not in err and not (tmp_path / "o.mp4").exists()
