"""`lvcd doctor`'s torch checks: the build, the GPU it sees, bf16, free memory against the pre-flight peak estimate,
the attention kernels (SDPA, xformers)."""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path

from ..model_dir import MODEL_SIZE as CHECK_SIZE
from .base import GIB, TORCH_CUDA_HELP, Check, _first_line, _gib


def _nvidia_driver_present() -> bool:
    """An NVIDIA driver on this machine, seen without torch (to spot a CPU-only torch on a GPU machine)."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def _torch_build_check(torch) -> Check:
    cuda, hip = getattr(torch.version, "cuda", None), getattr(torch.version, "hip", None)
    if cuda or hip:
        return Check("torch", "ok", f"{torch.__version__} ({'CUDA ' + cuda if cuda else 'ROCm ' + hip} build)")
    detail = f"{torch.__version__} (CPU-only build)"
    if _nvidia_driver_present():
        return Check(
            "torch",
            "warn",
            detail + " but this machine has an NVIDIA driver: the GPU is not used "
            "(this is the 'Torch not compiled with CUDA enabled' error)",
            "Install a CUDA build of torch, e.g. pip install --force-reinstall torch --index-url "
            f"https://download.pytorch.org/whl/cu124 (pick the CUDA version for your driver on "
            f"{TORCH_CUDA_HELP}; reinstall torchvision from the same index if you have it).",
        )
    return Check("torch", "info", detail)


def _resolve_device(torch, device: str | None) -> str:
    if device:
        return device
    try:
        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:  # noqa: BLE001
        return "cpu"


def _cuda_index(device: str) -> int:
    import torch

    index = torch.device(device).index
    return 0 if index is None else index


def _arch_supported(arch_list: list[str], major: int, minor: int) -> bool:
    """Does the torch build carry kernels for sm_<major><minor>: a cubin of the same major at or below the minor,
    or PTX (compute_XX) at or below the capability that the driver can JIT-compile."""
    cap = major * 10 + minor
    for arch in arch_list:
        kind, _, num = arch.partition("_")
        if not num.isdigit():
            continue
        n = int(num)
        if kind == "sm" and n // 10 == major and n <= cap:
            return True
        if kind == "compute" and n <= cap:
            return True
    return False


def _cuda_check(torch, device: str, available: bool) -> Check:
    bucket = "the paint-bucket backend (--backend bucket) works"
    try:
        torch.device(device)
    except (RuntimeError, ValueError) as e:
        return Check(
            "cuda",
            "fail",
            f"--device {device} is not a device torch knows ({_first_line(e)})",
            "Use --device cuda, cuda:N or cpu.",
        )
    if not device.startswith(("cuda", "cpu")):
        return Check("cuda", "info", f"--device {device}: not a CUDA device; lvcd doctor does not check it")
    if not device.startswith("cuda"):
        if available:
            return Check(
                "cuda",
                "info",
                f"--device {device}: the diffusion backend runs on CPU (very slow) although"
                " a CUDA device is available; " + bucket,
            )
        built = getattr(torch.version, "cuda", None) or getattr(torch.version, "hip", None)
        if built:
            return Check(
                "cuda",
                "warn",
                f"this torch is a CUDA {built} build but torch.cuda.is_available() is False:"
                " the diffusion backend will run on CPU (very slow); " + bucket,
                "Check the GPU driver with nvidia-smi (a driver older than the build's CUDA version is not"
                " enough), and that CUDA_VISIBLE_DEVICES does not hide the GPU"
                f" (now {os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')!r}).",
            )
        return Check(
            "cuda",
            "warn" if _nvidia_driver_present() else "info",
            "not available: the diffusion backend will run on CPU (very slow); " + bucket,
            ("Install a CUDA build of torch (see the torch line)." if _nvidia_driver_present() else None),
        )
    if not available:
        return Check(
            "cuda",
            "fail",
            f"--device {device} was asked for but torch.cuda.is_available() is False",
            f"Install a CUDA build of torch ({TORCH_CUDA_HELP}) and check the driver with nvidia-smi, or "
            "use --device cpu (very slow) or --backend bucket.",
        )
    index = _cuda_index(device)
    if torch.device(device).index is not None:
        try:
            count = torch.cuda.device_count()
        except Exception:  # noqa: BLE001
            count = None
        if count is not None and index >= count:
            return Check(
                "cuda",
                "fail",
                f"--device {device}: only {count} CUDA device(s) visible",
                f"Use --device cuda:0 .. cuda:{max(count - 1, 0)} (CUDA_VISIBLE_DEVICES renumbers them).",
            )
    try:
        name = torch.cuda.get_device_name(index)
    except Exception as e:  # noqa: BLE001
        return Check(
            "cuda",
            "fail",
            f"torch.cuda.is_available() is True but the device cannot be queried ({_first_line(e)})",
            f"Check the driver with nvidia-smi; reinstall a CUDA build of torch matching it ({TORCH_CUDA_HELP}).",
        )
    detail = f"{device}: {name}"
    try:
        major, minor = torch.cuda.get_device_capability(index)
    except Exception:  # noqa: BLE001
        return Check("cuda", "ok", detail + ", compute capability unknown")
    detail += f", compute capability {major}.{minor}"
    try:
        arch_list = list(torch.cuda.get_arch_list())
    except Exception:  # noqa: BLE001
        arch_list = []
    if arch_list and not _arch_supported(arch_list, major, minor):
        return Check(
            "cuda",
            "fail",
            detail + f"; this torch build has kernels only for {' '.join(arch_list)} "
            "('no kernel image is available for execution on the device')",
            f"Install a torch build that supports sm_{major}{minor} (a newer CUDA version; {TORCH_CUDA_HELP}).",
        )
    if major < 7:
        return Check(
            "cuda",
            "warn",
            detail + " (pre-Volta: slow, little memory, no bf16)",
            "Expect slow renders; use --dtype fp16 and --offload sequential, or --backend bucket.",
        )
    return Check("cuda", "ok", detail)


def _bf16_check(torch, device: str, available: bool) -> Check:
    if not (device.startswith("cuda") and available):
        return Check("bf16", "info", "not used on CPU (lvcd renders in fp32 there)")
    try:
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4: no emulation argument
            native = torch.cuda.is_bf16_supported()
    except Exception as e:  # noqa: BLE001
        return Check("bf16", "warn", f"cannot tell ({_first_line(e)})", "If a render fails in bf16, use --dtype fp16.")
    if native:
        return Check("bf16", "ok", "supported (lvcd's default dtype on CUDA)")
    return Check(
        "bf16",
        "warn",
        "not supported natively by this GPU (needs compute capability 8.0+); lvcd defaults to bf16 on CUDA",
        "Pass --dtype fp16 to colorize / batch.",
    )


_COST_CACHE: dict = {}


def _peak_estimate(model_dir: Path | None) -> dict[str, float]:
    """Pre-flight peak bytes per offload tier for a 576x320 bf16 render of the model in `model_dir` (its configs; the
    real architecture without one). Runs the model code on meta tensors only; a few seconds, cached."""
    import torch

    from .. import preflight

    key = str(model_dir)
    if key not in _COST_CACHE:
        quiet = logging.getLogger("diffusers")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # "modules that should be kept in float32" is about weights; there are none
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cost = preflight.model_cost(CHECK_SIZE[1], CHECK_SIZE[0], model_dir, dtype=torch.bfloat16)
        finally:
            quiet.setLevel(level)
        _COST_CACHE[key] = preflight.peak_bytes(cost, torch.bfloat16)
    return _COST_CACHE[key]


def _memory_check(torch, device: str, available: bool, model_dir: Path | None) -> Check:
    if not (device.startswith("cuda") and available):
        return Check(
            "gpu memory",
            "info",
            "no CUDA device in use: no GPU memory check (the diffusion backend runs on CPU, in system memory)",
        )
    from .. import preflight

    try:
        mem = preflight.cuda_free_memory(device)
    except Exception as e:  # noqa: BLE001
        return Check(
            "gpu memory", "warn", f"cannot read free memory ({_first_line(e)})", "Check the GPU with nvidia-smi."
        )
    if mem is None:
        return Check("gpu memory", "warn", "cannot read free memory", "Check the GPU with nvidia-smi.")
    free, total = mem
    try:
        peak = _peak_estimate(model_dir)
    except Exception as e:  # noqa: BLE001
        return Check(
            "gpu memory", "warn", f"{_gib(free)} free of {_gib(total)}; no peak estimate ({_first_line(e)})", None
        )
    budget = free - preflight.SAFETY_MARGIN_BYTES
    tiers = " / ".join(f"{t} {peak[t] / GIB:.2f}" for t in preflight.OFFLOAD_TIERS)
    w, h = CHECK_SIZE
    head = (
        f"{_gib(free)} free of {_gib(total)}; {w}x{h} bf16 needs ~{tiers} GiB "
        f"(offload none / model / sequential, {preflight.SAFETY_MARGIN_BYTES / GIB:.1f} GiB kept spare)"
    )
    fitting = [t for t in preflight.OFFLOAD_TIERS if peak[t] <= budget]
    busy = total - free
    others = (
        f" Other processes hold {_gib(busy)}: closing them may allow a faster tier."
        if busy > 2 * preflight.CUDA_CONTEXT_BYTES
        else ""
    )
    if not fitting:
        return Check(
            "gpu memory",
            "fail",
            head + ": no offload tier fits",
            f"Free GPU memory, or render smaller (--offload sequential --size 448x256), or use the "
            f"weight-free --backend bucket.{others}",
        )
    tier = fitting[0]
    if tier == "none":
        return Check("gpu memory", "ok", head + ": --offload none fits (all networks resident, fastest)")
    return Check(
        "gpu memory",
        "warn",
        head + f": --offload {tier} fits (slower), --offload none does not",
        f"lvcd colorize switches to --offload {tier} by itself (or pass it).{others}",
    )


def _sdpa_kernels(device: str) -> list[str]:
    """Run a tiny scaled_dot_product_attention on `device` (raises if it cannot run at all) and, on CUDA, name the
    fused kernels usable for fp16 (flash, mem-efficient, cudnn); the math kernel always works."""
    import torch
    import torch.nn.functional as F

    on_cuda = device.startswith("cuda")
    dtype = torch.float16 if on_cuda else torch.float32
    q = torch.randn(1, 2, 16, 64, device=device, dtype=dtype)
    F.scaled_dot_product_attention(q, q, q)
    if not on_cuda:
        return []
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3
        return ["unknown"]
    usable = []
    for label, attr in (
        ("flash", "FLASH_ATTENTION"),
        ("mem-efficient", "EFFICIENT_ATTENTION"),
        ("cudnn", "CUDNN_ATTENTION"),
    ):
        backend = getattr(SDPBackend, attr, None)
        if backend is None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with sdpa_kernel([backend]):
                    F.scaled_dot_product_attention(q, q, q)
            usable.append(label)
        except RuntimeError:
            pass
    return usable


def _sdpa_check(torch, device: str, available: bool) -> Check:
    import torch.nn.functional as F

    if not hasattr(F, "scaled_dot_product_attention"):
        return Check(
            "sdpa",
            "fail",
            f"torch {torch.__version__} has no scaled_dot_product_attention",
            "pip install -U 'torch>=2.1'",
        )
    where = device if (device.startswith("cuda") and available) else "cpu"
    try:
        kernels = _sdpa_kernels(where)
    except Exception as e:  # noqa: BLE001
        return Check(
            "sdpa",
            "fail",
            f"scaled_dot_product_attention does not run on {where} ({_first_line(e)})",
            f"Reinstall torch with a build for this machine ({TORCH_CUDA_HELP}).",
        )
    if where == "cpu":
        return Check("sdpa", "ok", "scaled_dot_product_attention runs on cpu")
    if not kernels:
        return Check(
            "sdpa",
            "warn",
            f"scaled_dot_product_attention runs on {where} with the math kernel only (slower, more memory)",
            "Upgrade torch (a newer CUDA build) for the fused flash / "
            "mem-efficient kernels; or try --attention xformers.",
        )
    return Check("sdpa", "ok", f"scaled_dot_product_attention runs on {where}; fused kernels: {', '.join(kernels)}")


def _xformers_probe(device: str) -> str:
    """Import xformers and run memory_efficient_attention once on `device`; its version, or raise."""
    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import xformers
        import xformers.ops
    q = torch.randn(1, 16, 2, 64, device=device, dtype=torch.float16)
    try:
        xformers.ops.memory_efficient_attention(q, q, q)
    except Exception as e:
        hint = next((str(w.message).strip().splitlines()[0] for w in caught if str(w.message).strip()), "")
        raise RuntimeError(f"{_first_line(e)}" + (f"; on import: {hint}" if hint else "")) from e
    return str(getattr(xformers, "__version__", "unknown"))


def _xformers_check(torch, device: str, available: bool) -> Check:
    if not (device.startswith("cuda") and available):
        return Check("xformers", "info", "not used (CUDA only; lvcd uses sdpa)")
    try:
        version = _xformers_probe(device)
    except ModuleNotFoundError as e:
        if e.name == "xformers":
            return Check(
                "xformers", "info", "not installed (optional: --attention xformers; the default sdpa needs nothing)"
            )
        return Check("xformers", "warn", f"installed but does not import ({_first_line(e)})", _XFORMERS_FIX(torch))
    except Exception as e:  # noqa: BLE001 - a mismatched build fails in many ways
        return Check(
            "xformers",
            "warn",
            f"installed but not usable ({_first_line(e)}); --attention xformers will "
            "fail, the default sdpa is unaffected",
            _XFORMERS_FIX(torch),
        )
    return Check("xformers", "ok", f"{version}, memory_efficient_attention runs on {device} (--attention xformers)")


def _XFORMERS_FIX(torch) -> str:  # noqa: N802 - reads as a constant at the call sites
    return (
        f"xformers wheels are built for one torch version (this is {torch.__version__}): pip install -U xformers "
        "--index-url https://download.pytorch.org/whl/cuXXX (the CUDA version of your torch), or pip uninstall "
        "xformers and keep --attention sdpa."
    )


# ---------------------------------------------------------------------------------------------------- ffmpeg
