"""Manifest / CLI extra references (issue 15): validation naming shot and field, CLI pairing, mask loading."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvcd.shots.extra_refs import ExtraReferenceSpec, pair_cli_extra_references, parse_extra_references
from lvcd.video.masks import read_mask, target_mask_frames


def _png(path, w, h, value=255, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)
    return path


@pytest.fixture
def files(tmp_path):
    _png(tmp_path / "sheet.png", 64, 48)
    _png(tmp_path / "sheet_mask.png", 64, 48, mode="L")
    _png(tmp_path / "small_mask.png", 32, 24, mode="L")
    _png(tmp_path / "line.png", 64, 48)
    for t in range(5):
        _png(tmp_path / "tm" / f"{t:04d}.png", 64, 48, value=255 * (t % 2), mode="L")
    return tmp_path


def test_valid_entries_resolve_relative_to_the_manifest(files):
    problems = []
    specs = parse_extra_references(
        [{"image": "sheet.png", "mask": "sheet_mask.png", "target_mask": "tm", "lineart": "line.png"}, "sheet.png"],
        files,
        5,
        True,
        "shot 's1'",
        problems,
    )
    assert problems == []
    assert specs[0] == ExtraReferenceSpec(
        str(files / "sheet.png"), str(files / "sheet_mask.png"), str(files / "tm"), str(files / "line.png")
    )
    assert specs[1] == ExtraReferenceSpec(str(files / "sheet.png"))


def test_problems_name_shot_and_field(files):
    problems = []
    parse_extra_references(
        [
            {"image": "sheet.png", "mask": "small_mask.png"},  # wrong size
            {"image": "sheet.png", "target_mask": "tm"},  # 5 frames, the shot has 7
            {"image": "missing.png", "lineart": "nope.png"},  # missing files
            {"mask": "sheet_mask.png"},  # no image
            {"image": "sheet.png", "colour": 3},  # unknown key
        ],
        files,
        7,
        True,
        "shot 's1'",
        problems,
    )
    text = "\n".join(problems)
    assert "shot 's1': `extra_references[0].mask`" in text and "32x24 but `image` is 64x48" in text
    assert "shot 's1': `extra_references[1].target_mask`" in text and "has 5 frames but the shot has 7" in text
    assert "`extra_references[2].image` " in text and "does not exist" in text
    assert "`extra_references[2].lineart` " in text
    assert "`extra_references[3]`.image is missing" in text
    assert "unknown key(s) 'colour'" in text
    assert len(problems) == 6
    problems = []
    parse_extra_references("sheet.png", files, 7, True, "defaults", problems)
    assert problems and problems[0].startswith("defaults: `extra_references` must be a list")


def test_one_target_image_serves_every_frame(files):
    problems = []
    parse_extra_references(
        [{"image": "sheet.png", "target_mask": "sheet_mask.png"}], files, 99, True, "shot 'a'", problems
    )
    assert problems == []
    frames = list(target_mask_frames(str(files / "sheet_mask.png"), 3, (32, 24)))
    assert len(frames) == 3 and frames[0].shape == (24, 32) and frames[0].max() == 255


def test_target_mask_sequence_streams_the_shot(files):
    frames = list(target_mask_frames(str(files / "tm"), 5))
    assert [int(f.max()) for f in frames] == [0, 255, 0, 255, 0]
    assert read_mask(str(files / "sheet_mask.png"), (16, 12)).shape == (12, 16)


def test_cli_pairs_masks_in_order():
    assert pair_cli_extra_references(["a.png", "b.png"], ["ma.png"], ["-", "tb"]) == [
        {"image": "a.png", "mask": "ma.png"},
        {"image": "b.png", "target_mask": "tb"},
    ]
    assert pair_cli_extra_references(None, None, None) == []
    with pytest.raises(ValueError, match="--extra-target-mask is given 2 time"):
        pair_cli_extra_references(["a.png"], [], ["x", "y"])


# ---------------------------------------------------------------------------------------------------- manifests
def _sheet(episode, frame: int, name: str) -> str:
    """A coloured reference image of the episode's size (a keyframe of another frame), manifest-relative."""
    cv2 = pytest.importorskip("cv2")
    from shots_synth import colour_reference

    p = episode.root / "sheets" / f"{name}.png"
    p.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(p), cv2.cvtColor(colour_reference(episode.frames[frame], seed=99), cv2.COLOR_RGB2BGR))
    return f"sheets/{name}.png"


