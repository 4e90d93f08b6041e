"""Several coloured keyframes per shot (`references:`): parse-time expansion into sub-shots, errors, sub-shot plans
(a one-reference backend). The bucket backend uses them together: tests/shots/test_keyframes_together.py."""

from __future__ import annotations

import pytest
import yaml

from lvcd.shots.interchange import manifest_text
from lvcd.shots.manifest import load_manifest
from lvcd.shots.render import plan_shots
from lvcd.shots.shot import ManifestError, Shot, expand_keyframes, shot_seed, subshot_name


def _problems(episode, shots) -> str:
    with pytest.raises(ManifestError) as e:
        load_manifest(episode.manifest(shots))
    return str(e.value)


def _multi(episode, frames, name="a", start=0, end=30, **extra) -> dict:
    return {
        "name": name,
        "start": start,
        "end": end,
        "references": [{"frame": f, "image": episode.ref(int(f) if isinstance(f, int) else 15)} for f in frames],
        **extra,
    }


# ---------------------------------------------------------------------------------------------------- parsing
def test_expand_keyframes_tiles_the_shot():
    assert expand_keyframes("s", 10, 40, [(25, "b"), (10, "a"), (33, "c")]) == [
        ("s.f10", 10, 25, 10, "a"),
        ("s.f25", 25, 33, 25, "b"),
        ("s.f33", 33, 40, 33, "c"),
    ]
    # first keyframe mid-shot: its sub-shot also covers the frames before it (coloured backward)
    assert expand_keyframes("s", 10, 40, [(30, "b"), (14, "a")]) == [
        ("s.f14", 10, 30, 14, "a"),
        ("s.f30", 30, 40, 30, "b"),
    ]
    # one keyframe: the shot itself, under its own name
    assert expand_keyframes("s", 10, 40, [(14, "a")]) == [("s", 10, 40, 14, "a")]
    assert subshot_name("s", 7) == "s.f7"


def test_references_expand_into_sorted_subshots(episode):
    # unsorted, mixed time syntax (timecode at 24 fps = frame 10, seconds 20/24 s = frame 20)
    entry = {
        "name": "a",
        "start": 0,
        "end": 30,
        "options": {"steps": 7},
        "references": [
            {"frame": "00:00:00:20", "image": episode.ref(20)},
            {"frame": 0, "image": episode.ref(0)},
            {"frame": "00:00:00:10", "image": episode.ref(10)},
        ],
    }
    m = load_manifest(episode.manifest([entry]))
    assert [(s.name, s.start, s.end, s.reference_frame) for s in m.shots] == [
        ("a.f0", 0, 10, 0),
        ("a.f10", 10, 20, 10),
        ("a.f20", 20, 30, 20),
    ]
    assert [s.reference.name for s in m.shots] == ["0000.png", "0010.png", "0020.png"]
    assert all(s.parent == "a" and s.options == {"steps": 7} and not s.external for s in m.shots)
    assert m.shots[0].options is not m.shots[1].options  # copies, not one shared dict
    assert m.gaps() == [] and m.warnings == []
    # `--only a` selects every sub-shot of a; a sub-shot can be selected alone
    assert [s.name for s in m.select(["a"])] == ["a.f0", "a.f10", "a.f20"]
    assert [s.name for s in m.select(["a.f10"])] == ["a.f10"]


def test_first_keyframe_mid_shot_covers_the_start(episode):
    shots = episode.default_shots()
    shots[1] = _multi(episode, [18, 13], name="b", start=10, end=22)
    m = load_manifest(episode.manifest(shots))
    assert [(s.name, s.start, s.end, s.reference_frame) for s in m.shots] == [
        ("a", 0, 10, 0),
        ("b.f13", 10, 18, 13),
        ("b.f18", 18, 22, 18),
        ("c", 22, 30, 22),
    ]


def test_single_entry_is_exactly_reference_and_reference_frame(episode):
    one = episode.default_shots()
    one[1] = {"name": "b", "start": 10, "end": 22, "references": [{"frame": 16, "image": episode.ref(16)}]}
    a = load_manifest(episode.manifest(one, name="one.yaml"))
    b = load_manifest(episode.manifest(name="plain.yaml"))  # b: reference refs/0016.png, reference_frame 16
    assert a.shots == b.shots and a.shots[1] == Shot("b", 10, 22, episode.root / "refs" / "0016.png", 16, index=1)
    # same seed, same hash key, same work folder name: a render of one is up to date for the other
    ka = {p.shot.name: (p.seed, p.key) for p in plan_shots(a)[2]}
    kb = {p.shot.name: (p.seed, p.key) for p in plan_shots(b)[2]}
    assert ka == kb


def test_reference_and_references_together(episode):
    entry = _multi(episode, [0, 15], reference=episode.ref(0))
    msg = _problems(episode, [entry])
    assert "shot 'a': `reference` and `references` are both given" in msg and "delete `reference`" in msg
    # an empty `reference:` slot (what `lvcd shots` writes) may stay
    entry["reference"] = None
    assert [s.name for s in load_manifest(episode.manifest([entry])).shots] == ["a.f0", "a.f15"]
    entry["reference_frame"] = 15
    assert "shot 'a': `reference_frame` does not go with `references`" in _problems(episode, [entry])
    del entry["reference_frame"]
    entry["reference_lineart"] = 3
    assert "shot 'a': `reference_lineart` is only for `reference_frame: external`" in _problems(episode, [entry])


