"""lvcd.problems and manifest validation at scale: capped lists, cut values, typed option errors."""

from __future__ import annotations

import pytest
import yaml

from lvcd.problems import MAX_PROBLEMS, check_value, cut, format_problems
from lvcd.shots.manifest import ManifestError, load_manifest


def test_format_problems_caps_the_list():
    text = format_problems([f"shot {i}: bad" for i in range(120)], "m.yaml")
    lines = text.splitlines()
    assert lines[0] == "m.yaml: 120 problems:" and len(lines) == 1 + MAX_PROBLEMS + 1
    assert lines[-1].startswith("  ... and 70 more problems")


def test_cut_long_values():
    text = cut("x" * 20_000_000)
    assert len(text) < 300 and "19,999,802 more characters" in text
    one = format_problems([f"`device` {'y' * 5000} is wrong"])
    assert len(one) < 500 and "characters cut" in one


def test_typed_values():
    assert check_value("steps", "many", "int") == "`steps` must be an integer (got 'many')"
    assert check_value("steps", True, "int") is not None and check_value("steps", 3, "int") is None
    assert check_value("model", None, "str | None") is None
    assert check_value("keep_lines", "yes please", "bool") == "`keep_lines` must be true or false (got 'yes please')"


def _manifest(tmp_path, shots: int, defaults=None):
    import cv2
    import numpy as np

    (tmp_path / "line").mkdir(exist_ok=True)
    for i in range(4):
        cv2.imwrite(str(tmp_path / "line" / f"{i:04d}.png"), np.full((16, 16, 3), 255, np.uint8))
    lines = ["input: line", "output: out.mp4"]
    if defaults:
        lines.append("defaults: " + yaml.safe_dump(defaults, default_flow_style=True).strip())
    lines.append("shots:")
    lines += [f"  - {{name: s{i}, start: {2 * i}, end: {2 * i + 2}, reference: r.png}}" for i in range(shots)]
    (tmp_path / "m.yaml").write_text("\n".join(lines) + "\n")
    return tmp_path / "m.yaml"


def test_steps_many_is_a_plain_problem(tmp_path):
    with pytest.raises(ManifestError) as e:
        load_manifest(_manifest(tmp_path, 1, {"steps": "many"}))
    assert "defaults: `steps` must be an integer (got 'many')" in str(e.value)
    assert "not supported between" not in str(e.value)


def test_huge_manifest_rejected_with_a_capped_list(tmp_path):
    """20,000 broken shots: one screen of problems (100,000 and the timing: scripts/bench_manifest_validation.py)."""
    with pytest.raises(ManifestError) as e:
        load_manifest(_manifest(tmp_path, 20_000))
    text = str(e.value)
    assert len(text.splitlines()) <= MAX_PROBLEMS + 2
    assert "checking stopped at shots[" in " ".join(e.value.problems[-1:]) and "more problems" in text
