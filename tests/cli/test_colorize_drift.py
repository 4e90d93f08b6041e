"""Colour drift is measured on every render (lvcd.eval.drift), printed by the CLI and kept in the JSON sidecar;
`--no-drift` turns it off. A batch records it per shot."""

import json
import math
from pathlib import Path

from test_colorize_cmd import lineart_frames, reference_for, write_clip

from lvcd.cli import main
from lvcd.video import sidecar_path


def test_colorize_reports_drift_per_window(tmp_path, capsys, caplog):
    frames = lineart_frames(23)
    src = write_clip(tmp_path / "in.mp4", frames)
    out = tmp_path / "out.mp4"
    assert (
        main(
            [
                "colorize",
                str(src),
                "-r",
                str(reference_for(frames, tmp_path / "r.png")),
                "-o",
                str(out),
                "--backend",
                "bucket",
            ]
        )
        == 0
    )
    # flat fills cannot leave the reference's palette: the CLI prints the bucket confidence line instead (issue 11)
    err = capsys.readouterr().err
    assert "colour drift" not in err and "bucket confidence" in err + caplog.text
    drift = json.loads(sidecar_path(out).read_text())["colour_drift"]
    assert drift["frames"] == 23
    assert len(drift["windows"]) == math.ceil(23 / drift["window"])
    assert [w["start"] for w in drift["windows"]] == list(range(0, 23, drift["window"]))
    assert drift["mean"] < drift["threshold"]  # the bucket paints with the reference's own colours


def test_no_drift_leaves_it_out(tmp_path, capsys):
    frames = lineart_frames(5)
    src = write_clip(tmp_path / "in.mp4", frames)
    out = tmp_path / "out.mp4"
    assert (
        main(
            [
                "colorize",
                str(src),
                "-r",
                str(reference_for(frames, tmp_path / "r.png")),
                "-o",
                str(out),
                "--backend",
                "bucket",
                "--no-drift",
            ]
        )
        == 0
    )
    assert "colour drift" not in capsys.readouterr().err
    assert "colour_drift" not in json.loads(sidecar_path(out).read_text())


def test_batch_records_drift_per_shot(tmp_path):
    from lvcd.api import __file__ as api_file

    manifest = Path(api_file).parent / "data" / "sample" / "shots.yaml"
    out = tmp_path / "sample.mp4"
    assert main(["batch", str(manifest), "--work", str(tmp_path / "work"), "-o", str(out), "--quiet"]) == 0
    shots = json.loads(sidecar_path(out).read_text())["shots"]
    assert len(shots) == 2
    for s in shots:
        d = s["colour_drift"]
        assert d["frames"] == s["end"] - s["start"]
        assert d["windows"][0]["start"] == s["start"]  # windows count global frame numbers
