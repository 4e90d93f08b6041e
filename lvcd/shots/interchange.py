"""Shot lists in and out: CSV and OpenTimelineIO imports (`shots_from_csv`, `shots_from_otio`) and the commented
YAML manifest text that `lvcd shots` writes (`manifest_text`, `write_manifest`).
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from .shot import EXTERNAL, MANIFEST_VERSION
from .timecode import format_timecode, looks_like_time


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
            raise ValueError(
                f"{p}: row {line} has {len(r)} columns; expected name,start,end,reference"
                f"[,reference_frame] (got {','.join(r)!r})"
            )
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
        raise ValueError(
            f"{p}: not readable as OpenTimelineIO ({e}); export the edit as .otio (or install the "
            "adapter plugin for its format)."
        ) from None
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
        return plain if plain == v and not looks_like_time(v) else json.dumps(v)
    return json.dumps(v)


def manifest_text(
    inputs: Sequence[str],
    shots: Sequence[Mapping],
    *,
    output: str | None = None,
    defaults: Mapping | None = None,
    fps: Fraction | float | None = None,
    header: str = "",
) -> str:
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


def check_manifest_path(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse a manifest path that is not .yaml, or one that exists (it may hold references someone filled in)."""
    out = Path(out)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise ValueError(f"--output {out} should be a .yaml file (the shot manifest); e.g. -o shots.yaml")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists (it may hold references you filled in); pass --overwrite to replace it.")
    return out


def imported_shots(
    *, from_otio: str | None = None, from_csv: str | None = None, fps: Fraction | float, base: Path
) -> tuple[list[dict], str]:
    """Raw shot entries from an OpenTimelineIO edit or a CSV shot list (reference paths relative to `base`, the
    manifest's folder), and the header line saying where they came from."""
    if from_otio:
        return shots_from_otio(from_otio, fps), f"Shots imported from {from_otio}."
    entries = shots_from_csv(from_csv)
    for e in entries:
        if e.get("reference"):
            e["reference"] = relative_to(e["reference"], base)
    return entries, f"Shots imported from {from_csv}."


def validate_entries(out: str | os.PathLike, inputs: Sequence[str], entries: Sequence[Mapping], *, output: str):
    """The manifest `write_manifest` would write, loaded (`load_manifest` raises `ManifestError` on a bad entry)."""
    from .manifest import load_manifest

    base = Path(out).resolve().parent
    inputs_rel = [relative_to(p, base) for p in inputs]
    raw = {
        "version": MANIFEST_VERSION,
        "input": inputs_rel if len(inputs_rel) > 1 else inputs_rel[0],
        "output": relative_to(output, base),
        "shots": list(entries),
    }
    return load_manifest(raw, base_dir=base)


def write_manifest(
    out: str | os.PathLike,
    inputs: Sequence[str],
    entries: Sequence[Mapping],
    *,
    output: str,
    fps: Fraction | float,
    header: str = "",
) -> Path:
    """Validate, then write the manifest atomically: a bad import never leaves a manifest behind. `inputs` and
    `output` are made relative to the manifest's folder."""
    from ..outputs import atomic_write_text

    out = Path(out)
    base = out.resolve().parent
    validate_entries(out, inputs, entries, output=output)
    text = manifest_text(
        [relative_to(p, base) for p in inputs], entries, output=relative_to(output, base), fps=fps, header=header
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out
