"""`lvcd convert`: official svd.safetensors + lvcd.ckpt -> a diffusers-format LVCD pipeline folder.

Only parses arguments and calls `lvcd.convert.convert_checkpoints` (or, with `--download`,
`lvcd.hub.convert_official`, which fetches both files from the Hugging Face Hub first); the work and its checks live
there.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

EPILOG = """examples:
  lvcd convert --svd checkpoints/svd.safetensors --lvcd checkpoints/lvcd.ckpt --out models/lvcd
  lvcd convert --svd stable-video-diffusion-img2vid/ --lvcd lvcd-fp16.safetensors --out models/lvcd --dtype fp16
  lvcd convert --download        # fetch both from the Hugging Face Hub into the default model folder

--download: svd.safetensors comes from the gated repo stabilityai/stable-video-diffusion-img2vid (accept its licence
on https://huggingface.co/stabilityai/stable-video-diffusion-img2vid and log in with `hf auth login` /
`huggingface-cli login`, or set HF_TOKEN), lvcd.ckpt (3.13 GB) from luckyhzt/lvcd_pretrained_models (mirror:
vdo/lvcd). Files go to the huggingface_hub cache (HF_HOME / HF_HUB_CACHE, or --cache-dir; interrupted downloads
resume); their sha256 is checked against the Hub and recorded with repo and commit in OUT/lvcd_sources.json.
HF_HUB_OFFLINE=1 uses only the cache.

The folder then loads with `LVCDPipeline.from_pretrained(OUT)`. Pickled .ckpt files are read with
torch.load(weights_only=True): a file holding anything but tensors is refused, no pickled code runs."""


DEFAULT_OUT_HELP = "$XDG_DATA_HOME/lvcd/lvcd-svd, i.e. ~/.local/share/lvcd/lvcd-svd, where `lvcd colorize` looks"


def add_parser(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    # --svd/--lvcd are required unless --download (checked in `_check_sources`: argparse groups cannot say "both of
    # these, or that one").
    p.add_argument(
        "--svd",
        metavar="SVD",
        help="official SVD img2vid svd.safetensors (sgm naming), or a diffusers-format SVD folder "
        "(required unless --download)",
    )
    p.add_argument(
        "--lvcd",
        metavar="LVCD",
        help="LVCD weights: lvcd.ckpt (tensors-only Lightning checkpoint) or lvcd(-fp16).safetensors "
        "(required unless --download)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="fetch the official svd.safetensors and lvcd.ckpt from the Hugging Face Hub (cached, "
        "sha256-verified) instead of --svd/--lvcd",
    )
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="huggingface_hub cache for --download (default: HF_HUB_CACHE, ~/.cache/huggingface/hub)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"pipeline folder to write (must not exist); required unless --download, whose default is "
        f"{DEFAULT_OUT_HELP}",
    )
    p.add_argument(
        "--config",
        metavar="CONFIG.json",
        help='diffusers configs for non-standard sizes: {"unet": {...}, "vae": {...}} (optional sections '
        '"controlnet", "image_encoder", "feature_extractor", "scheduler"); default: the real SVD '
        "img2vid configs (pipelines/lvcd-svd)",
    )
    p.add_argument(
        "--dtype",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="dtype of the written weights (default fp32; fp16/bf16 inputs are upcast as needed)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the converted pipeline in DIR (only once the new one is done); a DIR holding other "
        "files is refused, naming them",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.set_defaults(_convert_parser=p)


def _check_sources(args: argparse.Namespace) -> None:
    """--download excludes --svd/--lvcd; without it both (and --out) are required. Usage errors exit 2."""
    parser = getattr(args, "_convert_parser", None)

    def error(message: str):
        if parser is None:  # a namespace not made by add_parser's parser
            print(f"lvcd convert: error: {message}", file=sys.stderr)
            raise SystemExit(2)
        parser.error(message)

    given = [flag for flag, value in (("--svd", args.svd), ("--lvcd", args.lvcd)) if value is not None]
    if args.download:
        if given:
            error(
                f"argument --download: not allowed with {'/'.join(given)} (--download fetches both files; pass "
                "either --download or --svd and --lvcd)"
            )
        return
    if args.cache_dir is not None:
        error("argument --cache-dir: only used with --download")
    missing = [flag for flag in ("--svd", "--lvcd", "--out") if getattr(args, flag[2:]) is None]
    if missing:
        error(
            f"the following arguments are required: {', '.join(missing)} (or pass --download to fetch the "
            "official files from the Hugging Face Hub)"
        )


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr, not the one at creation (in-process calls and captured output see it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _setup_logging(quiet: bool) -> None:
    for name in ("lvcd.convert", "lvcd.hub"):
        log = logging.getLogger(name)
        ours = [h for h in log.handlers if isinstance(h, _StderrHandler)]
        if log.handlers and not ours:
            continue  # configured by the caller: leave it alone
        if not ours:
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("lvcd convert: %(message)s"))
            log.addHandler(handler)
            log.propagate = False
        log.setLevel(logging.WARNING if quiet else logging.INFO)


def run(args: argparse.Namespace) -> int:
    _check_sources(args)
    _setup_logging(args.quiet)
    start = time.perf_counter()
    if args.download:
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        from ..hub import convert_official

        quiet_bars = args.quiet and not are_progress_bars_disabled()
        if quiet_bars:
            disable_progress_bars()
        try:
            out = convert_official(
                args.out, cache_dir=args.cache_dir, config=args.config, dtype=args.dtype, overwrite=args.overwrite
            )
        finally:
            if quiet_bars:
                enable_progress_bars()
    else:
        from ..convert import convert_checkpoints

        out = convert_checkpoints(
            args.svd, args.lvcd, args.out, config=args.config, dtype=args.dtype, overwrite=args.overwrite
        )
    if not args.quiet:
        print(
            f"lvcd convert: done in {time.perf_counter() - start:.1f} s; load with "
            f"LVCDPipeline.from_pretrained({str(out)!r})"
        )
    return 0
