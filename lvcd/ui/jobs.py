"""Renders started from the page: `lvcd.shots.render_shots` in one background thread (one render at a time per
server), the same call `lvcd batch` makes. Per-shot progress is not kept here: render_shots writes it to the work
folder's status files, which the page reads (`Project.progress`), so CLI renders show up too."""

from __future__ import annotations

import logging
import threading
import time
import traceback

from ._shots import ManifestError, render_shots
from .project import Project, UIError

logger = logging.getLogger("lvcd")


class Renderer:
    """Starts and reports background renders of one project."""

    def __init__(self, project: Project):
        self.project = project
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.job: dict | None = None
        self._count = 0

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, shots: list[str] | None = None) -> dict:
        """Render the shots named (all shots and the assembled video for None / empty)."""
        m, raw = self.project.load()
        names = [e.get("name") for e in raw.get("shots") or [] if isinstance(e, dict)]
        unknown = [s for s in shots or [] if s not in names]
        if unknown:
            raise UIError(404, f"no shot named {', '.join(map(repr, unknown))} in {self.project.path.name}")
        with self._lock:
            if self.busy:
                raise UIError(
                    409,
                    f"a render is running already (job {self.job['id']}: "
                    f"{', '.join(self.job['shots']) or 'all shots'}); wait for it to finish",
                )
            self._count += 1
            output = None if shots else self.project.output_path(m)
            self.job = {
                "id": self._count,
                "shots": list(shots or []),
                "all": not shots,
                "state": "running",
                "started": time.time(),
                "finished": None,
                "error": None,
                "problems": [],
                "output": str(output) if output else None,
                "result": None,
            }
            job = self.job
            self._thread = threading.Thread(
                target=self._run, args=(job,), name=f"lvcd-ui-render-{job['id']}", daemon=True
            )
            self._thread.start()
        return dict(job)

    def _run(self, job: dict) -> None:
        try:
            result = render_shots(
                self.project.path,
                work=self.project.work_override,
                only=job["shots"] or None,
                output=job["output"],
                progress=False,
                overwrite=bool(job["all"]),
            )
            job["result"] = {
                "seconds": round(result.seconds, 2),
                "shots": [{"name": s.name, "status": s.status} for s in result.shots],
                "output": str(result.output) if result.output else None,
            }
            job["state"] = "done"
        except ManifestError as e:
            job.update(state="failed", error=str(e).splitlines()[0], problems=e.problems)
        except Exception as e:  # the page shows it; the server keeps running
            logger.error("render job %s failed:\n%s", job["id"], traceback.format_exc())
            job.update(state="failed", error=f"{type(e).__name__}: {e}")
        finally:
            job["finished"] = time.time()

    def progress(self) -> dict:
        """Per-shot progress from the status files plus this server's current job with its overall percent and ETA."""
        out = self.project.progress()
        job = dict(self.job) if self.job else None
        if job is not None:
            shots = out["shots"]
            mine = job["shots"] or list(shots)
            recs = [shots[n] for n in mine if n in shots]
            total = sum(r["frames_total"] for r in recs) or 1
            fresh = [r for r in recs if r.get("updated") and r["updated"] >= job["started"] - 1]
            done = sum(r["frames_done"] for r in fresh)
            job["frames_done"], job["frames_total"] = done, total
            job["percent"] = 100.0 if job["state"] == "done" else round(min(99.9, 100.0 * done / total), 1)
            job["phase"] = (
                "assembling the video" if job["state"] == "running" and job["all"] and done >= total else job["state"]
            )
            timed = [r for r in fresh if r.get("started") and r["updated"] - r["started"] > 0.001 * r["frames_done"]]
            spent = sum(r["updated"] - r["started"] for r in timed)
            made = sum(r["frames_done"] for r in timed)
            job["eta_s"] = round((total - done) * spent / made, 1) if job["state"] == "running" and made else None
            job["elapsed_s"] = round((job["finished"] or time.time()) - job["started"], 1)
        out["job"] = job
        return out
