"""`run_suite`: an honest lineart protocol for a folder of colour clips.

AniDoc showed that LVCD, trained on *soft* sketches extracted from the colour frames, recovers much of the colour from
the sketch itself and degrades on binarized lineart, which is what users bring. So every clip is scored twice:

1. its frames are read (at most `max_frames`) and scaled so the longer side is at most `work_size` (even sizes);
2. lineart is extracted two ways from the colour frames: *soft* (the extractor's grey line strength, 255 * (1 - s),
   as the paper's evaluation sketches) and *binarized* (hysteresis 0.3 / 0.6 on the same strength, pure black on
   white, as `lvcd lineart --binary`); extractor: informative-drawings when its weights are given, else XDoG;
3. each method colours each lineart from the clip's first colour frame (the keyframe);
4. frames 1..N-1 are scored against the colour frames with `evaluate` (frame 0 is the given keyframe, not a
   prediction), EDMD against the lineart the method was given;
5. the table lists every clip x method x protocol, the mean over clips per method and protocol, and the gap
   (binarized - soft) per method.

Methods are callables `(lineart_frames, keyframe) -> iterable of frames`, so this module knows no backend: the CLI
passes the baselines of `lvcd.eval.baselines` and the chosen backend through `lvcd.colorize_frames`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ._frames import IMAGE_SUFFIXES, iter_frames
from .evaluate import evaluate, load_networks
from .lineart_metrics import extractor_name
from .report import EvalReport
from .table import AVERAGING, Row, Table, gap_row, mean_row, row_values

PROTOCOLS = ("soft", "binarized")
HYSTERESIS = (0.3, 0.6)  # low / high strength thresholds of the binarized protocol (as `lvcd lineart --binary`)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".gif", ".mpg", ".mpeg")
MIN_FRAMES = 3  # the keyframe plus two scored frames (one TC pair)

Method = Callable[[list[np.ndarray], np.ndarray], Iterable[np.ndarray]]


@dataclass
class SuiteResult:
    table: Table
    reports: dict[tuple[str, str, str], EvalReport] = field(default_factory=dict)  # (clip, method, protocol)
    skipped: list[str] = field(default_factory=list)


def find_clips(root: str | Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """Clips under `root`: each video file; each sub-folder holding frames (one clip) or else videos (one clip each);
    `root` itself when it is a video or a folder of images only. Returns (clips, what was skipped and why)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist; pass a folder of colour clips (videos or frame folders).")
    if root.is_file():
        return [(root.stem, root)], []
    entries = sorted(root.iterdir(), key=lambda p: p.name)
    clips, skipped = [], []
    for p in entries:
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            clips.append((p.stem, p))
        elif p.is_dir():
            files = sorted((f for f in p.iterdir() if f.is_file()), key=lambda f: f.name)
            videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
            if sum(f.suffix.lower() in IMAGE_SUFFIXES for f in files) >= MIN_FRAMES or (
                not videos and any(f.suffix.lower() in IMAGE_SUFFIXES for f in files)
            ):
                clips.append((p.name, p))  # a folder of frames
            elif videos:
                clips += [(f"{p.name}/{f.stem}", f) for f in videos]  # a folder holding videos
            else:
                skipped.append(f"{p.name}/: no images or videos directly inside (a clip is a video or a folder of "
                               "frames)")  # fmt: skip
        elif p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            skipped.append(f"{p.name}: a single image, not a clip")
    if not clips and any(p.suffix.lower() in IMAGE_SUFFIXES for p in entries if p.is_file()):
        images = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if len(images) >= MIN_FRAMES:
            return [(root.name, root)], []
    return clips, skipped


def _work_size(w: int, h: int, limit: int) -> tuple[int, int]:
    scale = min(1.0, limit / max(w, h))
    return max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2)


