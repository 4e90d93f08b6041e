"""Fixtures for the shot tests: a small generated lineart episode on disk (PNG sequence) with coloured keyframes."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import yaml
from shots_synth import colour_reference, make_clip, write_sequence

SIZE = (128, 72)  # small: the bucket backend colours a frame in a few ms
SPEC = [dict(kind="shapes", n=10, seed=1), dict(kind="pan", n=12, seed=2, speed=1.0), dict(kind="twos", n=8, seed=4)]


class Episode:
    """tmp folder with `line/` (30 frames, cuts at 10 and 22), `refs/<frame>.png` keyframes and a manifest writer."""

    def __init__(self, root: Path):
        self.root = root
        self.frames, self.cuts = make_clip(SPEC, size=SIZE)
        self.line = write_sequence(self.frames, root / "line")
        (root / "refs").mkdir()

    @property
    def n(self) -> int:
        return len(self.frames)

    def ref(self, frame: int) -> str:
        """Write the coloured keyframe of global frame `frame` and return its manifest-relative path."""
        p = self.root / "refs" / f"{frame:04d}.png"
        if not p.exists():
            cv2.imwrite(str(p), cv2.cvtColor(colour_reference(self.frames[frame], seed=frame), cv2.COLOR_RGB2BGR))
        return f"refs/{p.name}"

    def manifest(self, shots: list[dict] | None = None, name: str = "shots.yaml", **top) -> Path:
        data = {"input": "line", "output": "out", "defaults": {"backend": "bucket", "fmt": "png"}, **top}
        data["shots"] = shots if shots is not None else self.default_shots()
        p = self.root / name
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return p

    def default_shots(self) -> list[dict]:
        return [
            {"name": "a", "start": 0, "end": 10, "reference": self.ref(0)},
            {"name": "b", "start": 10, "end": 22, "reference": self.ref(16), "reference_frame": 16},
            {"name": "c", "start": 22, "end": 30, "reference": self.ref(22)},
        ]


@pytest.fixture
def episode(tmp_path) -> Episode:
    return Episode(tmp_path)
