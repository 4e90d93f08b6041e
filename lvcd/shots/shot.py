"""The data of a validated shot manifest: the inputs on one frame axis (`InputInfo`), the shots (`Shot`), the whole
`Manifest`, the error that lists every problem (`ManifestError`), how a shot with several keyframes splits into
sub-shots (`expand_keyframes`) and the per-shot seed (`shot_seed`). Parsing and validation: manifest.py.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..problems import format_problems

MANIFEST_VERSION = 1
TOP_KEYS = ("version", "input", "output", "work", "audio", "defaults", "palette", "shots")
SHOT_KEYS = (
    "name",
    "start",
    "end",
    "reference",
    "reference_frame",
    "reference_lineart",
    "references",
    "options",
    "palette",
    "extra_references",
)
KEYFRAME_KEYS = ("frame", "image")  # one entry of a shot's `references` list
EXTERNAL = "external"  # `reference_frame: external`: the reference is not a frame of this shot
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a shot name is also a file name in the work folder
STOP_AFTER_PROBLEMS = 1000  # shots are not checked further once this many problems are found


class ManifestError(ValueError):
    """One or more problems in a manifest; `problems` lists them, each naming the shot and the field."""

    def __init__(self, problems: Sequence[str], source: str | os.PathLike | None = None, note: str = ""):
        self.problems = list(problems)
        self.source = str(source) if source is not None else None
        self.note = note
        super().__init__(format_problems(self.problems, self.source, note))


@dataclass
class InputInfo:
    """One input of the episode, placed on the global frame axis."""

    path: str  # resolved path or pattern (as given to lvcd.video)
    frame_count: int
    offset: int  # global frame number of its first frame
    fps: Fraction
    size: tuple[int, int]  # (W, H)
    has_audio: bool = False


@dataclass
class Shot:
    """One validated shot. Frame numbers are global over the concatenated inputs."""

    name: str
    start: int  # first frame, inclusive
    end: int  # one past the last frame, exclusive
    reference: Path | None  # the coloured keyframe; None = the slot is still empty (cannot render yet)
    reference_frame: int | None  # the global frame `reference` colours; None = an external (off-frame) reference
    reference_lineart: Path | int | None = None  # external only: its lineart (image, or a global frame); None = XDoG
    options: dict = field(default_factory=dict)  # per-shot RenderOptions overrides, as written
    index: int = 0  # position in the manifest's `shots` list (0-based), for messages
    parent: str | None = None  # set on the sub-shots of a shot with several `references`: that shot's name
    keyframes: tuple = ()  # a shot rendered with its keyframes together (bucket, together.py): (frame, image), ...
    extra_references: tuple = ()  # ExtraReferenceSpec: references used together by every frame (extra_refs.py)

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def external(self) -> bool:
        return self.reference_frame is None

    @property
    def label(self) -> str:
        """The name for messages: `'s002.f90' (keyframe of shot 's002')` for a sub-shot, else `'s002'`."""
        return repr(self.name) if self.parent is None else f"{self.name!r} (keyframe of shot {self.parent!r})"


@dataclass
class Manifest:
    """A validated manifest: inputs probed, times turned into frames, paths resolved against `base_dir`."""

    base_dir: Path  # relative paths in the file resolve against this (the manifest's folder)
    inputs: list[InputInfo]
    output: Path | None  # the assembled video (None: only per-shot renders, or given at render time)
    work: Path | None  # the work folder written in the manifest (None: default, see render.py)
    defaults: dict  # RenderOptions fields for every shot
    shots: list[Shot]  # sorted by start
    path: Path | None = None  # the file it was read from
    warnings: list[str] = field(default_factory=list)
    audio: Path | str | None = None  # `audio:` the sound of the assembled video: a file, "none", or None (inputs')

    @property
    def frame_count(self) -> int:
        return sum(i.frame_count for i in self.inputs)

    @property
    def fps(self) -> Fraction:
        return self.inputs[0].fps

    @property
    def size(self) -> tuple[int, int]:
        return self.inputs[0].size

    def shot(self, name: str) -> Shot:
        for s in self.shots:
            if s.name == name:
                return s
        raise KeyError(name)

    def select(self, names: Sequence[str] | None) -> list[Shot]:
        """The shots called `names` (all shots for None), in frame order; unknown names raise ManifestError. The name
        of a shot with several `references` selects all its sub-shots; a sub-shot's name selects the whole shot when
        its keyframes are used together (`keyframes`)."""
        if not names:
            return list(self.shots)
        alias = {subshot_name(s.name, f): s.name for s in self.shots for f, _ in s.keyframes}
        known = {s.name for s in self.shots} | {s.parent for s in self.shots if s.parent is not None} | set(alias)
        bad = [n for n in names if n not in known]
        if bad:
            raise ManifestError([f"--only: no shot named {n!r}{suggest(n, known)}" for n in bad], self.path)
        wanted = {alias.get(n, n) for n in names}
        return [s for s in self.shots if s.name in wanted or s.parent in wanted]

    def require_references(self, shots: Sequence[Shot] | None = None) -> None:
        """Raise ManifestError naming every shot whose `reference` slot is empty (nothing can be rendered)."""
        empty = [s for s in (self.shots if shots is None else shots) if s.reference is None]
        if empty:
            raise ManifestError(
                [
                    f"shot {s.name!r}: `reference` is empty; set it to the coloured keyframe image of frame "
                    f"{s.start if s.reference_frame is None else s.reference_frame} (a path relative to the manifest)"
                    for s in empty
                ],
                self.path,
            )

    def gaps(self) -> list[tuple[int, int]]:
        """[start, end) frame ranges covered by no shot (rendered as the uncoloured lineart when assembling)."""
        out, pos = [], 0
        for s in self.shots:
            if s.start > pos:
                out.append((pos, s.start))
            pos = max(pos, s.end)
        if pos < self.frame_count:
            out.append((pos, self.frame_count))
        return out


def subshot_name(name: str, frame: int) -> str:
    """The name of the sub-shot coloured from the keyframe at global frame `frame` of shot `name` (several
    `references`): `<name>.f<frame>`. Keyed by the keyframe's frame, not its position in the list, so adding, moving
    or removing one keyframe renames (and so re-seeds and re-renders) only the sub-shots whose frames change."""
    return f"{name}.f{frame}"


def expand_keyframes(
    name: str,
    start: int,
    end: int,
    keyframes: Sequence[tuple[int, Any]],
) -> list[tuple[str, int, int, int, Any]]:
    """Split shot [start, end) at its keyframes: (sub-shot name, start, end, reference frame, image) per keyframe.

    `keyframes` are (global frame, image) pairs inside [start, end) with distinct frames, in any order. Sorted by
    frame f_0 < f_1 < ... < f_n, sub-shot k covers [f_k, f_k+1) (the last one up to `end`) and is coloured forward
    from keyframe k; the first also covers [start, f_0), coloured backward from keyframe 0 (the mid-shot reference
    rule). So the sub-shots tile the shot exactly. One keyframe gives the shot itself, under its own name, exactly as
    `reference` + `reference_frame` would; several give sub-shots named `subshot_name(name, f_k)`.
    """
    kfs = sorted(keyframes, key=lambda kf: kf[0])
    if len(kfs) == 1:
        return [(name, start, end, kfs[0][0], kfs[0][1])]
    out = []
    for k, (frame, image) in enumerate(kfs):
        a = start if k == 0 else frame
        b = kfs[k + 1][0] if k + 1 < len(kfs) else end
        out.append((subshot_name(name, frame), a, b, frame, image))
    return out


def shot_seed(seed: int, name: str) -> int:
    """Per-shot noise seed: the first 4 bytes (big-endian) of sha256("<seed>/<name>"), in [0, 2**32).

    It depends on nothing but the manifest seed and the shot's name, so a shot renders the same wherever and
    whenever it is rendered (another machine, a resumed run, after other shots were added or removed).
    """
    return int.from_bytes(hashlib.sha256(f"{int(seed)}/{name}".encode()).digest()[:4], "big")


def suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(keys, allowed, where: str) -> list[str]:
    return [
        f"{where}: unknown key `{k}`{suggest(k, allowed)}; allowed: {', '.join(allowed)}"
        for k in keys
        if k not in allowed
    ]


def resolve(base: Path, p: str) -> Path:
    q = Path(os.path.expanduser(str(p)))
    return q if q.is_absolute() else Path(os.path.normpath(base / q))