def load_clip(path: str | Path, max_frames: int, work_size: int) -> list[np.ndarray]:
    """Up to `max_frames` uint8 RGB frames, scaled (area) so the longer side is at most `work_size`."""
    frames = []
    for frame in iter_frames(path):
        if len(frames) >= max_frames:
            break
        h, w = frame.shape[:2]
        size = _work_size(w, h, work_size)
        frames.append(frame if size == (w, h) else cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    return frames


def make_linearts(
    frames: Sequence[np.ndarray], strength_fn: Callable[[np.ndarray], np.ndarray] | None = None
) -> dict[str, list[np.ndarray]]:
    """{'soft': grey sketches, 'binarized': black-on-white masks} (uint8 HxWx3) of colour frames."""
    from lvcd.lineart import hysteresis_mask, xdog

    out: dict[str, list[np.ndarray]] = {p: [] for p in PROTOCOLS}
    for frame in frames:
        frame = np.array(frame)  # writable (frames read from images are not; torch extractors warn)
        s = np.clip(np.asarray(strength_fn(frame) if strength_fn is not None else xdog(frame), np.float32), 0, 1)
        soft = np.rint(255.0 * (1.0 - s)).astype(np.uint8)
        binary = np.where(hysteresis_mask(s, *HYSTERESIS), 0, 255).astype(np.uint8)
        out["soft"].append(np.repeat(soft[..., None], 3, axis=-1))
        out["binarized"].append(np.repeat(binary[..., None], 3, axis=-1))
    return out


def run_suite(
    clips_dir: str | Path,
    methods: dict[str, tuple[Method, str]],
    *,
    max_frames: int = 32,
    work_size: int = 512,
    weights: dict | None = None,
    line_strength: Callable[[np.ndarray], np.ndarray] | None = None,
    device: str = "cpu",
    log: Callable[[str], None] | None = None,
) -> SuiteResult:
    """Score every method on every clip of `clips_dir` under both lineart protocols (see the module docstring).

    `methods`: name -> (callable, one-line description for the notes). `weights`: as `evaluate` (loaded once).
    `line_strength`: the learned extractor's strength function (frame -> [0, 1]); None = XDoG.
    """
    if max_frames < MIN_FRAMES:
        raise ValueError(f"`max_frames` must be at least {MIN_FRAMES} (the keyframe and two scored frames).")
    if work_size < 64:
        raise ValueError(f"`work_size` must be at least 64 pixels; got {work_size}.")
    if not methods:
        raise ValueError("no methods to compare; give at least one.")
    say = log or (lambda _msg: None)
    clips, skipped = find_clips(clips_dir)
    nets, unavailable = load_networks(weights, device)
    result = SuiteResult(Table(("clip", "method", "protocol")), skipped=skipped)
    clip_rows: dict[tuple[str, str], list[Row]] = {}
    size_note = None
    for name, path in clips:
        frames = load_clip(path, max_frames, work_size)
        if len(frames) < MIN_FRAMES:
            result.skipped.append(f"{path.name}: {len(frames)} frame(s); needs at least {MIN_FRAMES}")
            continue
        size_note = size_note or f"{frames[0].shape[1]}x{frames[0].shape[0]}"
        linearts = make_linearts(frames, line_strength)
        for method, (fn, _desc) in methods.items():
            for protocol in PROTOCOLS:
                say(f"{name}: {method} on {protocol} lineart ({len(frames)} frames)")
                pred = [np.asarray(f) for f in fn(list(linearts[protocol]), frames[0])]
                if len(pred) != len(frames):
                    raise RuntimeError(
                        f"method {method!r} returned {len(pred)} frames for {len(frames)} lineart frames"
                    )
                report = evaluate(
                    pred[1:], frames[1:], linearts[protocol][1:],
                    weights={**nets}, device=device, segments=False, resize=True,
                )  # fmt: skip
                report.unavailable.update(unavailable)
                result.reports[(name, method, protocol)] = report
                row = Row({"clip": name, "method": method, "protocol": protocol}, row_values(report))
                result.table.rows.append(row)
                clip_rows.setdefault((method, protocol), []).append(row)
    if not clip_rows:
        raise FileNotFoundError(
            f"no clip of at least {MIN_FRAMES} frames in {clips_dir}"
            + (f" (skipped: {'; '.join(result.skipped)})" if result.skipped else "")
            + "; give a folder of colour videos or frame folders."
        )
    n_clips = len({r.labels["clip"] for r in result.table.rows})
    means: dict[tuple[str, str], Row] = {}
    for (method, protocol), rows in clip_rows.items():
        means[(method, protocol)] = mean_row(
            rows, {"clip": f"mean ({len(rows)} clips)", "method": method, "protocol": protocol}
        )
    if n_clips > 1:
        result.table.rows += list(means.values())
    for method in methods:
        if (method, "soft") in means and (method, "binarized") in means:
            result.table.rows.append(
                gap_row(means[(method, "soft")], means[(method, "binarized")],
                        {"clip": "gap", "method": method, "protocol": "binarized - soft"})
            )  # fmt: skip
    any_report = next(iter(result.reports.values()))
    result.table.notes = [
        f"{n_clips} clip(s), at most {max_frames} frames each, scaled to a longer side of at most {work_size} px "
        f"(first clip: {size_note}); frame 0 is the keyframe given to every method and is not scored.",
        "Lineart extracted from the colour frames by "
        + (getattr(line_strength, "name", "the given extractor") if line_strength is not None else "XDoG")
        + f": soft = grey line strength (the paper's protocol), binarized = hysteresis {HYSTERESIS[0]} / "
        f"{HYSTERESIS[1]} (black on white, what users draw).",
        *[f"{m}: {desc}" for m, (_fn, desc) in methods.items()],
        AVERAGING + " Gap rows: binarized mean minus soft mean.",
        f"TC flow: {any_report.meta['tc_flow']}. EDMD lines of the outputs: "
        f"{extractor_name(nets.get('lineart'))}; reference: the lineart the method was given.",
    ]
    missing = {k: v for k, v in any_report.unavailable.items() if k in ("fid", "fvd", "lpips")}
    if missing:
        result.table.notes.append("n/a: " + "; ".join(f"{k.upper()}: {v}" for k, v in missing.items()))
    if result.skipped:
        result.table.notes.append("skipped: " + "; ".join(result.skipped))
    return result
