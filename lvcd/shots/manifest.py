"""Shot manifests: the YAML file that says which frames form each shot and which coloured keyframe colours it.

The schema is documented in configs/manifest.schema.md (with examples beside it). In short::

    version: 1
    input: [ep01_part1.mp4, ep01_part2.mp4]   # one or many videos / image sequences; frames numbered globally
    output: ep01_color.mp4
    defaults: {seed: 1234, steps: 25}          # any lvcd.api.ColorizeOptions field
    shots:
      - name: s001
        start: 0                               # first frame (inclusive)
        end: 48                                # one past the last frame (exclusive); or "00:00:02:00", 2.0, "2s"
        reference: refs/s001.png               # relative to this file; empty = not filled in yet
        reference_frame: 12                    # global frame the reference colours (default: `start`), or external
        options: {steps: 30}                   # per-shot overrides
      - name: s002
        start: 48
        end: 120
        references:                            # several keyframes instead of `reference` (any order)
          - {frame: 60, image: refs/s002_a.png}  # 48..59 backward and 60..89 forward from this one
          - {frame: 90, image: refs/s002_b.png}  # 90..119 forward from this one

A shot with several `references` is split at parse time into ordinary shots, one per keyframe (`expand_keyframes`):
the model takes one reference per run, so each keyframe colours the frames from it up to the next keyframe, and the
first one also colours the frames before it, backwards. Each sub-shot is named `<name>.f<keyframe frame>`
(`subshot_name`) and has its own seed, work folder and hash key; everything downstream (render.py) sees plain shots.

`load_manifest` parses, resolves and validates everything *before* anything renders: every problem is reported at
once, each line naming the shot and the field (`ManifestError`); gaps between shots are warnings. Also here: CSV and
OpenTimelineIO shot lists (`shots_from_csv`, `shots_from_otio`), the manifest writer used by `lvcd shots`
(`manifest_text`) and the per-shot seed (`shot_seed`).

Deliberately not here: rendering (render.py) and cut detection (detect.py). No torch.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from ..problems import check_value, cut, format_problems

logger = logging.getLogger("lvcd")

MANIFEST_VERSION = 1
TOP_KEYS = ("version", "input", "output", "work", "audio", "defaults", "palette", "shots")
SHOT_KEYS = ("name", "start", "end", "reference", "reference_frame", "reference_lineart", "references", "options",
             "palette")
KEYFRAME_KEYS = ("frame", "image")  # one entry of a shot's `references` list
# ColorizeOptions fields that only concern the assembled video, so they belong in `defaults`, not in a shot:
OUTPUT_ONLY_OPTIONS = ("crf", "fmt", "overwrite", "quiet", "layers")
STOP_AFTER_PROBLEMS = 1000  # shots are not checked further once this many problems are found
EXTERNAL = "external"  # `reference_frame: external`: the reference is not a frame of this shot
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a shot name is also a file name in the work folder


class ManifestError(ValueError):
    """One or more problems in a manifest; `problems` lists them, each naming the shot and the field."""

    def __init__(self, problems: Sequence[str], source: str | os.PathLike | None = None, note: str = ""):
        self.problems = list(problems)
        self.source = str(source) if source is not None else None
        self.note = note
        super().__init__(format_problems(self.problems, self.source, note))


# ---------------------------------------------------------------------------------------------------- YAML loading
class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's base-60 numbers: `1:00:00:00` must stay a timecode string, not 216000."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """`_Loader`'s rules on libyaml's C parser where PyYAML has it (a 100,000-shot manifest parses ~10x faster)."""


_FastLoader.yaml_implicit_resolvers = {k: list(v) for k, v in _Loader.yaml_implicit_resolvers.items()}


def read_yaml(path: str | os.PathLike) -> Any:
    """Parse a YAML file with `_Loader`; syntax errors name the file, line and column."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"manifest {p} does not exist; make one with `lvcd shots INPUT -o {p.name}`.")
    try:
        return yaml.load(p.read_text(encoding="utf-8"), Loader=_FastLoader)
    except yaml.YAMLError as e:
        raise ManifestError([f"is not valid YAML: {e}"], p) from None


# ---------------------------------------------------------------------------------------------------- times
_SMPTE = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})([:;])(\d{1,3})$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*s$")


