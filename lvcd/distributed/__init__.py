"""Executors that render the shots of a manifest somewhere else than this process, one shot per task.

`lvcd.shots.render.render_shots(..., executor=NAME, executor_options={...})` (CLI: `lvcd batch --executor NAME`):

  local  this process, one shot after the other (the default; lives in lvcd.shots.render, not here)
  ray    a Ray cluster: one `ShotWorker` actor per GPU loads the backend once and renders whole shots with the same
         `render_shot` as the local path (lvcd.distributed.ray_executor; needs the optional extra `lvcd[ray]`)
  none   render nothing: every selected shot must already be done (`lvcd batch --assemble-only`)

Importing this package imports neither Ray nor torch: `import lvcd` stays light, and Ray is imported only when the
ray executor is built. A failed shot does not stop the others; when every shot has had its chance, `ShotsFailed`
names each failed shot with its last error (and carries the results of the shots that did finish).
"""

from __future__ import annotations

from .errors import ExecutorUnavailable, ShotsFailed

EXECUTORS = ("local", "ray", "none")
RAY_PIN = "ray==2.60.0"  # the version setup.py's `ray` extra pins (same Ray and Python on every node)
RAY_INSTALL_HINT = f"pip install 'lvcd[ray]' (or pip install '{RAY_PIN}')"


def make_executor(name: str, **options):
    """The executor called NAME with its options (see `lvcd.distributed.ray_executor.RayExecutor` for ray's);
    raises ExecutorUnavailable when it cannot run here."""
    if name == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ExecutorUnavailable(
                f"--executor ray needs Ray, which is not installed: {RAY_INSTALL_HINT}"
            ) from None
        from .ray_executor import RayExecutor

        return RayExecutor(**options)
    if name == "none":
        if options:
            raise ExecutorUnavailable(f"executor 'none' takes no options (got {', '.join(sorted(options))})")
        from .task import AssembleOnly

        return AssembleOnly()
    raise ExecutorUnavailable(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def render_one(*args, **kwargs):
    """Render one shot of a manifest in this process (see lvcd.distributed.task.render_one)."""
    from .task import render_one as _render_one

    return _render_one(*args, **kwargs)


__all__ = ["EXECUTORS", "ExecutorUnavailable", "ShotsFailed", "make_executor", "render_one"]
