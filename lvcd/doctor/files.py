"""`lvcd doctor`'s file checks: the ffmpeg binary and its encoders, the converted model folder (complete? weights not
truncated? where from?) and the Hugging Face environment."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .. import model_dir as models
from ..errors import LVCDError
from ..model_dir import SOURCES_FILE
from .base import FFMPEG_ENCODERS, FFMPEG_TIMEOUT_S, Check, _first_line, _size

_FFMPEG_FIX = (
    "Install the imageio-ffmpeg package (pip install -U imageio-ffmpeg: it ships a binary with libx264), "
    "or point IMAGEIO_FFMPEG_EXE at an ffmpeg built with {what}."
)


def _ffmpeg_checks() -> list[Check]:
    from ..video import _ffmpeg

    try:
        exe = _ffmpeg.ffmpeg_exe()
    except Exception as e:  # noqa: BLE001
        return [Check("ffmpeg", "fail", f"not found ({_first_line(e)})", _FFMPEG_FIX.format(what="libx264"))]
    runs = []
    for flag in ("-version", "-encoders"):
        try:
            proc = subprocess.run(
                [exe, "-hide_banner", "-nostdin", flag],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=FFMPEG_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as e:
            return [
                Check("ffmpeg", "fail", f"{exe} does not run ({_first_line(e)})", _FFMPEG_FIX.format(what="libx264"))
            ]
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            return [
                Check(
                    "ffmpeg",
                    "fail",
                    f"{exe} {flag} exited with status {proc.returncode}" + (f" ({err[-1]})" if err else ""),
                    _FFMPEG_FIX.format(what="libx264"),
                )
            ]
        runs.append(proc.stdout.decode("utf-8", "replace"))
    first = runs[0].strip().splitlines()[0] if runs[0].strip() else "ffmpeg"
    version = first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip()
    checks = [Check("ffmpeg", "ok", f"{version} ({exe})")]
    encoders = set()
    for line in runs[1].splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0][0] in "VAS":
            encoders.add(parts[1])
    for enc, (what, missing) in FFMPEG_ENCODERS.items():
        if enc in encoders:
            checks.append(Check(f"ffmpeg {enc}", "ok", f"encoder present: {what}"))
        else:
            checks.append(
                Check(f"ffmpeg {enc}", missing, f"encoder missing: {what} will fail", _FFMPEG_FIX.format(what=enc))
            )
    return checks


# ---------------------------------------------------------------------------------------------------- model
_CONFIG_FILES = ("config.json", "scheduler_config.json", "preprocessor_config.json", "tokenizer_config.json")
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


def _safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is unusable (truncated download, not safetensors), from its header alone."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if size < 8 or n <= 0 or 8 + n > size:
                return f"{path.name}: not a safetensors file or truncated ({size} bytes)"
            header = json.loads(fh.read(n))
    except (OSError, ValueError) as e:
        return f"{path.name}: unreadable header ({_first_line(e)})"
    ends = [
        v["data_offsets"][1]
        for k, v in header.items()
        if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v
    ]
    expected = 8 + n + (max(ends) if ends else 0)
    if expected > size:
        return f"{path.name}: truncated ({size} of {expected} bytes)"
    return None


def _model_checks(model: str | None) -> tuple[list[Check], Path | None]:

    reconvert = (
        "Convert again: lvcd convert --download --overwrite (or lvcd convert --svd svd.safetensors --lvcd "
        "lvcd.ckpt --out DIR --overwrite)."
    )
    try:
        found = models.find_model(model)
    except LVCDError as e:
        return [
            Check(
                "model",
                "warn",
                f"no converted LVCD model at {model}: the diffusion backend is unavailable, "
                "--backend auto uses the paint-bucket backend",
                str(e),
            )
        ], None
    if found is None:
        env = os.environ.get(models.MODEL_ENV) or "unset"
        looked = f"--model, ${models.MODEL_ENV} ({env}), {models.DEFAULT_MODEL_DIR}"
        return [
            Check(
                "model",
                "warn",
                f"no converted LVCD model found (looked at {looked}): the diffusion backend is "
                "unavailable, --backend auto uses the paint-bucket backend",
                models.no_model_message(),
            )
        ], None
    source = (
        "--model"
        if model
        else (
            f"${models.MODEL_ENV}"
            if os.environ.get(models.MODEL_ENV) and Path(os.environ[models.MODEL_ENV]) == found
            else "default location"
        )
    )
    checks = []
    try:
        index = json.loads((found / "model_index.json").read_text())
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        return [
            Check("model", "fail", f"{found} ({source}): model_index.json unreadable ({_first_line(e)})", reconvert)
        ], found
    components = sorted(
        k
        for k, v in index.items()
        if not k.startswith("_") and isinstance(v, list) and len(v) == 2 and v[0] is not None and v[1] is not None
    )
    problems = []
    for comp in components:
        d = found / comp
        if not d.is_dir():
            problems.append(f"{comp}/ missing")
            continue
        config = next((d / f for f in _CONFIG_FILES if (d / f).is_file()), None)
        if config is None:
            problems.append(f"{comp}/ has no config")
            continue
        try:
            json.loads(config.read_text())
        except (OSError, ValueError) as e:
            problems.append(f"{comp}/{config.name} unreadable ({_first_line(e)})")
            continue
        if config.name == "config.json":  # a model: needs weights
            weights = [p for pat in _WEIGHT_PATTERNS for p in d.glob(pat)]
            if not weights:
                problems.append(f"{comp}/ has no weight file")
            for p in sorted(d.glob("*.safetensors")):
                why = _safetensors_problem(p)
                if why:
                    problems.append(f"{comp}/{why}")
    if problems:
        checks.append(Check("model", "fail", f"{found} ({source}) is incomplete: {'; '.join(problems)}", reconvert))
    else:
        checks.append(
            Check(
                "model",
                "ok",
                f"{found} ({source}): {len(components)} components ({', '.join(components)}) with configs and weights",
            )
        )
    sources = found / SOURCES_FILE
    if sources.is_file():
        try:
            data = json.loads(sources.read_text())
            parts = []
            for key in ("svd", "lvcd"):
                rec = data.get(key) or {}
                if isinstance(rec, dict) and rec.get("repo_id"):
                    rev = str(rec.get("revision") or "")[:10]
                    sha = "sha256 verified" if rec.get("verified") else "sha256 not verified against the Hub"
                    parts.append(f"{key}: {rec['repo_id']}" + (f"@{rev}" if rev else "") + f" ({sha})")
            detail = "; ".join(parts) or "readable (no repository recorded)"
            checks.append(Check("model sources", "info", f"{sources.name}: {detail}"))
        except (OSError, ValueError, AttributeError) as e:
            checks.append(
                Check(
                    "model sources",
                    "warn",
                    f"{sources.name} unreadable ({_first_line(e)})",
                    "It only records where the weights came from; lvcd convert --download --overwrite "
                    "writes it again.",
                )
            )
    else:
        checks.append(
            Check(
                "model sources",
                "info",
                "no lvcd_sources.json (converted from local files, not with lvcd convert --download)",
            )
        )
    try:
        fp = models.model_fingerprint(found)
        total = sum(v["bytes"] for v in fp.values())
        files = ", ".join(f"{k} {_size(v['bytes'])}" for k, v in fp.items())
        checks.append(
            Check(
                "model weights",
                "info",
                f"{_size(total)} in {len(fp)} safetensors files" + (f": {files}" if files else ""),
            )
        )
    except (OSError, ValueError) as e:
        checks.append(Check("model weights", "warn", f"cannot fingerprint ({_first_line(e)})", reconvert))
    return checks, found


# ---------------------------------------------------------------------------------------------------- environment
def _hf_checks() -> list[Check]:
    checks = []
    offline = os.environ.get("HF_HUB_OFFLINE")
    if offline is None:
        checks.append(Check("HF_HUB_OFFLINE", "info", "unset (lvcd convert --download may use the network)"))
    else:
        on = offline.strip().upper() in ("1", "ON", "YES", "TRUE")
        checks.append(
            Check(
                "HF_HUB_OFFLINE",
                "info",
                f"{offline!r}: "
                + ("cache only, lvcd convert --download will not fetch" if on else "the network may be used"),
            )
        )
    for var, default in (("HF_HOME", "~/.cache/huggingface"), ("HF_HUB_CACHE", "$HF_HOME/hub")):
        value = os.environ.get(var)
        checks.append(Check(var, "info", value if value else f"unset (default {default})"))
    return checks
