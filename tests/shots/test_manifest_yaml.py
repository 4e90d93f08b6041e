"""read_yaml's event-built fast path gives exactly what the loader gives, and falls back for what it leaves out."""

import math
from pathlib import Path

import pytest
import yaml

from lvcd.shots.manifest import ManifestError
from lvcd.shots.yaml_load import _FastLoader, _load_plain, _NeedsFullLoader, read_yaml

REPO = Path(__file__).resolve().parents[2]

DOCS = [
    "",
    "42",
    "plain text",
    "input: line.mp4\noutput: out.mp4\nfps: 23.976\n",
    "a: 1:00:00:00\nb: '12'\nc: 0x1f\nd: 017\ne: -3\nf: +4.5e+3\ng: .inf\nh: .nan\n",
    "t: [true, false, yes, no, on, off, True, NO]\nn: [null, ~, Null, '']\n",
    "when: 2024-01-02\nstamp: 2024-01-02 10:11:12\n",
    "shots:\n  - {name: s0, start: 0, end: 2, reference: r.png}\n  - name: s1\n    start: 00:00:01:00\n"
    "    end: 2.5s\n    options: {steps: 25, seed: 7, snap: true}\n"
    "    references:\n      - {frame: 3, image: k.png}\n",
    'key: |\n  block\n  text\nfolded: >\n  a\n  b\nq: "double\\tquoted"\n',
    "nested: [[1, [2, {x: [3]}]], {}, []]\nempty_map: {}\n",
    "dup: 1\ndup: 2\n",
    "? simple\n: value\n",
    "- 1\n- - 2\n  - 3\n- {a: b}\n",
]


@pytest.mark.parametrize("text", DOCS)
def test_fast_path_equals_loader(text):
    want = yaml.load(text, Loader=_FastLoader)
    got = _load_plain(text)
    assert type(got) is type(want)
    if isinstance(want, dict) and "h" in want and isinstance(want["h"], float) and math.isnan(want["h"]):
        assert math.isnan(got.pop("h")) and want.pop("h") is not None
    assert got == want


SHIPPED = sorted((REPO / "lvcd" / "data").rglob("*.yaml")) + sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED)
def test_fast_path_on_shipped_manifests(path):
    text = path.read_text(encoding="utf-8")
    assert _load_plain(text) == yaml.load(text, Loader=_FastLoader)


@pytest.mark.parametrize(
    "text",
    [
        "base: &b {x: 1}\nother: *b\n",
        "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",
        "v: !!str 12\n",
        "? [a, b]\n: c\n",
        "a: 1\n---\nb: 2\n",
    ],
)
def test_features_left_to_pyyaml(text, tmp_path):
    with pytest.raises(_NeedsFullLoader):
        _load_plain(text)
    p = tmp_path / "m.yaml"
    p.write_text(text)
    try:
        want = yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        with pytest.raises(ManifestError, match="not valid YAML"):
            read_yaml(p)
    else:
        assert read_yaml(p) == want


def test_syntax_error_names_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("shots: [\n  - a\n")
    with pytest.raises(ManifestError, match="bad.yaml.*not valid YAML|not valid YAML"):
        read_yaml(p)
