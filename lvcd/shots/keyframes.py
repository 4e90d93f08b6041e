"""Validating a shot entry's keyframes: `reference` / `reference_frame` / `reference_lineart`, or a `references` list
(several keyframes, split into sub-shots), and the names those sub-shots get. Used by manifest.py's `load_manifest`;
every problem is appended to `problems`, naming the shot and the field.

`lvcd shots ... --export-keyframes DIR [--colour-from VIDEO]` (`export_keyframes`): the frames a painter needs, one
per shot. For every shot of a fresh manifest, the lineart of its first frame is written to `DIR/<shot>.png` (to paint
the coloured keyframe on). Given the colour clip the lineart was made from (`--colour-from`, same frame count), the
colour frame at each shot start is written to `DIR/<shot>_colour.png` and becomes that shot's `reference:`, so
colour -> lineart -> shots -> batch needs no hand work. PNGs are written atomically; an existing file is replaced
only with `overwrite`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..problems import cut
from .shot import EXTERNAL, KEYFRAME_KEYS, NAME_RE, Shot, resolve, unknown
from .timecode import looks_like_time, parse_time


def _image_path(raw, base: Path, check_files: bool, what: str, problems: list[str]) -> Path | None:
    """An image path field (`what` names it in messages), resolved against the manifest's folder; None if invalid."""
    if not isinstance(raw, str):
        problems.append(f"{what} must be an image path (got {cut(raw)})")
        return None
    path = resolve(base, raw)
    if check_files and not os.path.isfile(path):
        problems.append(f"{what} file {str(path)!r} does not exist (paths are relative to the manifest's folder)")
    return path


