"""Manifest parsing and validation: every error names the shot and the field, and nothing renders."""

from __future__ import annotations

import hashlib
import logging
from fractions import Fraction

import pytest
import yaml

from lvcd.shots.interchange import manifest_text, shots_from_csv, shots_from_otio
from lvcd.shots.manifest import load_manifest
from lvcd.shots.render import render_shots
from lvcd.shots.shot import ManifestError, shot_seed
from lvcd.shots.timecode import format_timecode, parse_time


def test_valid_manifest_resolves_frames_and_paths(episode):
    shots = episode.default_shots()
    shots[2]["start"] = "00:00:00:22"  # timecode at 24 fps
    shots[2]["end"] = 1.25  # seconds -> frame 30
    m = load_manifest(episode.manifest(shots))
    assert [s.name for s in m.shots] == ["a", "b", "c"]
    assert (m.frame_count, m.fps, m.size) == (30, Fraction(24), (128, 72))
    assert (m.shots[2].start, m.shots[2].end) == (22, 30)
    assert m.shots[1].reference_frame == 16 and m.shots[0].reference_frame == 0
    assert m.shots[0].reference == episode.root / "refs" / "0000.png"
    assert m.output == episode.root / "out" and m.warnings == [] and m.gaps() == []


def _problems(episode, shots=None, **top) -> str:
    with pytest.raises(ManifestError) as e:
        load_manifest(episode.manifest(shots, **top))
    return str(e.value)


def test_overlapping_shots(episode):
    shots = episode.default_shots()
    shots[1]["start"] = 8
    msg = _problems(episode, shots)
    assert "shot 'b'" in msg and "`start` 8 overlaps shot 'a'" in msg and "at 10 at the earliest" in msg


def test_gap_is_a_warning(episode, caplog):
    shots = episode.default_shots()
    shots[1]["start"] = 12
    with caplog.at_level(logging.WARNING, logger="lvcd"):
        m = load_manifest(episode.manifest(shots))
    assert m.gaps() == [(10, 12)]
    assert "frames 10-11 are in no shot (between 'a' and 'b')" in caplog.text


def test_frames_out_of_range(episode):
    shots = episode.default_shots()
    shots[2]["end"] = 31
    msg = _problems(episode, shots)
    assert "shot 'c': `end` 31 is past the end of the input (30 frames" in msg
    shots[2]["end"] = 22
    assert "shot 'c': `end` 22 must be after `start` 22" in _problems(episode, shots)


def test_missing_reference_file(episode):
    shots = episode.default_shots()
    shots[1]["reference"] = "refs/nope.png"
    msg = _problems(episode, shots)
    assert "shot 'b': `reference` file" in msg and "nope.png" in msg and "does not exist" in msg


@pytest.mark.parametrize(
    "where,key,expect",
    [
        ("top", "shotz", "manifest: unknown key `shotz` (did you mean 'shots'?)"),
        ("shot", "referense", "shot 'a': unknown key `referense` (did you mean 'reference'?)"),
        ("defaults", "stepz", "defaults: unknown key `stepz` (did you mean 'steps'?)"),
        ("options", "overlapp", "shot 'a': `options`: unknown key `overlapp` (did you mean 'overlap'?)"),
    ],
)
def test_unknown_keys(episode, where, key, expect):
    shots = episode.default_shots()
    top = {}
    if where == "top":
        top[key] = 1
    elif where == "shot":
        shots[0][key] = 1
    elif where == "defaults":
        top["defaults"] = {"backend": "bucket", key: 1}
    else:
        shots[0]["options"] = {key: 1}
    assert expect in _problems(episode, shots, **top)


def test_reference_frame_outside_the_shot(episode):
    shots = episode.default_shots()
    shots[1]["reference_frame"] = 25
    msg = _problems(episode, shots)
    assert "shot 'b': `reference_frame` 25 is outside the shot (frames 10-21)" in msg and "external" in msg


def test_every_problem_reported_at_once(episode):
    shots = episode.default_shots()
    shots[2]["end"] = 40
    shots[1]["reference"] = "missing.png"
    shots[0]["colour"] = "red"
    with pytest.raises(ManifestError) as e:
        load_manifest(episode.manifest(shots))
    assert len(e.value.problems) == 3 and "3 problems" in str(e.value)


