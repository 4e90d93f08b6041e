"""Extra references of a shot (issue 15): parsing and validation of the manifest's `extra_references:` and the CLI's
`--extra-reference` flags, and loading them as arrays.

Manifest (in a shot, or in `defaults:` for every shot)::

    extra_references:
      - image: refs/sheet_b.png            # a coloured reference used together with the keyframe by every frame
        mask: refs/sheet_b_mask.png        # optional: the part of `image` to use (white), same size as `image`
        target_mask: masks/b/              # optional: which pixels of each frame may take its colours: a mask video
                                           #   or image sequence of the shot's length, or one image for every frame
        lineart: refs/sheet_b_line.png     # optional: its lineart (default: extracted with XDoG)

`references:` are keyframes in time (the shot is split at them); `extra_references:` are used together.

Everything is checked before anything renders, each problem naming the shot and the field (`extra_references[1].mask`).
No torch; images are opened for their header only while validating.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..video.masks import MaskFrames, mask_frame_count

EXTRA_REFERENCE_KEYS = ("image", "mask", "target_mask", "lineart")


@dataclass(frozen=True)
class ExtraReferenceSpec:
    """One extra reference as files: `image` (required), `mask`, `target_mask` (video, sequence or one image) and
    `lineart` (None: extracted). `first_frame`: the global frame of the target mask's first frame (the start of the
    manifest shot it was given for; its sub-shots share it)."""

    image: str
    mask: str | None = None
    target_mask: str | None = None
    lineart: str | None = None
    first_frame: int = 0

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in EXTRA_REFERENCE_KEYS if getattr(self, k) is not None}


def _image_size(path: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:  # header only
        return im.size


def _resolve(base: Path | None, value) -> str:
    p = Path(os.path.expanduser(str(value)))
    return str(p if p.is_absolute() or base is None else base / p)


def parse_extra_references(
    value, base: Path | None, num_frames: int | None, check_files: bool, where: str, problems: list[str]
) -> tuple[ExtraReferenceSpec, ...]:
    """Validate a manifest's `extra_references` list (paths relative to `base`); problems are appended, each naming
    `where` (e.g. "shot 's001'") and the field. `num_frames`: the shot's length (None: not checked)."""
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, (str, bytes)):
        problems.append(
            f"{where}: `extra_references` must be a list of {{image, mask, target_mask, lineart}} (got {value!r})"
        )
        return ()
    specs = []
    for i, entry in enumerate(value):
        field = f"{where}: `extra_references[{i}]`"
        if isinstance(entry, str):
            entry = {"image": entry}
        if not isinstance(entry, Mapping):
            problems.append(f"{field} must be a mapping with `image` (and optional mask, target_mask, lineart)")
            continue
        bad = sorted(set(entry) - set(EXTRA_REFERENCE_KEYS))
        if bad:
            problems.append(
                f"{field}: unknown key(s) {', '.join(map(repr, bad))}; valid: {', '.join(EXTRA_REFERENCE_KEYS)}"
            )
        if not entry.get("image"):
            problems.append(f"{field}.image is missing (the coloured reference image)")
            continue
        paths = {k: _resolve(base, entry[k]) for k in EXTRA_REFERENCE_KEYS if entry.get(k)}
        spec = ExtraReferenceSpec(**paths)
        if check_files:
            check_extra_reference(spec, num_frames, f"{where}: `extra_references[{i}]", problems)
        specs.append(spec)
    return tuple(specs)


def check_extra_reference(spec: ExtraReferenceSpec, num_frames: int | None, field: str, problems: list[str]) -> None:
    """Files exist, `mask` and `lineart` have the size of `image`, `target_mask` has the shot's length. `field` is
    the problem prefix up to the index, e.g. "shot 's001': `extra_references[0]" (the key and a backquote follow)."""
    size = None
    for key in EXTRA_REFERENCE_KEYS:
        path = getattr(spec, key)
        if path is None:
            continue
        if key != "target_mask" and not Path(path).exists():  # (a target mask may be a printf pattern)
            problems.append(f"{field}.{key}` {path!r} does not exist")
            continue
        if key == "target_mask":
            try:
                n = mask_frame_count(path)
            except (OSError, ValueError) as e:
                problems.append(f"{field}.{key}` {path!r} cannot be read: {e}")
                continue
            if n is not None and num_frames is not None and n != num_frames:
                problems.append(
                    f"{field}.{key}` {path!r} has {n} frames but the shot has {num_frames}; give one mask "
                    "per frame of the shot (or one image for all of them)"
                )
            continue
        try:
            wh = _image_size(path)
        except OSError as e:
            problems.append(f"{field}.{key}` {path!r} is not a readable image: {e}")
            continue
        if key == "image":
            size = wh
        elif size is not None and wh != size:
            problems.append(
                f"{field}.{key}` {path!r} is {wh[0]}x{wh[1]} but `image` is {size[0]}x{size[1]}; it must "
                "have the size of the reference image"
            )


