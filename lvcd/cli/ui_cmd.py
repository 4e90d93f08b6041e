"""`lvcd ui shots.yaml`: a browser page over a shot manifest (drop keyframes, preview, render, download)."""

from __future__ import annotations

import argparse
import sys


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("manifest", help="the shot manifest (.yaml) to work on; `lvcd shots INPUT -o shots.yaml` makes one")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; there is no login)",
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--work", help="work folder (default: the manifest's `work:`, else <manifest>.work beside it)")


def run(args) -> int:
    from ..ui import is_loopback, missing_extra_message, serve
    from . import UserError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UserError(missing_extra_message(e)) from None
    if not is_loopback(args.host):
        print(
            f"lvcd ui: warning: listening on {args.host}: anyone who can reach this machine on port {args.port} can "
            "change the manifest, upload files and start renders (there is no login). Use the default --host "
            "127.0.0.1 and an SSH tunnel (ssh -L 7860:127.0.0.1:7860 HOST) to reach it from elsewhere.",
            file=sys.stderr,
        )
    shown = "localhost" if args.host in ("127.0.0.1", "::1") else args.host
    print(f"lvcd ui: {args.manifest} on http://{shown}:{args.port}/ (Ctrl+C to stop)", file=sys.stderr)
    serve(args.manifest, host=args.host, port=args.port, work=args.work)
    return 0