@pytest.mark.parametrize(
    "case", ["overlap", "range", "missing_ref", "unknown_key", "ref_frame", "empty_ref", "grey_ref"]
)
def test_errors_render_nothing(episode, case):
    shots = episode.default_shots()
    if case == "overlap":
        shots[2]["start"] = 20
    elif case == "range":
        shots[2]["end"] = 99
    elif case == "missing_ref":
        shots[2]["reference"] = "refs/missing.png"
    elif case == "unknown_key":
        shots[2]["strat"] = 3
    elif case == "ref_frame":
        shots[2]["reference_frame"] = 3
    elif case == "empty_ref":
        shots[2]["reference"] = None
    else:  # the lineart itself given as the keyframe: refused before the first shot renders
        shots[2]["reference"] = "line/0022.png"
    path = episode.manifest(shots)
    with pytest.raises(ManifestError) as e:
        render_shots(path)
    assert "shot 'c'" in str(e.value) and "Nothing was rendered." in str(e.value)
    assert not (episode.root / "shots.work" / "shots").exists() and not (episode.root / "out").exists()


def test_empty_reference_loads_but_does_not_render(episode):
    shots = episode.default_shots()
    shots[0]["reference"] = None
    shots[1]["reference"] = ""
    m = load_manifest(episode.manifest(shots))  # what `lvcd shots` writes is a valid manifest
    with pytest.raises(ManifestError) as e:
        m.require_references()
    assert "shot 'a': `reference` is empty" in str(e.value) and "shot 'b': `reference` is empty" in str(e.value)
    m.require_references([m.shot("c")])  # rendering only c is fine


def test_option_values_checked(episode):
    assert "`size` 100x72 must be positive multiples of 64" in _problems(
        episode, defaults={"backend": "bucket", "size": "100x72"}
    )
    shots = episode.default_shots()
    shots[0]["options"] = {"crf": 10}
    assert "shot 'a': `options`: `crf` applies to the assembled video" in _problems(episode, shots)


def test_names_unique_and_file_safe(episode):
    shots = episode.default_shots()
    shots[1]["name"] = "a"
    shots[2]["name"] = "../c"
    msg = _problems(episode, shots)
    assert "`name` is used twice" in msg and "must be 1-128 letters" in msg


def test_reference_lineart_needs_external(episode):
    shots = episode.default_shots()
    shots[0]["reference_lineart"] = 5
    assert "only used with `reference_frame: external`" in _problems(episode, shots)
    shots[0]["reference_frame"] = "external"
    m = load_manifest(episode.manifest(shots))
    assert m.shots[0].external and m.shots[0].reference_lineart == 5
    shots[0]["reference_frame"] = False  # YAML `off`
    assert "YAML reads yes/no/on/off as booleans" in _problems(episode, shots)


def test_inputs_concatenate(episode, tmp_path):
    m = load_manifest(
        episode.manifest(
            input=["line", "line"], shots=[{"name": "x", "start": 25, "end": 35, "reference": episode.ref(25)}]
        )
    )
    assert m.frame_count == 60 and [i.offset for i in m.inputs] == [0, 30]
    assert m.gaps() == [(0, 25), (35, 60)]
    assert "`input[1]`" in _problems(episode, input=["line", "nowhere"])


@pytest.mark.parametrize(
    "value,frame",
    [
        (12, 12),
        ("12", 12),
        (0.5, 12),
        ("0.5s", 12),
        ("00:00:01:06", 30),
        ("1:00:00:00", 86400),
        ("00:01.5", 36),
    ],
)
def test_parse_time(value, frame):
    assert parse_time(value, Fraction(24)) == frame


@pytest.mark.parametrize(
    "value,match",
    [("00:00:01;06", "drop-frame"), ("00:00:01:30", "out of range"), ("soon", "cannot read"), (True, "frame number")],
)
def test_parse_time_errors(value, match):
    with pytest.raises(ValueError, match=match):
        parse_time(value, Fraction(24))