def parse_time(value: Any, fps: Fraction | float) -> int:
    """A frame number from an int (frames), a float (seconds), "123" (frames), "HH:MM:SS:FF" (SMPTE non-drop, FF at
    the nominal integer rate), "HH:MM:SS.sss" / "MM:SS" (clock time) or "2.5s" (seconds). Raises ValueError."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a frame number or a timecode, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected seconds, got {value!r}")
        return round(value * float(fps))
    text = str(value).strip()
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    m = _SMPTE.match(text)
    if m:
        h, mi, s, sep, ff = m.groups()
        if sep == ";":
            raise ValueError(
                f"drop-frame timecode {text!r} is not supported; write the frame number or a non-drop timecode (':')"
            )
        nominal = round(float(fps))
        if int(ff) >= nominal or int(mi) >= 60 or int(s) >= 60:
            raise ValueError(f"timecode {text!r} is out of range at {float(fps):g} fps (frames 0-{nominal - 1})")
        return ((int(h) * 60 + int(mi)) * 60 + int(s)) * nominal + int(ff)
    m = _CLOCK.match(text) or None
    if m:
        h, mi, s = m.groups()
        seconds = (int(h or 0) * 60 + int(mi)) * 60 + float(s)
        return round(seconds * float(fps))
    m = _SECONDS.match(text)
    if m:
        return round(float(m.group(1)) * float(fps))
    raise ValueError(
        f"cannot read {text!r} as a time; use a frame number (120), a timecode (\"00:00:05:00\"), or seconds (5.0 or"
        " \"5s\")"
    )


def format_timecode(frame: int, fps: Fraction | float) -> str:
    """SMPTE non-drop HH:MM:SS:FF of a frame number at the nominal integer rate (for comments and messages)."""
    nominal = max(1, round(float(fps)))
    s, ff = divmod(frame, nominal)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}"


# ---------------------------------------------------------------------------------------------------- data model
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
    options: dict = field(default_factory=dict)  # per-shot ColorizeOptions overrides, as written
    index: int = 0  # position in the manifest's `shots` list (0-based), for messages
    parent: str | None = None  # set on the sub-shots of a shot with several `references`: that shot's name

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
    defaults: dict  # ColorizeOptions fields for every shot
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
        of a shot with several `references` selects all its sub-shots."""
        if not names:
            return list(self.shots)
        known = {s.name for s in self.shots} | {s.parent for s in self.shots if s.parent is not None}
        bad = [n for n in names if n not in known]
        if bad:
            raise ManifestError([f"--only: no shot named {n!r}{_suggest(n, known)}" for n in bad], self.path)
        wanted = set(names)
        return [s for s in self.shots if s.name in wanted or s.parent in wanted]

    def require_references(self, shots: Sequence[Shot] | None = None) -> None:
        """Raise ManifestError naming every shot whose `reference` slot is empty (nothing can be rendered)."""
        empty = [s for s in (self.shots if shots is None else shots) if s.reference is None]
        if empty:
            raise ManifestError(
                [f"shot {s.name!r}: `reference` is empty; set it to the coloured keyframe image of frame "
                 f"{s.start if s.reference_frame is None else s.reference_frame} (a path relative to the manifest)"
                 for s in empty],
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


def expand_keyframes(name: str, start: int, end: int, keyframes: Sequence[tuple[int, Any]],
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


# ---------------------------------------------------------------------------------------------------- validation
def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(keys, allowed, where: str) -> list[str]:
    return [f"{where}: unknown key `{k}`{_suggest(k, allowed)}; allowed: {', '.join(allowed)}"
            for k in keys if k not in allowed]


def option_names() -> tuple[str, ...]:
    from ..api import ColorizeOptions  # numpy-only module; imported here so lvcd.shots imports stay light

    return tuple(f.name for f in _fields(ColorizeOptions))


def _fields(cls):
    import dataclasses

    return dataclasses.fields(cls)


def normalize_options(raw: Mapping, where: str, problems: list[str], *, allow_output: bool = True) -> dict:
    """Check option names and values (by building a ColorizeOptions) and convert YAML forms (`size: 576x320`)."""
    from ..api import ColorizeOptions

    if isinstance(raw, Mapping) and not raw:  # most shots have no options: nothing to check (keeps 100k shots fast)
        return {}
    names = option_names()
    types = {f.name: f.type for f in _fields(ColorizeOptions)}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping of option: value (got {type(raw).__name__})")
        return {}
    problems += _unknown(raw.keys(), names, where)
    out = {}
    for k, v in raw.items():
        if k not in names:
            continue
        if not allow_output and k in OUTPUT_ONLY_OPTIONS:
            problems.append(f"{where}: `{k}` applies to the assembled video; set it in `defaults` instead")
            continue
        if k == "size" and v is not None:
            try:
                if isinstance(v, str):
                    w, h = (int(x) for x in v.lower().split("x"))
                else:
                    w, h = (int(x) for x in v)
                v = (w, h)
            except (TypeError, ValueError):
                problems.append(f"{where}: `size` must look like 576x320 or [576, 320] (got {cut(v)})")
                continue
        bad = check_value(k, v, types[k])
        if bad is not None:
            problems.append(f"{where}: {bad}")
            continue
        out[k] = v
    if not out:
        return out
    try:
        ColorizeOptions(**out)
    except (ValueError, TypeError) as e:
        problems.append(f"{where}: {e}")
    return out


def _resolve(base: Path, p: str) -> Path:
    q = Path(os.path.expanduser(str(p)))
    return q if q.is_absolute() else Path(os.path.normpath(base / q))


def load_manifest(source: str | os.PathLike | Mapping | Manifest, *, base_dir: str | os.PathLike | None = None,
                  check_files: bool = True) -> Manifest:
    """Read and validate a manifest (a YAML path, or an already parsed mapping with `base_dir` for its relative
    paths). Probes the inputs (frame counts, fps, size) to turn timecodes into frames and check ranges.

    Raises ManifestError listing every problem, each naming the shot and the field; warnings (gaps between shots)
    are logged and kept in `Manifest.warnings`. `check_files=False` skips the reference-file existence checks.
    """
    if isinstance(source, Manifest):
        return source
    if isinstance(source, Mapping):
        raw, path = source, None
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        raw = read_yaml(path)
        base = Path(base_dir) if base_dir is not None else path.resolve().parent
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ManifestError([f"must be a YAML mapping with `input` and `shots` (got {type(raw).__name__})"], path)
    problems += _unknown(raw.keys(), TOP_KEYS, "manifest")
    version = raw.get("version", MANIFEST_VERSION)
    if version != MANIFEST_VERSION:
        problems.append(f"manifest: `version` {version!r} is not supported by this lvcd (expected {MANIFEST_VERSION})")

    # inputs
    inputs = _load_inputs(raw.get("input"), base, problems)
    if not inputs:
        raise ManifestError(problems, path)
    total = sum(i.frame_count for i in inputs)
    fps = inputs[0].fps

    output = raw.get("output")
    if output is not None and not isinstance(output, str):
        problems.append(f"manifest: `output` must be a path (got {output!r})")
        output = None
    work = raw.get("work")
    if work is not None and not isinstance(work, str):
        problems.append(f"manifest: `work` must be a folder path (got {work!r})")
        work = None
    audio = raw.get("audio")
    if audio is not None and not isinstance(audio, str):
        problems.append(f"manifest: `audio` must be a video or audio file, or `none` (got {audio!r})")
        audio = None
    defaults = normalize_options(raw.get("defaults") or {}, "defaults", problems)
    if raw.get("palette") is not None:  # the episode palette: `palette: {name: "#rrggbb"}` = defaults.palette
        defaults.update(normalize_options({"palette": raw["palette"]}, "`palette`", problems))

    shots = _load_shots(raw.get("shots"), base, total, fps, defaults, check_files, problems)
    warnings = _check_layout(shots, total, problems)
    if problems:
        raise ManifestError(problems, path)
    for w in warnings:
        logger.warning("%s%s", f"{path}: " if path else "", w)
    if audio is not None and audio.strip().lower() != "none":
        audio = _resolve(base, audio)
    return Manifest(base, inputs, _resolve(base, output) if output else None, _resolve(base, work) if work else None,
                    defaults, shots, path, warnings, audio)


def _load_inputs(value, base: Path, problems: list[str]) -> list[InputInfo]:
    from ..video import probe

    if value is None or value == [] or value == "":
        problems.append("manifest: `input` is missing; give the lineart video / image sequence (or a list of them)")
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        problems.append(f"manifest: `input` must be a path or a list of paths (got {value!r})")
        return []
    infos, offset = [], 0
    for i, p in enumerate(items):
        where = "input" if isinstance(value, str) else f"input[{i}]"
        path = str(_resolve(base, p))
        try:
            info = probe(path)
        except (OSError, ValueError) as e:
            problems.append(f"manifest: `{where}` {p!r}: {e}")
            continue
        n = int(info.frame_count)
        infos.append(InputInfo(path, n, offset, Fraction(info.fps), (int(info.width), int(info.height)),
                               bool(getattr(info, "has_audio", False))))
        offset += n
    if infos:
        first = infos[0]
        for i, inf in enumerate(infos[1:], 1):
            if inf.fps != first.fps:
                problems.append(f"manifest: `input[{i}]` runs at {float(inf.fps):g} fps but `input[0]` at "
                                f"{float(first.fps):g}; convert the parts to one frame rate")
            if inf.size != first.size:
                problems.append(f"manifest: `input[{i}]` is {inf.size[0]}x{inf.size[1]} but `input[0]` is "
                                f"{first.size[0]}x{first.size[1]}; one episode needs one frame size")
    return infos


def _load_shots(value, base: Path, total: int, fps: Fraction, defaults: dict, check_files: bool,
                problems: list[str]) -> list[Shot]:
    if not isinstance(value, list) or not value:
        problems.append("manifest: `shots` must be a non-empty list (make one with `lvcd shots INPUT -o FILE`)")
        return []
    shots, seen = [], {}
    for idx, entry in enumerate(value):
        if len(problems) >= STOP_AFTER_PROBLEMS:  # a broken 100,000-shot manifest is rejected in one screen
            problems.append(f"checking stopped at shots[{idx}] of {len(value):,} after {len(problems):,} problems; "
                            "fix these and run again")
            break
        label = f"shots[{idx}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{label}: must be a mapping with name, start, end, reference (got {cut(entry)})")
            continue
        name = entry.get("name", f"shot_{idx + 1:03d}")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(f"{label}: `name` {cut(name)} must be 1-128 letters, digits, '.', '_' or '-' (it names "
                            "files)")
            name = str(name)
        where = f"shot {name!r}"
        if name in seen:
            problems.append(f"{where}: `name` is used twice (shots[{seen[name]}] and {label}); names must be unique")
        seen.setdefault(name, idx)
        problems += _unknown(entry.keys(), SHOT_KEYS, where)

        start = _time_field(entry, "start", fps, where, problems)
        end = _time_field(entry, "end", fps, where, problems)
        if start is not None and end is not None:
            if start < 0:
                problems.append(f"{where}: `start` {start} is before the first frame (0)")
            if end > total:
                problems.append(f"{where}: `end` {end} is past the end of the input ({total} frames: last frame "
                                f"{total - 1}; `end` is exclusive, so at most {total})")
            if end <= start:
                problems.append(f"{where}: `end` {end} must be after `start` {start} (`end` is exclusive: one past "
                                "the last frame)")
        if "references" in entry:  # several keyframes: expanded into sub-shots below
            keyframes = _load_keyframes(entry, base, start, end, fps, check_files, where, problems)
        else:
            keyframes = None
            reference, reference_frame, reference_lineart = _load_reference(entry, base, start, end, total, fps,
                                                                             check_files, where, problems)
        opts = normalize_options(entry.get("options") or {}, f"{where}: `options`", problems, allow_output=False)
        if entry.get("palette") is not None:  # the shot's palette = options.palette
            opts.update(normalize_options({"palette": entry["palette"]}, where, problems, allow_output=False))
        if start is None or end is None:
            continue
        if "references" not in entry:
            shots.append(Shot(name, start, end, reference, reference_frame, reference_lineart, opts, idx))
        elif keyframes is None:  # its problems are reported; keep the shot's range for the overlap checks
            shots.append(Shot(name, start, end, None, start, None, opts, idx))
        else:
            parent = name if len(keyframes) > 1 else None  # one keyframe: the shot itself, as `reference` gives
            for sub, a, b, frame, image in expand_keyframes(name, start, end, keyframes):
                shots.append(Shot(sub, a, b, image, frame, None, dict(opts), idx, parent))
    problems += _check_subshot_names(shots, seen)
    shots.sort(key=lambda s: (s.start, s.index))
    return shots


def _image_path(raw, base: Path, check_files: bool, what: str, problems: list[str]) -> Path | None:
    """An image path field (`what` names it in messages), resolved against the manifest's folder; None if invalid."""
    if not isinstance(raw, str):
        problems.append(f"{what} must be an image path (got {cut(raw)})")
        return None
    path = _resolve(base, raw)
    if check_files and not os.path.isfile(path):
        problems.append(f"{what} file {str(path)!r} does not exist (paths are relative to the manifest's folder)")
    return path


def _load_reference(entry: Mapping, base: Path, start: int | None, end: int | None, total: int, fps: Fraction,
                    check_files: bool, where: str, problems: list[str],
                    ) -> tuple[Path | None, int | None, Path | int | None]:
    """`reference`, `reference_frame` and `reference_lineart` of a shot without `references`, checked."""
    ref_raw = entry.get("reference")
    reference = None
    if ref_raw not in (None, ""):
        reference = _image_path(ref_raw, base, check_files, f"{where}: `reference`", problems)
    # reference frame
    rf_raw = entry.get("reference_frame")
    reference_frame: int | None = start
    if isinstance(rf_raw, bool):
        problems.append(f"{where}: `reference_frame` is {rf_raw!r} (YAML reads yes/no/on/off as booleans); write "
                        f"a frame number, a timecode or `{EXTERNAL}`")
    elif isinstance(rf_raw, str) and rf_raw.strip().lower() == EXTERNAL:
        reference_frame = None
    elif rf_raw is not None:
        try:
            reference_frame = parse_time(rf_raw, fps)
        except ValueError as e:
            problems.append(f"{where}: `reference_frame`: {e}")
        else:
            if start is not None and end is not None and not start <= reference_frame < end:
                problems.append(
                    f"{where}: `reference_frame` {reference_frame} is outside the shot (frames {start}-{end - 1});"
                    f" for a design sheet or another shot's frame write `reference_frame: {EXTERNAL}` (and"
                    " optionally `reference_lineart`)"
                )
    # reference lineart (external references only)
    rl_raw = entry.get("reference_lineart")
    reference_lineart: Path | int | None = None
    if rl_raw not in (None, ""):
        if rf_raw is None or not (isinstance(rf_raw, str) and rf_raw.strip().lower() == EXTERNAL):
            problems.append(f"{where}: `reference_lineart` is only used with `reference_frame: {EXTERNAL}` (an "
                            "in-shot reference's lineart is the shot's own frame); remove it or mark the reference"
                            " external")
        elif isinstance(rl_raw, bool):
            problems.append(f"{where}: `reference_lineart` must be an image path or a frame number")
        elif isinstance(rl_raw, int) or (isinstance(rl_raw, str) and _looks_like_time(rl_raw)):
            try:
                reference_lineart = parse_time(rl_raw, fps)
            except ValueError as e:
                problems.append(f"{where}: `reference_lineart`: {e}")
            else:
                if not 0 <= reference_lineart < total:
                    problems.append(f"{where}: `reference_lineart` frame {reference_lineart} is outside the input "
                                    f"(0-{total - 1})")
        elif isinstance(rl_raw, str):
            reference_lineart = _resolve(base, rl_raw)
            if check_files and not reference_lineart.is_file():
                problems.append(f"{where}: `reference_lineart` file {str(reference_lineart)!r} does not exist")
        else:
            problems.append(f"{where}: `reference_lineart` must be an image path or a frame number")
    return reference, reference_frame, reference_lineart


def _load_keyframes(entry: Mapping, base: Path, start: int | None, end: int | None, fps: Fraction,
                    check_files: bool, where: str, problems: list[str]) -> list[tuple[int, Path]] | None:
    """A shot's `references` list as (global frame, image path) pairs, in the order written; None when anything is
    wrong (every problem goes to `problems`, naming the shot and the entry). An empty `reference:` or
    `reference_frame:` slot (what `lvcd shots` writes) may stay beside `references`; a filled one may not."""
    n_before = len(problems)
    ref = entry.get("reference")
    if ref not in (None, ""):
        problems.append(f"{where}: `reference` and `references` are both given; a shot has one `reference` or a "
                        f"`references` list: move it into the list as `{{frame: <the frame it colours>, image: "
                        f"{ref}}}` and delete `reference`, or delete `references`")
    if entry.get("reference_frame") not in (None, ""):
        problems.append(f"{where}: `reference_frame` does not go with `references` (each keyframe gives its own "
                        "`frame`); delete it")
    if entry.get("reference_lineart") not in (None, ""):
        problems.append(f"{where}: `reference_lineart` is only for `reference_frame: {EXTERNAL}`, which `references` "
                        f"does not offer; delete it, or use `reference` + `reference_frame: {EXTERNAL}`")
    raw = entry.get("references")
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}: `references` must be a non-empty list of {{frame: <time>, image: <path>}} "
                        f"(got {raw!r})")
        return None
    keyframes: list[tuple[int, Path]] = []
    first_at: dict[int, int] = {}  # frame -> index of the entry that keys it
    for i, item in enumerate(raw):
        at = f"{where}: `references[{i}]`"
        if not isinstance(item, Mapping):
            problems.append(f"{at} must be a mapping {{frame: <time>, image: <path>}} (got {item!r})")
            continue
        problems += _unknown(item.keys(), KEYFRAME_KEYS, at)
        frame_raw, frame = item.get("frame"), None
        if frame_raw in (None, ""):
            problems.append(f"{at}: `frame` is missing; give the frame its image colours (a frame number, a timecode "
                            "or seconds, like `start`)")
        elif isinstance(frame_raw, str) and frame_raw.strip().lower() == EXTERNAL:
            problems.append(f"{at}: `frame: {EXTERNAL}` is not possible in `references` (every keyframe is a frame of "
                            f"the shot); for a design sheet use `reference` + `reference_frame: {EXTERNAL}`")
        else:
            try:
                frame = parse_time(frame_raw, fps)
            except ValueError as e:
                problems.append(f"{at}: `frame`: {e}")
            else:
                if start is not None and end is not None and not start <= frame < end:
                    problems.append(f"{at}: `frame` {frame} is outside the shot (frames {start}-{end - 1}); every "
                                    "keyframe must be a frame of its shot (`end` is exclusive)")
                elif frame in first_at:
                    problems.append(f"{at}: `frame` {frame} is also the frame of `references[{first_at[frame]}]`; "
                                    "one keyframe per frame: delete one of them")
                first_at.setdefault(frame, i)
        image_raw, image = item.get("image"), None
        if image_raw in (None, ""):
            problems.append(f"{at}: `image` is missing; give the coloured keyframe image (a path relative to the "
                            "manifest), or leave this keyframe out until you have it")
        else:
            image = _image_path(image_raw, base, check_files, f"{at}: `image`", problems)
        if frame is not None and image is not None:
            keyframes.append((frame, image))
    return None if len(problems) > n_before else keyframes


