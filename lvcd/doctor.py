"""`lvcd doctor`: what in this environment will and will not work for lvcd, and how to fix it.

`environment_report(model, device)` returns a list of `Check`s: package versions, the torch build (CPU-only or
CUDA) and the GPU it sees (name, compute capability, bf16, free memory against the pre-flight peak estimate per
offload tier), the attention kernels (SDPA; xformers on CUDA only), the ffmpeg binary and its encoders, the converted
model folder lvcd would use (complete? weights not truncated? where did they come from?) and the Hugging Face
environment. Every check is quick: no weights are loaded (only safetensors headers are read), nothing is downloaded,
and a check that cannot run reports why instead of raising.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from . import model_dir as models
from .errors import LVCDError
from .model_dir import MODEL_SIZE as CHECK_SIZE
from .model_dir import SOURCES_FILE

STATUSES = ("ok", "warn", "fail", "info")
GIB = 1024**3
FFMPEG_TIMEOUT_S = 20
# shown name -> module to import; the minimum versions come from setup.py's install_requires (via the installed
# lvcd's metadata, `declared_minimums`), so there is one list of them
PACKAGES = {
    "torch": "torch",
    "diffusers": "diffusers",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "av": "av",
    "opencv": "cv2",
    "scenedetect": "scenedetect",
}
PIP_NAMES = {"opencv": "opencv-python", "av": "av"}


def declared_minimums() -> dict[str, str]:
    """Lower bounds of lvcd's install_requires (`name>=version`, lower-cased names) from the installed package's
    metadata; empty when lvcd runs from a source tree that was never installed."""
    import importlib.metadata
    import re

    try:
        requirements = importlib.metadata.requires("lvcd") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    out = {}
    for req in requirements:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^,;\s]*)\s*$", req)  # no extras / markers
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out
# encoder -> (what needs it, status when missing)
FFMPEG_ENCODERS = {
    "libx264": (".mp4 / .mkv output, H.264, the default", "fail"),
    "prores_ks": (".mov output, ProRes 422 HQ", "warn"),
    "aac": ("re-encoding a source audio track that cannot be copied", "warn"),
}
TORCH_CUDA_HELP = "https://pytorch.org/get-started/locally/"


@dataclass
class Check:
    """One line of the report. `status`: ok | warn (works, with a caveat) | fail (will not work) | info."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"`status` must be one of {STATUSES} (got {self.status!r}).")

    def to_json(self) -> dict:
        return asdict(self)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _version_tuple(v: str):
    try:
        from packaging.version import Version

        return Version(v)
    except Exception:  # no packaging, or a version string it cannot parse: compare the leading numbers
        nums = []
        for part in v.split("+")[0].split("."):
            digits = "".join(ch for ch in part if ch.isdigit())
            if not digits:
                break
            nums.append(int(digits))
        return tuple(nums)


