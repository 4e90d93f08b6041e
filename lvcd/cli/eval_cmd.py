"""`lvcd eval`: score a colorized clip against its ground truth with LVCD's §6.1 metrics (PSNR, SSIM, LPIPS, FID, FVD,
EDMD in pixels, TC per eq. 9, on 256x256 frames) and, given the lineart, BasicPBC's segment metrics. Prints a
paper-style table (LVCD Table 1 columns; --format md|json|csv); writes JSON, markdown and a per-frame PNG plot on
request. Parsing only: the work is `lvcd.eval.evaluate_paths`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", required=True, metavar="OUT", help="colorized clip: a video file or a folder of frames")
    p.add_argument("--gt", required=True, metavar="GT", help="ground-truth clip: a video file or a folder of frames")
    p.add_argument(
        "--lineart", metavar="LINEART", help="input lineart (video or frames): EDMD reference and segment metrics"
    )
    p.add_argument(
        "--format", choices=("md", "json", "csv"), default="md",
        help="what is printed: md (paper-style table, then every metric), json (table and full report) or csv "
        "(table rows)",
    )  # fmt: skip
    p.add_argument(
        "--shots", metavar="MANIFEST|F1,F2",
        help="shot cuts (a manifest from `lvcd shots`, or the frames that start each shot): TC's pair chain restarts "
        "at every cut",
    )  # fmt: skip
    p.add_argument(
        "--resize", action="store_true",
        help="score frames of different sizes anyway (prediction, ground truth and lineart all resized to 256x256); "
        "without it a size mismatch is an error",
    )  # fmt: skip
    p.add_argument(
        "--colour-tolerance", type=int, metavar="N",
        help="per-channel levels within which region colours match in the segment metrics (default: 0, exact, for "
        "lossless inputs; 12 when the prediction or ground truth is lossy, e.g. mp4 or JPEG)",
    )  # fmt: skip
    p.add_argument("--json", metavar="F", help="write the full report (per-frame values, summary, table) as JSON")
    p.add_argument("--markdown", metavar="F", help="write the table and every metric as markdown")
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
        "--lineart-weights", metavar="P",
        help="informative-drawings generator (sk_model.pth), EDMD's line extractor as in the paper (default: XDoG)",
    )  # fmt: skip
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


def weights_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The `weights` mapping of `lvcd.eval.evaluate` from the --*-weights flags."""
    weights: dict[str, object] = {}
    if getattr(args, "lpips_weights", None):
        weights["lpips"] = args.lpips_weights if len(args.lpips_weights) > 1 else args.lpips_weights[0]
    for key in ("inception", "i3d", "raft", "lineart"):
        value = getattr(args, f"{key}_weights", None)
        if value:
            weights[key] = value
    return weights


def run(args: argparse.Namespace) -> int:
    from lvcd.eval import evaluate_paths
    from lvcd.eval.cuts import check_writable, cuts_from
    from lvcd.eval.table import clip_table

    for flag, value in (("--pred", args.pred), ("--gt", args.gt), ("--lineart", args.lineart)):
        if value is not None and not Path(value).exists():
            raise FileNotFoundError(f"`{flag}` {value} does not exist; pass a video file or a folder of frames.")
    for flag, value in (("--json", args.json), ("--markdown", args.markdown), ("--plot", args.plot)):
        if value:
            check_writable(value, flag)
    cuts = cuts_from(args.shots) if args.shots else ()
    background = _background(args.background)
    report = evaluate_paths(
        args.pred,
        args.gt,
        args.lineart,
        weights=weights_from_args(args),
        device=args.device,
        background_rgb=background,
        colour_tolerance=args.colour_tolerance,
        cuts=cuts,
        resize=args.resize,
    )
    if "lossy_inputs" in report.meta:
        print(f"lvcd eval: note: {report.meta['lossy_inputs']}", file=sys.stderr)
    table = clip_table([(Path(args.pred).name, report)])
    markdown = table.render("md") + "\n**All metrics:**\n\n" + report.to_markdown()
    if args.format == "md":
        sys.stdout.write(markdown)
    elif args.format == "json":
        sys.stdout.write(json.dumps({"table": json.loads(table.render("json")), "report": report.to_dict()},
                                    indent=2, ensure_ascii=False, default=str) + "\n")  # fmt: skip
    else:
        sys.stdout.write(table.render("csv"))
    if args.json:
        report.to_json(args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
        print(f"wrote {args.markdown}", file=sys.stderr)
    if args.plot:
        report.plot(args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0