def _check_subshot_names(shots: list[Shot], names: Mapping[str, int]) -> list[str]:
    """The generated sub-shot names must be file-safe and must not clash with a shot's own name (`names`: the
    manifest's shot names -> their index)."""
    problems: list[str] = []
    too_long: set[str] = set()
    for s in shots:
        if s.parent is None or not NAME_RE.match(s.parent):  # a bad parent name is reported already
            continue
        if not NAME_RE.match(s.name):
            if s.parent not in too_long:
                too_long.add(s.parent)
                problems.append(f"shot {s.parent!r}: `name` is too long for its keyframe sub-shots (named "
                                f"`<name>.f<frame>`, e.g. {s.name!r}, at most 128 characters); shorten it")
        elif s.name in names:
            problems.append(f"shot {s.parent!r}: its keyframe at frame {s.reference_frame} makes a sub-shot named "
                            f"{s.name!r}, which is the name of shots[{names[s.name]}] too; rename one of the two")
    return problems


def _time_field(entry: Mapping, key: str, fps: Fraction, where: str, problems: list[str]) -> int | None:
    if key not in entry:
        problems.append(f"{where}: `{key}` is missing")
        return None
    try:
        return parse_time(entry[key], fps)
    except ValueError as e:
        problems.append(f"{where}: `{key}`: {e}")
        return None


