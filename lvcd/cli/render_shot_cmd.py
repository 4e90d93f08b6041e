"""`lvcd render-shot shots.yaml --shot NAME`: render one shot of a manifest in this process, resumably, into the
work folder; the same code as every `lvcd batch` executor. For render-farm managers (OpenCue, Deadline, Flamenco,
SLURM arrays) that run one job per shot; assemble afterwards with `lvcd batch shots.yaml --assemble-only`."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .options import add_render_options, options_from_args


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="shot manifest (.yaml) with every `reference:` filled in")
    p.add_argument("--shot", required=True, metavar="NAME", help="the shot to render (its `name:` in the manifest)")
    p.add_argument("--work", help="work folder shared by all jobs of the manifest (default: <manifest>.work/)")
    p.add_argument("--attempt", type=int, default=1, help="attempt number recorded in the shot's status file")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line on stdout")
    add_render_options(p)


def run(args) -> int:
    from ..distributed.task import make_task, render_one
    from ..options import RenderOptions
    from ..shots.manifest import load_manifest

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="lvcd: %(message)s")
    opts = options_from_args(args)
    RenderOptions.of(**opts)  # every given flag checked now, before the manifest is read
    task = make_task(args.manifest, load_manifest(args.manifest), args.work, args.shot, opts, attempt=args.attempt)
    out = render_one(task)
    if args.json:
        print(json.dumps(out, sort_keys=True))
    elif not args.quiet:
        print(
            f"shot {out['shot']}: {out['status']} ({out['frames']} frames, {out['seconds']:.1f} s"
            f"{', resumed ' + str(out['resumed_windows']) + ' windows' if out['resumed_windows'] else ''})",
            file=sys.stderr,
        )
    return 0
