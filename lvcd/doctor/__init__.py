"""`lvcd doctor`: what in this environment will and will not work for lvcd, and how to fix it.

`environment_report(model, device)` returns a list of `Check`s: package versions, the torch build (CPU-only or
CUDA) and the GPU it sees (name, compute capability, bf16, free memory against the pre-flight peak estimate per
offload tier), the attention kernels (SDPA; xformers on CUDA only), the ffmpeg binary and its encoders, the converted
model folder lvcd would use (complete? weights not truncated? where did they come from?) and the Hugging Face
environment. Every check is quick: no weights are loaded (only safetensors headers are read), nothing is downloaded,
and a check that cannot run reports why instead of raising.
"""

from __future__ import annotations

from pathlib import Path

from .base import PACKAGES, STATUSES, Check, _lvcd_check, _package_check, _python_check
from .files import _ffmpeg_checks, _hf_checks, _model_checks
from .gpu import (
    _bf16_check,
    _cuda_check,
    _memory_check,
    _resolve_device,
    _sdpa_check,
    _torch_build_check,
    _xformers_check,
)


def _backend_check(device: str, available: bool, model_dir: Path | None, checks: list[Check]) -> Check:
    """What `lvcd colorize --backend auto` would do here, from the checks above."""
    failed = {c.name for c in checks if c.status == "fail"}
    if model_dir is None:
        return Check("backend", "info", "--backend auto: paint-bucket (weight-free; no converted model)")
    if "model" in failed:
        return Check(
            "backend",
            "fail",
            f"--backend auto: diffusion with {model_dir}, which is incomplete (see the model line)",
            "Convert the model again, or use --backend bucket.",
        )
    on_cuda = device.startswith("cuda") and available
    dtype = "bf16" if on_cuda else "fp32"
    where = f"{device} ({dtype})" if on_cuda else "cpu (fp32, very slow)"
    if failed & {"torch", "diffusers", "transformers", "accelerate", "cuda", "sdpa", "gpu memory"}:
        return Check(
            "backend",
            "fail",
            f"--backend auto: diffusion on {where} will not run (see the failed checks)",
            "Fix the failed checks above, or use --backend bucket.",
        )
    return Check("backend", "info", f"--backend auto: diffusion on {where}")


def environment_report(model: str | None = None, device: str | None = None) -> list[Check]:
    """Check what lvcd needs in this environment. `model`: a pipeline folder (default: $LVCD_MODEL, then the default
    location, as `lvcd colorize` looks); `device`: cuda, cuda:1, cpu (default: cuda if available). Quick: no weights
    are loaded, nothing is downloaded; on CUDA the memory estimate runs the model code on meta tensors (seconds)."""
    checks = [_python_check(), _lvcd_check()]
    mods = {}
    for name in PACKAGES:
        check, mod = _package_check(name)
        checks.append(check)
        mods[name] = mod
    torch = mods["torch"]
    model_checks, model_dir = _model_checks(model)
    dev = "cpu"
    available = False
    if torch is not None:
        i = next(i for i, c in enumerate(checks) if c.name == "torch")
        if checks[i].status != "fail":  # a too-old torch keeps its fail line; else the line says which build
            checks[i] = _torch_build_check(torch)
        try:
            available = bool(torch.cuda.is_available())
        except Exception:  # noqa: BLE001
            available = False
        dev = _resolve_device(torch, device)
        checks += [
            _cuda_check(torch, dev, available),
            _bf16_check(torch, dev, available),
            _memory_check(torch, dev, available, model_dir),
            _sdpa_check(torch, dev, available),
            _xformers_check(torch, dev, available),
        ]
    checks += _ffmpeg_checks()
    checks += model_checks
    checks += _hf_checks()
    checks.append(_backend_check(dev, available, model_dir, checks))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def format_report(checks: list[Check]) -> str:
    """One aligned line per check, then the fixes of the warn / fail checks."""
    width = max((len(c.name) for c in checks), default=0)
    lines = [f"{c.status:<5}{c.name:<{width}}  {c.detail}" for c in checks]
    fixes = [c for c in checks if c.status in ("warn", "fail") and c.fix]
    if fixes:
        lines += ["", "How to fix:"]
        for c in fixes:
            body = c.fix.strip().splitlines()
            lines.append(f"  {c.name} ({c.status}): {body[0]}")
            lines += [f"    {ln}" for ln in body[1:]]
    n = {s: sum(c.status == s for c in checks) for s in STATUSES}
    lines += ["", f"{n['fail']} failed, {n['warn']} warnings, {n['ok']} ok, {n['info']} info"]
    return "\n".join(lines)


__all__ = ["Check", "STATUSES", "environment_report", "failed", "format_report"]
