"""Where the converted model lives and what identifies it: `find_model`, the default location, the model resolution
for a source aspect, and the weight fingerprint that resume keys and sidecars record. Standard library only (the
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
        out[str(f.relative_to(model_dir))] = {"bytes": f.stat().st_size,
                                               "header_sha256": hashlib.sha256(header).hexdigest()}
    return out


def video_frames(model_dir: Path | None, default: int = 14) -> int:
    """The UNet's video-path length (`num_frames` in unet/config.json): a window is 1 + overlap + this."""
    import json

    try:
        return int(json.loads((Path(model_dir) / "unet" / "config.json").read_text())["num_frames"])
    except (TypeError, OSError, ValueError, KeyError):
        return default
