"""`lvcd shots`: detect cuts in a generated lineart clip (or import CSV / OTIO) and write a manifest."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shots"))  # the shot tests' clip generator
from shots_synth import make_clip, write_sequence  # noqa: E402

from lvcd.cli import main  # noqa: E402
from lvcd.shots.manifest import load_manifest  # noqa: E402

SPEC = [
    dict(kind="shapes", n=12, seed=1),
    dict(kind="pan", n=30, seed=2, speed=1.5),
    dict(kind="sparse", n=10, seed=3),
    dict(kind="twos", n=12, seed=4),
]


@pytest.fixture
def clip(tmp_path):
    frames, cuts = make_clip(SPEC, size=(320, 180))
    return write_sequence(frames, tmp_path / "line"), len(frames), cuts


def test_detects_shots_and_writes_empty_reference_slots(clip, tmp_path):
    folder, n, cuts = clip
    out = tmp_path / "shots.yaml"
    stats = tmp_path / "scores.csv"
    assert main(["shots", str(folder), "-o", str(out), "--quiet", "--stats", str(stats)]) == 0
    raw = yaml.safe_load(out.read_text())
    starts = [s["start"] for s in raw["shots"]]
    rows = [r.split(",") for r in stats.read_text().splitlines()[1:]]
    assert len(rows) == n and [int(r[0]) for r in rows if r[2] == "1"] == starts[1:]
    assert starts[0] == 0 and len(starts) == len(cuts) + 1
    assert all(abs(a - b) <= 1 for a, b in zip(starts[1:], cuts, strict=True))
    assert raw["shots"][-1]["end"] == n and all(s["reference"] is None for s in raw["shots"])
    assert raw["input"] == "line" and raw["output"] == "line_color.mp4"
    m = load_manifest(out)  # a valid manifest, only the references are missing
    assert [s.name for s in m.shots] == [f"shot_{i:03d}" for i in range(1, len(cuts) + 2)]
    with pytest.raises(ValueError, match="`reference` is empty"):
        m.require_references()


def test_refuses_to_overwrite_a_manifest(clip, tmp_path, capsys):
    folder, _, _ = clip
    out = tmp_path / "shots.yaml"
    out.write_text("# my filled-in references\n")
    assert main(["shots", str(folder), "-o", str(out), "--quiet"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and out.read_text() == "# my filled-in references\n"


def test_from_csv(clip, tmp_path):
    folder, n, _ = clip
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "a.png").write_bytes(b"")
    csv = tmp_path / "list.csv"
    csv.write_text(f"name,start,end,reference\nopening,0,12,refs/a.png\nrest,12,{n},\n")
    out = tmp_path / "sub" / "shots.yaml"
    assert main(["shots", str(folder), "-o", str(out), "--from-csv", str(csv), "--quiet"]) == 0
    m = load_manifest(out)
    assert [(s.name, s.start, s.end) for s in m.shots] == [("opening", 0, 12), ("rest", 12, n)]
    assert m.shots[0].reference == (tmp_path / "refs" / "a.png").resolve() or m.shots[0].reference.samefile(
        tmp_path / "refs" / "a.png"
    )
    assert yaml.safe_load(out.read_text())["input"] == "../line"


def test_from_csv_errors_name_the_shot(clip, tmp_path, capsys):
    folder, n, _ = clip
    csv = tmp_path / "list.csv"
    csv.write_text(f"a,0,12,\nb,10,{n + 5},\n")
    out = tmp_path / "shots.yaml"
    assert main(["shots", str(folder), "-o", str(out), "--from-csv", str(csv), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "shot 'b'" in err and "`end`" in err and "overlaps" in err and not out.exists()


def test_from_otio(clip, tmp_path):
    otio = pytest.importorskip("opentimelineio")
    folder, n, _ = clip
    tl = otio.schema.Timeline(name="edit")
    tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(tr)
    for name, dur in [("c010", 20), ("c020", n - 20)]:
        tr.append(
            otio.schema.Clip(
                name=name,
                source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(1000, 24), otio.opentime.RationalTime(dur, 24)
                ),
            )
        )
    edit = tmp_path / "edit.otio"
    otio.adapters.write_to_file(tl, str(edit))
    out = tmp_path / "shots.yaml"
    assert main(["shots", str(folder), "-o", str(out), "--from-otio", str(edit), "--quiet"]) == 0
    assert [(s.name, s.start, s.end) for s in load_manifest(out).shots] == [("c010", 0, 20), ("c020", 20, n)]
