"""`lvcd batch --executor ray`: the shots of a manifest on a Ray cluster, resumable after any worker dies.

One `ShotWorker` actor per GPU (or per `cpus_per_worker` CPUs without GPUs) loads the backend once in `__init__` and
renders whole shots with the same `render_shot` as the local path (`lvcd.distributed.task.render_one`). Only small
dicts travel through Ray (the task: manifest path, work folder, shot name, option overrides; the result: status and
timings); frames, latents and per-window checkpoints live in the shared work folder, which every node must see at
the same path (NFS, a ReadWriteMany volume).

The driver is a plain loop over `ray.wait` (no ActorPool: a dead actor must not wedge the pool):
  * shots go out longest first, one per idle worker;
  * a worker process that dies (SIGKILL, OOM, node lost) is restarted by Ray (`max_restarts`) and the call is
    delivered again (`max_task_retries`): the shot resumes after its last checkpointed window. At-least-once delivery
    is safe because every write is deterministic, atomic and idempotent;
  * a shot that raises is retried on a *different* worker up to `max_attempts` times in all, then reported failed
    while the other shots go on (`ShotsFailed` at the end names each failed shot and its error);
  * a shot running longer than `shot_timeout` x its expected time (frames x the seconds per frame measured on the
    shots rendered so far in this run, at least `min_timeout` s) gets its actor killed and replaced, and is retried;
  * progress and ETA come from the per-shot status files the workers write (`lvcd.status`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..shots.worker import ShotResult
from ..status import progress_summary, read_statuses
from .task import make_task, preload, render_one

logger = logging.getLogger("lvcd")


@dataclass
class RayShotResult(ShotResult):
    """A ShotResult with where and how the shot was rendered."""

    worker: str | None = None  # "w1@host:pid" of the attempt that finished it
    attempts: list = field(default_factory=list)  # failed attempts before it: {"worker", "error", "kind"}
    resumed_windows: int = 0  # diffusion windows taken from checkpoints instead of re-sampled
    actor_restarted: bool = False  # a worker process died during this shot (Ray restarted it, or lvcd replaced it)


class ShotWorker:
    """The Ray actor (wrapped with `ray.remote` by the executor): loads the backend once, then renders shots."""

    def __init__(self, label: str, first_task: dict | None = None):
        from ..shots.worker import _Backends

        self.label = label
        self.backends = _Backends()
        if first_task is not None:
            preload(first_task, self.backends)

    @property
    def name(self) -> str:
        return f"{self.label}@{socket.gethostname()}:{os.getpid()}"

    def _restarted(self) -> bool:
        import warnings

        import ray

        with warnings.catch_warnings():  # Ray 2.60 warns about an API it uses itself inside this property
            warnings.simplefilter("ignore", DeprecationWarning)
            return bool(ray.get_runtime_context().was_current_actor_reconstructed)

    def ready(self) -> dict:
        return {"worker": self.name, "pid": os.getpid(), "restarted": self._restarted()}

    def render(self, task: dict) -> dict:
        out = render_one(task, self.backends, worker=self.name)
        out["restarted"] = self._restarted()
        return out


@dataclass
class _Slot:
    label: str
    actor: object
    ready_ref: object | None = None
    ready_at: float | None = None
    pid: int | None = None
    shot: str | None = None
    ref: object | None = None
    sent: float = 0.0
    generation: int = 0
    restart_seen: bool = False


def _one_line(e: BaseException) -> str:
    """`Type: first line` of an exception, unwrapping Ray's RayTaskError to the worker's own exception."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException) and cause is not e:
        e = cause
    text = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__


