"""`lvcd doctor [--model DIR] [--device cuda] [--json]`: report what in this environment will and will not work for
lvcd, with fixes. Only parses arguments and prints `lvcd.doctor.environment_report`; exit status 1 when a check
fails, else 0."""

from __future__ import annotations

import argparse
import json

EPILOG = """Paste the output into bug reports. Checks: package versions, the torch build (CPU-only or CUDA) and GPU
(compute capability, bf16, free memory against the 576x320 bf16 peak estimate per --offload tier), SDPA and
xformers, the ffmpeg binary and its libx264 / ProRes / AAC encoders, the converted model folder and the Hugging Face
environment. Nothing is downloaded and no weights are loaded."""


def add_parser(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("--model", help="pipeline folder to check (default: $LVCD_MODEL, then the data dir, as colorize)")
    p.add_argument("--device", help="device to check: cuda, cuda:1, cpu (default: cuda if available)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON (name, status, detail, fix)")


def run(args) -> int:
    from ..doctor import environment_report, failed, format_report

    checks = environment_report(model=args.model, device=args.device)
    if args.json:
        print(json.dumps([c.to_json() for c in checks], indent=2))
    else:
        print(format_report(checks))
    return 1 if failed(checks) else 0
