"""Where the converted model lives and what identifies it: `find_model`, the default location, the model resolution
for a source aspect, the weight fingerprint that resume keys and sidecars record, and what a converted folder holds
(`PIPELINE_ENTRIES`, `check_model_out`). Standard library only (the
fingerprint reads safetensors headers by hand), so `lvcd doctor`, `lvcd.hub` and the dry run use it without torch.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

from .errors import LVCDError
from .options import SIZE_MULTIPLE

MODEL_ENV = "LVCD_MODEL"
DEFAULT_MODEL_DIR = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "lvcd" / "lvcd-svd"
MODEL_SIZE = (576, 320)  # (W, H): the resolution LVCD was trained and released at
MODEL_AREA = MODEL_SIZE[0] * MODEL_SIZE[1]
SOURCES_FILE = "lvcd_sources.json"  # written by `lvcd convert --download` beside model_index.json (lvcd.hub)
# what a converted pipeline folder holds: all that `lvcd convert` writes, and all that its --overwrite replaces
PIPELINE_ENTRIES = (
    "model_index.json",
    "unet",
    "controlnet",
    "vae",
    "image_encoder",
    "feature_extractor",
    "scheduler",
    SOURCES_FILE,
)


def check_model_out(out: Path, overwrite: bool) -> None:
    """Before a conversion (and before `lvcd convert --download` fetches anything): `--out` must be a new folder,
    or with `overwrite` one that holds only what a conversion writes (`PIPELINE_ENTRIES`); files of anything else
    are named and refused, never deleted."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"`--out` {out} exists and is not a folder; choose a folder path.")
    if not out.exists():
        return
    if not overwrite:
        raise FileExistsError(
            f"`--out` {out} already exists; pass `--overwrite` to replace it, or choose another path."
        )
    foreign = sorted(n for n in os.listdir(out) if n not in PIPELINE_ENTRIES)
    if foreign:
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        raise FileExistsError(
            f"`--out` {out} holds files a conversion did not write: {', '.join(foreign[:5])}{more}; "
            "--overwrite replaces only a converted pipeline (model_index.json, unet/, vae/, ...). "
            "Move those files away, or choose another --out."
        )


def find_model(model: str | os.PathLike | None = None) -> Path | None:
    """The converted pipeline folder to use: `model`, else $LVCD_MODEL, else the default location; None if none."""
    for cand in (model, os.environ.get(MODEL_ENV), DEFAULT_MODEL_DIR):
        if cand and (Path(cand) / "model_index.json").is_file():
            return Path(cand)
        if cand and cand == model:
            raise LVCDError(no_model_message(Path(cand)))
    return None


def no_model_message(where: Path | None = None) -> str:
    head = f"no converted LVCD model at {where}" if where else "no converted LVCD model found"
    return (
        f"{head} (looked at --model, ${MODEL_ENV} and {DEFAULT_MODEL_DIR}).\n"
        "  To use the diffusion backend, fetch and convert the official weights once (the SVD repository is gated:\n"
        "  accept its licence on the Hub and log in first):\n"
        "    lvcd convert --download\n"
        "  or, from files you already have:\n"
        f"    lvcd convert --svd svd.safetensors --lvcd lvcd.ckpt --out {DEFAULT_MODEL_DIR}\n"
        "  (svd.safetensors: stabilityai/stable-video-diffusion-img2vid;\n"
        "   lvcd.ckpt: luckyhzt/lvcd_pretrained_models).\n"
        "  Or run the weight-free paint-bucket backend: add `--backend bucket`."
    )


def model_size_for(width: int, height: int, area: int = MODEL_AREA, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """Model resolution (W, H) for a source of this aspect: multiples of 64 with about `area` pixels."""
    aspect = width / height
    h = max(multiple, round(math.sqrt(area / aspect) / multiple) * multiple)
    w = max(multiple, round(h * aspect / multiple) * multiple)
    return w, h


def model_fingerprint(model_dir: Path | None) -> dict:
    """Cheap, stable identity of a converted model: sha256 of every weight file's safetensors header + size."""
    if model_dir is None:
        return {}
    model_dir = Path(model_dir)
    out = {}
    for f in sorted(model_dir.glob("*/*.safetensors")):
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = fh.read(min(n, 1 << 26))
        out[str(f.relative_to(model_dir))] = {
            "bytes": f.stat().st_size,
            "header_sha256": hashlib.sha256(header).hexdigest(),
        }
    return out


def video_frames(model_dir: Path | None, default: int = 14) -> int:
    """The UNet's video-path length (`num_frames` in unet/config.json): a window is 1 + overlap + this."""
    import json

    try:
        return int(json.loads((Path(model_dir) / "unet" / "config.json").read_text())["num_frames"])
    except (TypeError, OSError, ValueError, KeyError):
        return default