def test_unquoted_timecode_is_not_base60(episode):
    p = episode.root / "m.yaml"
    p.write_text("input: line\nshots:\n  - {name: a, start: 0:00:00:00, end: 0:00:00:10, reference: null}\n")
    m = load_manifest(p)
    assert (m.shots[0].start, m.shots[0].end) == (0, 10)


def test_shot_seed_is_stable_and_per_name():
    assert shot_seed(1234, "shot_001") == shot_seed(1234, "shot_001")
    assert len({shot_seed(1234, "a"), shot_seed(1234, "b"), shot_seed(1235, "a")}) == 3
    assert 0 <= shot_seed(1, "x") < 2**32
    assert shot_seed(1234, "shot_001") == int.from_bytes(hashlib.sha256(b"1234/shot_001").digest()[:4], "big")


def test_manifest_text_round_trip(episode):
    entries = [
        {"name": "shot_001", "start": 0, "end": 10, "reference": None},
        {"name": "shot_002", "start": "00:00:00:10", "end": 30, "reference": "refs/x y.png", "reference_frame": 12},
    ]
    text = manifest_text(["line"], entries, output="out.mp4", fps=24)
    assert "reference:\n" in text and "# 10 frames, 00:00:00:00 - 00:00:00:10" in text
    raw = yaml.safe_load(text)
    assert raw["shots"][1]["start"] == "00:00:00:10" and raw["shots"][1]["reference"] == "refs/x y.png"
    (episode.root / "refs" / "x y.png").write_bytes(b"")
    m = load_manifest(raw, base_dir=episode.root)
    assert [(s.start, s.end) for s in m.shots] == [(0, 10), (10, 30)]


def test_csv_import(tmp_path):
    p = tmp_path / "list.csv"
    p.write_text("name,start,end,reference,reference_frame\nopen,0,10,refs/a.png,\nmid,10,00:00:01:06,,12\n")
    rows = shots_from_csv(p)
    assert rows[0] == {"name": "open", "start": 0, "end": 10, "reference": str((tmp_path / "refs/a.png").resolve())}
    assert rows[1]["end"] == "00:00:01:06" and rows[1]["reference"] is None and rows[1]["reference_frame"] == 12
    p.write_text("a,1\n")
    with pytest.raises(ValueError, match="row 1 has 2 columns"):
        shots_from_csv(p)


def test_otio_import(tmp_path):
    otio = pytest.importorskip("opentimelineio")
    rate = 24
    tl = otio.schema.Timeline(name="ep")
    tr = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(tr)

    def rt(start, dur):
        return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(dur, rate))

    tr.append(otio.schema.Clip(name="Sc 01/A", source_range=rt(100, 10)))
    tr.append(otio.schema.Gap(source_range=rt(0, 2)))
    tr.append(otio.schema.Clip(name="Sc 01/A", source_range=rt(500, 18)))
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(tl, str(path))
    rows = shots_from_otio(path, Fraction(24))
    assert [(r["name"], r["start"], r["end"]) for r in rows] == [("Sc_01_A", 0, 10), ("Sc_01_A_2", 12, 30)]
    assert format_timecode(30, 24) == "00:00:01:06"


def test_example_manifests_use_known_keys():
    """configs/*.example.yaml stay in step with the schema (their input files do not exist, so only keys/options)."""
    from pathlib import Path

    from lvcd.shots.manifest import SHOT_KEYS, TOP_KEYS, normalize_options, read_yaml

    examples = sorted((Path(__file__).resolve().parents[2] / "configs").glob("shots*.example.yaml"))
    assert examples
    for path in examples:
        raw = read_yaml(path)
        problems: list[str] = []
        assert set(raw) <= set(TOP_KEYS), path
        normalize_options(raw.get("defaults") or {}, "defaults", problems)
        for s in raw["shots"]:
            assert set(s) <= set(SHOT_KEYS), (path, s)
            normalize_options(s.get("options") or {}, s["name"], problems, allow_output=False)
            assert parse_time(s["start"], Fraction(24)) < parse_time(s["end"], Fraction(24))
        assert not problems, (path, problems)
