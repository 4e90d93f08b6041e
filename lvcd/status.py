"""Per-shot progress files in a batch work folder: the one place `lvcd batch`, distributed workers and the page read
and write "how far is shot X".

Each shot has `WORK/status/<shot>.json`, rewritten atomically (temporary file unique per process, then
`os.replace`), so a reader never sees half a file and several processes (a farm, Ray workers, the CLI and the page)
can watch one work folder. A status file is information only: whether a shot is *done* is decided by its stamp and
frames (`lvcd.shots`), never by this file, so a stale or missing status file cannot make lvcd skip work.

Fields (all JSON):
  shot          the shot's name
  state         "pending" | "running" | "done" | "failed"
  frames_done   frames of the shot written so far (resumed frames included)
  frames_total  the shot's frame count
  started       unix time the current attempt started (null when pending)
  updated       unix time of this write
  error         one-line error of a failed attempt, else null
  worker        who is rendering it: "host:pid" (plus whatever the executor adds, e.g. a Ray actor id)
  attempt       1-based attempt number (executors that retry raise it)
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

STATES = ("pending", "running", "done", "failed")
STATUS_DIR = "status"


def status_dir(work: str | os.PathLike) -> Path:
    return Path(work) / STATUS_DIR


def status_path(work: str | os.PathLike, shot: str) -> Path:
    return status_dir(work) / f"{shot}.json"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def write_status(
    work: str | os.PathLike,
    shot: str,
    state: str,
    *,
    frames_done: int,
    frames_total: int,
    started: float | None = None,
    error: str | None = None,
    worker: str | None = None,
    attempt: int = 1,
    **extra,
) -> Path:
    """Atomically (re)write one shot's status file; returns its path."""
    if state not in STATES:
        raise ValueError(f"status state must be one of {', '.join(STATES)}, got {state!r}")
    path = status_path(work, shot)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "shot": shot,
        "state": state,
        "frames_done": int(frames_done),
        "frames_total": int(frames_total),
        "started": started,
        "updated": time.time(),
        "error": error,
        "worker": worker or worker_id(),
        "attempt": int(attempt),
        **extra,
    }
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_status(work: str | os.PathLike, shot: str) -> dict | None:
    """One shot's status, or None when it has none (never rendered by this version) or it cannot be parsed."""
    try:
        return json.loads(status_path(work, shot).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_statuses(work: str | os.PathLike) -> dict[str, dict]:
    """Every shot status in a work folder, by shot name (unreadable files are left out)."""
    out: dict[str, dict] = {}
    folder = status_dir(work)
    if not folder.is_dir():
        return out
    for p in sorted(folder.glob("*.json")):
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and "shot" in rec:
            out[rec["shot"]] = rec
    return out


class StatusReporter:
    """Writes a shot's status while it renders: `running` at start, progress at most every `interval` seconds (and
    on the last frame), `done` or `failed` at the end. Cheap enough to call per frame."""

    def __init__(
        self,
        work: str | os.PathLike,
        shot: str,
        frames_total: int,
        *,
        interval: float = 0.5,
        worker: str | None = None,
        attempt: int = 1,
    ):
        self.work, self.shot, self.total = work, shot, int(frames_total)
        self.interval, self.worker, self.attempt = interval, worker, attempt
        self.done = 0
        self.started = time.time()
        self._last = 0.0

    def _write(self, state: str, error: str | None = None) -> None:
        try:
            write_status(
                self.work,
                self.shot,
                state,
                frames_done=self.done,
                frames_total=self.total,
                started=self.started,
                error=error,
                worker=self.worker,
                attempt=self.attempt,
            )
        except OSError:  # progress reporting must never fail a render (full disk is reported by the render itself)
            pass
        self._last = time.monotonic()

    def start(self) -> None:
        self._write("running")

    def frame(self) -> None:
        self.done += 1
        if self.done >= self.total or time.monotonic() - self._last >= self.interval:
            self._write("running")

    def finish(self) -> None:
        self.done = self.total
        self._write("done")

    def fail(self, error: BaseException | str) -> None:
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        self._write("failed", text[:500])


def progress_summary(
    statuses: dict[str, dict], frames: dict[str, int], *, since: float | None = None, now: float | None = None
) -> dict:
    """Progress of a set of shots ({name: frame count}) from their status files (`read_statuses`): frames done,
    shots running / done / failed, frames per second and ETA in seconds (None until something has progressed).
    With `since` (unix time a run started), a status last written before it counts as nothing done in this run
    (a stale file of an earlier run), so the rate and ETA are this run's."""
    now = time.time() if now is None else now
    done_frames = 0
    states = {s: 0 for s in STATES}
    for name, total in frames.items():
        rec = statuses.get(name)
        if rec is None or (since is not None and float(rec.get("updated") or 0) < since):
            states["pending"] += 1
            continue
        states[rec.get("state", "pending") if rec.get("state") in STATES else "pending"] += 1
        done_frames += min(int(total), int(rec.get("frames_done") or 0))
    total = sum(int(v) for v in frames.values())
    elapsed = now - since if since is not None else None
    rate = done_frames / elapsed if elapsed and elapsed > 0 and done_frames else None
    return {
        "frames_done": done_frames,
        "frames_total": total,
        **states,
        "fps": rate,
        "eta_s": (total - done_frames) / rate if rate else None,
    }