def _init_error(e: BaseException) -> str:
    """The worker's own exception from a Ray 'died in its creation task' error (its last traceback line)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(e).__name__


class RayExecutor:
    """Render shots on Ray. Options (CLI flags of `lvcd batch --executor ray`):

    address          Ray address: None (ray.init's default: RAY_ADDRESS, else a new local instance), "auto" (the
                     cluster this machine belongs to), "local" (a new local instance) or "HOST:PORT"
    workers          actors to start (default: GPUs / gpus_per_worker, or CPUs / cpus_per_worker without GPUs;
                     never more than the shots to render)
    gpus_per_worker  GPUs per actor (default 1 when the cluster has GPUs, else 0); 0.5 puts two actors on one GPU
    cpus_per_worker  CPUs per actor (default: 4 with GPUs, capped by CPUs per GPU; 1 without). Ray sets
                     OMP_NUM_THREADS to it, so ask for a few: video decoding and PNG encoding use them
    max_attempts     tries per shot (on different workers where possible) before it is reported failed
    shot_timeout     kill a shot's actor after this multiple of the shot's expected time (None: never)
    min_timeout      ... but never before this many seconds
    init_options     extra ray.init keyword arguments when this executor starts or joins Ray (e.g. num_cpus)
    worker_class     the actor class (default ShotWorker; tests pass doubles)
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        gpus_per_worker: float | None = None,
        cpus_per_worker: float | None = None,
        max_attempts: int = 3,
        shot_timeout: float | None = 4.0,
        min_timeout: float = 120.0,
        max_restarts: int = -1,
        max_task_retries: int = 2,
        poll: float = 0.5,
        init_options: dict | None = None,
        worker_class: type | None = None,
    ):
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be at least 1 (got {workers})")
        if max_attempts < 1:
            raise ValueError(f"--max-attempts must be at least 1 (got {max_attempts})")
        if shot_timeout is not None and shot_timeout <= 1:
            raise ValueError(
                f"--shot-timeout is a multiple of a shot's expected time and must be > 1 (got {shot_timeout})"
            )
        for flag, v in (("--gpus-per-worker", gpus_per_worker), ("--cpus-per-worker", cpus_per_worker)):
            if v is not None and v < 0:
                raise ValueError(f"{flag} must be >= 0 (got {v})")
        self.address, self.workers = address, workers
        self.gpus, self.cpus = gpus_per_worker, cpus_per_worker
        self.max_attempts, self.shot_timeout, self.min_timeout = max_attempts, shot_timeout, min_timeout
        self.max_restarts, self.max_task_retries, self.poll = max_restarts, max_task_retries, poll
        self.init_options = dict(init_options or {})
        self.worker_class = worker_class or ShotWorker
        self.report: dict = {}

    # ------------------------------------------------------------------------------------------------ Ray set-up
    def _connect(self) -> bool:
        """Join (or start) Ray; True when this call started the connection (and must end it)."""
        import ray

        if ray.is_initialized():
            return False
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kw = dict(self.init_options)
        if self.address in (None, "local"):
            kw.setdefault("include_dashboard", False)
        ray.init(address=self.address, **kw)
        return True

    def _sizes(self, n_shots: int) -> tuple[int, float, float]:
        import ray

        res = ray.cluster_resources()
        total_gpus, total_cpus = float(res.get("GPU", 0)), float(res.get("CPU", 0))
        gpus = self.gpus if self.gpus is not None else (1.0 if total_gpus > 0 else 0.0)
        if self.cpus is not None:
            cpus = self.cpus
        elif gpus > 0:
            cpus = float(max(1, min(4, int(total_cpus // max(total_gpus / gpus, 1)))))
        else:
            cpus = 1.0
        if self.workers is not None:
            workers = self.workers
        elif gpus > 0:
            workers = max(1, int(total_gpus // gpus))
        else:
            workers = max(1, int(total_cpus // cpus) if cpus > 0 else 1)
        return max(1, min(workers, n_shots)), gpus, cpus

    # ------------------------------------------------------------------------------------------------ the loop
    def render(self, manifest_src, manifest, work, plans, overrides, progress: bool = True) -> list[ShotResult]:
        done = [
            ShotResult(p.shot.name, p.shot.start, p.shot.end, p.seed, "up to date", p.folder, 0.0, p.key)
            for p in plans
            if p.status == "done"
        ]
        todo = sorted((p for p in plans if p.status != "done"), key=lambda p: (-p.shot.frames, p.shot.start))
        self.report = {"workers": [], "restarted": [], "replaced": [], "failed": {}}
        if not todo:
            return done
        started = self._connect()
        try:
            results = self._run(manifest_src, manifest, Path(work), todo, overrides, progress)
        finally:
            if started:
                import ray

                ray.shutdown()
        by_name = {r.name: r for r in done + results}
        return [by_name[p.shot.name] for p in plans if p.shot.name in by_name]

    def _run(self, manifest_src, manifest, work: Path, todo, overrides, progress: bool) -> list[ShotResult]:
        import ray
        from tqdm.auto import tqdm

        from .errors import ExecutorUnavailable, ShotsFailed

        n, gpus, cpus = self._sizes(len(todo))
        remote_cls = ray.remote(self.worker_class)
        tasks = {p.shot.name: make_task(manifest_src, manifest, work, p.shot.name, overrides) for p in todo}
        plans = {p.shot.name: p for p in todo}
        first = tasks[todo[0].shot.name]

        def start(label: str) -> _Slot:
            actor = remote_cls.options(
                num_gpus=gpus,
                num_cpus=cpus,
                max_concurrency=1,
                max_restarts=self.max_restarts,
                max_task_retries=self.max_task_retries,
            ).remote(label, first)
            return _Slot(label, actor, ready_ref=actor.ready.remote())

        logger.info("ray: %d workers (%g GPU, %g CPU each) for %d shots", n, gpus, cpus, len(todo))
        slots = [start(f"w{i}") for i in range(n)]
        queue = deque(p.shot.name for p in todo)
        attempts: dict[str, list[dict]] = {name: [] for name in tasks}
        failed: dict[str, dict] = {}
        results: list[ShotResult] = []
        rates: list[float] = []  # seconds per frame of shots rendered from scratch in this run
        t_start = time.time()
        frames = {name: p.shot.frames for name, p in plans.items()}

        def replace(slot: _Slot, why: str) -> None:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(slot.actor, no_restart=True)
            new = start(slot.label)
            new.generation = slot.generation + 1
            self.report["replaced"].append({"worker": slot.label, "pid": slot.pid, "why": why})
            slots[slots.index(slot)] = new

        def worker_name(slot: _Slot) -> str:
            return f"{slot.label}@pid {slot.pid}" if slot.pid else slot.label

        def give_back(name: str, slot: _Slot, kind: str, error: str) -> None:
            attempts[name].append({"worker": slot.label, "pid": slot.pid, "kind": kind, "error": error})
            k = len(attempts[name])
            if k >= self.max_attempts:
                failed[name] = {"error": error, "attempts": attempts[name]}
                logger.error("shot %s failed after %d attempts: %s", name, k, error)
            else:
                logger.warning(
                    "shot %s: attempt %d on %s failed (%s): %s; retrying on another worker",
                    name,
                    k,
                    worker_name(slot),
                    kind,
                    error,
                )
                queue.appendleft(name)

        def pick(slot: _Slot) -> str | None:
            alive = {s.label for s in slots if s.ready_at is not None or s.generation > 0}  # started, or restarting
            for name in queue:
                tried = {a["worker"] for a in attempts[name]}
                if slot.label not in tried or alive <= tried:  # a different worker first, when there is one
                    queue.remove(name)
                    return name
            return None

        def expected(name: str) -> float | None:
            if self.shot_timeout is None or not rates:
                return None
            return max(self.min_timeout, self.shot_timeout * statistics.median(rates) * frames[name])

        total = sum(frames.values())
        try:
            with tqdm(total=total, unit="frame", desc="all shots", disable=not progress) as bar:
                while queue or any(s.shot for s in slots):
                    for slot in slots:  # only actors that are up: one waiting for resources must not hold a shot
                        if slot.shot is None and slot.ready_at is not None and queue:
                            name = pick(slot)
                            if name is not None:
                                task = dict(tasks[name], attempt=len(attempts[name]) + 1)
                                slot.shot, slot.ref, slot.sent = name, slot.actor.render.remote(task), time.time()
                    waiting = [s.ready_ref for s in slots if s.ready_ref is not None]
                    waiting += [s.ref for s in slots if s.ref is not None]
                    if not waiting:  # cannot happen: an idle, ready worker takes any shot every worker has tried
                        raise RuntimeError("ray executor: nothing to wait for with shots still queued")
                    owner = {r: s for s in slots for r in (s.ready_ref, s.ref) if r is not None}
                    ready, _ = ray.wait(waiting, num_returns=1, timeout=self.poll)
                    for ref in ready:
                        slot = owner[ref]
                        if slot.ready_ref is not None and ref == slot.ready_ref:
                            slot.ready_ref = None
                            try:
                                info = ray.get(ref)
                            except ray.exceptions.RayActorError as e:
                                if getattr(e, "actor_init_failed", False):
                                    raise ExecutorUnavailable(
                                        f"ray worker {slot.label} could not start (loading the"
                                        f" backend failed): {_init_error(e)}"
                                    ) from None
                                replace(slot, f"died before it was ready: {_one_line(e)}")
                                continue
                            slot.ready_at, slot.pid = time.time(), info["pid"]
                            slot.restart_seen = bool(info.get("restarted"))
                            self.report["workers"].append(info["worker"])
                            continue
                        name, slot.shot, slot.ref = slot.shot, None, None
                        try:
                            out = ray.get(ref)
                        except ray.exceptions.RayTaskError as e:
                            give_back(name, slot, "error", _one_line(e))
                            continue
                        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as e:
                            give_back(name, slot, "worker died", _one_line(e))
                            replace(slot, "died")
                            continue
                        restarted = slot.pid is not None and out["pid"] != slot.pid
                        if out.get("restarted") and not slot.restart_seen:  # restarted before `ready` answered
                            restarted = slot.restart_seen = True
                        if restarted:
                            self.report["restarted"].append(
                                {"worker": slot.label, "old_pid": slot.pid, "new_pid": out["pid"], "shot": name}
                            )
                            logger.warning(
                                "shot %s: worker %s died and was restarted (pid %s -> %s); resumed %d"
                                " checkpointed windows",
                                name,
                                slot.label,
                                slot.pid,
                                out["pid"],
                                out["resumed_windows"],
                            )
                        slot.pid = out["pid"]
                        restarted = restarted or any(a["kind"] == "worker died" for a in attempts[name])
                        if out["status"] == "rendered" and not restarted:
                            rates.append(out["seconds"] / max(out["frames"], 1))
                        p = plans[name]
                        results.append(
                            RayShotResult(
                                name,
                                p.shot.start,
                                p.shot.end,
                                p.seed,
                                out["status"],
                                p.folder,
                                out["seconds"],
                                p.key,
                                worker=out["worker"],
                                attempts=attempts[name],
                                resumed_windows=int(out["resumed_windows"]),
                                actor_restarted=restarted,
                            )
                        )
                        eta = progress_summary(read_statuses(work), frames, since=t_start)["eta_s"]
                        logger.info(
                            "shot %s: %s on %s (%d frames, %.1f s); %d/%d shots, ETA %s",
                            name,
                            out["status"],
                            out["worker"],
                            out["frames"],
                            out["seconds"],
                            len(results),
                            len(tasks),
                            "?" if eta is None else f"{eta:.0f} s",
                        )
                    now = time.time()
                    for slot in list(slots):
                        if slot.shot is None or slot.ready_at is None:
                            continue
                        limit = expected(slot.shot)
                        running = now - max(slot.sent, slot.ready_at)
                        if limit is not None and running > limit:
                            name = slot.shot
                            give_back(
                                name,
                                slot,
                                "timeout",
                                f"timed out after {running:.0f} s (limit {limit:.0f} s = {self.shot_timeout:g}"
                                " x the expected time); its worker was killed and replaced",
                            )
                            replace(slot, "timeout")
                    summary = progress_summary(read_statuses(work), frames, since=t_start)
                    bar.n = min(total, summary["frames_done"])
                    bar.refresh()
        finally:
            for slot in slots:
                with contextlib.suppress(Exception):  # already dead
                    ray.kill(slot.actor, no_restart=True)
        self.report["failed"] = failed
        self.report["seconds"] = time.time() - t_start
        if failed:
            raise ShotsFailed(failed, results, work)
        return results