def _looks_like_time(text: str) -> bool:
    t = text.strip()
    return bool(re.fullmatch(r"[-+]?\d+", t) or _SMPTE.match(t) or _CLOCK.match(t) or _SECONDS.match(t))


def _check_layout(shots: list[Shot], total: int, problems: list[str]) -> list[str]:
    """Overlaps are errors; gaps (frames no shot covers) are warnings."""
    warnings, prev = [], None
    if shots and shots[0].start > 0:
        warnings.append(f"frames 0-{shots[0].start - 1} are in no shot (before shot {shots[0].label}); they will be "
                        "left uncoloured (the lineart itself) in the assembled video")
    for s in shots:
        if prev is not None:
            if s.start < prev.end:
                problems.append(f"shot {s.label}: `start` {s.start} overlaps shot {prev.label} (frames {prev.start}-"
                                f"{prev.end - 1}); `end` is exclusive, so {s.name!r} may start at {prev.end} at the "
                                "earliest")
            elif s.start > prev.end:
                warnings.append(f"frames {prev.end}-{s.start - 1} are in no shot (between {prev.label} and "
                                f"{s.label}); they will be left uncoloured (the lineart itself) in the assembled "
                                "video")
        if prev is None or s.end > prev.end:
            prev = s
    if prev is not None and prev.end < total:
        warnings.append(f"frames {prev.end}-{total - 1} are in no shot (after {prev.label}); they will be left "
                        "uncoloured (the lineart itself) in the assembled video")
    return warnings


