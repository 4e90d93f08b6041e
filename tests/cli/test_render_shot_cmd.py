"""`lvcd render-shot` (one shot, for farm managers) and `lvcd batch --assemble-only`."""

import json
import shutil
from pathlib import Path

from lvcd.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "lvcd" / "data" / "sample"


def test_render_shot_then_assemble_only_equals_batch(tmp_path, capsys):
    shutil.copytree(SAMPLE, tmp_path / "farm")
    shutil.copytree(SAMPLE, tmp_path / "batch")
    farm = tmp_path / "farm" / "shots.yaml"
    assert main(["render-shot", str(farm), "--shot", "shot2", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["shot"], out["status"], out["frames"], out["resumed_windows"]) == ("shot2", "rendered", 24, 0)

    assert main(["batch", str(farm), "--assemble-only", "-o", str(tmp_path / "farm.mp4"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "cannot assemble" in err and "shot 'shot1'" in err and "shot2" not in err, err
    assert not (tmp_path / "farm.mp4").exists()

    assert main(["render-shot", str(farm), "--shot", "shot1", "--quiet"]) == 0
    assert main(["render-shot", str(farm), "--shot", "shot1", "--json", "--quiet"]) == 0  # done: skipped
    assert json.loads(capsys.readouterr().out)["status"] == "up to date"
    assert main(["batch", str(farm), "--assemble-only", "-o", str(tmp_path / "farm.mp4"), "--quiet"]) == 0
    assert main(["batch", str(tmp_path / "batch" / "shots.yaml"), "-o", str(tmp_path / "batch.mp4"), "--quiet"]) == 0
    assert (tmp_path / "farm.mp4").read_bytes() == (tmp_path / "batch.mp4").read_bytes()


def test_render_shot_unknown_name_exits_2(tmp_path, capsys):
    shutil.copytree(SAMPLE, tmp_path / "s")
    assert main(["render-shot", str(tmp_path / "s" / "shots.yaml"), "--shot", "nope", "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err
