"""The `lvcd` command line. It only parses arguments and calls the API; each subcommand lives in its own module
with `add_parser(subparsers)` and `run(args) -> int`."""
from __future__ import annotations

import argparse
import importlib
import sys

from ..version import __version__

# subcommand -> module under lvcd.cli (imported only when that subcommand runs, so --help stays fast)
SUBCOMMANDS = {
    "colorize": "Colorize a lineart video or image sequence from a coloured reference keyframe.",
    "batch": "Render every shot of a manifest and assemble the final video (resumable).",
    "shots": "Detect shot cuts in a lineart video and write a manifest.",
    "convert": "Convert the official svd.safetensors + lvcd.ckpt into a diffusers-format pipeline folder.",
    "eval": "Evaluate a colorized video against ground truth (PSNR, SSIM, EDMD, TC, segment accuracy, ...).",
    "eval-suite": "Score a backend and the repeat / flow-warp baselines on colour clips, soft vs binarized lineart.",
    "lineart": "Extract or normalise lineart from a colour video or image sequence.",
    "ui": "A browser page over a shot manifest: drop keyframes per shot, preview, render, download.",
    "doctor": "Report what will and will not work in this environment (torch/CUDA, ffmpeg, model), with fixes.",
}


class UserError(Exception):
    """An error caused by the user's input: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lvcd", description="Colorize long lineart animation from reference keyframes."
    )
    parser.add_argument("--version", action="version", version=f"lvcd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(f"lvcd.cli.{name.replace('-', '_')}_cmd")
        except ModuleNotFoundError as e:
            if e.name != f"lvcd.cli.{name.replace('-', '_')}_cmd":
                raise
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_parser(p)
        p.set_defaults(_run=mod.run)
    return parser


def _resume_hint(args) -> str:
    """What an interrupted render left behind and how to go on."""
    manifest = str(getattr(args, "input", "")).lower().endswith((".yaml", ".yml"))
    if args.command == "batch" or (args.command == "colorize" and manifest):
        return "; finished shots are kept: run the same command again to render the rest"
    if args.command == "colorize":
        if getattr(args, "work", None):
            return f"; run the same command again to resume from the window checkpoints in {args.work}"
        return "; no output was written (add --work DIR to make a long diffusion render resumable)"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"lvcd: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130
    except (UserError, OSError, ValueError) as e:
        # Errors that teach: the message names the input and the fix; no traceback for user mistakes (bad paths,
        # unreadable or truncated inputs, bad options). Programming errors still show their traceback.
        print(f"lvcd {args.command}: error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        from ..video import VideoWriteError

        if not isinstance(e, VideoWriteError):
            raise
        print(f"lvcd {args.command}: error: {e}", file=sys.stderr)
        return 1
