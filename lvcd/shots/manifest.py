"""Shot manifests: the YAML file that says which frames form each shot and which coloured keyframe colours it.

The schema is documented in configs/manifest.schema.md (with examples beside it). In short::

    version: 1
    input: [ep01_part1.mp4, ep01_part2.mp4]   # one or many videos / image sequences; frames numbered globally
    output: ep01_color.mp4
    defaults: {seed: 1234, steps: 25}          # any lvcd.options.RenderOptions field
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
once, each line naming the shot and the field (`ManifestError`); gaps between shots are warnings. The YAML itself
is read by yaml_load.py (`read_yaml`, re-exported here); the data classes live in shot.py.

Deliberately not here: CSV / OpenTimelineIO shot lists and the manifest text `lvcd shots` writes (interchange.py),
rendering (render.py) and cut detection (detect.py). No torch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

from ..options import EPISODE_FIELDS, FIELDS, OPTION_NAMES, OptionError, RenderOptions
from ..problems import check_value, cut
from .extra_refs import attach_extra_references, without_extra_references
from .keyframes import check_subshot_names, load_keyframes, load_reference
from .shot import (
    MANIFEST_VERSION,
    NAME_RE,
    SHOT_KEYS,
    STOP_AFTER_PROBLEMS,
    TOP_KEYS,
    InputInfo,
    Manifest,
    ManifestError,
    Shot,
    expand_keyframes,
    resolve,
    unknown,
)
from .timecode import parse_time
from .yaml_load import read_yaml

logger = logging.getLogger("lvcd")


# ---------------------------------------------------------------------------------------------------- validation
def option_names() -> tuple[str, ...]:
    return OPTION_NAMES


def normalize_options(raw: Mapping, where: str, problems: list[str], *, allow_output: bool = True) -> dict:
    """Check option names and values (by building a RenderOptions) and convert YAML forms (`size: 576x320`)."""
    if isinstance(raw, Mapping) and not raw:  # most shots have no options: nothing to check (keeps 100k shots fast)
        return {}
    names = OPTION_NAMES
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a mapping of option: value (got {type(raw).__name__})")
        return {}
    problems += unknown(raw.keys(), names, where)
    out = {}
    for k, v in raw.items():
        if k not in names:
            continue
        if not allow_output and k in EPISODE_FIELDS:
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
        bad = check_value(k, v, FIELDS[k].type)
        if bad is not None:
            problems.append(f"{where}: {bad}")
            continue
        out[k] = v
    if not out:
        return out
    try:
        RenderOptions.of(**out)
    except OptionError as e:
        problems.append(f"{where}: {e.naming_field()}")
    except (ValueError, TypeError) as e:
        problems.append(f"{where}: {e}")
    return out


def load_manifest(
    source: str | os.PathLike | Mapping | Manifest,
    *,
    base_dir: str | os.PathLike | None = None,
    check_files: bool = True,
) -> Manifest:
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
    problems += unknown(raw.keys(), TOP_KEYS, "manifest")
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
    defaults = normalize_options(without_extra_references(raw.get("defaults") or {}), "defaults", problems)
    if raw.get("palette") is not None:  # the episode palette: `palette: {name: "#rrggbb"}` = defaults.palette
        defaults.update(normalize_options({"palette": raw["palette"]}, "`palette`", problems))

    shots = _load_shots(raw.get("shots"), base, total, fps, defaults, check_files, problems)
    attach_extra_references(raw, shots, base, check_files, problems)  # references used together (extra_refs.py)
    warnings = _check_layout(shots, total, problems)
    if problems:
        raise ManifestError(problems, path)
    for w in warnings:
        logger.warning("%s%s", f"{path}: " if path else "", w)
    if audio is not None and audio.strip().lower() != "none":
        audio = resolve(base, audio)
    return Manifest(
        base,
        inputs,
        resolve(base, output) if output else None,
        resolve(base, work) if work else None,
        defaults,
        shots,
        path,
        warnings,
        audio,
    )


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
        path = str(resolve(base, p))
        try:
            info = probe(path)
        except (OSError, ValueError) as e:
            problems.append(f"manifest: `{where}` {p!r}: {e}")
            continue
        n = int(info.frame_count)
        infos.append(
            InputInfo(
                path,
                n,
                offset,
                Fraction(info.fps),
                (int(info.width), int(info.height)),
                bool(getattr(info, "has_audio", False)),
            )
        )
        offset += n
    if infos:
        first = infos[0]
        for i, inf in enumerate(infos[1:], 1):
            if inf.fps != first.fps:
                problems.append(
                    f"manifest: `input[{i}]` runs at {float(inf.fps):g} fps but `input[0]` at "
                    f"{float(first.fps):g}; convert the parts to one frame rate"
                )
            if inf.size != first.size:
                problems.append(
                    f"manifest: `input[{i}]` is {inf.size[0]}x{inf.size[1]} but `input[0]` is "
                    f"{first.size[0]}x{first.size[1]}; one episode needs one frame size"
                )
    return infos


def _load_shots(
    value, base: Path, total: int, fps: Fraction, defaults: dict, check_files: bool, problems: list[str]
) -> list[Shot]:
    if not isinstance(value, list) or not value:
        problems.append("manifest: `shots` must be a non-empty list (make one with `lvcd shots INPUT -o FILE`)")
        return []
    shots, seen = [], {}
    for idx, entry in enumerate(value):
        if len(problems) >= STOP_AFTER_PROBLEMS:  # a broken 100,000-shot manifest is rejected in one screen
            problems.append(
                f"checking stopped at shots[{idx}] of {len(value):,} after {len(problems):,} problems; "
                "fix these and run again"
            )
            break
        label = f"shots[{idx}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{label}: must be a mapping with name, start, end, reference (got {cut(entry)})")
            continue
        name = entry.get("name", f"shot_{idx + 1:03d}")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(
                f"{label}: `name` {cut(name)} must be 1-128 letters, digits, '.', '_' or '-' (it names files)"
            )
            name = str(name)
        where = f"shot {name!r}"
        if name in seen:
            problems.append(f"{where}: `name` is used twice (shots[{seen[name]}] and {label}); names must be unique")
        seen.setdefault(name, idx)
        problems += unknown(entry.keys(), SHOT_KEYS, where)

        start = _time_field(entry, "start", fps, where, problems)
        end = _time_field(entry, "end", fps, where, problems)
        if start is not None and end is not None:
            if start < 0:
                problems.append(f"{where}: `start` {start} is before the first frame (0)")
            if end > total:
                problems.append(
                    f"{where}: `end` {end} is past the end of the input ({total} frames: last frame "
                    f"{total - 1}; `end` is exclusive, so at most {total})"
                )
            if end <= start:
                problems.append(
                    f"{where}: `end` {end} must be after `start` {start} (`end` is exclusive: one past the last frame)"
                )
        if "references" in entry:  # several keyframes: expanded into sub-shots below
            keyframes = load_keyframes(entry, base, start, end, fps, check_files, where, problems)
        else:
            keyframes = None
            reference, reference_frame, reference_lineart = load_reference(
                entry, base, start, end, total, fps, check_files, where, problems
            )
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
    problems += check_subshot_names(shots, seen)
    shots.sort(key=lambda s: (s.start, s.index))
    return shots


def _time_field(entry: Mapping, key: str, fps: Fraction, where: str, problems: list[str]) -> int | None:
    if key not in entry:
        problems.append(f"{where}: `{key}` is missing")
        return None
    try:
        return parse_time(entry[key], fps)
    except ValueError as e:
        problems.append(f"{where}: `{key}`: {e}")
        return None


def _check_layout(shots: list[Shot], total: int, problems: list[str]) -> list[str]:
    """Overlaps are errors; gaps (frames no shot covers) are warnings."""
    warnings, prev = [], None
    if shots and shots[0].start > 0:
        warnings.append(
            f"frames 0-{shots[0].start - 1} are in no shot (before shot {shots[0].label}); they will be "
            "left uncoloured (the lineart itself) in the assembled video"
        )
    for s in shots:
        if prev is not None:
            if s.start < prev.end:
                problems.append(
                    f"shot {s.label}: `start` {s.start} overlaps shot {prev.label} (frames {prev.start}-"
                    f"{prev.end - 1}); `end` is exclusive, so {s.name!r} may start at {prev.end} at the "
                    "earliest"
                )
            elif s.start > prev.end:
                warnings.append(
                    f"frames {prev.end}-{s.start - 1} are in no shot (between {prev.label} and "
                    f"{s.label}); they will be left uncoloured (the lineart itself) in the assembled "
                    "video"
                )
        if prev is None or s.end > prev.end:
            prev = s
    if prev is not None and prev.end < total:
        warnings.append(
            f"frames {prev.end}-{total - 1} are in no shot (after {prev.label}); they will be left "
            "uncoloured (the lineart itself) in the assembled video"
        )
    return warnings
