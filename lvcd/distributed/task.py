"""One shot as a task: the small dict that travels to a worker, and the function that renders it there.

A task is `{"manifest": path | mapping, "base_dir": str | None, "work": str, "shot": name, "overrides": {...},
"attempt": n}`: paths and options only (frames, latents and checkpoints stay in the shared work folder). The worker
re-plans the shot from it (the same `plan_shots` the driver ran, so the same hash and resume state) and calls the same
`render_shot` as `lvcd batch --executor local`; because every write there is atomic and deterministic, running a task
twice (at-least-once delivery after a worker died) gives the same files.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from ..shots.manifest import Manifest, load_manifest


def make_task(
    manifest_src, manifest: Manifest, work: str | os.PathLike | None, shot: str, overrides: Mapping, attempt: int = 1
) -> dict:
    """The task of `shot`. `manifest_src` is what the caller gave (a path, a mapping or a Manifest): a path travels
    as an absolute path, a mapping with its base folder, a Manifest without a file as itself (small metadata).
    `work` None: the manifest's default work folder, chosen where the task runs."""
    if isinstance(manifest_src, Manifest):
        src = str(manifest_src.path.resolve()) if manifest_src.path is not None else manifest_src
    elif isinstance(manifest_src, Mapping):
        src = dict(manifest_src)
    else:
        src = str(Path(manifest_src).resolve())
    return {
        "manifest": src,
        "base_dir": str(manifest.base_dir),
        "work": str(Path(work).resolve()) if work is not None else None,
        "shot": shot,
        "overrides": {k: v for k, v in overrides.items() if v is not None},
        "attempt": int(attempt),
    }


def task_manifest(task: Mapping) -> Manifest:
    src = task["manifest"]
    if isinstance(src, Mapping):
        return load_manifest(src, base_dir=task.get("base_dir"))
    return load_manifest(src)


def checkpointed_windows(state: Path) -> int:
    """Diffusion windows already checkpointed in a shot's state folder (all passes): what a resume skips."""
    from ..resume import SegmentStore

    ckpt = state / "ckpt"
    if not ckpt.is_dir():
        return 0
    return sum(SegmentStore(d).finished() for d in sorted(ckpt.iterdir()) if d.is_dir())


def render_one(task: Mapping, backends=None, worker: str | None = None) -> dict:
    """Render the task's shot here (resuming from its state folder) and return a small dict: shot, status
    ("rendered" | "resumed" | "up to date"), frames, seconds, resumed_windows, worker, host, pid.
    `backends` (a `lvcd.shots.render._Backends`) keeps loaded models between calls of one worker."""
    from ..shots.plan import plan_shots
    from ..shots.source import EpisodeSource
    from ..shots.worker import _Backends, render_shot
    from ..status import worker_id

    worker = worker or worker_id()
    t0 = time.perf_counter()
    m = task_manifest(task)
    _, _, plans = plan_shots(m, work=task["work"], only=[task["shot"]], **task.get("overrides", {}))
    plan = plans[0]
    resumed = checkpointed_windows(plan.state) if plan.status == "partial" else 0
    status = render_shot(
        plan,
        EpisodeSource(m),
        backends if backends is not None else _Backends(),
        m.size,
        worker=worker,
        attempt=int(task.get("attempt", 1)),
    )
    return {
        "shot": plan.shot.name,
        "status": status,
        "frames": plan.shot.frames,
        "start": plan.shot.start,
        "end": plan.shot.end,
        "seed": plan.seed,
        "key": plan.key,
        "seconds": time.perf_counter() - t0,
        "resumed_windows": resumed,
        "worker": worker,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def preload(task: Mapping, backends) -> None:
    """Load the backend the task's shot uses into `backends` (a worker does this once, before its first shot)."""
    from ..shots.plan import plan_shots

    _, _, plans = plan_shots(task_manifest(task), work=task["work"], only=[task["shot"]], **task.get("overrides", {}))
    backends.get(plans[0])


class AssembleOnly:
    """The `none` executor: renders nothing; fails (naming them) when selected shots are not done yet."""

    def render(self, manifest_src, manifest, work, plans, overrides, progress=True) -> list:
        from ..shots.worker import ShotResult
        from .errors import ShotsFailed

        hint = "render it with `lvcd batch` or `lvcd render-shot MANIFEST --shot NAME` first"
        missing = {
            p.shot.name: {"error": f"not rendered yet ({p.status}); {hint}", "attempts": []}
            for p in plans
            if p.status != "done"
        }
        done = [
            ShotResult(p.shot.name, p.shot.start, p.shot.end, p.seed, "up to date", p.folder, 0.0, p.key)
            for p in plans
            if p.status == "done"
        ]
        if missing:
            raise ShotsFailed(missing, done, heading=f"cannot assemble: {len(missing)} shot(s) are not rendered:")
        return done
