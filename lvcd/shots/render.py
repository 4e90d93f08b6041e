"""Resumable batch rendering of a shot manifest: every shot an independent task, then one assembled video.

`render_shots(manifest_or_path, **overrides)` (CLI: `lvcd batch shots.yaml`) renders each shot of a manifest into
the work folder and assembles the final video in frame order with the inputs' audio (one input: copied as is;
several: each one's sound over its frames, joined in order and re-encoded to AAC, see `assemble_video`). A shot is a
pure function of its manifest entry, the model and the inputs, so shots can be rendered in any order, in separate
runs (`only=`), or on separate machines sharing the work folder.

Work folder layout (default: `<manifest>.work/` beside the manifest, or the manifest's `work:`)::

    shots/<name>/000123.png    the finished shot's frames, named by *global* frame number: lossless RGB PNG, so
                               assembly never re-encodes a lossy intermediate (PNG encoding is deterministic)
    shots/<name>.json          the done stamp: the hash of everything the shot depends on, written last
    shots/<name>.state/        while a shot renders: its hash, one `<pass>.done` per finished pass, and
                               `ckpt/<pass>/` per-window latent checkpoints of the diffusion backend
    cache/inputs.json          content hashes of the inputs, keyed by path, size and mtime (so they are hashed once)

Resume rules: a shot whose stamp matches its current hash and whose frames are all present is skipped; a shot with a
state folder of the same hash continues (finished passes are skipped, an unfinished diffusion pass restarts after its
last checkpointed window, the bucket backend re-runs the pass, which is cheap and deterministic); anything else is
discarded and re-rendered. Every file is written to a temporary name and renamed, so a kill at any instant leaves
either the old file or the new one. The hash is `lvcd.resume.render_key` (the same key `colorize --work` uses)
over: the shot's name, frames and reference frame; the sha256 of the reference image (and its lineart image); the
sha256 of the inputs it reads; the options that change pixels (`lvcd.options.PIXEL_FIELDS`, seed = the shot seed,
the resolved backend); the model's weight-file fingerprint; the passes; the lvcd version.

Seeds: a shot's seed is `shot_seed(seed, name)` (shot.py: sha256 of "<seed>/<name>", 32 bits) from the manifest's
(or the override's) `seed`, so a shot renders the same whatever else is in the manifest; a shot's own
`options: {seed: N}` is used as is (handy to reproduce an `lvcd colorize --seed N` render exactly).

Reference anywhere in the shot (`reference_frame` k): the *forward* pass colours k..end-1; when k > start a
*backward* pass colours k, k-1, ..., start (frames read in chunks from the end, never the whole shot) and drops its
first output, so frame k is produced once, by the forward pass. An *external* reference (design sheet, another shot's
frame) gets a lineart (`reference_lineart`: an image or a global frame number; default: XDoG lines of the reference,
drawn in the shot's polarity), which is prepended as frame 0 of one pass and its output dropped.

Deliberately not here: cut detection (detect.py), manifest parsing (manifest.py), planning (plan.py), assembly
(assemble.py), locking between machines that render the same shot at the same time (split the work with `only=`).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..frames import load_reference
from ..options import RenderOptions
from ..resume import atomic_write_bytes, write_json
from ..version import __version__
from .assemble import assemble_video
from .plan import PNG_NAME, Pass, ShotPlan, plan_passes, plan_shots, split_overrides
from .shot import Manifest, ManifestError
from .source import EpisodeSource, read_png, write_png

logger = logging.getLogger("lvcd")

__all__ = ["BatchResult", "EpisodeSource", "Pass", "ShotResult", "plan_passes", "plan_shots", "read_png",
           "render_shot", "render_shots"]


# ---------------------------------------------------------------------------------------------------- rendering
class _Backends:
    """Backends loaded once per distinct `RuntimeOptions` (backend, model, device, dtype, offload, attention,
    compile); the sampling options (seed, steps, decode chunk, ...) go per call."""

    def __init__(self):
        self.loaded: dict = {}

    def get(self, plan: ShotPlan):
        from ..backends import make_backend

        opts = plan.options.replace(backend=plan.backend, model=str(plan.model_dir) if plan.model_dir else None)
        if opts.runtime not in self.loaded:
            self.loaded[opts.runtime], _ = make_backend(opts)
        return self.loaded[opts.runtime]


def _reference_rgb(plan: ShotPlan, size: tuple[int, int]) -> np.ndarray:
    return load_reference(plan.shot.reference, size, plan.options.reference_fit, plan.options.reference_background)


def _shot_polarity(plan: ShotPlan, source: EpisodeSource) -> str:
    pol = plan.options.polarity
    if pol != "auto":
        return pol
    from ..lineart.normalize import detect_polarity

    return detect_polarity(source.frame(plan.shot.start))


def reference_lineart_frame(plan: ShotPlan, ref_rgb: np.ndarray, source: EpisodeSource, polarity: str) -> np.ndarray:
    """The lineart frame that stands for an external reference: the given frame of the input, the given lineart
    image, or XDoG lines of the reference, as a uint8 RGB frame in the shot's polarity and size."""
    import cv2

    from ..lineart.normalize import normalize_lineart

    h, w = ref_rgb.shape[:2]
    rl = plan.shot.reference_lineart
    if isinstance(rl, int):
        return source.frame(rl)
    if rl is not None:
        from ..video import read_image

        arr = read_image(rl, "RGB")  # transparent areas composited over white paper
        if arr.shape[:2] != (h, w):
            arr = cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA)
        strength = normalize_lineart(arr).strength
    else:
        from ..lineart.xdog import extract_lineart

        strength = extract_lineart(ref_rgb).strength
    ink = strength if polarity == "white-on-black" else 1.0 - strength
    g = np.clip(np.round(ink * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=2)


def _run_pass(plan: ShotPlan, p: Pass, backend, ref_rgb: np.ndarray, source: EpisodeSource, polarity: str | None,
              on_frame) -> None:
    from ..api import colorize_frames  # the streaming core (imports the backends; planning does not need it)

    frames = source.frames(p)
    if p.prepend_reference:
        first = reference_lineart_frame(plan, ref_rgb, source, polarity)

        def chained(rest=frames):
            yield first
            yield from rest

        frames = chained()
    opts = plan.options
    if p.prepend_reference and opts.polarity == "auto":
        opts = opts.replace(polarity=polarity)  # the prepended frame must not decide the shot's polarity
    outputs = p.outputs()
    ckpt = plan.state / "ckpt" / p.name
    n = 0
    for j, frame in enumerate(colorize_frames(frames, ref_rgb, num_frames=p.num_frames, backend=backend,
                                              checkpoint_dir=ckpt if plan.backend == "diffusion" else None,
                                              options=opts)):
        if j >= len(outputs):
            raise RuntimeError(f"shot {plan.shot.name!r}: the {p.name} pass produced more frames than it was given")
        g = outputs[j]
        n += 1
        if g is None:
            continue
        target = plan.folder / PNG_NAME.format(g)
        if not target.is_file():  # written atomically earlier by this same key: identical bytes
            write_png(target, frame)
        on_frame()
    if n != len(outputs):
        raise RuntimeError(f"shot {plan.shot.name!r}: the {p.name} pass produced {n} frames for {len(outputs)} inputs;"
                           " the shot was not finished")


def _reset(plan: ShotPlan) -> None:
    """Discard a stale stamp, stale frames and stale state, then start a state folder for the current key."""
    plan.stamp.unlink(missing_ok=True)  # first: a kill from here on leaves no stamp that could claim "done"
    shutil.rmtree(plan.folder, ignore_errors=True)
    shutil.rmtree(plan.state, ignore_errors=True)
    plan.folder.mkdir(parents=True, exist_ok=True)
    plan.state.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(plan.state / "key", plan.key.encode())


def render_shot(plan: ShotPlan, source: EpisodeSource, backends: _Backends, size: tuple[int, int],
                on_frame=lambda: None, *, worker: str | None = None, attempt: int = 1) -> str:
    """Render one planned shot into its folder (resuming where a previous run stopped). Returns what happened:
    "up to date" | "resumed" | "rendered". Progress goes to the work folder's status file (`lvcd.status`)."""
    from ..status import StatusReporter

    reporter = StatusReporter(plan.folder.parent.parent, plan.shot.name, plan.shot.frames, worker=worker,
                              attempt=attempt)
    if plan.status == "done":
        reporter.finish()
        return "up to date"

    def tick():
        reporter.frame()
        on_frame()

    reporter.start()
    try:
        status = _render_shot(plan, source, backends, size, tick)
    except BaseException as e:
        reporter.fail(e if not isinstance(e, KeyboardInterrupt) else "interrupted")
        raise
    reporter.finish()
    return status


def _render_shot(plan: ShotPlan, source: EpisodeSource, backends: _Backends, size: tuple[int, int], on_frame) -> str:
    resumed = plan.status == "partial"
    if not resumed:
        _reset(plan)
    for tmp in plan.folder.glob(".*.tmp"):  # a frame being written when the last run was killed
        tmp.unlink(missing_ok=True)
    ref_rgb = _reference_rgb(plan, size)
    polarity = _shot_polarity(plan, source) if plan.shot.external else None
    backend = None
    for p in plan.passes:
        marker = plan.state / f"{p.name}.done"
        kept = [plan.folder / PNG_NAME.format(g) for g in p.outputs() if g is not None]
        if marker.is_file() and all(q.is_file() for q in kept):
            for _ in kept:
                on_frame()
            continue
        backend = backend or backends.get(plan)
        _run_pass(plan, p, backend, ref_rgb, source, polarity, on_frame)
        atomic_write_bytes(marker, b"")
    missing = [q.name for q in plan.expected() if not q.is_file()]
    if missing:
        raise RuntimeError(f"shot {plan.shot.name!r}: frames {missing[:5]} were not produced; the shot is not done")
    stamp = {"key": plan.key, "frames": plan.shot.frames, "seed": plan.seed, "params": plan.params}
    if plan.options.drift:
        stamp["colour_drift"] = shot_drift(plan, ref_rgb)
    write_json(plan.stamp, stamp)
    shutil.rmtree(plan.state, ignore_errors=True)
    return "resumed" if resumed else "rendered"


def shot_drift(plan: ShotPlan, ref_rgb: np.ndarray) -> dict:
    """Colour drift of a finished shot's frames from its reference's palette, per window of global frame numbers
    (lvcd.eval.drift), read back from the shot's PNGs so a resumed shot is measured whole."""
    from ..eval.drift import DriftMonitor

    monitor = DriftMonitor(ref_rgb)
    for g, path in zip(range(plan.shot.start, plan.shot.end), plan.expected()):
        monitor.update(read_png(path), g)
    return monitor.summary()


def stamped_drift(plan: ShotPlan) -> dict | None:
    """The drift summary recorded in a done shot's stamp (None if it was rendered with drift off)."""
    try:
        return json.loads(plan.stamp.read_text()).get("colour_drift")
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------- API
@dataclass
class ShotResult:
    name: str
    start: int
    end: int
    seed: int
    status: str  # "rendered" | "resumed" | "up to date"
    folder: Path  # PNG frames named by global frame number
    seconds: float
    key: str


@dataclass
class BatchResult:
    """What `render_shots` did: per-shot results, and the assembled video when it was written."""

    work: Path
    shots: list[ShotResult] = field(default_factory=list)
    output: Path | None = None  # None when not assembled (`only=`, `assemble=False`, or no output given)
    sidecar: Path | None = None
    seconds: float = 0.0

    @property
    def frames(self) -> int:
        return sum(s.end - s.start for s in self.shots)


def render_shots(manifest_or_path: Manifest | str | os.PathLike | Mapping, *, work: str | os.PathLike | None = None,
                 only: Sequence[str] | None = None, output: str | os.PathLike | None = None, assemble: bool = True,
                 progress: bool | None = None, **overrides) -> BatchResult:
    """Render every shot of a manifest (or the shots named in `only`) into the work folder, then assemble the final
    video (`output`, else the manifest's `output`) with the inputs' audio (see `assemble_video`). Resumable: see
    the module docstring.

    `overrides` are lvcd.options.RenderOptions fields; they win over the manifest's defaults and every shot's options
    (`seed` is then the base seed shots derive theirs from). Nothing renders unless the whole manifest is valid and
    every selected shot has a reference. With `only`, nothing is assembled.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    m, work_dir, plans = plan_shots(manifest_or_path, work=work, only=only, **overrides)
    opts = RenderOptions.of({**m.defaults, **split_overrides(overrides)})
    show = not opts.quiet if progress is None else progress
    out_path = Path(output) if output is not None else m.output
    do_assemble = assemble and not only and out_path is not None
    if do_assemble:
        from ..video import check_output_path

        check_output_path(out_path, overwrite=opts.overwrite, fmt=opts.fmt)  # fail now
    elif assemble and not only and out_path is None:
        logger.warning("no `output` in the manifest and none given: rendering the shots only (nothing assembled)")
    source = EpisodeSource(m)
    backends = _Backends()
    result = BatchResult(work_dir)
    todo = sum(p.shot.frames for p in plans if p.status != "done")
    logger.info("%d shots: %d up to date, %d to resume, %d to render (%d frames); work folder %s", len(plans),
                sum(p.status == "done" for p in plans), sum(p.status == "partial" for p in plans),
                sum(p.status == "todo" for p in plans), todo, work_dir)
    with tqdm(total=todo, unit="frame", desc="all shots", disable=not show, position=0) as overall:
        for p in plans:
            ts = time.perf_counter()
            if p.status == "done":
                status = "up to date"
            else:
                with tqdm(total=p.shot.frames, unit="frame", desc=f"shot {p.shot.name}", disable=not show, position=1,
                          leave=False) as bar:

                    def tick(bar=bar):
                        bar.update()
                        overall.update()

                    status = render_shot(p, source, backends, m.size, tick)
            result.shots.append(ShotResult(p.shot.name, p.shot.start, p.shot.end, p.seed, status, p.folder,
                                           time.perf_counter() - ts, p.key))
            logger.info("shot %s: %s (%d frames, seed %d)", p.shot.name, status, p.shot.frames, p.seed)
            drift = stamped_drift(p)
            if drift and drift.get("over_threshold"):
                from ..eval.drift import format_drift

                logger.warning("shot %s: %s", p.shot.name, format_drift(drift))
    if do_assemble:
        if len(plans) != len(m.shots):  # pragma: no cover - `only` is excluded above
            raise ManifestError(["internal: not every shot was planned"], m.path)
        result.output = assemble_video(m, plans, out_path, source=source, crf=opts.crf,
                                       fmt=opts.fmt, overwrite=opts.overwrite,
                                       progress=show, work=work_dir)
        from ..video import write_sidecar

        result.sidecar = write_sidecar(out_path, {
            "lvcd_version": __version__,
            "manifest": str(m.path) if m.path else None,
            "inputs": [i.path for i in m.inputs],
            "output": str(out_path),
            "frames": m.frame_count,
            "fps": str(m.fps),
            "size": list(m.size),
            "gaps": [list(g) for g in m.gaps()],
            "shots": [{"name": p.shot.name, "start": p.shot.start, "end": p.shot.end, "seed": p.seed,
                       "backend": p.backend, "key": p.key, "colour_drift": stamped_drift(p)} for p in plans],
        })
    result.seconds = time.perf_counter() - t0
    return result