def _target_sequence(episode, name: str, frames: int, left: bool) -> str:
    w, h = episode.frames[0].shape[1], episode.frames[0].shape[0]
    for t in range(frames):
        m = np.zeros((h, w), np.uint8)
        m[:, : w // 2] = 255
        (episode.root / "masks" / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(m if left else 255 - m).save(episode.root / "masks" / name / f"{t:04d}.png")
    return f"masks/{name}"


def test_manifest_extra_references_from_defaults_and_shots(episode):
    from lvcd.shots.manifest import load_manifest

    sheet = _sheet(episode, 5, "s5")
    path = episode.manifest(
        [
            {"name": "a", "start": 0, "end": 10, "reference": episode.ref(0)},
            {
                "name": "b",
                "start": 10,
                "end": 22,
                "reference": episode.ref(10),
                "extra_references": [{"image": sheet, "target_mask": _target_sequence(episode, "b", 12, True)}],
            },
            {"name": "c", "start": 22, "end": 30, "reference": episode.ref(22), "extra_references": []},
        ],
        defaults={"backend": "bucket", "fmt": "png", "extra_references": [sheet]},
    )
    m = load_manifest(path)
    a, b, c = (m.shot(n) for n in "abc")
    assert a.extra_references == (ExtraReferenceSpec(str(episode.root / sheet)),)
    assert b.extra_references[0].target_mask == str(episode.root / "masks" / "b")
    assert b.extra_references[0].first_frame == 10
    assert c.extra_references == () and "extra_references" not in m.defaults
    from lvcd.shots.plan import format_plans, plan_shots

    table = format_plans(plan_shots(path)[2]).splitlines()
    assert table[0].split()[-1] == "refs" and [row.split()[-1] for row in table[1:]] == ["2", "2", "1"]


def test_manifest_problems_name_shot_and_field(episode):
    from lvcd.shots.manifest import ManifestError, load_manifest

    sheet = _sheet(episode, 5, "s5")
    _png(episode.root / "small.png", 32, 24, mode="L")
    path = episode.manifest(
        [
            {
                "name": "a",
                "start": 0,
                "end": 10,
                "reference": episode.ref(0),
                "extra_references": [
                    {"image": sheet, "target_mask": _target_sequence(episode, "five", 5, True)},
                    {"image": sheet, "mask": "small.png"},
                    {"image": "nope.png"},
                ],
            },
            {"name": "b", "start": 10, "end": 30, "reference": episode.ref(10)},
        ],
        defaults={"backend": "bucket", "extra_references": [{"image": sheet, "lineart": "gone.png"}]},
    )
    with pytest.raises(ManifestError) as e:
        load_manifest(path)
    text = str(e.value)
    assert "shot 'a': `extra_references[0].target_mask`" in text and "has 5 frames but the shot has 10" in text
    assert "shot 'a': `extra_references[1].mask`" in text and "32x24" in text
    assert "shot 'a': `extra_references[2].image`" in text and "does not exist" in text
    assert "shot 'b' (from `defaults`): `extra_references[0].lineart`" in text


def test_pass_reads_target_masks_in_its_own_order(episode):
    from lvcd.shots.extra_refs import pass_extra_references

    seq = _target_sequence(episode, "mixed", 12, True)
    for t in (3, 5):  # shot frames 3 and 5 (global 13 and 15) select nothing
        Image.fromarray(np.zeros(episode.frames[0].shape[:2], np.uint8)).save(episode.root / seq / f"{t:04d}.png")
    spec = ExtraReferenceSpec("x.png", target_mask=str(episode.root / seq), first_frame=10)
    backward = pass_extra_references([spec], [16, 15, 14, 13])[0]["target_mask"]
    assert [int(backward[t].max()) for t in range(4)] == [255, 0, 255, 0]
    external = pass_extra_references([spec], [None, 10, 11])[0]["target_mask"]
    assert len(external) == 3 and external[0].min() == 255  # the prepended reference lineart: all allowed


def _two_reference_shot(episode, backend_defaults: dict, start: int, end: int, key: int) -> Path:
    return episode.manifest(
        [
            {
                "name": "s",
                "start": start,
                "end": end,
                "reference": episode.ref(key),
                "reference_frame": key,
                "extra_references": [
                    {
                        "image": _sheet(episode, start + 3, "x3"),
                        "lineart": f"line/{start + 3:04d}.png",
                        "target_mask": _target_sequence(episode, "left", end - start, True),
                    },
                    {
                        "image": _sheet(episode, end - 2, "x2"),
                        "mask": "sheets/x2_mask.png",
                        "target_mask": _target_sequence(episode, "right", end - start, False),
                    },
                ],
            },
        ],
        defaults=backend_defaults,
    )


def _render_twice(path, tmp_path):
    from lvcd.shots.render import read_png, render_shots

    outs = []
    for run in ("one", "two"):
        res = render_shots(path, work=tmp_path / run, assemble=False, progress=False, drift=False)
        outs.append([read_png(p) for p in sorted((res.work / "shots" / "s").glob("*.png"))])
    return outs


@pytest.mark.parametrize("backend", ["bucket", "diffusion"])
def test_shot_with_two_extra_references_and_masks_is_deterministic(episode, tmp_path, backend, request):
    from lvcd.shots.plan import plan_shots

    if backend == "diffusion":
        model = request.getfixturevalue("tiny_pipeline_dir_short")
        defaults = {
            "backend": "diffusion",
            "model": str(model),
            "fmt": "png",
            "steps": 1,
            "overlap": 1,
            "size": [64, 64],
        }
        start, end, key = 0, 10, 0  # two windows of the short layout
    else:
        defaults = {"backend": "bucket", "fmt": "png", "bucket_mode": "flat"}
        start, end, key = 10, 22, 16  # a keyframe mid-shot: a backward and a forward pass
    w, h = episode.frames[0].shape[1], episode.frames[0].shape[0]
    sel = np.zeros((h, w), np.uint8)
    sel[:, w // 3 :] = 255
    _sheet(episode, end - 2, "x2")
    Image.fromarray(sel).save(episode.root / "sheets" / "x2_mask.png")
    path = _two_reference_shot(episode, defaults, start, end, key)
    a, b = _render_twice(path, tmp_path)
    assert len(a) == len(b) == end - start
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # the extra references' content is part of the render key
    key_with = plan_shots(path, work=tmp_path / "one")[2][0].key
    Image.fromarray(255 - sel).save(episode.root / "sheets" / "x2_mask.png")
    assert plan_shots(path, work=tmp_path / "one")[2][0].key != key_with