@pytest.mark.parametrize(
    "frame,expect",
    [
        (30, "`references[1]`: `frame` 30 is outside the shot (frames 0-29)"),
        (-1, "`references[1]`: `frame` -1 is outside the shot (frames 0-29)"),
        ("00:00:02:00", "`references[1]`: `frame` 48 is outside the shot (frames 0-29)"),
        ("external", "`references[1]`: `frame: external` is not possible in `references`"),
        ("soon", "`references[1]`: `frame`: cannot read 'soon' as a time"),
        (None, "`references[1]`: `frame` is missing"),
    ],
)
def test_keyframe_outside_the_shot_or_unreadable(episode, frame, expect):
    entry = _multi(episode, [0, 15])
    entry["references"][1]["frame"] = frame
    msg = _problems(episode, [entry])
    assert "shot 'a': " + expect in msg


def test_keyframe_outside_a_later_shot(episode):
    shots = episode.default_shots()
    shots[2] = _multi(episode, [22, 5], name="c", start=22, end=30)
    assert "shot 'c': `references[1]`: `frame` 5 is outside the shot (frames 22-29)" in _problems(episode, shots)


def test_duplicate_keyframe_frames(episode):
    entry = _multi(episode, [15, 0])
    entry["references"].append({"frame": "00:00:00:15", "image": episode.ref(0)})  # frame 15 again, as a timecode
    msg = _problems(episode, [entry])
    assert "shot 'a': `references[2]`: `frame` 15 is also the frame of `references[0]`" in msg


def test_missing_image(episode):
    entry = _multi(episode, [0, 15, 20])
    del entry["references"][1]["image"]
    entry["references"][2]["image"] = "refs/nope.png"
    with pytest.raises(ManifestError) as e:
        load_manifest(episode.manifest([entry]))
    msg = str(e.value)
    assert "shot 'a': `references[1]`: `image` is missing" in msg
    assert "shot 'a': `references[2]`: `image` file" in msg and "nope.png" in msg and "does not exist" in msg
    assert len(e.value.problems) == 2  # every problem at once, nothing else reported


def test_malformed_references(episode):
    for bad in ([], None, "refs/0000.png"):
        entry = {"name": "a", "start": 0, "end": 30, "references": bad}
        assert "shot 'a': `references` must be a non-empty list of {frame: <time>, image: <path>}" in _problems(
            episode, [entry]
        )
    entry = _multi(episode, [0, 15])
    entry["references"][0]["img"] = "x.png"
    entry["references"].append("refs/0000.png")
    msg = _problems(episode, [entry])
    assert "shot 'a': `references[0]`: unknown key `img` (did you mean 'image'?)" in msg
    assert "shot 'a': `references[2]` must be a mapping" in msg


def test_subshot_names_unique_and_file_safe(episode):
    shots = [_multi(episode, [0, 15], end=20), {"name": "a.f15", "start": 20, "end": 30, "reference": episode.ref(22)}]
    msg = _problems(episode, shots)
    assert "shot 'a': its keyframe at frame 15 makes a sub-shot named 'a.f15', which is the name of shots[1]" in msg
    long = "x" * 127
    msg = _problems(episode, [_multi(episode, [0, 15], name=long)])
    assert f"shot {long!r}: `name` is too long for its keyframe sub-shots" in msg and msg.count("too long") == 1


def test_overlap_names_the_subshot_and_its_shot(episode):
    shots = [
        {"name": "a", "start": 0, "end": 12, "reference": episode.ref(0)},
        _multi(episode, [15, 20], start=10, name="b"),
    ]
    msg = _problems(episode, shots)
    assert "shot 'b.f15' (keyframe of shot 'b'): `start` 10 overlaps shot 'a' (frames 0-11)" in msg


def test_seeds_and_keys_per_subshot(episode, monkeypatch):
    """A backend that takes one reference per run (diffusion) renders the sub-shots; the bucket joins them
    (tests/shots/test_keyframes_together.py)."""
    from lvcd.shots import plan, together

    monkeypatch.setattr(together, "resolve_backend", lambda opts, strict=True: ("diffusion", None))
    monkeypatch.setattr(plan, "resolve_backend", lambda opts, strict=True: ("diffusion", None))
    m = load_manifest(episode.manifest([_multi(episode, [0, 15])], defaults={"seed": 7}))
    plans = plan_shots(m)[2]
    assert [p.seed for p in plans] == [shot_seed(7, "a.f0"), shot_seed(7, "a.f15")]
    assert len({p.key for p in plans}) == 2 and [p.folder.name for p in plans] == ["a.f0", "a.f15"]
    assert [[q.name for q in p.passes] for p in plans] == [["forward"], ["forward"]]
    assert [p.shot.name for p in plan_shots(m, only=["a.f15"])[2]] == ["a.f15"]


def test_manifest_text_writes_references_unexpanded(episode):
    keys = [{"frame": 15, "image": episode.ref(15)}, {"frame": "00:00:00:00", "image": episode.ref(0)}]
    entries = [{"name": "a", "start": 0, "end": 30, "reference": None, "references": keys}]
    text = manifest_text(["line"], entries, output="out", fps=24)
    raw = yaml.safe_load(text)
    assert "reference" not in raw["shots"][0]  # no empty slot beside the list
    assert raw["shots"][0]["references"] == [
        {"frame": 15, "image": "refs/0015.png"},
        {"frame": "00:00:00:00", "image": "refs/0000.png"},
    ]
    m = load_manifest(raw, base_dir=episode.root)
    assert [(s.name, s.start, s.end) for s in m.shots] == [("a.f0", 0, 15), ("a.f15", 15, 30)]