def load_reference(
    entry: Mapping,
    base: Path,
    start: int | None,
    end: int | None,
    total: int,
    fps: Fraction,
    check_files: bool,
    where: str,
    problems: list[str],
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
        problems.append(
            f"{where}: `reference_frame` is {rf_raw!r} (YAML reads yes/no/on/off as booleans); write "
            f"a frame number, a timecode or `{EXTERNAL}`"
        )
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
            problems.append(
                f"{where}: `reference_lineart` is only used with `reference_frame: {EXTERNAL}` (an "
                "in-shot reference's lineart is the shot's own frame); remove it or mark the reference"
                " external"
            )
        elif isinstance(rl_raw, bool):
            problems.append(f"{where}: `reference_lineart` must be an image path or a frame number")
        elif isinstance(rl_raw, int) or (isinstance(rl_raw, str) and looks_like_time(rl_raw)):
            try:
                reference_lineart = parse_time(rl_raw, fps)
            except ValueError as e:
                problems.append(f"{where}: `reference_lineart`: {e}")
            else:
                if not 0 <= reference_lineart < total:
                    problems.append(
                        f"{where}: `reference_lineart` frame {reference_lineart} is outside the input (0-{total - 1})"
                    )
        elif isinstance(rl_raw, str):
            reference_lineart = resolve(base, rl_raw)
            if check_files and not reference_lineart.is_file():
                problems.append(f"{where}: `reference_lineart` file {str(reference_lineart)!r} does not exist")
        else:
            problems.append(f"{where}: `reference_lineart` must be an image path or a frame number")
    return reference, reference_frame, reference_lineart


def load_keyframes(
    entry: Mapping,
    base: Path,
    start: int | None,
    end: int | None,
    fps: Fraction,
    check_files: bool,
    where: str,
    problems: list[str],
) -> list[tuple[int, Path]] | None:
    """A shot's `references` list as (global frame, image path) pairs, in the order written; None when anything is
    wrong (every problem goes to `problems`, naming the shot and the entry). An empty `reference:` or
    `reference_frame:` slot (what `lvcd shots` writes) may stay beside `references`; a filled one may not."""
    n_before = len(problems)
    ref = entry.get("reference")
    if ref not in (None, ""):
        problems.append(
            f"{where}: `reference` and `references` are both given; a shot has one `reference` or a "
            f"`references` list: move it into the list as `{{frame: <the frame it colours>, image: "
            f"{ref}}}` and delete `reference`, or delete `references`"
        )
    if entry.get("reference_frame") not in (None, ""):
        problems.append(
            f"{where}: `reference_frame` does not go with `references` (each keyframe gives its own "
            "`frame`); delete it"
        )
    if entry.get("reference_lineart") not in (None, ""):
        problems.append(
            f"{where}: `reference_lineart` is only for `reference_frame: {EXTERNAL}`, which `references` "
            f"does not offer; delete it, or use `reference` + `reference_frame: {EXTERNAL}`"
        )
    raw = entry.get("references")
    if not isinstance(raw, list) or not raw:
        problems.append(
            f"{where}: `references` must be a non-empty list of {{frame: <time>, image: <path>}} (got {raw!r})"
        )
        return None
    keyframes: list[tuple[int, Path]] = []
    first_at: dict[int, int] = {}  # frame -> index of the entry that keys it
    for i, item in enumerate(raw):
        at = f"{where}: `references[{i}]`"
        if not isinstance(item, Mapping):
            problems.append(f"{at} must be a mapping {{frame: <time>, image: <path>}} (got {item!r})")
            continue
        problems += unknown(item.keys(), KEYFRAME_KEYS, at)
        frame_raw, frame = item.get("frame"), None
        if frame_raw in (None, ""):
            problems.append(
                f"{at}: `frame` is missing; give the frame its image colours (a frame number, a timecode "
                "or seconds, like `start`)"
            )
        elif isinstance(frame_raw, str) and frame_raw.strip().lower() == EXTERNAL:
            problems.append(
                f"{at}: `frame: {EXTERNAL}` is not possible in `references` (every keyframe is a frame of "
                f"the shot); for a design sheet use `reference` + `reference_frame: {EXTERNAL}`"
            )
        else:
            try:
                frame = parse_time(frame_raw, fps)
            except ValueError as e:
                problems.append(f"{at}: `frame`: {e}")
            else:
                if start is not None and end is not None and not start <= frame < end:
                    problems.append(
                        f"{at}: `frame` {frame} is outside the shot (frames {start}-{end - 1}); every "
                        "keyframe must be a frame of its shot (`end` is exclusive)"
                    )
                elif frame in first_at:
                    problems.append(
                        f"{at}: `frame` {frame} is also the frame of `references[{first_at[frame]}]`; "
                        "one keyframe per frame: delete one of them"
                    )
                first_at.setdefault(frame, i)
        image_raw, image = item.get("image"), None
        if image_raw in (None, ""):
            problems.append(
                f"{at}: `image` is missing; give the coloured keyframe image (a path relative to the "
                "manifest), or leave this keyframe out until you have it"
            )
        else:
            image = _image_path(image_raw, base, check_files, f"{at}: `image`", problems)
        if frame is not None and image is not None:
            keyframes.append((frame, image))
    return None if len(problems) > n_before else keyframes


def check_subshot_names(shots: list[Shot], names: Mapping[str, int]) -> list[str]:
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
                problems.append(
                    f"shot {s.parent!r}: `name` is too long for its keyframe sub-shots (named "
                    f"`<name>.f<frame>`, e.g. {s.name!r}, at most 128 characters); shorten it"
                )
        elif s.name in names:
            problems.append(
                f"shot {s.parent!r}: its keyframe at frame {s.reference_frame} makes a sub-shot named "
                f"{s.name!r}, which is the name of shots[{names[s.name]}] too; rename one of the two"
            )
    return problems


def _png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def _frame(sources: Sequence[tuple[str, int]], k: int) -> np.ndarray:
    """Global frame `k` of inputs given as (path, frame_count) in order."""
    from ..video import read_frames

    for path, n in sources:
        if k < n:
            return next(read_frames(path, k, k + 1))
        k -= n
    raise ValueError(f"frame {k} is past the end of the inputs")


def export_keyframes(
    inputs: Sequence[str | os.PathLike],
    shots: Sequence[tuple[str, int]],
    folder,
    *,
    colour_from: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write each shot's first lineart frame (and colour frame) into `folder`. `shots`: (name, start frame).
    Returns {shot name: colour keyframe path} when `colour_from` is given, else {}."""
    from ..outputs import atomic_write_bytes
    from ..video import probe

    folder = Path(folder)
    sources = [(os.fspath(p), probe(p).frame_count) for p in inputs]
    total = sum(n for _, n in sources)
    if colour_from is not None:
        info = probe(colour_from)
        if info.frame_count != total:
            raise ValueError(
                f"--colour-from {colour_from} has {info.frame_count} frames but the lineart has {total}; "
                "give the colour clip the lineart was made from (same frames)."
            )
    names = [f"{name}.png" for name, _ in shots] + ([f"{name}_colour.png" for name, _ in shots] if colour_from else [])
    clash = [n for n in names if (folder / n).exists()]
    if clash and not overwrite:
        raise FileExistsError(
            f"--export-keyframes {folder} already holds {', '.join(clash[:5])}"
            f"{' ...' if len(clash) > 5 else ''}; pass --overwrite to replace them, or choose "
            "another folder."
        )
    folder.mkdir(parents=True, exist_ok=True)
    refs: dict[str, Path] = {}
    for name, start in shots:
        atomic_write_bytes(folder / f"{name}.png", _png(_frame(sources, start)))
        if colour_from is not None:
            path = folder / f"{name}_colour.png"
            atomic_write_bytes(path, _png(_frame([(os.fspath(colour_from), total)], start)))
            refs[name] = path
    return refs
