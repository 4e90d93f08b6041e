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
    p.add_argument("--only", action="append", metavar="NAMES",
                   help="render only these shots (comma-separated, repeatable); nothing is assembled")
    p.add_argument("--output", "-o", help="the assembled video (default: the manifest's `output:`)")
    p.add_argument("--no-assemble", action="store_true", help="render the shots but do not assemble the video")
    p.add_argument("--dry-run", action="store_true",
                   help="validate, print each shot's plan, seed and status (done/partial/todo); render nothing")
    add_render_options(p)


def _only(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def run(args) -> int:
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
    res = render_shots(args.manifest, work=args.work, only=only, output=args.output, assemble=not args.no_assemble,
                       **opts)
    if not args.quiet:
        done = {s: sum(r.status == s for r in res.shots) for s in ("rendered", "resumed", "up to date")}
        msg = ", ".join(f"{n} {s}" for s, n in done.items() if n)
        where = f"; wrote {res.output}" if res.output else f"; shots in {res.work / 'shots'}"
        print(f"{len(res.shots)} shots ({msg}) in {res.seconds:.1f} s{where}", file=sys.stderr)
    return 0
