"""The errors of the executors (in their own module so that the executors and the package import them one way)."""

from __future__ import annotations

from collections.abc import Mapping


class ExecutorUnavailable(ValueError):
    """The executor asked for cannot run here (its package is missing, or the name is unknown); one line."""


class ShotsFailed(RuntimeError):
    """Some shots could not be rendered after every attempt; the other shots finished.

    `failures`: {shot name: {"error": last error (one line), "attempts": [{"worker", "error", "kind"}, ...]}};
    `results`: the ShotResults of the shots that did finish."""

    def __init__(
        self, failures: Mapping[str, Mapping], results: list | None = None, work=None, heading: str | None = None
    ):
        self.failures = {k: dict(v) for k, v in failures.items()}
        self.results = list(results or [])
        self.work = work
        lines = [heading or f"{len(self.failures)} shot(s) failed (the other {len(self.results)} finished):"]
        for name, f in self.failures.items():
            tries = f.get("attempts", [])
            workers = sorted({str(a.get("worker") or "?") for a in tries})
            on = f" ({len(tries)} attempts on {len(workers)} workers: {', '.join(workers)})" if tries else ""
            lines.append(f"  shot {name!r}: {f.get('error')}{on}")
        if work is not None:
            lines.append(
                f"Fix the input of the failed shots and run the same command again: the finished shots in"
                f" {work} are kept."
            )
        super().__init__("\n".join(lines))
