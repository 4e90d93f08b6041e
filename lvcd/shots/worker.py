"""Rendering one planned shot into the work folder: what `lvcd batch` does for each shot in this process and what a
distributed worker (`lvcd.distributed`) does for the shots it is given. Resumable (see render.py's docstring for the
work-folder layout and the resume rules); progress goes to the work folder's status file (`lvcd.status`).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..resume import atomic_write_bytes, write_json
from .extra_refs import pass_extra_references
from .plan import PNG_NAME, Pass, ShotPlan
from .source import EpisodeSource, read_png, reference_lineart_frame, reference_rgb, shot_polarity, write_png
from .together import drift_reference, pass_keyframes

logger = logging.getLogger("lvcd")

__all__ = ["BatchResult", "ShotResult", "render_shot", "shot_drift", "stamped_confidence", "stamped_drift"]


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


def _run_pass(
    plan: ShotPlan,
    p: Pass,
    backend,
    ref_rgb: np.ndarray,
    source: EpisodeSource,
    polarity: str | None,
    on_frame,
    size: tuple[int, int],
) -> None:
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
    keys = pass_keyframes(plan, p, source, size)  # a shot's keyframes used together (bucket)
    read = ([None] if p.prepend_reference else []) + list(p.frames)  # global frame of each frame given
    extra = pass_extra_references(plan.shot.extra_references, read)  # references used together (extra_refs.py)
    for j, frame in enumerate(
        colorize_frames(
            frames,
            ref_rgb,
            num_frames=p.num_frames,
            backend=backend,
            checkpoint_dir=ckpt if plan.backend == "diffusion" else None,
            options=opts,
            keyframes=keys,
            extra_references=extra,
        )
    ):
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
        raise RuntimeError(
            f"shot {plan.shot.name!r}: the {p.name} pass produced {n} frames for {len(outputs)} inputs;"
            " the shot was not finished"
        )
    conf = backend.confidence() if plan.backend == "bucket" else None
    if conf is not None:  # flat fills: per-frame confidence, merged into the stamp over global frames
        write_json(plan.state / f"{p.name}.confidence.json", {"outputs": outputs, "summary": conf})


def _reset(plan: ShotPlan) -> None:
    """Discard a stale stamp, stale frames and stale state, then start a state folder for the current key."""
    plan.stamp.unlink(missing_ok=True)  # first: a kill from here on leaves no stamp that could claim "done"
    shutil.rmtree(plan.folder, ignore_errors=True)
    shutil.rmtree(plan.state, ignore_errors=True)
    plan.folder.mkdir(parents=True, exist_ok=True)
    plan.state.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(plan.state / "key", plan.key.encode())


def render_shot(
    plan: ShotPlan,
    source: EpisodeSource,
    backends: _Backends,
    size: tuple[int, int],
    on_frame=lambda: None,
    *,
    worker: str | None = None,
    attempt: int = 1,
) -> str:
    """Render one planned shot into its folder (resuming where a previous run stopped). Returns what happened:
    "up to date" | "resumed" | "rendered". Progress goes to the work folder's status file (`lvcd.status`)."""
    from ..status import StatusReporter

    reporter = StatusReporter(
        plan.folder.parent.parent, plan.shot.name, plan.shot.frames, worker=worker, attempt=attempt
    )
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
    ref_rgb = reference_rgb(plan, size)
    polarity = shot_polarity(plan, source) if plan.shot.external else None
    backend = None
    for p in plan.passes:
        marker = plan.state / f"{p.name}.done"
        kept = [plan.folder / PNG_NAME.format(g) for g in p.outputs() if g is not None]
        if marker.is_file() and all(q.is_file() for q in kept):
            for _ in kept:
                on_frame()
            continue
        backend = backend or backends.get(plan)
        _run_pass(plan, p, backend, ref_rgb, source, polarity, on_frame, size)
        atomic_write_bytes(marker, b"")
    missing = [q.name for q in plan.expected() if not q.is_file()]
    if missing:
        raise RuntimeError(f"shot {plan.shot.name!r}: frames {missing[:5]} were not produced; the shot is not done")
    stamp = {"key": plan.key, "frames": plan.shot.frames, "seed": plan.seed, "params": plan.params}
    if plan.options.drift:
        stamp["colour_drift"] = shot_drift(plan, drift_reference(plan, size, ref_rgb))
    conf = _pass_confidence(plan)
    if conf is not None:
        stamp["bucket_confidence"] = conf
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


def _pass_confidence(plan: ShotPlan) -> dict | None:
    """The bucket confidence of the shot's passes (written by `_run_pass`) on global frame numbers; None when no pass
    left one (warp mode, diffusion)."""
    from ..backends.bucket_confidence import merge_summaries

    parts = []
    for p in plan.passes:
        try:
            parts.append(json.loads((plan.state / f"{p.name}.confidence.json").read_text()))
        except (OSError, ValueError):
            continue
    return merge_summaries([(d["outputs"], d["summary"]) for d in parts]) if parts else None


def stamped_confidence(plan: ShotPlan) -> dict | None:
    """The bucket confidence summary recorded in a done shot's stamp (None: not a flat bucket render)."""
    try:
        return json.loads(plan.stamp.read_text()).get("bucket_confidence")
    except (OSError, ValueError):
        return None


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
    confidence: dict | None = None  # flat bucket renders: the stamp's `bucket_confidence` (global frame numbers)


@dataclass
class BatchResult:
    """What `render_shots` did: per-shot results, and the assembled video when it was written."""

    work: Path
    shots: list[ShotResult] = field(default_factory=list)
    output: Path | None = None  # None when not assembled (`only=`, `assemble=False`, or no output given)
    sidecar: Path | None = None
    seconds: float = 0.0
    unchanged: bool = False  # the assembled output was already up to date and was left as it was

    @property
    def frames(self) -> int:
        return sum(s.end - s.start for s in self.shots)
