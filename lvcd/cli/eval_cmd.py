"""`lvcd eval`: score a colorized clip against its ground truth with LVCD's §6.1 metrics (PSNR, SSIM, LPIPS, FID, FVD,
EDMD, TC on 256x256 frames) and, given the lineart, BasicPBC's segment metrics. Prints a markdown table; writes JSON,
markdown and a per-frame PNG plot on request. Parsing only: the work is `lvcd.eval.evaluate_paths`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", required=True, metavar="OUT", help="colorized clip: a video file or a folder of frames")
    p.add_argument("--gt", required=True, metavar="GT", help="ground-truth clip: a video file or a folder of frames")
    p.add_argument(
        "--lineart", metavar="LINEART", help="input lineart (video or frames): EDMD reference and segment metrics"
    )
    p.add_argument("--json", metavar="F", help="write the full report (per-frame values, summary) as JSON")
    p.add_argument("--markdown", metavar="F", help="write the summary table as markdown")
    p.add_argument("--plot", metavar="F", help="write a PNG of every per-frame metric over the frame index")
    p.add_argument(
        "--lpips-weights",
        metavar="P",
        nargs="+",
        help="LPIPS weights: lpips' alex.pth plus torchvision's AlexNet checkpoint (files or a folder)",
    )
    p.add_argument("--inception-weights", metavar="P", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (FID)")
    p.add_argument("--i3d-weights", metavar="P", help="TorchScript I3D i3d_torchscript.pt (FVD)")
    p.add_argument("--raft-weights", metavar="P", help="TorchScript RAFT for TC's flow (default: OpenCV DIS flow)")
    p.add_argument(
        "--background",
        default="255,255,255",
        metavar="R,G,B|none",
        help="background colour for Pix-F-Acc / Pix-B-MIoU (default white; 'none' disables them)",
    )
    p.add_argument("--device", default="cpu", help="torch device for the networks (default cpu)")


def _background(text: str) -> tuple[int, int, int] | None:
    if text.strip().lower() == "none":
        return None
    try:
        rgb = tuple(int(v) for v in text.split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"`--background` must be R,G,B with values 0..255 or 'none'; got {text!r}. Try 255,255,255.")
    return rgb  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    from lvcd.eval import evaluate_paths

    for flag, value in (("--pred", args.pred), ("--gt", args.gt), ("--lineart", args.lineart)):
        if value is not None and not Path(value).exists():
            raise FileNotFoundError(f"`{flag}` {value} does not exist; pass a video file or a folder of frames.")
    weights: dict[str, object] = {}
    if args.lpips_weights:
        weights["lpips"] = args.lpips_weights if len(args.lpips_weights) > 1 else args.lpips_weights[0]
    for key, value in (("inception", args.inception_weights), ("i3d", args.i3d_weights), ("raft", args.raft_weights)):
        if value:
            weights[key] = value
    report = evaluate_paths(
        args.pred,
        args.gt,
        args.lineart,
        weights=weights,
        device=args.device,
        background_rgb=_background(args.background),
    )
    sys.stdout.write(report.to_markdown())
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.markdown:
        report.to_markdown(args.markdown)
        print(f"wrote {args.markdown}", file=sys.stderr)
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
