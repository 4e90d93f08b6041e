"""Manifest / CLI extra references (issue 15): validation naming shot and field, CLI pairing, mask loading."""
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
    specs = parse_extra_references([{"image": "sheet.png", "mask": "sheet_mask.png", "target_mask": "tm",
                                     "lineart": "line.png"}, "sheet.png"], files, 5, True, "shot 's1'", problems)
    assert problems == []
    assert specs[0] == ExtraReferenceSpec(str(files / "sheet.png"), str(files / "sheet_mask.png"), str(files / "tm"),
                                          str(files / "line.png"))
    assert specs[1] == ExtraReferenceSpec(str(files / "sheet.png"))


def test_problems_name_shot_and_field(files):
    problems = []
    parse_extra_references([
        {"image": "sheet.png", "mask": "small_mask.png"},  # wrong size
        {"image": "sheet.png", "target_mask": "tm"},  # 5 frames, the shot has 7
        {"image": "missing.png", "lineart": "nope.png"},  # missing files
        {"mask": "sheet_mask.png"},  # no image
        {"image": "sheet.png", "colour": 3},  # unknown key
    ], files, 7, True, "shot 's1'", problems)
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
    parse_extra_references([{"image": "sheet.png", "target_mask": "sheet_mask.png"}], files, 99, True, "shot 'a'",
                           problems)
    assert problems == []
    frames = list(target_mask_frames(str(files / "sheet_mask.png"), 3, (32, 24)))
    assert len(frames) == 3 and frames[0].shape == (24, 32) and frames[0].max() == 255


def test_target_mask_sequence_streams_the_shot(files):
    frames = list(target_mask_frames(str(files / "tm"), 5))
    assert [int(f.max()) for f in frames] == [0, 255, 0, 255, 0]
    assert read_mask(str(files / "sheet_mask.png"), (16, 12)).shape == (12, 16)


def test_cli_pairs_masks_in_order():
    assert pair_cli_extra_references(["a.png", "b.png"], ["ma.png"], ["-", "tb"]) == [
        {"image": "a.png", "mask": "ma.png"}, {"image": "b.png", "target_mask": "tb"}]
    assert pair_cli_extra_references(None, None, None) == []
    with pytest.raises(ValueError, match="--extra-target-mask is given 2 time"):
        pair_cli_extra_references(["a.png"], [], ["x", "y"])
