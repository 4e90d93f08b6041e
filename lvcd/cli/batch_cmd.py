"""`lvcd batch shots.yaml`: render every shot of a manifest (resumable) and assemble the final video; calls
`lvcd.shots.render.render_shots`."""

from __future__ import annotations

import argparse
import logging
import sys

from .options import add_render_options, options_from_args


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="shot manifest (.yaml) from `lvcd shots` with every `reference:` filled in")
    p.add_argument("--work", help="work folder for per-shot renders and checkpoints (default: <manifest>.work/)")
    p.add_argument(
        "--only",
        action="append",
        metavar="NAMES",
        help="render only these shots (comma-separated, repeatable); nothing is assembled",
    )
    p.add_argument("--output", "-o", help="the assembled video (default: the manifest's `output:`)")
    p.add_argument("--no-assemble", action="store_true", help="render the shots but do not assemble the video")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, print each shot's plan, seed and status (done/partial/todo); render nothing",
    )
    add_render_options(p)
    add_executor_options(p)


def add_executor_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("where shots render (see docs/ray.md)")
    g.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this process, shot after shot (default); ray: a Ray cluster, one worker per GPU"
        " (needs `pip install 'lvcd[ray]'`)",
    )
    g.add_argument(
        "--assemble-only",
        action="store_true",
        help="render nothing: assemble the shots already rendered (e.g. by `lvcd render-shot` on a farm)",
    )
    g.add_argument(
        "--ray-address",
        metavar="auto|local|HOST:PORT",
        help="Ray cluster to join (default: RAY_ADDRESS, else a new local Ray instance)",
    )
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="Ray workers (default: one per GPU of the cluster, or per --cpus-per-worker CPUs)",
    )
    g.add_argument(
        "--gpus-per-worker",
        type=float,
        metavar="G",
        help="GPUs per Ray worker (default 1 when the cluster has GPUs; 0.5 = two workers per GPU)",
    )
    g.add_argument(
        "--cpus-per-worker",
        type=float,
        metavar="C",
        help="CPUs per Ray worker (default 4 with GPUs; Ray sets OMP_NUM_THREADS to it)",
    )
    g.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        metavar="N",
        help="tries per shot, on different workers, before it is reported failed (default 3)",
    )
    g.add_argument(
        "--shot-timeout",
        type=float,
        default=4.0,
        metavar="FACTOR",
        help="kill and retry a shot running longer than FACTOR x its expected time (frames x the seconds"
        " per frame of the shots finished so far, at least 120 s; default 4; 0 = never)",
    )


def executor_from_args(args) -> tuple[str, dict]:
    """(executor name, its options) from the batch flags."""
    if args.assemble_only:
        return "none", {}
    if args.executor == "local":
        return "local", {}
    return "ray", {
        "address": args.ray_address,
        "workers": args.workers,
        "gpus_per_worker": args.gpus_per_worker,
        "cpus_per_worker": args.cpus_per_worker,
        "max_attempts": args.max_attempts,
        "shot_timeout": args.shot_timeout or None,
    }


def _only(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def run(args) -> int:
    from ..distributed import ShotsFailed
    from ..options import RenderOptions
    from ..shots.plan import format_plans, plan_shots
    from ..shots.render import render_shots

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="lvcd: %(message)s")
    opts = options_from_args(args)
    RenderOptions.of(**opts)  # every given flag checked now, before the manifest is read
    only = _only(args.only)
    if args.dry_run:
        _, work, plans = plan_shots(args.manifest, work=args.work, only=only, **opts)
        print(format_plans(plans))
        print(f"work folder: {work}")
        return 0
    executor, executor_options = executor_from_args(args)
    try:
        res = render_shots(
            args.manifest,
            work=args.work,
            only=only,
            output=args.output,
            assemble=not args.no_assemble,
            executor=executor,
            executor_options=executor_options,
            audio=args.audio,
            allow_outside_paths=args.allow_outside_paths,
            **opts,
        )
    except ShotsFailed as e:
        print(f"lvcd batch: {e}", file=sys.stderr)
        return 1
    if res.unchanged:
        print(f"{len(res.shots)} shots up to date, output unchanged: {res.output}", file=sys.stderr)
        return 0
    if not args.quiet:
        done = {s: sum(r.status == s for r in res.shots) for s in ("rendered", "resumed", "up to date")}
        msg = ", ".join(f"{n} {s}" for s, n in done.items() if n)
        where = f"; wrote {res.output}" if res.output else f"; shots in {res.work / 'shots'}"
        print(f"{len(res.shots)} shots ({msg}) in {res.seconds:.1f} s{where}", file=sys.stderr)
        restarted = [r.name for r in res.shots if getattr(r, "actor_restarted", False)]
        windows = sum(getattr(r, "resumed_windows", 0) for r in res.shots)
        if restarted or windows:
            print(
                f"resumed {windows} checkpointed windows; workers restarted during shots {restarted}", file=sys.stderr
            )
    return 0