def _older(version: str, minimum: str) -> bool:
    try:
        return _version_tuple(version) < _version_tuple(minimum)
    except TypeError:  # one parsed by packaging, the other not: do not guess
        return False


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def _size(n: int) -> str:
    for unit, scale in (("GiB", GIB), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


# ---------------------------------------------------------------------------------------------------- versions
def _python_check() -> Check:
    where = f"{platform.python_version()} ({platform.system()} {platform.machine()}, {sys.executable})"
    if sys.version_info < (3, 10):
        return Check("python", "fail", f"{where}: lvcd needs Python >= 3.10", "Use Python 3.10 or newer.")
    return Check("python", "info", where)


def _lvcd_check() -> Check:
    from .version import __version__

    return Check("lvcd", "info", f"{__version__} ({Path(__file__).resolve().parent})")


def _package_check(name: str) -> tuple[Check, object | None]:
    """Import the package (a broken install fails here, not minutes into a render) and compare with the minimum."""
    module = PACKAGES[name]
    pip = PIP_NAMES.get(name, name)
    minimum = declared_minimums().get(pip.lower(), "0")
    spec = f"{pip}>={minimum}" if minimum != "0" else pip
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = importlib.import_module(module)
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name == module:
            return Check(name, "fail", "not installed", f"pip install '{spec}'"), None
        fix = f"Reinstall it: pip install --force-reinstall '{spec}'"
        if name == "opencv" and "libGL" in str(e):
            fix = ("OpenCV needs libGL: apt-get install libgl1 (Debian/Ubuntu), or use the headless wheel: "
                   "pip uninstall opencv-python && pip install opencv-python-headless")
        return Check(name, "fail", f"installed but does not import ({_first_line(e)})", fix), None
    except Exception as e:  # noqa: BLE001 - a package whose import crashes is exactly what the report is for
        return Check(name, "fail", f"import failed ({_first_line(e)})",
                     f"Reinstall it: pip install --force-reinstall '{spec}'"), None
    version = str(getattr(mod, "__version__", "") or "unknown")
    if version != "unknown" and _older(version, minimum):
        return Check(name, "fail", f"{version} (lvcd needs >= {minimum})", f"pip install -U '{spec}'"), mod
    return Check(name, "info", version), mod


# ---------------------------------------------------------------------------------------------------- torch / GPU
def _nvidia_driver_present() -> bool:
    """An NVIDIA driver on this machine, seen without torch (to spot a CPU-only torch on a GPU machine)."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def _torch_build_check(torch) -> Check:
    cuda, hip = getattr(torch.version, "cuda", None), getattr(torch.version, "hip", None)
    if cuda or hip:
        return Check("torch", "ok", f"{torch.__version__} ({'CUDA ' + cuda if cuda else 'ROCm ' + hip} build)")
    detail = f"{torch.__version__} (CPU-only build)"
    if _nvidia_driver_present():
        return Check("torch", "warn", detail + " but this machine has an NVIDIA driver: the GPU is not used "
                     "(this is the 'Torch not compiled with CUDA enabled' error)",
                     "Install a CUDA build of torch, e.g. pip install --force-reinstall torch --index-url "
                     f"https://download.pytorch.org/whl/cu124 (pick the CUDA version for your driver on "
                     f"{TORCH_CUDA_HELP}; reinstall torchvision from the same index if you have it).")
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
        return Check("cuda", "fail", f"--device {device} is not a device torch knows ({_first_line(e)})",
                     "Use --device cuda, cuda:N or cpu.")
    if not device.startswith(("cuda", "cpu")):
        return Check("cuda", "info", f"--device {device}: not a CUDA device; lvcd doctor does not check it")
    if not device.startswith("cuda"):
        if available:
            return Check("cuda", "info", f"--device {device}: the diffusion backend runs on CPU (very slow) although"
                         " a CUDA device is available; " + bucket)
        built = getattr(torch.version, "cuda", None) or getattr(torch.version, "hip", None)
        if built:
            return Check("cuda", "warn", f"this torch is a CUDA {built} build but torch.cuda.is_available() is False:"
                         " the diffusion backend will run on CPU (very slow); " + bucket,
                         "Check the GPU driver with nvidia-smi (a driver older than the build's CUDA version is not"
                         " enough), and that CUDA_VISIBLE_DEVICES does not hide the GPU"
                         f" (now {os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')!r}).")
        return Check("cuda", "warn" if _nvidia_driver_present() else "info",
                     "not available: the diffusion backend will run on CPU (very slow); " + bucket,
                     ("Install a CUDA build of torch (see the torch line)." if _nvidia_driver_present() else None))
    if not available:
        return Check("cuda", "fail", f"--device {device} was asked for but torch.cuda.is_available() is False",
                     f"Install a CUDA build of torch ({TORCH_CUDA_HELP}) and check the driver with nvidia-smi, or "
                     "use --device cpu (very slow) or --backend bucket.")
    index = _cuda_index(device)
    if torch.device(device).index is not None:
        try:
            count = torch.cuda.device_count()
        except Exception:  # noqa: BLE001
            count = None
        if count is not None and index >= count:
            return Check("cuda", "fail", f"--device {device}: only {count} CUDA device(s) visible",
                         f"Use --device cuda:0 .. cuda:{max(count - 1, 0)} (CUDA_VISIBLE_DEVICES renumbers them).")
    try:
        name = torch.cuda.get_device_name(index)
    except Exception as e:  # noqa: BLE001
        return Check("cuda", "fail", f"torch.cuda.is_available() is True but the device cannot be queried "
                     f"({_first_line(e)})", "Check the driver with nvidia-smi; reinstall a CUDA build of torch "
                     f"matching it ({TORCH_CUDA_HELP}).")
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
        return Check("cuda", "fail", detail + f"; this torch build has kernels only for {' '.join(arch_list)} "
                     "('no kernel image is available for execution on the device')",
                     f"Install a torch build that supports sm_{major}{minor} (a newer CUDA version; "
                     f"{TORCH_CUDA_HELP}).")
    if major < 7:
        return Check("cuda", "warn", detail + " (pre-Volta: slow, little memory, no bf16)",
                     "Expect slow renders; use --dtype fp16 and --offload sequential, or --backend bucket.")
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
    return Check("bf16", "warn", "not supported natively by this GPU (needs compute capability 8.0+); lvcd defaults "
                 "to bf16 on CUDA", "Pass --dtype fp16 to colorize / batch.")


_COST_CACHE: dict = {}


def _peak_estimate(model_dir: Path | None) -> dict[str, float]:
    """Pre-flight peak bytes per offload tier for a 576x320 bf16 render of the model in `model_dir` (its configs; the
    real architecture without one). Runs the model code on meta tensors only; a few seconds, cached."""
    import torch

    from . import preflight

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
        return Check("gpu memory", "info", "no CUDA device in use: no GPU memory check (the diffusion backend runs on"
                     " CPU, in system memory)")
    from . import preflight

    try:
        mem = preflight.cuda_free_memory(device)
    except Exception as e:  # noqa: BLE001
        return Check("gpu memory", "warn", f"cannot read free memory ({_first_line(e)})",
                     "Check the GPU with nvidia-smi.")
    if mem is None:
        return Check("gpu memory", "warn", "cannot read free memory", "Check the GPU with nvidia-smi.")
    free, total = mem
    try:
        peak = _peak_estimate(model_dir)
    except Exception as e:  # noqa: BLE001
        return Check("gpu memory", "warn", f"{_gib(free)} free of {_gib(total)}; no peak estimate "
                     f"({_first_line(e)})", None)
    budget = free - preflight.SAFETY_MARGIN_BYTES
    tiers = " / ".join(f"{t} {peak[t] / GIB:.2f}" for t in preflight.OFFLOAD_TIERS)
    w, h = CHECK_SIZE
    head = (f"{_gib(free)} free of {_gib(total)}; {w}x{h} bf16 needs ~{tiers} GiB "
            f"(offload none / model / sequential, {preflight.SAFETY_MARGIN_BYTES / GIB:.1f} GiB kept spare)")
    fitting = [t for t in preflight.OFFLOAD_TIERS if peak[t] <= budget]
    busy = total - free
    others = (f" Other processes hold {_gib(busy)}: closing them may allow a faster tier."
              if busy > 2 * preflight.CUDA_CONTEXT_BYTES else "")
    if not fitting:
        return Check("gpu memory", "fail", head + ": no offload tier fits",
                     f"Free GPU memory, or render smaller (--offload sequential --size 448x256), or use the "
                     f"weight-free --backend bucket.{others}")
    tier = fitting[0]
    if tier == "none":
        return Check("gpu memory", "ok", head + ": --offload none fits (all networks resident, fastest)")
    return Check("gpu memory", "warn", head + f": --offload {tier} fits (slower), --offload none does not",
                 f"lvcd colorize switches to --offload {tier} by itself (or pass it).{others}")


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
    for label, attr in (("flash", "FLASH_ATTENTION"), ("mem-efficient", "EFFICIENT_ATTENTION"),
                        ("cudnn", "CUDNN_ATTENTION")):
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
        return Check("sdpa", "fail", f"torch {torch.__version__} has no scaled_dot_product_attention",
                     "pip install -U 'torch>=2.1'")
    where = device if (device.startswith("cuda") and available) else "cpu"
    try:
        kernels = _sdpa_kernels(where)
    except Exception as e:  # noqa: BLE001
        return Check("sdpa", "fail", f"scaled_dot_product_attention does not run on {where} ({_first_line(e)})",
                     f"Reinstall torch with a build for this machine ({TORCH_CUDA_HELP}).")
    if where == "cpu":
        return Check("sdpa", "ok", "scaled_dot_product_attention runs on cpu")
    if not kernels:
        return Check("sdpa", "warn", f"scaled_dot_product_attention runs on {where} with the math kernel only "
                     "(slower, more memory)", "Upgrade torch (a newer CUDA build) for the fused flash / "
                     "mem-efficient kernels; or try --attention xformers.")
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
            return Check("xformers", "info", "not installed (optional: --attention xformers; the default sdpa needs "
                         "nothing)")
        return Check("xformers", "warn", f"installed but does not import ({_first_line(e)})", _XFORMERS_FIX(torch))
    except Exception as e:  # noqa: BLE001 - a mismatched build fails in many ways
        return Check("xformers", "warn", f"installed but not usable ({_first_line(e)}); --attention xformers will "
                     "fail, the default sdpa is unaffected", _XFORMERS_FIX(torch))
    return Check("xformers", "ok", f"{version}, memory_efficient_attention runs on {device} (--attention xformers)")


def _XFORMERS_FIX(torch) -> str:  # noqa: N802 - reads as a constant at the call sites
    return (f"xformers wheels are built for one torch version (this is {torch.__version__}): pip install -U xformers "
            "--index-url https://download.pytorch.org/whl/cuXXX (the CUDA version of your torch), or pip uninstall "
            "xformers and keep --attention sdpa.")


# ---------------------------------------------------------------------------------------------------- ffmpeg
_FFMPEG_FIX = ("Install the imageio-ffmpeg package (pip install -U imageio-ffmpeg: it ships a binary with libx264), "
               "or point IMAGEIO_FFMPEG_EXE at an ffmpeg built with {what}.")


def _ffmpeg_checks() -> list[Check]:
    from .video import _ffmpeg

    try:
        exe = _ffmpeg.ffmpeg_exe()
    except Exception as e:  # noqa: BLE001
        return [Check("ffmpeg", "fail", f"not found ({_first_line(e)})", _FFMPEG_FIX.format(what="libx264"))]
    runs = []
    for flag in ("-version", "-encoders"):
        try:
            proc = subprocess.run([exe, "-hide_banner", "-nostdin", flag], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            return [Check("ffmpeg", "fail", f"{exe} does not run ({_first_line(e)})",
                          _FFMPEG_FIX.format(what="libx264"))]
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            return [Check("ffmpeg", "fail", f"{exe} {flag} exited with status {proc.returncode}"
                          + (f" ({err[-1]})" if err else ""), _FFMPEG_FIX.format(what="libx264"))]
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
            checks.append(Check(f"ffmpeg {enc}", missing, f"encoder missing: {what} will fail",
                                _FFMPEG_FIX.format(what=enc)))
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
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)
            and "data_offsets" in v]
    expected = 8 + n + (max(ends) if ends else 0)
    if expected > size:
        return f"{path.name}: truncated ({size} of {expected} bytes)"
    return None


def _model_checks(model: str | None) -> tuple[list[Check], Path | None]:

    reconvert = ("Convert again: lvcd convert --download --overwrite (or lvcd convert --svd svd.safetensors --lvcd "
                 "lvcd.ckpt --out DIR --overwrite).")
    try:
        found = models.find_model(model)
    except LVCDError as e:
        return [Check("model", "warn", f"no converted LVCD model at {model}: the diffusion backend is unavailable, "
                      "--backend auto uses the paint-bucket backend", str(e))], None
    if found is None:
        env = os.environ.get(models.MODEL_ENV) or "unset"
        looked = f"--model, ${models.MODEL_ENV} ({env}), {models.DEFAULT_MODEL_DIR}"
        return [Check("model", "warn", f"no converted LVCD model found (looked at {looked}): the diffusion backend is "
                      "unavailable, --backend auto uses the paint-bucket backend", models.no_model_message())], None
    source = "--model" if model else (f"${models.MODEL_ENV}" if os.environ.get(models.MODEL_ENV) and
                                      Path(os.environ[models.MODEL_ENV]) == found else "default location")
    checks = []
    try:
        index = json.loads((found / "model_index.json").read_text())
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        return [Check("model", "fail", f"{found} ({source}): model_index.json unreadable ({_first_line(e)})",
                      reconvert)], found
    components = sorted(k for k, v in index.items() if not k.startswith("_") and isinstance(v, list)
                        and len(v) == 2 and v[0] is not None and v[1] is not None)
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
        checks.append(Check("model", "ok", f"{found} ({source}): {len(components)} components "
                            f"({', '.join(components)}) with configs and weights"))
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
            checks.append(Check("model sources", "warn", f"{sources.name} unreadable ({_first_line(e)})",
                                "It only records where the weights came from; lvcd convert --download --overwrite "
                                "writes it again."))
    else:
        checks.append(Check("model sources", "info", "no lvcd_sources.json (converted from local files, not with "
                            "lvcd convert --download)"))
    try:
        fp = models.model_fingerprint(found)
        total = sum(v["bytes"] for v in fp.values())
        files = ", ".join(f"{k} {_size(v['bytes'])}" for k, v in fp.items())
        checks.append(Check("model weights", "info", f"{_size(total)} in {len(fp)} safetensors files"
                            + (f": {files}" if files else "")))
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
        checks.append(Check("HF_HUB_OFFLINE", "info", f"{offline!r}: " + ("cache only, lvcd convert --download will "
                            "not fetch" if on else "the network may be used")))
    for var, default in (("HF_HOME", "~/.cache/huggingface"), ("HF_HUB_CACHE", "$HF_HOME/hub")):
        value = os.environ.get(var)
        checks.append(Check(var, "info", value if value else f"unset (default {default})"))
    return checks


def _backend_check(device: str, available: bool, model_dir: Path | None, checks: list[Check]) -> Check:
    """What `lvcd colorize --backend auto` would do here, from the checks above."""
    failed = {c.name for c in checks if c.status == "fail"}
    if model_dir is None:
        return Check("backend", "info", "--backend auto: paint-bucket (weight-free; no converted model)")
    if "model" in failed:
        return Check("backend", "fail", f"--backend auto: diffusion with {model_dir}, which is incomplete (see the "
                     "model line)", "Convert the model again, or use --backend bucket.")
    on_cuda = device.startswith("cuda") and available
    dtype = "bf16" if on_cuda else "fp32"
    where = f"{device} ({dtype})" if on_cuda else "cpu (fp32, very slow)"
    if failed & {"torch", "diffusers", "transformers", "accelerate", "cuda", "sdpa", "gpu memory"}:
        return Check("backend", "fail", f"--backend auto: diffusion on {where} will not run (see the failed checks)",
                     "Fix the failed checks above, or use --backend bucket.")
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
        checks += [_cuda_check(torch, dev, available), _bf16_check(torch, dev, available),
                   _memory_check(torch, dev, available, model_dir), _sdpa_check(torch, dev, available),
                   _xformers_check(torch, dev, available)]
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