def pair_cli_extra_references(
    images: Sequence[str] | None, masks: Sequence[str] | None, target_masks: Sequence[str] | None
) -> list[dict]:
    """`--extra-reference IMAGE` (repeatable) with `--extra-reference-mask` / `--extra-target-mask` paired in order:
    the i-th mask goes with the i-th image; `-` skips one. Raises ValueError naming the flag on a count mismatch."""
    images, masks, target_masks = list(images or []), list(masks or []), list(target_masks or [])
    for flag, given in (("--extra-reference-mask", masks), ("--extra-target-mask", target_masks)):
        if len(given) > len(images):
            raise ValueError(
                f"{flag} is given {len(given)} time(s) but --extra-reference only {len(images)}; they "
                "pair in order (use - to skip one)"
            )
    out = []
    for i, image in enumerate(images):
        entry = {"image": image}
        if i < len(masks) and masks[i] not in ("-", ""):
            entry["mask"] = masks[i]
        if i < len(target_masks) and target_masks[i] not in ("-", ""):
            entry["target_mask"] = target_masks[i]
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------------- manifest hook
def without_extra_references(defaults) -> object:
    """The manifest's `defaults` without `extra_references` (not a render option; `attach_extra_references` reads
    it)."""
    if isinstance(defaults, Mapping) and "extra_references" in defaults:
        return {k: v for k, v in defaults.items() if k != "extra_references"}
    return defaults


def attach_extra_references(raw: Mapping, shots: list, base: Path, check_files: bool, problems: list[str]) -> None:
    """Set `Shot.extra_references` from the manifest: a shot's own `extra_references` list, else the one in
    `defaults` (a shot's `extra_references: []` turns them off). Sub-shots of a shot with several `references` share
    its list; a target mask covers the whole manifest shot. Problems name the shot and the field."""
    defaults = raw.get("defaults")
    default = defaults.get("extra_references") if isinstance(defaults, Mapping) else None
    entries = raw.get("shots") if isinstance(raw.get("shots"), list) else []
    if default is not None:  # the form once; the files per shot (a target mask must match each shot's length)
        parse_extra_references(default, base, None, False, "defaults", problems)
    spans: dict[int, tuple[int, int, str]] = {}
    for shot in shots:
        a, b, name = spans.get(shot.index, (shot.start, shot.end, shot.parent or shot.name))
        spans[shot.index] = (min(a, shot.start), max(b, shot.end), name)
    done: dict[int, tuple] = {}
    for shot in shots:
        entry = entries[shot.index] if shot.index < len(entries) else None
        own = entry.get("extra_references") if isinstance(entry, Mapping) else None
        value = own if own is not None else default
        if value is None:
            continue
        if shot.index not in done:
            start, end, name = spans[shot.index]
            where = f"shot {name!r}" if own is not None else f"shot {name!r} (from `defaults`)"
            specs = parse_extra_references(value, base, end - start, check_files, where, problems)
            done[shot.index] = tuple(replace(s, first_frame=start) for s in specs)
        shot.extra_references = done[shot.index]


def pass_extra_references(specs, frames: Sequence[int | None]) -> list[dict]:
    """The extra references of one colorizer pass as `lvcd.colorize_frames` takes them: `frames` are the global
    frame numbers the pass reads, in its order (None: a prepended off-frame reference lineart), so a target mask is
    read at the matching shot frame, backward passes included."""
    out = []
    for spec in specs:
        item = spec.as_dict()
        if spec.target_mask is not None:
            item["target_mask"] = MaskFrames(
                spec.target_mask, [None if g is None else g - spec.first_frame for g in frames]
            )
        out.append(item)
    return out
