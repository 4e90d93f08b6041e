"""`lvcd eval-suite CLIPS_DIR`: for a folder of colour clips, extract lineart two ways (soft, as LVCD's paper did, and
binarized, as users draw), colour each from its first frame with the chosen backend and with the "repeat the
keyframe" and "flow-warp the keyframe" baselines, score all of them and print the paper-style table with the mean over
clips and the binarized - soft gap. Parsing only: the work is `lvcd.eval.suite.run_suite`.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("clips", metavar="CLIPS_DIR", help="folder of colour clips: video files and/or folders of frames")
    p.add_argument(
        "--backend", choices=("bucket", "diffusion"),
        help="colorizer scored beside the baselines (default: bucket; diffusion when --model is given)",
    )  # fmt: skip
    p.add_argument("--model", metavar="DIR", help="converted LVCD model folder (selects the diffusion backend)")
    p.add_argument("--steps", type=int, help="diffusion steps per window (default: the backend's, 25)")
    p.add_argument("--size", metavar="WxH", help="diffusion model resolution (default: from the clip's aspect)")
    p.add_argument(
        "--methods", default="repeat,flow-warp,backend", metavar="LIST",
        help="comma list of what to score: repeat, flow-warp, backend (default: all three)",
    )  # fmt: skip
    p.add_argument("--max-frames", type=int, default=32, metavar="N", help="frames per clip (default 32)")
    p.add_argument(
        "--work-size", type=int, default=512, metavar="PX",
        help="clips are scaled so their longer side is at most PX before lineart extraction (default 512)",
    )  # fmt: skip
    p.add_argument("--format", choices=("md", "json", "csv"), default="md", help="table format (default md)")
    p.add_argument("--output", "-o", metavar="F", help="also write the table to F")
    p.add_argument("--lpips-weights", metavar="P", nargs="+", help="LPIPS weights (see `lvcd eval --help`)")
    p.add_argument("--inception-weights", metavar="P", help="pytorch-fid Inception weights (FID)")
    p.add_argument("--i3d-weights", metavar="P", help="TorchScript I3D (FVD)")
    p.add_argument("--raft-weights", metavar="P", help="TorchScript RAFT for TC's flow (default: OpenCV DIS flow)")
    p.add_argument(
        "--lineart-weights", metavar="P",
        help="informative-drawings generator (sk_model.pth): extracts the lineart and EDMD's lines (default: XDoG)",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device for the networks (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lvcd.eval.baselines import FLOW_WARP_DESCRIPTION, REPEAT_DESCRIPTION, flow_warp_keyframe, repeat_keyframe
    from lvcd.eval.cuts import check_writable
    from lvcd.eval.suite import run_suite

    from .eval_cmd import weights_from_args

    if args.output:
        check_writable(args.output, "--output")
    wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = sorted(set(wanted) - {"repeat", "flow-warp", "backend"})
    if bad or not wanted:
        raise ValueError(f"`--methods` {args.methods!r}: use a comma list of repeat, flow-warp, backend (got {bad}).")
    backend = args.backend or ("diffusion" if args.model else "bucket")
    if backend == "diffusion" and not args.model:
        raise ValueError("`--backend diffusion` needs `--model DIR` (a folder from `lvcd convert`).")
    weights = weights_from_args(args)
    line_weights = weights.get("lineart")
    methods = {}
    if "repeat" in wanted:
        methods["repeat"] = (repeat_keyframe, REPEAT_DESCRIPTION)
    if "flow-warp" in wanted:
        methods["flow-warp"] = (flow_warp_keyframe, FLOW_WARP_DESCRIPTION)
    if "backend" in wanted:
        import lvcd

        options = {"backend": backend, "quiet": True}
        if backend == "diffusion":
            options["model"] = args.model
            if args.steps:
                options["steps"] = args.steps
            if args.size:
                try:
                    w, h = (int(v) for v in args.size.lower().split("x"))
                except ValueError:
                    raise ValueError(f"`--size` must be WxH, e.g. 576x320; got {args.size!r}.") from None
                options["size"] = (w, h)

        def colorize(lineart, keyframe):
            return lvcd.colorize_frames(lineart, keyframe, **options)

        detail = "default options"
        if backend == "diffusion":
            detail = f"model {args.model}, steps {args.steps or 'default'}, size {args.size or 'default'}"
        methods[backend] = (colorize, f"lvcd.colorize_frames(backend={backend!r}, {detail}) from the keyframe")
    strength = None
    if line_weights:  # one network: extracts the lineart and EDMD's lines
        from lvcd.eval.lineart_metrics import load_line_extractor

        weights["lineart"] = load_line_extractor(line_weights, device=args.device)
        strength = weights["lineart"].strength_fn
        strength.name = weights["lineart"].name
    result = run_suite(
        args.clips,
        methods,
        max_frames=args.max_frames,
        work_size=args.work_size,
        weights=weights,
        line_strength=strength,
        device=args.device,
        log=None if args.quiet else (lambda msg: print(f"eval-suite: {msg}", file=sys.stderr, flush=True)),
    )
    text = result.table.render(args.format)
    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