# ---------------------------------------------------------------------------------------------------- importers
def shots_from_csv(path: str | os.PathLike) -> list[dict]:
    """Shot entries from a CSV with columns name,start,end,reference[,reference_frame] (a header row is optional;
    times as frames or timecodes; reference paths relative to the CSV). Returns raw manifest entries."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"shot list {p} does not exist.")
    rows = [r for r in csv.reader(p.read_text(encoding="utf-8-sig").splitlines()) if r and any(c.strip() for c in r)]
    if rows and [c.strip().lower() for c in rows[0][:3]] == ["name", "start", "end"]:
        rows = rows[1:]
    out = []
    for line, r in enumerate(rows, 1):
        r = [c.strip() for c in r]
        if len(r) < 3 or len(r) > 5:
            raise ValueError(f"{p}: row {line} has {len(r)} columns; expected name,start,end,reference"
                             f"[,reference_frame] (got {','.join(r)!r})")
        entry: dict[str, Any] = {"name": r[0], "start": _csv_time(r[1]), "end": _csv_time(r[2])}
        ref = r[3] if len(r) > 3 else ""
        entry["reference"] = str((p.parent / ref).resolve()) if ref else None
        if len(r) > 4 and r[4]:
            entry["reference_frame"] = r[4] if r[4].lower() == EXTERNAL else _csv_time(r[4])
        out.append(entry)
    if not out:
        raise ValueError(f"{p}: no shots found; expected rows of name,start,end,reference[,reference_frame].")
    return out


def _csv_time(text: str) -> int | str:
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else text


def shots_from_otio(path: str | os.PathLike, fps: Fraction | float) -> list[dict]:
    """Shot entries from an OpenTimelineIO file: each clip of the first video track becomes a shot spanning its
    place in the edit (record time, from the track's start), converted to frames at `fps` (the lineart's rate).
    Gaps stay gaps; transitions are ignored (each clip keeps its own cut point)."""
    import opentimelineio as otio

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"OpenTimelineIO file {p} does not exist.")
    try:
        obj = otio.adapters.read_from_file(str(p))
    except Exception as e:  # adapters raise their own types; all mean "cannot read this file"
        raise ValueError(f"{p}: not readable as OpenTimelineIO ({e}); export the edit as .otio (or install the "
                         "adapter plugin for its format).") from None
    timeline = obj if isinstance(obj, otio.schema.Timeline) else None
    tracks = timeline.video_tracks() if timeline is not None else [obj] if isinstance(obj, otio.schema.Track) else []
    track = next((t for t in tracks if any(isinstance(c, otio.schema.Clip) for c in t)), None)
    if track is None:
        raise ValueError(f"{p}: no video track with clips found; export the edit's picture track.")
    rate = float(fps)
    out, used = [], set()
    for i, item in enumerate(track):
        if not isinstance(item, otio.schema.Clip):
            continue
        rng = track.range_of_child_at_index(i)
        start = otio.opentime.to_frames(rng.start_time, rate)
        end = otio.opentime.to_frames(rng.end_time_exclusive(), rate)
        name = _safe_name(item.name or f"clip_{i + 1:03d}", used)
        out.append({"name": name, "start": int(start), "end": int(end), "reference": None})
    return out


def _safe_name(name: str, used: set) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "shot"
    base = base[:120]
    cand, k = base, 2
    while cand in used:
        cand, k = f"{base}_{k}", k + 1
    used.add(cand)
    return cand


# ---------------------------------------------------------------------------------------------------- writer
def _scalar(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        plain = yaml.dump(v, Dumper=yaml.SafeDumper, default_style=None).strip()
        plain = plain[: -len("...")].strip() if plain.endswith("...") else plain
        # keep timecodes and digit strings quoted so they never read back as numbers
        return plain if plain == v and not _looks_like_time(v) else json.dumps(v)
    return json.dumps(v)


def manifest_text(inputs: Sequence[str], shots: Sequence[Mapping], *, output: str | None = None,
                  defaults: Mapping | None = None, fps: Fraction | float | None = None, header: str = "") -> str:
    """The YAML text of a manifest, with comments (what `lvcd shots` writes). `shots` are raw entries (name, start,
    end, reference, reference_frame, ...); an empty reference is written as an empty slot to fill in. An entry with
    `references` (a list of {frame, image}) is written as given, unexpanded: this writes manifest entries, not the
    sub-shots `load_manifest` makes of them, so reading the text back expands it the same way again."""
    lines = [
        "# lvcd shot manifest (schema: configs/manifest.schema.md in the lvcd repository).",
        "# Frames are 0-based and global over the inputs; `start` is a shot's first frame, `end` one past its last.",
        "# Fill each `reference:` with the coloured keyframe of its shot (an image path relative to this file);",
        "# it colours frame `reference_frame` (default: the shot's first frame). Several keyframes in one shot:",
        "# replace it with `references:`, a list of {frame, image}. Then run: lvcd batch THIS_FILE",
    ]
    if header:
        lines += [f"# {h}" if h else "#" for h in header.splitlines()]
    lines.append(f"version: {MANIFEST_VERSION}")
    if len(inputs) == 1:
        lines.append(f"input: {_scalar(inputs[0])}")
    else:
        lines.append("input:")
        lines += [f"  - {_scalar(p)}" for p in inputs]
    lines.append(f"output: {_scalar(output)}" if output else "output:   # the assembled video, e.g. episode_color.mp4")
    if defaults:
        lines.append("defaults:")
        for k, v in defaults.items():
            lines.append(f"  {k}: {_scalar(list(v) if isinstance(v, tuple) else v)}")
    else:
        lines.append("defaults: {}   # e.g. {backend: diffusion, steps: 25, seed: 1234}")
    lines.append("shots:")
    for s in shots:
        a, b = s["start"], s["end"]
        tc = ""
        if fps and isinstance(a, int) and isinstance(b, int):
            tc = f"   # {b - a} frames, {format_timecode(a, fps)} - {format_timecode(b, fps)}"
        lines.append(f"  - name: {_scalar(s['name'])}{tc}")
        lines.append(f"    start: {_scalar(a)}")
        lines.append(f"    end: {_scalar(b)}")
        refs = s.get("references")
        for k in ("reference", "reference_frame", "reference_lineart"):
            if (k == "reference" and not refs) or s.get(k) is not None:
                lines.append(f"    {k}: {_scalar(s.get(k))}".rstrip())
        if refs:
            lines.append("    references:")
            for kf in refs:
                lines.append(f"      - frame: {_scalar(kf.get('frame'))}".rstrip())
                lines.append(f"        image: {_scalar(kf.get('image'))}".rstrip())
        if s.get("options"):
            lines.append("    options: " + json.dumps(s["options"]))
    return "\n".join(lines) + "\n"


def relative_to(path: str | os.PathLike, base: str | os.PathLike) -> str:
    """`path` relative to `base` when possible (manifests travel with their folder), else absolute."""
    try:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    except ValueError:  # another drive on Windows
        return os.path.abspath(path)
